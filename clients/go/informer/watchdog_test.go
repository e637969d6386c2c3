package informer

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	informerv1 "informerd.dev/clients/go/informerv1"
)

// announce returns a script that announces a bookmark interval in its initial metadata, then
// plays next.
func announce(interval time.Duration, next script) script {
	return func(stream informerv1.InformerService_SubscribeServer) error {
		md := metadata.Pairs(bookmarkIntervalHeader, strconv.FormatInt(interval.Milliseconds(), 10))
		if err := stream.SendHeader(md); err != nil {
			return err
		}
		return next(stream)
	}
}

// silentAfter sends events, then nothing at all (no bookmark, no end) until the client goes: a
// hung server, or one behind a blackholed connection. It reports when it fell silent.
func silentAfter(silent chan<- time.Time, events ...*informerv1.SubscribeResponse) script {
	return func(stream informerv1.InformerService_SubscribeServer) error {
		for _, e := range events {
			if err := stream.Send(e); err != nil {
				return err
			}
		}
		silent <- time.Now()
		<-stream.Context().Done()
		return stream.Context().Err()
	}
}

func TestW1_SilentServerIsLeftWithinTwoBookmarkIntervalsAndTheResumeLosesNothing(t *testing.T) {
	const interval = 100 * time.Millisecond
	fake, c := startFake(t)
	h := &recorder{}
	inf := run(t, c, h)
	fake.nextRequest(t)
	silent := make(chan time.Time, 1)
	fake.scripts <- announce(interval, silentAfter(silent,
		ev(added, obj("ns", "a", "5"), ""), ev(synced, nil, "10"), ev(modified, obj("ns", "a", "11"), "11")))
	since := <-silent
	req := fake.nextRequest(t)
	elapsed := time.Since(since)
	// The watchdog gives up after two intervals of silence, not before; the resume follows
	// after a backoff of a few milliseconds (run's options).
	if elapsed < 2*interval || elapsed > 2*interval+500*time.Millisecond {
		t.Fatalf("resubscribed %v after the server fell silent, want just after 2 intervals (%v)", elapsed, 2*interval)
	}
	if got := req.GetKnownObjects(); len(got) != 1 || got["ns/a"] != "11" {
		t.Fatalf("resume after silence: known_objects = %v, want ns/a=11 (UNAVAILABLE resumes by known_objects)", got)
	}
	fake.scripts <- announce(interval, send(nil, ev(added, obj("ns", "b", "12"), ""), ev(synced, nil, "12")))
	equalCalls(t, h.waitCalls(t, 3), []string{"add ns/a 5 true", "update ns/a 5->11", "add ns/b 12 false"})
	if !inf.HasSynced() || inf.Stats().Failures != 1 {
		t.Errorf("synced=%v failures=%d, want true and 1 (the silence)", inf.HasSynced(), inf.Stats().Failures)
	}
}

