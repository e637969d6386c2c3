package informer

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"

	informerv1 "informerd.dev/clients/go/informerv1"
)

// recorder is a handler writing each call as one line, e.g. "add ns/a 5 initial".
type recorder struct {
	mu    sync.Mutex
	calls []string
	inf   *Informer
	// syncedAtAdd records HasSynced as seen from inside OnAdd.
	syncedAtAdd []bool
}

func (r *recorder) OnAdd(o *Object, initial bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf("add %s %s %v", o.Key(), o.ResourceVersion, initial))
	if r.inf != nil {
		r.syncedAtAdd = append(r.syncedAtAdd, r.inf.HasSynced())
	}
}

func (r *recorder) OnUpdate(old, o *Object) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf("update %s %s->%s", o.Key(), old.ResourceVersion, o.ResourceVersion))
}

func (r *recorder) OnDelete(obj any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch o := obj.(type) {
	case DeletedFinalStateUnknown:
		r.calls = append(r.calls, fmt.Sprintf("delete-unknown %s %s", o.Key, o.Obj.ResourceVersion))
	case *Object:
		r.calls = append(r.calls, fmt.Sprintf("delete %s %s", o.Key(), o.ResourceVersion))
	}
}

// waitCalls waits until n calls were recorded and returns them.
func (r *recorder) waitCalls(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		got := append([]string(nil), r.calls...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d handler calls, got %d: %q", n, len(got), got)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func equalCalls(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("handler calls:\n got %q\nwant %q", got, want)
	}
}

