"""An asyncio rate-limited, de-duplicating work queue with informerd.RateLimitingQueue's
semantics."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Deque, Dict, Generic, Hashable, Optional, Set, TypeVar

from informerd.workqueue import RateLimiter, ShutDown, default_controller_rate_limiter

T = TypeVar("T", bound=Hashable)


class RateLimitingQueue(Generic[T]):
    """client-go's rate-limited work queue for asyncio workers: an item (a key) is queued at
    most once however often it is added, is handed to one worker at a time (added again while
    processed, it is queued again once done), and can be retried after a delay that grows with
    its failures. Use it from one event loop (the one running when it is first used); only
    get() waits.

    A worker loops: ``key = await q.get()``, process, then ``q.forget(key)`` on success or
    ``q.add_rate_limited(key)`` on failure, and always ``q.done(key)``.
    """

    def __init__(self, rate_limiter: "Optional[RateLimiter[T]]" = None) -> None:
        self._limiter: RateLimiter[T] = rate_limiter or default_controller_rate_limiter()
        self._queue: Deque[T] = deque()
        self._dirty: Set[T] = set()  # queued, or to be queued again when done
        self._processing: Set[T] = set()  # handed out by get, not yet done
        self._waiting: Dict[T, asyncio.TimerHandle] = {}  # add_after: pending timer per item
        self._due: Dict[T, float] = {}  # add_after: the earliest monotonic time each is due
        self._getters: Deque["asyncio.Future[None]"] = deque()
        self._shutting_down = False

    def add(self, item: T) -> None:
        """Queues item unless it is already queued; ignored after shut_down."""
        if self._shutting_down or item in self._dirty:
            return
        self._dirty.add(item)
        if item in self._processing:
            return
        self._queue.append(item)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._getters:
            f = self._getters.popleft()
            if not f.done():
                f.set_result(None)
                return

    def add_after(self, item: T, delay: float) -> None:
        """Queues item once delay seconds have passed (at once when <= 0); of several pending
        delays for one item the earliest wins."""
        if delay <= 0:
            self.add(item)
            return
        if self._shutting_down:
            return
        due = time.monotonic() + delay
        prev = self._due.get(item)
        if prev is not None and prev <= due:
            return
        if item in self._waiting:
            self._waiting[item].cancel()
        self._due[item] = due
        self._waiting[item] = asyncio.get_running_loop().call_later(delay, self._fire, item)

    def _fire(self, item: T) -> None:
        self._waiting.pop(item, None)
        self._due.pop(item, None)
        self.add(item)

    def add_rate_limited(self, item: T) -> None:
        """Queues item after the rate limiter's delay for it (one more failure)."""
        self.add_after(item, self._limiter.when(item))

    def forget(self, item: T) -> None:
        """Clears item's failure history; call it when item was processed successfully."""
        self._limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        """How often item was rate-limited since it was last forgotten."""
        return self._limiter.num_requeues(item)

    async def get(self, timeout: Optional[float] = None) -> T:
        """Waits until an item is available and hands it out; call done(item) when finished.
        Raises ShutDown once the queue is shut down and empty, TimeoutError after timeout
        seconds without an item."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._queue and not self._shutting_down:
            f: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()
            self._getters.append(f)
            try:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                await asyncio.wait_for(f, left)
            except asyncio.TimeoutError:
                raise TimeoutError("no item") from None
            except asyncio.CancelledError:
                if f.done() and not f.cancelled() and self._queue:
                    self._wake_one()  # pass on the wakeup this getter no longer uses
                raise
        if not self._queue:
            raise ShutDown()
        item = self._queue.popleft()
        self._processing.add(item)
        self._dirty.discard(item)
        if self._queue:
            self._wake_one()  # a wakeup this getter consumed may belong to another item
        return item

    def done(self, item: T) -> None:
        """Marks item processed; if it was added meanwhile, it is queued again."""
        self._processing.discard(item)
        if item in self._dirty:
            self._queue.append(item)
            self._wake_one()

    def __len__(self) -> int:
        """Items queued (not those being processed or waiting for a delay)."""
        return len(self._queue)

    def shut_down(self) -> None:
        """Makes get raise ShutDown once the queue is empty, drops pending delays and ignores
        later adds. Items already queued are still handed out."""
        self._shutting_down = True
        for h in self._waiting.values():
            h.cancel()
        self._waiting.clear()
        self._due.clear()
        while self._getters:
            f = self._getters.popleft()
            if not f.done():
                f.set_result(None)

    def shutting_down(self) -> bool:
        """Whether shut_down was called."""
        return self._shutting_down
