"""The informer against an in-process fake informerd: sync, live events, resume semantics."""

from __future__ import annotations

import threading
import time
from typing import Iterator, List, Union

import grpc
import pytest

from conftest import Fake, ev, obj, send
from informerd import DeletedFinalStateUnknown, Informer, InformerdError, KubeObject, ResourceEventHandler
from informerd.v1 import informer_pb2 as pb

ADDED, MODIFIED, DELETED = pb.EVENT_TYPE_ADDED, pb.EVENT_TYPE_MODIFIED, pb.EVENT_TYPE_DELETED
BOOKMARK, SYNCED = pb.EVENT_TYPE_BOOKMARK, pb.EVENT_TYPE_SYNCED


def _rv(o: KubeObject) -> str:
    return str(o["metadata"]["resourceVersion"])


def _key(o: KubeObject) -> str:
    return f"{o['metadata']['namespace']}/{o['metadata']['name']}"


class Recorder(ResourceEventHandler):
    """Writes each call as one line, e.g. "add ns/a 5 True"."""

    def __init__(self, informer: Union[Informer, None] = None) -> None:
        self.lock = threading.Lock()
        self.calls: List[str] = []
        self.synced_at_add: List[bool] = []
        self.informer = informer

    def on_add(self, obj: KubeObject, is_in_initial_list: bool) -> None:
        with self.lock:
            self.calls.append(f"add {_key(obj)} {_rv(obj)} {is_in_initial_list}")
            if self.informer:
                self.synced_at_add.append(self.informer.has_synced())

    def on_update(self, old: KubeObject, new: KubeObject) -> None:
        with self.lock:
            self.calls.append(f"update {_key(new)} {_rv(old)}->{_rv(new)}")

    def on_delete(self, obj: Union[KubeObject, DeletedFinalStateUnknown]) -> None:
        with self.lock:
            if isinstance(obj, DeletedFinalStateUnknown):
                self.calls.append(f"delete-unknown {obj.key} {_rv(obj.obj)}")
            else:
                self.calls.append(f"delete {_key(obj)} {_rv(obj)}")

    def wait(self, n: int, timeout: float = 5.0) -> List[str]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                calls = list(self.calls)
            if len(calls) >= n:
                return calls
            if time.monotonic() > deadline:
                raise AssertionError(f"want {n} calls, got {calls}")
            time.sleep(0.002)


@pytest.fixture
def run(fake: Fake) -> Iterator[Recorder]:
    """A started informer of configmaps in ns with a Recorder; stopped after the test."""
    inf = Informer(fake.client, "configmaps", namespace="ns", initial_backoff=0.001, max_backoff=0.005, on_error=lambda e: None)
    rec = Recorder(inf)
    inf.add_event_handler(rec)
    inf.start()
    yield rec
    inf.stop(timeout=5)


def informer_of(rec: Recorder) -> Informer:
    inf = rec.informer
    assert inf is not None
    return inf


def test_i2_fresh_subscription_syncs_then_follows_live_events(fake: Fake, run: Recorder) -> None:
    req = fake.servicer.next_request()
    assert (req.resource, req.namespace, req.resource_version, dict(req.known_objects)) == ("configmaps", "ns", "", {})
    fake.servicer.scripts.put(
        send(
            ev(ADDED, obj("ns", "a", "5")),
            ev(ADDED, obj("ns", "b", "6")),
            ev(SYNCED, rv="10"),
            ev(MODIFIED, obj("ns", "a", "11"), "11"),
            ev(DELETED, obj("ns", "b", "12"), "12"),
            ev(ADDED, obj("ns", "c", "13"), "13"),
            ev(BOOKMARK, rv="20"),
        )
    )
    assert run.wait(5) == [
        "add ns/a 5 True",
        "add ns/b 6 True",
        "update ns/a 5->11",
        "delete ns/b 12",
        "add ns/c 13 False",
    ]
    assert run.synced_at_add == [False, False, True]
    inf = informer_of(run)
    assert inf.has_synced()
    assert inf.store.list_keys() == ["ns/a", "ns/c"]
    a = inf.store.get("ns", "a")
    assert a is not None and a["data"] == {"k": "11"}


def test_r8_reconnect_resubscribes_with_known_objects_and_delivers_only_the_difference(fake: Fake, run: Recorder) -> None:
    fake.servicer.next_request()
    fake.servicer.scripts.put(
        send(
            ev(ADDED, obj("ns", "a", "5")),
            ev(ADDED, obj("ns", "b", "6")),
            ev(ADDED, obj("ns", "d", "7")),
            ev(SYNCED, rv="10"),
            ev(MODIFIED, obj("ns", "a", "11"), "11"),
            end=grpc.StatusCode.UNAVAILABLE,
        )
    )
    req = fake.servicer.next_request()
    assert req.resource_version == ""
    assert dict(req.known_objects) == {"ns/a": "11", "ns/b": "6", "ns/d": "7"}
    gone = pb.SubscribeResponse(
        type=DELETED, object=pb.Object(namespace="ns", name="a", resource_version="11"), final_state_unknown=True
    )
    fake.servicer.scripts.put(
        send(
            ev(MODIFIED, obj("ns", "b", "13")),
            gone,
            ev(ADDED, obj("ns", "c", "14")),
            ev(SYNCED, rv="15"),
            ev(ADDED, obj("ns", "e", "16"), "16"),
        )
    )
    assert run.wait(8) == [
        "add ns/a 5 True",
        "add ns/b 6 True",
        "add ns/d 7 True",
        "update ns/a 5->11",
        "update ns/b 6->13",
        "delete-unknown ns/a 11",
        "add ns/c 14 False",
        "add ns/e 16 False",
    ]
    s = informer_of(run).stats()
    assert (s.fresh_starts, s.known_objects_starts, s.resource_version_starts) == (1, 1, 0)


