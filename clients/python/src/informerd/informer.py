"""A client-side informer over informerd: local read-only store, handlers, resume on reconnect."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import grpc

from informerd._resume import RESUME_TRAILER as RESUME_TRAILER  # re-exported
from informerd._resume import Stats as Stats  # re-exported
from informerd._resume import (
    DEFAULT_SILENCE_TIMEOUT,
    AddressRing,
    Backoff,
    Subscription,
    silence_timeout,
    subscribe_base,
)
from informerd.client import Client, InformerdError, KubeObject, _error, decode
from informerd.v1 import informer_pb2 as pb

_log = logging.getLogger("informerd")

class DeletedFinalStateUnknown(NamedTuple):
    """What on_delete receives when the informer did not see the deletion itself (the object was
    gone when it resynchronised after a reconnect), as client-go's tombstone: `obj` is the last
    state the informer held."""

    key: str
    obj: KubeObject


def deletion_handling_key(obj: Union[KubeObject, DeletedFinalStateUnknown]) -> str:
    """The key of an on_delete argument: an object's, or a tombstone's."""
    if isinstance(obj, DeletedFinalStateUnknown):
        return obj.key
    return _key_of(obj)


def _key_of(obj: KubeObject) -> str:
    meta = obj.get("metadata", {})
    ns = meta.get("namespace", "")
    return f"{ns}/{meta.get('name', '')}" if ns else str(meta.get("name", ""))


def _key(o: pb.Object) -> str:
    return f"{o.namespace}/{o.name}" if o.namespace else o.name


def _rv_newer(a: str, b: str) -> bool:
    """Whether resourceVersion a is newer than b. They are decimal numbers (informerd compares
    them so too); unparsable ones count as newer when they differ, so no update is dropped."""
    try:
        return int(a) > int(b)
    except ValueError:
        return a != b


class Event(NamedTuple):
    """One change an informer applied to its store: type "add" (obj, is_in_initial_list),
    "update" (old -> obj) or "delete" (obj: its last state or a DeletedFinalStateUnknown)."""

    type: str
    obj: Union[KubeObject, "DeletedFinalStateUnknown"]
    old: Optional[KubeObject] = None
    is_in_initial_list: bool = False


def apply_event(store: "Store", ev: pb.SubscribeResponse, synced: bool) -> Optional[Event]:
    """Brings one received message into store and returns the change handlers are told of, or
    None (a bookmark, SYNCED, or a state the store already holds: same or newer
    resourceVersion, deletion of an absent key; so a resumed stream never repeats an event).
    `synced` says whether the informer has synced (for is_in_initial_list)."""
    if ev.type in (pb.EVENT_TYPE_ADDED, pb.EVENT_TYPE_MODIFIED):
        key, rv = _key(ev.object), ev.object.resource_version
        held = store._get(key)
        if held is not None and not _rv_newer(rv, held[0]):
            return None
        try:
            obj = decode(ev.object)
        except ValueError:
            _log.exception("informerd sent an undecodable object %s; dropped", key)
            return None
        store._put(key, rv, obj)
        if held is not None:
            return Event("update", obj, held[1])
        return Event("add", obj, None, not synced)
    if ev.type == pb.EVENT_TYPE_DELETED:
        key = _key(ev.object)
        held = store._get(key)
        if held is None:
            return None
        store._remove(key)
        arg: Union[KubeObject, DeletedFinalStateUnknown] = DeletedFinalStateUnknown(key, held[1])
        if not ev.final_state_unknown:
            try:
                arg = decode(ev.object)
            except ValueError:
                pass  # the tombstone with the last state held says as much
        return Event("delete", arg)
    return None


class _Watchdog:
    """Calls expire() once when feed() was not called for `timeout` seconds (counted from
    start()), from a thread of its own. feed() is cheap (one assignment, no wakeup: the thread
    rechecks at the old deadline); set_timeout wakes it to apply a new bound."""

    def __init__(self, timeout: float, expire: Callable[[], object]) -> None:
        self.fired = False
        self._timeout = timeout
        self._expire = expire
        self._last = time.monotonic()
        self._cond = threading.Condition()
        self._done = False
        self._thread = threading.Thread(target=self._run, name="informerd-watchdog", daemon=True)

    @property
    def timeout(self) -> float:
        return self._timeout

    def set_timeout(self, timeout: float) -> None:
        with self._cond:
            self._timeout = timeout
            self._cond.notify()

    def start(self) -> None:
        self._last = time.monotonic()
        self._thread.start()

    def feed(self) -> None:
        self._last = time.monotonic()

    def stop(self) -> None:
        with self._cond:
            self._done = True
            self._cond.notify()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        with self._cond:
            while not self._done:
                left = self._last + self._timeout - time.monotonic()
                if left <= 0:
                    self.fired = True
                    break
                self._cond.wait(left)
            else:
                return
        self._expire()


class ResourceEventHandler:
    """Receives an informer's notifications; override what you need (the defaults do nothing).

    Calls are serial, from the informer's thread, in the order the changes were applied; the
    store already reflects each change when its call is made. Keep handlers quick (hand keys to a
    work queue); an exception is logged and does not stop the informer.
    """

    def on_add(self, obj: KubeObject, is_in_initial_list: bool) -> None:
        """An object appeared. is_in_initial_list is true until the informer first synced, and
        for the replay a handler added later gets."""

    def on_update(self, old: KubeObject, new: KubeObject) -> None:
        """An object changed; old is the state the informer held before."""

    def on_delete(self, obj: Union[KubeObject, DeletedFinalStateUnknown]) -> None:
        """An object was deleted or stopped matching: its last state, or a tombstone when the
        deletion was only noticed on resuming."""


AddFunc = Callable[[KubeObject, bool], None]
UpdateFunc = Callable[[KubeObject, KubeObject], None]
DeleteFunc = Callable[[Union[KubeObject, DeletedFinalStateUnknown]], None]


class _FuncHandler(ResourceEventHandler):
    def __init__(
        self, on_add: Optional[AddFunc], on_update: Optional[UpdateFunc], on_delete: Optional[DeleteFunc]
    ) -> None:
        self._add, self._update, self._delete = on_add, on_update, on_delete

    def on_add(self, obj: KubeObject, is_in_initial_list: bool) -> None:
        if self._add:
            self._add(obj, is_in_initial_list)

    def on_update(self, old: KubeObject, new: KubeObject) -> None:
        if self._update:
            self._update(old, new)

    def on_delete(self, obj: Union[KubeObject, DeletedFinalStateUnknown]) -> None:
        if self._delete:
            self._delete(obj)


class Store:
    """An informer's local, read-only cache keyed by "namespace/name". Thread-safe.

    The dicts it returns are shared with handlers and other readers: do not modify them (copy
    first, e.g. with copy.deepcopy).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: Dict[str, Tuple[str, KubeObject]] = {}  # key -> (resourceVersion, object)

    def get_by_key(self, key: str) -> Optional[KubeObject]:
        """The object stored under key, or None."""
        with self._lock:
            item = self._items.get(key)
        return item[1] if item else None

    def get(self, namespace: str, name: str) -> Optional[KubeObject]:
        """The object with this namespace ("" when cluster-scoped) and name, or None."""
        return self.get_by_key(f"{namespace}/{name}" if namespace else name)

    def list(self) -> List[KubeObject]:
        """Every stored object, sorted by key."""
        with self._lock:
            items = sorted(self._items.items())
        return [obj for _, (_, obj) in items]

    def list_keys(self) -> List[str]:
        """Every stored key, sorted."""
        with self._lock:
            return sorted(self._items)

    def resource_versions(self) -> Dict[str, str]:
        """Key -> resourceVersion of every stored object."""
        with self._lock:
            return {k: rv for k, (rv, _) in self._items.items()}

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def _get(self, key: str) -> Optional[Tuple[str, KubeObject]]:
        with self._lock:
            return self._items.get(key)

    def _put(self, key: str, rv: str, obj: KubeObject) -> None:
        with self._lock:
            self._items[key] = (rv, obj)

    def _remove(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)


