package informer

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	informerv1 "informerd.dev/clients/go/informerv1"
)

// nextEvent reads the watch's next event.
func nextEvent(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case e, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch ended")
		}
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event")
		return watch.Event{}
	}
}

// describe is "TYPE name rv" for an event, with the annotation of an initial-events-end bookmark.
func describe(t *testing.T, e watch.Event) string {
	t.Helper()
	if e.Type == watch.Error {
		return fmt.Sprintf("ERROR %v", apierrors.FromObject(e.Object))
	}
	m, err := meta.Accessor(e.Object)
	if err != nil {
		t.Fatalf("event object %T: %v", e.Object, err)
	}
	s := fmt.Sprintf("%s %s %s", e.Type, m.GetName(), m.GetResourceVersion())
	if m.GetAnnotations()[metav1.InitialEventsAnnotationKey] == "true" {
		s += " initial-events-end"
	}
	return s
}

func watchEvents(t *testing.T, w watch.Interface, n int) []string {
	t.Helper()
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, describe(t, nextEvent(t, w)))
	}
	return out
}

func TestLW1_ListPagesMapLimitAndContinueToPageSizeAndToken(t *testing.T) {
	fake, c := startFake(t)
	var reqs []*informerv1.ListRequest
	fake.list = func(r *informerv1.ListRequest) (*informerv1.ListResponse, error) {
		reqs = append(reqs, r)
		if r.GetPageToken() == "" {
			return &informerv1.ListResponse{Objects: []*informerv1.Object{obj("ns", "a", "5")}, ResourceVersion: "10", NextPageToken: "t1", TotalCount: 2}, nil
		}
		return &informerv1.ListResponse{Objects: []*informerv1.Object{obj("ns", "b", "6")}, ResourceVersion: "10"}, nil
	}
	lw := NewListerWatcher(c, "configmaps", ListerWatcherOptions{Namespace: "ns", LabelSelector: "app=demo"})
	got, err := lw.ListWithContext(context.Background(), metav1.ListOptions{Limit: 1, LabelSelector: "tier=web", ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	l, ok := got.(*corev1.ConfigMapList)
	if !ok {
		t.Fatalf("list is %T, want *corev1.ConfigMapList", got)
	}
	if len(l.Items) != 1 || l.Items[0].Name != "a" || l.Items[0].Data["k"] != "5" || l.ResourceVersion != "10" || l.Continue != "t1" {
		t.Fatalf("first page = %+v", l)
	}
	got, err = lw.ListWithContext(context.Background(), metav1.ListOptions{Limit: 1, Continue: l.Continue})
	if err != nil {
		t.Fatal(err)
	}
	if l := got.(*corev1.ConfigMapList); len(l.Items) != 1 || l.Items[0].Name != "b" || l.Continue != "" {
		t.Fatalf("second page = %+v", l)
	}
	r := reqs[0]
	if r.GetResource() != "configmaps.v1" || r.GetNamespace() != "ns" || r.GetLabelSelector() != "app=demo,tier=web" || r.GetLimit() != 1 || reqs[1].GetPageToken() != "t1" {
		t.Fatalf("List requests = %v", reqs)
	}
}

func TestLW1b_AnUnpagedListReturnsEveryPage(t *testing.T) {
	fake, c := startFake(t)
	fake.list = func(r *informerv1.ListRequest) (*informerv1.ListResponse, error) {
		if r.GetPageToken() == "" {
			return &informerv1.ListResponse{Objects: []*informerv1.Object{obj("ns", "a", "5")}, ResourceVersion: "10", NextPageToken: "t1", TotalCount: 2}, nil
		}
		return &informerv1.ListResponse{Objects: []*informerv1.Object{obj("ns", "b", "6")}, ResourceVersion: "10"}, nil
	}
	got, err := NewListerWatcher(c, "configmaps", ListerWatcherOptions{}).ListWithContext(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l := got.(*corev1.ConfigMapList); len(l.Items) != 2 || l.Items[1].Name != "b" || l.Continue != "" || l.ResourceVersion != "10" {
		t.Fatalf("unpaged list = %+v, want a and b, no Continue", l)
	}
}

func TestLW2_ExpiredPageTokenIsTheAPIServers410(t *testing.T) {
	fake, c := startFake(t)
	fake.list = func(*informerv1.ListRequest) (*informerv1.ListResponse, error) {
		return nil, status.Error(codes.Aborted, "page token expired")
	}
	_, err := NewListerWatcher(c, "configmaps", ListerWatcherOptions{}).ListWithContext(context.Background(), metav1.ListOptions{Continue: "old"})
	if !apierrors.IsResourceExpired(err) {
		t.Fatalf("err = %v, want 410 Expired", err)
	}
}

func TestLW3_WatchResumesAtResourceVersionAndTranslatesEvents(t *testing.T) {
	fake, c := startFake(t)
	lw := NewListerWatcher(c, "configmaps", ListerWatcherOptions{})
	w, err := lw.WatchWithContext(context.Background(), metav1.ListOptions{ResourceVersion: "10", AllowWatchBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if req := fake.nextRequest(t); req.GetResourceVersion() != "10" || len(req.GetKnownObjects()) != 0 {
		t.Fatalf("Subscribe = %v, want resource_version 10", req)
	}
	fake.scripts <- send(nil, ev(added, obj("ns", "a", "11"), "11"), ev(modified, obj("ns", "a", "12"), "12"),
		ev(deleted, obj("ns", "a", "13"), "13"), ev(bookmark, nil, "20"))
	e := nextEvent(t, w)
	if cm, ok := e.Object.(*corev1.ConfigMap); !ok || cm.Data["k"] != "11" {
		t.Fatalf("event object = %#v, want a typed *corev1.ConfigMap", e.Object)
	}
	equalCalls(t, append([]string{describe(t, e)}, watchEvents(t, w, 3)...),
		[]string{"ADDED a 11", "MODIFIED a 12", "DELETED a 13", "BOOKMARK  20"})
}

func TestLW4_OutOfRangeEndsTheWatchWith410Expired(t *testing.T) {
	for _, code := range []codes.Code{codes.OutOfRange, codes.Aborted} {
		fake, c := startFake(t)
		w, err := NewListerWatcher(c, "configmaps", ListerWatcherOptions{}).WatchWithContext(context.Background(), metav1.ListOptions{ResourceVersion: "3"})
		if err != nil {
			t.Fatal(err)
		}
		fake.nextRequest(t)
		fake.scripts <- send(status.Error(code, "too old, resubscribe"))
		e := nextEvent(t, w)
		if e.Type != watch.Error || !apierrors.IsResourceExpired(apierrors.FromObject(e.Object)) {
			t.Fatalf("%v: event = %s, want ERROR 410 Expired", code, describe(t, e))
		}
		if _, ok := <-w.ResultChan(); ok {
			t.Fatalf("%v: watch goes on after the error", code)
		}
	}
}

func TestLW5_StreamingListIsAFreshSubscribeWhoseSyncedEndsTheInitialEvents(t *testing.T) {
	fake, c := startFake(t)
	w, err := NewListerWatcher(c, "configmaps", ListerWatcherOptions{}).WatchWithContext(context.Background(), metav1.ListOptions{
		ResourceVersion: "7", SendInitialEvents: ptr.To(true), ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan, AllowWatchBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if req := fake.nextRequest(t); req.GetResourceVersion() != "" || len(req.GetKnownObjects()) != 0 {
		t.Fatalf("Subscribe = %v, want a fresh start", req)
	}
	fake.scripts <- send(nil, ev(added, obj("ns", "a", "5"), ""), ev(added, obj("ns", "b", "6"), ""), ev(synced, nil, "10"),
		ev(modified, obj("ns", "a", "11"), "11"))
	equalCalls(t, watchEvents(t, w, 4), []string{"ADDED a 5", "ADDED b 6", "BOOKMARK  10 initial-events-end", "MODIFIED a 11"})
}

func TestLW6_AGroupIsHandedOverWhenItClosesFollowedByItsPosition(t *testing.T) {
	fake, c := startFake(t)
	w, err := NewListerWatcher(c, "configmaps", ListerWatcherOptions{}).WatchWithContext(context.Background(), metav1.ListOptions{ResourceVersion: "10", AllowWatchBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	fake.nextRequest(t)
	release := make(chan struct{})
	fake.scripts <- func(stream informerv1.InformerService_SubscribeServer) error {
		// A coalesced group after position 10: its events carry 10, its last one 15.
		for _, e := range []*informerv1.SubscribeResponse{ev(modified, obj("ns", "b", "14"), "10"), ev(modified, obj("ns", "c", "12"), "10")} {
			if err := stream.Send(e); err != nil {
				return err
			}
		}
		<-release
		if err := stream.Send(ev(modified, obj("ns", "d", "13"), "15")); err != nil {
			return err
		}
		<-stream.Context().Done()
		return nil
	}
	select {
	case e := <-w.ResultChan():
		t.Fatalf("event %s handed over inside an open group", describe(t, e))
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	// The reflector records each object's resourceVersion (14, 12, 13); the bookmark leaves it at
	// the group's position, 15, so a resume neither skips nor repeats.
	equalCalls(t, watchEvents(t, w, 4), []string{"MODIFIED b 14", "MODIFIED c 12", "MODIFIED d 13", "BOOKMARK  15"})
}

func TestLW7_SilentStreamEndsTheWatchWithinTwoBookmarkIntervals(t *testing.T) {
	const interval = 100 * time.Millisecond
	fake, c := startFake(t)
	w, err := NewListerWatcher(c, "configmaps", ListerWatcherOptions{}).WatchWithContext(context.Background(), metav1.ListOptions{ResourceVersion: "10"})
	if err != nil {
		t.Fatal(err)
	}
	fake.nextRequest(t)
	silent := make(chan time.Time, 1)
	fake.scripts <- announce(interval, silentAfter(silent, ev(added, obj("ns", "a", "11"), "11")))
	nextEvent(t, w)
	since := <-silent
	select {
	case e, ok := <-w.ResultChan():
		if ok {
			t.Fatalf("event %s, want the watch to end", describe(t, e))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("silent watch not ended")
	}
	if elapsed := time.Since(since); elapsed < 2*interval || elapsed > 2*interval+500*time.Millisecond {
		t.Fatalf("watch ended %v after the server fell silent, want just after 2 intervals", elapsed)
	}
}

func TestLW8_UnknownKindsDecodeAsUnstructured(t *testing.T) {
	fake, c := startFake(t)
	fake.resources = []*informerv1.ResourceStatus{{Group: "example.com", Version: "v1", Resource: "widgets", Kind: "Widget", Namespaced: true, Name: "widgets.v1.example.com"}}
	fake.list = func(*informerv1.ListRequest) (*informerv1.ListResponse, error) {
		return &informerv1.ListResponse{ResourceVersion: "3", Objects: []*informerv1.Object{{Namespace: "ns", Name: "w", ResourceVersion: "2",
			Json: `{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"namespace":"ns","name":"w","resourceVersion":"2"},"spec":{"size":3}}`}}}, nil
	}
	got, err := NewListerWatcher(c, "widgets.example.com", ListerWatcherOptions{}).ListWithContext(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l, ok := got.(*unstructured.UnstructuredList)
	if !ok || len(l.Items) != 1 || l.GetKind() != "WidgetList" {
		t.Fatalf("list = %#v, want an UnstructuredList of one Widget", got)
	}
	if size, _, _ := unstructured.NestedInt64(l.Items[0].Object, "spec", "size"); size != 3 || l.GetResourceVersion() != "3" {
		t.Fatalf("item = %v, rv %s", l.Items[0].Object, l.GetResourceVersion())
	}
	if _, err := NewListerWatcher(c, "gadgets", ListerWatcherOptions{}).ListWithContext(context.Background(), metav1.ListOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a resource informerd does not cache: err = %v, want NotFound", err)
	}
}

// TestLW9_ClientGoSharedIndexInformerAndListerRunOnInformerd runs client-go's own informer,
// with its default streaming list, over the ListerWatcher: it syncs, its lister answers, and a
// 410 mid-stream makes it start over with a fresh Subscribe after which it holds the server's
// state (a deletion meanwhile included).
func TestLW9_ClientGoSharedIndexInformerAndListerRunOnInformerd(t *testing.T) {
	fake, c := startFake(t)
	inf := cache.NewSharedIndexInformer(NewListerWatcher(c, "configmaps", ListerWatcherOptions{}), &corev1.ConfigMap{}, 0,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	adds := make(chan string, 16)
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(o any) { adds <- o.(*corev1.ConfigMap).Name }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go inf.RunWithContext(ctx)
	if req := fake.nextRequest(t); req.GetResourceVersion() != "" {
		t.Fatalf("first Subscribe = %v, want fresh (streaming list)", req)
	}
	fake.scripts <- send(status.Error(codes.OutOfRange, "too old"),
		ev(added, obj("ns", "a", "5"), ""), ev(added, obj("ns", "b", "6"), ""), ev(synced, nil, "10"),
		ev(added, obj("ns", "c", "11"), "11"))
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("not synced")
	}
	lister := listersv1.NewConfigMapLister(inf.GetIndexer())
	// The 410 makes the reflector list again: a fresh Subscribe, where b is gone.
	if req := fake.nextRequest(t); req.GetResourceVersion() != "" {
		t.Fatalf("Subscribe after 410 = %v, want fresh", req)
	}
	fake.scripts <- send(nil, ev(added, obj("ns", "a", "5"), ""), ev(added, obj("ns", "c", "11"), ""), ev(synced, nil, "12"),
		ev(added, obj("ns", "d", "13"), "13"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ := lister.ConfigMaps("ns").List(labels.Everything())
		if sortedNames(got) == "a@5 c@11 d@13" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lister holds %q, want a@5 c@11 d@13", sortedNames(got))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if cm, err := lister.ConfigMaps("ns").Get("d"); err != nil || cm.Data["k"] != "13" {
		t.Fatalf("lister Get d = %v, %v", cm, err)
	}
	if rv := inf.LastSyncResourceVersion(); rv != "13" {
		t.Fatalf("LastSyncResourceVersion = %s, want 13", rv)
	}
}

func sortedNames(cms []*corev1.ConfigMap) string {
	var names []string
	for _, cm := range cms {
		names = append(names, cm.Name+"@"+cm.ResourceVersion)
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}
