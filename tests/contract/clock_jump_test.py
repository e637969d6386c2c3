"""A wall clock stepped an hour forward and back changes nothing that measures an interval.

Against the real kube-apiserver on loopback: informerd runs under libfaketime (Debian's
libfaketime, LD_PRELOAD) with its CLOCK_REALTIME offset read from a file this test rewrites,
while CLOCK_MONOTONIC stays real (DONT_FAKE_MONOTONIC=1), as when an NTP step or an operator
moves a node's clock. The test steps informerd's wall clock +1 h, then back by the hour, and at
each step checks what a stepped clock would break:
- bookmarks keep coming every --bookmark_interval (1 s here): a subscriber whose filter
  matches nothing sees no gap over 3 s (absl's timed waits sleep until a wall-clock instant:
  a clock stepped back would stall them for the hour, one stepped forward would cut them);
- a page token issued before the step still continues its List (its lifetime, 5 min, is
  measured on the monotonic clock; the wall said an hour had passed);
- a List waiting for a min_resource_version the cache will never reach answers when the
  client's deadline (2 s) is near, neither at once nor an hour later;
- changes keep flowing: each ConfigMap created after a step arrives within seconds.
At the end, the subscriber's state rebuilt from its events, informerd's List and a quorum LIST
are equal, with nothing lost or repeated and every live event at its object's version.

Prints "PASS name" / "FAIL name: why" per check; exit status 0 only when every check passed.
Run by tests/contract/stream_contract_test.sh (scripts/test); about 30 s.
"""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "clients", "python", "src"))
sys.path.insert(0, HERE)

import grpc  # noqa: E402
import kubernetes  # noqa: E402

from informerd.v1 import informer_pb2 as pb  # noqa: E402

from scenario import ET, Report, Watcher, arguments  # noqa: E402
from stream_contract import Replica, list_all  # noqa: E402

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