class Registration:
    """A handler added with Informer.add_event_handler."""

    def __init__(self, informer: "Informer", handler: ResourceEventHandler) -> None:
        self._informer = informer
        self.handler = handler

    def has_synced(self) -> bool:
        """True once the handler has been handed the informer's initial objects."""
        return self._informer.has_synced()


class Informer:
    """Follows one resource through informerd, as client-go's SharedIndexInformer: a local store
    and add/update/delete handlers, while the LIST and WATCH happen once, in informerd.

    After a stream breaks (informerd restarted, connection lost) it resubscribes with
    exponential backoff, sending the resourceVersion of every object it holds, so the server sends
    only what changed meanwhile: each change reaches the handlers once, none lost, none repeated.
    After RESOURCE_EXHAUSTED (it fell behind) it resumes from the last position instead. A
    stream that brings nothing (no event, no bookmark) for twice the bookmark interval informerd
    announced (60 s when it announced none) is cancelled and resumed the same way, so a
    blackholed informerd is left within two intervals. With several client addresses each
    resubscription after a failure goes to the next one (round robin).

    `resource` is kubectl-style ("configmaps", "deployments.apps"). `fields` (a field mask, e.g.
    ["metadata.labels", "spec.nodeName"]) makes the store hold objects pruned to those paths and
    skips updates that change nothing inside them; after a reconnect an object whose skipped
    changes moved its resourceVersion may arrive as an update equal to what the store holds.
    With `wait_for_sync`, a subscription of a resource informerd starts caching on demand waits
    for its first sync (within the server's --max_wait) instead of failing UNAVAILABLE and
    backing off. Thread-safe.
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
        self._namespace = namespace
        self._label_selector = label_selector
        self._field_selector = field_selector
        self._initial_backoff = initial_backoff
        self._max_backoff = max(max_backoff, initial_backoff)
        self._base = subscribe_base(
            resource, namespace, label_selector, field_selector, fields, wait_for_sync
        )
        # Silence after which a stream counts as dead: twice the last announced bookmark
        # interval (the fallback until a server announced one). Only the run loop writes it.
        self._silence_timeout = DEFAULT_SILENCE_TIMEOUT
        self._on_error = on_error or (
            lambda e: _log.warning("informerd subscription of %s ended: %s; resubscribing", resource, e)
        )
        #: The local cache; read-only for callers.
        self.store = Store()
        self._synced = threading.Event()
        self._stopping = threading.Event()
        # Serialises applying events, calling handlers and registering handlers, so a late
        # handler's replay and live events neither overlap nor miss each other.
        self._deliver = threading.Lock()
        self._handlers: List[Registration] = []
        self._lock = threading.Lock()  # guards _call, _thread, _stats
        self._call: Optional[grpc.RpcContext] = None
        self._thread: Optional[threading.Thread] = None
        self._stats = Stats()

    def add_event_handler(
        self,
        handler: Optional[ResourceEventHandler] = None,
        *,
        on_add: Optional[AddFunc] = None,
        on_update: Optional[UpdateFunc] = None,
        on_delete: Optional[DeleteFunc] = None,
    ) -> Registration:
        """Registers a handler: a ResourceEventHandler, or functions. When the informer already
        holds objects, the handler first gets on_add(obj, True) for each, as one consistent
        snapshot, before any later change. Must not be called from a handler."""
        h = handler or _FuncHandler(on_add, on_update, on_delete)
        reg = Registration(self, h)
        with self._deliver:
            for obj in self.store.list():
                self._call_handler(h.on_add, obj, True)
            self._handlers.append(reg)
        return reg

    def remove_event_handler(self, reg: Registration) -> None:
        """Stops calls to reg's handler; others are unaffected."""
        with self._deliver:
            self._handlers = [r for r in self._handlers if r is not reg]

    def has_synced(self) -> bool:
        """True once the first subscription delivered every initial object; stays true."""
        return self._synced.is_set()

    def wait_for_sync(self, timeout: Optional[float] = None) -> bool:
        """Waits until has_synced (or timeout seconds); returns has_synced."""
        return self._synced.wait(timeout)

    def stats(self) -> Stats:
        """A copy of the subscription counters."""
        with self._lock:
            return Stats(**vars(self._stats))

    def start(self) -> None:
        """Starts following the resource in a daemon thread. Call once."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("informer already started")
            self._thread = threading.Thread(target=self.run, name=f"informer-{self._resource}", daemon=True)
            self._thread.start()

    def stop(self, timeout: Optional[float] = None) -> None:
        """Ends the subscription and waits for the thread started by start()."""
        self._stopping.set()
        with self._lock:
            call, thread = self._call, self._thread
        if call is not None:
            call.cancel()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def __enter__(self) -> "Informer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self) -> None:
        """Subscribes and keeps the store current until stop(); blocks (start() runs it in a
        thread)."""
        backoff = Backoff(self._initial_backoff, self._max_backoff)
        ring = AddressRing(len(self._client.stubs))
        resume_rv = ""
        while not self._stopping.is_set():
            err, progressed, resume_rv = self._subscribe(resume_rv, ring.current)
            if self._stopping.is_set():
                return
            switched = ring.advance()
            with self._lock:
                self._stats.failures += 1
                self._stats.address_switches += int(switched)
            self._on_error(err)
            if progressed:
                backoff.reset()
            self._stopping.wait(backoff.next())

    def _subscribe(self, resume_rv: str, address: int) -> Tuple[InformerdError, bool, str]:
        """Runs one Subscribe call to the client's address number `address` to its end: from
        resume_rv when set, else from the store's objects (fresh when empty). Returns the error
        that ended it, whether events arrived, and the position to resume from by
        resourceVersion ("" for known_objects). A stream silent for twice the bookmark interval
        the server announced is cancelled and counts as UNAVAILABLE."""
        sub = Subscription(resume_rv)
        with self._lock:
            req = sub.request(self._base, self.store.resource_versions(), self._stats)
        call = self._client.stubs[address].Subscribe(req)
        # Until the first message shows the server's interval, the last one announced (or the
        # fallback) bounds the silence.
        dog = _Watchdog(self._silence_timeout, call.cancel)
        with self._lock:
            self._call = call
        if self._stopping.is_set():
            call.cancel()
        dog.start()
        try:
            for ev in call:
                dog.feed()
                if not sub.progressed:
                    self._silence_timeout = silence_timeout(call.initial_metadata())
                    dog.set_timeout(self._silence_timeout)
                with self._lock:
                    self._stats.events += 1
                self._apply(ev)
                sub.on_event(ev)
            err = InformerdError(grpc.StatusCode.UNAVAILABLE, "informerd ended the subscription")
            trailers = None
        except grpc.RpcError as e:
            err = _error(e)
            call_err: grpc.Call = e  # type: ignore[assignment]
            trailers = call_err.trailing_metadata()
        finally:
            dog.stop()
            with self._lock:
                self._call = None
        if dog.fired and not self._stopping.is_set():
            with self._lock:
                self._stats.silent_timeouts += 1
            err = InformerdError(
                grpc.StatusCode.UNAVAILABLE,
                f"informerd at {self._client.addresses[address]} sent nothing for "
                f"{dog.timeout:g} s (twice its bookmark interval)",
            )
        return err, sub.progressed, sub.on_end(err.code, trailers)

    def _apply(self, ev: pb.SubscribeResponse) -> None:
        """Brings one event into the store and tells the handlers (see apply_event)."""
        with self._deliver:
            change = apply_event(self.store, ev, self._synced.is_set())
            if ev.type == pb.EVENT_TYPE_SYNCED:
                self._synced.set()
            if change is None:
                return
            for r in self._handlers:
                if change.type == "add":
                    self._call_handler(r.handler.on_add, change.obj, change.is_in_initial_list)
                elif change.type == "update":
                    self._call_handler(r.handler.on_update, change.old, change.obj)
                else:
                    self._call_handler(r.handler.on_delete, change.obj)

    @staticmethod
    def _call_handler(fn: Callable[..., None], *args: object) -> None:
        try:
            fn(*args)
        except Exception:  # a faulty handler must not stop the informer
            _log.exception("informerd event handler failed")
