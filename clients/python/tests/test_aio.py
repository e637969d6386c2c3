"""informerd.aio against in-process fake informerds: sync, handlers and the event iterator, the
resume rules, the silent-server watchdog, address failover, paged reads, the work queue."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import AsyncIterator, Iterator, List, Tuple, Union

import grpc
import pytest

pytest_asyncio = pytest.importorskip("pytest_asyncio", reason="pytest-asyncio is not installed (pip install -e '.[test]')")

from conftest import FakeServicer, ev, fake_server, obj, send  # noqa: E402
from informerd import DeletedFinalStateUnknown, ItemExponentialFailureRateLimiter, KubeObject  # noqa: E402
from informerd import aio  # noqa: E402
from informerd.v1 import informer_pb2 as pb  # noqa: E402

pytestmark = pytest.mark.asyncio

ADDED, MODIFIED, DELETED = pb.EVENT_TYPE_ADDED, pb.EVENT_TYPE_MODIFIED, pb.EVENT_TYPE_DELETED
BOOKMARK, SYNCED = pb.EVENT_TYPE_BOOKMARK, pb.EVENT_TYPE_SYNCED


def _rv(o: KubeObject) -> str:
    return str(o["metadata"]["resourceVersion"])


def _key(o: KubeObject) -> str:
    return f"{o['metadata']['namespace']}/{o['metadata']['name']}"


class Recorder(aio.ResourceEventHandler):
    """Writes each call as one line, e.g. "add ns/a 5 True"."""

    def __init__(self) -> None:
        self.calls: List[str] = []
        self.changed = asyncio.Event()

    async def on_add(self, obj: KubeObject, is_in_initial_list: bool) -> None:
        self.calls.append(f"add {_key(obj)} {_rv(obj)} {is_in_initial_list}")
        self.changed.set()

    async def on_update(self, old: KubeObject, new: KubeObject) -> None:
        self.calls.append(f"update {_key(new)} {_rv(old)}->{_rv(new)}")
        self.changed.set()

    async def on_delete(self, obj: Union[KubeObject, DeletedFinalStateUnknown]) -> None:
        if isinstance(obj, DeletedFinalStateUnknown):
            self.calls.append(f"delete-unknown {obj.key} {_rv(obj.obj)}")
        else:
            self.calls.append(f"delete {_key(obj)} {_rv(obj)}")
        self.changed.set()

    async def wait(self, n: int, timeout: float = 5.0) -> List[str]:
        async def enough() -> None:
            while len(self.calls) < n:
                self.changed.clear()
                await self.changed.wait()

        try:
            await asyncio.wait_for(enough(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"want {n} calls, got {self.calls}") from None
        return list(self.calls)


async def next_request(servicer: FakeServicer, timeout: float = 5.0) -> pb.SubscribeRequest:
    """The fake's next Subscribe request, waited for off the event loop."""
    return await asyncio.to_thread(servicer.next_request, timeout)


@pytest_asyncio.fixture
async def served() -> AsyncIterator[Tuple[FakeServicer, aio.Client]]:
    server, servicer, addr = fake_server()
    client = aio.Client(addr)
    yield servicer, client
    await client.close()
    server.stop(0)


def informer(client: aio.Client) -> aio.Informer:
    return aio.Informer(client, "configmaps", namespace="ns", initial_backoff=0.001, max_backoff=0.005, on_error=lambda e: None)


async def test_syncs_follows_live_events_and_resumes_with_known_objects(served: Tuple[FakeServicer, aio.Client]) -> None:
    servicer, client = served
    inf = informer(client)
    rec = Recorder()
    await inf.add_event_handler(rec)
    plain: List[str] = []
    await inf.add_event_handler(on_add=lambda o, initial: plain.append(f"{_key(o)} {initial}"))
    async with inf:
        req = await next_request(servicer)
        assert (req.resource, req.namespace, req.resource_version, dict(req.known_objects)) == ("configmaps", "ns", "", {})
        servicer.scripts.put(
            send(
                ev(ADDED, obj("ns", "a", "5")),
                ev(ADDED, obj("ns", "b", "6")),
                ev(SYNCED, rv="10"),
                ev(MODIFIED, obj("ns", "a", "11"), "11"),
                ev(DELETED, obj("ns", "b", "12"), "12"),
                end=grpc.StatusCode.UNAVAILABLE,
            )
        )
        assert await inf.wait_for_sync(5)
        req = await next_request(servicer)
        assert (req.resource_version, dict(req.known_objects)) == ("", {"ns/a": "11"})
        gone = pb.SubscribeResponse(type=DELETED, object=pb.Object(namespace="ns", name="a", resource_version="11"), final_state_unknown=True)
        servicer.scripts.put(send(ev(ADDED, obj("ns", "c", "14")), gone, ev(SYNCED, rv="15")))
        assert await rec.wait(6) == [
            "add ns/a 5 True",
            "add ns/b 6 True",
            "update ns/a 5->11",
            "delete ns/b 12",
            "add ns/c 14 False",
            "delete-unknown ns/a 11",
        ]
        assert plain == ["ns/a True", "ns/b True", "ns/c False"]
        assert inf.store.list_keys() == ["ns/c"]
        s = inf.stats()
        assert (s.fresh_starts, s.known_objects_starts, s.failures) == (1, 1, 1)


