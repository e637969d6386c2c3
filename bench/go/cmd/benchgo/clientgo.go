package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// LatencyAnnotation carries the writer's wall-clock time (Unix ns) of a write, so a handler
// can measure write -> handler latency on the same machine.
const LatencyAnnotation = "bench.informerd.io/written-at"

// Index names shared with the informerd side (bench/ingest.cc).
const (
	labelIndex = "by-app"
	nodeIndex  = "by-node"
)

func restConfig(kubeconfig string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	// The informer makes a handful of requests; client-side throttling would only add noise.
	cfg.QPS, cfg.Burst = 1e6, 1e6
	cfg.UserAgent = "informerd-bench/client-go"
	return cfg, nil
}

// stripManagedFields is the transform of the "fair" client-go run: what informerd does by
// default (U3).
func stripManagedFields(obj any) (any, error) {
	if a, err := meta.Accessor(obj); err == nil {
		a.SetManagedFields(nil)
	}
	return obj, nil
}

// latencyRecorder collects write -> handler latencies from the annotation, bounded in count.
type latencyRecorder struct {
	mu   sync.Mutex
	max  int
	vals []time.Duration
}

func (l *latencyRecorder) observe(oldObj, newObj any) bool {
	n, ok := newObj.(*corev1.Pod)
	if !ok {
		return false
	}
	v, ok := n.Annotations[LatencyAnnotation]
	if !ok {
		return false
	}
	if o, ok := oldObj.(*corev1.Pod); ok && o.Annotations[LatencyAnnotation] == v {
		return false
	}
	ns, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return false
	}
	d := time.Duration(time.Now().UnixNano() - ns)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.vals) < l.max {
		l.vals = append(l.vals, d)
	}
	return true
}

func (l *latencyRecorder) snapshot() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Duration(nil), l.vals...)
}

func runClientGo(args []string) error {
	fs := flag.NewFlagSet("clientgo", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the server to watch")
	namespace := fs.String("namespace", "", "namespace to watch (\"\" = all)")
	transform := fs.String("transform", "none", "none | strip-managed-fields")
	watchList := fs.String("watchlist", "default", "default | on | off: client-go's WatchListClient feature")
	labelKey := fs.String("label-index", "app", "label key indexed as "+labelIndex)
	expectObjects := fs.Int("expect-objects", 0, "objects of the initial list (handler adds to wait for)")
	expectEvents := fs.Int("expect-events", 0, "handler calls after the initial adds to wait for")
	latencyEvents := fs.Int("latency-events", 0, "wait for this many stamped updates (see "+LatencyAnnotation+")")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run here (go tool pprof)")
	fs.Parse(args)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	switch *watchList {
	case "on":
		os.Setenv("KUBE_FEATURE_WatchListClient", "true")
	case "off":
		os.Setenv("KUBE_FEATURE_WatchListClient", "false")
	}
	cfg, err := restConfig(*kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	runtime.GC()
	debug.FreeOSMemory()
	rss0 := rssBytes()

	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(*namespace))
	informer := factory.Core().V1().Pods().Informer()
	if *transform == "strip-managed-fields" {
		if err := informer.SetTransform(stripManagedFields); err != nil {
			return err
		}
	} else if *transform != "none" {
		return fmt.Errorf("unknown --transform %q", *transform)
	}
	key := *labelKey
	// The factory's informer already has the namespace index (cache.NamespaceIndex).
	if err := informer.AddIndexers(cache.Indexers{
		labelIndex: func(obj any) ([]string, error) {
			if v, ok := obj.(*corev1.Pod).Labels[key]; ok {
				return []string{v}, nil
			}
			return nil, nil
		},
		nodeIndex: func(obj any) ([]string, error) {
			return []string{obj.(*corev1.Pod).Spec.NodeName}, nil
		},
	}); err != nil {
		return err
	}

	want := int64(*expectObjects + *expectEvents)
	var calls, stamped atomic.Int64
	done := make(chan struct{})
	var doneOnce sync.Once
	lat := &latencyRecorder{max: 1 << 20}
	check := func() {
		if calls.Load() >= want && stamped.Load() >= int64(*latencyEvents) {
			doneOnce.Do(func() { close(done) })
		}
	}
	_, err = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			calls.Add(1)
			check()
		},
		UpdateFunc: func(oldObj, newObj any) {
			calls.Add(1)
			if *latencyEvents > 0 && lat.observe(oldObj, newObj) {
				stamped.Add(1)
			}
			check()
		},
		DeleteFunc: func(obj any) {
			calls.Add(1)
			check()
		},
	})
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	cpu0, t0 := cpuSeconds(), time.Now()
	factory.Start(ctx.Done())
	for !informer.HasSynced() {
		if ctx.Err() != nil {
			return fmt.Errorf("not synced after %v", *timeout)
		}
		time.Sleep(time.Millisecond)
	}
	syncSeconds, cpuSync := time.Since(t0).Seconds(), cpuSeconds()-cpu0
	synced := len(informer.GetStore().ListKeys())
	emit(map[string]any{"event": "synced", "side": "client-go", "time_to_sync_s": syncSeconds, "objects": synced})
	if want > 0 || *latencyEvents > 0 {
		check()
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("timed out after %v with %d of %d handler calls, %d of %d stamped updates",
				*timeout, calls.Load(), want, stamped.Load(), *latencyEvents)
		}
	}
	wall, cpu := time.Since(t0).Seconds(), cpuSeconds()-cpu0
	rssSteady := rssBytes()
	runtime.GC()
	debug.FreeOSMemory()
	rssSettled := rssBytes()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	objects := len(informer.GetStore().ListKeys())
	cancel()
	factory.Shutdown()

	name := "client-go"
	if *transform != "none" {
		name = "client-go+strip"
	}
	res := map[string]any{"event": "result", "side": name, "transform": *transform,
		"watchlist": *watchList, "objects": objects, "handler_calls": calls.Load(),
		"time_to_sync_s": syncSeconds, "sync_cpu_s": cpuSync, "wall_s": wall, "cpu_s": cpu,
		"rss_baseline_bytes": rss0, "rss_steady_bytes": rssSteady, "rss_settled_bytes": rssSettled,
		"heap_inuse_bytes": ms.HeapInuse, "go_version": runtime.Version()}
	if cpu > 0 {
		res["events_per_cpu_s"] = float64(calls.Load()) / cpu
	}
	if wall > 0 {
		res["events_per_s"] = float64(calls.Load()) / wall
	}
	if objects > 0 {
		res["rss_per_object_bytes"] = float64(rssSettled) / float64(objects)
		res["rss_steady_per_object_bytes"] = float64(rssSteady) / float64(objects)
	}
	if *latencyEvents > 0 {
		res["latency"] = percentiles(lat.snapshot())
	}
	emit(res)
	return nil
}
