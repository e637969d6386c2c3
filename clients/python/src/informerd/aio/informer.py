"""An asyncio informer over informerd: local read-only store, async handlers or an async
iterator of changes, and the threaded informer's resume rules and watchdog."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from typing import AsyncIterator, Awaitable, Callable, List, Optional, Sequence, Tuple, Union

import grpc
import grpc.aio

from informerd._resume import (
    DEFAULT_SILENCE_TIMEOUT,
    AddressRing,
    Backoff,
    Stats,
    Subscription,
    silence_timeout,
    subscribe_base,
)
from informerd.aio.client import Client
from informerd.client import InformerdError, KubeObject, _error
from informerd.informer import DeletedFinalStateUnknown, Event, Store, apply_event
from informerd.v1 import informer_pb2 as pb

_log = logging.getLogger("informerd")

#: A handler function may be a coroutine function or a plain one.
MaybeAwaitable = Union[Awaitable[None], None]
AddFunc = Callable[[KubeObject, bool], MaybeAwaitable]
UpdateFunc = Callable[[KubeObject, KubeObject], MaybeAwaitable]
DeleteFunc = Callable[[Union[KubeObject, DeletedFinalStateUnknown]], MaybeAwaitable]


class ResourceEventHandler:
    """Receives an async informer's notifications; override what you need (the defaults do
    nothing). As informerd.ResourceEventHandler, with coroutines: calls are awaited one at a
    time, in the order the changes were applied, the store already reflecting each. The informer
    reads no further message while a handler runs, so keep them quick (hand keys to a work
    queue); an exception is logged and does not stop the informer."""

    async def on_add(self, obj: KubeObject, is_in_initial_list: bool) -> None:
        """An object appeared; is_in_initial_list until the informer first synced."""

    async def on_update(self, old: KubeObject, new: KubeObject) -> None:
        """An object changed; old is the state the informer held before."""

    async def on_delete(self, obj: Union[KubeObject, DeletedFinalStateUnknown]) -> None:
        """An object was deleted or stopped matching: its last state, or a tombstone."""


class _FuncHandler(ResourceEventHandler):
    def __init__(
        self, on_add: Optional[AddFunc], on_update: Optional[UpdateFunc], on_delete: Optional[DeleteFunc]
    ) -> None:
        self._add, self._update, self._delete = on_add, on_update, on_delete

    async def on_add(self, obj: KubeObject, is_in_initial_list: bool) -> None:
        if self._add:
            await _maybe_await(self._add(obj, is_in_initial_list))

    async def on_update(self, old: KubeObject, new: KubeObject) -> None:
        if self._update:
            await _maybe_await(self._update(old, new))

    async def on_delete(self, obj: Union[KubeObject, DeletedFinalStateUnknown]) -> None:
        if self._delete:
            await _maybe_await(self._delete(obj))


async def _maybe_await(result: MaybeAwaitable) -> None:
    if inspect.isawaitable(result):
        await result


class _QueueHandler(ResourceEventHandler):
    """Feeds Informer.events()."""

    def __init__(self, queue: "asyncio.Queue[Optional[Event]]") -> None:
        self.queue = queue

    async def on_add(self, obj: KubeObject, is_in_initial_list: bool) -> None:
        self.queue.put_nowait(Event("add", obj, None, is_in_initial_list))

    async def on_update(self, old: KubeObject, new: KubeObject) -> None:
        self.queue.put_nowait(Event("update", new, old))

    async def on_delete(self, obj: Union[KubeObject, DeletedFinalStateUnknown]) -> None:
        self.queue.put_nowait(Event("delete", obj))


class Registration:
    """A handler added with Informer.add_event_handler."""

    def __init__(self, informer: "Informer", handler: ResourceEventHandler) -> None:
        self._informer = informer
        self.handler = handler

    def has_synced(self) -> bool:
        """True once the handler has been handed the informer's initial objects."""
        return self._informer.has_synced()


