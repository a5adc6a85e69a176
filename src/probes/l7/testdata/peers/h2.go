package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

// h2cServer serves HTTP/2 cleartext with prior knowledge (and HTTP/1.1): /ok 200, /missing
// 404, /fail 500, /echo the POSTed body; any other path 404.
func h2cServer() {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			io.WriteString(w, "ok\n")
		case "/fail":
			http.Error(w, "failing as asked", http.StatusInternalServerError)
		case "/echo":
			io.Copy(w, r.Body)
		default:
			http.NotFound(w, r)
		}
	})
	srv := &http.Server{Handler: h2c.NewHandler(mux, &http2.Server{})}
	must(srv.Serve(listen()))
}

// h2Client sends n requests over one cleartext HTTP/2 connection (prior knowledge) from 4
// goroutines: of every 10, 6 GET /ok (with a query string), 2 GET /missing, 1 GET /fail
// and 1 POST /echo. base is "http://host:port"; the paths are those of h2cServer, and nginx's
// root in the tests holds "ok" and "echo" files (nginx answers a POST to a static file 405).
//
// With certDir (base "https://…") the connection is TLS (Go crypto/tls, ALPN h2), trusting
// <certDir>/cert.pem.
func h2Client(base string, n int, certDir string) {
	t := newTally()
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	if certDir != "" {
		tr = &http2.Transport{TLSClientConfig: &tls.Config{RootCAs: certPool(certDir), NextProtos: []string{"h2"}}}
	}
	client := &http.Client{Transport: tr}
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if !i.Reused {
			t.connected()
		}
	}}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				method, path, api := "GET", fmt.Sprintf("/ok?i=%d", i), "GET /ok"
				var body io.Reader
				switch i % 10 {
				case 3, 7:
					path, api = "/missing", "GET /missing"
				case 5:
					path, api = "/fail", "GET /fail"
				case 9:
					method, path, api = "POST", "/echo", "POST /echo"
					body = strings.NewReader(strings.Repeat("e", 100+i))
				}
				req, err := http.NewRequest(method, base+path, body)
				must(err)
				req = req.WithContext(httptrace.WithClientTrace(context.Background(), trace))
				start := time.Now()
				resp, err := client.Do(req)
				must(err)
				_, err = io.Copy(io.Discard, resp.Body)
				must(err)
				must(resp.Body.Close())
				class := noErr
				if resp.StatusCode >= 500 {
					class = serverErr
				} else if resp.StatusCode >= 400 {
					class = clientErr
				}
				t.add(api, class, start)
				t.extra(fmt.Sprintf("status %d", resp.StatusCode))
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	tr.CloseIdleConnections()
	t.print()
}
