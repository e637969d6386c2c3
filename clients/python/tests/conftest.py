"""Fixtures: an in-process fake informerd for unit tests, and the end-to-end environment.

End-to-end tests need (tests/e2e/clients_e2e_test.sh sets them):
  INFORMERD_TEST_ADDR        a running informerd caching configmaps
  INFORMERD_TEST_KUBECONFIG  the API server it caches
  INFORMERD_TEST_BIN         the informerd binary, for tests that restart a server of their own
"""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import time
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Tuple

import grpc
import pytest

from informerd import Client
from informerd.v1 import informer_pb2 as pb
from informerd.v1 import informer_pb2_grpc as pb_grpc

# A script plays one Subscribe call: it gets the request and the context, yields responses and
# may end the call with context.abort(...).
Script = Callable[[pb.SubscribeRequest, grpc.ServicerContext], Iterator[pb.SubscribeResponse]]


class FakeServicer(pb_grpc.InformerServiceServicer):
    """Subscribe follows scripts the test hands it one per call, recording every request."""

    def __init__(self) -> None:
        self.requests: "queue.Queue[pb.SubscribeRequest]" = queue.Queue()
        self.scripts: "queue.Queue[Script]" = queue.Queue()
        self.list_handler: Optional[Callable[[pb.ListRequest, grpc.ServicerContext], pb.ListResponse]] = None

    def Subscribe(self, request: pb.SubscribeRequest, context: grpc.ServicerContext) -> Iterator[pb.SubscribeResponse]:
        self.requests.put(request)
        while context.is_active():
            try:
                script = self.scripts.get(timeout=0.05)
            except queue.Empty:
                continue
            yield from script(request, context)
            return

    def List(self, request: pb.ListRequest, context: grpc.ServicerContext) -> pb.ListResponse:
        assert self.list_handler is not None
        return self.list_handler(request, context)

    def next_request(self, timeout: float = 5.0) -> pb.SubscribeRequest:
        return self.requests.get(timeout=timeout)


@dataclass
class Fake:
    servicer: FakeServicer
    client: Client


def fake_server() -> Tuple[grpc.Server, FakeServicer, str]:
    """A started in-process fake informerd: the server, its servicer and its address."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    servicer = FakeServicer()
    pb_grpc.add_InformerServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, servicer, f"127.0.0.1:{port}"


@pytest.fixture
def fake() -> Iterator[Fake]:
    server, servicer, addr = fake_server()
    client = Client(addr)
    yield Fake(servicer, client)
    client.close()
    server.stop(0)


def obj(ns: str, name: str, rv: str) -> pb.Object:
    import json

    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"namespace": ns, "name": name, "resourceVersion": rv},
        "data": {"k": rv},
    }
    return pb.Object(namespace=ns, name=name, resource_version=rv, uid="uid-" + name, json=json.dumps(body))


def ev(t: int, o: Optional[pb.Object] = None, rv: str = "", **kw: Any) -> pb.SubscribeResponse:
    return pb.SubscribeResponse(type=t, object=o, resource_version=rv, **kw)  # type: ignore[arg-type]


def send(
    *events: pb.SubscribeResponse,
    end: Optional[grpc.StatusCode] = None,
    trailer: str = "",
    bookmark_interval_ms: int = 0,
) -> Script:
    """A script announcing bookmark_interval_ms (when set), sending events, then ending with
    status `end` (None: silent until the client goes)."""

    def script(req: pb.SubscribeRequest, ctx: grpc.ServicerContext) -> Iterator[pb.SubscribeResponse]:
        if bookmark_interval_ms:
            ctx.send_initial_metadata((("informer-bookmark-interval-ms", str(bookmark_interval_ms)),))
        yield from events
        if end is not None:
            if trailer:
                ctx.set_trailing_metadata((("informer-resume-resource-version", trailer),))
            ctx.abort(end, "scripted end")
        while ctx.is_active():
            time.sleep(0.01)

    return script


# --- end-to-end environment -------------------------------------------------------------------


@dataclass
class Env:
    addr: str
    kubeconfig: str
    bin: str


@pytest.fixture
def env() -> Env:
    addr, kubeconfig = os.environ.get("INFORMERD_TEST_ADDR"), os.environ.get("INFORMERD_TEST_KUBECONFIG")
    if not addr or not kubeconfig:
        pytest.skip(
            "end-to-end test: set INFORMERD_TEST_ADDR (a running informerd) and "
            "INFORMERD_TEST_KUBECONFIG (its API server); tests/e2e/clients_e2e_test.sh does"
        )
    return Env(addr, kubeconfig, os.environ.get("INFORMERD_TEST_BIN", ""))


@pytest.fixture
def core(env: Env) -> Any:
    """kubernetes.client.CoreV1Api of the API server."""
    import kubernetes

    api_client = kubernetes.config.new_client_from_config(config_file=env.kubeconfig)
    return kubernetes.client.CoreV1Api(api_client)


@pytest.fixture
def namespace(core: Any) -> Iterator[str]:
    """A namespace of the test's own, deleted when it ends."""
    import kubernetes

    name = "py-e2e-%08x" % random.getrandbits(32)
    core.create_namespace(kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


class Server:
    """An informerd process of the test's own on a unix socket, caching configmaps."""

    def __init__(self, env: Env, tmp: Path) -> None:
        self.env, self.socket, self.log = env, tmp / "informerd.sock", tmp / "informerd.log"
        self.proc: Optional[subprocess.Popen[bytes]] = None

    @property
    def target(self) -> str:
        return f"unix:{self.socket}"

    def start(self) -> None:
        """Starts (again) on the same socket and waits until configmaps are synced."""
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    self.env.bin,
                    f"--kubeconfig={self.env.kubeconfig}",
                    f"--listen=unix:{self.socket}",
                    "--metrics_listen=",
                    "--resources=configmaps",
                    "--bookmark_interval=1s",
                    "--log_format=text",
                ],
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 60
        with Client(self.target, timeout=1.0) as c:
            while True:
                try:
                    res = c.list_resources()
                    if res and res[0].synced:
                        return
                except Exception:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError("informerd not synced after 60 s:\n" + self.log.read_text())
                time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no goodbye to subscribers."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing is sent (a silent server)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def cont(self) -> None:
        """SIGCONT after pause."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait()
            self.proc = None


@pytest.fixture
def own_server(env: Env, tmp_path: Path) -> Iterator[Server]:
    if not env.bin:
        pytest.skip("set INFORMERD_TEST_BIN to the informerd binary to run the restart tests")
    s = Server(env, tmp_path)
    s.start()
    yield s
    s.stop()


@pytest.fixture
def two_servers(env: Env, tmp_path: Path) -> Iterator[Tuple[Server, Server]]:
    """Two informerd replicas of the test's own (as behind one Service)."""
    if not env.bin:
        pytest.skip("set INFORMERD_TEST_BIN to the informerd binary to run the replica tests")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    servers = (Server(env, tmp_path / "a"), Server(env, tmp_path / "b"))
    try:
        for s in servers:
            s.start()
        yield servers
    finally:
        for s in servers:
            s.stop()


def eventually(cond: Callable[[], bool], timeout: float = 30.0, msg: Callable[[], str] = lambda: "") -> None:
    """Polls cond every 10 ms until it holds, else fails with msg()."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s: {msg()}")
        time.sleep(0.01)


def names(objs: List[Any]) -> List[str]:
    return [o["metadata"]["name"] for o in objs]
