"""A client that vanished without closing its connection is reaped by keepalive (issue 17).

Against the real kube-apiserver on loopback: informerd runs with a short keepalive
(--grpc_keepalive_time 2s, --grpc_keepalive_timeout 2s). One subscriber reaches it through the
fault proxy (faultproxy.py) on a channel with client keepalive off, so only informerd can find
the connection dead; a second subscriber connects directly. Once both are synced the proxy
blackholes (no FIN, no RST: the bytes stop both ways, as when a client's node or NAT entry
disappears). informerd must then

- end the silent subscriber's stream within keepalive time + timeout + a margin, and not before
  the keepalive time (which shows the blackhole held): `informerd_subscribers` drops by one and
  `informerd_subscriptions_ended_total` counts it, and the end is logged at info with its cause;
- keep serving the direct subscriber meanwhile: a ConfigMap created during the blackhole
  reaches it promptly, and its events, rebuilt into a state, equal informerd's List and a
  quorum LIST from the API server, every event at its object's resourceVersion;
- let clients ping as the client libraries do (--grpc_min_client_ping_interval, streams that
  carry no data included), and refuse a client that pings more often (GOAWAY too_many_pings).

Prints "PASS name" / "FAIL name: why" per check; exit status 0 only when every check passed.
Run by tests/contract/stream_contract_test.sh (scripts/test); about 35 seconds.
"""

import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "clients", "python", "src"))
sys.path.insert(0, HERE)

import grpc  # noqa: E402
import kubernetes  # noqa: E402

from informerd.v1 import informer_pb2 as pb  # noqa: E402
from informerd.v1 import informer_pb2_grpc as pb_grpc  # noqa: E402

import faultproxy  # noqa: E402
from scenario import ET, Report, Watcher, arguments, metric  # noqa: E402
from stream_contract import Replica, list_all, log  # noqa: E402

KEEPALIVE_TIME = 2.0
KEEPALIVE_TIMEOUT = 2.0


def pinging_channel(port, every_ms):
    """A channel that pings every `every_ms`, streams with no data included."""
    return grpc.insecure_channel("127.0.0.1:%d" % port, options=[
        ("grpc.keepalive_time_ms", every_ms), ("grpc.keepalive_timeout_ms", 5000),
        ("grpc.keepalive_permit_without_calls", 1), ("grpc.http2.max_pings_without_data", 0)])


def stream_outcome(port, every_ms, namespace, seconds):
    """Subscribes to an empty selection over a channel pinging every `every_ms` (so the stream
    carries no data but SYNCED) and returns the status code it ended with within `seconds`,
    or None when it was still open."""
    channel = pinging_channel(port, every_ms)
    stub = pb_grpc.InformerServiceStub(channel)
    call = stub.Subscribe(pb.SubscribeRequest(resource="configmaps", namespace=namespace,
                                              label_selector="matches=nothing"))
    ended = []

    def read():
        try:
            for _ in call:
                pass
        except grpc.RpcError as e:
            ended.append((e.code(), e.details()))

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(seconds)
    call.cancel()
    channel.close()
    return ended[0] if ended and ended[0][0] != grpc.StatusCode.CANCELLED else None


def check_ping_policy(check, replica, args, namespace):
    """informerd lets clients ping every --grpc_min_client_ping_interval, on streams that carry
    no data too, and sends GOAWAY too_many_pings to one pinging more often (gRPC's default
    policy would refuse pings every few seconds on such streams: 5 minutes)."""
    # informerd's default: pings 10 s apart are allowed; one every 500 ms is abuse.
    outcome = stream_outcome(replica.port, 500, namespace, 15)
    check("a client pinging every 0.5 s is refused (GOAWAY too_many_pings)",
          outcome is not None and outcome[0] == grpc.StatusCode.UNAVAILABLE,
          "the stream ended with %s" % (outcome,))
    allowing = Replica("ping-policy", args.informerd_bin, args.kubeconfig,
                       ["--grpc_min_client_ping_interval=1s"], args.work_dir)
    try:
        allowing.start()
        outcome = stream_outcome(allowing.port, 1500, namespace, 10)
        check("with --grpc_min_client_ping_interval=1s a client pinging every 1.5 s keeps its "
              "stream", outcome is None, "the stream ended with %s" % (outcome,))
    finally:
        allowing.stop()


