"""Fault end-to-end tests of issue 17, against the real kube-apiserver on loopback.

Scenarios (--scenarios, comma-separated, run in this order):
  restart  the API server restarted with its etcd data kept (`testcluster restart-apiserver`,
           $INFORMERD_TEST_CLUSTER_RESTART) while ConfigMaps (no watch cache: watches go to
           etcd) and PodTemplates (watch cache on) are written: at most one relist per
           resource, every subscriber's stream stays open (no gap), every closed position of
           the ConfigMap subscribers equals the API server's state there (witness.py).
  crd      a CRD deleted while cached, then re-created (the same version and scope, then with
           another version and cluster scope): ListResources says stale + last_error while it
           is gone, the subscriber sees every object DELETED and then ends with NOT_FOUND
           naming the missing resource, and the cache resumes (relists) when the CRD is back.
  rbac     informerd's own identity (a ServiceAccount) loses list/watch on ConfigMaps mid-run
           (its ClusterRoleBinding deleted; the fault proxy cuts the open watch, as a
           re-watch would find): ListResources reports stale, last_error (403) and
           stale_seconds, /metrics informerd_resource_stale_seconds > 0, the other resource
           stays fresh and readiness stays SERVING (documented in docs/operations.md); when the
           binding is back it relists and the state is whole again.
  sigterm  SIGTERM while informerd is held in discovery, and while it is held in the initial
           LIST (a fault proxy blackholes the API server): it exits within the grace period.
  replicas two informerd replicas, subscribers holding both addresses (as a client with a
           list of addresses does): replica A killed (SIGKILL) mid-stream; its subscribers
           resume on B by resourceVersion, and one that comes back only after B's (small) ring
           moved on gets OUT_OF_RANGE and resumes by known_objects, nothing lost.

Every scenario that caches ends with informerd's List, every subscriber's state rebuilt from
its events (tracker.py checks every event: nothing lost or repeated) and a quorum LIST from
the API server equal.

Prints one line per check ("PASS name" / "FAIL name: why") and the time each scenario took;
exit status 0 only when every check passed. Run by tests/e2e/fault_e2e_test.sh.

Environment: INFORMERD_TEST_KUBECONFIG (admin), INFORMERD_TEST_CLUSTER_RESTART (restart),
INFORMERD_BIN (default build/server/informerd).
"""

import argparse
import collections
import faulthandler
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import stream_contract as sc  # noqa: E402  (puts clients/python on sys.path)
import faultproxy  # noqa: E402
import grpc  # noqa: E402
import kubernetes  # noqa: E402
from informerd.v1 import informer_pb2 as pb  # noqa: E402
from tracker import Tracker  # noqa: E402
from witness import Witness  # noqa: E402

log = sc.log
results = []  # (name, ok, detail)


def check(name, ok, detail=""):
    results.append((name, bool(ok), detail))
    print("%s %s%s" % ("PASS" if ok else "FAIL", name, "" if ok else ": " + str(detail)),
          flush=True)
    return ok


