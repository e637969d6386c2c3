package podgen

import (
	"bytes"
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestPodIsDeterministic(t *testing.T) {
	a, b := marshal(Pod(7, 42, 100, Shape{})), marshal(Pod(7, 42, 100, Shape{}))
	if !bytes.Equal(a, b) {
		t.Fatalf("pod 42 differs between two generations")
	}
	if bytes.Equal(a, marshal(Pod(7, 43, 100, Shape{}))) {
		t.Fatalf("pods 42 and 43 are equal")
	}
}

func TestPodsHaveTypicalSizeAndShape(t *testing.T) {
	total := 0
	for i := 0; i < 500; i++ {
		p := Pod(1, i, 1, Shape{})
		j := marshal(p)
		total += len(j)
		if len(j) < 3000 || len(j) > 10000 {
			t.Errorf("pod %d is %d bytes", i, len(j))
		}
		if n := len(p.Labels); n < 3 || n > 8 {
			t.Errorf("pod %d has %d labels", i, n)
		}
		if n := len(p.Spec.Containers); n < 1 || n > 3 {
			t.Errorf("pod %d has %d containers", i, n)
		}
		var back corev1.Pod
		if err := json.Unmarshal(j, &back); err != nil || len(back.ManagedFields) != 2 || len(back.OwnerReferences) != 1 {
			t.Errorf("pod %d does not round-trip: %v", i, err)
		}
	}
	if avg := total / 500; avg < 4500 || avg > 7000 {
		t.Errorf("average pod is %d bytes, want about 4.5-7 KB", avg)
	}
}

func TestStreamIsDeterministic(t *testing.T) {
	o := StreamOptions{Seed: 3, Objects: 200, Events: 500}
	a, b := NewStream(o), NewStream(o)
	for i := range a.Items {
		if !bytes.Equal(a.Items[i], b.Items[i]) {
			t.Fatalf("item %d differs", i)
		}
	}
	for i := range a.Events {
		if a.Events[i].Type != b.Events[i].Type || !bytes.Equal(a.Events[i].JSON, b.Events[i].JSON) {
			t.Fatalf("event %d differs", i)
		}
	}
	if a.FinalObjects != b.FinalObjects {
		t.Fatalf("final objects %d vs %d", a.FinalObjects, b.FinalObjects)
	}
}
