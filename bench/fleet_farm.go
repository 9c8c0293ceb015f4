// fleet_farm serves a fleet of virtual Go services for stoker's fleet-scale
// benchmark (bench/fleet_bench.sh): N services, each on its own loopback
// address 127.0.X.Y:PORT, answering the five default /debug/pprof endpoints
// with profiles shaped like real Go services' ones:
//
//   - the services run P programs (binaries): each has ~2,500 functions with
//     long package-qualified names, two PCs per function (some with an inlined
//     frame), and its own populations of call stacks per profile type, built
//     by random walks down a call graph so stacks share root-side prefixes;
//   - CPU (/debug/pprof/profile?seconds=N waits N seconds, like Go): ~2,600
//     samples drawn from a skewed population, ≈1,500 distinct stacks, different
//     for every service and scrape;
//   - allocs: Go's heap profile (4 sample types, the "bytes" label),
//     cumulative: ≈3,000 allocation sites whose counters grow by a per-service
//     rate, new sites appearing as the process ages;
//   - block and mutex: ≈400 sites, cumulative; goroutine: ≈300 stacks, a gauge;
//   - every program is "deployed" every -deploy-every (staggered): its
//     addresses move, about 5 % of its functions change name, and every
//     replica restarts (cumulative counters start again from zero);
//   - with -labels, CPU samples carry labels as a labelled Go service's do:
//     300 requests per profile, each with one of 10 `endpoint` values and its
//     own `span_id`; one draw in ten is background work without labels
//     (≈2,570 samples instead of ≈1,460, since a stack splits by request).
//
// A profile is one gzip stream, as Go writes it; the symbol part (strings,
// mappings, locations, functions) of a program/type/deploy is compressed once
// and cached, the samples are compressed per request (the two deflate parts
// are joined with a sync flush), so the farm costs little next to the
// collector it feeds.
//
//	go build -o fleet-farm bench/fleet_farm.go
//	fleet-farm -services 300 -programs 50 -port 6060          serve
//	fleet-farm -services 300 -dump DIR                        write one round of bodies and exit
//	fleet-farm -services 300 -sizes                           print sizes per type and exit
package main

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"flag"
	"fmt"
	"hash/crc32"
	"log"
	"math"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

const (
	interval    = 15 * time.Second // the scrape interval the cumulative counters advance by
	funcsPerApp = 2500
)

var (
	words = []string{"api", "store", "cache", "codec", "queue", "auth", "billing", "ledger", "search",
		"index", "render", "session", "stream", "router", "proto", "sql", "pool", "retry", "metrics", "trace"}
	verbs   = []string{"Handle", "Serve", "Get", "Put", "Encode", "Decode", "Flush", "Apply", "Merge", "Scan", "Write", "Read", "Commit", "Lookup"}
	runtime = []string{"runtime.goexit", "runtime.main", "main.main", "net/http.(*conn).serve",
		"net/http.serverHandler.ServeHTTP", "runtime.mcall", "runtime.park_m", "runtime.schedule",
		"runtime.findRunnable", "runtime.netpoll", "syscall.Syscall", "runtime.mallocgc",
		"runtime.memmove", "sync.(*Mutex).Lock", "runtime.chanrecv1", "runtime.gopark",
		"runtime.selectgo", "sync.(*RWMutex).RLock", "sync.(*Mutex).Unlock", "internal/poll.(*FD).Read"}
)

// Indices of leaf functions in `runtime`.
const (
	fnMallocgc = 11
	fnLock     = 13
	fnChanrecv = 14
	fnGopark   = 15
	fnSelect   = 16
	fnRLock    = 17
	fnUnlock   = 18
)

type kind int

const (
	kCPU kind = iota
	kAllocs
	kBlock
	kMutex
	kGoroutine
	nKinds
)

var paths = map[string]kind{
	"/debug/pprof/profile":   kCPU,
	"/debug/pprof/allocs":    kAllocs,
	"/debug/pprof/block":     kBlock,
	"/debug/pprof/mutex":     kMutex,
	"/debug/pprof/goroutine": kGoroutine,
}
var kindNames = []string{"cpu", "allocs", "block", "mutex", "goroutine"}

