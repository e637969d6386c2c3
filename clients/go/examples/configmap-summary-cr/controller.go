package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"informerd.dev/clients/go/crcache"
	"informerd.dev/clients/go/informer"
)

// SummaryAnnotation is the annotation the controller writes.
const SummaryAnnotation = "informerd.dev/summary"

// Config is what the controller needs.
type Config struct {
	Informerd  string // one address, or several comma-separated (replicas)
	Kubeconfig string
	Namespace  string
	Selector   string
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

// Reconciler writes each ConfigMap's summary when its annotation differs. It reads through the
// manager's client (served from informerd's cache) and writes through it (to the API server).
type Reconciler struct {
	client.Client
}

// Reconcile brings one ConfigMap's annotation up to date.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var cm corev1.ConfigMap
	if err := r.Get(ctx, req.NamespacedName, &cm); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	want := Summary(&cm)
	if cm.Annotations[SummaryAnnotation] == want {
		return ctrl.Result{}, nil
	}
	// A merge patch carrying the resourceVersion: written only over the state summarised.
	patch := client.MergeFromWithOptions(cm.DeepCopy(), client.MergeFromWithOptimisticLock{})
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[SummaryAnnotation] = want
	return ctrl.Result{}, r.Patch(ctx, &cm, patch)
}

// run starts a manager whose cache reads from informerd and the reconciler, until ctx is done.
func run(ctx context.Context, cfg Config) error {
	restCfg, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	c, err := informer.DialAddresses(strings.Split(cfg.Informerd, ","))
	if err != nil {
		return err
	}
	defer c.Close()
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: cache.Options{
			// The one line: the manager's informers read from informerd.
			NewInformer: crcache.NewInformer(c, scheme, informer.ListerWatcherOptions{Namespace: cfg.Namespace, LabelSelector: cfg.Selector}),
		},
	})
	if err != nil {
		return err
	}
	if err := ctrl.NewControllerManagedBy(mgr).For(&corev1.ConfigMap{}).Named("configmap-summary").
		Complete(&Reconciler{Client: mgr.GetClient()}); err != nil {
		return err
	}
	return mgr.Start(ctx)
}
