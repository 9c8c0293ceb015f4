// push_sink is a minimal Pyroscope push endpoint for forwarding benchmarks: it
// accepts POST /push.v1.PusherService/Push, reads the body, answers 200 and
// counts requests and bytes (printed on GET /stats). It does not decode the
// protobuf: the tests' receiver does that; this one must cost next to nothing.
//
//	go run bench/push_sink.go -listen 127.0.0.1:14050
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"sync/atomic"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:14050", "address")
	flag.Parse()
	var requests, bytes atomic.Int64
	http.HandleFunc("/push.v1.PusherService/Push", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		requests.Add(1)
		bytes.Add(n)
		w.Header().Set("Content-Type", "application/proto")
		w.WriteHeader(http.StatusOK)
	})
	http.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "requests=%d bytes=%d\n", requests.Load(), bytes.Load())
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}