// A stack population of one profile type: stacks as location indices, leaf
// first, and a weight (CPU: how often it is hit; cumulative: its rate).
type population struct {
	stacks  [][]int32
	weights []float64
	cdf     []float64 // for CPU draws
	sizes   []int64   // allocs: object size per site
}

type program struct {
	id     int
	base   []string // function names before deploy renames
	files  []string
	pops   [nKinds]population
	offset time.Duration // deploy schedule stagger
}

// Locations: two PCs per function; every sixth location carries an inlined
// callee as its innermost frame.
func locFunc(loc int32) int { return int(loc) / 2 }
func hasInline(loc int32) bool { return loc%6 == 5 }

func newProgram(id int, seed int64) *program {
	r := rand.New(rand.NewSource(seed*1000003 + int64(id)))
	p := &program{id: id, offset: time.Duration(r.Int63n(int64(time.Hour)))}
	p.base = append(p.base, runtime...)
	for len(p.base) < funcsPerApp {
		i := len(p.base)
		p.base = append(p.base, fmt.Sprintf("github.com/acme/svc%02d/internal/%s/%s.(*%sService).%s%d",
			id, words[r.Intn(20)], words[r.Intn(20)], words[r.Intn(20)], verbs[r.Intn(14)], i))
	}
	for _, n := range p.base {
		pkg := n
		for i := len(n) - 1; i >= 0; i-- {
			if n[i] == '.' && i > 0 && n[i-1] != '*' && n[i-1] != '(' {
				pkg = n[:i]
				break
			}
		}
		p.files = append(p.files, "/src/"+pkg+".go")
	}
	// Each profile type's stacks run through its own part of the program (a
	// CPU profile sees other functions than a block profile).
	var pool []int
	userLoc := func() int32 { return int32(2*pool[r.Intn(len(pool))] + r.Intn(2)) }
	pool = r.Perm(funcsPerApp - len(runtime))
	for i := range pool {
		pool[i] += len(runtime)
	}
	// Entry prefixes shared by many stacks.
	var prefixes [][]int32
	for e := 0; e < 24; e++ {
		root := []int32{0, 4, 6, 8} // goexit, main.main, http serve, ServeHTTP
		for k := 0; k < 5; k++ {
			root = append(root, userLoc())
		}
		prefixes = append(prefixes, root)
	}
	walk := func(minDepth, maxDepth int, leaves []int) []int32 {
		rootFirst := append([]int32(nil), prefixes[r.Intn(len(prefixes))]...)
		d := minDepth + r.Intn(maxDepth-minDepth+1)
		for len(rootFirst) < d {
			rootFirst = append(rootFirst, userLoc())
		}
		if len(leaves) > 0 {
			rootFirst = append(rootFirst, int32(2*leaves[r.Intn(len(leaves))]))
		}
		leafFirst := make([]int32, len(rootFirst))
		for i := range rootFirst {
			leafFirst[i] = rootFirst[len(rootFirst)-1-i]
		}
		return leafFirst
	}
	all := pool
	build := func(k kind, n, funcs, minDepth, maxDepth int, leaves []int, skew float64) {
		perm := r.Perm(len(all))
		pool = make([]int, funcs)
		for i := range pool {
			pool[i] = all[perm[i]]
		}
		pop := &p.pops[k]
		total := 0.0
		for s := 0; s < n; s++ {
			pop.stacks = append(pop.stacks, walk(minDepth, maxDepth, leaves))
			w := 1 / math.Pow(float64(s)+10, skew)
			pop.weights = append(pop.weights, w)
			total += w
			pop.cdf = append(pop.cdf, total)
			pop.sizes = append(pop.sizes, int64(16<<uint(r.Intn(9))))
		}
		for i := range pop.cdf {
			pop.cdf[i] /= total
		}
	}
	build(kCPU, 3000, 950, 10, 44, nil, 0.65)
	build(kAllocs, 4200, 1450, 10, 34, []int{fnMallocgc}, 0.8)
	build(kBlock, 560, 620, 12, 40, []int{fnChanrecv, fnSelect, fnLock, fnRLock}, 0.8)
	build(kMutex, 560, 620, 12, 40, []int{fnUnlock}, 0.8)
	build(kGoroutine, 450, 800, 14, 40, []int{fnGopark}, 0.5)
	return p
}

