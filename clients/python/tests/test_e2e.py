"""End to end: the informer and the direct reads against informerd over a real API server."""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import grpc
import pytest

from conftest import Env, Server, eventually, names
from informerd import (
    Client,
    DeletedFinalStateUnknown,
    Informer,
    InformerdError,
    KubeObject,
    NotFound,
    ResourceEventHandler,
    deletion_handling_key,
    object_key,
)


class Checker(ResourceEventHandler):
    """Keeps its own model (key -> resourceVersion) from the calls alone and flags any call that
    contradicts it: adding a held key, an update from a state it does not hold, deleting a key it
    lacks, or a state delivered twice. Logs every call."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.model: Dict[str, str] = {}
        self.seen: set[str] = set()
        self.errors: List[str] = []
        self.log: List[str] = []

    def _state(self, obj: KubeObject) -> None:
        key, rv = object_key(obj), obj["metadata"]["resourceVersion"]
        if f"{key}@{rv}" in self.seen:
            self.errors.append(f"repeated state {key}@{rv}")
        self.seen.add(f"{key}@{rv}")
        self.model[key] = rv

    def on_add(self, obj: KubeObject, is_in_initial_list: bool) -> None:
        with self.lock:
            if object_key(obj) in self.model:
                self.errors.append("add of a held key " + object_key(obj))
            self.log.append(f"add {obj['metadata']['name']} {is_in_initial_list}")
            self._state(obj)

    def on_update(self, old: KubeObject, new: KubeObject) -> None:
        with self.lock:
            key = object_key(new)
            if self.model.get(key) != old["metadata"]["resourceVersion"]:
                self.errors.append(f"update of {key} from a state not held")
            self.log.append("update " + new["metadata"]["name"])
            self._state(new)

    def on_delete(self, obj: Union[KubeObject, DeletedFinalStateUnknown]) -> None:
        with self.lock:
            key = deletion_handling_key(obj)
            if key not in self.model:
                self.errors.append("delete of a key not held " + key)
            if isinstance(obj, DeletedFinalStateUnknown):
                self.log.append("delete-unknown " + obj.obj["metadata"]["name"])
            else:
                self.log.append("delete " + obj["metadata"]["name"])
            self.model.pop(key, None)

    def snapshot(self) -> Tuple[Dict[str, str], List[str], List[str]]:
        with self.lock:
            return dict(self.model), list(self.log), list(self.errors)


def truth(core: Any, ns: str) -> Dict[str, str]:
    return {f"{ns}/{cm.metadata.name}": cm.metadata.resource_version for cm in core.list_namespaced_config_map(ns).items}


def create(core: Any, ns: str, name: str, labels: Optional[Dict[str, str]] = None) -> Any:
    import kubernetes

    body = kubernetes.client.V1ConfigMap(metadata=kubernetes.client.V1ObjectMeta(name=name, labels=labels), data={"v": "0"})
    return core.create_namespaced_config_map(ns, body)


def update(core: Any, ns: str, name: str, v: str) -> Any:
    return core.patch_namespaced_config_map(name, ns, {"data": {"v": v}})


@pytest.fixture
def follow() -> Iterator[Any]:
    """follow(client, ns) starts an informer with a Checker; stopped after the test."""
    started: List[Informer] = []

    def start(client: Client, ns: str) -> Tuple[Informer, Checker]:
        inf = Informer(client, "configmaps", namespace=ns, initial_backoff=0.05, max_backoff=0.5)
        chk = Checker()
        inf.add_event_handler(chk)
        inf.start()
        started.append(inf)
        assert inf.wait_for_sync(30), "informer did not sync in 30 s"
        return inf, chk

    yield start
    for inf in started:
        inf.stop(timeout=5)


def converged(core: Any, ns: str, inf: Informer, chk: Checker) -> None:
    def ok() -> bool:
        want = truth(core, ns)
        return chk.snapshot()[0] == want and inf.store.resource_versions() == want

    eventually(ok, msg=lambda: f"store {inf.store.resource_versions()} / handlers {chk.snapshot()[:2]}, API {truth(core, ns)}")
    assert chk.snapshot()[2] == []


def test_sync_then_live_events(env: Env, core: Any, namespace: str, follow: Any) -> None:
    for n in "abc":
        last = create(core, namespace, n)
    with Client(env.addr) as client:
        # Read-your-writes: informerd's cache has reached c before the informer subscribes, so
        # its initial list holds all three (else c may come as a live add after them).
        client.get("configmaps", namespace, "c", min_resource_version=last.metadata.resource_version)
        inf, chk = follow(client, namespace)
        assert chk.snapshot()[1] == ["add a True", "add b True", "add c True"]
        converged(core, namespace, inf, chk)
        create(core, namespace, "d")
        update(core, namespace, "a", "1")
        core.delete_namespaced_config_map("b", namespace)
        converged(core, namespace, inf, chk)
        assert chk.snapshot()[1][3:] == ["add d False", "update a", "delete b"]
        a = inf.store.get(namespace, "a")
        assert a is not None and a["data"] == {"v": "1"} and a["kind"] == "ConfigMap" and a["apiVersion"] == "v1"


def test_list_get_by_index(env: Env, core: Any, namespace: str) -> None:
    create(core, namespace, "x1", {"app": "demo"})
    create(core, namespace, "x2", {"app": "other"})
    last = create(core, namespace, "x3", {"app": "demo"})
    with Client(env.addr) as client:
        got = client.get("configmaps", namespace, "x3", min_resource_version=last.metadata.resource_version)
        assert got["metadata"]["uid"] == last.metadata.uid
        listed = client.list("configmaps", namespace=namespace, label_selector="app=demo", limit=1)
        assert names(listed.items) == ["x1", "x3"] and listed.resource_version
        with pytest.raises(NotFound):
            client.get("cm", namespace, "missing")
        with pytest.raises(NotFound) as e:
            client.list("no-such-resource")
        assert e.value.code == grpc.StatusCode.NOT_FOUND
        assert "is not cached by this informerd" in str(e.value)
        cms = [r for r in client.list_resources() if r.resource == "configmaps"]
        assert cms and "namespace" in cms[0].index_names
        by_ns = names(client.by_index("configmaps", "namespace", namespace))
        assert [n for n in by_ns if n != "kube-root-ca.crt"] == ["x1", "x2", "x3"]


def test_field_mask_and_wait_for_sync_on_reads_and_the_informer(env: Env, core: Any, namespace: str) -> None:
    """A field mask prunes every read's objects and the informer's store (identity and
    resourceVersion kept; selectors still see the whole object); wait_for_sync is accepted on
    each (configmaps are synced, so they answer at once)."""
    last = create(core, namespace, "m1", {"app": "demo"})

    def pruned(obj: KubeObject) -> bool:
        return set(obj.get("data", {})) == {"v"} and "labels" not in obj["metadata"]

    with Client(env.addr) as client:
        got = client.get(
            "configmaps", namespace, "m1", min_resource_version=last.metadata.resource_version, fields=["data.v"], wait_for_sync=True
        )
        assert pruned(got) and got["metadata"]["name"] == "m1"
        assert got["metadata"]["resourceVersion"] == last.metadata.resource_version
        listed = client.list("configmaps", namespace=namespace, label_selector="app=demo", fields=["data.v"], wait_for_sync=True)
        assert names(listed.items) == ["m1"] and all(pruned(o) for o in listed.items)
        by_ns = client.by_index("configmaps", "namespace", namespace, label_selector="app=demo", fields=["data.v"], wait_for_sync=True)
        assert names(by_ns) == ["m1"] and all(pruned(o) for o in by_ns)
        inf = Informer(client, "configmaps", namespace=namespace, fields=["data.v"], wait_for_sync=True, initial_backoff=0.05)
        inf.start()
        try:
            assert inf.wait_for_sync(30), "informer did not sync in 30 s"
            held = inf.store.get(namespace, "m1")
            assert held is not None and pruned(held)
        finally:
            inf.stop(timeout=5)


def test_r8_server_restart_mid_stream_resumes(env: Env, core: Any, namespace: str, own_server: Server, follow: Any) -> None:
    """informerd is killed while changes flow; objects change while it is down; after it is back
    the informer converges to the API server's truth, and what changed while it was down arrives
    as exactly one add, update or tombstone delete each; unchanged objects produce no call."""
    for i in range(6):
        create(core, namespace, f"cm-{i}")
    create(core, namespace, "hot")
    with Client(own_server.target) as client:
        inf, chk = follow(client, namespace)
        stop = threading.Event()

        def writer() -> None:
            i = 0
            while not stop.wait(0.015):
                i += 1
                update(core, namespace, "hot", str(i))

        w = threading.Thread(target=writer)
        w.start()
        try:
            eventually(lambda: chk.snapshot()[1].count("update hot") >= 3, timeout=10)
            own_server.kill()
            before = len(chk.snapshot()[1])
            create(core, namespace, "new-0")
            create(core, namespace, "new-1")
            update(core, namespace, "cm-0", "1")
            update(core, namespace, "cm-1", "1")
            update(core, namespace, "cm-1", "2")
            core.delete_namespaced_config_map("cm-2", namespace)
            core.delete_namespaced_config_map("cm-3", namespace)
            time.sleep(0.1)  # a few failed resubscriptions meanwhile
            own_server.start()
            time.sleep(0.2)
        finally:
            stop.set()
            w.join()
        converged(core, namespace, inf, chk)
        after = sorted(line for line in chk.snapshot()[1][before:] if not line.endswith(" hot"))
        assert after == [
            "add new-0 False",
            "add new-1 False",
            "delete-unknown cm-2",
            "delete-unknown cm-3",
            "update cm-0",
            "update cm-1",
        ]
        s = inf.stats()
        assert s.fresh_starts == 1 and s.known_objects_starts >= 1
