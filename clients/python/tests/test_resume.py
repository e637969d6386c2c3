"""The threaded informer's silent-server watchdog and address failover (issue 17), against
in-process fake informerds, and the shared resume rules of informerd._resume."""

from __future__ import annotations

import socket
import time
from typing import Iterator

import grpc
import pytest

from conftest import Fake, ev, fake_server, obj, send
from informerd import Client, Informer, InformerdError
from informerd._resume import DEFAULT_SILENCE_TIMEOUT, Subscription, silence_timeout
from informerd.v1 import informer_pb2 as pb
from test_informer import ADDED, BOOKMARK, MODIFIED, SYNCED, Recorder

INTERVAL_MS = 150


def test_silence_timeout_is_twice_the_announced_interval_else_60_s() -> None:
    assert silence_timeout((("informer-bookmark-interval-ms", "1500"),)) == 3.0
    assert silence_timeout((("other", "1"), ("informer-bookmark-interval-ms", b"250"))) == 0.5
    assert silence_timeout(None) == DEFAULT_SILENCE_TIMEOUT == 60.0
    assert silence_timeout((("informer-bookmark-interval-ms", "soon"),)) == 60.0
    assert silence_timeout((("informer-bookmark-interval-ms", "0"),)) == 60.0


def test_subscription_resume_rules() -> None:
    sub = Subscription("")
    sub.on_event(ev(ADDED, obj("ns", "a", "5")))
    # Not positioned before SYNCED: known_objects whatever the code.
    assert sub.on_end(grpc.StatusCode.RESOURCE_EXHAUSTED, (("informer-resume-resource-version", "9"),)) == ""
    sub.on_event(ev(SYNCED, rv="10"))
    assert sub.on_end(grpc.StatusCode.UNAUTHENTICATED, None) == "10"
    assert sub.on_end(grpc.StatusCode.RESOURCE_EXHAUSTED, None) == ""
    assert sub.on_end(grpc.StatusCode.RESOURCE_EXHAUSTED, (("informer-resume-resource-version", "12"),)) == "12"
    assert sub.on_end(grpc.StatusCode.UNAVAILABLE, (("informer-resume-resource-version", "12"),)) == ""
    assert sub.on_end(grpc.StatusCode.CANCELLED, None) == ""


def test_silent_server_is_left_within_two_bookmark_intervals_and_resumed_without_loss(fake: Fake) -> None:
    """The server stops sending but keeps the connection: the informer cancels the stream two
    announced intervals after the last message, resubscribes with known_objects, and handlers
    see each change once."""
    inf = Informer(fake.client, "configmaps", initial_backoff=0.001, max_backoff=0.005, on_error=lambda e: None)
    rec = Recorder()
    inf.add_event_handler(rec)
    fake.servicer.scripts.put(
        send(
            ev(ADDED, obj("ns", "a", "5")),
            ev(ADDED, obj("ns", "b", "6")),
            ev(SYNCED, rv="10"),
            ev(MODIFIED, obj("ns", "a", "11"), "11"),
            bookmark_interval_ms=INTERVAL_MS,
        )
    )
    with inf:
        fake.servicer.next_request()
        rec.wait(3)
        last = time.monotonic()
        req = fake.servicer.next_request(timeout=5)
        waited = time.monotonic() - last
        assert 0.9 * 2 * INTERVAL_MS / 1000 <= waited < 2 * INTERVAL_MS / 1000 + 0.25, waited
        assert (req.resource_version, dict(req.known_objects)) == ("", {"ns/a": "11", "ns/b": "6"})
        fake.servicer.scripts.put(
            send(
                ev(MODIFIED, obj("ns", "b", "13")),
                ev(ADDED, obj("ns", "a", "11")),  # held already: not repeated
                ev(SYNCED, rv="15"),
                ev(ADDED, obj("ns", "c", "16"), "16"),
                bookmark_interval_ms=INTERVAL_MS,
            )
        )
        assert rec.wait(5) == [
            "add ns/a 5 True",
            "add ns/b 6 True",
            "update ns/a 5->11",
            "update ns/b 6->13",
            "add ns/c 16 False",
        ]
        s = inf.stats()
    assert (s.silent_timeouts, s.fresh_starts, s.known_objects_starts, s.resource_version_starts) == (1, 1, 1, 0)
    assert inf.store.list_keys() == ["ns/a", "ns/b", "ns/c"]


