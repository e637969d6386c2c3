package informer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	informerv1 "informerd.dev/clients/go/informerv1"
)

// ResourceEventHandler receives an informer's notifications, as client-go's. Calls are serial,
// in the order the informer applied the changes, and the store already reflects each change
// when its call is made. A handler must be quick (hand keys to a work queue) and must not call
// AddEventHandler or RemoveEventHandler.
type ResourceEventHandler interface {
	// OnAdd: an object appeared. isInInitialList is true until the informer first synced, and
	// for the replay a handler added later gets.
	OnAdd(obj *Object, isInInitialList bool)
	// OnUpdate: an object changed; oldObj is the state the informer held before.
	OnUpdate(oldObj, newObj *Object)
	// OnDelete: an object was deleted or stopped matching the selectors. obj is its last state
	// (*Object), or a DeletedFinalStateUnknown when the deletion was only noticed on resuming.
	OnDelete(obj any)
}

// ResourceEventHandlerFuncs adapts functions to ResourceEventHandler; nil ones are skipped.
type ResourceEventHandlerFuncs struct {
	AddFunc    func(obj *Object, isInInitialList bool)
	UpdateFunc func(oldObj, newObj *Object)
	DeleteFunc func(obj any)
}

// OnAdd calls AddFunc when set.
func (f ResourceEventHandlerFuncs) OnAdd(obj *Object, isInInitialList bool) {
	if f.AddFunc != nil {
		f.AddFunc(obj, isInInitialList)
	}
}

// OnUpdate calls UpdateFunc when set.
func (f ResourceEventHandlerFuncs) OnUpdate(oldObj, newObj *Object) {
	if f.UpdateFunc != nil {
		f.UpdateFunc(oldObj, newObj)
	}
}

// OnDelete calls DeleteFunc when set.
func (f ResourceEventHandlerFuncs) OnDelete(obj any) {
	if f.DeleteFunc != nil {
		f.DeleteFunc(obj)
	}
}

// Options say what an informer follows and how it retries.
type Options struct {
	// Namespace limits the informer to one namespace; empty = all.
	Namespace string
	// LabelSelector and FieldSelector filter the objects (Kubernetes syntax); an object that
	// stops matching is deleted from the store.
	LabelSelector string
	FieldSelector string
	// Fields is a field mask: the store holds each object pruned to these paths (identity and
	// resourceVersion always kept) and a change outside them is not sent; empty = whole objects.
	Fields []string
	// WaitForSync makes each subscription to a resource informerd starts on demand wait for its
	// first sync (within informerd's --max_wait) instead of failing Unavailable and backing off.
	WaitForSync bool
	// InitialBackoff is the first wait before resubscribing after a failure (default 250 ms);
	// it doubles per failure up to MaxBackoff (default 30 s) and resets once a subscription
	// delivers events again.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// OnError sees every error that ended a subscription (client-go's WatchErrorHandler); the
	// informer retries regardless. Default: log with slog at Warn.
	OnError func(err error)
	// SilenceTimeout is how long a subscription may receive nothing before the informer treats
	// informerd as gone (ends the stream as UNAVAILABLE and resumes, on another address when
	// the Client has several) when no stream announced a bookmark interval; when one did
	// (informer-bookmark-interval-ms), the limit is two intervals (the last announced one
	// until the current stream announces its own). Default 60 s.
	SilenceTimeout time.Duration
}

// Stats counts an informer's subscriptions by how they started, for tests and metrics.
type Stats struct {
	// FreshStarts: subscriptions without resource_version nor known_objects.
	FreshStarts int64
	// KnownObjectsStarts: resubscriptions that sent the store's key -> resourceVersion.
	KnownObjectsStarts int64
	// ResourceVersionStarts: resubscriptions from the last resource_version (after
	// RESOURCE_EXHAUSTED).
	ResourceVersionStarts int64
	// Failures: subscriptions that ended with an error.
	Failures int64
	// Events: SubscribeResponses received, bookmarks and SYNCED included.
	Events int64
}

