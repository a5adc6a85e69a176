// Real HTTP/2 and gRPC peers for the l7 http2 parser's recorded fixtures (record.sh).
//
//	go run . h2c-server <addr>                          plaintext HTTP/2 (h2c) server
//	go run . h2-client  <addr> <decoder-table-size>     concurrent Go HTTP/2 client; prints its own tally
//	go run . grpc-server <addr>                         gRPC server: unary, server/client/bidi streaming
//	go run . grpc-client <addr>                         gRPC client; prints its own tally
//
// The clients print, as JSON, what they did per API: calls and errors by class, counted on
// their side, so the tests compare the parser with the client rather than with itself.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
)

// tally is a client's own count of what it did, per API.
type tally struct {
	mu   sync.Mutex
	apis map[string]*apiCount
}

type apiCount struct {
	Count  int `json:"count"`
	Client int `json:"client"`
	Server int `json:"server"`
}

func newTally() *tally { return &tally{apis: map[string]*apiCount{}} }

func (t *tally) add(api string, clientErr, serverErr bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.apis[api]
	if c == nil {
		c = &apiCount{}
		t.apis[api] = c
	}
	c.Count++
	if clientErr {
		c.Client++
	}
	if serverErr {
		c.Server++
	}
}

func (t *tally) print() {
	out, err := json.MarshalIndent(t.apis, "", "  ")
	if err != nil {
		fail(err)
	}
	fmt.Println(string(out))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 3 {
		fail(fmt.Errorf("usage: %s h2c-server|h2-client|grpc-server|grpc-client <addr> [table-size]", os.Args[0]))
	}
	addr := os.Args[2]
	switch os.Args[1] {
	case "h2c-server":
		h2cServer(addr)
	case "h2-client":
		size := 4096
		if len(os.Args) > 3 {
			n, err := strconv.Atoi(os.Args[3])
			if err != nil {
				fail(err)
			}
			size = n
		}
		h2Client(addr, uint32(size))
	case "grpc-server":
		grpcServer(addr)
	case "grpc-client":
		grpcClient(addr)
	default:
		fail(fmt.Errorf("unknown mode %q", os.Args[1]))
	}
}