def test_bookmarks_keep_a_quiet_stream_alive(fake: Fake) -> None:
    """Bookmarks every interval are messages: no resubscription while they come."""
    inf = Informer(fake.client, "configmaps", initial_backoff=0.001, on_error=lambda e: None)

    def script(req: pb.SubscribeRequest, ctx: grpc.ServicerContext) -> Iterator[pb.SubscribeResponse]:
        ctx.send_initial_metadata((("informer-bookmark-interval-ms", "100"),))
        yield ev(SYNCED, rv="1")
        for i in range(8):  # 0.8 s: four silence timeouts' worth
            time.sleep(0.1)
            yield ev(BOOKMARK, rv=str(2 + i))
        while ctx.is_active():
            time.sleep(0.01)

    fake.servicer.scripts.put(script)
    with inf:
        fake.servicer.next_request()
        assert inf.wait_for_sync(5)
        deadline = time.monotonic() + 0.8
        while time.monotonic() < deadline:
            assert fake.servicer.requests.empty(), "resubscribed while bookmarks came"
            time.sleep(0.02)
        s = inf.stats()
        assert (s.silent_timeouts, s.failures) == (0, 0)
        # Then silence: left within two intervals.
        fake.servicer.next_request(timeout=2)
        assert inf.stats().silent_timeouts == 1


def test_a_killed_address_is_resumed_on_the_next_one() -> None:
    """Two informerd replicas: the one serving the stream dies; the informer resubscribes on
    the other with known_objects and then round robin over both."""
    server_a, a, addr_a = fake_server()
    server_b, b, addr_b = fake_server()
    client = Client(addresses=[addr_a, addr_b])
    inf = Informer(client, "configmaps", initial_backoff=0.001, max_backoff=0.005, on_error=lambda e: None)
    rec = Recorder()
    inf.add_event_handler(rec)
    try:
        a.scripts.put(send(ev(ADDED, obj("ns", "a", "5")), ev(SYNCED, rv="10"), ev(ADDED, obj("ns", "b", "11"), "11")))
        with inf:
            a.next_request()
            rec.wait(2)
            server_a.stop(0)
            req = b.next_request()
            assert (req.resource_version, dict(req.known_objects)) == ("", {"ns/a": "5", "ns/b": "11"})
            b.scripts.put(send(ev(MODIFIED, obj("ns", "a", "12")), ev(SYNCED, rv="12"), end=grpc.StatusCode.UNAVAILABLE))
            # Ended on b: the next attempt goes to a (dead, refused), then b again.
            req = b.next_request()
            assert dict(req.known_objects) == {"ns/a": "12", "ns/b": "11"}
            b.scripts.put(send(ev(SYNCED, rv="12")))
            assert rec.wait(3) == ["add ns/a 5 True", "add ns/b 11 False", "update ns/a 5->12"]
            s = inf.stats()
            assert s.address_switches >= 3 and s.known_objects_starts >= 2
    finally:
        client.close()
        server_a.stop(0)
        server_b.stop(0)


def dead_address() -> str:
    """A loopback address nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"127.0.0.1:{port}"


def test_reads_fail_over_to_the_next_address_and_stay_there() -> None:
    server, servicer, addr = fake_server()
    servicer.list_handler = lambda req, ctx: pb.ListResponse(objects=[obj("ns", "a", "1")], resource_version="9")
    client = Client(addresses=[dead_address(), addr], timeout=5)
    try:
        assert [o["metadata"]["name"] for o in client.list("configmaps").items] == ["a"]
        assert client.addresses[client._read] == addr
        assert client.list("configmaps").resource_version == "9"
    finally:
        client.close()
        server.stop(0)
    with Client(addresses=[dead_address(), dead_address()], timeout=5) as gone:
        with pytest.raises(InformerdError) as e:
            gone.list("configmaps")
        assert e.value.code == grpc.StatusCode.UNAVAILABLE
