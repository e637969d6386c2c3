"""A rate-limited, de-duplicating work queue, as client-go's util/workqueue."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Deque, Dict, Generic, Hashable, List, Optional, Protocol, Set, TypeVar

T = TypeVar("T", bound=Hashable)


class ShutDown(Exception):
    """RateLimitingQueue.get: the queue was shut down and is empty."""


class RateLimiter(Protocol[T]):  # type: ignore[misc]
    """Decides how long an item waits before it is retried."""

    def when(self, item: T) -> float:
        """Seconds item should wait now, counting this as one more failure."""
        ...

    def forget(self, item: T) -> None:
        """Clears item's failure history."""
        ...

    def num_requeues(self, item: T) -> int:
        """Failures of item since it was last forgotten."""
        ...


class ItemExponentialFailureRateLimiter(Generic[T]):
    """Waits base * 2**failures per item, capped at max_delay."""

    def __init__(self, base: float = 0.005, max_delay: float = 1000.0) -> None:
        self._lock = threading.Lock()
        self._failures: Dict[T, int] = {}
        self._base, self._max = base, max_delay

    def when(self, item: T) -> float:
        with self._lock:
            exp = self._failures.get(item, 0)
            self._failures[item] = exp + 1
        return float(min(self._base * 2.0**exp, self._max))

    def forget(self, item: T) -> None:
        with self._lock:
            self._failures.pop(item, None)

    def num_requeues(self, item: T) -> int:
        with self._lock:
            return self._failures.get(item, 0)


class BucketRateLimiter(Generic[T]):
    """Spaces every item by one token bucket of `qps` refilled tokens, `burst` deep."""

    def __init__(self, qps: float = 10.0, burst: int = 100) -> None:
        self._lock = threading.Lock()
        self._qps, self._burst = qps, float(burst)
        self._tokens = float(burst)
        self._last = time.monotonic()

    def when(self, item: T) -> float:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._qps)
            self._last = now
            self._tokens -= 1.0  # reserve, possibly into debt, as golang.org/x/time/rate
            return 0.0 if self._tokens >= 0 else -self._tokens / self._qps

    def forget(self, item: T) -> None:
        pass

    def num_requeues(self, item: T) -> int:
        return 0


class MaxOfRateLimiter(Generic[T]):
    """Waits the longest of its limiters."""

    def __init__(self, *limiters: "RateLimiter[T]") -> None:
        self._limiters = limiters

    def when(self, item: T) -> float:
        return max(limiter.when(item) for limiter in self._limiters)

    def forget(self, item: T) -> None:
        for limiter in self._limiters:
            limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return max(limiter.num_requeues(item) for limiter in self._limiters)


def default_controller_rate_limiter() -> "MaxOfRateLimiter[T]":
    """client-go's default: per item 5 ms doubling to 1000 s, overall 10 qps, bursts of 100."""
    return MaxOfRateLimiter(ItemExponentialFailureRateLimiter(0.005, 1000.0), BucketRateLimiter(10.0, 100))


class RateLimitingQueue(Generic[T]):
    """client-go's rate-limited work queue: an item (a key) is queued at most once however often
    it is added, is handed to one worker at a time (added again while processed, it is queued
    again once done), and can be retried after a delay that grows with its failures. Thread-safe.

    A worker loops: ``key = q.get()``, process, then ``q.forget(key)`` on success or
    ``q.add_rate_limited(key)`` on failure, and always ``q.done(key)``.
    """

    def __init__(self, rate_limiter: "Optional[RateLimiter[T]]" = None) -> None:
        self._limiter: RateLimiter[T] = rate_limiter or default_controller_rate_limiter()
        self._cond = threading.Condition()
        self._queue: Deque[T] = deque()
        self._dirty: Set[T] = set()  # queued, or to be queued again when done
        self._processing: Set[T] = set()  # handed out by get, not yet done
        self._waiting: Dict[T, float] = {}  # add_after: the earliest monotonic time each is due
        self._timers: List[threading.Timer] = []
        self._shutting_down = False

    def add(self, item: T) -> None:
        """Queues item unless it is already queued; ignored after shut_down."""
        with self._cond:
            self._add_locked(item)

    def _add_locked(self, item: T) -> None:
        if self._shutting_down or item in self._dirty:
            return
        self._dirty.add(item)
        if item in self._processing:
            return
        self._queue.append(item)
        self._cond.notify()

    def add_after(self, item: T, delay: float) -> None:
        """Queues item once delay seconds have passed (at once when <= 0); of several pending
        delays for one item the earliest wins."""
        if delay <= 0:
            self.add(item)
            return
        with self._cond:
            if self._shutting_down:
                return
            due = time.monotonic() + delay
            prev = self._waiting.get(item)
            if prev is not None and prev <= due:
                return
            self._waiting[item] = due
            timer = threading.Timer(delay, self._fire, (item, due))
            timer.daemon = True
            self._timers.append(timer)
            timer.start()

    def _fire(self, item: T, due: float) -> None:
        with self._cond:
            self._timers = [t for t in self._timers if t.is_alive() and t is not threading.current_thread()]
            if self._waiting.get(item) == due:
                del self._waiting[item]
                self._add_locked(item)

    def add_rate_limited(self, item: T) -> None:
        """Queues item after the rate limiter's delay for it (one more failure)."""
        self.add_after(item, self._limiter.when(item))

    def forget(self, item: T) -> None:
        """Clears item's failure history; call it when item was processed successfully."""
        self._limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        """How often item was rate-limited since it was last forgotten."""
        return self._limiter.num_requeues(item)

    def get(self, timeout: Optional[float] = None) -> T:
        """Blocks until an item is available and hands it out; call done(item) when finished.
        Raises ShutDown once the queue is shut down and empty, TimeoutError after timeout
        seconds without an item."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._queue or self._shutting_down, timeout):
                raise TimeoutError("no item")
            if not self._queue:
                raise ShutDown()
            item = self._queue.popleft()
            self._processing.add(item)
            self._dirty.discard(item)
            return item

    def done(self, item: T) -> None:
        """Marks item processed; if it was added meanwhile, it is queued again."""
        with self._cond:
            self._processing.discard(item)
            if item in self._dirty:
                self._queue.append(item)
                self._cond.notify()

    def __len__(self) -> int:
        """Items queued (not those being processed or waiting for a delay)."""
        with self._cond:
            return len(self._queue)

    def shut_down(self) -> None:
        """Makes get raise ShutDown once the queue is empty, drops pending delays and ignores
        later adds. Items already queued are still handed out."""
        with self._cond:
            self._shutting_down = True
            for t in self._timers:
                t.cancel()
            self._timers.clear()
            self._waiting.clear()
            self._cond.notify_all()

    def shutting_down(self) -> bool:
        """Whether shut_down was called."""
        with self._cond:
            return self._shutting_down
