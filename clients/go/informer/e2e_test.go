package informer_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"informerd.dev/clients/go/informer"
	"informerd.dev/clients/go/internal/e2etest"
)

// checker is a handler that keeps its own model (key -> resourceVersion) from the calls alone
// and flags any call inconsistent with it: an add of a key it holds, an update whose old state
// is not the one it holds or does not move forward, a delete of a key it lacks, or a state
// delivered twice. It also logs every call.
type checker struct {
	mu    sync.Mutex
	model map[string]string
	seen  map[string]bool
	errs  []string
	log   []string
}

func newChecker() *checker { return &checker{model: map[string]string{}, seen: map[string]bool{}} }

func (c *checker) state(key, rv string) {
	if c.seen[key+"@"+rv] {
		c.errs = append(c.errs, "repeated state "+key+"@"+rv)
	}
	c.seen[key+"@"+rv] = true
	c.model[key] = rv
}

func (c *checker) OnAdd(o *informer.Object, initial bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.model[o.Key()]; ok {
		c.errs = append(c.errs, "add of a key already held: "+o.Key())
	}
	c.log = append(c.log, fmt.Sprintf("add %s %v", o.Name, initial))
	c.state(o.Key(), o.ResourceVersion)
}

func (c *checker) OnUpdate(old, o *informer.Object) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.model[o.Key()] != old.ResourceVersion {
		c.errs = append(c.errs, fmt.Sprintf("update of %s from %s, but %q was held", o.Key(), old.ResourceVersion, c.model[o.Key()]))
	}
	c.log = append(c.log, "update "+o.Name)
	c.state(o.Key(), o.ResourceVersion)
}

func (c *checker) OnDelete(obj any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := informer.DeletionHandlingKey(obj)
	if _, ok := c.model[key]; !ok {
		c.errs = append(c.errs, "delete of a key not held: "+key)
	}
	kind := "delete"
	if _, ok := obj.(informer.DeletedFinalStateUnknown); ok {
		kind = "delete-unknown"
	}
	c.log = append(c.log, kind+" "+informer.ObjectOf(obj).Name)
	delete(c.model, key)
}

func (c *checker) snapshot() (map[string]string, []string, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]string{}
	for k, v := range c.model {
		m[k] = v
	}
	return m, append([]string(nil), c.log...), append([]string(nil), c.errs...)
}

// truth is the API server's key -> resourceVersion of the ConfigMaps in ns.
func truth(t *testing.T, kube kubernetes.Interface, ns string) map[string]string {
	t.Helper()
	list, err := kube.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, cm := range list.Items {
		m[ns+"/"+cm.Name] = cm.ResourceVersion
	}
	return m
}

func storeVersions(inf *informer.Informer) map[string]string {
	m := map[string]string{}
	for _, o := range inf.Store().List() {
		m[o.Key()] = o.ResourceVersion
	}
	return m
}