// Informer follows one resource through informerd: it keeps a local Store and calls handlers,
// as client-go's SharedIndexInformer, but the LIST and WATCH happen once, in informerd. After a
// stream breaks (informerd restarted, connection lost) it resubscribes with backoff, sending the
// resourceVersion of every object it holds, so the server sends only what changed meanwhile:
// handlers see each change once, none lost, none repeated.
//
// Safe for concurrent use. Run it once.
type Informer struct {
	client   *Client
	resource string
	opts     Options
	store    *Store
	synced   atomic.Bool
	started  atomic.Bool

	// deliverMu serialises applying events to the store, calling handlers and registering
	// handlers, so a late handler's replay and live events neither overlap nor miss each other.
	deliverMu sync.Mutex
	handlers  []*Registration

	stats struct{ fresh, known, rv, failures, events atomic.Int64 }
	// announced is the bookmark interval (ns) the last stream announced, for the watchdog.
	announced atomic.Int64
}

// Registration identifies a handler added with AddEventHandler.
type Registration struct {
	handler ResourceEventHandler
	inf     *Informer
}

// HasSynced is true once the handler has been handed the informer's initial objects.
func (r *Registration) HasSynced() bool { return r.inf.HasSynced() }

// New returns an informer of resource (kubectl-style: "configmaps", "deployments.apps", ...)
// read through c. Start it with Run.
func New(c *Client, resource string, opts Options) *Informer {
	if opts.InitialBackoff <= 0 {
		opts.InitialBackoff = 250 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.MaxBackoff < opts.InitialBackoff {
		opts.MaxBackoff = opts.InitialBackoff
	}
	if opts.OnError == nil {
		opts.OnError = func(err error) {
			slog.Warn("informerd subscription ended; resubscribing", "resource", resource, "err", err)
		}
	}
	return &Informer{client: c, resource: resource, opts: opts, store: newStore()}
}

// Store is the informer's local cache; read-only for callers.
func (inf *Informer) Store() *Store { return inf.store }

// HasSynced is true once the informer has received every object of its first subscription; it
// stays true across reconnects.
func (inf *Informer) HasSynced() bool { return inf.synced.Load() }

// Stats returns the subscription counters.
func (inf *Informer) Stats() Stats {
	return Stats{
		FreshStarts: inf.stats.fresh.Load(), KnownObjectsStarts: inf.stats.known.Load(),
		ResourceVersionStarts: inf.stats.rv.Load(), Failures: inf.stats.failures.Load(),
		Events: inf.stats.events.Load(),
	}
}

// AddEventHandler registers h. When the informer already holds objects, h first gets OnAdd(obj,
// true) for each of them, as one consistent snapshot, before any later change. Must not be
// called from a handler.
func (inf *Informer) AddEventHandler(h ResourceEventHandler) *Registration {
	inf.deliverMu.Lock()
	defer inf.deliverMu.Unlock()
	for _, o := range inf.store.List() {
		h.OnAdd(o, true)
	}
	reg := &Registration{handler: h, inf: inf}
	inf.handlers = append(inf.handlers, reg)
	return reg
}

// RemoveEventHandler stops calls to the handler of reg; others are unaffected.
func (inf *Informer) RemoveEventHandler(reg *Registration) {
	inf.deliverMu.Lock()
	defer inf.deliverMu.Unlock()
	for i, r := range inf.handlers {
		if r == reg {
			inf.handlers = append(inf.handlers[:i:i], inf.handlers[i+1:]...)
			return
		}
	}
}

// Run subscribes and keeps the store current until ctx is done. It blocks; call it once.
func (inf *Informer) Run(ctx context.Context) {
	if !inf.started.CompareAndSwap(false, true) {
		panic("informer: Run called twice")
	}
	delay := inf.opts.InitialBackoff
	resumeRV := ""
	for ctx.Err() == nil {
		res := inf.subscribe(ctx, resumeRV)
		if ctx.Err() != nil {
			return
		}
		inf.stats.failures.Add(1)
		inf.opts.OnError(res.err)
		if res.progressed {
			delay = inf.opts.InitialBackoff
		}
		// Only RESOURCE_EXHAUSTED, UNAUTHENTICATED (the token expired; the next call sends the
		// re-read one) and PERMISSION_DENIED (access withdrawn) end a stream of a server that
		// still holds our position in its history; after anything else (a restart,
		// OUT_OF_RANGE) the store's versions are the one safe starting point.
		resumeRV = ""
		switch status.Code(res.err) {
		case codes.ResourceExhausted, codes.Unauthenticated, codes.PermissionDenied:
			resumeRV = res.resumeRV
		}
		wait := time.Duration(float64(delay) * (0.8 + 0.4*rand.Float64()))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		delay = min(2*delay, inf.opts.MaxBackoff)
	}
}

// subscribeResult is how one subscription ended.
type subscribeResult struct {
	err        error
	progressed bool   // at least one event arrived
	resumeRV   string // where to resume by resource_version; "" when unknown
}

// resumeTrailer is the trailing metadata in which a RESOURCE_EXHAUSTED subscription names the
// last position it delivered.
const resumeTrailer = "informer-resume-resource-version"

// subscribe runs one Subscribe call to its end: from resumeRV when set, else from the store's
// objects (fresh when it is empty).
func (inf *Informer) subscribe(ctx context.Context, resumeRV string) subscribeResult {
	req := &informerv1.SubscribeRequest{
		Resource: inf.resource, Namespace: inf.opts.Namespace,
		LabelSelector: inf.opts.LabelSelector, FieldSelector: inf.opts.FieldSelector,
		Fields: inf.opts.Fields, WaitForSync: inf.opts.WaitForSync,
	}
	// Until SYNCED of a fresh or known_objects start no position is complete (the contract
	// sends none); a resume-by-version stream is positioned from its first event.
	positioned := resumeRV != ""
	if positioned {
		req.ResourceVersion = resumeRV
		inf.stats.rv.Add(1)
	} else if known := inf.store.versions(); len(known) > 0 {
		req.KnownObjects = known
		inf.stats.known.Add(1)
	} else {
		inf.stats.fresh.Add(1)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := inf.client.rpc.Subscribe(ctx, req)
	if err != nil {
		return subscribeResult{err: err}
	}
	wd := newWatchdogStream(stream, cancel, inf.opts.SilenceTimeout, &inf.announced)
	defer wd.stop()
	res := subscribeResult{resumeRV: resumeRV}
	for {
		ev, err := wd.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = status.Error(codes.Unavailable, "informerd ended the subscription")
			}
			res.err = err
			if v := stream.Trailer().Get(resumeTrailer); len(v) > 0 && v[0] != "" {
				res.resumeRV = v[0]
			} else if status.Code(err) == codes.ResourceExhausted {
				// Ended without a position: it left the server's history ring, so a resume by
				// resource_version would only get OUT_OF_RANGE. Resume with known_objects.
				res.resumeRV = ""
			}
			if !positioned {
				res.resumeRV = ""
			}
			return res
		}
		res.progressed = true
		inf.stats.events.Add(1)
		inf.apply(ev)
		if ev.GetType() == informerv1.EventType_EVENT_TYPE_SYNCED {
			positioned = true
		}
		if positioned && ev.GetResourceVersion() != "" {
			res.resumeRV = ev.GetResourceVersion()
		}
	}
}

