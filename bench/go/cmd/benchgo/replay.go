package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"informerd.local/bench/internal/podgen"
)

// replayServer serves one pre-generated Stream as the API server's /api/v1/pods: paged LIST of
// the snapshot, WATCH of the modifications (also as a streaming list with sendInitialEvents),
// at full speed, the same bytes to every client; or, with --paced, modifications made at a
// requested pace (see pacer). Minimal discovery (/api, /apis, /api/v1) lets informerd itself
// resolve "pods" against it.
type replayServer struct {
	pacer    *pacer // nil unless --paced
	stream   *podgen.Stream
	events   []byte // every event as a watch line, concatenated
	offsets  []int  // events[offsets[k]:offsets[k+1]] is event k
	initOnce sync.Once
	initial  []byte // the snapshot as ADDED watch lines, built on first use
	lastRV   uint64
	maxHold  time.Duration

	lists, watches, watchLists atomic.Int64
	bytesOut                   atomic.Int64
}

func runReplay(args []string) error {
	fs := flag.NewFlagSet("replay", flag.ExitOnError)
	objects := fs.Int("objects", 100000, "Pods in the initial LIST")
	events := fs.Int("events", 200000, "modifications in the WATCH stream")
	seed := fs.Uint64("seed", 1, "generator seed")
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	kubeconfig := fs.String("kubeconfig-out", "", "write a kubeconfig for the server here")
	maxHold := fs.Duration("max-hold", 10*time.Minute, "longest a finished watch is held open")
	lifetime := fs.Duration("lifetime", 2*time.Hour, "exit after this long")
	paced := fs.Bool("paced", false, "serve modifications only when POST /bench/pace asks (--events is ignored)")
	fs.Parse(args)
	if host, _, err := net.SplitHostPort(*addr); err != nil || !net.ParseIP(host).IsLoopback() {
		return fmt.Errorf("--addr %q must be a loopback address", *addr)
	}

	start := time.Now()
	if *paced {
		*events = 0
	}
	s := &replayServer{stream: podgen.NewStream(podgen.StreamOptions{Seed: *seed, Objects: *objects, Events: *events}), maxHold: *maxHold}
	s.offsets = make([]int, 0, len(s.stream.Events)+1)
	for _, e := range s.stream.Events {
		s.offsets = append(s.offsets, len(s.events))
		s.events = podgen.WatchLine(s.events, e.Type, e.JSON)
	}
	s.offsets = append(s.offsets, len(s.events))
	s.lastRV = s.stream.BaseRV + uint64(len(s.stream.Events))
	if *paced {
		p, err := newPacer(s.stream)
		if err != nil {
			return err
		}
		s.pacer = p
	}
	listBytes := 0
	for _, it := range s.stream.Items {
		listBytes += len(it)
	}
	genSeconds := time.Since(start).Seconds()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()
	if *kubeconfig != "" {
		if err := writeKubeconfig(*kubeconfig, url); err != nil {
			return err
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/pods", s.pods)
	mux.HandleFunc("/bench/info", s.info)
	if s.pacer != nil {
		mux.HandleFunc("/bench/pace", s.pacer.pace)
	}
	mux.HandleFunc("/api", staticJSON(`{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[]}`))
	mux.HandleFunc("/apis", staticJSON(`{"kind":"APIGroupList","apiVersion":"v1","groups":[]}`))
	mux.HandleFunc("/api/v1", staticJSON(`{"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["get","list","watch"],"shortNames":["po"]}]}`))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusNotFound, "NotFound", "the replay server serves only /api/v1/pods")
	})
	srv := &http.Server{Handler: mux}
	emit(map[string]any{"event": "replay_ready", "url": url, "objects": len(s.stream.Items),
		"events": len(s.stream.Events), "final_objects": s.stream.FinalObjects,
		"base_rv": s.stream.BaseRV, "last_rv": s.lastRV, "list_item_bytes": listBytes,
		"watch_bytes": len(s.events), "avg_object_bytes": listBytes / max(1, len(s.stream.Items)),
		"gen_seconds": genSeconds})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		select {
		case <-ctx.Done():
		case <-time.After(*lifetime):
		}
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(c)
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		return err
	}
	return nil
}

