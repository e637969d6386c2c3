package informer

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimiter decides how long an item waits before it is retried (client-go's
// workqueue.TypedRateLimiter).
//
// Deprecated: use client-go's k8s.io/client-go/util/workqueue (workqueue.TypedRateLimiter), which this copies; it is
// kept so existing code builds.
type RateLimiter[T comparable] interface {
	// When returns how long item should wait now, counting this as one more failure.
	When(item T) time.Duration
	// Forget clears item's failure history (call it when the item succeeded).
	Forget(item T)
	// NumRequeues is how many failures item has had since it was last forgotten.
	NumRequeues(item T) int
}

// ItemExponentialFailureRateLimiter waits base * 2^failures per item, capped at max.
type ItemExponentialFailureRateLimiter[T comparable] struct {
	mu       sync.Mutex
	failures map[T]int
	base     time.Duration
	max      time.Duration
}

// NewItemExponentialFailureRateLimiter returns a per-item exponential limiter.
func NewItemExponentialFailureRateLimiter[T comparable](base, max time.Duration) *ItemExponentialFailureRateLimiter[T] {
	return &ItemExponentialFailureRateLimiter[T]{failures: map[T]int{}, base: base, max: max}
}

// When implements RateLimiter.
func (r *ItemExponentialFailureRateLimiter[T]) When(item T) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	exp := r.failures[item]
	r.failures[item] = exp + 1
	backoff := float64(r.base) * math.Pow(2, float64(exp))
	if backoff > float64(r.max) {
		return r.max
	}
	return time.Duration(backoff)
}

// Forget implements RateLimiter.
func (r *ItemExponentialFailureRateLimiter[T]) Forget(item T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.failures, item)
}

// NumRequeues implements RateLimiter.
func (r *ItemExponentialFailureRateLimiter[T]) NumRequeues(item T) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failures[item]
}

// BucketRateLimiter spaces all items by one token bucket (qps, burst), whatever their history.
type BucketRateLimiter[T comparable] struct{ Limiter *rate.Limiter }

// When implements RateLimiter.
func (r *BucketRateLimiter[T]) When(T) time.Duration { return r.Limiter.Reserve().Delay() }

// Forget implements RateLimiter.
func (r *BucketRateLimiter[T]) Forget(T) {}

// NumRequeues implements RateLimiter.
func (r *BucketRateLimiter[T]) NumRequeues(T) int { return 0 }

// MaxOfRateLimiter waits the longest of its limiters.
type MaxOfRateLimiter[T comparable] struct{ limiters []RateLimiter[T] }

// NewMaxOfRateLimiter combines limiters.
func NewMaxOfRateLimiter[T comparable](limiters ...RateLimiter[T]) *MaxOfRateLimiter[T] {
	return &MaxOfRateLimiter[T]{limiters: limiters}
}

// When implements RateLimiter.
func (r *MaxOfRateLimiter[T]) When(item T) time.Duration {
	var d time.Duration
	for _, l := range r.limiters {
		d = max(d, l.When(item))
	}
	return d
}

// Forget implements RateLimiter.
func (r *MaxOfRateLimiter[T]) Forget(item T) {
	for _, l := range r.limiters {
		l.Forget(item)
	}
}

// NumRequeues implements RateLimiter.
func (r *MaxOfRateLimiter[T]) NumRequeues(item T) int {
	n := 0
	for _, l := range r.limiters {
		n = max(n, l.NumRequeues(item))
	}
	return n
}

// DefaultControllerRateLimiter is client-go's default: per item 5 ms doubling to 1000 s, and
// overall 10 qps with bursts of 100.
//
// Deprecated: use client-go's k8s.io/client-go/util/workqueue (workqueue.DefaultTypedControllerRateLimiter), which this copies; it is
// kept so existing code builds.
func DefaultControllerRateLimiter[T comparable]() RateLimiter[T] {
	return NewMaxOfRateLimiter[T](
		NewItemExponentialFailureRateLimiter[T](5*time.Millisecond, 1000*time.Second),
		&BucketRateLimiter[T]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
	)
}

