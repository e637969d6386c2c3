"""Direct reads of informerd's caches: list, get, by_index, list_resources."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import grpc

from informerd._resume import addresses_of, read_failover
from informerd.v1 import informer_pb2 as pb
from informerd.v1 import informer_pb2_grpc as pb_grpc

#: A Kubernetes object as the API server's JSON, decoded: a plain dict.
KubeObject = Dict[str, Any]

# Channel options of the channels Client makes: a restarted informerd is noticed within about
# 2 s (gRPC's default reconnect backoff grows to 120 s). Not grpc.min_reconnect_backoff_ms: gRPC
# also uses it as the connect timeout, which a server busy starting up could miss.
# Keepalive: a ping every 30 s, also without calls, the connection dropped when one is not
# answered within 10 s, so a blackholed informerd is noticed even while no stream is open
# (informerd accepts pings 10 s apart or more); pings keep going on a stream with no data.
DEFAULT_CHANNEL_OPTIONS: Tuple[Tuple[str, int], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.keepalive_time_ms", 30000),
    ("grpc.keepalive_timeout_ms", 10000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
)

# How often a paged read restarts after its snapshot expired (ABORTED).
_MAX_LIST_RESTARTS = 3


class TokenFile(grpc.AuthMetadataPlugin):
    """Sends `authorization: Bearer <token>` with the token re-read from `path` at most every
    `reread` seconds, so a projected ServiceAccount token the kubelet rotates keeps working."""

    def __init__(self, path: str, reread: float = 30.0) -> None:
        self._path = path
        self._reread = reread
        self._lock = threading.Lock()
        self._token = ""
        self._next_read = 0.0

    def token(self) -> str:
        with self._lock:
            now = time.monotonic()
            if not self._token or now >= self._next_read:
                try:
                    with open(self._path) as f:
                        self._token = f.read().strip()
                except OSError:
                    pass  # keep the last one; informerd says UNAUTHENTICATED if it is bad
                self._next_read = now + self._reread
            return self._token

    def __call__(
        self, context: grpc.AuthMetadataContext, callback: grpc.AuthMetadataPluginCallback
    ) -> None:
        token = self.token()
        if not token:
            callback((), ValueError(f"no token in {self._path}"))
            return
        callback((("authorization", f"Bearer {token}"),), None)


def channel_credentials(
    *,
    ca_file: str,
    token_file: Optional[str] = None,
    cert_file: Optional[str] = None,
    key_file: Optional[str] = None,
    token_reread: float = 30.0,
) -> grpc.ChannelCredentials:
    """The credentials secure_channel uses (also for grpc.aio.secure_channel)."""

    def read(path: Optional[str]) -> Optional[bytes]:
        if path is None:
            return None
        with open(path, "rb") as f:
            return f.read()

    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(ca_file),
        private_key=read(key_file),
        certificate_chain=read(cert_file),
    )
    if token_file:
        credentials = grpc.composite_channel_credentials(
            credentials, grpc.metadata_call_credentials(TokenFile(token_file, token_reread))
        )
    return credentials


def secure_channel(
    target: str,
    *,
    ca_file: str,
    token_file: Optional[str] = None,
    cert_file: Optional[str] = None,
    key_file: Optional[str] = None,
    token_reread: float = 30.0,
) -> grpc.Channel:
    """A channel to an informerd running with TLS (and --auth): `ca_file` signs its certificate,
    `token_file` holds a ServiceAccount token of audience informerd (re-read as it rotates), and
    `cert_file`/`key_file` are a client certificate for mTLS."""
    credentials = channel_credentials(
        ca_file=ca_file,
        token_file=token_file,
        cert_file=cert_file,
        key_file=key_file,
        token_reread=token_reread,
    )
    return grpc.secure_channel(target, credentials, options=list(DEFAULT_CHANNEL_OPTIONS))


class InformerdError(Exception):
    """A failed informerd call: `code` is the gRPC status code, `details` its message."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class NotFound(InformerdError):
    """get: the cache holds no such object."""


def _error(e: grpc.RpcError) -> InformerdError:
    call: grpc.Call = e  # type: ignore[assignment]  # a failed call's error is also its Call
    code = call.code()
    details = call.details() or ""
    cls = NotFound if code == grpc.StatusCode.NOT_FOUND else InformerdError
    return cls(code, details)


def object_key(obj: KubeObject) -> str:
    """The cache key of obj: "namespace/name", or "name" when cluster-scoped."""
    meta = obj.get("metadata", {})
    ns = meta.get("namespace", "")
    return f"{ns}/{meta.get('name', '')}" if ns else str(meta.get("name", ""))


def decode(o: pb.Object) -> KubeObject:
    """The object's JSON as a dict."""
    value: KubeObject = json.loads(o.json)
    return value


@dataclass
class ObjectList:
    """One consistent list of objects and the resourceVersion of the snapshot it comes from."""

    items: List[KubeObject] = field(default_factory=list)
    resource_version: str = ""


