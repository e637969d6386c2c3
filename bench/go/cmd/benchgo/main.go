// Command benchgo is the Go half of informerd's benchmarks (see docs/benchmarks.md):
//
//	benchgo replay    serve a generated LIST+WATCH stream of Pods on 127.0.0.1 at full speed,
//	                  or (--paced) modifications at a requested pace (Subscribe fan-out)
//	benchgo clientgo  a client-go SharedIndexInformer measuring ingest, sync, memory, latency
//	benchgo populate  create generated Pods in a real API server (workload 2)
//	benchgo write     patch Pods at a fixed rate, stamping the write time (workloads 2 and 3)
//	benchgo fanout    N client-go informers, each with its own watch (workload 3)
//	benchgo gen       write generated Pods / watch events to a file (micro-benchmark input)
//	benchgo apistat   the API server's CPU seconds and registered Pod watchers
//	benchgo apiget    Gets or Lists of Pods from the API server's watch cache at a fixed rate,
//	                  with its CPU per call (the anchor of informerd's Get and List figures)
//
// Every result is one JSON object on one line of stdout; progress goes to stderr.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "replay":
		err = runReplay(args)
	case "clientgo":
		err = runClientGo(args)
	case "populate":
		err = runPopulate(args)
	case "write":
		err = runWrite(args)
	case "fanout":
		err = runFanout(args)
	case "gen":
		err = runGen(args)
	case "apistat":
		err = runAPIStat(args)
	case "apiget":
		err = runAPIGet(args)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchgo %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: benchgo replay|clientgo|populate|write|fanout|gen|apistat|apiget [flags]")
	os.Exit(2)
}

// emit prints one result line.
func emit(v map[string]any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	os.Stdout.Write(append(b, '\n'))
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchgo: "+format+"\n", args...)
}

// cpuSeconds is this process's user+system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return tv(ru.Utime) + tv(ru.Stime)
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// rssBytes reads VmRSS from /proc/self/status.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// percentiles of latencies in ms.
func percentiles(d []time.Duration) map[string]any {
	if len(d) == 0 {
		return map[string]any{"n": 0}
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) float64 {
		i := int(q * float64(len(s)-1))
		return float64(s[i]) / 1e6
	}
	return map[string]any{"n": len(s), "p50_ms": at(0.50), "p90_ms": at(0.90), "p99_ms": at(0.99), "max_ms": at(1)}
}