// RateLimitingQueue is client-go's rate-limited work queue: an item (a key) is queued at most
// once however often it is added, is handed to one worker at a time (added again while being
// processed, it is queued again once Done), and can be retried after a delay that grows with
// its failures. Safe for concurrent use.
//
// Deprecated: use client-go's k8s.io/client-go/util/workqueue (workqueue.NewTypedRateLimitingQueue), which this copies; it is
// kept so existing code builds.
type RateLimitingQueue[T comparable] struct {
	limiter RateLimiter[T]

	mu           sync.Mutex
	cond         *sync.Cond
	queue        []T
	dirty        map[T]struct{}  // queued, or to be queued again when Done
	processing   map[T]struct{}  // handed out by Get, not yet Done
	waiting      map[T]time.Time // AddAfter: the earliest time each item is due
	timers       map[*time.Timer]struct{}
	shuttingDown bool
}

// NewRateLimitingQueue returns an empty queue retrying with limiter.
//
// Deprecated: use client-go's k8s.io/client-go/util/workqueue (workqueue.NewTypedRateLimitingQueue), which this copies; it is
// kept so existing code builds.
func NewRateLimitingQueue[T comparable](limiter RateLimiter[T]) *RateLimitingQueue[T] {
	q := &RateLimitingQueue[T]{
		limiter: limiter, dirty: map[T]struct{}{}, processing: map[T]struct{}{},
		waiting: map[T]time.Time{}, timers: map[*time.Timer]struct{}{},
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add queues item unless it is already queued; ignored after ShutDown.
func (q *RateLimitingQueue[T]) Add(item T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(item)
}

func (q *RateLimitingQueue[T]) addLocked(item T) {
	if q.shuttingDown {
		return
	}
	if _, ok := q.dirty[item]; ok {
		return
	}
	q.dirty[item] = struct{}{}
	if _, ok := q.processing[item]; ok {
		return
	}
	q.queue = append(q.queue, item)
	q.cond.Signal()
}

// AddAfter queues item once d has passed (at once when d <= 0). Of several pending delays for
// one item, the earliest wins.
func (q *RateLimitingQueue[T]) AddAfter(item T, d time.Duration) {
	if d <= 0 {
		q.Add(item)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shuttingDown {
		return
	}
	due := time.Now().Add(d)
	if prev, ok := q.waiting[item]; ok && !due.Before(prev) {
		return
	}
	q.waiting[item] = due
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		delete(q.timers, t)
		if got, ok := q.waiting[item]; ok && got.Equal(due) {
			delete(q.waiting, item)
			q.addLocked(item)
		}
	})
	q.timers[t] = struct{}{}
}

// AddRateLimited queues item after the limiter's delay for it (one more failure).
func (q *RateLimitingQueue[T]) AddRateLimited(item T) { q.AddAfter(item, q.limiter.When(item)) }

// Forget clears item's failure history; call it when item was processed successfully.
func (q *RateLimitingQueue[T]) Forget(item T) { q.limiter.Forget(item) }

// NumRequeues is how many times item was rate-limited since it was last forgotten.
func (q *RateLimitingQueue[T]) NumRequeues(item T) int { return q.limiter.NumRequeues(item) }

// Get blocks until an item is available and hands it out; the caller must call Done(item)
// when finished. shutdown is true (and item the zero value) once the queue is shut down and
// empty.
func (q *RateLimitingQueue[T]) Get() (item T, shutdown bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.queue) == 0 && !q.shuttingDown {
		q.cond.Wait()
	}
	if len(q.queue) == 0 {
		return item, true
	}
	item = q.queue[0]
	var zero T
	q.queue[0] = zero
	q.queue = q.queue[1:]
	q.processing[item] = struct{}{}
	delete(q.dirty, item)
	return item, false
}

// Done marks item as processed; if it was added meanwhile, it is queued again.
func (q *RateLimitingQueue[T]) Done(item T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, item)
	if _, ok := q.dirty[item]; ok {
		q.queue = append(q.queue, item)
		q.cond.Signal()
	}
}

// Len is the number of items queued (not those processing or waiting for a delay).
func (q *RateLimitingQueue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queue)
}

// ShutDown makes Get return shutdown=true once the queue is empty, drops pending delays and
// ignores later adds. Items already queued are still handed out.
func (q *RateLimitingQueue[T]) ShutDown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shuttingDown = true
	for t := range q.timers {
		t.Stop()
	}
	q.timers = map[*time.Timer]struct{}{}
	q.waiting = map[T]time.Time{}
	q.cond.Broadcast()
}

// ShuttingDown reports whether ShutDown was called.
func (q *RateLimitingQueue[T]) ShuttingDown() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.shuttingDown
}
