"""End to end: informerd.aio against informerd over a real API server: the async informer's
store and handlers equal the API server after creates, updates and deletes; the reads; a killed
replica resumed on the other; the asyncio example controller."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional, Tuple

import grpc
import pytest

pytest.importorskip("pytest_asyncio", reason="pytest-asyncio is not installed (pip install -e '.[test]')")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

import configmap_summary_aio as example  # noqa: E402
from conftest import Env, Server, names  # noqa: E402
from informerd import aio  # noqa: E402
from test_e2e import Checker, create, truth, update  # noqa: E402

pytestmark = pytest.mark.asyncio


async def eventually(cond: Callable[[], Awaitable[bool]], timeout: float = 30.0, msg: Callable[[], str] = lambda: "") -> None:
    """Polls cond every 10 ms until it holds, else fails with msg()."""
    deadline = time.monotonic() + timeout
    while not await cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s: {msg()}")
        await asyncio.sleep(0.01)


async def follow(client: aio.Client, ns: str) -> Tuple[aio.Informer, Checker]:
    """A started async informer of configmaps in ns with a Checker (plain functions as
    handlers), synced."""
    inf = aio.Informer(client, "configmaps", namespace=ns, initial_backoff=0.05, max_backoff=0.5)
    chk = Checker()
    await inf.add_event_handler(on_add=chk.on_add, on_update=chk.on_update, on_delete=chk.on_delete)
    inf.start()
    assert await inf.wait_for_sync(30), "informer did not sync in 30 s"
    return inf, chk


async def converged(core: Any, ns: str, inf: aio.Informer, chk: Checker) -> None:
    async def ok() -> bool:
        want = await asyncio.to_thread(truth, core, ns)
        return chk.snapshot()[0] == want and inf.store.resource_versions() == want

    await eventually(ok, msg=lambda: f"store {inf.store.resource_versions()} / handlers {chk.snapshot()[:2]}, API {truth(core, ns)}")
    assert chk.snapshot()[2] == []


async def test_aio_store_equals_the_api_server_after_creates_updates_deletes(env: Env, core: Any, namespace: str) -> None:
    for n in "abc":
        last = create(core, namespace, n)
    async with aio.Client(env.addr) as client:
        # Read-your-writes: informerd's cache has reached c before the informer subscribes, so
        # its initial list holds all three (else c may come as a live add after them).
        await client.get("configmaps", namespace, "c", min_resource_version=last.metadata.resource_version)
        inf, chk = await follow(client, namespace)
        try:
            assert chk.snapshot()[1] == ["add a True", "add b True", "add c True"]
            await converged(core, namespace, inf, chk)
            create(core, namespace, "d")
            update(core, namespace, "a", "1")
            core.delete_namespaced_config_map("b", namespace)
            for i in range(5):
                update(core, namespace, "c", str(i))
            await converged(core, namespace, inf, chk)
            assert chk.snapshot()[1][3:6] == ["add d False", "update a", "delete b"]
            a = inf.store.get(namespace, "a")
            assert a is not None and a["data"] == {"v": "1"}
        finally:
            await inf.stop()


async def test_aio_list_get_by_index(env: Env, core: Any, namespace: str) -> None:
    create(core, namespace, "x1", {"app": "demo"})
    create(core, namespace, "x2", {"app": "other"})
    last = create(core, namespace, "x3", {"app": "demo"})
    async with aio.Client(env.addr) as client:
        got = await client.get("configmaps", namespace, "x3", min_resource_version=last.metadata.resource_version)
        assert got["metadata"]["uid"] == last.metadata.uid
        listed = await client.list("configmaps", namespace=namespace, label_selector="app=demo", limit=1)
        assert names(listed.items) == ["x1", "x3"] and listed.resource_version
        with pytest.raises(aio.NotFound):
            await client.get("cm", namespace, "missing")
        with pytest.raises(aio.NotFound) as e:
            await client.list("no-such-resource")
        assert e.value.code == grpc.StatusCode.NOT_FOUND
        by_ns = names(await client.by_index("configmaps", "namespace", namespace, limit=2))
        assert [n for n in by_ns if n != "kube-root-ca.crt"] == ["x1", "x2", "x3"]
        assert any(r.resource == "configmaps" and r.synced for r in await client.list_resources())


async def test_aio_a_killed_replica_is_resumed_on_the_other(
    core: Any, namespace: str, two_servers: Tuple[Server, Server]
) -> None:
    a, b = two_servers
    for i in range(3):
        create(core, namespace, f"cm-{i}")
    async with aio.Client(addresses=[a.target, b.target]) as client:
        inf, chk = await follow(client, namespace)
        try:
            await converged(core, namespace, inf, chk)
            before = len(chk.snapshot()[1])
            a.kill()
            create(core, namespace, "new")
            update(core, namespace, "cm-0", "1")
            core.delete_namespaced_config_map("cm-1", namespace)
            await converged(core, namespace, inf, chk)
            assert sorted(chk.snapshot()[1][before:]) == ["add new False", "delete-unknown cm-1", "update cm-0"]
            s = inf.stats()
            assert s.address_switches >= 1 and s.known_objects_starts >= 1
        finally:
            await inf.stop()


async def test_aio_example_controller_annotates_labelled_configmaps(env: Env, core: Any, namespace: str) -> None:
    import kubernetes

    def mk(name: str, labels: Optional[Dict[str, str]], data: Optional[Dict[str, str]]) -> None:
        core.create_namespaced_config_map(
            namespace,
            kubernetes.client.V1ConfigMap(metadata=kubernetes.client.V1ObjectMeta(name=name, labels=labels), data=data),
        )

    def annotation(name: str) -> str:
        cm = core.read_namespaced_config_map(name, namespace)
        return str((cm.metadata.annotations or {}).get(example.SUMMARY_ANNOTATION, ""))

    async def wait_for(name: str, want: str) -> None:
        async def ok() -> bool:
            return await asyncio.to_thread(annotation, name) == want

        await eventually(ok, msg=lambda: f"{name}: {annotation(name)!r}, want {want!r}")

    stop = asyncio.Event()
    ctrl = example.Controller(env.addr, env.kubeconfig, namespace, "app=demo")
    task = asyncio.ensure_future(ctrl.run(stop))
    try:
        mk("plain", None, {"x": "1"})
        mk("demo-1", {"app": "demo"}, {"b": "1", "a": "2"})
        await wait_for("demo-1", "2 keys: a,b")
        core.patch_namespaced_config_map("demo-1", namespace, {"data": {"c": "3"}})
        await wait_for("demo-1", "3 keys: a,b,c")
        mk("demo-2", {"app": "demo"}, None)
        await wait_for("demo-2", "0 keys")
        assert annotation("plain") == ""
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_aio_a_silent_replica_is_left_for_the_other_within_two_intervals(
    core: Any, namespace: str, two_servers: Tuple[Server, Server]
) -> None:
    """The serving replica is SIGSTOPped (connection open, nothing sent): the watchdog leaves it
    two bookmark intervals (1 s each) after its last message and resumes on the other."""
    a, b = two_servers
    for i in range(3):
        create(core, namespace, f"cm-{i}")
    async with aio.Client(addresses=[a.target, b.target]) as client:
        inf, chk = await follow(client, namespace)
        try:
            await converged(core, namespace, inf, chk)
            before = len(chk.snapshot()[1])
            a.pause()
            try:
                paused = time.monotonic()
                create(core, namespace, "new")
                update(core, namespace, "cm-0", "1")
                core.delete_namespaced_config_map("cm-1", namespace)
                await converged(core, namespace, inf, chk)
                took = time.monotonic() - paused
            finally:
                a.cont()
            assert took < 2 * 1.0 + 1.5, took
            assert sorted(chk.snapshot()[1][before:]) == ["add new False", "delete-unknown cm-1", "update cm-0"]
            s = inf.stats()
            assert s.silent_timeouts == 1 and s.address_switches >= 1
        finally:
            await inf.stop()
