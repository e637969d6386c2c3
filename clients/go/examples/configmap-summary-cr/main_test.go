package main

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"informerd.dev/clients/go/internal/e2etest"
)

func TestSummaryListsSortedKeys(t *testing.T) {
	cm := &corev1.ConfigMap{Data: map[string]string{"b": "", "a": ""}, BinaryData: map[string][]byte{"c": nil}}
	if got := Summary(cm); got != "3 keys: a,b,c" {
		t.Fatalf("Summary = %q", got)
	}
	if got := Summary(&corev1.ConfigMap{}); got != "0 keys" {
		t.Fatalf("Summary of empty = %q", got)
	}
}

// TestReconcilerOnInformerdCacheAnnotatesLabelledConfigMaps runs the controller-runtime manager,
// its cache reading from informerd, against the API server: labelled ConfigMaps get their
// summary (also after a change), others are left alone.
func TestReconcilerOnInformerdCacheAnnotatesLabelledConfigMaps(t *testing.T) {
	env := e2etest.Require(t)
	kube := env.Kube(t)
	ns := e2etest.Namespace(t, kube)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, Config{Informerd: env.Addr, Kubeconfig: env.Kubeconfig, Namespace: ns, Selector: "app=demo"})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	cms := kube.CoreV1().ConfigMaps(ns)
	create := func(name string, labels, data map[string]string) {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Data: data}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	annotation := func(name string) string {
		cm, err := cms.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cm.Annotations[SummaryAnnotation]
	}
	waitFor := func(name, want string) {
		e2etest.Eventually(t, 30*time.Second, func() bool { return annotation(name) == want },
			func() string { return name + ": annotation " + annotation(name) + ", want " + want })
	}
	create("plain", nil, map[string]string{"x": "1"})
	create("demo-1", map[string]string{"app": "demo"}, map[string]string{"b": "1", "a": "2"})
	waitFor("demo-1", "2 keys: a,b")

	if _, err := cms.Patch(ctx, "demo-1", "application/merge-patch+json", []byte(`{"data":{"c":"3"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("demo-1", "3 keys: a,b,c")
	create("demo-2", map[string]string{"app": "demo"}, nil)
	waitFor("demo-2", "0 keys")
	if got := annotation("plain"); got != "" {
		t.Fatalf("unlabelled ConfigMap annotated: %q", got)
	}
}
