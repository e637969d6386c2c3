package informer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"

	informerv1 "informerd.dev/clients/go/informerv1"
)

// Decoding says into which Go types a ListerWatcher turns informerd's objects.
type Decoding int

const (
	// Typed decodes through the scheme into its registered type (e.g. *corev1.ConfigMap), and
	// into unstructured.Unstructured when the scheme does not know the kind (a CRD).
	Typed Decoding = iota
	// Unstructured always decodes into *unstructured.Unstructured (lists:
	// *unstructured.UnstructuredList), as client-go's dynamic client does.
	Unstructured
	// Metadata decodes into *metav1.PartialObjectMetadata, as client-go's metadata client does.
	Metadata
)

// ListerWatcherOptions say what a ListerWatcher follows and how it decodes.
type ListerWatcherOptions struct {
	// Namespace limits the lists and watches to one namespace; empty = all.
	Namespace string
	// LabelSelector and FieldSelector filter (Kubernetes syntax); the selectors the caller's
	// metav1.ListOptions carry are added to them.
	LabelSelector string
	FieldSelector string
	// Scheme decodes typed objects; default client-go's scheme.Scheme.
	Scheme *runtime.Scheme
	// Decoding: Typed (default), Unstructured or Metadata.
	Decoding Decoding
	// SilenceTimeout is how long a watch may receive nothing before it ends (so the reflector
	// watches again, on another address when the Client has several) when no stream announced
	// a bookmark interval; when one did, the limit is two intervals. Default 60 s.
	SilenceTimeout time.Duration
}

// ListerWatcher is client-go's cache.ListerWatcherWithContext over informerd, so that
// client-go's own machinery (cache.NewSharedIndexInformer, listers, workqueue, and
// controller-runtime's cache; see NewInformerFunc) runs unchanged with informerd as its source
// instead of the API server:
//
//	lw := informer.NewListerWatcher(c, "configmaps", informer.ListerWatcherOptions{})
//	inf := cache.NewSharedIndexInformer(lw, &corev1.ConfigMap{}, 0, cache.Indexers{})
//
// LIST reads informerd's List a page at a time (Limit and Continue are page size and page
// token; an expired page token is the API server's 410 Expired). WATCH is a Subscribe: from
// ResourceVersion when the reflector resumes, fresh otherwise; a stream that cannot resume
// (OUT_OF_RANGE, ABORTED) ends the watch with 410 Expired, so the reflector relists exactly as
// with the API server. BOOKMARKs pass through with their resourceVersion, and a streaming list
// (SendInitialEvents, as client-go's reflector requests by default) is a fresh Subscribe whose
// SYNCED becomes the bookmark annotated k8s.io/initial-events-end. Events of one group
// (informer.v1's relist or coalesced changes, which share a position) are handed over together
// once the group closes, followed by a bookmark at the stream's position, so the resourceVersion
// the reflector resumes from is always a complete position.
//
// A watch ends (and the reflector watches again from its last resourceVersion) when the stream
// breaks or falls silent for two bookmark intervals. Safe for concurrent use.
type ListerWatcher struct {
	client   *Client
	resource string
	gvk      schema.GroupVersionKind // zero until resolved, unless given
	opts     ListerWatcherOptions
	codecs   serializer.CodecFactory

	mu       sync.Mutex
	resolved *informerv1.ResourceStatus
	// announced is the bookmark interval (ns) the last watch's stream announced.
	announced atomic.Int64
}

var (
	_ cache.ListerWatcherWithContext = (*ListerWatcher)(nil)
	_ cache.ListerWatcher            = (*ListerWatcher)(nil)
)

// List is ListWithContext without a context, for client-go's constructors that take the older
// cache.ListerWatcher (they call the WithContext methods).
func (lw *ListerWatcher) List(options metav1.ListOptions) (runtime.Object, error) {
	return lw.ListWithContext(context.Background(), options)
}

// Watch is WatchWithContext without a context (see List).
func (lw *ListerWatcher) Watch(options metav1.ListOptions) (watch.Interface, error) {
	return lw.WatchWithContext(context.Background(), options)
}