def wait_until(cond, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            return v
        time.sleep(step)


# --- the API server, generically -----------------------------------------------------------
class Rest:
    """JSON over the API server's REST paths with one kubeconfig's identity."""

    def __init__(self, kubeconfig):
        self.client = kubernetes.config.new_client_from_config(config_file=kubeconfig)

    def call(self, method, path, body=None, content_type="application/json", timeout=15):
        """The decoded JSON answer; ApiException for an HTTP error (status 0: unreachable)."""
        args = self.client.param_serialize(
            method=method, resource_path=path, body=body, auth_settings=["BearerToken"],
            header_params={"Accept": "application/json", "Content-Type": content_type})
        resp = self.client.call_api(*args, _request_timeout=timeout)
        data = resp.read()
        if not 200 <= resp.status < 300:
            raise kubernetes.client.exceptions.ApiException(
                status=resp.status, reason="%s %s: %s" % (method, path, data[:300]))
        return json.loads(data) if data else {}

    def status(self, method, path, body=None, content_type="application/json"):
        """The HTTP status of a call (0 when the server could not be reached)."""
        try:
            self.call(method, path, body, content_type)
            return 200
        except kubernetes.client.exceptions.ApiException as e:
            return e.status
        except Exception:  # noqa: BLE001 - connection refused during a restart, say
            return 0

    def quorum(self, path, labels=None):
        """A quorum LIST: (resourceVersion, {key: object rv}); fills `labels` {key: labels}."""
        body = self.call("GET", path)
        out = {}
        for item in body.get("items") or []:
            md = item["metadata"]
            key = (md["namespace"] + "/" + md["name"]) if md.get("namespace") else md["name"]
            out[key] = md["resourceVersion"]
            if labels is not None:
                labels[key] = md.get("labels") or {}
        return int(body["metadata"]["resourceVersion"]), out


def informerd_list(stub, resource, namespace="", min_rv=""):
    """informerd's paged List: (resource_version, {key: object rv})."""
    while True:
        objects, token, rv = {}, "", None
        try:
            while True:
                resp = stub.List(pb.ListRequest(resource=resource, namespace=namespace, limit=200,
                                                page_token=token,
                                                min_resource_version="" if token else min_rv),
                                 timeout=20)
                rv = rv or resp.resource_version
                for o in resp.objects:
                    objects[(o.namespace + "/" + o.name) if o.namespace else o.name] = \
                        o.resource_version
                token = resp.next_page_token
                if not token:
                    return int(rv), objects
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.ABORTED:
                raise


def resource_status(stub, name):
    for r in stub.ListResources(pb.ListResourcesRequest(), timeout=10).resources:
        if r.name == name or r.resource == name:
            return r
    return None


def metric(replica, name, resource):
    """One informerd metric of one resource label (None when absent)."""
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % replica.metrics_port,
                                  timeout=10).read().decode()
    for line in text.splitlines():
        m = re.match(r'%s\{resource="([^"]*)"\} (\S+)' % re.escape(name), line)
        if m and m.group(1) == resource:
            return float(m.group(2))
    return None


class Informerd(sc.Replica):
    """stream_contract's Replica, caching `resources` instead of only ConfigMaps."""

    def __init__(self, name, binary, kubeconfig, resources, flags, work_dir):
        super().__init__(name, binary, kubeconfig, flags, work_dir)
        self._cmd = [("--resources=" + resources) if c.startswith("--resources=") else c
                     for c in self._cmd]


# --- subscribers ----------------------------------------------------------------------------
class Sub(threading.Thread):
    """One subscriber: resumes by resourceVersion after any end (known_objects after
    OUT_OF_RANGE), recording how each stream ended; tracker.py checks every event."""

    def __init__(self, name, replica, resource, namespace, selector=None, others=(),
                 reconnect_delay=0.2):
        super().__init__(name="sub-" + name, daemon=True)
        self.replica = replica
        # A client given a list of addresses: after an error it moves to the next one.
        self.replicas = [replica] + list(others)
        self.reconnect_delay = reconnect_delay
        self.starts = []  # (mode, replica name) of every stream
        self.resource = resource
        self.selector = dict(selector or {})
        self.tracker = Tracker(name, namespace, self.selector)
        self.ends = []  # (code name, details) of every stream the server ended
        self.paused = threading.Event()  # set: do not resubscribe
        self._halt = threading.Event()
        self._call = None
        self._lock = threading.Lock()

    def stop(self):
        self._halt.set()
        with self._lock:
            if self._call is not None:
                self._call.cancel()

    def run(self):
        t = self.tracker
        mode = "fresh"
        while not self._halt.is_set():
            if self.paused.is_set():
                self._halt.wait(0.1)
                continue
            req = pb.SubscribeRequest(resource=self.resource, namespace=t.namespace,
                                      label_selector=",".join(
                                          "%s=%s" % kv for kv in sorted(self.selector.items())))
            if mode == "rv" and t.pos is None:
                mode = "fresh"
            if mode == "rv":
                req.resource_version = str(t.pos)
            elif mode == "known":
                req.known_objects.update(t.known_objects())
            t.begin(mode, self.replica.name, t.pos if mode == "rv" else None)
            self.starts.append((mode, self.replica.name))
            code = None
            with self._lock:
                if self._halt.is_set():
                    break
                call = self._call = self.replica.stub.Subscribe(req)
            try:
                for resp in call:
                    t.on_event(resp)
                self.ends.append(("OK", "the stream ended without a status"))
            except grpc.RpcError as e:
                code = e.code()
                if not self._halt.is_set():
                    self.ends.append((code.name, e.details()))
            t.end(code.name if code else "end")
            mode = "known" if code == grpc.StatusCode.OUT_OF_RANGE else "rv"
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED) and \
                    len(self.replicas) > 1:
                i = self.replicas.index(self.replica)
                self.replica = self.replicas[(i + 1) % len(self.replicas)]
                self._halt.wait(self.reconnect_delay)
            else:
                self._halt.wait(0.2)