func writeKubeconfig(path, server string) error {
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: replay
  cluster:
    server: %s
users:
- name: bench
  user:
    token: bench
contexts:
- name: replay
  context:
    cluster: replay
    user: bench
current-context: replay
`, server)
	return os.WriteFile(path, []byte(cfg), 0o600)
}

// staticJSON serves a fixed discovery document.
func staticJSON(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	}
}

func writeStatus(w http.ResponseWriter, code int, reason, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": message, "reason": reason, "code": code})
}

func (s *replayServer) info(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"lists": s.lists.Load(), "watches": s.watches.Load(),
		"watch_lists": s.watchLists.Load(), "bytes_out": s.bytesOut.Load()})
}

func (s *replayServer) pods(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeStatus(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "read-only")
		return
	}
	q := r.URL.Query()
	if q.Get("watch") == "true" || q.Get("watch") == "1" {
		s.watch(w, r)
		return
	}
	s.list(w, r)
}

func (s *replayServer) list(w http.ResponseWriter, r *http.Request) {
	s.lists.Add(1)
	q := r.URL.Query()
	listRV, items := s.stream.BaseRV, s.stream.Items
	if s.pacer != nil {
		listRV, items = s.pacer.snapshot()
	}
	from := 0
	if c := q.Get("continue"); c != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(c, "o:"))
		if err != nil || !strings.HasPrefix(c, "o:") || n < 0 || n > len(items) {
			writeStatus(w, http.StatusBadRequest, "BadRequest", "invalid continue token")
			return
		}
		from = n
	}
	to := len(items)
	if l, _ := strconv.Atoi(q.Get("limit")); l > 0 && from+l < to {
		to = from + l
	}
	w.Header().Set("Content-Type", "application/json")
	bw := bufio.NewWriterSize(w, 1<<20)
	fmt.Fprintf(bw, `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"%d"`, listRV)
	if to < len(items) {
		fmt.Fprintf(bw, `,"continue":"o:%d","remainingItemCount":%d`, to, len(items)-to)
	}
	bw.WriteString(`},"items":[`)
	n := 0
	for i := from; i < to; i++ {
		if i > from {
			bw.WriteByte(',')
		}
		bw.Write(items[i])
		n += len(items[i]) + 1
	}
	bw.WriteString("]}\n")
	bw.Flush()
	s.bytesOut.Add(int64(n))
}

func bookmark(rv uint64, initialEnd bool) []byte {
	ann := ""
	if initialEnd {
		ann = `,"annotations":{"k8s.io/initial-events-end":"true"}`
	}
	return []byte(fmt.Sprintf(`{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"%d","creationTimestamp":null%s},"spec":{"containers":null},"status":{}}}`+"\n", rv, ann))
}

func (s *replayServer) watch(w http.ResponseWriter, r *http.Request) {
	s.watches.Add(1)
	q := r.URL.Query()
	bookmarks := q.Get("allowWatchBookmarks") == "true"
	hold := s.maxHold
	if t, err := strconv.Atoi(q.Get("timeoutSeconds")); err == nil && t > 0 && time.Duration(t)*time.Second < hold {
		hold = time.Duration(t) * time.Second
	}
	if s.pacer != nil {
		s.pacer.watch(s, w, r, hold)
		return
	}
	flusher, _ := w.(http.Flusher)
	write := func(b []byte) bool {
		const chunk = 256 << 10
		for len(b) > 0 {
			n := min(chunk, len(b))
			if _, err := w.Write(b[:n]); err != nil {
				return false
			}
			s.bytesOut.Add(int64(n))
			b = b[n:]
		}
		return true
	}

	start := 0
	if q.Get("sendInitialEvents") == "true" {
		s.watchLists.Add(1)
		s.initOnce.Do(func() {
			for _, it := range s.stream.Items {
				s.initial = podgen.WatchLine(s.initial, "ADDED", it)
			}
		})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if !write(s.initial) || !write(bookmark(s.stream.BaseRV, true)) {
			return
		}
	} else {
		rv, err := strconv.ParseUint(q.Get("resourceVersion"), 10, 64)
		if q.Get("resourceVersion") != "" && q.Get("resourceVersion") != "0" {
			if err != nil {
				writeStatus(w, http.StatusBadRequest, "BadRequest", "invalid resourceVersion")
				return
			}
			if rv < s.stream.BaseRV {
				// As the API server does: the watch opens, then an ERROR event says 410.
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusOK)
				fmt.Fprintf(w, `{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: %d (%d)","reason":"Expired","code":410}}`+"\n", rv, s.stream.BaseRV)
				return
			}
			start = int(min(rv-s.stream.BaseRV, uint64(len(s.stream.Events))))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
	}
	if !write(s.events[s.offsets[start]:]) {
		return
	}
	if bookmarks && !write(bookmark(s.lastRV, false)) {
		return
	}
	if flusher != nil {
		flusher.Flush()
	}
	select {
	case <-r.Context().Done():
	case <-time.After(hold):
	}
}
