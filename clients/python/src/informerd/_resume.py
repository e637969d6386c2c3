"""What the threaded and the asyncio informer share about one subscription and the next: which
request resumes it, where the stream stands, how long to back off, which address to use, and
when a silent stream counts as dead. No I/O here: each API drives it with its own calls and
clocks, so both follow the same rules (clients/README.md, "Resuming after a reconnect")."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple

import grpc

from informerd.v1 import informer_pb2 as pb

# Trailing metadata in which a RESOURCE_EXHAUSTED subscription names the last position it
# delivered.
RESUME_TRAILER = "informer-resume-resource-version"

# Initial metadata of a Subscribe stream: the server's bookmark interval in decimal ms.
BOOKMARK_INTERVAL_HEADER = "informer-bookmark-interval-ms"

# How long a stream may stay silent when the server did not announce its bookmark interval.
DEFAULT_SILENCE_TIMEOUT = 60.0

# Codes ending a stream of a server that still holds its position in its history: only
# RESOURCE_EXHAUSTED (too slow), UNAUTHENTICATED (the token expired; the next call sends the
# re-read one) and PERMISSION_DENIED (access withdrawn). After anything else the store's versions
# are the one safe start.
RESUMABLE = (
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
)


@dataclass
class Stats:
    """An informer's subscriptions by how they started, and what they received.

    `failures` counts every ended stream (each is followed by a resubscription);
    `silent_timeouts` those of them the watchdog cancelled because nothing arrived for twice the
    bookmark interval; `address_switches` resubscriptions sent to another address."""

    fresh_starts: int = 0
    known_objects_starts: int = 0
    resource_version_starts: int = 0
    failures: int = 0
    events: int = 0
    silent_timeouts: int = 0
    address_switches: int = 0


class Backoff:
    """Exponential backoff with ±20 % jitter: initial, doubling up to maximum, reset by
    reset(). Not thread-safe (one informer loop owns it)."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._initial = initial
        self._max = max(maximum, initial)
        self._delay = initial

    def reset(self) -> None:
        """The next delay is the initial one again (events flowed)."""
        self._delay = self._initial

    def next(self) -> float:
        """The delay before the next attempt, jittered; doubles the one after."""
        d = self._delay * random.uniform(0.8, 1.2)
        self._delay = min(2 * self._delay, self._max)
        return d


class AddressRing:
    """Round robin over informerd addresses (indexes into the client's list): a subscription
    starts at the current one and moves to the next after a failure. Not thread-safe."""

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError("no informerd address")
        self._n = n
        self._i = 0

    @property
    def current(self) -> int:
        """The index of the address the next subscription uses."""
        return self._i

    def advance(self) -> bool:
        """Moves to the next address; returns whether that is another one."""
        self._i = (self._i + 1) % self._n
        return self._n > 1


def silence_timeout(metadata: Optional[Iterable[Tuple[str, Any]]]) -> float:
    """Seconds without any message after which a stream counts as dead: twice the bookmark
    interval the server announced in its initial metadata, else DEFAULT_SILENCE_TIMEOUT."""
    for key, value in metadata or ():
        if key != BOOKMARK_INTERVAL_HEADER:
            continue
        try:
            ms = int(value.decode() if isinstance(value, bytes) else value)
        except ValueError:
            break
        if ms > 0:
            return 2 * ms / 1000.0
        break
    return DEFAULT_SILENCE_TIMEOUT


def trailer_position(metadata: Optional[Iterable[Tuple[str, Any]]]) -> str:
    """The resume position a server named in its trailing metadata, or ""."""
    for key, value in metadata or ():
        if key == RESUME_TRAILER and value:
            return value.decode() if isinstance(value, bytes) else str(value)
    return ""


class Subscription:
    """The bookkeeping of one Subscribe call, from its request to the position the next one
    resumes from. Feed it every message (on_event) and the end (on_end)."""

    def __init__(self, resume_rv: str) -> None:
        # Until SYNCED of a fresh or known_objects start no position is complete.
        self.positioned = bool(resume_rv)
        self.rv = resume_rv
        self.progressed = False

    def request(
        self, base: pb.SubscribeRequest, known: Dict[str, str], stats: Stats
    ) -> pb.SubscribeRequest:
        """The request: base's filters, resumed by resourceVersion when there is a position,
        else with known_objects (fresh when the store is empty). Counts the start in stats."""
        req = pb.SubscribeRequest()
        req.CopyFrom(base)
        if self.positioned:
            req.resource_version = self.rv
            stats.resource_version_starts += 1
        elif known:
            req.known_objects.update(known)
            stats.known_objects_starts += 1
        else:
            stats.fresh_starts += 1
        return req

    def on_event(self, ev: pb.SubscribeResponse) -> None:
        """Records a received message (applied to the store already)."""
        self.progressed = True
        if ev.type == pb.EVENT_TYPE_SYNCED:
            self.positioned = True
        if self.positioned and ev.resource_version:
            self.rv = ev.resource_version

    def on_end(
        self, code: grpc.StatusCode, trailing_metadata: Optional[Iterable[Tuple[str, Any]]]
    ) -> str:
        """The position the next subscription resumes from by resourceVersion, "" for
        known_objects, after this one ended with code."""
        if code not in RESUMABLE or not self.positioned:
            return ""
        trailer = trailer_position(trailing_metadata)
        if trailer:
            return trailer
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            # Ended without a position: it left the server's history ring, so a resume by
            # resourceVersion would only get OUT_OF_RANGE. Resume with known_objects.
            return ""
        return self.rv


def subscribe_base(
    resource: str,
    namespace: str,
    label_selector: str,
    field_selector: str,
    fields: Sequence[str] = (),
    wait_for_sync: bool = False,
) -> pb.SubscribeRequest:
    """The filters (and field mask, and whether to wait for the resource's sync) every
    subscription of an informer sends."""
    return pb.SubscribeRequest(
        resource=resource,
        namespace=namespace,
        label_selector=label_selector,
        field_selector=field_selector,
        fields=list(fields),
        wait_for_sync=wait_for_sync,
    )


def addresses_of(target: str, addresses: Optional[Sequence[str]]) -> Tuple[str, ...]:
    """The addresses a client connects to: `addresses` when given (non-empty), else `target`."""
    if addresses is not None:
        if not addresses:
            raise ValueError("addresses is empty")
        return tuple(addresses)
    return (target,)


def read_failover(code: grpc.StatusCode, current: int, n: int, switches: int) -> Optional[int]:
    """Where a read that failed with code at address `current` (of n) retries after `switches`
    earlier moves: the next address after UNAVAILABLE while some address is untried, else None
    (the error stands)."""
    if code != grpc.StatusCode.UNAVAILABLE or switches >= n - 1:
        return None
    return (current + 1) % n
