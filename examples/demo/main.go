// Demo app for stoker: a tiny Go service exposing net/http/pprof, with a
// workload that burns CPU, allocates memory, contends a mutex and blocks on
// channels so that every default profile type has something to show.
//
// It also serves simulated requests to three endpoints, each labelled the way
// services label their work: pprof.Do with "endpoint", and "span_id" and
// "span_name" as otel-profiling-go sets them on a trace's root span, so that
// stoker shows a timeline per endpoint and span profiles.
//
//	go run examples/demo/main.go -listen 127.0.0.1:6060
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"log"
	"math/rand"
	"net/http"
	_ "net/http/pprof"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"
)

var (
	mu     sync.Mutex
	shared = map[int][]byte{}
	sink   []byte
)

// burnCPU hashes data in a loop: shows up in process_cpu.
func burnCPU(n int) {
	buf := make([]byte, 4096)
	for i := 0; i < n; i++ {
		sum := sha256.Sum256(buf)
		buf[i%len(buf)] = sum[0]
	}
}

// allocate makes short-lived and long-lived garbage: shows up in memory.
func allocate(i int) {
	b := make([]byte, 32*1024+i%4096)
	sink = b
	mu.Lock()
	shared[i%256] = b[:1024]
	mu.Unlock()
}

// contend holds a lock while other workers want it: shows up in mutex and block.
func contend() {
	mu.Lock()
	time.Sleep(200 * time.Microsecond)
	mu.Unlock()
}

func worker(id int, ticks <-chan int) {
	for i := range ticks { // channel receive blocks: shows up in block
		burnCPU(10 + id*4)
		allocate(i)
		contend()
	}
}

// hashRounds hashes a buffer n times (about 10µs each).
func hashRounds(n int) byte {
	buf := make([]byte, 4096)
	for i := 0; i < n; i++ {
		sum := sha256.Sum256(buf)
		buf[i%len(buf)] = sum[0]
	}
	return buf[0]
}

// The endpoints' work: distinct functions with different weights, so that a
// per-endpoint flame graph shows only its own.
func handleCheckout() byte { return hashRounds(600) }
func handleSearch() byte { return hashRounds(300) }
func handleCart() byte { return hashRounds(150) }

var endpoints = []struct {
	path    string
	handle  func() byte
	waiters int // idle labelled goroutines (its connection pool)
}{{"/checkout", handleCheckout, 1}, {"/search", handleSearch, 2}, {"/cart", handleCart, 3}}

// poolWaiter is an idle goroutine of an endpoint's pool: goroutine profiles
// show it with the endpoint's label, 1, 2 and 3 of them.
func poolWaiter(path string) {
	pprof.Do(context.Background(), pprof.Labels("endpoint", path), func(context.Context) {
		select {}
	})
}

// serveRequests runs one simulated request every `every`, in turn to each
// endpoint, under the pprof labels a traced Go service has. With
// counterLabel, each request also gets a label with its own number (a badly
// chosen label: one series per request).
func serveRequests(every time.Duration, counterLabel bool) {
	for _, ep := range endpoints {
		for w := 0; w < ep.waiters; w++ {
			go poolWaiter(ep.path)
		}
	}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for i := 0; ; i++ {
		ep := endpoints[i%len(endpoints)]
		spanID := fmt.Sprintf("%016x", rng.Uint64()|1)
		labels := []string{"endpoint", ep.path, "span_id", spanID, "span_name", "HTTP GET " + ep.path}
		if counterLabel {
			labels = append(labels, "request", strconv.Itoa(i))
		}
		pprof.Do(context.Background(), pprof.Labels(labels...), func(context.Context) {
			ep.handle()
		})
		time.Sleep(every)
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:6060", "address for the pprof HTTP server")
	requestEvery := flag.Duration("request-every", 60*time.Millisecond,
		"pause between simulated labelled requests (0: none are served)")
	counterLabel := flag.Bool("counter-label", false,
		"label each request with its number too (a label that makes a series per request)")
	flag.Parse()
	runtime.SetBlockProfileRate(10000) // sample blocking events of ~10µs and more
	runtime.SetMutexProfileFraction(5) // sample 1 in 5 contention events

	ticks := make(chan int)
	for w := 0; w < 4; w++ {
		go worker(w, ticks)
	}
	go func() {
		for i := 0; ; i++ {
			ticks <- i
			time.Sleep(time.Millisecond) // paced: about 10% of one core in all
		}
	}()
	if *requestEvery > 0 {
		go serveRequests(*requestEvery, *counterLabel)
	}
	log.Printf("demo app: pprof on http://%s/debug/pprof/", *listen)
	srv := &http.Server{Addr: *listen, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
