"""Dead API-server connections are detected and their watches restart (semantics R18).

Against the real kube-apiserver on loopback: informerd (default --apiserver_read_idle_timeout
30 s and --apiserver_ping_timeout 15 s unless given) reaches the API server through the fault
proxy (faultproxy.py). Once a subscriber is synced, every connection open at that moment is
blackholed (no FIN, no RST: the bytes just stop) while new connections still get through, and
a ConfigMap is created directly on the API server. informerd must notice the silent watch
connection by its probe, re-watch on a new connection from the last resourceVersion, and
deliver the ConfigMap within read-idle + ping + a margin -- not sooner than the blackhole
allows (which shows the blackhole held), losing and repeating nothing: the subscriber's events
are exactly the changes, each at its object's resourceVersion, and informerd's List equals a
quorum LIST. The recovery must be logged and counted (informerd_watch_dead_connections_total).

Prints "PASS name" / "FAIL name: why" per check; exit status 0 only when every check passed.
Run by tests/contract/stream_contract_test.sh (scripts/test); about a minute.
"""

import argparse
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "clients", "python", "src"))
sys.path.insert(0, HERE)

import kubernetes  # noqa: E402

import faultproxy  # noqa: E402
from scenario import ET, Report, Watcher, arguments, metric  # noqa: E402
from stream_contract import Replica, list_all, log  # noqa: E402


def parse_seconds(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)s", text)
    if not m:
        raise argparse.ArgumentTypeError("a duration in seconds such as 30s")
    return float(m.group(1))


