package main

// benchgo apiget: the anchor of informerd's Get and List measurements (issue 18 item 5) — the
// same reads a controller would otherwise make against the API server's own watch cache
// (resourceVersion=0), open loop at a fixed rate, with the API server's CPU per call when its
// process id is given and this client's CPU reported separately.

import (
	"context"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

func runAPIGet(args []string) error {
	fs := flag.NewFlagSet("apiget", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the API server")
	namespace := fs.String("namespace", "informerd-bench", "namespace of the Pods to read")
	mode := fs.String("mode", "get", "get (one Pod by name) | list (the namespace's Pods with one app label)")
	qps := fs.Float64("qps", 1000, "calls per second, open loop")
	duration := fs.Duration("duration", 20*time.Second, "how long to send")
	maxInFlight := fs.Int("max-in-flight", 2000, "calls outstanding at most (then calls are shed)")
	pid := fs.Int("pid", 0, "the API server's process id, for its CPU per call (0: not measured)")
	fs.Parse(args)
	if *mode != "get" && *mode != "list" {
		return fmt.Errorf("--mode %q: want get or list", *mode)
	}
	if *qps <= 0 {
		return fmt.Errorf("--qps %v: want a positive rate", *qps)
	}
	cfg, err := restConfig(*kubeconfig)
	if err != nil {
		return err
	}
	cfg.UserAgent = "informerd-bench/apiget"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	pods := client.CoreV1().Pods(*namespace)
	ctx := context.Background()
	// What to read: every Pod's name, and the app label values to select on.
	existing, err := pods.List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return err
	}
	if len(existing.Items) == 0 {
		return fmt.Errorf("no Pods in namespace %q: run benchgo populate first", *namespace)
	}
	var names, apps []string
	seenApp := map[string]bool{}
	for _, p := range existing.Items {
		names = append(names, p.Name)
		if app := p.Labels["app"]; app != "" && !seenApp[app] {
			seenApp[app] = true
			apps = append(apps, app)
		}
	}
	if *mode == "list" && len(apps) == 0 {
		return fmt.Errorf("no Pod in namespace %q has an app label", *namespace)
	}

	var mu sync.Mutex
	var latencies []time.Duration
	var failed, shed, objects int64
	slots := make(chan struct{}, *maxInFlight)
	var wg sync.WaitGroup
	rng := rand.New(rand.NewSource(1))
	apiCPU0 := 0.0
	if *pid > 0 {
		if apiCPU0, err = procCPUSeconds(*pid); err != nil {
			return err
		}
	}
	clientCPU0 := cpuSeconds()
	start := time.Now()
	total := int(*qps * duration.Seconds())
	for i := 0; i < total; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(float64(i) / *qps * float64(time.Second)))))
		select {
		case slots <- struct{}{}:
		default:
			shed++
			continue
		}
		name := names[rng.Intn(len(names))]
		app := ""
		if len(apps) > 0 {
			app = apps[rng.Intn(len(apps))]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			t0 := time.Now()
			n := 1
			var err error
			if *mode == "get" {
				_, err = pods.Get(ctx, name, metav1.GetOptions{ResourceVersion: "0"})
			} else {
				var l *corev1.PodList
				l, err = pods.List(ctx, metav1.ListOptions{ResourceVersion: "0", LabelSelector: "app=" + app})
				if err == nil {
					n = len(l.Items)
				}
			}
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				return
			}
			latencies = append(latencies, d)
			objects += int64(n)
		}()
	}
	sendSeconds := time.Since(start).Seconds()
	wg.Wait()
	out := map[string]any{
		"event": "result", "mode": *mode, "target_qps": *qps, "send_seconds": sendSeconds,
		"ok": len(latencies), "failed": failed, "shed": shed,
		"achieved_qps": float64(len(latencies)) / sendSeconds,
		"client_cpu_s": cpuSeconds() - clientCPU0, "latency": percentiles(latencies),
	}
	if len(latencies) > 0 {
		out["objects_per_call"] = float64(objects) / float64(len(latencies))
	}
	if *pid > 0 {
		apiCPU, err := procCPUSeconds(*pid)
		if err != nil {
			return err
		}
		out["server_cpu_s"] = apiCPU - apiCPU0
		if len(latencies) > 0 {
			out["server_cpu_us_per_call"] = (apiCPU - apiCPU0) / float64(len(latencies)) * 1e6
		}
	}
	emit(out)
	return nil
}
