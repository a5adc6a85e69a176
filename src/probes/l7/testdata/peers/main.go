// Real peers for the l7 probe's end-to-end root tests (h2.root.test.ts, grpc.root.test.ts,
// mongo.root.test.ts): servers that print the address they listen on, clients that print
// their own tally of what they did, so the tests compare the probe with the client rather
// than with itself.
//
//	peers grpc-server [--tls <dir>]            gRPC demo.Echo (unary, server/client/bidi streaming)
//	peers grpc-client <addr> [--tls <dir>]     gRPC calls over one connection; prints its tally
//	peers h2c-server                           HTTP/2 cleartext (prior knowledge) server
//	peers h2-client <url-base> <n> [--tls <dir>] n HTTP/2 requests over one connection; prints its tally
//	peers mongo-client <host:port> <n>         MongoDB commands (n of each kind); prints its tally
//	peers gen-cert <dir>                       a self-signed certificate for 127.0.0.1: <dir>/cert.pem, key.pem
//
// Servers listen on 127.0.0.1 port 0 and print "listening <addr>" once they accept.
// With PEERS_WAIT=1 a client prints "ready" and waits for a line on stdin before it starts:
// a test puts the running executable (not a shell that will exec it) in the probe's scope,
// as the TLS uprobes need.
// A tally is JSON: {"apis": {<api>: {count, client, server, latency_sum_ns, latency_max_ns}},
// "connections": n, ...}: calls per API, errors by the class the l7 probe documents for the
// protocol, and the latency of each call as the client measured it (from before it sent the
// request to after it had the whole response).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

type apiCount struct {
	Count        int   `json:"count"`
	Client       int   `json:"client"`
	Server       int   `json:"server"`
	LatencySumNs int64 `json:"latency_sum_ns"`
	LatencyMaxNs int64 `json:"latency_max_ns"`
}

type errClass int

const (
	noErr errClass = iota
	clientErr
	serverErr
)

// tally is a client's own count of what it did, per API.
type tally struct {
	mu          sync.Mutex
	APIs        map[string]*apiCount `json:"apis"`
	Connections int                  `json:"connections"`
	Extra       map[string]int       `json:"extra,omitempty"`
}

func newTally() *tally { return &tally{APIs: map[string]*apiCount{}, Extra: map[string]int{}} }

// add counts one call of api that started at start and ended now.
func (t *tally) add(api string, class errClass, start time.Time) {
	lat := time.Since(start).Nanoseconds()
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.APIs[api]
	if c == nil {
		c = &apiCount{}
		t.APIs[api] = c
	}
	c.Count++
	switch class {
	case clientErr:
		c.Client++
	case serverErr:
		c.Server++
	}
	c.LatencySumNs += lat
	if lat > c.LatencyMaxNs {
		c.LatencyMaxNs = lat
	}
}

func (t *tally) connected() {
	t.mu.Lock()
	t.Connections++
	t.mu.Unlock()
}

func (t *tally) extra(name string) {
	t.mu.Lock()
	t.Extra[name]++
	t.mu.Unlock()
}

func (t *tally) print() {
	t.mu.Lock()
	defer t.mu.Unlock()
	out, err := json.MarshalIndent(t, "", "  ")
	must(err)
	fmt.Println(string(out))
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func usage() {
	must(fmt.Errorf("usage: %s grpc-server|grpc-client|h2c-server|h2-client|mongo-client|gen-cert ...", os.Args[0]))
}

// listen opens 127.0.0.1:0 and says where.
func listen() net.Listener {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	fmt.Printf("listening %s\n", lis.Addr())
	return lis
}

// tlsDir returns the directory after a "--tls" flag at args[i], or "".
func tlsDir(args []string, i int) string {
	if len(args) > i+1 && args[i] == "--tls" {
		return args[i+1]
	}
	if len(args) > i {
		usage()
	}
	return ""
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	a := os.Args
	if os.Getenv("PEERS_WAIT") == "1" {
		fmt.Println("ready")
		_, err := bufio.NewReader(os.Stdin).ReadString('\n')
		must(err)
	}
	switch a[1] {
	case "grpc-server":
		grpcServer(tlsDir(a, 2))
	case "grpc-client":
		if len(a) < 3 {
			usage()
		}
		grpcClient(a[2], tlsDir(a, 3))
	case "h2c-server":
		h2cServer()
	case "h2-client":
		if len(a) < 4 {
			usage()
		}
		h2Client(a[2], atoi(a[3]), tlsDir(a, 4))
	case "mongo-client":
		if len(a) != 4 {
			usage()
		}
		mongoClient(a[2], atoi(a[3]))
	case "gen-cert":
		if len(a) != 3 {
			usage()
		}
		genCert(a[2])
	default:
		usage()
	}
}

func atoi(s string) int {
	var n int
	_, err := fmt.Sscanf(s, "%d", &n)
	must(err)
	return n
}