def main(argv):
    def flags(p):
        p.add_argument("--read-idle", type=parse_seconds, default=None,
                       help="passed as --apiserver_read_idle_timeout (default: informerd's, 30s)")
        p.add_argument("--ping-timeout", type=parse_seconds, default=None,
                       help="passed as --apiserver_ping_timeout (default: informerd's, 15s)")

    args = arguments(__doc__.split("\n")[0], argv, flags)
    report = Report()
    check = report.check
    read_idle = args.read_idle if args.read_idle is not None else 30.0
    ping = args.ping_timeout if args.ping_timeout is not None else 15.0
    # Detection within read-idle + ping from the last byte received (which is before the
    # blackhole), plus the 1 s the stream's poll may add and a re-watch on a busy machine.
    bound = read_idle + ping + 10.0

    api_client = kubernetes.config.new_client_from_config(config_file=args.kubeconfig)
    api = kubernetes.client.CoreV1Api(api_client)
    namespace = "dead-conn-%d" % (int(time.time() * 1000) % 10**9)
    api.create_namespace({"metadata": {"name": namespace}})
    proxy = faultproxy.FaultProxy(faultproxy.upstream_of_kubeconfig(args.kubeconfig))
    proxy.start()
    proxied = os.path.join(args.work_dir, "proxied.kubeconfig")
    faultproxy.rewrite_kubeconfig(args.kubeconfig, proxied, proxy.port)
    flags = []
    if args.read_idle is not None:
        flags.append("--apiserver_read_idle_timeout=%gs" % args.read_idle)
    if args.ping_timeout is not None:
        flags.append("--apiserver_ping_timeout=%gs" % args.ping_timeout)
    replica = Replica("dead", args.informerd_bin, proxied, flags, args.work_dir)
    watcher = None
    try:
        api.create_namespaced_config_map(namespace, {"metadata": {"name": "before"}})
        replica.start()
        watcher = Watcher(replica.stub, namespace)
        watcher.start()
        if not watcher.synced.wait(60):
            raise RuntimeError("the subscriber never got SYNCED: %s" % watcher.error)
        time.sleep(1.0)

        silenced = proxy.blackhole_open()
        t0 = time.monotonic()
        check("the blackhole silenced informerd's open API-server connections", silenced >= 1,
              "no connection was open")
        created = api.create_namespaced_config_map(namespace, {"metadata": {"name": "during"}})
        log("blackholed %d connection(s); created %s/during at rv %s; waiting up to %.0f s" %
            (silenced, namespace, created.metadata.resource_version, bound + 20))
        t1 = watcher.wait_for("during", ET.EVENT_TYPE_ADDED, bound + 20)
        if t1 is None:
            check("the dead watch connection is replaced within %.0f s" % bound, False,
                  "the ConfigMap created during the blackhole never arrived")
        else:
            took = t1 - t0
            log("the ConfigMap arrived %.1f s after the blackhole" % took)
            check("the dead watch connection is replaced within %.0f s (took %.1f s)" % (
                bound, took), took <= bound, "took %.1f s" % took)
            # Arriving before the connection could be found dead would mean the blackhole did
            # not hold the watch (the test would then show nothing).
            check("the event waited for the detection (more than %.0f s)" % (read_idle / 2),
                  took > read_idle / 2, "arrived after %.1f s" % took)

        # The new watch is live: a change now arrives promptly.
        t2 = time.monotonic()
        api.patch_namespaced_config_map("during", namespace, {"data": {"k": "v"}})
        t3 = watcher.wait_for("during", ET.EVENT_TYPE_MODIFIED, 30)
        check("the new watch delivers at once", t3 is not None and t3 - t2 < 10,
              "MODIFIED %s" % ("never arrived" if t3 is None else "took %.1f s" % (t3 - t2)))

        dead = metric(replica, "informerd_watch_dead_connections_total", "configmaps.v1")
        check("informerd_watch_dead_connections_total counts it", dead is not None and dead >= 1,
              "value %s" % dead)
        with open(replica.log_path) as f:
            logged = [line for line in f if "watch connection dead" in line]
        check("the recovery is logged at info with its cause",
              any('"level":"info"' in line and "no answer to a probe" in line for line in logged),
              "log lines: %s" % logged[:2])

        # Nothing lost, nothing repeated, every position exact; the cache equals the server.
        quorum = api.list_namespaced_config_map(namespace)
        truth = {"%s/%s" % (namespace, o.metadata.name): o.metadata.resource_version
                 for o in quorum.items}
        got_rv, got, problems = list_all(replica.stub, namespace, 100,
                                         min_rv=quorum.metadata.resource_version)
        check("informerd's List equals a quorum LIST", got == truth and not problems,
              "list %s problems %s, quorum %s" % (got, problems, truth))
        watcher.stop()
        seen = [(r.type, r.object.name, r.object.resource_version, r.resource_version)
                for _, r in watcher.events
                if r.type not in (ET.EVENT_TYPE_BOOKMARK, ET.EVENT_TYPE_SYNCED)]
        expected = [(ET.EVENT_TYPE_ADDED, o.metadata.name, o.metadata.resource_version)
                    for o in sorted(quorum.items, key=lambda o: o.metadata.name)
                    if o.metadata.name == "before"]
        during = next(o for o in quorum.items if o.metadata.name == "during")
        expected += [(ET.EVENT_TYPE_ADDED, "during", created.metadata.resource_version),
                     (ET.EVENT_TYPE_MODIFIED, "during", during.metadata.resource_version)]
        check("the subscriber got exactly the changes, nothing lost or repeated",
              [s[:3] for s in seen] == expected, "got %s, expected %s" % (seen, expected))
        live = [s for s in seen[1:]]  # after the initial object, positions are the events' RVs
        check("every position after SYNCED is its event's resourceVersion",
              all(s[2] == s[3] for s in live), "events %s" % live)
    except Exception as e:  # noqa: BLE001 - reported as a failure with its cause
        check("the run", False, repr(e))
    finally:
        if watcher is not None:
            watcher.stop()
        replica.stop()
        proxy.close()
        try:
            api.delete_namespace(namespace)
        except Exception:  # noqa: BLE001 - best effort
            pass
    return report.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
