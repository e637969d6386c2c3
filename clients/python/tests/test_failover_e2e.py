"""End to end (issue 17): the threaded informer over two informerd replicas leaves one that
went silent (SIGSTOP: the connection stays open, nothing arrives) within two bookmark intervals
and resumes on the other, losing and repeating nothing."""

from __future__ import annotations

import time
from typing import Any, Tuple

from conftest import Server
from informerd import Client, Informer
from test_e2e import Checker, converged, create, update

# The servers of conftest.Server run with --bookmark_interval=1s.
INTERVAL = 1.0


def test_a_silent_replica_is_left_for_the_other_within_two_intervals(
    core: Any, namespace: str, two_servers: Tuple[Server, Server]
) -> None:
    a, b = two_servers
    for i in range(3):
        create(core, namespace, f"cm-{i}")
    with Client(addresses=[a.target, b.target]) as client:
        inf = Informer(client, "configmaps", namespace=namespace, initial_backoff=0.05, max_backoff=0.5)
        chk = Checker()
        inf.add_event_handler(chk)
        with inf:
            assert inf.wait_for_sync(30)
            converged(core, namespace, inf, chk)
            before = len(chk.snapshot()[1])
            a.pause()
            try:
                paused = time.monotonic()
                create(core, namespace, "new")
                update(core, namespace, "cm-0", "1")
                core.delete_namespaced_config_map("cm-1", namespace)
                converged(core, namespace, inf, chk)
                took = time.monotonic() - paused
            finally:
                a.cont()
            # Two intervals of silence, a backoff step and the resubscription on b.
            assert took < 2 * INTERVAL + 1.5, took
            assert sorted(chk.snapshot()[1][before:]) == ["add new False", "delete-unknown cm-1", "update cm-0"]
            s = inf.stats()
            assert s.silent_timeouts == 1 and s.address_switches >= 1 and s.known_objects_starts >= 1
