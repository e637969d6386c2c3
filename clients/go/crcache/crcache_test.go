package crcache

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	"informerd.dev/clients/go/informer"
	informerv1 "informerd.dev/clients/go/informerv1"
)

// fake serves configmaps: one object, then SYNCED, to every fresh Subscribe, and counts them.
type fake struct {
	informerv1.UnimplementedInformerServiceServer
	subscribes chan *informerv1.SubscribeRequest
}

func (f *fake) ListResources(context.Context, *informerv1.ListResourcesRequest) (*informerv1.ListResourcesResponse, error) {
	return &informerv1.ListResourcesResponse{Resources: []*informerv1.ResourceStatus{{
		Version: "v1", Resource: "configmaps", Kind: "ConfigMap", Namespaced: true, Synced: true, Name: "configmaps.v1"}}}, nil
}

func (f *fake) Subscribe(req *informerv1.SubscribeRequest, stream informerv1.InformerService_SubscribeServer) error {
	f.subscribes <- req
	o := &informerv1.Object{Namespace: "ns", Name: "a", ResourceVersion: "5",
		Json: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"namespace":"ns","name":"a","resourceVersion":"5","labels":{"app":"demo"}},"data":{"k":"v"}}`}
	for _, e := range []*informerv1.SubscribeResponse{
		{Type: informerv1.EventType_EVENT_TYPE_ADDED, Object: o},
		{Type: informerv1.EventType_EVENT_TYPE_SYNCED, ResourceVersion: "10"},
	} {
		if err := stream.Send(e); err != nil {
			return err
		}
	}
	<-stream.Context().Done()
	return nil
}

func start(t *testing.T) (*fake, *informer.Client) {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	f := &fake{subscribes: make(chan *informerv1.SubscribeRequest, 16)}
	informerv1.RegisterInformerServiceServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return f, informer.NewClient(conn)
}

// TestNewInformerBuildsInformersOverInformerdForEachObjectKind checks the constructor
// controller-runtime calls, for the three kinds of objects its cache asks for: the API server's
// ListerWatcher it is handed is never used, the informer syncs from informerd and holds the
// object in the Go type the cache expects.
func TestNewInformerBuildsInformersOverInformerdForEachObjectKind(t *testing.T) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("ConfigMap")
	pom := &metav1.PartialObjectMetadata{}
	pom.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
	for _, objType := range []runtime.Object{&corev1.ConfigMap{}, u, pom} {
		f, c := start(t)
		newInformer := NewInformer(c, nil, informer.ListerWatcherOptions{Namespace: "ns", LabelSelector: "app=demo"})
		apiServer := &cache.ListWatch{
			ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) {
				t.Error("the API server's ListerWatcher was used")
				return nil, context.Canceled
			},
		}
		inf := newInformer(apiServer, objType, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		go inf.RunWithContext(ctx)
		if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			t.Fatalf("%T: not synced", objType)
		}
		if req := <-f.subscribes; req.GetResource() != "configmaps.v1" || req.GetNamespace() != "ns" || req.GetLabelSelector() != "app=demo" {
			t.Errorf("%T: Subscribe = %v", objType, req)
		}
		got, ok, err := inf.GetStore().GetByKey("ns/a")
		if !ok || err != nil {
			t.Fatalf("%T: ns/a not in the store (%v)", objType, err)
		}
		switch want := objType.(type) {
		case *corev1.ConfigMap:
			if cm, ok := got.(*corev1.ConfigMap); !ok || cm.Data["k"] != "v" {
				t.Errorf("typed: got %#v", got)
			}
		case *unstructured.Unstructured:
			if o, ok := got.(*unstructured.Unstructured); !ok || o.GetName() != "a" || o.GetKind() != want.GetKind() {
				t.Errorf("unstructured: got %#v", got)
			}
		case *metav1.PartialObjectMetadata:
			if o, ok := got.(*metav1.PartialObjectMetadata); !ok || o.Labels["app"] != "demo" || o.ResourceVersion != "5" {
				t.Errorf("metadata: got %#v", got)
			}
		}
		cancel()
	}
}
