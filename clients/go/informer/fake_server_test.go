package informer

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	informerv1 "informerd.dev/clients/go/informerv1"
)

// script plays one Subscribe call of the fake server: it sends events and returns the status
// that ends the call.
type script func(stream informerv1.InformerService_SubscribeServer) error

// fakeServer is an in-process InformerService whose Subscribe calls follow scripts the test
// hands it one by one, and which records every SubscribeRequest.
type fakeServer struct {
	informerv1.UnimplementedInformerServiceServer
	requests chan *informerv1.SubscribeRequest
	scripts  chan script
	list     func(*informerv1.ListRequest) (*informerv1.ListResponse, error)
	// resources answers ListResources; nil = core/v1 configmaps only.
	resources []*informerv1.ResourceStatus
}

func (f *fakeServer) ListResources(context.Context, *informerv1.ListResourcesRequest) (*informerv1.ListResourcesResponse, error) {
	if f.resources == nil {
		return &informerv1.ListResourcesResponse{Resources: []*informerv1.ResourceStatus{{
			Version: "v1", Resource: "configmaps", Kind: "ConfigMap", Namespaced: true, Synced: true, Name: "configmaps.v1"}}}, nil
	}
	return &informerv1.ListResourcesResponse{Resources: f.resources}, nil
}

func (f *fakeServer) Subscribe(req *informerv1.SubscribeRequest, stream informerv1.InformerService_SubscribeServer) error {
	f.requests <- req
	select {
	case s := <-f.scripts:
		return s(stream)
	case <-stream.Context().Done():
		return stream.Context().Err()
	}
}

func (f *fakeServer) List(_ context.Context, req *informerv1.ListRequest) (*informerv1.ListResponse, error) {
	return f.list(req)
}

// startFake serves a fakeServer over an in-memory connection and returns a Client of it.
func startFake(t *testing.T) (*fakeServer, *Client) {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	fake := &fakeServer{requests: make(chan *informerv1.SubscribeRequest, 16), scripts: make(chan script, 16)}
	informerv1.RegisterInformerServiceServer(srv, fake)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return fake, NewClient(conn)
}

// nextRequest waits for the informer's next SubscribeRequest.
func (f *fakeServer) nextRequest(t *testing.T) *informerv1.SubscribeRequest {
	t.Helper()
	select {
	case r := <-f.requests:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no Subscribe call")
		return nil
	}
}

func obj(ns, name, rv string) *informerv1.Object {
	return &informerv1.Object{
		Namespace: ns, Name: name, ResourceVersion: rv, Uid: "uid-" + name,
		Json: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"namespace":"` + ns + `","name":"` + name +
			`","resourceVersion":"` + rv + `"},"data":{"k":"` + rv + `"}}`,
	}
}

func ev(t informerv1.EventType, o *informerv1.Object, rv string) *informerv1.SubscribeResponse {
	return &informerv1.SubscribeResponse{Type: t, Object: o, ResourceVersion: rv}
}

const (
	added    = informerv1.EventType_EVENT_TYPE_ADDED
	modified = informerv1.EventType_EVENT_TYPE_MODIFIED
	deleted  = informerv1.EventType_EVENT_TYPE_DELETED
	bookmark = informerv1.EventType_EVENT_TYPE_BOOKMARK
	synced   = informerv1.EventType_EVENT_TYPE_SYNCED
)

// send returns a script sending events then ending with err (nil = wait for the client to go).
func send(err error, events ...*informerv1.SubscribeResponse) script {
	return func(stream informerv1.InformerService_SubscribeServer) error {
		for _, e := range events {
			if serr := stream.Send(e); serr != nil {
				return serr
			}
		}
		if err != nil {
			return err
		}
		<-stream.Context().Done()
		return stream.Context().Err()
	}
}
