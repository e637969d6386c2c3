// Package informer is the Go client of informerd: a client-side informer over the shared cache
// that informerd serves (informer.v1), direct List/Get/ByIndex reads, and a rate-limited work
// queue, shaped like client-go's tools/cache and util/workqueue so a controller reads as usual:
//
//	c, err := informer.Dial("127.0.0.1:50051")
//	inf := informer.New(c, "configmaps", informer.Options{LabelSelector: "app=demo"})
//	inf.AddEventHandler(informer.ResourceEventHandlerFuncs{
//		AddFunc:    func(obj *informer.Object, _ bool) { queue.Add(obj.Key()) },
//		UpdateFunc: func(_, obj *informer.Object) { queue.Add(obj.Key()) },
//		DeleteFunc: func(obj any) { queue.Add(informer.DeletionHandlingKey(obj)) },
//	})
//	go inf.Run(ctx)
//	informer.WaitForCacheSync(ctx, inf.HasSynced)
//
// Objects are the API server's JSON; decode them into k8s.io/api types with Into or Decode, or
// read them as unstructured.Unstructured.
package informer
