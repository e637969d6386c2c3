// Package crcache makes a controller-runtime manager's cache read from informerd: one option,
// and the manager's informers, its client's reads (Get, List) and its controllers' watches are
// served from informerd's shared cache, while writes still go to the API server.
//
//	c, _ := informer.Dial("informerd:50051")
//	mgr, _ := ctrl.NewManager(cfg, ctrl.Options{
//		Cache: cache.Options{NewInformer: crcache.NewInformer(c, scheme, informer.ListerWatcherOptions{})},
//	})
//
// Everything else a controller-runtime controller has stays as it is: reconcilers, builders,
// predicates, the work queue, the client. Each informer is client-go's SharedIndexInformer over
// an informer.ListerWatcher of the kind it caches (looked up in informerd's ListResources, so
// informerd must cache that kind).
package crcache

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"informerd.dev/clients/go/informer"
)

// NewInformerFunc is the type of controller-runtime's cache.Options.NewInformer.
type NewInformerFunc = func(cache.ListerWatcher, runtime.Object, time.Duration, cache.Indexers) cache.SharedIndexInformer

// NewInformer returns a constructor for controller-runtime's cache.Options.NewInformer that
// ignores the API server's ListerWatcher it is handed and builds the informer over informerd
// (through c) instead. Typed objects decode through scheme (nil = client-go's scheme),
// *unstructured.Unstructured ones as unstructured, *metav1.PartialObjectMetadata ones as
// metadata.
//
// opts.Namespace and the selectors limit every informer: the manager's own cache restrictions
// (cache.Options.DefaultNamespaces, ByObject selectors) reach only the API server's
// ListerWatcher, which is not used; informerd's configuration limits what it caches. A kind
// informerd does not cache makes the informer's lists fail with NotFound (logged and retried by
// client-go's reflector), so the manager's WaitForCacheSync does not return.
func NewInformer(c *informer.Client, scheme *runtime.Scheme, opts informer.ListerWatcherOptions) NewInformerFunc {
	if scheme == nil {
		scheme = clientgoscheme.Scheme
	}
	opts.Scheme = scheme
	return func(_ cache.ListerWatcher, obj runtime.Object, resync time.Duration, indexers cache.Indexers) cache.SharedIndexInformer {
		o := opts
		gvk := obj.GetObjectKind().GroupVersionKind()
		switch obj.(type) {
		case runtime.Unstructured:
			o.Decoding = informer.Unstructured
		case *metav1.PartialObjectMetadata:
			o.Decoding = informer.Metadata
		default:
			var err error
			if gvk, err = apiutil.GVKForObject(obj, scheme); err != nil {
				panic(fmt.Sprintf("crcache: the kind of %T: %v", obj, err))
			}
			o.Decoding = informer.Typed
		}
		lw := informer.NewListerWatcherForKind(c, gvk, o)
		return cache.NewSharedIndexInformer(lw, obj, resync, indexers)
	}
}