func TestW2_BookmarksKeepAQuietStreamAlive(t *testing.T) {
	const interval = 200 * time.Millisecond
	fake, c := startFake(t)
	inf := run(t, c, nil)
	fake.nextRequest(t)
	fake.scripts <- announce(interval, func(stream informerv1.InformerService_SubscribeServer) error {
		if err := stream.Send(ev(synced, nil, "10")); err != nil {
			return err
		}
		// Ten bookmarks half an interval apart: 1 s, two and a half windows of two intervals.
		for i := 0; i < 10; i++ {
			time.Sleep(interval / 2)
			if err := stream.Send(ev(bookmark, nil, strconv.Itoa(11+i))); err != nil {
				return err
			}
		}
		<-stream.Context().Done()
		return nil
	})
	deadline := time.Now().Add(5 * time.Second)
	for inf.Stats().Events < 11 {
		if time.Now().After(deadline) {
			t.Fatalf("events = %d, want 11", inf.Stats().Events)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if f := inf.Stats().Failures; f != 0 {
		t.Fatalf("failures = %d while bookmarks arrived every interval, want 0", f)
	}
	select {
	case r := <-fake.requests:
		t.Fatalf("resubscribed while bookmarks flowed: %v", r)
	default:
	}
}

func TestW3_WithoutAnAnnouncedIntervalTheSilenceTimeoutApplies(t *testing.T) {
	fake, c := startFake(t)
	inf := New(c, "configmaps", Options{Namespace: "ns", InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
		SilenceTimeout: 150 * time.Millisecond, OnError: func(error) {}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { inf.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	fake.nextRequest(t)
	silent := make(chan time.Time, 1)
	fake.scripts <- silentAfter(silent, ev(synced, nil, "10"))
	since := <-silent
	fake.nextRequest(t)
	if elapsed := time.Since(since); elapsed < 150*time.Millisecond || elapsed > 650*time.Millisecond {
		t.Fatalf("resubscribed %v after silence, want just after SilenceTimeout (150ms)", elapsed)
	}
}

// startTCPFake serves fake on a loopback port of its own and returns the address and a
// function that kills that server (its connections are closed, the port refuses).
func startTCPFake(t *testing.T, fake informerv1.InformerServiceServer) (string, func()) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	informerv1.RegisterInformerServiceServer(srv, fake)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String(), srv.Stop
}

// addrFake is a fakeServer that also records which of two servers took each Subscribe.
type addrFake struct {
	*fakeServer
	name  string
	taken chan string
}

func (f *addrFake) Subscribe(req *informerv1.SubscribeRequest, stream informerv1.InformerService_SubscribeServer) error {
	f.taken <- f.name
	return f.fakeServer.Subscribe(req, stream)
}

func TestW4_AResumeGoesToAnotherAddressWhenOneIsKilled(t *testing.T) {
	shared := &fakeServer{requests: make(chan *informerv1.SubscribeRequest, 16), scripts: make(chan script, 16)}
	taken := make(chan string, 16)
	addrA, killA := startTCPFake(t, &addrFake{shared, "A", taken})
	addrB, killB := startTCPFake(t, &addrFake{shared, "B", taken})
	c, err := DialAddresses([]string{addrA, addrB})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h := &recorder{}
	inf := run(t, c, h)
	shared.nextRequest(t)
	first := <-taken
	shared.scripts <- send(nil, ev(added, obj("ns", "a", "5"), ""), ev(synced, nil, "10"))
	h.waitCalls(t, 1)
	kill := map[string]func(){"A": killA, "B": killB}[first]
	kill()
	req := shared.nextRequest(t)
	// Resubscribes may first hit the dead address until gRPC drops it; the one that reaches a
	// server must be the other one.
	if second := <-taken; second == first {
		t.Fatalf("resumed on the killed server %s", first)
	}
	if got := req.GetKnownObjects(); got["ns/a"] != "5" {
		t.Fatalf("resume known_objects = %v, want ns/a=5", got)
	}
	shared.scripts <- send(nil, ev(modified, obj("ns", "a", "11"), ""), ev(synced, nil, "11"))
	equalCalls(t, h.waitCalls(t, 2), []string{"add ns/a 5 true", "update ns/a 5->11"})
	if !inf.HasSynced() {
		t.Error("not synced")
	}
}

func TestW5_AResumeToAServerThatHangsBeforeItsHeaderUsesTheLastAnnouncedInterval(t *testing.T) {
	const interval = 100 * time.Millisecond
	fake, c := startFake(t)
	run(t, c, nil)
	fake.nextRequest(t)
	silent := make(chan time.Time, 2)
	fake.scripts <- announce(interval, silentAfter(silent, ev(synced, nil, "10")))
	<-silent
	fake.nextRequest(t)
	// The resumed stream's server hangs before sending anything, its header included.
	fake.scripts <- silentAfter(silent)
	since := <-silent
	fake.nextRequest(t)
	if elapsed := time.Since(since); elapsed < 2*interval || elapsed > 2*interval+500*time.Millisecond {
		t.Fatalf("left the headerless stream after %v, want two of the last announced intervals (%v), not the 60 s fallback", elapsed, 2*interval)
	}
}
