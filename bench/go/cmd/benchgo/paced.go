package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"informerd.local/bench/internal/podgen"
)

// pacer is the replay server's paced mode (--paced): instead of a pre-generated WATCH stream
// sent at full speed, POST /bench/pace?rate=R&count=C modifies the LIST's Pods round-robin at R
// per second, stamping each event's send time (Unix ns) in the LatencyAnnotation, and every
// open watch receives each event as it is made. The Subscribe fan-out benchmark feeds informerd
// this way, so the input rate does not depend on an API server's write ceiling.
type pacer struct {
	baseRV    uint64
	templates [][]byte // per Pod: its JSON with rvMark and stampMark in place of the values

	mu      sync.Mutex
	items   [][]byte      // the Pods' current state, in key order (LIST serves these)
	lines   [][]byte      // event k (resourceVersion baseRV+1+k) as a watch line
	changed chan struct{} // closed (and replaced) whenever lines grows
	pacing  bool
}

var (
	rvMark    = []byte("@@RV@@")
	stampMark = []byte("@@STAMP@@")
)

func newPacer(stream *podgen.Stream) (*pacer, error) {
	p := &pacer{baseRV: stream.BaseRV, items: append([][]byte(nil), stream.Items...),
		changed: make(chan struct{})}
	for _, item := range stream.Items {
		var obj map[string]any
		if err := json.Unmarshal(item, &obj); err != nil {
			return nil, err
		}
		meta, _ := obj["metadata"].(map[string]any)
		if meta == nil {
			return nil, fmt.Errorf("item without metadata")
		}
		ann, _ := meta["annotations"].(map[string]any)
		if ann == nil {
			ann = map[string]any{}
			meta["annotations"] = ann
		}
		ann[LatencyAnnotation] = string(stampMark)
		meta["resourceVersion"] = string(rvMark)
		b, err := json.Marshal(obj)
		if err != nil {
			return nil, err
		}
		p.templates = append(p.templates, b)
	}
	return p, nil
}

// snapshot is the current LIST: its resourceVersion and items.
func (p *pacer) snapshot() (uint64, [][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.baseRV + uint64(len(p.lines)), append([][]byte(nil), p.items...)
}

// since returns the events after index `from` and a channel closed when more arrive.
func (p *pacer) since(from int) ([][]byte, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lines[min(from, len(p.lines)):], p.changed
}

// emit appends one modification of Pod i, stamped now.
func (p *pacer) emit(i int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rv := p.baseRV + uint64(len(p.lines)) + 1
	obj := bytes.Replace(p.templates[i], rvMark, strconv.AppendUint(nil, rv, 10), 1)
	obj = bytes.Replace(obj, stampMark, strconv.AppendInt(nil, time.Now().UnixNano(), 10), 1)
	p.items[i] = obj
	p.lines = append(p.lines, podgen.WatchLine(nil, "MODIFIED", obj))
	close(p.changed)
	p.changed = make(chan struct{})
}

// pace serves POST /bench/pace?rate=R&count=C: emits C modifications at R per second (in the
// handler, so the response says when they have all been made) and reports the achieved rate.
func (p *pacer) pace(w http.ResponseWriter, r *http.Request) {
	rate, err1 := strconv.ParseFloat(r.URL.Query().Get("rate"), 64)
	count, err2 := strconv.Atoi(r.URL.Query().Get("count"))
	if r.Method != http.MethodPost || err1 != nil || err2 != nil || rate <= 0 || count < 0 {
		writeStatus(w, http.StatusBadRequest, "BadRequest", "POST /bench/pace?rate=R&count=C")
		return
	}
	p.mu.Lock()
	busy := p.pacing
	p.pacing = true
	p.mu.Unlock()
	if busy {
		writeStatus(w, http.StatusConflict, "Conflict", "already pacing")
		return
	}
	defer func() {
		p.mu.Lock()
		p.pacing = false
		p.mu.Unlock()
	}()
	p.mu.Lock()
	next := len(p.lines) % len(p.templates)
	p.mu.Unlock()
	start := time.Now()
	var lateMax time.Duration
	for k := 0; k < count; k++ {
		due := start.Add(time.Duration(float64(k) / rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		} else if -d > lateMax {
			lateMax = -d
		}
		p.emit(next)
		next = (next + 1) % len(p.templates)
	}
	secs := time.Since(start).Seconds()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"event": "paced", "count": count, "rate": rate,
		"seconds": secs, "achieved_rate": float64(count) / max(secs, 1e-9),
		"late_max_ms": float64(lateMax) / 1e6, "pods": len(p.templates)})
}

// watch serves a WATCH in paced mode: the events after the requested resourceVersion, then each
// new one as it is made, flushed at once.
func (p *pacer) watch(s *replayServer, w http.ResponseWriter, r *http.Request, hold time.Duration) {
	q := r.URL.Query()
	from := 0
	if v := q.Get("resourceVersion"); v != "" && v != "0" {
		rv, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeStatus(w, http.StatusBadRequest, "BadRequest", "invalid resourceVersion")
			return
		}
		if rv < p.baseRV {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			fmt.Fprintf(w, `{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: %d (%d)","reason":"Expired","code":410}}`+"\n", rv, p.baseRV)
			return
		}
		from = int(rv - p.baseRV)
	} else {
		rv, _ := p.snapshot()
		from = int(rv - p.baseRV)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if q.Get("sendInitialEvents") == "true" {
		s.watchLists.Add(1)
		rv, items := p.snapshot()
		var buf []byte
		for _, it := range items {
			buf = podgen.WatchLine(buf, "ADDED", it)
		}
		buf = append(buf, bookmark(rv, true)...)
		if _, err := w.Write(buf); err != nil {
			return
		}
		from = int(rv - p.baseRV)
	}
	if flusher != nil {
		flusher.Flush()
	}
	timeout := time.After(hold)
	for {
		lines, changed := p.since(from)
		for _, l := range lines {
			if _, err := w.Write(l); err != nil {
				return
			}
			s.bytesOut.Add(int64(len(l)))
		}
		from += len(lines)
		if len(lines) > 0 && flusher != nil {
			flusher.Flush()
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		case <-timeout:
			return
		}
	}
}
