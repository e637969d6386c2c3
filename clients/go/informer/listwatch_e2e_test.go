package informer_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"informerd.dev/clients/go/informer"
	"informerd.dev/clients/go/internal/e2etest"
)

// apiServerState is "name@rv ..." of the namespace's ConfigMaps by a quorum LIST of the API server.
func apiServerState(t *testing.T, kube kubernetes.Interface, ns string) string {
	t.Helper()
	l, err := kube.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, cm := range l.Items {
		s = append(s, cm.Name+"@"+cm.ResourceVersion)
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

func listerState(l listersv1.ConfigMapNamespaceLister) string {
	got, _ := l.List(labels.Everything())
	var s []string
	for _, cm := range got {
		s = append(s, cm.Name+"@"+cm.ResourceVersion)
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

// TestE2E_LW_ClientGoInformerOnInformerdFollowsTheAPIServer runs client-go's
// SharedIndexInformer and lister over informer.ListerWatcher against informerd while ConfigMaps
// are created, changed and deleted: the lister ends equal to the API server's quorum list.
func TestE2E_LW_ClientGoInformerOnInformerdFollowsTheAPIServer(t *testing.T) {
	env := e2etest.Require(t)
	kube := env.Kube(t)
	ns := e2etest.Namespace(t, kube)
	cms := kube.CoreV1().ConfigMaps(ns)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < 5; i++ {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	lw := informer.NewListerWatcher(env.Client(t), "configmaps", informer.ListerWatcherOptions{Namespace: ns})
	inf := cache.NewSharedIndexInformer(lw, &corev1.ConfigMap{}, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	go inf.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("not synced")
	}
	lister := listersv1.NewConfigMapLister(inf.GetIndexer()).ConfigMaps(ns)
	for i := 0; i < 3; i++ {
		if _, err := cms.Patch(ctx, fmt.Sprintf("cm-%d", i), "application/merge-patch+json", []byte(`{"data":{"k":"v"}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := cms.Delete(ctx, "cm-4", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm-5"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := apiServerState(t, kube, ns)
	e2etest.Eventually(t, 30*time.Second, func() bool { return listerState(lister) == want },
		func() string { return "lister " + listerState(lister) + ", API server " + want })
	if cm, err := lister.Get("cm-0"); err != nil || cm.Data["k"] != "v" {
		t.Fatalf("lister Get cm-0 = %v, %v", cm, err)
	}
}

// TestE2E_W_PausedServerIsLeftForTheOtherAddress: an informer on DialAddresses(A, B) whose
// server A hangs (SIGSTOP: connections open, nothing answered) gives up on it within two
// bookmark intervals and resumes on B, and a ListerWatcher's watch does the same: both end
// equal to the API server, with changes made while A hangs.
func TestE2E_W_PausedServerIsLeftForTheOtherAddress(t *testing.T) {
	env := e2etest.Require(t)
	kube := env.Kube(t)
	ns := e2etest.Namespace(t, kube)
	cms := kube.CoreV1().ConfigMaps(ns)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a := env.StartServer(t)
	b := env.StartServer(t)
	b.Kill() // B's address exists but nothing serves it: the streams start on A
	c, err := informer.DialAddresses([]string{a.Target(), b.Target()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	inf := informer.New(c, "configmaps", informer.Options{Namespace: ns, OnError: func(err error) { t.Logf("old informer: %v", err) }})
	go inf.Run(ctx)
	lw := informer.NewListerWatcher(c, "configmaps", informer.ListerWatcherOptions{Namespace: ns})
	cgInf := cache.NewSharedIndexInformer(lw, &corev1.ConfigMap{}, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	go cgInf.RunWithContext(ctx)
	if !informer.WaitForCacheSync(ctx, inf.HasSynced, cgInf.HasSynced) {
		t.Fatal("not synced")
	}
	lister := listersv1.NewConfigMapLister(cgInf.GetIndexer()).ConfigMaps(ns)
	b.Start()
	a.Pause()
	paused := time.Now()
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "while-a-hangs"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := apiServerState(t, kube, ns)
	storeState := func() string {
		var s []string
		for _, o := range inf.Store().List() {
			s = append(s, o.Name+"@"+o.ResourceVersion)
		}
		sort.Strings(s)
		return strings.Join(s, " ")
	}
	// Bookmark interval 1 s: each stream gives up on A after 2 s; round robin may send the
	// first retry to A again (its connection looks healthy), the next goes to B.
	e2etest.Eventually(t, 20*time.Second, func() bool { return storeState() == want && listerState(lister) == want },
		func() string {
			return "old informer " + storeState() + "; client-go lister " + listerState(lister) + "; API server " + want
		})
	t.Logf("both caught up %v after A hung", time.Since(paused).Round(time.Millisecond))
	if inf.Stats().Failures < 1 {
		t.Fatalf("the old informer never left A: %+v", inf.Stats())
	}
}