class _Watchdog:
    """Cancels `call` when feed() was not called for `timeout` seconds, from a task of its own.
    feed() is one assignment; set_timeout wakes the task to apply a new bound."""

    def __init__(self, timeout: float, call: grpc.aio.Call) -> None:
        self.fired = False
        self._timeout = timeout
        self._call = call
        self._last = time.monotonic()
        self._changed = asyncio.Event()
        self._task = asyncio.ensure_future(self._run())

    @property
    def timeout(self) -> float:
        return self._timeout

    def feed(self) -> None:
        self._last = time.monotonic()

    def set_timeout(self, timeout: float) -> None:
        self._timeout = timeout
        self._changed.set()

    async def stop(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    async def _run(self) -> None:
        while True:
            left = self._last + self._timeout - time.monotonic()
            if left <= 0:
                self.fired = True
                self._call.cancel()
                return
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass


class Informer:
    """Follows one resource through informerd on asyncio, as informerd.Informer does with a
    thread: a local store (informerd.Store), async add/update/delete handlers or an async
    iterator of changes (events()), and has_synced / wait_for_sync.

    It resumes as the threaded informer does (clients/README.md, "Resuming after a
    reconnect"): known_objects after a broken stream, the last position after
    RESOURCE_EXHAUSTED, UNAUTHENTICATED or PERMISSION_DENIED; a stream silent for twice the
    announced bookmark interval (60 s when none) is cancelled and resumed; each resubscription
    after a failure goes to the client's next address. The `wait_for_sync` argument is
    informerd.Informer's (subscriptions wait for an on-demand resource's first sync). Use it from
    one event loop.
    """

    def __init__(
        self,
        client: Client,
        resource: str,
        *,
        namespace: str = "",
        label_selector: str = "",
        field_selector: str = "",
        fields: Sequence[str] = (),
        wait_for_sync: bool = False,
        initial_backoff: float = 0.25,
        max_backoff: float = 30.0,
        on_error: Optional[Callable[[InformerdError], None]] = None,
    ) -> None:
        self._client = client
        self._resource = resource
        self._base = subscribe_base(
            resource, namespace, label_selector, field_selector, fields, wait_for_sync
        )
        self._initial_backoff = initial_backoff
        self._max_backoff = max(max_backoff, initial_backoff)
        self._on_error = on_error or (
            lambda e: _log.warning("informerd subscription of %s ended: %s; resubscribing", resource, e)
        )
        #: The local cache; read-only for callers.
        self.store = Store()
        self._synced = asyncio.Event()
        self._stopping = False
        self._wake = asyncio.Event()  # set by stop(): ends a backoff sleep
        # Serialises applying events and (un)registering handlers, so a late handler's replay
        # and live events neither overlap nor miss each other.
        self._deliver = asyncio.Lock()
        self._handlers: List[Registration] = []
        self._queues: List["asyncio.Queue[Optional[Event]]"] = []
        self._call: Optional[grpc.aio.UnaryStreamCall] = None  # type: ignore[type-arg]
        self._task: Optional["asyncio.Task[None]"] = None
        self._stats = Stats()
        self._silence_timeout = DEFAULT_SILENCE_TIMEOUT

    async def add_event_handler(
        self,
        handler: Optional[ResourceEventHandler] = None,
        *,
        on_add: Optional[AddFunc] = None,
        on_update: Optional[UpdateFunc] = None,
        on_delete: Optional[DeleteFunc] = None,
    ) -> Registration:
        """Registers a handler: a ResourceEventHandler, or functions (coroutine functions or
        plain ones). When the informer already holds objects, the handler first gets
        on_add(obj, True) for each, before any later change. Must not be awaited from a
        handler."""
        h = handler or _FuncHandler(on_add, on_update, on_delete)
        reg = Registration(self, h)
        async with self._deliver:
            for obj in self.store.list():
                await self._call_handler(h.on_add(obj, True))
            self._handlers.append(reg)
        return reg

    def remove_event_handler(self, reg: Registration) -> None:
        """Stops calls to reg's handler after the one in progress; others are unaffected."""
        self._handlers = [r for r in self._handlers if r is not reg]

    async def events(self) -> AsyncIterator[Event]:
        """The informer's changes as an async iterator of Event: first an "add" for each object
        held (is_in_initial_list true), then every change in order. Ends when the informer
        stops. Changes queue up unbounded while the consumer is busy."""
        q: "asyncio.Queue[Optional[Event]]" = asyncio.Queue()
        self._queues.append(q)
        reg = await self.add_event_handler(_QueueHandler(q))
        if self._stopping:
            q.put_nowait(None)
        try:
            while True:
                e = await q.get()
                if e is None:
                    return
                yield e
        finally:
            self.remove_event_handler(reg)
            self._queues = [x for x in self._queues if x is not q]

    def has_synced(self) -> bool:
        """True once the first subscription delivered every initial object; stays true."""
        return self._synced.is_set()

    async def wait_for_sync(self, timeout: Optional[float] = None) -> bool:
        """Waits until has_synced (or timeout seconds); returns has_synced."""
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        return self._synced.is_set()

    def stats(self) -> Stats:
        """A copy of the subscription counters."""
        return Stats(**vars(self._stats))

    def start(self) -> "asyncio.Task[None]":
        """Starts run() as a task of the running loop and returns it. Call once."""
        if self._task is not None:
            raise RuntimeError("informer already started")
        self._task = asyncio.ensure_future(self.run())
        return self._task

    async def stop(self) -> None:
        """Ends the subscription, waits for the task start() made, and ends events()."""
        self._stopping = True
        self._wake.set()
        if self._call is not None:
            self._call.cancel()
        if self._task is not None and self._task is not asyncio.current_task():
            await self._task
        for q in self._queues:
            q.put_nowait(None)

    async def __aenter__(self) -> "Informer":
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def run(self) -> None:
        """Subscribes and keeps the store current until stop() (start() runs it as a task)."""
        backoff = Backoff(self._initial_backoff, self._max_backoff)
        ring = AddressRing(len(self._client.stubs))
        resume_rv = ""
        while not self._stopping:
            err, progressed, resume_rv = await self._subscribe(resume_rv, ring.current)
            if self._stopping:
                return
            switched = ring.advance()
            self._stats.failures += 1
            self._stats.address_switches += int(switched)
            self._on_error(err)
            if progressed:
                backoff.reset()
            try:
                await asyncio.wait_for(self._wake.wait(), backoff.next())
            except asyncio.TimeoutError:
                pass

    async def _subscribe(self, resume_rv: str, address: int) -> Tuple[InformerdError, bool, str]:
        """One Subscribe call to address number `address`, to its end (as the threaded
        Informer._subscribe): returns the error that ended it, whether messages arrived, and the
        position to resume from by resourceVersion ("" for known_objects)."""
        sub = Subscription(resume_rv)
        req = sub.request(self._base, self.store.resource_versions(), self._stats)
        call = self._client.stubs[address].Subscribe(req)
        self._call = call
        dog = _Watchdog(self._silence_timeout, call)
        trailers = None
        try:
            while True:
                ev = await call.read()
                if ev is grpc.aio.EOF:
                    err = InformerdError(grpc.StatusCode.UNAVAILABLE, "informerd ended the subscription")
                    break
                dog.feed()
                if not sub.progressed:
                    self._silence_timeout = silence_timeout(await call.initial_metadata())
                    dog.set_timeout(self._silence_timeout)
                self._stats.events += 1
                await self._apply(ev)
                sub.on_event(ev)
        except grpc.RpcError as e:
            err = _error(e)
            trailers = e.trailing_metadata() if isinstance(e, grpc.aio.AioRpcError) else None
        except asyncio.CancelledError:
            # grpc.aio raises CancelledError from a call cancelled locally: by stop() or by the
            # watchdog. Anything else is this task being cancelled: let it through.
            if not (self._stopping or dog.fired):
                call.cancel()
                raise
            err = InformerdError(grpc.StatusCode.CANCELLED, "subscription cancelled")
        finally:
            await dog.stop()
            self._call = None
        if dog.fired and not self._stopping:
            self._stats.silent_timeouts += 1
            err = InformerdError(
                grpc.StatusCode.UNAVAILABLE,
                f"informerd at {self._client.addresses[address]} sent nothing for "
                f"{dog.timeout:g} s (twice its bookmark interval)",
            )
        return err, sub.progressed, sub.on_end(err.code, trailers)

    async def _apply(self, ev: pb.SubscribeResponse) -> None:
        async with self._deliver:
            change = apply_event(self.store, ev, self._synced.is_set())
            if ev.type == pb.EVENT_TYPE_SYNCED:
                self._synced.set()
            if change is None:
                return
            for r in list(self._handlers):
                if r not in self._handlers:
                    continue  # removed by an earlier handler
                h = r.handler
                if change.type == "add":
                    await self._call_handler(h.on_add(change.obj, change.is_in_initial_list))  # type: ignore[arg-type]
                elif change.type == "update":
                    assert change.old is not None
                    await self._call_handler(h.on_update(change.old, change.obj))  # type: ignore[arg-type]
                else:
                    await self._call_handler(h.on_delete(change.obj))

    @staticmethod
    async def _call_handler(coro: Awaitable[None]) -> None:
        try:
            await coro
        except Exception:  # a faulty handler must not stop the informer
            _log.exception("informerd event handler failed")
