"""RateLimitingQueue: de-duplication, one worker per item, delays, rate limits, shutdown."""

from __future__ import annotations

import threading
import time
from typing import List

import pytest

from informerd import ItemExponentialFailureRateLimiter, RateLimitingQueue, ShutDown
from informerd.workqueue import BucketRateLimiter


def test_queue_deduplicates_by_key() -> None:
    q: RateLimitingQueue[str] = RateLimitingQueue()
    q.add("a")
    q.add("b")
    q.add("a")
    assert len(q) == 2
    assert q.get() == "a"


def test_item_added_while_processing_is_queued_again_only_after_done() -> None:
    q: RateLimitingQueue[str] = RateLimitingQueue()
    q.add("a")
    item = q.get()
    q.add("a")
    q.add("a")
    assert len(q) == 0
    q.done(item)
    assert len(q) == 1
    q.done(q.get())
    assert len(q) == 0


def test_add_after_queues_once_the_delay_passed_and_earliest_wins() -> None:
    q: RateLimitingQueue[str] = RateLimitingQueue()
    start = time.monotonic()
    q.add_after("a", 3600)
    q.add_after("a", 0.02)
    assert len(q) == 0
    assert q.get(timeout=1) == "a"
    assert time.monotonic() - start >= 0.015
    q.done("a")
    time.sleep(0.03)
    assert len(q) == 0


def test_rate_limited_retries_grow_exponentially_until_forgotten() -> None:
    rl: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter(0.001, 0.008)
    assert [rl.when("a") for _ in range(5)] == [0.001, 0.002, 0.004, 0.008, 0.008]
    assert rl.num_requeues("a") == 5 and rl.when("b") == 0.001
    rl.forget("a")
    assert rl.num_requeues("a") == 0 and rl.when("a") == 0.001


def test_bucket_limiter_spaces_items_past_the_burst() -> None:
    rl: BucketRateLimiter[str] = BucketRateLimiter(qps=100, burst=2)
    delays = [rl.when("x") for _ in range(4)]
    assert delays[:2] == [0.0, 0.0]
    assert 0.005 < delays[2] <= 0.011 and 0.015 < delays[3] <= 0.021


def test_queue_add_rate_limited_counts_requeues() -> None:
    q: RateLimitingQueue[str] = RateLimitingQueue(ItemExponentialFailureRateLimiter(0.001, 1))
    q.add_rate_limited("a")
    q.add_rate_limited("a")
    assert q.num_requeues("a") == 2
    item = q.get(timeout=1)
    q.done(item)
    q.forget(item)
    assert q.num_requeues("a") == 0


def test_get_times_out() -> None:
    q: RateLimitingQueue[str] = RateLimitingQueue()
    with pytest.raises(TimeoutError):
        q.get(timeout=0.01)


def test_shut_down_releases_blocked_workers_after_draining() -> None:
    q: RateLimitingQueue[str] = RateLimitingQueue()
    q.add("a")
    q.add_after("late", 0.001)
    q.shut_down()
    assert q.get() == "a"
    released: List[bool] = []

    def worker() -> None:
        try:
            q.get()
        except ShutDown:
            released.append(True)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(2)
    assert released == [True, True, True]
    q.add("b")
    assert len(q) == 0 and q.shutting_down()