def main(argv):
    args = arguments(__doc__.split("\n")[0], argv)
    report = Report()
    check = report.check

    if not os.path.exists(LIBFAKETIME):
        check("libfaketime is installed (scripts/setup installs it)", False, LIBFAKETIME)
        return 1
    os.makedirs(args.work_dir, exist_ok=True)
    offset_file = os.path.join(args.work_dir, "faketime")

    def set_offset(seconds):
        with open(offset_file + ".tmp", "w") as f:
            f.write("%+d\n" % seconds)
        os.replace(offset_file + ".tmp", offset_file)

    set_offset(0)
    env = dict(os.environ, LD_PRELOAD=LIBFAKETIME, FAKETIME_TIMESTAMP_FILE=offset_file,
               FAKETIME_NO_CACHE="1", DONT_FAKE_MONOTONIC="1")

    api_client = kubernetes.config.new_client_from_config(config_file=args.kubeconfig)
    api = kubernetes.client.CoreV1Api(api_client)
    namespace = "clock-jump-%d" % (int(time.time() * 1000) % 10**9)
    api.create_namespace({"metadata": {"name": namespace}})
    replica = Replica("clock", args.informerd_bin, args.kubeconfig,
                      ["--bookmark_interval=1s", "--page_token_ttl=5m"], args.work_dir, env=env)
    watchers = []
    try:
        for i in range(6):
            api.create_namespaced_config_map(namespace, {"metadata": {"name": "before-%d" % i}})
        replica.start()
        watcher = Watcher(replica.stub, namespace)
        quiet = Watcher(replica.stub, namespace, label_selector="matches=nothing")
        watchers = [watcher, quiet]
        for w in watchers:
            w.start()
        for w in watchers:
            if not w.synced.wait(60):
                raise RuntimeError("a subscriber never got SYNCED: %s" % w.error)
        # The fake clock is in effect: informerd logs wall-clock timestamps.
        for step, (offset, label) in enumerate([(3600, "forward an hour"),
                                                (0, "back an hour")]):
            # A paged List begun before the step.
            first = replica.stub.List(pb.ListRequest(resource="configmaps", namespace=namespace,
                                                     limit=2), timeout=10)
            set_offset(offset)
            stepped = time.monotonic()
            time.sleep(1.5)  # let every thread see the new wall clock
            if offset:
                # The fake is in effect: informerd has libfaketime loaded, and a process with
                # its environment reads a wall clock an hour ahead.
                with open("/proc/%d/maps" % replica.proc.pid) as f:
                    loaded = "libfaketime" in f.read()
                ahead = int(subprocess.run(["date", "+%s"], env=env, capture_output=True,
                                           text=True, check=True).stdout) - time.time()
                check("informerd runs with its wall clock an hour ahead (libfaketime loaded: "
                      "%s, offset %+.0f s)" % (loaded, ahead),
                      loaded and 3590 <= ahead <= 3610, "")
            try:
                rest = replica.stub.List(pb.ListRequest(resource="configmaps",
                                                        namespace=namespace, limit=100,
                                                        page_token=first.next_page_token),
                                         timeout=10)
                check("%s: a page token issued before the step continues its List" % label,
                      rest.resource_version == first.resource_version,
                      "versions %s and %s" % (first.resource_version, rest.resource_version))
            except grpc.RpcError as e:
                check("%s: a page token issued before the step continues its List" % label,
                      False, "%s: %s" % (e.code(), e.details()))

            # A wait that cannot be met ends near the client's 2 s deadline.
            far = str(int(first.resource_version) + 10**9)
            started = time.monotonic()
            code = None
            try:
                replica.stub.List(pb.ListRequest(resource="configmaps", namespace=namespace,
                                                 min_resource_version=far), timeout=2)
            except grpc.RpcError as e:
                code = e.code()
            took = time.monotonic() - started
            check("%s: a min_resource_version wait ends at the client's deadline (%.2f s)" % (
                label, took), 1.5 <= took <= 3.5 and code is not None,
                "took %.2f s, %s" % (took, code))

            # Changes keep flowing.
            name = "after-step-%d" % step
            created = time.monotonic()
            api.create_namespaced_config_map(namespace, {"metadata": {"name": name}})
            t = watcher.wait_for(name, ET.EVENT_TYPE_ADDED, 20)
            check("%s: a change made after the step arrives at once" % label,
                  t is not None and t - created < 5,
                  "never arrived" if t is None else "after %.1f s" % (t - created))

            # Bookmarks keep their interval through the step.
            time.sleep(4)
            marks = [stepped - 1.0] + quiet.bookmark_times(stepped - 1.0) + [time.monotonic()]
            gap = max(b - a for a, b in zip(marks, marks[1:]))
            # Not stalled by the step. (Measured: 1.2 s back, 2.2 s forward: the forward step
            # delays one bookmark by about a second, cause not found yet; the clients' silence
            # limit is two intervals, so at a 1 s interval one of them might resume once,
            # losing nothing. At the default 30 s interval it is immaterial.)
            check("%s: bookmarks keep their 1 s interval (longest gap %.1f s)" % (label, gap),
                  gap < 3.0, "bookmarks at %s" % ["%.1f" % (m - stepped) for m in marks])

        # Nothing lost, nothing repeated, every position exact; the cache equals the server.
        quorum = api.list_namespaced_config_map(namespace)
        truth = {"%s/%s" % (namespace, o.metadata.name): o.metadata.resource_version
                 for o in quorum.items}
        # The newest ConfigMap's version: the quorum LIST's own may be a write to another
        # resource, which the ConfigMap watch sees only with its next bookmark.
        newest = max(int(o.metadata.resource_version) for o in quorum.items)
        _, got, problems = list_all(replica.stub, namespace, 100, min_rv=str(newest))
        check("informerd's List equals a quorum LIST", got == truth and not problems,
              "list %s problems %s, quorum %s" % (got, problems, truth))
        for w in watchers:
            w.stop()
        state, seen, live_ok = {}, [], True
        synced = False
        for _, r in watcher.events:
            if r.type == ET.EVENT_TYPE_SYNCED:
                synced = True
                continue
            if r.type == ET.EVENT_TYPE_BOOKMARK:
                continue
            key = "%s/%s" % (r.object.namespace, r.object.name)
            seen.append((r.type, key))
            if synced and r.resource_version != r.object.resource_version:
                live_ok = False
            if r.type == ET.EVENT_TYPE_DELETED:
                state.pop(key, None)
            else:
                state[key] = r.object.resource_version
        check("the subscriber's state rebuilt from its events equals the quorum LIST",
              state == truth, "state %s, quorum %s" % (state, truth))
        check("no event repeated", len(seen) == len(set(seen)), "events %s" % seen)
        check("every live event is at its object's resourceVersion", live_ok, "")
        check("no subscriber stream ended", all(w.error is None for w in watchers),
              "; ".join(str(w.error) for w in watchers if w.error))
    except Exception as e:  # noqa: BLE001 - reported as a failure with its cause
        check("the run", False, repr(e))
    finally:
        for w in watchers:
            w.stop()
        replica.stop()
        try:
            api.delete_namespace(namespace)
        except Exception:  # noqa: BLE001 - best effort
            pass
    return report.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
