"""Direct reads of informerd's caches on grpc.aio: list, get, by_index, list_resources."""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence

import grpc
import grpc.aio

from informerd._resume import addresses_of, read_failover
from informerd.client import (
    DEFAULT_CHANNEL_OPTIONS,
    InformerdError,
    KubeObject,
    ObjectList,
    _error,
    channel_credentials,
    decode,
)
from informerd.v1 import informer_pb2 as pb
from informerd.v1 import informer_pb2_grpc as pb_grpc

# How often a paged read restarts after its snapshot expired (ABORTED).
_MAX_LIST_RESTARTS = 3


def secure_channel(
    target: str,
    *,
    ca_file: str,
    token_file: Optional[str] = None,
    cert_file: Optional[str] = None,
    key_file: Optional[str] = None,
    token_reread: float = 30.0,
) -> grpc.aio.Channel:
    """As informerd.secure_channel, for asyncio: TLS with `ca_file`, a ServiceAccount token
    re-read from `token_file`, and optionally a client certificate."""
    credentials = channel_credentials(
        ca_file=ca_file,
        token_file=token_file,
        cert_file=cert_file,
        key_file=key_file,
        token_reread=token_reread,
    )
    return grpc.aio.secure_channel(target, credentials, options=list(DEFAULT_CHANNEL_OPTIONS))


class Client:
    """Reads informerd's caches with asyncio; async informers subscribe through it. Use it from
    one event loop (the one it was made in).

    The arguments are informerd.Client's: `target`, or `channel` (yours to close), or
    `addresses` of several replicas (reads use the first, the next when it is UNAVAILABLE; an
    informer resubscribes at the next after a failure) with an optional
    `channel_factory(address)`.
    """

    def __init__(
        self,
        target: str = "127.0.0.1:50051",
        *,
        channel: Optional[grpc.aio.Channel] = None,
        timeout: float = 30.0,
        addresses: Optional[Sequence[str]] = None,
        channel_factory: Optional[Callable[[str], grpc.aio.Channel]] = None,
    ) -> None:
        if channel is not None and addresses is not None:
            raise ValueError("pass channel or addresses, not both")
        self._own_channel = channel is None
        #: The informerd addresses, in round-robin order (one when a channel was passed).
        self.addresses = addresses_of(target, addresses)
        make = channel_factory or (
            lambda a: grpc.aio.insecure_channel(a, options=list(DEFAULT_CHANNEL_OPTIONS))
        )
        self.channels: List[grpc.aio.Channel] = [channel] if channel is not None else [
            make(a) for a in self.addresses
        ]
        #: The channel and generated stub of the first address.
        self.channel: grpc.aio.Channel = self.channels[0]
        self.stub = pb_grpc.InformerServiceStub(self.channel)
        self.stubs = [self.stub] + [pb_grpc.InformerServiceStub(c) for c in self.channels[1:]]
        self.timeout = timeout
        # The address reads go to: the first, then the next after one was UNAVAILABLE.
        self._read = 0

    async def close(self) -> None:
        """Closes the channels the client made."""
        if self._own_channel:
            for c in self.channels:
                await c.close()

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(self, method: str, req: Any) -> Any:
        """One unary call at the current address; after UNAVAILABLE, reads move to the next
        address (once per other one)."""
        switches = 0
        while True:
            try:
                return await getattr(self.stubs[self._read], method)(req, timeout=self.timeout)
            except grpc.RpcError as e:
                err = _error(e)
                nxt = read_failover(err.code, self._read, len(self.stubs), switches)
                if nxt is None:
                    raise err from None
                self._read, switches = nxt, switches + 1

    async def _pages(self, method: str, req: Any) -> List[Any]:
        """Every page of a paged read, all from one address and one snapshot: after the snapshot
        expired (ABORTED) it starts over a few times, after UNAVAILABLE on the next address."""
        attempt = switches = 0
        while True:
            stub = self.stubs[self._read]  # a page token names that address's snapshot
            req.page_token = ""
            pages: List[Any] = []
            try:
                while True:
                    resp = await getattr(stub, method)(req, timeout=self.timeout)
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

    async def list_resources(self) -> Sequence[pb.ResourceStatus]:
        """What informerd caches, with sync state, size and index names."""
        resp = await self._call("ListResources", pb.ListResourcesRequest())
        return list(resp.resources)

    async def list(
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
        """As informerd.Client.list: every matching object, sorted by key, from one snapshot
        (all pages). Raises NotFound for a resource informerd does not cache, InformerdError
        with INVALID_ARGUMENT for a bad selector, UNAVAILABLE while not synced (with
        wait_for_sync, the call waits for the sync instead, until its deadline or the server's
        --max_wait)."""
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
        for resp in await self._pages("List", req):
            out.resource_version = resp.resource_version
            out.items.extend(decode(o) for o in resp.objects)
        return out

    async def get(
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
        resp = await self._call("Get", req)
        return decode(resp.object)

    async def by_index(
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
        """Every cached object whose index `index_name` holds `value`, sorted by key (all
        pages). INVALID_ARGUMENT names the resource's indexes when index_name is not one.
        wait_for_sync as list."""
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
        pages = await self._pages("ByIndex", req)
        return [decode(o) for resp in pages for o in resp.objects]


__all__ = ["Client", "InformerdError", "secure_channel"]