def test_r8_resource_exhausted_resumes_from_the_trailer_then_out_of_range_uses_known_objects(
    fake: Fake, run: Recorder
) -> None:
    fake.servicer.next_request()
    fake.servicer.scripts.put(
        send(
            ev(ADDED, obj("ns", "a", "5")),
            ev(SYNCED, rv="10"),
            ev(MODIFIED, obj("ns", "a", "11"), "11"),
            end=grpc.StatusCode.RESOURCE_EXHAUSTED,
            trailer="12",  # the server's word on its position wins over the last event's
        )
    )
    req = fake.servicer.next_request()
    assert (req.resource_version, dict(req.known_objects)) == ("12", {})
    fake.servicer.scripts.put(send(ev(MODIFIED, obj("ns", "a", "12"), "12"), end=grpc.StatusCode.OUT_OF_RANGE))
    req = fake.servicer.next_request()
    assert (req.resource_version, dict(req.known_objects)) == ("", {"ns/a": "12"})
    fake.servicer.scripts.put(send(ev(SYNCED, rv="12")))
    assert run.wait(3) == ["add ns/a 5 True", "update ns/a 5->11", "update ns/a 11->12"]


def test_r8_resource_exhausted_before_synced_starts_from_known_objects(fake: Fake, run: Recorder) -> None:
    fake.servicer.next_request()
    fake.servicer.scripts.put(send(ev(ADDED, obj("ns", "a", "5")), end=grpc.StatusCode.RESOURCE_EXHAUSTED, trailer="3"))
    req = fake.servicer.next_request()
    assert (req.resource_version, dict(req.known_objects)) == ("", {"ns/a": "5"})


def test_r8_states_the_store_already_holds_are_not_repeated(fake: Fake, run: Recorder) -> None:
    fake.servicer.next_request()
    fake.servicer.scripts.put(send(ev(ADDED, obj("ns", "a", "5")), ev(SYNCED, rv="10"), end=grpc.StatusCode.UNAVAILABLE))
    fake.servicer.next_request()
    fake.servicer.scripts.put(
        send(
            ev(ADDED, obj("ns", "a", "5")),
            ev(MODIFIED, obj("ns", "a", "4")),
            ev(DELETED, obj("ns", "zz", "9")),
            ev(SYNCED, rv="10"),
            ev(MODIFIED, obj("ns", "a", "12"), "12"),
        )
    )
    assert run.wait(2) == ["add ns/a 5 True", "update ns/a 5->12"]
    time.sleep(0.02)
    assert len(run.calls) == 2


def test_i3_handler_added_after_sync_gets_the_store_first(fake: Fake) -> None:
    inf = Informer(fake.client, "configmaps", on_error=lambda e: None)
    release = threading.Event()

    def script(req: pb.SubscribeRequest, ctx: grpc.ServicerContext) -> Iterator[pb.SubscribeResponse]:
        yield ev(ADDED, obj("ns", "a", "5"))
        yield ev(ADDED, obj("ns", "b", "6"))
        yield ev(SYNCED, rv="10")
        release.wait(5)
        yield ev(MODIFIED, obj("ns", "b", "11"), "11")
        while ctx.is_active():
            time.sleep(0.01)

    fake.servicer.scripts.put(script)
    with inf:
        assert inf.wait_for_sync(5)
        rec = Recorder()
        reg = inf.add_event_handler(rec)
        release.set()
        assert rec.wait(3) == ["add ns/a 5 True", "add ns/b 6 True", "update ns/b 6->11"]
        assert reg.has_synced()


def test_i6_function_handlers_and_removal(fake: Fake) -> None:
    inf = Informer(fake.client, "configmaps", on_error=lambda e: None)
    seen: List[str] = []
    step = threading.Event()

    def script(req: pb.SubscribeRequest, ctx: grpc.ServicerContext) -> Iterator[pb.SubscribeResponse]:
        yield ev(ADDED, obj("ns", "a", "5"))
        yield ev(SYNCED, rv="5")
        step.wait(5)
        yield ev(MODIFIED, obj("ns", "a", "6"), "6")
        while ctx.is_active():
            time.sleep(0.01)

    fake.servicer.scripts.put(script)
    reg = inf.add_event_handler(on_add=lambda o, initial: seen.append(f"add {initial}"))
    other = Recorder()
    inf.add_event_handler(other)
    with inf:
        other.wait(1)
        inf.remove_event_handler(reg)
        step.set()
        other.wait(2)
    assert seen == ["add True"]


