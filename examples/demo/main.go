// Demo app for stoker: a tiny Go service exposing net/http/pprof, with a
// workload that burns CPU, allocates memory, contends a mutex and blocks on
// channels so that every default profile type has something to show.
//
//	go run examples/demo/main.go -listen 127.0.0.1:6060
package main

import (
	"crypto/sha256"
	"flag"
	"log"
	"net/http"
	_ "net/http/pprof"
	"runtime"
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

func main() {
	listen := flag.String("listen", "127.0.0.1:6060", "address for the pprof HTTP server")
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
	log.Printf("demo app: pprof on http://%s/debug/pprof/", *listen)
	srv := &http.Server{Addr: *listen, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
