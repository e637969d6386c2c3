package podgen

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Event is one change of a Stream: a watch event type and the object's JSON as a LIST item
// carries it (no kind/apiVersion; WatchLine adds them).
type Event struct {
	Type string // ADDED, MODIFIED or DELETED
	RV   uint64
	JSON []byte
}

// Stream is a LIST snapshot plus the modifications that follow it, all pre-encoded so a server
// can send the same bytes to every client at full speed.
type Stream struct {
	BaseRV       uint64   // the LIST's resourceVersion
	Items        [][]byte // the LIST's items, in key order
	Events       []Event  // RVs BaseRV+1, BaseRV+2, ...
	FinalObjects int      // objects left after every event
}

// StreamOptions sizes a Stream.
type StreamOptions struct {
	Seed    uint64
	Objects int // Pods in the initial LIST
	Events  int // modifications after it
	Shape   Shape
	// Fractions of Events that delete a Pod and that add a new one (the rest modify).
	DeleteFraction, AddFraction float64
}

// NewStream generates a Stream. The result depends only on the options.
func NewStream(o StreamOptions) *Stream {
	if o.DeleteFraction == 0 && o.AddFraction == 0 {
		o.DeleteFraction, o.AddFraction = 0.03, 0.03
	}
	const baseRV = 1000
	pods := make([]*corev1.Pod, o.Objects)
	parallel(o.Objects, func(i int) { pods[i] = Pod(o.Seed, i, baseRV-uint64(o.Objects)+uint64(i), o.Shape) })
	s := &Stream{BaseRV: baseRV, Items: make([][]byte, o.Objects)}
	// Items in key (namespace/name) order, as the API server lists them.
	sortPods(pods)
	parallel(o.Objects, func(i int) { s.Items[i] = marshal(pods[i]) })

	r := rand.New(rand.NewPCG(o.Seed, 0xfeed))
	alive := append([]*corev1.Pod(nil), pods...)
	next := o.Objects
	at := BaseTime.Add(48 * time.Hour)
	s.Events = make([]Event, o.Events)
	for e := 0; e < o.Events; e++ {
		rv := baseRV + uint64(e) + 1
		at = at.Add(time.Duration(r.IntN(20)) * time.Millisecond)
		x := r.Float64()
		switch {
		case x < o.DeleteFraction && len(alive) > 1:
			k := r.IntN(len(alive))
			p := alive[k]
			alive[k] = alive[len(alive)-1]
			alive = alive[:len(alive)-1]
			p.ResourceVersion = uitoa(rv)
			s.Events[e] = Event{Type: "DELETED", RV: rv, JSON: marshal(p)}
		case x < o.DeleteFraction+o.AddFraction:
			p := Pod(o.Seed, next, rv, o.Shape)
			next++
			alive = append(alive, p)
			s.Events[e] = Event{Type: "ADDED", RV: rv, JSON: marshal(p)}
		default:
			p := alive[r.IntN(len(alive))]
			Modify(r, p, rv, at)
			s.Events[e] = Event{Type: "MODIFIED", RV: rv, JSON: marshal(p)}
		}
	}
	s.FinalObjects = len(alive)
	return s
}

// WatchLine appends the watch-stream form of an event: `{"type":T,"object":{"kind":"Pod",
// "apiVersion":"v1",...}}` and a newline, as the API server sends it.
func WatchLine(dst []byte, eventType string, itemJSON []byte) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, eventType...)
	dst = append(dst, `","object":{"kind":"Pod","apiVersion":"v1",`...)
	dst = append(dst, itemJSON[1:]...)
	return append(dst, "}\n"...)
}

func marshal(p *corev1.Pod) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	if err := enc.Encode(p); err != nil {
		panic(err)
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

func uitoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

func sortPods(pods []*corev1.Pod) {
	key := func(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }
	slices.SortFunc(pods, func(a, b *corev1.Pod) int { return strings.Compare(key(a), key(b)) })
}

func parallel(n int, fn func(i int)) {
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				fn(i)
			}
		}(w)
	}
	wg.Wait()
}
