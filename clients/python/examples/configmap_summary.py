"""Example controller of informerd's Python client: follows the ConfigMaps labelled app=demo
through informerd and writes a summary of each one's data keys into its annotation
informerd.dev/summary, through the API server with the official kubernetes client.

    python configmap_summary.py --informerd 127.0.0.1:50051 --kubeconfig ~/.kube/config [--namespace NS]
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from typing import Any, Dict, List, Optional

import kubernetes

from informerd import (
    Client,
    Informer,
    KubeObject,
    RateLimitingQueue,
    ShutDown,
    object_key,
    secure_channel,
)

SUMMARY_ANNOTATION = "informerd.dev/summary"

log = logging.getLogger("configmap-summary")


def summary(cm: KubeObject) -> str:
    """The annotation value: the data and binaryData keys, sorted ("2 keys: a,b"; "0 keys")."""
    keys: List[str] = sorted([*(cm.get("data") or {}), *(cm.get("binaryData") or {})])
    return f"{len(keys)} keys: {','.join(keys)}" if keys else "0 keys"


class Controller:
    """informer -> work queue of keys -> workers that patch the annotation when it differs."""

    def __init__(
        self,
        informerd: str,
        kubeconfig: str,
        namespace: str = "",
        selector: str = "app=demo",
        ca_file: str = "",
        token_file: str = "",
    ) -> None:
        # With TLS and --auth (deploy/): informerd's CA and a projected token file, re-read as
        # the kubelet rotates it.
        if ca_file:
            self.client = Client(
                channel=secure_channel(informerd, ca_file=ca_file, token_file=token_file or None)
            )
        else:
            self.client = Client(informerd)
        self.core = kubernetes.client.CoreV1Api(kubernetes.config.new_client_from_config(config_file=kubeconfig))
        self.queue: RateLimitingQueue[str] = RateLimitingQueue()
        self.informer = Informer(self.client, "configmaps", namespace=namespace, label_selector=selector)
        self.informer.add_event_handler(
            on_add=lambda obj, _initial: self.queue.add(object_key(obj)),
            on_update=lambda _old, new: self.queue.add(object_key(new)),
        )

    def run(self, stop: threading.Event, workers: int = 2) -> None:
        """Runs until stop is set."""
        self.informer.start()
        try:
            while not self.informer.wait_for_sync(timeout=0.1):
                if stop.is_set():
                    return
            log.info("synced %d ConfigMaps", len(self.informer.store))
            threads = [threading.Thread(target=self._worker, daemon=True) for _ in range(workers)]
            for t in threads:
                t.start()
            stop.wait()
            self.queue.shut_down()
            for t in threads:
                t.join()
        finally:
            self.informer.stop()
            self.client.close()

    def _worker(self) -> None:
        while True:
            try:
                key = self.queue.get()
            except ShutDown:
                return
            try:
                self.reconcile(key)
                self.queue.forget(key)
            except Exception as e:  # retry with backoff, as a controller does
                log.warning("%s: %s (retrying)", key, e)
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)

    def reconcile(self, key: str) -> None:
        """Writes the summary of the ConfigMap at key when its annotation differs."""
        cm = self.informer.store.get_by_key(key)
        if cm is None:
            return  # deleted: nothing to write
        meta: Dict[str, Any] = cm["metadata"]
        want = summary(cm)
        if (meta.get("annotations") or {}).get(SUMMARY_ANNOTATION) == want:
            return
        # Only over the state we summarised: a newer one gets its own turn.
        patch = {"metadata": {"annotations": {SUMMARY_ANNOTATION: want}, "resourceVersion": meta["resourceVersion"]}}
        self.core.patch_namespaced_config_map(meta["name"], meta["namespace"], patch)


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--informerd", default="127.0.0.1:50051")
    p.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG", os.path.expanduser("~/.kube/config")))
    p.add_argument("--namespace", default="")
    p.add_argument("--selector", default="app=demo")
    p.add_argument("--ca_file", default=os.environ.get("INFORMERD_CA_FILE", ""),
                   help="CA of informerd's TLS certificate (empty = plaintext)")
    p.add_argument("--token_file", default=os.environ.get("INFORMERD_TOKEN_FILE", ""),
                   help="ServiceAccount token of audience informerd, re-read as it rotates")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    Controller(
        args.informerd, args.kubeconfig, args.namespace, args.selector, args.ca_file, args.token_file
    ).run(stop)


if __name__ == "__main__":
    main()
