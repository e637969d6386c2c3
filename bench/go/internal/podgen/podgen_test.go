package podgen

import (
	"bytes"
	"encoding/json"
	"strings"
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

func TestPodNamesAreUnique(t *testing.T) {
	// The suffixes of the first 300 000 Pods (a full benchmark stream adds ~6 000 to 100 000) are
	// distinct, so no two Pods share a key whatever their app.
	seen := make(map[string]int, 300000)
	for i := 0; i < 300000; i++ {
		s := nameSuffix(i)
		if j, ok := seen[s]; ok {
			t.Fatalf("pods %d and %d share the name suffix %q", j, i, s)
		}
		seen[s] = i
	}
	if p := Pod(1, 12, 1, Shape{}); !strings.HasSuffix(p.Name, "-"+nameSuffix(12)) {
		t.Fatalf("pod 12 is named %q, not with its suffix %q", p.Name, nameSuffix(12))
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
