package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

// h2cServer answers /ok (200), /missing (404), /fail (500), /big (200, 18 000 bytes in two
// DATA frames) and /echo (the POSTed body); every response carries a header whose value
// changes per request, so the dynamic tables keep inserting and evicting.
func h2cServer(addr string) {
	mux := http.NewServeMux()
	seq := 0
	var mu sync.Mutex
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seq++
		n := seq
		mu.Unlock()
		w.Header().Set("x-seq", fmt.Sprintf("response-%d-%s", n, strings.Repeat("v", n%40)))
		switch r.URL.Path {
		case "/ok":
			io.WriteString(w, "ok\n")
		case "/missing":
			http.Error(w, "no such thing", http.StatusNotFound)
		case "/fail":
			http.Error(w, "broken", http.StatusInternalServerError)
		case "/big":
			io.WriteString(w, strings.Repeat("0123456789", 1800))
		case "/echo":
			io.Copy(w, r.Body)
		default:
			http.NotFound(w, r)
		}
	})
	h2s := &http2.Server{}
	if err := http.ListenAndServe(addr, h2c.NewHandler(mux, h2s)); err != nil {
		fail(err)
	}
}

// h2Client sends, over one connection, 8 workers × 25 requests mixing the paths above, each
// with a request header whose value changes, and tallies the statuses it got. It announces
// SETTINGS_HEADER_TABLE_SIZE decoderTableSize: the server's encoder must shrink its table.
func h2Client(addr string, decoderTableSize uint32) {
	tr := &http2.Transport{
		MaxDecoderHeaderTableSize: decoderTableSize,
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, a string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, a)
		},
	}
	client := &http.Client{Transport: tr}
	t := newTally()
	paths := []string{"/ok?a=1", "/missing", "/ok", "/fail", "/big", "/echo"}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				p := paths[(w+i)%len(paths)]
				method := "GET"
				var body io.Reader
				if p == "/echo" {
					method = "POST"
					body = strings.NewReader(strings.Repeat("e", 200*(i+1)))
				}
				req, err := http.NewRequest(method, "http://"+addr+p, body)
				if err != nil {
					fail(err)
				}
				req.Header.Set("x-trace", fmt.Sprintf("trace-%d-%d", w, i))
				resp, err := client.Do(req)
				if err != nil {
					fail(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				api := method + " " + strings.SplitN(p, "?", 2)[0]
				t.add(api, resp.StatusCode >= 400 && resp.StatusCode < 500, resp.StatusCode >= 500)
			}
		}(w)
	}
	wg.Wait()
	t.print()
}