def test_a_failing_handler_does_not_stop_the_informer(fake: Fake) -> None:
    inf = Informer(fake.client, "configmaps", on_error=lambda e: None)
    fake.servicer.scripts.put(send(ev(ADDED, obj("ns", "a", "5")), ev(SYNCED, rv="5"), ev(ADDED, obj("ns", "b", "6"), "6")))

    def boom(o: KubeObject, initial: bool) -> None:
        raise RuntimeError("handler bug")

    inf.add_event_handler(on_add=boom)
    rec = Recorder()
    inf.add_event_handler(rec)
    with inf:
        assert rec.wait(2) == ["add ns/a 5 True", "add ns/b 6 False"]


def test_r5_failures_back_off_exponentially(fake: Fake) -> None:
    errors: List[InformerdError] = []
    inf = Informer(fake.client, "configmaps", initial_backoff=0.008, max_backoff=0.032, on_error=errors.append)
    at: List[float] = []
    with inf:
        for _ in range(5):
            fake.servicer.next_request()
            at.append(time.monotonic())
            fake.servicer.scripts.put(send(end=grpc.StatusCode.UNAVAILABLE))
        time.sleep(0.01)
    gaps = [b - a for a, b in zip(at, at[1:])]
    for gap, least in zip(gaps, [0.006, 0.012, 0.025, 0.025]):
        assert gap >= least, gaps
    assert gaps[-1] < 0.5
    assert errors and all(e.code == grpc.StatusCode.UNAVAILABLE for e in errors)


def test_list_fetches_every_page_and_restarts_an_expired_snapshot(fake: Fake) -> None:
    calls = []

    def handler(req: pb.ListRequest, ctx: grpc.ServicerContext) -> pb.ListResponse:
        calls.append(req.page_token)
        if len(calls) == 2:
            ctx.abort(grpc.StatusCode.ABORTED, "snapshot expired")
        if not req.page_token:
            return pb.ListResponse(objects=[obj("ns", "a", "1")], next_page_token="p2", resource_version="9")
        return pb.ListResponse(objects=[obj("ns", "b", "2")], resource_version="9")

    fake.servicer.list_handler = handler
    got = fake.client.list("configmaps", limit=1)
    assert [o["metadata"]["name"] for o in got.items] == ["a", "b"]
    assert got.resource_version == "9"
    assert calls == ["", "p2", "", "p2"]

    def invalid(req: pb.ListRequest, ctx: grpc.ServicerContext) -> pb.ListResponse:
        ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad selector")

    fake.servicer.list_handler = invalid
    with pytest.raises(InformerdError) as e:
        fake.client.list("pods", label_selector="a in (b")
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT


def record_lists(fake: Fake) -> List[pb.ListRequest]:
    """Makes the fake answer every List with an empty page; the requests it received, in order."""
    seen: List[pb.ListRequest] = []

    def answer(request: pb.ListRequest, context: grpc.ServicerContext) -> pb.ListResponse:
        seen.append(request)
        return pb.ListResponse(resource_version="10")

    fake.servicer.list_handler = answer
    return seen


def test_fields_reach_every_subscription_and_list(fake: Fake) -> None:
    """A field mask given to the informer is sent on its subscription (and resubscriptions
    keep it); client.list sends its own."""
    inf = Informer(
        fake.client, "configmaps", fields=["metadata.labels", "data"], initial_backoff=0.001, on_error=lambda e: None
    )
    inf.start()
    try:
        req = fake.servicer.next_request()
        assert list(req.fields) == ["metadata.labels", "data"]
        fake.servicer.scripts.put(send(ev(SYNCED, rv="10"), end=grpc.StatusCode.UNAVAILABLE))
        again = fake.servicer.next_request()
        assert list(again.fields) == ["metadata.labels", "data"]
    finally:
        inf.stop()
    seen = record_lists(fake)
    fake.client.list("configmaps", fields=["spec.nodeName"])
    assert [list(r.fields) for r in seen] == [["spec.nodeName"]]


def test_wait_for_sync_reaches_every_subscription_and_read(fake: Fake) -> None:
    """wait_for_sync given to the informer is sent on each of its subscriptions (resubscriptions
    too); each read sends its own, and none by default."""
    inf = Informer(fake.client, "configmaps", wait_for_sync=True, initial_backoff=0.001, on_error=lambda e: None)
    inf.start()
    try:
        assert fake.servicer.next_request().wait_for_sync
        fake.servicer.scripts.put(send(ev(SYNCED, rv="10"), end=grpc.StatusCode.UNAVAILABLE))
        assert fake.servicer.next_request().wait_for_sync
    finally:
        inf.stop()
    seen = record_lists(fake)
    fake.client.list("configmaps", wait_for_sync=True)
    fake.client.list("configmaps")
    assert [r.wait_for_sync for r in seen] == [True, False]