// The deploy generation and the age (in intervals) of program p at t.
func (p *program) clock(t time.Time, every time.Duration) (gen int64, age int64) {
	d := time.Duration(t.UnixNano()) + p.offset
	return int64(d / every), int64((d % every) / interval)
}

func (p *program) funcName(f int, gen int64) string {
	if f >= len(runtime) && (uint64(f)*2654435761+uint64(gen)*40503)%20 == 0 {
		return p.base[f] + ".func" + strconv.FormatInt(gen, 10)
	}
	return p.base[f]
}

// --- protobuf encoding (perftools.profiles.Profile) ---

type enc struct{ b []byte }

func (e *enc) varint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) key(field, wire int) { e.varint(uint64(field<<3 | wire)) }
func (e *enc) uintField(field int, v uint64) {
	if v != 0 {
		e.key(field, 0)
		e.varint(v)
	}
}
func (e *enc) bytesField(field int, b []byte) {
	e.key(field, 2)
	e.varint(uint64(len(b)))
	e.b = append(e.b, b...)
}
func (e *enc) packed(field int, vs []uint64) {
	var tmp enc
	for _, v := range vs {
		tmp.varint(v)
	}
	e.bytesField(field, tmp.b)
}

type strtab struct {
	idx  map[string]uint64
	list []string
}

func (s *strtab) id(v string) uint64 {
	if i, ok := s.idx[v]; ok {
		return i
	}
	i := uint64(len(s.list))
	s.idx[v] = i
	s.list = append(s.list, v)
	return i
}

// The static part of a profile: header, mapping, every location and function
// the population can reference, and the string table.
type symbols struct {
	deflated []byte // raw deflate, sync-flushed, not final
	crc      uint32
	size     uint32
	bytesKey uint64 // string index of "bytes" (allocs label)
	countKey uint64
	nstrings uint64 // strings in the table: a profile's own strings follow
}

func header(e *enc, s *strtab, k kind) {
	vt := func(typ, unit string) []byte {
		var v enc
		v.uintField(1, s.id(typ))
		v.uintField(2, s.id(unit))
		return v.b
	}
	switch k {
	case kCPU:
		e.bytesField(1, vt("samples", "count"))
		e.bytesField(1, vt("cpu", "nanoseconds"))
		e.bytesField(11, vt("cpu", "nanoseconds"))
		e.uintField(12, 10000000)
	case kAllocs:
		for _, t := range [][2]string{{"alloc_objects", "count"}, {"alloc_space", "bytes"}, {"inuse_objects", "count"}, {"inuse_space", "bytes"}} {
			e.bytesField(1, vt(t[0], t[1]))
		}
		e.bytesField(11, vt("space", "bytes"))
		e.uintField(12, 524288)
		e.uintField(14, s.id("alloc_space"))
	case kBlock, kMutex:
		e.bytesField(1, vt("contentions", "count"))
		e.bytesField(1, vt("delay", "nanoseconds"))
		e.bytesField(11, vt("contentions", "count"))
		e.uintField(12, 1)
	case kGoroutine:
		e.bytesField(1, vt("goroutine", "count"))
		e.bytesField(11, vt("goroutine", "count"))
		e.uintField(12, 1)
	}
}