// apply brings one event into the store and tells the handlers. Changes the store already
// holds (same or newer resourceVersion, deletion of an absent key) are dropped, so a resumed
// stream never repeats an event.
func (inf *Informer) apply(ev *informerv1.SubscribeResponse) {
	inf.deliverMu.Lock()
	defer inf.deliverMu.Unlock()
	switch ev.GetType() {
	case informerv1.EventType_EVENT_TYPE_ADDED, informerv1.EventType_EVENT_TYPE_MODIFIED:
		obj := FromProto(ev.GetObject())
		if obj == nil {
			return
		}
		old, exists := inf.store.GetByKey(obj.Key())
		if exists && !rvNewer(obj.ResourceVersion, old.ResourceVersion) {
			return
		}
		inf.store.put(obj)
		initial := !inf.synced.Load()
		for _, r := range inf.handlers {
			if exists {
				r.handler.OnUpdate(old, obj)
			} else {
				r.handler.OnAdd(obj, initial)
			}
		}
	case informerv1.EventType_EVENT_TYPE_DELETED:
		obj := FromProto(ev.GetObject())
		if obj == nil {
			return
		}
		key := obj.Key()
		old, exists := inf.store.GetByKey(key)
		if !exists {
			return
		}
		inf.store.remove(key)
		var arg any = obj
		if ev.GetFinalStateUnknown() {
			arg = DeletedFinalStateUnknown{Key: key, Obj: old}
		}
		for _, r := range inf.handlers {
			r.handler.OnDelete(arg)
		}
	case informerv1.EventType_EVENT_TYPE_SYNCED:
		inf.synced.Store(true)
	}
}

// WaitForCacheSync waits until every function returns true (pass informers' HasSynced) or ctx
// is done; it reports whether they all synced.
func WaitForCacheSync(ctx context.Context, synced ...func() bool) bool {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		all := true
		for _, f := range synced {
			all = all && f()
		}
		if all {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}