def position_checks(name, witness, subs):
    """Every closed position of every subscriber against the witness (ConfigMaps)."""
    lines = []
    if witness.error:
        lines.append(witness.error)
    for s in subs:
        cur = witness.cursor()
        for (pos, state, stream, idx, closing) in s.tracker.snapshots:
            expected = {k: v[0] for k, v in cur.state_at(pos).items()
                        if all(v[2].get(a) == b for a, b in s.selector.items())}
            if state != expected:
                diff = sc.diff_states(expected, state)
                lines.append("%s at position %d (stream %s, event %s): %s" % (
                    s.tracker.name, pos, stream, idx,
                    "; ".join("%s expected %s got %s" % d for d in diff[:4])))
                break
    check(name + ": every closed position equals the API server's state there", not lines,
          " | ".join(lines[:3]))


def final_checks(name, rest, replica, resource, list_path, namespace, subs, timeout=60):
    """informerd's List == every subscriber's state == a quorum LIST (waits for convergence,
    since the subscribers and the cache may still be catching up)."""
    why = ["not compared yet"]

    def converged():
        labels = {}
        qrv, quorum = rest.quorum(list_path, labels)
        try:
            # No min_resource_version: the quorum's version may belong to another resource,
            # which this one's cache never sees without a bookmark (none without a watch cache).
            _, listed = informerd_list(replica.stub, resource, namespace)
        except grpc.RpcError as e:
            why[0] = "informerd List: %s %s" % (e.code().name, e.details())
            return False
        if listed != quorum:
            diff = sc.diff_states(quorum, listed)
            why[0] = "informerd List != quorum LIST at %d: %s" % (
                qrv, "; ".join("%s expected %s got %s" % d for d in diff[:4]))
            return False
        for s in subs:
            expected = {k: v for k, v in quorum.items()
                        if all(labels[k].get(a) == b for a, b in s.selector.items())}
            if s.tracker.state != expected:
                diff = sc.diff_states(expected, s.tracker.state)
                why[0] = "subscriber %s != quorum LIST at %d: %s" % (
                    s.tracker.name, qrv, "; ".join("%s expected %s got %s" % d for d in diff[:4]))
                return False
        why[0] = "%d objects" % len(quorum)
        return True

    ok = wait_until(converged, timeout, 0.3)
    check("%s: informerd List == every subscriber's state == quorum LIST (%s)" % (name, why[0]),
          ok, why[0])
    violations = [v.format("-") for s in subs for v in s.tracker.violations]
    check("%s: no event lost or repeated (%d subscribers, %d events)" % (
        name, len(subs), sum(s.tracker.events for s in subs)), not violations,
        " | ".join(violations[:3]))


class Writer(threading.Thread):
    """Writes objects of one collection in a loop: creates, label flips (app=x/y), deletes;
    retries through errors (the API server may be down)."""

    def __init__(self, rest, collection, body_of, names=12, period=0.05):
        super().__init__(name="writer-" + collection, daemon=True)
        self.rest = rest
        self.collection = collection
        self.body_of = body_of
        self.names = names
        self.period = period
        self.writes = 0
        self.errors = 0
        self._halt = threading.Event()
        self.labels = {}  # key -> labels as last written (for selector checks)

    def stop(self):
        self._halt.set()
        self.join()

    def run(self):
        i = 0
        live = {}
        while not self._halt.is_set():
            name = "obj-%d" % (i % self.names)
            app = "x" if (i // self.names) % 2 == 0 else "y"
            try:
                if name not in live:
                    self.rest.call("POST", self.collection, self.body_of(name, app))
                    live[name] = app
                elif i % 7 == 3:
                    self.rest.call("DELETE", self.collection + "/" + name)
                    del live[name]
                else:
                    self.rest.call("PATCH", self.collection + "/" + name,
                                   {"metadata": {"labels": {"app": app, "n": str(i)}}},
                                   content_type="application/merge-patch+json")
                    live[name] = app
                self.writes += 1
            except kubernetes.client.exceptions.ApiException as e:
                self.errors += 1
                if e.status == 409:
                    live[name] = app  # created by an attempt that seemed to fail
                elif e.status == 404:
                    live.pop(name, None)
            except Exception:  # noqa: BLE001 - the API server is down
                self.errors += 1
                self._halt.wait(0.2)
            i += 1
            self._halt.wait(self.period)


def configmap(name, app):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {"app": app}}, "data": {"k": name}}


