package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/workqueue"

	"informerd.dev/clients/go/informer"
)

// SummaryAnnotation is the annotation the controller writes.
const SummaryAnnotation = "informerd.dev/summary"

// Config is what the controller needs.
type Config struct {
	Informerd  string
	Kubeconfig string
	Namespace  string
	Selector   string
	// With TLS and --auth (deploy/): informerd's CA and a ServiceAccount token file of
	// audience informerd, re-read as the kubelet rotates it. Empty CAFile = plaintext.
	CAFile    string
	TokenFile string
}

// Summary is the annotation value for a ConfigMap: its data and binaryData keys, sorted,
// e.g. "2 keys: a,b" ("0 keys" when empty).
func Summary(cm *corev1.ConfigMap) string {
	var keys []string
	for k := range cm.Data {
		keys = append(keys, k)
	}
	for k := range cm.BinaryData {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return "0 keys"
	}
	return fmt.Sprintf("%d keys: %s", len(keys), strings.Join(keys, ","))
}

// run follows the ConfigMaps until ctx is done: informer -> work queue of keys -> workers.
func run(ctx context.Context, cfg Config) error {
	restCfg, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	var opts []grpc.DialOption
	if cfg.CAFile != "" {
		if opts, err = informer.SecureOptions(cfg.CAFile, cfg.TokenFile, "", ""); err != nil {
			return err
		}
	}
	c, err := informer.Dial(cfg.Informerd, opts...)
	if err != nil {
		return err
	}
	defer c.Close()

	inf := informer.New(c, "configmaps", informer.Options{Namespace: cfg.Namespace, LabelSelector: cfg.Selector})
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	inf.AddEventHandler(informer.ResourceEventHandlerFuncs{
		AddFunc:    func(obj *informer.Object, _ bool) { queue.Add(obj.Key()) },
		UpdateFunc: func(_, obj *informer.Object) { queue.Add(obj.Key()) },
	})
	go inf.Run(ctx)
	if !informer.WaitForCacheSync(ctx, inf.HasSynced) {
		return ctx.Err()
	}
	log.Printf("configmap-summary: synced %d ConfigMaps", inf.Store().Len())

	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for processNext(ctx, inf, kube, queue) {
			}
		}()
	}
	<-ctx.Done()
	queue.ShutDown()
	wg.Wait()
	return nil
}

// processNext reconciles one key; false once the queue is shut down.
func processNext(ctx context.Context, inf *informer.Informer, kube kubernetes.Interface, queue workqueue.TypedRateLimitingInterface[string]) bool {
	key, shutdown := queue.Get()
	if shutdown {
		return false
	}
	defer queue.Done(key)
	if err := reconcile(ctx, inf, kube, key); err != nil {
		log.Printf("configmap-summary: %s: %v (retrying)", key, err)
		queue.AddRateLimited(key)
		return true
	}
	queue.Forget(key)
	return true
}

// reconcile writes the summary of the ConfigMap at key when its annotation differs.
func reconcile(ctx context.Context, inf *informer.Informer, kube kubernetes.Interface, key string) error {
	obj, ok := inf.Store().GetByKey(key)
	if !ok {
		return nil // deleted: nothing to write
	}
	cm, err := informer.Decode[corev1.ConfigMap](obj)
	if err != nil {
		return err
	}
	want := Summary(cm)
	if cm.Annotations[SummaryAnnotation] == want {
		return nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"annotations":     map[string]string{SummaryAnnotation: want},
		"resourceVersion": cm.ResourceVersion, // only over the state we summarised
	}})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = kube.CoreV1().ConfigMaps(cm.Namespace).Patch(ctx, cm.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}