async def test_resource_exhausted_resumes_from_the_trailer(served: Tuple[FakeServicer, aio.Client]) -> None:
    servicer, client = served
    async with informer(client):
        await next_request(servicer)
        servicer.scripts.put(
            send(ev(ADDED, obj("ns", "a", "5")), ev(SYNCED, rv="10"), end=grpc.StatusCode.RESOURCE_EXHAUSTED, trailer="12")
        )
        req = await next_request(servicer)
        assert (req.resource_version, dict(req.known_objects)) == ("12", {})


async def test_events_iterator_replays_the_store_then_follows_and_ends_on_stop(served: Tuple[FakeServicer, aio.Client]) -> None:
    servicer, client = served
    inf = informer(client)
    release = threading.Event()

    def script(req: pb.SubscribeRequest, ctx: grpc.ServicerContext) -> Iterator[pb.SubscribeResponse]:
        yield ev(ADDED, obj("ns", "a", "5"))
        yield ev(SYNCED, rv="5")
        release.wait(5)
        yield ev(MODIFIED, obj("ns", "a", "6"), "6")
        yield ev(DELETED, obj("ns", "a", "7"), "7")
        while ctx.is_active():
            time.sleep(0.01)

    servicer.scripts.put(script)
    inf.start()
    assert await inf.wait_for_sync(5)
    it = inf.events()
    got: List[str] = []
    async for e in it:
        o = e.obj
        assert not isinstance(o, DeletedFinalStateUnknown)
        got.append(f"{e.type} {_rv(o)} {e.is_in_initial_list}")
        if len(got) == 1:
            release.set()
        if len(got) == 3:
            break
    assert got == ["add 5 True", "update 6 False", "delete 7 False"]
    later = inf.events()
    await inf.stop()
    with pytest.raises(StopAsyncIteration):
        await later.__anext__()


async def test_silent_server_is_left_within_two_intervals_without_loss(served: Tuple[FakeServicer, aio.Client]) -> None:
    servicer, client = served
    inf = informer(client)
    rec = Recorder()
    await inf.add_event_handler(rec)
    async with inf:
        await next_request(servicer)
        servicer.scripts.put(
            send(ev(ADDED, obj("ns", "a", "5")), ev(SYNCED, rv="10"), ev(MODIFIED, obj("ns", "a", "11"), "11"), bookmark_interval_ms=150)
        )
        await rec.wait(2)
        last = time.monotonic()
        req = await next_request(servicer)
        waited = time.monotonic() - last
        assert 0.27 <= waited < 0.55, waited
        assert dict(req.known_objects) == {"ns/a": "11"}
        servicer.scripts.put(send(ev(ADDED, obj("ns", "a", "11")), ev(SYNCED, rv="12"), ev(ADDED, obj("ns", "b", "13"), "13")))
        assert await rec.wait(3) == ["add ns/a 5 True", "update ns/a 5->11", "add ns/b 13 False"]
        await asyncio.sleep(0.02)
        assert len(rec.calls) == 3
        assert inf.stats().silent_timeouts == 1


async def test_a_killed_address_is_resumed_on_the_next_one() -> None:
    server_a, a, addr_a = fake_server()
    server_b, b, addr_b = fake_server()
    client = aio.Client(addresses=[addr_a, addr_b])
    inf = aio.Informer(client, "configmaps", initial_backoff=0.001, max_backoff=0.005, on_error=lambda e: None)
    rec = Recorder()
    await inf.add_event_handler(rec)
    try:
        a.scripts.put(send(ev(ADDED, obj("ns", "a", "5")), ev(SYNCED, rv="10")))
        async with inf:
            await next_request(a)
            await rec.wait(1)
            server_a.stop(0)
            req = await next_request(b)
            assert (req.resource_version, dict(req.known_objects)) == ("", {"ns/a": "5"})
            b.scripts.put(send(ev(MODIFIED, obj("ns", "a", "12")), ev(SYNCED, rv="12")))
            assert await rec.wait(2) == ["add ns/a 5 True", "update ns/a 5->12"]
            assert inf.stats().address_switches >= 1
    finally:
        await client.close()
        server_a.stop(0)
        server_b.stop(0)


