package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// runFanout is the client-go side of workload 3: N independent informers on one namespace,
// each with its own clientset and TCP connection (as N controller processes would have), so
// the API server serves N watches. It measures write -> handler latency over every informer.
func runFanout(args []string) error {
	fs := flag.NewFlagSet("fanout", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the API server")
	namespace := fs.String("namespace", "informerd-fanout", "namespace every informer watches")
	n := fs.Int("informers", 10, "informers, each with its own connection and watch")
	expect := fs.Int("expect-stamped", 0, "stamped updates each informer should see")
	readyFile := fs.String("ready-file", "", "created once every informer has synced")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	fs.Parse(args)
	cfg, err := restConfig(*kubeconfig)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	lat := &latencyRecorder{max: 1 << 24}
	var complete atomic.Int64
	var factories []informers.SharedInformerFactory
	var synced []cache.InformerSynced
	cpu0 := cpuSeconds()
	for i := 0; i < *n; i++ {
		c := *cfg
		// A custom dialer makes client-go build a new transport (no shared connection).
		c.Dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		client, err := kubernetes.NewForConfig(&c)
		if err != nil {
			return err
		}
		f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(*namespace))
		inf := f.Core().V1().Pods().Informer()
		var seen atomic.Int64
		want := int64(*expect)
		inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			UpdateFunc: func(oldObj, newObj any) {
				if lat.observe(oldObj, newObj) && seen.Add(1) == want {
					complete.Add(1)
				}
			},
		})
		f.Start(ctx.Done())
		factories = append(factories, f)
		synced = append(synced, inf.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("informers not synced after %v", *timeout)
	}
	if *readyFile != "" {
		os.WriteFile(*readyFile, nil, 0o644)
	}
	emit(map[string]any{"event": "subscribed", "informers": *n})
	start := time.Now()
	for *expect > 0 && complete.Load() < int64(*n) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start).Seconds()
	samples := lat.snapshot()
	rss := rssBytes()
	cpu := cpuSeconds() - cpu0
	cancel()
	var wg sync.WaitGroup
	for _, f := range factories {
		wg.Add(1)
		go func() { defer wg.Done(); f.Shutdown() }()
	}
	wg.Wait()
	emit(map[string]any{"event": "result", "mode": "client-go-fanout", "informers": *n,
		"complete": complete.Load(), "stamped_received": len(samples), "seconds": elapsed,
		"stamped_per_s": float64(len(samples)) / elapsed, "client_cpu_s": cpu,
		"rss_bytes": rss, "latency": percentiles(samples)})
	return nil
}

// runAPIStat prints the CPU seconds of a process (the API server) and the API server's
// open Pod watches (apiserver_longrunning_requests), for workload 3's "API server cost" columns.
func runAPIStat(args []string) error {
	fs := flag.NewFlagSet("apistat", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the API server")
	pid := fs.Int("pid", 0, "the API server's process id")
	fs.Parse(args)
	out := map[string]any{"event": "apistat", "pid": *pid}
	if *pid > 0 {
		cpu, err := procCPUSeconds(*pid)
		if err != nil {
			return err
		}
		out["cpu_s"] = cpu
	}
	cfg, err := restConfig(*kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body, err := client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var watches float64
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "apiserver_longrunning_requests{") && strings.Contains(line, `verb="WATCH"`) && strings.Contains(line, `resource="pods"`) {
			watches += lastFloat(line)
		}
	}
	out["pod_watches"] = watches
	emit(out)
	return nil
}

func lastFloat(line string) float64 {
	f := strings.Fields(line)
	v, _ := strconv.ParseFloat(f[len(f)-1], 64)
	return v
}

// procCPUSeconds is utime+stime of /proc/<pid>/stat.
func procCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	// Fields after the command name, which is in parentheses and may contain spaces.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100, nil // USER_HZ is 100 on Linux
}