// NewListerWatcher returns a ListerWatcher of resource (kubectl-style, as informer.New takes it);
// the kind of its objects is looked up with ListResources on first use.
func NewListerWatcher(c *Client, resource string, opts ListerWatcherOptions) *ListerWatcher {
	if opts.Scheme == nil {
		opts.Scheme = scheme.Scheme
	}
	return &ListerWatcher{client: c, resource: resource, opts: opts, codecs: serializer.NewCodecFactory(opts.Scheme)}
}

// NewListerWatcherForKind returns a ListerWatcher of the resource informerd caches for gvk
// (looked up with ListResources on first use; NotFound when informerd caches no such kind).
func NewListerWatcherForKind(c *Client, gvk schema.GroupVersionKind, opts ListerWatcherOptions) *ListerWatcher {
	lw := NewListerWatcher(c, "", opts)
	lw.gvk = gvk
	return lw
}

// resolve finds the resource in informerd's ListResources, once.
func (lw *ListerWatcher) resolve(ctx context.Context) (*informerv1.ResourceStatus, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.resolved != nil {
		return lw.resolved, nil
	}
	all, err := lw.client.ListResources(ctx)
	if err != nil {
		return nil, toAPIError(err, lw.resource)
	}
	for _, r := range all {
		if lw.matches(r) {
			lw.resolved = r
			return r, nil
		}
	}
	what := lw.resource
	if what == "" {
		what = lw.gvk.String()
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: what}, "informerd does not cache this resource")
}

// matches says whether r is the resource this ListerWatcher names.
func (lw *ListerWatcher) matches(r *informerv1.ResourceStatus) bool {
	if lw.resource == "" {
		return r.GetGroup() == lw.gvk.Group && r.GetVersion() == lw.gvk.Version && r.GetKind() == lw.gvk.Kind
	}
	names := []string{r.GetName(), r.GetResource() + "." + r.GetVersion() + "." + r.GetGroup()}
	if r.GetGroup() == "" {
		names = append(names, r.GetResource(), r.GetResource()+"."+r.GetVersion())
	} else {
		names = append(names, r.GetResource()+"."+r.GetGroup())
	}
	for _, n := range names {
		if strings.EqualFold(n, lw.resource) {
			return true
		}
	}
	return false
}

// gvkOf is the GroupVersionKind of r's objects.
func gvkOf(r *informerv1.ResourceStatus) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: r.GetGroup(), Version: r.GetVersion(), Kind: r.GetKind()}
}

// decode turns one of r's objects into the configured Go type.
func (lw *ListerWatcher) decode(r *informerv1.ResourceStatus, o *informerv1.Object) (runtime.Object, error) {
	data := []byte(o.GetJson())
	gvk := gvkOf(r)
	if lw.opts.Decoding == Metadata {
		pom := &metav1.PartialObjectMetadata{}
		if err := json.Unmarshal(data, pom); err != nil {
			return nil, err
		}
		pom.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("PartialObjectMetadata"))
		return pom, nil
	}
	// A resource cached as metadata only (projection "metadata") holds PartialObjectMetadata,
	// not the kind's type: it decodes as unstructured unless Decoding is Metadata.
	if lw.opts.Decoding == Typed && r.GetProjection() != "metadata" && lw.opts.Scheme.Recognizes(gvk) {
		into, err := lw.opts.Scheme.New(gvk)
		if err != nil {
			return nil, err
		}
		obj, _, err := lw.codecs.UniversalDeserializer().Decode(data, &gvk, into)
		return obj, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		return nil, err
	}
	return u, nil
}

// newList returns an empty list object for r's objects.
func (lw *ListerWatcher) newList(r *informerv1.ResourceStatus) runtime.Object {
	gvk := gvkOf(r)
	switch {
	case lw.opts.Decoding == Metadata:
		l := &metav1.PartialObjectMetadataList{}
		l.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("PartialObjectMetadataList"))
		return l
	case lw.opts.Decoding == Typed && r.GetProjection() != "metadata" && lw.opts.Scheme.Recognizes(gvk):
		if l, err := lw.opts.Scheme.New(gvk.GroupVersion().WithKind(gvk.Kind + "List")); err == nil {
			return l
		}
	}
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	return l
}