func createCM(t *testing.T, kube kubernetes.Interface, ns, name string, labels map[string]string) *corev1.ConfigMap {
	t.Helper()
	cm, err := kube.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Data: map[string]string{"v": "0"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

func updateCM(t *testing.T, kube kubernetes.Interface, ns, name, v string) *corev1.ConfigMap {
	t.Helper()
	cm, err := kube.CoreV1().ConfigMaps(ns).Patch(context.Background(), name, "application/merge-patch+json",
		[]byte(`{"data":{"v":"`+v+`"}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

func deleteCM(t *testing.T, kube kubernetes.Interface, ns, name string) {
	t.Helper()
	if err := kube.CoreV1().ConfigMaps(ns).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// startInformer runs an informer of the ConfigMaps of ns with a checker until the test ends.
func startInformer(t *testing.T, c *informer.Client, ns string) (*informer.Informer, *checker) {
	t.Helper()
	inf := informer.New(c, "configmaps", informer.Options{Namespace: ns, InitialBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, OnError: func(err error) { t.Logf("subscription ended: %v", err) }})
	chk := newChecker()
	inf.AddEventHandler(chk)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { inf.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	defer scancel()
	if !informer.WaitForCacheSync(sctx, inf.HasSynced) {
		t.Fatal("informer did not sync in 30 s")
	}
	return inf, chk
}

// converged waits until the checker's model and the store both equal the API server's truth.
func converged(t *testing.T, kube kubernetes.Interface, ns string, inf *informer.Informer, chk *checker) {
	t.Helper()
	var want map[string]string
	e2etest.Eventually(t, 30*time.Second, func() bool {
		want = truth(t, kube, ns)
		model, _, _ := chk.snapshot()
		return fmt.Sprint(model) == fmt.Sprint(want) && fmt.Sprint(storeVersions(inf)) == fmt.Sprint(want)
	}, func() string {
		model, log, _ := chk.snapshot()
		return fmt.Sprintf("store %v / handlers %v, API server %v; calls %q", storeVersions(inf), model, want, log)
	})
	if _, _, errs := chk.snapshot(); len(errs) > 0 {
		t.Fatalf("inconsistent handler calls: %q", errs)
	}
}

func TestE2ESyncThenLiveEvents(t *testing.T) {
	env := e2etest.Require(t)
	kube := env.Kube(t)
	ns := e2etest.Namespace(t, kube)
	var last *corev1.ConfigMap
	for _, n := range []string{"a", "b", "c"} {
		last = createCM(t, kube, ns, n, nil)
	}
	client := env.Client(t)
	// Read-your-writes: informerd's cache has reached c before the informer subscribes, so its
	// initial list holds all three (else c may come as a live add after them).
	if _, err := client.Get(context.Background(), "configmaps", ns, "c", last.ResourceVersion); err != nil {
		t.Fatal(err)
	}
	inf, chk := startInformer(t, client, ns)
	_, log, _ := chk.snapshot()
	if strings.Join(log, ",") != "add a true,add b true,add c true" {
		t.Fatalf("initial calls = %q", log)
	}
	converged(t, kube, ns, inf, chk)

	createCM(t, kube, ns, "d", nil)
	updateCM(t, kube, ns, "a", "1")
	deleteCM(t, kube, ns, "b")
	converged(t, kube, ns, inf, chk)
	_, log, _ = chk.snapshot()
	if got := strings.Join(log[3:], ","); got != "add d false,update a,delete b" {
		t.Fatalf("live calls = %q", got)
	}
	o, ok := inf.Store().Get(ns, "a")
	if !ok {
		t.Fatal("a missing")
	}
	cm, err := informer.Decode[corev1.ConfigMap](o)
	if err != nil || cm.Data["v"] != "1" || cm.Kind != "ConfigMap" || cm.APIVersion != "v1" {
		t.Fatalf("decoded a = %+v, %v", cm, err)
	}
}

func TestE2EListGetByIndex(t *testing.T) {
	env := e2etest.Require(t)
	kube := env.Kube(t)
	ns := e2etest.Namespace(t, kube)
	c := env.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	createCM(t, kube, ns, "x1", map[string]string{"app": "demo"})
	createCM(t, kube, ns, "x2", map[string]string{"app": "other"})
	last := createCM(t, kube, ns, "x3", map[string]string{"app": "demo"})

	// Read your writes: wait until the cache has seen the last create.
	got, err := c.Get(ctx, "configmaps", ns, "x3", last.ResourceVersion)
	if err != nil || got.UID != string(last.UID) {
		t.Fatalf("Get x3 = %v, %v", got, err)
	}
	objs, rv, err := c.List(ctx, "configmaps", informer.ListOptions{Namespace: ns, LabelSelector: "app=demo", Limit: 1})
	if err != nil || rv == "" || len(objs) != 2 || objs[0].Name != "x1" || objs[1].Name != "x3" {
		t.Fatalf("List app=demo = %v rv %q, %v", objs, rv, err)
	}
	u, err := objs[0].Unstructured()
	if err != nil || u.GetLabels()["app"] != "demo" {
		t.Fatalf("Unstructured = %v, %v", u, err)
	}
	if _, err := c.Get(ctx, "cm", ns, "missing"); status.Code(err) != codes.NotFound {
		t.Fatalf("Get missing = %v, want NotFound", err)
	}
	if _, _, err := c.List(ctx, "no-such-resource", informer.ListOptions{}); status.Code(err) != codes.NotFound {
		t.Fatalf("List unknown = %v, want NotFound", err)
	}
	res, err := c.ListResources(ctx)
	if err != nil || len(res) == 0 {
		t.Fatalf("ListResources = %v, %v", res, err)
	}
	var indexes []string
	for _, r := range res {
		if r.GetResource() == "configmaps" {
			indexes = r.GetIndexNames()
		}
	}
	if !contains(indexes, "namespace") {
		t.Fatalf("configmaps indexes = %v, want namespace among them", indexes)
	}
	byNS, err := c.ByIndex(ctx, "configmaps", "namespace", ns, informer.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range byNS {
		names = append(names, o.Name)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "kube-root-ca.crt,x1,x2,x3" && strings.Join(names, ",") != "x1,x2,x3" {
		t.Fatalf("ByIndex namespace=%s = %v", ns, names)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestE2E_R8_ServerRestartMidStreamResumes kills informerd while changes flow, changes objects
// while it is down, starts it again and checks that the informer converges to the API server's
// truth with each change delivered once: what changed while it was down arrives as exactly one
// add, update or tombstone delete, and objects that did not change produce no call.
func TestE2E_R8_ServerRestartMidStreamResumes(t *testing.T) {
	env := e2etest.Require(t)
	srv := env.StartServer(t)
	kube := env.Kube(t)
	ns := e2etest.Namespace(t, kube)
	for i := 0; i < 6; i++ {
		createCM(t, kube, ns, fmt.Sprintf("cm-%d", i), nil)
	}
	createCM(t, kube, ns, "hot", nil)
	c, err := informer.Dial(srv.Target())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	inf, chk := startInformer(t, c, ns)

	// A writer keeps "hot" changing across the restart, so the kill lands mid-stream.
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(15 * time.Millisecond):
			}
			if _, err := kube.CoreV1().ConfigMaps(ns).Patch(context.Background(), "hot", "application/merge-patch+json",
				[]byte(fmt.Sprintf(`{"data":{"v":"%d"}}`, i)), metav1.PatchOptions{}); err != nil {
				t.Errorf("writer: %v", err)
				return
			}
		}
	}()
	e2etest.Eventually(t, 10*time.Second, func() bool {
		_, log, _ := chk.snapshot()
		return strings.Count(strings.Join(log, ","), "update hot") >= 3
	}, func() string { return "no live updates of hot" })

	srv.Kill()
	_, before, _ := chk.snapshot()
	createCM(t, kube, ns, "new-0", nil)
	createCM(t, kube, ns, "new-1", nil)
	updateCM(t, kube, ns, "cm-0", "1")
	updateCM(t, kube, ns, "cm-1", "1")
	updateCM(t, kube, ns, "cm-1", "2")
	deleteCM(t, kube, ns, "cm-2")
	deleteCM(t, kube, ns, "cm-3")
	time.Sleep(100 * time.Millisecond) // a few failed resubscriptions meanwhile
	srv.Start()
	time.Sleep(200 * time.Millisecond)
	close(stop)
	<-writerDone
	converged(t, kube, ns, inf, chk)

	_, log, _ := chk.snapshot()
	var after []string
	for _, l := range log[len(before):] {
		if !strings.HasSuffix(l, " hot") {
			after = append(after, l)
		}
	}
	sort.Strings(after)
	want := []string{"add new-0 false", "add new-1 false", "delete-unknown cm-2", "delete-unknown cm-3", "update cm-0", "update cm-1"}
	if strings.Join(after, ",") != strings.Join(want, ",") {
		t.Fatalf("calls for the changes made while informerd was down = %q, want %q", after, want)
	}
	if s := inf.Stats(); s.KnownObjectsStarts < 1 || s.FreshStarts != 1 {
		t.Fatalf("stats = %+v, want one fresh start and a known_objects resume", s)
	}
}

// A field mask on every read and on the informer's stream: objects arrive pruned to the paths
// asked for (identity and resourceVersion kept), and a change outside them is not sent.
func TestE2EFieldMaskPrunesReadsAndTheInformersStream(t *testing.T) {
	env := e2etest.Require(t)
	kube := env.Kube(t)
	ns := e2etest.Namespace(t, kube)
	c := env.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	created := createCM(t, kube, ns, "m1", map[string]string{"app": "demo"})
	pruned := func(o *informer.Object) string {
		u, err := o.Unstructured()
		if err != nil {
			return err.Error()
		}
		data, _, _ := unstructured.NestedStringMap(u.Object, "data")
		if len(u.GetLabels()) != 0 || len(data) != 1 || u.GetName() != "m1" || u.GetResourceVersion() == "" {
			return fmt.Sprintf("not pruned to data.v: %v", u.Object)
		}
		return ""
	}
	setBig := func(v string) {
		if _, err := kube.CoreV1().ConfigMaps(ns).Patch(ctx, "m1", "application/merge-patch+json",
			[]byte(`{"data":{"big":"`+v+`"}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setBig("x")
	last := updateCM(t, kube, ns, "m1", "0")

	got, err := c.GetWithOptions(ctx, "configmaps", ns, "m1", informer.GetOptions{
		MinResourceVersion: last.ResourceVersion, Fields: []string{"data.v"}, WaitForSync: true})
	if err != nil || got.UID != string(created.UID) {
		t.Fatalf("Get m1 = %v, %v", got, err)
	}
	if why := pruned(got); why != "" {
		t.Fatalf("Get: %s", why)
	}
	opts := informer.ListOptions{Namespace: ns, LabelSelector: "app=demo", Fields: []string{"data.v"}, WaitForSync: true}
	objs, _, err := c.List(ctx, "configmaps", opts)
	if err != nil || len(objs) != 1 {
		t.Fatalf("List = %v, %v", objs, err)
	}
	if why := pruned(objs[0]); why != "" {
		t.Fatalf("List: %s", why)
	}
	byNS, err := c.ByIndex(ctx, "configmaps", "namespace", ns, opts)
	if err != nil || len(byNS) != 1 {
		t.Fatalf("ByIndex = %v, %v", byNS, err)
	}
	if why := pruned(byNS[0]); why != "" {
		t.Fatalf("ByIndex: %s", why)
	}
	if _, _, err := c.List(ctx, "configmaps", informer.ListOptions{Fields: []string{"no..path"}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("List with a bad path = %v, want InvalidArgument", err)
	}

	inf := informer.New(c, "configmaps", informer.Options{Namespace: ns, LabelSelector: "app=demo",
		Fields: []string{"data.v"}, WaitForSync: true})
	chk := newChecker()
	inf.AddEventHandler(chk)
	ictx, icancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { inf.Run(ictx); close(done) }()
	t.Cleanup(func() { icancel(); <-done })
	if !informer.WaitForCacheSync(ctx, inf.HasSynced) {
		t.Fatal("informer did not sync")
	}
	// A change outside the mask, then one inside: events come in order, so once the second has
	// arrived the first would have too, had it been sent.
	setBig("y")
	updateCM(t, kube, ns, "m1", "1")
	e2etest.Eventually(t, 30*time.Second, func() bool {
		o, ok := inf.Store().Get(ns, "m1")
		if !ok {
			return false
		}
		u, err := o.Unstructured()
		v, _, _ := unstructured.NestedString(u.Object, "data", "v")
		return err == nil && v == "1"
	}, func() string { o, _ := inf.Store().Get(ns, "m1"); return fmt.Sprintf("store %v", o) })
	if o, _ := inf.Store().Get(ns, "m1"); pruned(o) != "" {
		why := pruned(o)
		t.Fatalf("store: %s", why)
	}
	_, log, errs := chk.snapshot()
	updates := 0
	for _, l := range log {
		if l == "update m1" {
			updates++
		}
	}
	if updates != 1 || len(errs) > 0 {
		t.Fatalf("calls %q (want one update of m1), inconsistencies %q", log, errs)
	}
}