// run starts an informer with fast backoff and stops it at the end of the test.
func run(t *testing.T, c *Client, h *recorder) *Informer {
	t.Helper()
	inf := New(c, "configmaps", Options{Namespace: "ns", InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, OnError: func(error) {}})
	if h != nil {
		h.inf = inf
		inf.AddEventHandler(h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { inf.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return inf
}

func TestI2_FreshSubscriptionSyncsThenFollowsLiveEvents(t *testing.T) {
	fake, c := startFake(t)
	h := &recorder{}
	inf := run(t, c, h)
	req := fake.nextRequest(t)
	if req.GetResourceVersion() != "" || len(req.GetKnownObjects()) != 0 || req.GetNamespace() != "ns" || req.GetResource() != "configmaps" {
		t.Fatalf("first request is not a fresh start: %v", req)
	}
	fake.scripts <- send(nil,
		ev(added, obj("ns", "a", "5"), ""), ev(added, obj("ns", "b", "6"), ""), ev(synced, nil, "10"),
		ev(modified, obj("ns", "a", "11"), "11"), ev(deleted, obj("ns", "b", "12"), "12"),
		ev(added, obj("ns", "c", "13"), "13"), ev(bookmark, nil, "20"))
	equalCalls(t, h.waitCalls(t, 5), []string{
		"add ns/a 5 true", "add ns/b 6 true", "update ns/a 5->11", "delete ns/b 12", "add ns/c 13 false"})
	if h.syncedAtAdd[0] || h.syncedAtAdd[1] || !h.syncedAtAdd[2] {
		t.Errorf("HasSynced seen by OnAdd = %v, want false until SYNCED", h.syncedAtAdd)
	}
	if got := inf.Store().ListKeys(); strings.Join(got, ",") != "ns/a,ns/c" {
		t.Errorf("store keys = %v", got)
	}
	if o, ok := inf.Store().Get("ns", "a"); !ok || o.ResourceVersion != "11" {
		t.Errorf("store ns/a = %v", o)
	}
}

func TestR8_ReconnectResubscribesWithKnownObjectsAndDeliversOnlyTheDifference(t *testing.T) {
	fake, c := startFake(t)
	h := &recorder{}
	inf := run(t, c, h)
	fake.nextRequest(t)
	fake.scripts <- send(status.Error(codes.Unavailable, "server restarting"),
		ev(added, obj("ns", "a", "5"), ""), ev(added, obj("ns", "b", "6"), ""), ev(added, obj("ns", "d", "7"), ""),
		ev(synced, nil, "10"), ev(modified, obj("ns", "a", "11"), "11"))
	req := fake.nextRequest(t)
	want := map[string]string{"ns/a": "11", "ns/b": "6", "ns/d": "7"}
	if req.GetResourceVersion() != "" || fmt.Sprint(req.GetKnownObjects()) != fmt.Sprint(want) {
		t.Fatalf("resubscription = rv %q known %v, want known %v", req.GetResourceVersion(), req.GetKnownObjects(), want)
	}
	gone := &informerv1.SubscribeResponse{Type: deleted, Object: &informerv1.Object{Namespace: "ns", Name: "a", ResourceVersion: "11"}, FinalStateUnknown: true}
	fake.scripts <- send(nil,
		ev(modified, obj("ns", "b", "13"), ""), gone, ev(added, obj("ns", "c", "14"), ""), ev(synced, nil, "15"),
		ev(added, obj("ns", "e", "16"), "16"))
	equalCalls(t, h.waitCalls(t, 8), []string{
		"add ns/a 5 true", "add ns/b 6 true", "add ns/d 7 true", "update ns/a 5->11",
		"update ns/b 6->13", "delete-unknown ns/a 11", "add ns/c 14 false", "add ns/e 16 false"})
	if s := inf.Stats(); s.FreshStarts != 1 || s.KnownObjectsStarts != 1 || s.ResourceVersionStarts != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestR8_ResourceExhaustedResumesFromTheTrailerResourceVersion(t *testing.T) {
	fake, c := startFake(t)
	h := &recorder{}
	run(t, c, h)
	fake.nextRequest(t)
	fake.scripts <- func(stream informerv1.InformerService_SubscribeServer) error {
		for _, e := range []*informerv1.SubscribeResponse{ev(added, obj("ns", "a", "5"), ""), ev(synced, nil, "10"), ev(modified, obj("ns", "a", "11"), "11")} {
			stream.Send(e)
		}
		// The server's word on its position wins over the last event's.
		stream.SetTrailer(metadata.Pairs(resumeTrailer, "12"))
		return status.Error(codes.ResourceExhausted, "too slow; resume from 12")
	}
	req := fake.nextRequest(t)
	if req.GetResourceVersion() != "12" || len(req.GetKnownObjects()) != 0 {
		t.Fatalf("resubscription = rv %q known %v, want rv 12", req.GetResourceVersion(), req.GetKnownObjects())
	}
	// The resumed stream, then OUT_OF_RANGE: the next start uses known_objects.
	fake.scripts <- send(status.Error(codes.OutOfRange, "too old"), ev(modified, obj("ns", "a", "12"), "12"))
	req = fake.nextRequest(t)
	if req.GetResourceVersion() != "" || req.GetKnownObjects()["ns/a"] != "12" {
		t.Fatalf("after OUT_OF_RANGE: rv %q known %v, want known ns/a=12", req.GetResourceVersion(), req.GetKnownObjects())
	}
	fake.scripts <- send(nil, ev(synced, nil, "12"))
	equalCalls(t, h.waitCalls(t, 3), []string{"add ns/a 5 true", "update ns/a 5->11", "update ns/a 11->12"})
}

func TestR8_ResourceExhaustedBeforeSyncedStartsFromKnownObjects(t *testing.T) {
	fake, c := startFake(t)
	run(t, c, &recorder{})
	fake.nextRequest(t)
	fake.scripts <- func(stream informerv1.InformerService_SubscribeServer) error {
		stream.Send(ev(added, obj("ns", "a", "5"), ""))
		stream.SetTrailer(metadata.Pairs(resumeTrailer, "3"))
		return status.Error(codes.ResourceExhausted, "too slow")
	}
	req := fake.nextRequest(t)
	if req.GetResourceVersion() != "" || req.GetKnownObjects()["ns/a"] != "5" {
		t.Fatalf("rv %q known %v: no position is complete before SYNCED", req.GetResourceVersion(), req.GetKnownObjects())
	}
}

func TestR8_StatesTheStoreAlreadyHoldsAreNotRepeated(t *testing.T) {
	fake, c := startFake(t)
	h := &recorder{}
	run(t, c, h)
	fake.nextRequest(t)
	fake.scripts <- send(status.Error(codes.Unavailable, "gone"), ev(added, obj("ns", "a", "5"), ""), ev(synced, nil, "10"))
	fake.nextRequest(t)
	// A server resuming from an older cut may resend a state, an older one, or a deletion of
	// what the client never had.
	fake.scripts <- send(nil, ev(added, obj("ns", "a", "5"), ""), ev(modified, obj("ns", "a", "4"), ""),
		ev(deleted, obj("ns", "zz", "9"), ""), ev(synced, nil, "10"), ev(modified, obj("ns", "a", "12"), "12"))
	equalCalls(t, h.waitCalls(t, 2), []string{"add ns/a 5 true", "update ns/a 5->12"})
}

func TestI3_HandlerAddedAfterSyncGetsTheStoreFirst(t *testing.T) {
	fake, c := startFake(t)
	inf := run(t, c, nil)
	fake.nextRequest(t)
	release := make(chan struct{})
	fake.scripts <- func(stream informerv1.InformerService_SubscribeServer) error {
		for _, e := range []*informerv1.SubscribeResponse{ev(added, obj("ns", "a", "5"), ""), ev(added, obj("ns", "b", "6"), ""), ev(synced, nil, "10")} {
			stream.Send(e)
		}
		<-release
		stream.Send(ev(modified, obj("ns", "b", "11"), "11"))
		<-stream.Context().Done()
		return nil
	}
	if !WaitForCacheSync(context.Background(), inf.HasSynced) {
		t.Fatal("not synced")
	}
	h := &recorder{}
	reg := inf.AddEventHandler(h)
	close(release)
	equalCalls(t, h.waitCalls(t, 3), []string{"add ns/a 5 true", "add ns/b 6 true", "update ns/b 6->11"})
	if !reg.HasSynced() {
		t.Error("registration not synced")
	}
}

func TestI6_RemovedHandlerGetsNoMoreCalls(t *testing.T) {
	fake, c := startFake(t)
	h1, h2 := &recorder{}, &recorder{}
	inf := run(t, c, h1)
	reg2 := inf.AddEventHandler(h2)
	fake.nextRequest(t)
	step := make(chan struct{})
	fake.scripts <- func(stream informerv1.InformerService_SubscribeServer) error {
		stream.Send(ev(added, obj("ns", "a", "5"), ""))
		stream.Send(ev(synced, nil, "5"))
		<-step
		stream.Send(ev(modified, obj("ns", "a", "6"), "6"))
		<-stream.Context().Done()
		return nil
	}
	h2.waitCalls(t, 1)
	inf.RemoveEventHandler(reg2)
	close(step)
	h1.waitCalls(t, 2)
	equalCalls(t, h2.waitCalls(t, 1), []string{"add ns/a 5 true"})
}

func TestR5_FailuresBackOffExponentially(t *testing.T) {
	fake, c := startFake(t)
	inf := New(c, "configmaps", Options{InitialBackoff: 8 * time.Millisecond, MaxBackoff: 32 * time.Millisecond, OnError: func(error) {}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go inf.Run(ctx)
	var at []time.Time
	for i := 0; i < 5; i++ {
		fake.nextRequest(t)
		at = append(at, time.Now())
		fake.scripts <- send(status.Error(codes.Unavailable, "not synced"))
	}
	// Waits are 8, 16, 32, 32 ms +-20% jitter (plus scheduling): never a spin, capped.
	for i, min := range []time.Duration{6, 12, 25, 25} {
		if gap := at[i+1].Sub(at[i]); gap < min*time.Millisecond {
			t.Errorf("wait %d = %v, want >= %v ms", i, gap, min)
		}
	}
	if gap := at[4].Sub(at[3]); gap > 500*time.Millisecond {
		t.Errorf("wait past the cap: %v", gap)
	}
}

func TestListFetchesEveryPageAndRestartsAnExpiredSnapshot(t *testing.T) {
	fake, c := startFake(t)
	calls := 0
	fake.list = func(req *informerv1.ListRequest) (*informerv1.ListResponse, error) {
		calls++
		switch {
		case calls == 2:
			return nil, status.Error(codes.Aborted, "snapshot expired")
		case req.GetPageToken() == "":
			return &informerv1.ListResponse{Objects: []*informerv1.Object{obj("ns", "a", "1")}, NextPageToken: "p2", ResourceVersion: "9"}, nil
		default:
			return &informerv1.ListResponse{Objects: []*informerv1.Object{obj("ns", "b", "2")}, ResourceVersion: "9"}, nil
		}
	}
	objs, rv, err := c.List(context.Background(), "configmaps", ListOptions{Limit: 1})
	if err != nil || rv != "9" || len(objs) != 2 || objs[0].Key() != "ns/a" || objs[1].Key() != "ns/b" {
		t.Fatalf("List = %v %q %v", objs, rv, err)
	}
	if calls != 4 {
		t.Errorf("List calls = %d, want 4 (page 1, aborted page 2, page 1, page 2)", calls)
	}
	fake.list = func(*informerv1.ListRequest) (*informerv1.ListResponse, error) {
		return nil, status.Error(codes.InvalidArgument, "bad selector")
	}
	if _, _, err := c.List(context.Background(), "pods", ListOptions{LabelSelector: "a in (b"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("List with a bad selector: %v, want InvalidArgument", err)
	}
}

func TestObjectsDecodeIntoAPITypesAndUnstructured(t *testing.T) {
	o := FromProto(obj("ns", "a", "5"))
	cm, err := Decode[corev1.ConfigMap](o)
	if err != nil || cm.Name != "a" || cm.Namespace != "ns" || cm.Data["k"] != "5" || cm.Kind != "ConfigMap" {
		t.Fatalf("Decode = %+v, %v", cm, err)
	}
	u, err := o.Unstructured()
	if err != nil || u.GetResourceVersion() != "5" || u.GetKind() != "ConfigMap" {
		t.Fatalf("Unstructured = %v, %v", u, err)
	}
	if u2, _ := o.Unstructured(); u2 != u {
		t.Error("Unstructured decoded twice")
	}
	bad := &Object{Name: "x", JSON: []byte("{")}
	if _, err := bad.Unstructured(); err == nil {
		t.Error("bad JSON decoded")
	}
	if DeletionHandlingKey(DeletedFinalStateUnknown{Key: "ns/x", Obj: o}) != "ns/x" || ObjectOf(DeletedFinalStateUnknown{Obj: o}) != o {
		t.Error("tombstone helpers")
	}
}