def podtemplate(name, app):
    return {"apiVersion": "v1", "kind": "PodTemplate",
            "metadata": {"name": name, "labels": {"app": app}},
            "template": {"metadata": {"labels": {"app": app}},
                         "spec": {"containers": [{"name": "c", "image": "example.invalid/c"}]}}}


class ReconnectingWitness(Witness):
    """witness.py's Witness, re-watching from the last version it passed when its connection
    breaks (the API server restarted; etcd kept every version, so nothing is skipped)."""

    reconnects = 0

    def _run(self):
        while True:
            super()._run()
            with self._lock:
                if self._stop or self.error is None or "ERROR event" in self.error or \
                        "out of order" in self.error:
                    return
                self.error = None
                self.reconnects += 1
                self.initial_rv = self.seen  # the base class watches from initial_rv
            time.sleep(0.5)


# --- scenarios ------------------------------------------------------------------------------
class Scenarios:
    def __init__(self, args):
        self.args = args
        self.rest = Rest(args.kubeconfig)
        self.core = kubernetes.client.CoreV1Api(self.rest.client)
        self.suffix = "%d%d" % (os.getpid() % 1000, int(time.time() * 1000) % 1000000)
        self.cleanup = []

    def namespace(self, what):
        ns = "faults-%s-%s" % (what, self.suffix)
        self.rest.call("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
        self.cleanup.append(("DELETE", "/api/v1/namespaces/" + ns))
        return ns

    def informerd(self, name, kubeconfig, resources, flags=()):
        r = Informerd(name, self.args.informerd_bin, kubeconfig, resources,
                      ["--bookmark_interval=1s"] + list(flags), self.args.work_dir)
        return r

    # 1. restart
    def restart(self):
        cmd = os.environ.get("INFORMERD_TEST_CLUSTER_RESTART", "")
        if not cmd:
            check("restart: INFORMERD_TEST_CLUSTER_RESTART is set", False, "unset")
            return
        ns = self.namespace("restart")
        witness = ReconnectingWitness(self.core, ns)
        witness.start()
        r = self.informerd("restart", self.args.kubeconfig, "configmaps,podtemplates")
        r.start()
        cm_path = "/api/v1/namespaces/%s/configmaps" % ns
        pt_path = "/api/v1/namespaces/%s/podtemplates" % ns
        writers = [Writer(self.rest, cm_path, configmap), Writer(self.rest, pt_path, podtemplate)]
        subs = [Sub("cm", r, "configmaps", ns), Sub("cm-x", r, "configmaps", ns, {"app": "x"}),
                Sub("pt", r, "podtemplates", ns)]
        for t in writers + subs:
            t.start()
        time.sleep(3)
        relists0 = {res: metric(r, "informerd_relists_total", res)
                    for res in ("configmaps.v1", "podtemplates.v1")}
        t0 = time.monotonic()
        out = subprocess.run(shlex.split(cmd) + ["--down=2s"], capture_output=True, text=True,
                             timeout=240)
        took = time.monotonic() - t0
        check("restart: testcluster restart-apiserver (%.1f s: %s)" % (took, out.stdout.strip()),
              out.returncode == 0, out.stderr[-500:])
        time.sleep(4)  # writes after the restart
        for w in writers:
            w.stop()
        check("restart: writes before and after the restart (%s)" % ", ".join(
            "%d ok/%d failed" % (w.writes, w.errors) for w in writers),
            all(w.writes > 20 for w in writers))
        final_checks("restart configmaps", self.rest, r, "configmaps", cm_path, ns, subs[:2])
        final_checks("restart podtemplates", self.rest, r, "podtemplates", pt_path, ns, subs[2:])
        witness.wait_past(max(s.tracker.pos or 0 for s in subs[:2]), 20)
        position_checks("restart configmaps", witness, subs[:2])
        for res, before in relists0.items():
            after = metric(r, "informerd_relists_total", res)
            check("restart: at most one relist of %s (%s)" % (res, after - before),
                  after is not None and after - before <= 1, "%s relists" % (after - before))
        ended = [(s.tracker.name, e) for s in subs for e in s.ends]
        check("restart: no subscriber stream ended (no gap to resume over)", not ended, ended)
        check("restart: the witness re-watched across the restart (%d)" % witness.reconnects,
              witness.reconnects >= 1, "it never lost its watch: did the API server restart?")
        for s in subs:
            s.stop()
        witness.stop()
        r.stop()

    # 2. CRD deleted while cached, re-created
    def crd(self):
        group = "faults%s.example.com" % self.suffix
        crd_name = "widgets." + group
        crd_path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"

        def crd_body(version, scope):
            return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                    "metadata": {"name": crd_name},
                    "spec": {"group": group, "scope": scope,
                             "names": {"plural": "widgets", "singular": "widget",
                                       "kind": "Widget", "listKind": "WidgetList"},
                             "versions": [{"name": version, "served": True, "storage": True,
                                           "schema": {"openAPIV3Schema": {
                                               "type": "object",
                                               "x-kubernetes-preserve-unknown-fields": True}}}]}}

        def create_crd(version, scope):
            self.rest.call("POST", crd_path, crd_body(version, scope))
            ok = wait_until(lambda: self.rest.status(
                "GET", "/apis/%s/%s/widgets" % (group, version)) == 200, 60, 0.2)
            if not ok:
                raise RuntimeError("CRD %s %s never served" % (crd_name, version))

        def delete_crd():
            self.rest.call("DELETE", crd_path + "/" + crd_name)
            wait_until(lambda: self.rest.status("GET", crd_path + "/" + crd_name) == 404, 60, 0.2)

        def widget(name, app, version="v1"):
            return {"apiVersion": group + "/" + version, "kind": "Widget",
                    "metadata": {"name": name, "labels": {"app": app}}, "spec": {"n": 1}}

        ns = self.namespace("crd")
        self.cleanup.insert(0, ("DELETE", crd_path + "/" + crd_name))
        create_crd("v1", "Namespaced")
        w_path = "/apis/%s/v1/namespaces/%s/widgets" % (group, ns)
        for i in range(5):
            self.rest.call("POST", w_path, widget("w-%d" % i, "x"))
        r = self.informerd("crd", self.args.kubeconfig, "configmaps,widgets." + group)
        r.start()
        wait_until(lambda: (resource_status(r.stub, "widgets") or pb.ResourceStatus()).synced, 30)
        sub = Sub("widgets", r, "widgets." + group, ns)
        sub.start()
        wait_until(lambda: len(sub.tracker.state) == 5, 20)
        final_checks("crd (before delete)", self.rest, r, "widgets." + group, w_path, ns, [sub])

        t0 = time.monotonic()
        delete_crd()
        gone = wait_until(lambda: (resource_status(r.stub, "widgets") or pb.ResourceStatus()).stale,
                          30)
        st = resource_status(r.stub, "widgets")
        check("crd: deleted CRD -> ListResources stale with last_error (%.1f s: %r)" % (
            time.monotonic() - t0, st.last_error), gone and st.last_error, st)
        check("crd: the cache holds none of the deleted objects (%d)" % st.object_count,
              st.object_count == 0, st)
        ended = wait_until(lambda: sub.ends, 20)
        code, details = (sub.ends or [("none", "")])[0]
        check("crd: the subscriber's stream ends with NOT_FOUND naming the resource (%s: %s)" % (
            code, details), code == "NOT_FOUND" and "widgets" in details, sub.ends)
        check("crd: the subscriber saw every object DELETED first", not sub.tracker.state,
              sub.tracker.state)
        sub.paused.set()

        # Back, the same version and scope: the cache resumes.
        t0 = time.monotonic()
        create_crd("v1", "Namespaced")
        for i in range(3):
            self.rest.call("POST", w_path, widget("again-%d" % i, "y"))
        back = wait_until(lambda: not resource_status(r.stub, "widgets").stale and
                          resource_status(r.stub, "widgets").object_count == 3, 60, 0.2)
        check("crd: re-created CRD -> resumes, not stale, new objects cached (%.1f s)" % (
            time.monotonic() - t0), back, resource_status(r.stub, "widgets"))
        sub.paused.clear()
        final_checks("crd (re-created)", self.rest, r, "widgets." + group, w_path, ns, [sub])
        sub.stop()

        # Back with another version and scope: v1 is no longer served.
        delete_crd()
        create_crd("v2", "Cluster")
        self.rest.call("POST", "/apis/%s/v2/widgets" % group, widget("cluster-0", "x", "v2"))
        time.sleep(3)
        st = resource_status(r.stub, "widgets")
        check("crd: re-created as v2 Cluster -> v1 stays stale with last_error (%r)" % (
            st.last_error), st.stale and st.last_error and st.object_count == 0, st)
        # And v1 Namespaced again: resumes.
        delete_crd()
        create_crd("v1", "Namespaced")
        self.rest.call("POST", w_path, widget("third", "x"))
        back = wait_until(lambda: not resource_status(r.stub, "widgets").stale and
                          resource_status(r.stub, "widgets").object_count == 1, 60, 0.2)
        check("crd: v1 Namespaced again -> resumes", back, resource_status(r.stub, "widgets"))
        sub2 = Sub("widgets-2", r, "widgets." + group, ns)
        sub2.start()
        final_checks("crd (third)", self.rest, r, "widgets." + group, w_path, ns, [sub2])
        sub2.stop()
        r.stop()
        delete_crd()

    # 3. RBAC revoked and restored
    def rbac(self):
        import yaml

        ns = self.namespace("rbac")
        sa = "informerd"
        self.rest.call("POST", "/api/v1/namespaces/%s/serviceaccounts" % ns,
                       {"metadata": {"name": sa}})
        roles = {"cm": ["configmaps"], "pt": ["podtemplates"]}
        rb_path = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
        names = {}
        for key, resources in roles.items():
            name = "faults-rbac-%s-%s" % (key, self.suffix)
            names[key] = name
            self.rest.call("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", {
                "metadata": {"name": name},
                "rules": [{"apiGroups": [""], "resources": resources,
                           "verbs": ["get", "list", "watch"]}]})
            self.cleanup.append(("DELETE",
                                 "/apis/rbac.authorization.k8s.io/v1/clusterroles/" + name))
            self.cleanup.append(("DELETE", rb_path + "/" + name))

        def binding(key):
            return {"metadata": {"name": names[key]},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                "name": names[key]},
                    "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]}

        for key in roles:
            self.rest.call("POST", rb_path, binding(key))
        token = self.rest.call("POST", "/api/v1/namespaces/%s/serviceaccounts/%s/token" % (ns, sa),
                               {"apiVersion": "authentication.k8s.io/v1",
                                "kind": "TokenRequest",
                                "spec": {"expirationSeconds": 3600}})["status"]["token"]
        proxy = faultproxy.FaultProxy(faultproxy.upstream_of_kubeconfig(self.args.kubeconfig))
        proxy.start()
        kc = os.path.join(self.args.work_dir, "rbac.kubeconfig")
        faultproxy.rewrite_kubeconfig(self.args.kubeconfig, kc, proxy.port)
        with open(kc) as f:
            cfg = yaml.safe_load(f)
        for u in cfg.get("users", []):
            u["user"] = {"token": token}
        with open(kc, "w") as f:
            yaml.safe_dump(cfg, f)

        r = self.informerd("rbac", kc, "configmaps,podtemplates")
        r.start()
        cm_path = "/api/v1/namespaces/%s/configmaps" % ns
        writer = Writer(self.rest, cm_path, configmap, period=0.1)
        sub = Sub("cm", r, "configmaps", ns)
        writer.start()
        sub.start()
        time.sleep(2)
        relists0 = metric(r, "informerd_relists_total", "configmaps.v1") or 0
        lists0 = metric(r, "informerd_lists_total", "configmaps.v1") or 0

        t0 = time.monotonic()
        self.rest.call("DELETE", rb_path + "/" + names["cm"])
        # Authorization is checked when a request starts: an open watch lives on until it
        # ends. Cut it, as any re-watch (timeout, network) would, so the next one is refused.
        wait_until(lambda: self.rest_as(kc, token, "/api/v1/configmaps") == 403, 20, 0.1)
        proxy.reset_all()
        stale = wait_until(lambda: resource_status(r.stub, "configmaps").stale, 30, 0.1)
        time.sleep(1.5)
        st = resource_status(r.stub, "configmaps")
        check("rbac: revoked -> configmaps stale, last_error says forbidden, stale_seconds %.1f "
              "(%.1f s after the revocation)" % (st.stale_seconds, time.monotonic() - t0),
              stale and "forbidden" in st.last_error.lower() and st.stale_seconds >= 1.0, st)
        m = metric(r, "informerd_resource_stale_seconds", "configmaps.v1")
        check("rbac: informerd_resource_stale_seconds{configmaps.v1} = %s" % m,
              m is not None and m >= 1.0, m)
        other = resource_status(r.stub, "podtemplates")
        check("rbac: podtemplates (still allowed) is not stale",
              not other.stale and metric(r, "informerd_resource_stale_seconds",
                                         "podtemplates.v1") == 0, other)
        health = readiness(r)
        check("rbac: readiness stays ready while one resource is stale (/readyz: %s)" % health,
              health == "ready", health)
        try:
            informerd_list(r.stub, "configmaps", ns)
            check("rbac: List still answers from the (stale) cache", True)
        except grpc.RpcError as e:
            check("rbac: List still answers from the (stale) cache", False, e.code().name)

        t0 = time.monotonic()
        self.rest.call("POST", rb_path, binding("cm"))
        fresh = wait_until(lambda: not resource_status(r.stub, "configmaps").stale, 60, 0.1)
        check("rbac: restored -> not stale again (%.1f s)" % (time.monotonic() - t0), fresh,
              resource_status(r.stub, "configmaps"))
        m = metric(r, "informerd_resource_stale_seconds", "configmaps.v1")
        check("rbac: informerd_resource_stale_seconds back to 0 (%s)" % m, m == 0, m)
        time.sleep(2)
        writer.stop()
        lists = (metric(r, "informerd_lists_total", "configmaps.v1") or 0) - lists0
        relists = (metric(r, "informerd_relists_total", "configmaps.v1") or 0) - relists0
        check("rbac: relisted when access returned (%d lists, %d relists since the revocation)" %
              (lists, relists), lists >= 1, (lists, relists))
        final_checks("rbac", self.rest, r, "configmaps", cm_path, ns, [sub])
        ended = [e for e in sub.ends]
        check("rbac: the subscriber's stream stayed open (%s)" % (ended or "no end"), not ended,
              ended)
        sub.stop()
        r.stop()
        proxy.close()

    def rest_as(self, kubeconfig, token, path):
        """The HTTP status of a GET with informerd's identity (straight to the API server)."""
        try:
            req = urllib.request.Request(
                self.rest.client.configuration.host + path + "?limit=1",
                headers={"Authorization": "Bearer " + token})
            import ssl
            ctx = ssl.create_default_context(cafile=self.rest.client.configuration.ssl_ca_cert)
            urllib.request.urlopen(req, context=ctx, timeout=10).read()
            return 200
        except urllib.error.HTTPError as e:
            return e.code
        except Exception:  # noqa: BLE001
            return 0

    # 5. a replica killed behind one address
    def replicas(self):
        ns = self.namespace("replicas")
        witness = Witness(self.core, ns)
        witness.start()
        a = self.informerd("A", self.args.kubeconfig, "configmaps")
        # B's ring is small: a subscriber that comes late finds it moved on.
        b = self.informerd("B", self.args.kubeconfig, "configmaps",
                           ["--history_size=40"])
        a.start()
        b.start()
        cm_path = "/api/v1/namespaces/%s/configmaps" % ns
        writer = Writer(self.rest, cm_path, configmap, period=0.02)
        subs = [Sub("soon", a, "configmaps", ns, others=[b], reconnect_delay=0.1),
                Sub("soon-x", a, "configmaps", ns, {"app": "x"}, others=[b],
                    reconnect_delay=0.1),
                Sub("late", a, "configmaps", ns, others=[b], reconnect_delay=6.0)]
        writer.start()
        for sub in subs:
            sub.start()
        time.sleep(3)
        a.proc.kill()  # SIGKILL: no goodbye, the streams just break
        a.proc.wait()
        time.sleep(8)
        writer.stop()
        final_checks("replicas", self.rest, b, "configmaps", cm_path, ns, subs)
        witness.wait_past(max(s.tracker.pos or 0 for s in subs), 20)
        position_checks("replicas", witness, subs)
        for sub in subs[:2]:
            check("replicas: %s resumed on B by resourceVersion (streams %s)" % (
                sub.tracker.name, sub.starts), ("rv", "B") in sub.starts and
                not any(m == "known" for m, _ in sub.starts), sub.starts)
        late = subs[2]
        check("replicas: late (after B's ring moved on) got OUT_OF_RANGE and resumed on B by "
              "known_objects (streams %s)" % late.starts,
              ("known", "B") in late.starts and
              any(code == "OUT_OF_RANGE" for code, _ in late.ends), (late.starts, late.ends))
        for sub in subs:
            sub.stop()
        witness.stop()
        b.stop()
        a.stop()

    # 4. SIGTERM during discovery / the initial LIST
    def sigterm(self):
        grace = 5.0
        for phase in ("discovery", "initial LIST"):
            for attempt in range(1, 4):
                proxy = faultproxy.FaultProxy(
                    faultproxy.upstream_of_kubeconfig(self.args.kubeconfig))
                proxy.start()
                kc = os.path.join(self.args.work_dir, "sigterm.kubeconfig")
                faultproxy.rewrite_kubeconfig(self.args.kubeconfig, kc, proxy.port)
                if phase == "discovery":
                    proxy.blackhole()
                log_path = os.path.join(self.args.work_dir, "informerd-sigterm.log")
                cmd = [self.args.informerd_bin, "--kubeconfig=" + kc, "--listen=127.0.0.1:0",
                       "--metrics_listen=127.0.0.1:0", "--resources=configmaps,podtemplates",
                       "--log_format=json", "--shutdown_grace=%ds" % grace]
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, bufsize=1)
                lines = []
                held = False
                deadline = time.monotonic() + 30
                for line in proc.stdout:
                    lines.append(line)
                    if phase == "discovery" and '"API server"' in line:
                        time.sleep(1.0)  # well inside discovery, which is blackholed
                        held = True
                        break
                    if phase == "initial LIST" and '"caching resource"' in line:
                        proxy.blackhole()  # the informers start their LIST right now
                        held = True
                        break
                    if time.monotonic() > deadline:
                        break
                if phase == "initial LIST" and held:
                    time.sleep(1.0)
                    # Prove it is held in the initial LIST: not every resource synced.
                    text = "".join(lines)
                    m = re.search(r'"metrics_port":"?(\d+)', text)
                    while not m:
                        line = proc.stdout.readline()
                        if not line:
                            break
                        lines.append(line)
                        m = re.search(r'"metrics_port":"?(\d+)', line)
                    ready = None
                    if m:
                        try:
                            urllib.request.urlopen("http://127.0.0.1:%s/readyz" % m.group(1),
                                                   timeout=5)
                            ready = True
                        except urllib.error.HTTPError:
                            ready = False
                        except Exception:  # noqa: BLE001
                            ready = None
                    if ready is not False:
                        held = False  # the LIST won the race: try again
                t0 = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                try:
                    rest, _ = proc.communicate(timeout=grace + 25)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    rest, _ = proc.communicate()
                took = time.monotonic() - t0
                lines.append(rest or "")
                with open(log_path, "a") as f:
                    f.write("".join(lines))
                proxy.close()
                if not held and attempt < 3:
                    log("sigterm %s: not held there (attempt %d); again" % (phase, attempt))
                    continue
                check("sigterm during %s: exits within the %.0f s grace period (%.2f s, exit "
                      "%s, attempt %d)" % (phase, grace, took, proc.returncode, attempt),
                      held and took < grace and proc.returncode == 0,
                      "held=%s; log %s" % (held, log_path))
                break

    def close(self):
        for method, path in self.cleanup:
            self.rest.status(method, path)