class Client:
    """Reads informerd's caches; informers subscribe through it. Thread-safe.

    `target` is informerd's address ("host:port" or "unix:/path"); pass `channel` instead to use
    one you made (e.g. with TLS credentials); it is then yours to close.

    `addresses` lists several informerd replicas instead of `target`: reads use the first (the
    next one when it is UNAVAILABLE, and then stay there), and an informer whose stream fails
    resubscribes at the next one (round robin). Their channels come from
    `channel_factory(address)` (e.g. ``lambda a: secure_channel(a, ca_file=...)``), by default
    insecure ones with DEFAULT_CHANNEL_OPTIONS; the client closes them.
    """

    def __init__(
        self,
        target: str = "127.0.0.1:50051",
        *,
        channel: Optional[grpc.Channel] = None,
        timeout: float = 30.0,
        addresses: Optional[Sequence[str]] = None,
        channel_factory: Optional[Callable[[str], grpc.Channel]] = None,
    ) -> None:
        if channel is not None and addresses is not None:
            raise ValueError("pass channel or addresses, not both")
        self._own_channel = channel is None
        #: The informerd addresses, in round-robin order (one when a channel was passed).
        self.addresses = addresses_of(target, addresses)
        make = channel_factory or (
            lambda a: grpc.insecure_channel(a, options=list(DEFAULT_CHANNEL_OPTIONS))
        )
        self.channels: List[grpc.Channel] = [channel] if channel is not None else [
            make(a) for a in self.addresses
        ]
        #: The channel and generated stub of the first address, for calls the helpers do not
        #: cover.
        self.channel: grpc.Channel = self.channels[0]
        self.stub = pb_grpc.InformerServiceStub(self.channel)
        self.stubs = [self.stub] + [pb_grpc.InformerServiceStub(c) for c in self.channels[1:]]
        self.timeout = timeout
        # The address reads go to: the first, then the next after one was UNAVAILABLE.
        self._read = 0

    def close(self) -> None:
        """Closes the channels the client made."""
        if self._own_channel:
            for c in self.channels:
                c.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, req: Any) -> Any:
        """One unary call at the current address; after UNAVAILABLE, reads move to the next
        address (once per other one)."""
        switches = 0
        while True:
            try:
                return getattr(self.stubs[self._read], method)(req, timeout=self.timeout)
            except grpc.RpcError as e:
                err = _error(e)
                nxt = read_failover(err.code, self._read, len(self.stubs), switches)
                if nxt is None:
                    raise err from None
                self._read, switches = nxt, switches + 1

    def _pages(self, method: str, req: Any) -> List[Any]:
        """Every page of a paged read, all from one address and one snapshot: after the snapshot
        expired (ABORTED) it starts over a few times, after UNAVAILABLE on the next address."""
        attempt = switches = 0
        while True:
            stub = self.stubs[self._read]  # a page token names that address's snapshot
            req.page_token = ""
            pages: List[Any] = []
            try:
                while True:
                    resp = getattr(stub, method)(req, timeout=self.timeout)
                    pages.append(resp)
                    if not resp.next_page_token:
                        return pages
                    req.page_token = resp.next_page_token
            except grpc.RpcError as e:
                err = _error(e)
                if err.code == grpc.StatusCode.ABORTED and attempt < _MAX_LIST_RESTARTS:
                    attempt += 1  # the snapshot expired: start over
                    continue
                nxt = read_failover(err.code, self._read, len(self.stubs), switches)
                if nxt is None:
                    raise err from None
                self._read, switches = nxt, switches + 1

    def list_resources(self) -> Sequence[pb.ResourceStatus]:
        """What informerd caches, with sync state, size and index names."""
        resp = self._call("ListResources", pb.ListResourcesRequest())
        return list(resp.resources)

    def list(
        self,
        resource: str,
        *,
        namespace: str = "",
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        min_resource_version: str = "",
        fields: Sequence[str] = (),
        wait_for_sync: bool = False,
    ) -> ObjectList:
        """Every cached object of `resource` (kubectl-style name) matching the filters, sorted by
        key, from one snapshot (all pages fetched). Raises NotFound for a resource informerd does not
        cache, InformerdError with INVALID_ARGUMENT for a bad selector, UNAVAILABLE while not
        synced (with wait_for_sync, the call waits for the sync instead, until its deadline or the
        server's --max_wait: a resource informerd starts caching on demand answers once synced)."""
        req = pb.ListRequest(
            resource=resource,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            limit=limit,
            min_resource_version=min_resource_version,
            fields=list(fields),
            wait_for_sync=wait_for_sync,
        )
        out = ObjectList()
        for resp in self._pages("List", req):
            out.resource_version = resp.resource_version
            out.items.extend(decode(o) for o in resp.objects)
        return out

    def get(
        self,
        resource: str,
        namespace: str,
        name: str,
        *,
        min_resource_version: str = "",
        fields: Sequence[str] = (),
        wait_for_sync: bool = False,
    ) -> KubeObject:
        """One cached object. Raises NotFound when the cache has none; with
        min_resource_version, first waits until the cache has seen that version; with
        wait_for_sync, for the resource's initial sync (as list)."""
        req = pb.GetRequest(
            resource=resource,
            namespace=namespace,
            name=name,
            min_resource_version=min_resource_version,
            fields=list(fields),
            wait_for_sync=wait_for_sync,
        )
        resp = self._call("Get", req)
        return decode(resp.object)

    def by_index(
        self,
        resource: str,
        index_name: str,
        value: str,
        *,
        namespace: str = "",
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        min_resource_version: str = "",
        fields: Sequence[str] = (),
        wait_for_sync: bool = False,
    ) -> List[KubeObject]:
        """Every cached object whose index `index_name` holds `value`, sorted by key (all pages).
        INVALID_ARGUMENT names the resource's indexes when index_name is not one. wait_for_sync
        as list."""
        req = pb.ByIndexRequest(
            resource=resource,
            index_name=index_name,
            value=value,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            limit=limit,
            min_resource_version=min_resource_version,
            fields=list(fields),
            wait_for_sync=wait_for_sync,
        )
        pages = self._pages("ByIndex", req)
        return [decode(o) for resp in pages for o in resp.objects]