// newEmpty returns an object of r's Go type holding only resourceVersion and annotations: what
// a bookmark carries.
func (lw *ListerWatcher) newEmpty(r *informerv1.ResourceStatus, rv string, annotations map[string]string) runtime.Object {
	gvk := gvkOf(r)
	var obj runtime.Object
	switch {
	case lw.opts.Decoding == Metadata:
		obj = &metav1.PartialObjectMetadata{}
		gvk = metav1.SchemeGroupVersion.WithKind("PartialObjectMetadata")
	case lw.opts.Decoding == Typed && r.GetProjection() != "metadata" && lw.opts.Scheme.Recognizes(gvk):
		obj, _ = lw.opts.Scheme.New(gvk)
	}
	if obj == nil {
		obj = &unstructured.Unstructured{Object: map[string]any{}}
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	m, _ := meta.Accessor(obj)
	m.SetResourceVersion(rv)
	if annotations != nil {
		m.SetAnnotations(annotations)
	}
	return obj
}

// join adds the caller's selector to the configured one (both must hold).
func join(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "," + b
}

// ListWithContext returns the resource as a list object of its Go type (e.g.
// *corev1.ConfigMapList) carrying the snapshot's resourceVersion: one page of options.Limit
// objects with the Continue token of the next (as client-go's pager asks), or, with Limit 0,
// every object (as the API server answers an unpaged list). options.ResourceVersion is not
// needed: informerd answers from its cache (as the API server does for "0"). Errors are the API
// server's (NotFound, BadRequest, ServiceUnavailable, 410 Expired for an expired Continue token).
func (lw *ListerWatcher) ListWithContext(ctx context.Context, options metav1.ListOptions) (runtime.Object, error) {
	r, err := lw.resolve(ctx)
	if err != nil {
		return nil, err
	}
	req := &informerv1.ListRequest{
		Resource: r.GetName(), Namespace: lw.opts.Namespace,
		LabelSelector: join(lw.opts.LabelSelector, options.LabelSelector),
		FieldSelector: join(lw.opts.FieldSelector, options.FieldSelector),
		Limit:         int32(min(options.Limit, 10000)), PageToken: options.Continue,
	}
	var items []runtime.Object
	var resp *informerv1.ListResponse
	for restarts := 0; ; {
		resp, err = lw.client.rpc.List(ctx, req)
		if err != nil {
			if status.Code(err) == codes.Aborted && options.Limit == 0 && options.Continue == "" && restarts < maxListRestarts {
				// Our own paging's snapshot expired: start the whole list over.
				restarts++
				items, req.PageToken = nil, ""
				continue
			}
			return nil, toAPIError(err, r.GetResource())
		}
		for _, o := range resp.GetObjects() {
			obj, err := lw.decode(r, o)
			if err != nil {
				return nil, apierrors.NewInternalError(fmt.Errorf("decoding %s/%s: %w", o.GetNamespace(), o.GetName(), err))
			}
			items = append(items, obj)
		}
		if options.Limit != 0 || resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	list := lw.newList(r)
	if err := meta.SetList(list, items); err != nil {
		return nil, err
	}
	lm, err := meta.ListAccessor(list)
	if err != nil {
		return nil, err
	}
	lm.SetResourceVersion(resp.GetResourceVersion())
	lm.SetContinue(resp.GetNextPageToken())
	if resp.GetNextPageToken() != "" {
		remaining := resp.GetTotalCount() - int64(len(items))
		lm.SetRemainingItemCount(&remaining)
	}
	return list, nil
}

// WatchWithContext starts a Subscribe and returns it as a watch.Interface: from
// options.ResourceVersion when set (other than "0"), else fresh (ADDED for every object, then,
// with SendInitialEvents, the initial-events-end bookmark). Errors of the stream arrive as a
// watch.Error event (410 Expired when the position cannot be resumed) or as the end of the
// result channel (a broken or silent stream: watch again). A streaming list's
// ResourceVersionMatch=NotOlderThan is not enforced: Subscribe has no minimum version, so the
// initial state is informerd's current cut, which a lagging replica may hold older than the
// requested version.
func (lw *ListerWatcher) WatchWithContext(ctx context.Context, options metav1.ListOptions) (watch.Interface, error) {
	r, err := lw.resolve(ctx)
	if err != nil {
		return nil, err
	}
	req := &informerv1.SubscribeRequest{
		Resource: r.GetName(), Namespace: lw.opts.Namespace,
		LabelSelector: join(lw.opts.LabelSelector, options.LabelSelector),
		FieldSelector: join(lw.opts.FieldSelector, options.FieldSelector),
	}
	streaming := options.SendInitialEvents != nil && *options.SendInitialEvents
	if !streaming && options.ResourceVersion != "" && options.ResourceVersion != "0" {
		req.ResourceVersion = options.ResourceVersion
	}
	sctx, cancel := context.WithCancel(ctx)
	stream, err := lw.client.rpc.Subscribe(sctx, req)
	if err != nil {
		cancel()
		return nil, toAPIError(err, r.GetResource())
	}
	w := &streamWatch{
		lw: lw, res: r, cancel: cancel, ctx: sctx, out: make(chan watch.Event),
		bookmarks: options.AllowWatchBookmarks, streaming: streaming, last: req.ResourceVersion,
	}
	go w.run(newWatchdogStream(stream, cancel, lw.opts.SilenceTimeout, &lw.announced))
	return w, nil
}

// streamWatch is one Subscribe as a watch.Interface.
type streamWatch struct {
	lw        *ListerWatcher
	res       *informerv1.ResourceStatus
	ctx       context.Context
	cancel    context.CancelFunc
	out       chan watch.Event
	bookmarks bool   // the caller accepts bookmarks
	streaming bool   // SendInitialEvents: SYNCED becomes the initial-events-end bookmark
	last      string // the position of the last event received
	group     []watch.Event
}

// Stop ends the watch; the result channel closes. Safe to call more than once.
func (w *streamWatch) Stop() { w.cancel() }

// ResultChan is the watch's events; closed when the watch ends.
func (w *streamWatch) ResultChan() <-chan watch.Event { return w.out }

// emit hands one event to the reader; false once the watch was stopped.
func (w *streamWatch) emit(e watch.Event) bool {
	select {
	case w.out <- e:
		return true
	case <-w.ctx.Done():
		return false
	}
}

// run translates the stream's events until it ends.
func (w *streamWatch) run(s *watchdogStream) {
	defer close(w.out)
	defer s.stop()
	defer w.cancel()
	for {
		ev, err := s.Recv()
		if err != nil {
			w.end(err)
			return
		}
		if !w.handle(ev) {
			return
		}
	}
}

// end reports how the stream ended: a position that cannot be resumed (OUT_OF_RANGE, ABORTED)
// as 410 Expired, so the reflector relists; a request informerd rejects as its API error; a
// broken, silent, exhausted or cancelled stream by closing the channel, so the reflector
// watches again from its last resourceVersion.
func (w *streamWatch) end(err error) {
	if w.ctx.Err() != nil || err == io.EOF {
		return
	}
	switch status.Code(err) {
	case codes.OutOfRange, codes.Aborted, codes.InvalidArgument, codes.NotFound,
		codes.PermissionDenied, codes.Unauthenticated:
		apiErr := toAPIError(err, w.res.GetResource())
		if s, ok := apiErr.(apierrors.APIStatus); ok {
			st := s.Status()
			w.emit(watch.Event{Type: watch.Error, Object: &st})
		}
	}
}

// handle translates one SubscribeResponse; false once the watch was stopped.
func (w *streamWatch) handle(ev *informerv1.SubscribeResponse) bool {
	rv := ev.GetResourceVersion()
	var typ watch.EventType
	switch ev.GetType() {
	case informerv1.EventType_EVENT_TYPE_ADDED:
		typ = watch.Added
	case informerv1.EventType_EVENT_TYPE_MODIFIED:
		typ = watch.Modified
	case informerv1.EventType_EVENT_TYPE_DELETED:
		typ = watch.Deleted
	case informerv1.EventType_EVENT_TYPE_BOOKMARK:
		w.last = rv
		if !w.flush() {
			return false
		}
		return !w.bookmarks || w.emit(watch.Event{Type: watch.Bookmark, Object: w.lw.newEmpty(w.res, rv, nil)})
	case informerv1.EventType_EVENT_TYPE_SYNCED:
		w.last = rv
		if !w.flush() {
			return false
		}
		if w.streaming {
			return w.emit(watch.Event{Type: watch.Bookmark, Object: w.lw.newEmpty(w.res, rv,
				map[string]string{metav1.InitialEventsAnnotationKey: "true"})})
		}
		return !w.bookmarks || w.emit(watch.Event{Type: watch.Bookmark, Object: w.lw.newEmpty(w.res, rv, nil)})
	default:
		return true
	}
	obj, err := w.lw.decode(w.res, ev.GetObject())
	if err != nil {
		st := apierrors.NewInternalError(fmt.Errorf("decoding %s/%s: %w", ev.GetObject().GetNamespace(), ev.GetObject().GetName(), err)).Status()
		w.emit(watch.Event{Type: watch.Error, Object: &st})
		return false
	}
	e := watch.Event{Type: typ, Object: obj}
	if rv == "" {
		// An initial object of a fresh start: no position yet; SYNCED will carry it.
		return w.emit(e)
	}
	if rv == w.last {
		// Same position as the event before: a group, complete once an event with a newer
		// position closes it. Hold it until then, so the reflector never records a position
		// inside the group.
		w.group = append(w.group, e)
		return true
	}
	w.last = rv
	w.group = append(w.group, e)
	if !w.flush() {
		return false
	}
	// The reflector records each object's own resourceVersion; where the stream's position
	// differs (a relist or coalesced group, an inferred deletion), a bookmark moves it there.
	if m, err := meta.Accessor(obj); err == nil && m.GetResourceVersion() != rv && w.bookmarks {
		return w.emit(watch.Event{Type: watch.Bookmark, Object: w.lw.newEmpty(w.res, rv, nil)})
	}
	return true
}

// flush hands over the held group.
func (w *streamWatch) flush() bool {
	for _, e := range w.group {
		if !w.emit(e) {
			return false
		}
	}
	w.group = w.group[:0]
	return true
}

// toAPIError maps a gRPC status of informerd to the API server's error of the same meaning, so
// client-go reacts as it would to the API server: OUT_OF_RANGE and ABORTED (a position or page
// token too old) are 410 Expired.
func toAPIError(err error, resource string) error {
	gr := schema.GroupResource{Resource: resource}
	msg := status.Convert(err).Message()
	switch status.Code(err) {
	case codes.OutOfRange, codes.Aborted:
		return apierrors.NewResourceExpired("informerd: " + msg)
	case codes.NotFound:
		return apierrors.NewNotFound(gr, msg)
	case codes.InvalidArgument:
		return apierrors.NewBadRequest("informerd: " + msg)
	case codes.PermissionDenied:
		return apierrors.NewForbidden(gr, "", fmt.Errorf("informerd: %s", msg))
	case codes.Unauthenticated:
		return apierrors.NewUnauthorized("informerd: " + msg)
	case codes.ResourceExhausted:
		return apierrors.NewTooManyRequests("informerd: "+msg, 1)
	case codes.DeadlineExceeded:
		return apierrors.NewTimeoutError("informerd: "+msg, 1)
	case codes.Unavailable, codes.Canceled:
		return apierrors.NewServiceUnavailable("informerd: " + msg)
	}
	return apierrors.NewInternalError(err)
}