func (p *program) symbols(k kind, gen int64) *symbols {
	s := &strtab{idx: map[string]uint64{}}
	s.id("")
	var e enc
	header(&e, s, k)
	out := &symbols{bytesKey: s.id("bytes"), countKey: s.id("count")}
	// Mapping 1: the binary; addresses move with every deploy.
	base := uint64(0x400000) + uint64(gen%64)*0x100000
	var m enc
	m.uintField(1, 1)
	m.uintField(2, base)
	m.uintField(3, base+uint64(funcsPerApp)*0x100+0x10000)
	m.uintField(5, s.id(fmt.Sprintf("/usr/local/bin/svc%02d", p.id)))
	m.uintField(6, s.id(fmt.Sprintf("%08x%08x", p.id*7919, gen)))
	m.uintField(7, 1)
	m.uintField(8, 1)
	m.uintField(9, 1)
	m.uintField(10, 1)
	e.bytesField(3, m.b)
	usedLoc := map[int32]bool{}
	for _, st := range p.pops[k].stacks {
		for _, l := range st {
			usedLoc[l] = true
		}
	}
	usedFn := map[int]bool{}
	for l := range usedLoc {
		var le enc
		le.uintField(1, uint64(l)+1)
		le.uintField(2, 1)
		le.uintField(3, base+uint64(l)*0x80+uint64(l%7)*4)
		f := locFunc(l)
		if hasInline(l) {
			callee := (f*31+7)%(funcsPerApp-len(runtime)) + len(runtime)
			usedFn[callee] = true
			var ln enc
			ln.uintField(1, uint64(callee)+1)
			ln.uintField(2, uint64(20+callee%300))
			le.bytesField(4, ln.b)
		}
		usedFn[f] = true
		var ln enc
		ln.uintField(1, uint64(f)+1)
		ln.uintField(2, uint64(30+f%400+int(l%2)*3))
		le.bytesField(4, ln.b)
		e.bytesField(4, le.b)
	}
	for f := range usedFn {
		var fe enc
		name := s.id(p.funcName(f, gen))
		fe.uintField(1, uint64(f)+1)
		fe.uintField(2, name)
		fe.uintField(3, name)
		fe.uintField(4, s.id(p.files[f]))
		fe.uintField(5, uint64(10+f%400))
		e.bytesField(5, fe.b)
	}
	for _, v := range s.list {
		e.bytesField(6, []byte(v))
	}
	out.nstrings = uint64(len(s.list))
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed) // what runtime/pprof uses
	w.Write(e.b)
	w.Flush()
	out.deflated = buf.Bytes()
	out.crc = crc32.ChecksumIEEE(e.b)
	out.size = uint32(len(e.b))
	return out
}

// --- the fleet ---

type farm struct {
	programs []*program
	every    time.Duration
	labels   bool // CPU samples carry endpoint and span_id labels
	mu       sync.Mutex
	cache    map[[3]int64]*symbols // (program, kind, gen)
}

func (f *farm) syms(p *program, k kind, gen int64) *symbols {
	key := [3]int64{int64(p.id), int64(k), gen}
	f.mu.Lock()
	s := f.cache[key]
	f.mu.Unlock()
	if s != nil {
		return s
	}
	s = p.symbols(k, gen)
	f.mu.Lock()
	// Old deploys are dropped so that the cache stays bounded.
	for old := range f.cache {
		if old[0] == key[0] && old[1] == key[1] && old[2] < gen-1 {
			delete(f.cache, old)
		}
	}
	f.cache[key] = s
	f.mu.Unlock()
	return s
}

// hash64 mixes its arguments into a well-spread 64-bit value (splitmix64).
func hash64(vs ...uint64) uint64 {
	h := uint64(0x9e3779b97f4a7c15)
	for _, v := range vs {
		h ^= v + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2)
		h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9
		h = (h ^ (h >> 27)) * 0x94d049bb133111eb
		h ^= h >> 31
	}
	return h
}

// A uniform value in [0,1) for the arguments.
func unit(vs ...uint64) float64 { return float64(hash64(vs...)>>11) / (1 << 53) }

