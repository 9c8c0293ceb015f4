// pprof_farm serves canned pprof profiles on many ports, so one cheap process can
// stand in for many Go targets in collector benchmarks. Every port answers the
// same five default endpoints from files in -dir (cpu.pb.gz, allocs.pb.gz,
// goroutine.pb.gz, block.pb.gz, mutex.pb.gz); /debug/pprof/profile waits its
// ?seconds=N (at most 60) before answering, like the real CPU profiler.
//
//	go run bench/pprof_farm.go -dir DIR -first-port 20000 -ports 100
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

func main() {
	dir := flag.String("dir", "", "directory with canned profiles")
	first := flag.Int("first-port", 20000, "first port on 127.0.0.1")
	n := flag.Int("ports", 10, "number of ports")
	flag.Parse()
	files := map[string]string{
		"/debug/pprof/profile":   "cpu.pb.gz",
		"/debug/pprof/allocs":    "allocs.pb.gz",
		"/debug/pprof/goroutine": "goroutine.pb.gz",
		"/debug/pprof/block":     "block.pb.gz",
		"/debug/pprof/mutex":     "mutex.pb.gz",
	}
	bodies := map[string][]byte{}
	for path, name := range files {
		b, err := os.ReadFile(filepath.Join(*dir, name))
		if err != nil {
			log.Fatal(err)
		}
		bodies[path] = b
	}
	mux := http.NewServeMux()
	for path, body := range bodies {
		path, body := path, body
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			if s, err := strconv.Atoi(r.URL.Query().Get("seconds")); err == nil && s > 0 && path == "/debug/pprof/profile" {
				if s > 60 {
					s = 60
				}
				time.Sleep(time.Duration(s) * time.Second)
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(body)
		})
	}
	for p := *first; p < *first+*n; p++ {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			log.Fatal(err)
		}
		go http.Serve(l, mux)
	}
	log.Printf("serving %d targets on 127.0.0.1:%d-%d", *n, *first, *first+*n-1)
	select {}
}
