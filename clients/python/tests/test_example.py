"""The example controller: summary format, and against informerd and the API server."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any, Dict, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

import configmap_summary as example  # noqa: E402
from conftest import Env, eventually  # noqa: E402


def test_summary_lists_sorted_keys() -> None:
    assert example.summary({"data": {"b": "", "a": ""}, "binaryData": {"c": ""}}) == "3 keys: a,b,c"
    assert example.summary({"metadata": {}}) == "0 keys"


def test_controller_annotates_labelled_configmaps(env: Env, core: Any, namespace: str) -> None:
    import kubernetes

    def create(name: str, labels: Optional[Dict[str, str]], data: Optional[Dict[str, str]]) -> None:
        core.create_namespaced_config_map(
            namespace,
            kubernetes.client.V1ConfigMap(metadata=kubernetes.client.V1ObjectMeta(name=name, labels=labels), data=data),
        )

    def annotation(name: str) -> str:
        cm = core.read_namespaced_config_map(name, namespace)
        return str((cm.metadata.annotations or {}).get(example.SUMMARY_ANNOTATION, ""))

    def wait_for(name: str, want: str) -> None:
        eventually(lambda: annotation(name) == want, msg=lambda: f"{name}: {annotation(name)!r}, want {want!r}")

    stop = threading.Event()
    ctrl = example.Controller(env.addr, env.kubeconfig, namespace, "app=demo")
    t = threading.Thread(target=ctrl.run, args=(stop,))
    t.start()
    try:
        create("plain", None, {"x": "1"})
        create("demo-1", {"app": "demo"}, {"b": "1", "a": "2"})
        wait_for("demo-1", "2 keys: a,b")
        core.patch_namespaced_config_map("demo-1", namespace, {"data": {"c": "3"}})
        wait_for("demo-1", "3 keys: a,b,c")
        create("demo-2", {"app": "demo"}, None)
        wait_for("demo-2", "0 keys")
        assert annotation("plain") == ""
    finally:
        stop.set()
        t.join(10)
    assert not t.is_alive()