async def test_list_fetches_every_page_and_restarts_an_expired_snapshot(served: Tuple[FakeServicer, aio.Client]) -> None:
    servicer, client = served
    calls: List[str] = []

    def handler(req: pb.ListRequest, ctx: grpc.ServicerContext) -> pb.ListResponse:
        calls.append(req.page_token)
        if len(calls) == 2:
            ctx.abort(grpc.StatusCode.ABORTED, "snapshot expired")
        if not req.page_token:
            return pb.ListResponse(objects=[obj("ns", "a", "1")], next_page_token="p2", resource_version="9")
        return pb.ListResponse(objects=[obj("ns", "b", "2")], resource_version="9")

    servicer.list_handler = handler
    got = await client.list("configmaps", limit=1)
    assert [o["metadata"]["name"] for o in got.items] == ["a", "b"] and got.resource_version == "9"
    assert calls == ["", "p2", "", "p2"]

    def invalid(req: pb.ListRequest, ctx: grpc.ServicerContext) -> pb.ListResponse:
        ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad selector")

    servicer.list_handler = invalid
    with pytest.raises(aio.InformerdError) as e:
        await client.list("pods", label_selector="a in (b")
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_queue_deduplicates_and_requeues_an_item_added_while_processed() -> None:
    q: aio.RateLimitingQueue[str] = aio.RateLimitingQueue()
    q.add("a")
    q.add("b")
    q.add("a")
    assert len(q) == 2
    assert await q.get() == "a"
    q.add("a")  # while processed: queued again once done, not handed out twice
    assert await q.get() == "b"
    with pytest.raises(TimeoutError):
        await q.get(timeout=0.01)
    q.done("a")
    assert await q.get(timeout=1) == "a"
    q.done("a")
    q.done("b")
    assert len(q) == 0


async def test_queue_wakes_a_waiting_worker_and_shut_down_ends_it() -> None:
    q: aio.RateLimitingQueue[str] = aio.RateLimitingQueue()
    workers = [asyncio.ensure_future(q.get()) for _ in range(2)]
    await asyncio.sleep(0)
    q.add("x")
    done, pending = await asyncio.wait(workers, return_when=asyncio.FIRST_COMPLETED)
    assert [t.result() for t in done] == ["x"] and len(pending) == 1
    q.shut_down()
    with pytest.raises(aio.ShutDown):
        await pending.pop()
    q.add("y")
    assert len(q) == 0


async def test_queue_rate_limits_retries_and_add_after_keeps_the_earliest() -> None:
    q: aio.RateLimitingQueue[str] = aio.RateLimitingQueue(ItemExponentialFailureRateLimiter(0.02, 1.0))
    start = time.monotonic()
    q.add_rate_limited("k")  # 20 ms
    q.add_rate_limited("k")  # 40 ms: the earlier stays
    assert q.num_requeues("k") == 2
    assert await q.get(timeout=1) == "k"
    assert 0.015 <= time.monotonic() - start < 0.035 + 0.2
    q.done("k")
    q.forget("k")
    assert q.num_requeues("k") == 0
    q.add_after("late", 5)
    q.add_after("late", 0.01)
    assert await q.get(timeout=1) == "late"
    q.add_after("never", 0.01)
    q.shut_down()
    with pytest.raises(aio.ShutDown):
        await q.get(timeout=1)


async def test_cancelling_the_informer_task_cancels_it_and_its_call(served: Tuple[FakeServicer, aio.Client]) -> None:
    """Cancelling run()'s task is not mistaken for a watchdog cancel: the task ends cancelled
    and does not resubscribe."""
    servicer, client = served
    inf = informer(client)
    servicer.scripts.put(send(ev(SYNCED, rv="1")))
    task = inf.start()
    await next_request(servicer)
    assert await inf.wait_for_sync(5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert inf.stats().failures == 0
    assert servicer.requests.empty()


async def test_reads_fail_over_to_the_next_address() -> None:
    server, servicer, addr = fake_server()
    servicer.list_handler = lambda req, ctx: pb.ListResponse(objects=[obj("ns", "a", "1")], resource_version="9")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = f"127.0.0.1:{s.getsockname()[1]}"
    s.close()
    try:
        async with aio.Client(addresses=[dead, addr], timeout=5) as client:
            assert [o["metadata"]["name"] for o in (await client.list("configmaps")).items] == ["a"]
            assert client.addresses[client._read] == addr
    finally:
        server.stop(0)
