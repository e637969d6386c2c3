// Package informer is the Go client of informerd (informer.v1). The recommended way to use it
// is through client-go's own machinery: a ListerWatcher backed by informerd's List and
// Subscribe, so cache.NewSharedIndexInformer, listers, workqueue, and everything built on them
// run unchanged with informerd as the source. What a client-go controller changes is one line,
// the ListerWatcher:
//
//	c, err := informer.Dial("127.0.0.1:50051") // or DialAddresses for several replicas
//	lw := informer.NewListerWatcher(c, "configmaps", informer.ListerWatcherOptions{Namespace: ns})
//	inf := cache.NewSharedIndexInformer(lw, &corev1.ConfigMap{}, 0, cache.Indexers{})
//	// ... handlers, listers.NewConfigMapLister(inf.GetIndexer()), workqueue: as before
//
// and a controller-runtime manager one cache option (package informerd.dev/clients/go/crcache):
//
//	cache.Options{NewInformer: crcache.NewInformer(c, scheme, informer.ListerWatcherOptions{})}
//
// It keeps its handlers, listers, work queue, reconcilers and its client-go or controller-runtime
// client (writes go to the API server as before). The reflector resumes a broken watch by
// resourceVersion and relists after 410 Expired (OUT_OF_RANGE), as with the API server; the
// relist is served by informerd's cache.
//
// The package's own informer (New, Informer, Store) stays for what client-go lacks: after a
// reconnect it resubscribes with known_objects (the resourceVersion of each object it holds),
// so informerd sends only the difference instead of a whole relist, and handlers see each change
// once, none repeated:
//
//	inf := informer.New(c, "configmaps", informer.Options{LabelSelector: "app=demo"})
//	inf.AddEventHandler(informer.ResourceEventHandlerFuncs{
//		AddFunc:    func(obj *informer.Object, _ bool) { queue.Add(obj.Key()) },
//		UpdateFunc: func(_, obj *informer.Object) { queue.Add(obj.Key()) },
//		DeleteFunc: func(obj any) { queue.Add(informer.DeletionHandlingKey(obj)) },
//	})
//	go inf.Run(ctx)
//	informer.WaitForCacheSync(ctx, inf.HasSynced)
//
// with client-go's workqueue as the queue (the package's RateLimitingQueue is deprecated).
// Objects of that informer are the API server's JSON; decode them into k8s.io/api types with
// Into or Decode, or read them as unstructured.Unstructured. Direct reads: Client.List, Get,
// ByIndex.
//
// Both the informer and the ListerWatcher's watches notice a silent server: a stream that
// receives nothing for two bookmark intervals (informer-bookmark-interval-ms, announced by the
// stream; 60 s when none was) is ended and resumed, on another replica with DialAddresses; Dial
// and DialAddresses set gRPC keepalive (Keepalive).
package informer
