"""What the single-scenario fault tests beside it share (dead_connection_test.py,
clock_jump_test.py, silent_client_test.py): their command line, their PASS/FAIL report, a
recording subscriber and a metric reader.

Each test prints "PASS name" / "FAIL name: why" per check, then "N passed, N failed", and exits
0 only when every check passed (tests/contract/stream_contract_test.sh turns the lines into its
own checks).
"""

import argparse
import os
import re
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "clients", "python", "src"))

import grpc  # noqa: E402

from informerd.v1 import informer_pb2 as pb  # noqa: E402

ET = pb.EventType


def arguments(description, argv, extra=None):
    """The common flags (--kubeconfig, --informerd-bin, --work-dir), plus those `extra(parser)`
    adds; parsed from `argv`."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--kubeconfig", default=os.environ.get("INFORMERD_TEST_KUBECONFIG") or
                   os.environ.get("KUBECONFIG"))
    p.add_argument("--informerd-bin", default=os.environ.get("INFORMERD_BIN") or
                   os.path.join(ROOT, "build", "server", "informerd"))
    p.add_argument("--work-dir", required=True)
    if extra:
        extra(p)
    return p.parse_args(argv)


class Report:
    """The checks of one run: `check(name, ok, why)` prints one line; `finish()` the summary
    and the exit status."""

    def __init__(self):
        self.results = []

    def check(self, name, ok, why=""):
        self.results.append(bool(ok))
        print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, why)), flush=True)

    def finish(self):
        print("%d passed, %d failed" % (self.results.count(True), self.results.count(False)))
        return 0 if self.results and all(self.results) else 1


class Watcher(threading.Thread):
    """One Subscribe of configmaps in a namespace; records (monotonic time, response) pairs.
    `error` is the RpcError that ended it unless it was cancelled; `ended` the status code it
    ended with (CANCELLED included)."""

    def __init__(self, stub, namespace, label_selector=""):
        super().__init__(name="watcher", daemon=True)
        self.events = []
        self.error = None
        self.ended = None
        self.synced = threading.Event()
        self.changed = threading.Condition()
        self._call = stub.Subscribe(pb.SubscribeRequest(
            resource="configmaps", namespace=namespace, label_selector=label_selector))

    def run(self):
        try:
            for r in self._call:
                with self.changed:
                    self.events.append((time.monotonic(), r))
                    self.changed.notify_all()
                if r.type == ET.EVENT_TYPE_SYNCED:
                    self.synced.set()
        except grpc.RpcError as e:
            self.ended = e.code()
            if e.code() != grpc.StatusCode.CANCELLED:
                self.error = e

    def wait_for(self, name, event_type, timeout):
        """The monotonic time `name` arrived with `event_type`, or None after `timeout`."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for t, r in self.events:
                    if r.type == event_type and r.object.name == name:
                        return t
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.changed.wait(left)

    def bookmark_times(self, since):
        """When bookmarks arrived, from monotonic time `since` on."""
        with self.changed:
            return [t for t, r in self.events if r.type == ET.EVENT_TYPE_BOOKMARK and t >= since]

    def stop(self):
        self._call.cancel()


def metric(replica, name, resource, extra=""):
    """The sum of metric `name`'s samples for `resource` whose labels also contain `extra`, from
    the replica's /metrics; None when it has none."""
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % replica.metrics_port,
                                  timeout=10).read().decode()
    total, found = 0.0, False
    for line in text.splitlines():
        m = re.match(r'%s\{([^}]*)\} (\S+)$' % name, line)
        if m and 'resource="%s"' % resource in m.group(1) and extra in m.group(1):
            total += float(m.group(2))
            found = True
    return total if found else None
