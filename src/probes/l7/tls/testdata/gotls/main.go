// A Go crypto/tls client and server for the l7 TLS tests (standard library only).
//
//	gotls server <addr>                 HTTPS on addr with a fresh self-signed certificate;
//	                                    prints "listening <host:port>" and serves until killed.
//	gotls client <url> <n> [path-prefix] n sequential HTTP/1.1 GETs on one keep-alive
//	                                    connection to <url><prefix><i>; prints "ok <n>".
//	                                    With GOTLS_WAIT set it prints "ready" and waits for a
//	                                    byte on stdin first (a test places its uprobes meanwhile).
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

func selfSigned() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	check(err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "gotls:", err)
		os.Exit(1)
	}
}

func server(addr string) {
	ln, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{selfSigned()}, NextProtos: []string{"http/1.1"}})
	check(err)
	fmt.Printf("listening %s\n", ln.Addr())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "hello %s\n", r.URL.Path)
	})}
	check(srv.Serve(ln))
}

func client(url string, n int, prefix string) {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		ForceAttemptHTTP2: false,
		TLSNextProto:      map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxConnsPerHost:   1,
	}
	c := &http.Client{Transport: tr}
	if os.Getenv("GOTLS_WAIT") != "" {
		fmt.Println("ready")
		var b [1]byte
		if _, err := os.Stdin.Read(b[:]); err != nil {
			check(err)
		}
	}
	for i := 0; i < n; i++ {
		resp, err := c.Get(url + prefix + strconv.Itoa(i))
		check(err)
		_, err = io.Copy(io.Discard, resp.Body)
		check(err)
		resp.Body.Close()
	}
	fmt.Printf("ok %d\n", n)
}

func main() {
	if len(os.Args) >= 3 && os.Args[1] == "server" {
		server(os.Args[2])
		return
	}
	if len(os.Args) >= 4 && os.Args[1] == "client" {
		n, err := strconv.Atoi(os.Args[3])
		check(err)
		prefix := "/go-"
		if len(os.Args) >= 5 {
			prefix = os.Args[4]
		}
		client(os.Args[2], n, prefix)
		return
	}
	fmt.Fprintln(os.Stderr, "usage: gotls server <addr> | gotls client <url> <n> [path-prefix]")
	os.Exit(2)
}