def main(argv):
    args = arguments(__doc__.split("\n")[0], argv)
    report = Report()
    check = report.check
    # A ping after 2 s without traffic, dead 2 s later; plus scheduling on a busy machine.
    bound = KEEPALIVE_TIME + KEEPALIVE_TIMEOUT + 6.0

    api_client = kubernetes.config.new_client_from_config(config_file=args.kubeconfig)
    api = kubernetes.client.CoreV1Api(api_client)
    namespace = "silent-client-%d" % (int(time.time() * 1000) % 10**9)
    api.create_namespace({"metadata": {"name": namespace}})
    replica = Replica("silent-client", args.informerd_bin, args.kubeconfig,
                      ["--grpc_keepalive_time=%gs" % KEEPALIVE_TIME,
                       "--grpc_keepalive_timeout=%gs" % KEEPALIVE_TIMEOUT], args.work_dir)
    proxy = None
    direct = silent = None
    try:
        api.create_namespaced_config_map(namespace, {"metadata": {"name": "before"}})
        replica.start()
        proxy = faultproxy.FaultProxy(("127.0.0.1", replica.port))
        proxy.start()
        # No client keepalive: only informerd may notice that this connection died.
        silent_channel = grpc.insecure_channel("127.0.0.1:%d" % proxy.port,
                                               options=[("grpc.keepalive_time_ms", 2**31 - 1)])
        silent = Watcher(pb_grpc.InformerServiceStub(silent_channel), namespace)
        direct = Watcher(replica.stub, namespace)
        silent.start()
        direct.start()
        if not (silent.synced.wait(60) and direct.synced.wait(60)):
            raise RuntimeError("a subscriber never got SYNCED")
        before = metric(replica, "informerd_subscribers", "configmaps.v1")
        ended_before = metric(replica, "informerd_subscriptions_ended_total",
                              "configmaps.v1") or 0.0
        check("both subscribers are counted", before is not None and before >= 2,
              "informerd_subscribers %s" % before)

        proxy.blackhole()
        t0 = time.monotonic()
        created = api.create_namespaced_config_map(namespace, {"metadata": {"name": "during"}})
        t1 = direct.wait_for("during", ET.EVENT_TYPE_ADDED, 10)
        check("the direct subscriber is served during the blackhole",
              t1 is not None and t1 - t0 < 5,
              "ADDED %s" % ("never arrived" if t1 is None else "took %.1f s" % (t1 - t0)))
        check("the blackholed subscriber got nothing more",
              silent.wait_for("during", ET.EVENT_TYPE_ADDED, 0) is None, "it got 'during'")

        reaped_at = None
        while time.monotonic() - t0 < bound + 10:
            now = metric(replica, "informerd_subscribers", "configmaps.v1")
            if now is not None and now <= before - 1:
                reaped_at = time.monotonic()
                break
            time.sleep(0.1)
        if reaped_at is None:
            check("the dead client's stream is reaped within %.0f s" % bound, False,
                  "informerd_subscribers still %s after %.0f s" % (now, bound + 10))
        else:
            took = reaped_at - t0
            log("reaped %.1f s after the blackhole" % took)
            check("the dead client's stream is reaped within %.0f s (took %.1f s)" % (bound, took),
                  took <= bound, "took %.1f s" % took)
            check("not before the keepalive could find it dead (more than %.0f s)" %
                  KEEPALIVE_TIME, took > KEEPALIVE_TIME, "took %.1f s" % took)
        ended = metric(replica, "informerd_subscriptions_ended_total", "configmaps.v1") or 0.0
        check("informerd_subscriptions_ended_total counts it", ended >= ended_before + 1,
              "%s -> %s" % (ended_before, ended))
        with open(replica.log_path) as f:
            logged = [line for line in f if "subscription ended" in line]
        check("the end is logged at info with its cause",
              any('"level":"info"' in line and '"cause"' in line and namespace in line
                  for line in logged), "log lines: %s" % logged[:3])

        # The direct subscriber: nothing lost, nothing repeated, every position exact.
        quorum = api.list_namespaced_config_map(namespace)
        truth = {"%s/%s" % (namespace, o.metadata.name): o.metadata.resource_version
                 for o in quorum.items}
        # Read-your-writes at the newest ConfigMap's version (the list's own version may be of a
        # write to another resource, which informerd sees only with the next bookmark).
        newest = str(max(int(v) for v in truth.values()))
        _, got, problems = list_all(replica.stub, namespace, 100, min_rv=newest)
        check("informerd's List equals a quorum LIST", got == truth and not problems,
              "list %s problems %s, quorum %s" % (got, problems, truth))
        direct.stop()
        seen = [(r.type, r.object.name, r.object.resource_version, r.resource_version)
                for _, r in direct.events
                if r.type not in (ET.EVENT_TYPE_BOOKMARK, ET.EVENT_TYPE_SYNCED)]
        rv = {o.metadata.name: o.metadata.resource_version for o in quorum.items}
        expected = [(ET.EVENT_TYPE_ADDED, "before", rv["before"]),
                    (ET.EVENT_TYPE_ADDED, "during", created.metadata.resource_version)]
        check("the direct subscriber got exactly the changes, nothing lost or repeated",
              [e[:3] for e in seen] == expected, "got %s, want %s" % (seen, expected))
        live = seen[1:]  # after the initial object, positions are the events' RVs
        check("every position after SYNCED is its event's resourceVersion",
              all(e[2] == e[3] for e in live), "events %s" % live)
        check_ping_policy(check, replica, args, namespace)
    except Exception as e:  # noqa: BLE001 - reported as a failure with its cause
        check("the run", False, repr(e))
    finally:
        for w in (direct, silent):
            if w is not None:
                w.stop()
        if proxy is not None:
            proxy.close()
        replica.stop()
        try:
            api.delete_namespace(namespace)
        except Exception:  # noqa: BLE001 - cleanup only
            pass
    return report.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
