"""A client-side informer over informerd: local read-only store, handlers, resume on reconnect."""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple, Union

import grpc

from informerd.client import Client, InformerdError, KubeObject, _error, decode
from informerd.v1 import informer_pb2 as pb

_log = logging.getLogger("informerd")

# Trailing metadata in which a RESOURCE_EXHAUSTED subscription names the last position it
# delivered.
RESUME_TRAILER = "informer-resume-resource-version"

# Codes ending a stream of a server that still holds its position (see _run).
_RESUMABLE = (
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
)


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


@dataclass
class Stats:
    """An informer's subscriptions by how they started, and what they received."""

    fresh_starts: int = 0
    known_objects_starts: int = 0
    resource_version_starts: int = 0
    failures: int = 0
    events: int = 0


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
    After RESOURCE_EXHAUSTED (it fell behind) it resumes from the last position instead.

    `resource` is kubectl-style ("configmaps", "deployments.apps"). Thread-safe.
    """

    def __init__(
        self,
        client: Client,
        resource: str,
        *,
        namespace: str = "",
        label_selector: str = "",
        field_selector: str = "",
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
        delay = self._initial_backoff
        resume_rv = ""
        while not self._stopping.is_set():
            err, progressed, rv = self._subscribe(resume_rv)
            if self._stopping.is_set():
                return
            with self._lock:
                self._stats.failures += 1
            self._on_error(err)
            if progressed:
                delay = self._initial_backoff
            # Only RESOURCE_EXHAUSTED, UNAUTHENTICATED (the token expired; the next call sends
            # the re-read one) and PERMISSION_DENIED (access withdrawn) end a stream of a server
            # that still holds our position in its history; after anything else the store's
            # versions are the one safe start.
            resume_rv = rv if err.code in _RESUMABLE else ""
            self._stopping.wait(delay * random.uniform(0.8, 1.2))
            delay = min(2 * delay, self._max_backoff)

    def _subscribe(self, resume_rv: str) -> Tuple[InformerdError, bool, str]:
        """Runs one Subscribe call to its end: from resume_rv when set, else from the store's
        objects (fresh when empty). Returns the error that ended it, whether events arrived, and
        the position to resume from by resourceVersion ("" when none is complete)."""
        req = pb.SubscribeRequest(
            resource=self._resource,
            namespace=self._namespace,
            label_selector=self._label_selector,
            field_selector=self._field_selector,
        )
        # Until SYNCED of a fresh or known_objects start no position is complete.
        positioned = bool(resume_rv)
        with self._lock:
            if positioned:
                req.resource_version = resume_rv
                self._stats.resource_version_starts += 1
            else:
                known = self.store.resource_versions()
                if known:
                    req.known_objects.update(known)
                    self._stats.known_objects_starts += 1
                else:
                    self._stats.fresh_starts += 1
        call = self._client.stub.Subscribe(req)
        with self._lock:
            self._call = call
        if self._stopping.is_set():
            call.cancel()
        rv, progressed = resume_rv, False
        try:
            for ev in call:
                progressed = True
                with self._lock:
                    self._stats.events += 1
                self._apply(ev)
                if ev.type == pb.EVENT_TYPE_SYNCED:
                    positioned = True
                if positioned and ev.resource_version:
                    rv = ev.resource_version
            err = InformerdError(grpc.StatusCode.UNAVAILABLE, "informerd ended the subscription")
        except grpc.RpcError as e:
            err = _error(e)
            call_err: grpc.Call = e  # type: ignore[assignment]
            trailer = ""
            for key, value in call_err.trailing_metadata() or ():
                if key == RESUME_TRAILER and value:
                    trailer = value.decode() if isinstance(value, bytes) else value
            if trailer:
                rv = trailer
            elif err.code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                # Ended without a position: it left the server's history ring, so a resume by
                # resourceVersion would only get OUT_OF_RANGE. Resume with known_objects.
                rv = ""
        finally:
            with self._lock:
                self._call = None
        return err, progressed, rv if positioned else ""

    def _apply(self, ev: pb.SubscribeResponse) -> None:
        """Brings one event into the store and tells the handlers. States the store already
        holds (same or newer resourceVersion, deletion of an absent key) are dropped, so a
        resumed stream never repeats an event."""
        with self._deliver:
            if ev.type in (pb.EVENT_TYPE_ADDED, pb.EVENT_TYPE_MODIFIED):
                key, rv = _key(ev.object), ev.object.resource_version
                held = self.store._get(key)
                if held is not None and not _rv_newer(rv, held[0]):
                    return
                try:
                    obj = decode(ev.object)
                except ValueError:
                    _log.exception("informerd sent an undecodable object %s; dropped", key)
                    return
                self.store._put(key, rv, obj)
                initial = not self._synced.is_set()
                for r in self._handlers:
                    if held is not None:
                        self._call_handler(r.handler.on_update, held[1], obj)
                    else:
                        self._call_handler(r.handler.on_add, obj, initial)
            elif ev.type == pb.EVENT_TYPE_DELETED:
                key = _key(ev.object)
                held = self.store._get(key)
                if held is None:
                    return
                self.store._remove(key)
                arg: Union[KubeObject, DeletedFinalStateUnknown] = DeletedFinalStateUnknown(key, held[1])
                if not ev.final_state_unknown:
                    try:
                        arg = decode(ev.object)
                    except ValueError:
                        pass  # the tombstone with the last state held says as much
                for r in self._handlers:
                    self._call_handler(r.handler.on_delete, arg)
            elif ev.type == pb.EVENT_TYPE_SYNCED:
                self._synced.set()

    @staticmethod
    def _call_handler(fn: Callable[..., None], *args: object) -> None:
        try:
            fn(*args)
        except Exception:  # a faulty handler must not stop the informer
            _log.exception("informerd event handler failed")