// The profile of kind k for service svc at time t, gzipped.
func (f *farm) profile(svc int, k kind, t time.Time, seconds int) ([]byte, int) {
	p := f.programs[svc%len(f.programs)]
	gen, age := p.clock(t, f.every)
	syms := f.syms(p, k, gen)
	pop := &p.pops[k]
	var e enc
	nsamples := 0
	sample := func(stack []int32, values []uint64, label func(*enc)) {
		nsamples++
		var s enc
		ids := make([]uint64, len(stack))
		for i, l := range stack {
			ids[i] = uint64(l) + 1
		}
		s.packed(1, ids)
		s.packed(2, values)
		if label != nil {
			label(&s)
		}
		e.bytesField(2, s.b)
	}
	// Cumulative counters: a site's count grows with the process' age at a
	// per-service rate; sites appear as the process ages.
	cum := func(site int, ageSteps int64, rate float64) uint64 {
		return uint64(rate * float64(ageSteps) * (0.5 + unit(uint64(svc), uint64(site), uint64(gen))))
	}
	switch k {
	case kCPU:
		r := rand.New(rand.NewSource(int64(hash64(uint64(svc), uint64(t.UnixNano()/int64(time.Second))))))
		counts := map[int]uint64{}
		for i := 0; i < 2600; i++ {
			x := r.Float64()
			lo, hi := 0, len(pop.cdf)-1
			for lo < hi {
				mid := (lo + hi) / 2
				if pop.cdf[mid] < x {
					lo = mid + 1
				} else {
					hi = mid
				}
			}
			counts[lo]++
		}
		if !f.labels {
			for s, n := range counts {
				sample(pop.stacks[s], []uint64{n, n * 10000000}, nil)
			}
		} else {
			// 300 requests, each with one of 10 endpoints and its own span
			// id (pprof.Do with otel-profiling-go's labels); one draw in ten
			// is background work without labels. The strings follow the
			// cached table's.
			next := syms.nstrings
			str := func(v string) uint64 {
				e.bytesField(6, []byte(v))
				next++
				return next - 1
			}
			kEndpoint, kSpan := str("endpoint"), str("span_id")
			var endpoints [10]uint64
			for i := range endpoints {
				endpoints[i] = str(fmt.Sprintf("/api/v1/endpoint%d", i))
			}
			type req struct{ endpoint, span uint64 }
			reqs := make([]req, 300)
			for i := range reqs {
				reqs[i] = req{endpoints[r.Intn(10)], str(fmt.Sprintf("%016x", r.Uint64()|1))}
			}
			for s, n := range counts {
				split := map[int]uint64{}
				for u := uint64(0); u < n; u++ {
					if r.Intn(10) == 0 {
						split[-1]++
					} else {
						split[r.Intn(len(reqs))]++
					}
				}
				for q, m := range split {
					var label func(*enc)
					if q >= 0 {
						rq := reqs[q]
						label = func(s *enc) {
							for _, kv := range [][2]uint64{{kEndpoint, rq.endpoint}, {kSpan, rq.span}} {
								var l enc
								l.uintField(1, kv[0])
								l.uintField(2, kv[1])
								s.bytesField(3, l.b)
							}
						}
					}
					sample(pop.stacks[s], []uint64{m, m * 10000000}, label)
				}
			}
		}
		e.uintField(10, uint64(seconds)*uint64(time.Second))
	case kAllocs:
		active := min(len(pop.stacks), 2500+int(age)*4)
		for s := 0; s < active; s++ {
			objs := cum(s, age+1, 2000*pop.weights[s]+0.2)
			if objs == 0 {
				objs = 1
			}
			size := uint64(pop.sizes[s])
			live := objs / uint64(2+s%5)
			sample(pop.stacks[s], []uint64{objs, objs * size, live, live * size}, func(s *enc) {
				var l enc
				l.uintField(1, syms.bytesKey)
				l.uintField(3, size)
				s.bytesField(3, l.b)
			})
		}
	case kBlock, kMutex:
		active := min(len(pop.stacks), 340+int(age)/2)
		for s := 0; s < active; s++ {
			n := cum(s, age+1, 50*pop.weights[s]+0.05) + 1
			sample(pop.stacks[s], []uint64{n, n * uint64(1000+hash64(uint64(s))%90000)}, nil)
		}
	case kGoroutine:
		for s := 0; s < len(pop.stacks); s++ {
			if unit(uint64(svc), uint64(s), uint64(age)) < 0.33 {
				continue
			}
			sample(pop.stacks[s], []uint64{1 + uint64(pop.weights[s]*200*unit(uint64(svc), uint64(s)))}, nil)
		}
	}
	e.uintField(9, uint64(t.UnixNano()))
	// One gzip member: header, the cached symbol deflate, this profile's
	// samples as a final deflate part, CRC and size of the whole.
	var tail bytes.Buffer
	w, _ := flate.NewWriter(&tail, flate.BestSpeed)
	w.Write(e.b)
	w.Close()
	out := make([]byte, 0, 10+len(syms.deflated)+tail.Len()+8)
	out = append(out, 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff)
	out = append(out, syms.deflated...)
	out = append(out, tail.Bytes()...)
	out = binary.LittleEndian.AppendUint32(out, crc32.Update(syms.crc, crc32.IEEETable, e.b))
	out = binary.LittleEndian.AppendUint32(out, syms.size+uint32(len(e.b)))
	return out, nsamples
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// The address of service i: 127.0.1.1, 127.0.1.2, … 127.0.1.250, 127.0.2.1, …
func address(i int) string { return fmt.Sprintf("127.0.%d.%d", 1+i/250, 1+i%250) }

func main() {
	services := flag.Int("services", 300, "number of virtual services")
	programs := flag.Int("programs", 50, "number of distinct programs (replicas share one)")
	port := flag.Int("port", 6060, "port on every service address")
	every := flag.Duration("deploy-every", time.Hour, "how often each program is redeployed (staggered)")
	seed := flag.Int64("seed", 1, "seed of the programs")
	dump := flag.String("dump", "", "write one round of every service's profiles into this directory and exit")
	sizes := flag.Bool("sizes", false, "print the average size of each profile type and exit")
	labels := flag.Bool("labels", false, "CPU samples carry endpoint (10 values) and span_id (300 per profile) labels")
	flag.Parse()
	f := &farm{every: *every, labels: *labels, cache: map[[3]int64]*symbols{}}
	for i := 0; i < *programs; i++ {
		f.programs = append(f.programs, newProgram(i, *seed))
	}
	if *dump != "" || *sizes {
		now := time.Now()
		var total, samples [nKinds]int
		for svc := 0; svc < *services; svc++ {
			for k := kind(0); k < nKinds; k++ {
				b, n := f.profile(svc, k, now, 14)
				total[k] += len(b)
				samples[k] += n
				if *dump != "" {
					name := filepath.Join(*dump, fmt.Sprintf("%04d-%s.pb.gz", svc, kindNames[k]))
					if err := os.WriteFile(name, b, 0o644); err != nil {
						log.Fatal(err)
					}
				}
			}
		}
		for k := kind(0); k < nKinds; k++ {
			fmt.Printf("%-10s %7d bytes gzipped %6d samples (average of %d services)\n", kindNames[k], total[k]/(*services), samples[k]/(*services), *services)
		}
		return
	}
	mux := http.NewServeMux()
	for path, k := range paths {
		k := k
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			host, _, _ := net.SplitHostPort(r.Context().Value(http.LocalAddrContextKey).(net.Addr).String())
			ip := net.ParseIP(host).To4()
			svc := (int(ip[2])-1)*250 + int(ip[3]) - 1
			seconds := 0
			if k == kCPU {
				seconds = 30
				if s, err := strconv.Atoi(r.URL.Query().Get("seconds")); err == nil && s > 0 {
					seconds = min(s, 60)
				}
				select {
				case <-time.After(time.Duration(seconds) * time.Second):
				case <-r.Context().Done():
					return
				}
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			body, _ := f.profile(svc, k, time.Now(), seconds)
			w.Write(body)
		})
	}
	for i := 0; i < *services; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort(address(i), strconv.Itoa(*port)))
		if err != nil {
			log.Fatal(err)
		}
		go http.Serve(l, mux)
	}
	log.Printf("serving %d services (%d programs) on %s … %s port %d", *services, *programs, address(0), address(*services-1), *port)
	select {}
}
