package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"informerd.local/bench/internal/podgen"
)

// forCreate turns a generated Pod into one a client may create: no server-set metadata, no
// owner (no ReplicaSet exists, and the garbage collector would delete the orphan).
func forCreate(p *corev1.Pod, namespace string, keepNode bool) *corev1.Pod {
	out := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: namespace,
		Labels: p.Labels, Annotations: p.Annotations}, Spec: p.Spec}
	out.Spec.ServiceAccountName, out.Spec.DeprecatedServiceAccount = "default", ""
	if !keepNode {
		out.Spec.NodeName = ""
	}
	return out
}

func ensureNamespace(ctx context.Context, c kubernetes.Interface, ns string) error {
	_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	// Without a controller manager nobody creates the default ServiceAccount, and the
	// ServiceAccount admission plugin rejects pods without it.
	_, err = c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// forEach runs fn(i) for i in [0,n) on `workers` goroutines; the first error stops it.
func forEach(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

func runPopulate(args []string) error {
	fs := flag.NewFlagSet("populate", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the API server")
	namespace := fs.String("namespace", "informerd-bench", "namespace to fill")
	count := fs.Int("count", 20000, "Pods to have in the namespace")
	seed := fs.Uint64("seed", 2, "generator seed")
	workers := fs.Int("workers", 16, "concurrent requests")
	status := fs.Bool("status", true, "also write each Pod's status, as a kubelet would")
	keepNode := fs.Bool("node-name", true, "keep spec.nodeName (the Pods look scheduled)")
	timeout := fs.Duration("timeout", 20*time.Minute, "give up after this long")
	fs.Parse(args)
	cfg, err := restConfig(*kubeconfig)
	if err != nil {
		return err
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := ensureNamespace(ctx, c, *namespace); err != nil {
		return err
	}
	existing, err := c.CoreV1().Pods(*namespace).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, p := range existing.Items {
		have[p.Name] = true
	}
	start := time.Now()
	var created atomic.Int64
	err = forEach(ctx, *count, *workers, func(ctx context.Context, i int) error {
		gen := podgen.Pod(*seed, i, 0, podgen.Shape{})
		if have[gen.Name] {
			return nil
		}
		p, err := c.CoreV1().Pods(*namespace).Create(ctx, forCreate(gen, *namespace, *keepNode), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("create pod %d: %w", i, err)
		}
		if *status {
			p.Status = gen.Status
			if _, err := c.CoreV1().Pods(*namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("status of pod %d: %w", i, err)
			}
		}
		if n := created.Add(1); n%2000 == 0 {
			logf("populate: %d pods created", n)
		}
		return nil
	})
	if err != nil {
		return err
	}
	emit(map[string]any{"event": "populated", "namespace": *namespace, "count": *count,
		"created": created.Load(), "seconds": time.Since(start).Seconds()})
	return nil
}

func runWrite(args []string) error {
	fs := flag.NewFlagSet("write", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the API server")
	namespace := fs.String("namespace", "informerd-bench", "namespace whose Pods to patch")
	count := fs.Int("count", 1000, "writes to make")
	rate := fs.Float64("rate", 100, "writes per second")
	workers := fs.Int("workers", 32, "concurrent writes at most")
	targets := fs.Int("targets", 0, "patch only the first N Pods (0 = all)")
	fs.Parse(args)
	cfg, err := restConfig(*kubeconfig)
	if err != nil {
		return err
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	budget := time.Duration(float64(*count)/(*rate)*float64(time.Second)) + 2*time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	list, err := c.CoreV1().Pods(*namespace).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return err
	}
	names := make([]string, 0, len(list.Items))
	for _, p := range list.Items {
		names = append(names, p.Name)
	}
	if len(names) == 0 {
		return fmt.Errorf("no pods in namespace %s", *namespace)
	}
	if *targets > 0 && *targets < len(names) {
		names = names[:*targets]
	}
	jobs := make(chan int, *workers)
	var mu sync.Mutex
	var lat []time.Duration
	var failed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				t := time.Now()
				patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"%d"}}}`, LatencyAnnotation, t.UnixNano())
				_, err := c.CoreV1().Pods(*namespace).Patch(ctx, names[i%len(names)], types.MergePatchType, []byte(patch), metav1.PatchOptions{})
				if err != nil {
					failed.Add(1)
					continue
				}
				mu.Lock()
				lat = append(lat, time.Since(t))
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / *rate)
	for i := 0; i < *count && ctx.Err() == nil; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	emit(map[string]any{"event": "written", "count": *count, "failed": failed.Load(),
		"seconds": elapsed, "achieved_rate": float64(*count) / elapsed, "write_latency": percentiles(lat)})
	return nil
}
