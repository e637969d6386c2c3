package informer

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	informerv1 "informerd.dev/clients/go/informerv1"
)

// bookmarkIntervalHeader is the initial metadata in which a Subscribe stream announces how often
// it sends a BOOKMARK while nothing else happens (decimal milliseconds).
const bookmarkIntervalHeader = "informer-bookmark-interval-ms"

// DefaultSilenceTimeout is how long a Subscribe stream may stay silent before the client treats
// the server as gone when the stream did not announce its bookmark interval.
const DefaultSilenceTimeout = 60 * time.Second

// recvResult is one Recv of a Subscribe stream.
type recvResult struct {
	ev  *informerv1.SubscribeResponse
	err error
}

// watchdogStream reads a Subscribe stream and ends it when the server falls silent: no message
// for two bookmark intervals (as the stream's initial metadata announces them), or for fallback
// when it announced none. A silent server (hung, or behind a blackholed connection that
// keepalive has not yet noticed) then looks like a lost connection: Recv returns UNAVAILABLE and
// the caller resumes as after any other break.
//
// Not safe for concurrent use: one goroutine calls Recv. The caller cancels the stream's context
// when it is done with it.
type watchdogStream struct {
	stream    informerv1.InformerService_SubscribeClient
	cancel    context.CancelFunc
	announced *atomic.Int64 // the last interval a stream announced, shared with later streams
	results   chan recvResult
	header    chan time.Duration // the announced interval (0 = none), once
	timeout   time.Duration
	timer     *time.Timer
	done      chan struct{} // closed by stop: nobody reads results any more
}

// newWatchdogStream starts reading stream, whose context cancel ends. Until the stream
// announces its interval, the limit is two of the interval an earlier stream of the same caller
// announced (*announced, when > 0: a resubscription to a server that hangs never sends its
// header), else fallback (<= 0: DefaultSilenceTimeout). An announced interval is stored in
// *announced.
func newWatchdogStream(stream informerv1.InformerService_SubscribeClient, cancel context.CancelFunc, fallback time.Duration, announced *atomic.Int64) *watchdogStream {
	if fallback <= 0 {
		fallback = DefaultSilenceTimeout
	}
	timeout := fallback
	if prev := time.Duration(announced.Load()); prev > 0 {
		timeout = 2 * prev
	}
	w := &watchdogStream{
		stream: stream, cancel: cancel, timeout: timeout, announced: announced,
		results: make(chan recvResult), header: make(chan time.Duration, 1), done: make(chan struct{}),
	}
	w.timer = time.NewTimer(timeout)
	go w.pump()
	return w
}

// pump reads the header, then every message, handing them to Recv; it ends when the stream does
// (the caller's cancel ends it too) or stop was called. The stream's end is always handed over
// (gRPC cancels the stream's context when it ends, so that context cannot tell pump to give up).
func (w *watchdogStream) pump() {
	var interval time.Duration
	if md, err := w.stream.Header(); err == nil {
		if v := md.Get(bookmarkIntervalHeader); len(v) > 0 {
			if ms, perr := strconv.ParseInt(v[0], 10, 64); perr == nil && ms > 0 {
				interval = time.Duration(ms) * time.Millisecond
			}
		}
	}
	w.header <- interval
	for {
		ev, err := w.stream.Recv()
		select {
		case w.results <- recvResult{ev, err}:
		case <-w.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// Recv returns the stream's next message, its end (the stream's error, io.EOF when the server
// ended it OK), or UNAVAILABLE after the silence timeout, having cancelled the stream.
func (w *watchdogStream) Recv() (*informerv1.SubscribeResponse, error) {
	for {
		select {
		case interval := <-w.header:
			if interval > 0 {
				w.announced.Store(int64(interval))
				w.timeout = 2 * interval
				w.resetTimer()
			}
		case r := <-w.results:
			if r.err == nil {
				w.resetTimer()
			}
			return r.ev, r.err
		case <-w.timer.C:
			w.cancel()
			return nil, status.Errorf(codes.Unavailable,
				"informerd sent nothing for %v (two bookmark intervals): treating the server as gone", w.timeout)
		}
	}
}

func (w *watchdogStream) resetTimer() {
	w.timer.Stop()
	w.timer.Reset(w.timeout)
}

// stop releases the timer and pump; the caller cancels the stream.
func (w *watchdogStream) stop() {
	w.timer.Stop()
	close(w.done)
}