def readiness(replica):
    """informerd's /readyz: "ready" (200) or what it answered."""
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/readyz" % replica.metrics_port, timeout=5)
        return "ready"
    except urllib.error.HTTPError as e:
        return "%d %s" % (e.code, e.read().decode()[:200])
    except Exception as e:  # noqa: BLE001
        return repr(e)


def main(argv):
    faulthandler.register(signal.SIGUSR1)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenarios", default="restart,crd,rbac,sigterm,replicas")
    p.add_argument("--kubeconfig", default=os.environ.get("INFORMERD_TEST_KUBECONFIG", ""))
    p.add_argument("--informerd-bin", default=os.environ.get(
        "INFORMERD_BIN", os.path.join(sc.ROOT, "build", "server", "informerd")))
    p.add_argument("--work-dir", required=True)
    args = p.parse_args(argv)
    if not args.kubeconfig:
        print("INFORMERD_TEST_KUBECONFIG is not set", file=sys.stderr)
        return 2
    s = Scenarios(args)
    try:
        for name in args.scenarios.split(","):
            t0 = time.monotonic()
            log("scenario %s" % name)
            try:
                getattr(s, name)()
            except Exception as e:  # noqa: BLE001 - a broken scenario is a failed check
                import traceback
                traceback.print_exc()
                check("%s: the scenario ran to its end" % name, False, repr(e))
            print("TIME %s %.1f s" % (name, time.monotonic() - t0), flush=True)
    finally:
        s.close()
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
