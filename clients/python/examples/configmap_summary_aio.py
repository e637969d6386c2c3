"""The asyncio version of configmap_summary.py: follows the ConfigMaps labelled app=demo through
informerd with informerd.aio and writes a summary of each one's data keys into its annotation
informerd.dev/summary, through the API server with the official kubernetes client (its calls
run in a thread, asyncio.to_thread).

    python configmap_summary_aio.py --informerd 127.0.0.1:50051 --kubeconfig ~/.kube/config [--namespace NS]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from typing import Any, Dict, List, Optional

import kubernetes

from configmap_summary import SUMMARY_ANNOTATION, summary
from informerd import aio

log = logging.getLogger("configmap-summary-aio")

__all__ = ["Controller", "SUMMARY_ANNOTATION", "summary"]


class Controller:
    """informer -> work queue of keys -> worker tasks that patch the annotation when it
    differs. Make and run it in one event loop."""

    def __init__(
        self,
        informerd: str,
        kubeconfig: str,
        namespace: str = "",
        selector: str = "app=demo",
        ca_file: str = "",
        token_file: str = "",
    ) -> None:
        if ca_file:
            self.client = aio.Client(
                channel=aio.secure_channel(informerd, ca_file=ca_file, token_file=token_file or None)
            )
        else:
            self.client = aio.Client(informerd)
        self.core = kubernetes.client.CoreV1Api(kubernetes.config.new_client_from_config(config_file=kubeconfig))
        self.queue: aio.RateLimitingQueue[str] = aio.RateLimitingQueue()
        self.informer = aio.Informer(self.client, "configmaps", namespace=namespace, label_selector=selector)

    async def run(self, stop: asyncio.Event, workers: int = 2) -> None:
        """Runs until stop is set."""
        await self.informer.add_event_handler(
            on_add=lambda obj, _initial: self.queue.add(aio.object_key(obj)),
            on_update=lambda _old, new: self.queue.add(aio.object_key(new)),
        )
        self.informer.start()
        try:
            stopped = asyncio.ensure_future(stop.wait())
            synced = asyncio.ensure_future(self.informer.wait_for_sync())
            await asyncio.wait([stopped, synced], return_when=asyncio.FIRST_COMPLETED)
            synced.cancel()
            if stop.is_set():
                return
            log.info("synced %d ConfigMaps", len(self.informer.store))
            tasks = [asyncio.ensure_future(self._worker()) for _ in range(workers)]
            await stopped
            self.queue.shut_down()
            await asyncio.gather(*tasks)
        finally:
            await self.informer.stop()
            await self.client.close()

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except aio.ShutDown:
                return
            try:
                await self.reconcile(key)
                self.queue.forget(key)
            except Exception as e:  # retry with backoff, as a controller does
                log.warning("%s: %s (retrying)", key, e)
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)

    async def reconcile(self, key: str) -> None:
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
        await asyncio.to_thread(self.core.patch_namespaced_config_map, meta["name"], meta["namespace"], patch)


async def _main(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    ctrl = Controller(args.informerd, args.kubeconfig, args.namespace, args.selector, args.ca_file, args.token_file)
    await ctrl.run(stop)


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
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
