"""The stream-contract differential test (issue 13, issue 14 part 1).

One seeded run against a real kube-apiserver:
  - a witness (witness.py): one raw WATCH of the API server, so the exact state at any
    resourceVersion is known;
  - informerd (one, or two replicas with --replicas 2) behind a fault proxy (faultproxy.py),
    with a small history ring and small subscriber limits;
  - a seeded random ConfigMap workload in its own namespace (creates, updates, label changes
    app=x/y, deletes, re-creates of deleted names with or without the label), with faults at
    fixed operation indices: connection resets, etcd compactions, informerd SIGSTOP for 5 s;
  - subscribers (tracker.py checks every event): `rv` resumes by resourceVersion after random
    client-side cuts; `x-known` (app=x) resumes with known_objects; `x-rv` (app=x) resumes by
    resourceVersion; `slow` sleeps per event, is coalesced and ended (RESOURCE_EXHAUSTED) and
    resumes from the trailer; `fresh` re-subscribes fresh; with two replicas `switch` moves
    between them at random points, resuming by resourceVersion. OUT_OF_RANGE on a resume by
    resourceVersion -> the client resumes with known_objects;
  - List snapshots (paged) taken mid-run;
  - at the end: informerd's List == a quorum LIST == every subscriber's state; every closed
    position of every subscriber and every List snapshot equals the witness's state at its
    version. Coalescing, OUT_OF_RANGE and RESOURCE_EXHAUSTED must each have happened.

Prints one line per check ("PASS name" / "FAIL name" with the first violations, each naming
seed, subscriber, stream, event index, key, expected and got) and a JSON report into
--work-dir. Exit status 0 only when every check passed.

Run it through scripts/stream-contract (the long run) or tests/contract/stream_contract_test.sh
(the short run of scripts/test).
"""

import argparse
import collections
import faulthandler
import json
import os
import random
import re
import shlex
import signal
import statistics
import subprocess
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
from tracker import Tracker, Violation  # noqa: E402
from witness import Witness  # noqa: E402

RESUME_TRAILER = "informer-resume-resource-version"
NAMES = 64  # ConfigMap names the workload cycles through
MERGE_PATCH = "application/merge-patch+json"


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# --- informerd ------------------------------------------------------------------------------
class Replica:
    """One informerd process, its gRPC channel and stub."""

    def __init__(self, name, binary, kubeconfig, flags, work_dir, env=None):
        self.name = name
        self._env = env  # None: this process's environment
        self._cmd = [binary, "--kubeconfig=" + kubeconfig, "--listen=127.0.0.1:0",
                     "--metrics_listen=127.0.0.1:0", "--resources=configmaps", "--log_format=json",
                     "--log_level=info"] + flags
        self.log_path = os.path.join(work_dir, "informerd-%s.log" % name)
        self.proc = None
        self.port = 0
        self.metrics_port = 0
        self.metrics_at_end = {}
        self.channel = None
        self.stub = None

    def start(self, timeout=60):
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self._cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=self._env)
        deadline = time.monotonic() + timeout
        while not self.port:
            if self.proc.poll() is not None:
                raise RuntimeError("informerd %s exited with %s; log %s" %
                                   (self.name, self.proc.returncode, self.log_path))
            if time.monotonic() > deadline:
                raise RuntimeError("informerd %s did not start; log %s" % (self.name, self.log_path))
            with open(self.log_path) as f:
                text = f.read()
            m = re.search(r'"grpc_port":"?(\d+)', text)
            if m:
                self.port = int(m.group(1))
                mm = re.search(r'"metrics_port":"?(\d+)', text)
                self.metrics_port = int(mm.group(1)) if mm else 0
            else:
                time.sleep(0.1)
        self.channel = grpc.insecure_channel("127.0.0.1:%d" % self.port)
        self.stub = pb_grpc.InformerServiceStub(self.channel)
        while True:
            try:
                self.stub.List(pb.ListRequest(resource="configmaps", limit=1), timeout=5)
                return
            except grpc.RpcError as e:
                if time.monotonic() > deadline:
                    raise RuntimeError("informerd %s never synced: %s" % (self.name, e))
                time.sleep(0.2)

    def metrics(self):
        """informerd's counters of interest ({name: value}, summed over labels)."""
        import urllib.request
        out = collections.Counter()
        if not self.metrics_port:
            return out
        try:
            text = urllib.request.urlopen(
                "http://127.0.0.1:%d/metrics" % self.metrics_port, timeout=10).read().decode()
        except OSError as e:
            return {"error": str(e)}
        for line in text.splitlines():
            m = re.match(r"informerd_(lists|relists|watches|watch_restarts|apiserver_errors|"
                         r"coalesced_subscribers|terminated_subscribers)_total(\{[^}]*\})? "
                         r"(\S+)", line)
            if m:
                out[m.group(1)] += float(m.group(3))
        return dict(out)

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def cont(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.channel is not None:
            self.channel.close()


def list_all(stub, namespace, limit, rng=None, min_rv="", timeout=30):
    """A paged List of one namespace: (resource_version, {key: object rv}, problems)."""
    problems = []
    while True:
        objects = {}
        token = ""
        rv = None
        total = None
        keys = []
        try:
            while True:
                req = pb.ListRequest(resource="configmaps", namespace=namespace,
                                     limit=limit if rng is None else rng.randint(1, limit),
                                     page_token=token,
                                     min_resource_version="" if token else min_rv)
                resp = stub.List(req, timeout=timeout)
                if rv is None:
                    rv, total = resp.resource_version, resp.total_count
                elif resp.resource_version != rv:
                    problems.append("page resource_version %s after %s" %
                                    (resp.resource_version, rv))
                for o in resp.objects:
                    key = o.namespace + "/" + o.name
                    keys.append(key)
                    objects[key] = o.resource_version
                token = resp.next_page_token
                if not token:
                    break
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.ABORTED:
                continue  # the snapshot expired: restart the list
            raise
        if keys != sorted(keys) or len(keys) != len(set(keys)):
            problems.append("pages not sorted by key or with a key twice")
        if total != len(objects):
            problems.append("total_count %s but %d objects" % (total, len(objects)))
        return int(rv), objects, problems


# --- subscribers ----------------------------------------------------------------------------
class Subscriber(threading.Thread):
    """One Subscribe client with a resume policy; see the module comment."""

    def __init__(self, name, policy, run, selector=None, replicas=None):
        super().__init__(name="sub-" + name, daemon=True)
        self.policy = policy
        self.run_ = run
        self.replicas = replicas or [run.replicas[0]]
        self.selector = selector or {}
        self.rng = random.Random("%s/%s" % (run.seed, name))
        self.tracker = Tracker(name, run.namespace, self.selector)
        self.counts = collections.Counter()
        self.trailers = []  # (trailer, last closed position) per RESOURCE_EXHAUSTED
        self._halt = threading.Event()
        self._call = None
        self._lock = threading.Lock()

    def stop(self):
        self._halt.set()
        with self._lock:
            if self._call is not None:
                self._call.cancel()

    def _cut_after(self):
        if self.policy == "slow":
            return None
        return self.rng.randint(5, 150)

    def _delay(self):
        """Reconnect delay: usually short; sometimes long enough for the ring to move on."""
        r = self.rng.random()
        if r < 0.25 and self.policy in ("rv", "switch", "x-rv"):
            return self.rng.uniform(6.0, 10.0)
        return self.rng.uniform(0.0, 0.3)

    def run(self):
        t = self.tracker
        next_mode = "fresh"
        resume_rv = None
        replica = self.replicas[0]
        last_code = None  # how the previous stream ended (None: client cut)
        while not self._halt.is_set():
            if len(self.replicas) > 1 and self.rng.random() < 0.8:
                # Mostly to the other replica.
                replica = self.rng.choice([r for r in self.replicas if r is not replica])
            req = pb.SubscribeRequest(resource="configmaps", namespace=self.run_.namespace,
                                      label_selector=",".join(
                                          "%s=%s" % kv for kv in sorted(self.selector.items())))
            mode = next_mode
            if mode == "rv" and resume_rv is None:
                mode = "fresh"
            if mode == "known" and not t.state and t.pos is None:
                mode = "fresh"
            if mode == "rv":
                req.resource_version = str(resume_rv)
            elif mode == "known":
                req.known_objects.update(t.known_objects())
            self.counts["start-" + mode] += 1
            t.begin(mode, replica.name, resume_rv if mode == "rv" else None)
            cut_after = self._cut_after()
            n = 0
            code = None
            trailer = None
            with self._lock:
                if self._halt.is_set():
                    break
                call = self._call = replica.stub.Subscribe(req)
            try:
                for resp in call:
                    t.on_event(resp)
                    n += 1
                    if self.policy == "slow":
                        time.sleep(0.03)
                        if n % 150 == 0:
                            time.sleep(self.rng.uniform(2.0, 4.0))
                    if cut_after is not None and n >= cut_after:
                        self.counts["client-cut"] += 1
                        call.cancel()
                        break
                    if self._halt.is_set():
                        break
            except grpc.RpcError as e:
                code = e.code()
                md = dict(e.trailing_metadata() or ())
                trailer = md.get(RESUME_TRAILER)
                if code != grpc.StatusCode.CANCELLED or not self._halt.is_set():
                    self.counts["end-" + code.name] += 1
            discarded = t.end("client cut" if code is None else code.name)
            if discarded:
                self.counts["group-discarded"] += 1
            if self._halt.is_set():
                break
            # What next, by policy and by how the stream ended.
            base = {"rv": "rv", "x-rv": "rv", "slow": "rv", "switch": "rv", "known": "known",
                    "fresh": "fresh"}[self.policy]
            next_mode = base
            resume_rv = t.pos
            if code == grpc.StatusCode.OUT_OF_RANGE:
                self.run_.note("OUT_OF_RANGE", self.tracker.name, mode,
                               "after-" + (last_code.name if last_code else "start"))
                if mode == "rv":
                    next_mode = "known"
            elif code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                self.run_.note("RESOURCE_EXHAUSTED", self.tracker.name,
                               "trailer" if trailer else "no-trailer")
                self.trailers.append((trailer, t.pos))
                if trailer is not None and (t.pos is None or int(trailer) != t.pos):
                    t.violations.append(Violation(
                        "resume-trailer-not-last-closed-position", t.name, t.stream_desc,
                        t.events, "", "trailer == last closed position %s" % t.pos,
                        trailer, "the client resumes from the trailer as the contract says"))
                if trailer is not None and base == "rv":
                    resume_rv = int(trailer)
            if next_mode == "rv" and resume_rv is None:
                next_mode = "fresh"
            last_code = code
            self._halt.wait(self._delay())


# --- the run --------------------------------------------------------------------------------
class Run:
    def __init__(self, args):
        self.args = args
        self.seed = args.seed
        self.namespace = "contract-%d-%d" % (args.seed, int(time.time()) % 100000)
        self.work_dir = args.work_dir
        self.replicas = []
        self.proxy = None
        self.notes = collections.Counter()
        self.notes_lock = threading.Lock()
        self.lists = []  # (replica, rv, {key: orv}, problems)
        self.reset_latency = []  # seconds, per reset outside a pause
        self.reset_measures = 0  # measurements started
        self.results = []  # (name, ok, lines)
        self._stop_lister = threading.Event()
        self.ending = False  # the replicas are being stopped
        # Padding in every ConfigMap: bigger objects make informerd's catch-up take longer.
        self.pad = "p" * args.object_bytes
        self.catch_up_until = 0.0  # the paused replica catches up until then

    def note(self, what, *detail):
        with self.notes_lock:
            self.notes[what] += 1
            if detail:
                self.notes[":".join((what,) + tuple(detail))] += 1

    # -- setup
    def setup(self):
        a = self.args
        self.api_client = kubernetes.config.new_client_from_config(config_file=a.kubeconfig)
        self.api = kubernetes.client.CoreV1Api(self.api_client)
        self.api.create_namespace({"metadata": {"name": self.namespace}})
        self.fence_ns = self.namespace + "-fence"
        self.api.create_namespace({"metadata": {"name": self.fence_ns}})
        self.witness = Witness(self.api, self.namespace)
        self.witness.start()
        upstream = faultproxy.upstream_of_kubeconfig(a.kubeconfig)
        self.proxy = faultproxy.FaultProxy(upstream)
        self.proxy.start()
        proxied = os.path.join(self.work_dir, "proxied.kubeconfig")
        faultproxy.rewrite_kubeconfig(a.kubeconfig, proxied, self.proxy.port)
        flags = ["--history_size=%d" % a.history_size,
                 "--subscriber_soft_limit=%d" % a.soft_limit,
                 "--subscriber_hard_limit=%d" % a.hard_limit,
                 "--bookmark_interval=%s" % a.bookmark_interval,
                 # The app=x subscribers' cuts then come from the label index's entry
                 # (Store::Candidates), not the namespace's range.
                 "--index=configmaps=label:app",
                 # Most objects of the run are then kept compressed (trained on the first 16):
                 # every check below reads them back through the decompression.
                 "--cache_compression_samples=16"]
        for i in range(a.replicas):
            r = Replica("ABCDEFG"[i], a.informerd_bin, proxied, flags, self.work_dir)
            r.start()
            self.replicas.append(r)
        log("seed %d: namespace %s, %d informerd replica(s) on ports %s behind proxy :%d" % (
            self.seed, self.namespace, len(self.replicas),
            ",".join(str(r.port) for r in self.replicas), self.proxy.port))

    def teardown(self):
        self.ending = True
        for r in self.replicas:
            r.stop()
        if self.proxy:
            self.proxy.close()
        if getattr(self, "witness", None):
            self.witness.stop()
        try:
            for ns in (self.namespace, self.fence_ns):
                self.api.delete_namespace(ns)
        except Exception:  # noqa: BLE001 - best effort
            pass

    # -- the workload, with faults by operation index
    def plan(self, ops):
        rng = random.Random("%d/faults" % self.seed)
        lo, hi = max(1, ops // 10), max(2, ops * 9 // 10)
        pause_at = rng.randint(ops * 3 // 10, ops * 5 // 10)
        faults = collections.defaultdict(list)
        # The random faults keep out of the pause and what follows it (below).
        free = [i for i in range(lo, hi)
                if not pause_at - 5 <= i <= pause_at + int(7.0 * self.args.rate)]
        for i in rng.sample(free, self.args.resets - 1):
            faults[i].append("reset")
        for i in rng.sample(free, self.args.compactions - 1):
            faults[i].append("compact")
        faults[pause_at].append("pause")
        # informerd A resumes after 5 s (about 5 * rate operations) and catches up with the
        # backlog its watch connection kept, while Lists race it. Then its API connections are
        # blackholed, etcd is compacted, and the connections are reset, so it re-watches from
        # a compacted version: 410, relist.
        rate = self.args.rate
        faults[pause_at + int(6.0 * rate)].append("blackhole")
        faults[pause_at + int(6.5 * rate)].append("compact")
        faults[pause_at + int(6.5 * rate) + 1].append("reset")
        faults[pause_at + int(6.5 * rate) + 1].append("resume")
        return faults

    def workload(self, ops):
        rng = random.Random("%d/workload" % self.seed)
        faults = self.plan(ops)
        live = {}  # name -> app label or None
        names = ["cm-%03d" % i for i in range(NAMES)]
        paused_until = None
        measure_next = None
        t0 = time.monotonic()
        last_rv = 0
        for i in range(ops):
            # Pace: rate ops per second.
            ahead = t0 + i / self.args.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            for f in faults.get(i, ()):
                self.note("fault-" + f)
                if f == "reset":
                    n = self.proxy.reset_all()
                    log("op %d: reset %d API connection(s)%s" %
                        (i, n, " (informerd paused)" if paused_until else ""))
                    if not paused_until:
                        measure_next = True
                elif f == "blackhole":
                    self.proxy.blackhole()
                    log("op %d: API connections blackholed" % i)
                elif f == "resume":
                    self.proxy.resume()
                    log("op %d: API connections forward again" % i)
                elif f == "compact":
                    out = subprocess.run(shlex.split(self.args.compact), capture_output=True,
                                         text=True)
                    log("op %d: compact: %s" % (i, (out.stdout + out.stderr).strip()[-120:]))
                elif f == "pause":
                    self.replicas[0].pause()
                    paused_until = time.monotonic() + 5
                    # Lists that wait through the pause and race the catch-up after it.
                    for k in range(2):
                        threading.Thread(target=self._catch_up_lists, args=(
                            paused_until + 15, random.Random("%d/catch-up/%d" % (self.seed, k))),
                            daemon=True).start()
                    log("op %d: informerd %s SIGSTOP for 5 s" % (i, self.replicas[0].name))
            if paused_until and time.monotonic() >= paused_until:
                self.catch_up_until = time.monotonic() + 15
                self.replicas[0].cont()
                paused_until = None
                log("op %d: informerd %s SIGCONT" % (i, self.replicas[0].name))
            name = rng.choice(names)
            try:
                rv = self._operate(rng, i, name, live)
            except kubernetes.client.ApiException as e:
                # Not expected (this is the namespace's only writer): note it, resync the name.
                self.note("workload-error", str(e.status))
                log("op %d on %s: %s %s" % (i, name, e.status, e.reason))
                try:
                    o = self.api.read_namespaced_config_map(name, self.namespace)
                    live[name] = (o.metadata.labels or {}).get("app")
                except kubernetes.client.ApiException:
                    live.pop(name, None)
                continue
            if rv is not None:
                last_rv = rv
                if measure_next:
                    measure_next = None
                    self.reset_measures += 1
                    threading.Thread(target=self._measure_visible,
                                     args=(rv, time.monotonic()), daemon=True).start()
        if paused_until:
            time.sleep(max(0.0, paused_until - time.monotonic()))
            self.replicas[0].cont()
            log("informerd %s SIGCONT" % self.replicas[0].name)
        return last_rv

    def _operate(self, rng, i, name, live):
        """One write to `name`: create (with app=x, app=y or no label) when it does not exist,
        else update its data, change its label, or delete it. Returns the written object's
        resourceVersion (None for a delete)."""
        r = rng.random()
        if name not in live:
            app = rng.choice(["x", "y", None])
            md = {"name": name}
            if app:
                md["labels"] = {"app": app}
            body = self.api.create_namespaced_config_map(
                self.namespace, {"metadata": md, "data": {"op": str(i), "pad": self.pad}},
                _preload_content=False)
            live[name] = app
        elif r < 0.5:
            body = self.api.patch_namespaced_config_map(
                name, self.namespace, {"data": {"op": str(i)}}, _preload_content=False,
                _content_type=MERGE_PATCH)
        elif r < 0.75:
            app = rng.choice([v for v in ("x", "y", None) if v != live[name]])
            body = self.api.patch_namespaced_config_map(
                name, self.namespace, {"metadata": {"labels": {"app": app}}},
                _preload_content=False, _content_type=MERGE_PATCH)
            live[name] = app
        else:
            self.api.delete_namespaced_config_map(name, self.namespace, _preload_content=False)
            del live[name]
            return None
        return int(json.loads(body.data)["metadata"]["resourceVersion"])

    def _measure_visible(self, rv, t_write):
        """How long after the write at `rv` (the first after a reset) informerd serves it."""
        deadline = t_write + 120
        while True:
            try:
                self.replicas[0].stub.List(
                    pb.ListRequest(resource="configmaps", namespace=self.namespace, limit=1,
                                   min_resource_version=str(rv)),
                    timeout=max(0.1, deadline - time.monotonic()))
                self.reset_latency.append(time.monotonic() - t_write)
                return
            except grpc.RpcError as e:
                # informerd caps one wait at its --max_wait (30 s): wait again until 120 s.
                if (e.code() == grpc.StatusCode.DEADLINE_EXCEEDED and
                        time.monotonic() < deadline - 0.5 and not self.ending):
                    continue
                if not self.ending:
                    self.reset_latency.append(float("inf"))
                    log("write at %d not visible after a reset: %s" % (rv, e.code()))
                return

    def _catch_up_lists(self, until, rng):
        """Lists of the paused replica, back to back, until `until`: the first waits through
        the pause; the others race its catch-up (backlog, relist) after SIGCONT."""
        r = self.replicas[0]
        while time.monotonic() < until and not self._stop_lister.is_set():
            try:
                rv, objs, problems = list_all(r.stub, self.namespace, 100, timeout=20)
                self.lists.append((r.name, rv, objs, problems))
            except grpc.RpcError as e:
                self.note("list-error", e.code().name)
            time.sleep(rng.uniform(0.0, 0.04))

    def lister(self):
        rng = random.Random("%d/lister" % self.seed)
        while True:
            # Often while the paused replica catches up after SIGCONT, else now and then.
            catching_up = time.monotonic() < self.catch_up_until
            if self._stop_lister.wait(0.1 if catching_up else rng.uniform(0.2, 1.0)):
                return
            r = self.replicas[0] if catching_up else rng.choice(self.replicas)
            try:
                rv, objs, problems = list_all(r.stub, self.namespace, 10, rng=rng, timeout=10)
                self.lists.append((r.name, rv, objs, problems))
            except grpc.RpcError as e:
                self.note("list-error", e.code().name)

    # -- the run
    def execute(self):
        a = self.args
        subs = [
            Subscriber("rv", "rv", self),
            Subscriber("x-known", "known", self, {"app": "x"}),
            Subscriber("x-rv", "x-rv", self, {"app": "x"}),
            Subscriber("slow", "slow", self),
            Subscriber("fresh", "fresh", self),
        ]
        if len(self.replicas) > 1:
            subs.append(Subscriber("switch", "switch", self, replicas=self.replicas))
        self.subs = subs
        for s in subs:
            s.start()
        lister = threading.Thread(target=self.lister, daemon=True)
        lister.start()
        ops = int(a.duration * a.rate)
        t0 = time.monotonic()
        last_rv = self.workload(ops)
        log("workload: %d operations in %.1f s, last write at %d" %
            (ops, time.monotonic() - t0, last_rv))
        self.proxy.resume()
        self._stop_lister.set()
        lister.join()

        # The end: wait for everyone to reach the last write (the witness knows its version:
        # a delete's response does not carry one).
        quorum = json.loads(self.api.list_namespaced_config_map(
            self.namespace, _preload_content=False).data)
        quorum_rv = int(quorum["metadata"]["resourceVersion"])
        if not self.witness.wait_past(quorum_rv, 60):
            raise RuntimeError("the witness never passed the final LIST's version %d: %s" %
                               (quorum_rv, self.witness.error))
        last_rv = max([last_rv] + [e[0] for e in self.witness.events[-1:]])
        quorum_state = {self.namespace + "/" + o["metadata"]["name"]:
                        (o["metadata"]["resourceVersion"], dict(o["metadata"].get("labels") or {}))
                        for o in quorum["items"]}
        deadline = time.monotonic() + a.settle
        lagging = subs
        while lagging and time.monotonic() < deadline:
            lagging = [s for s in subs if s.tracker.pos is None or s.tracker.pos < last_rv]
            time.sleep(0.2)
        for s in subs:
            s.stop()
        for s in subs:
            s.join(20)
        for r in self.replicas:
            r.metrics_at_end = r.metrics()
        final_lists = []
        for r in self.replicas:
            try:
                final_lists.append((r.name,) + list_all(r.stub, self.namespace, 7,
                                                        min_rv=str(last_rv), timeout=30))
            except grpc.RpcError as e:
                final_lists.append((r.name, None, {}, ["List failed: %s %s" %
                                                       (e.code().name, e.details())]))
        # Fence the witness past every position any subscriber or List reported.
        top = max([last_rv] + [s.tracker.pos or 0 for s in subs] + [l[1] for l in self.lists] +
                  [l[1] or 0 for l in final_lists])
        fence = json.loads(self.api.create_namespaced_config_map(
            self.fence_ns, {"metadata": {"name": "fence"}}, _preload_content=False).data)
        fence_rv = int(fence["metadata"]["resourceVersion"])
        if not self.witness.wait_past(max(top, fence_rv), 60):
            raise RuntimeError("the witness never passed %d: %s" % (top, self.witness.error))
        self.judge(subs, quorum_rv, quorum_state, final_lists, last_rv, lagging)

    # -- judging
    def judge(self, subs, quorum_rv, quorum_state, final_lists, last_rv, lagging):
        seed = self.seed
        w = self.witness
        if w.error:
            self.results.append(("witness", False, [w.error]))
        dead = ["seed=%d informerd %s exited with %s (log %s)" % (seed, r.name, r.proc.returncode,
                                                                r.log_path)
                for r in self.replicas if r.proc.poll() is not None]
        self.results.append(("informerd-still-running", not dead, dead))

        def filtered(state, selector):
            return {k: v[0] for k, v in state.items()
                    if all(v[2].get(a) == b for a, b in selector.items())}

        # Every closed position of every subscriber against the witness.
        for s in subs:
            t = s.tracker
            cur = w.cursor()
            prev_state = None
            prev_expected = None
            for (pos, state, stream, idx, closing) in t.snapshots:
                expected = filtered(cur.state_at(pos), s.selector)
                if state is prev_state and expected == prev_expected:
                    continue
                prev_state, prev_expected = state, expected
                if state != expected:
                    diff = diff_states(expected, state)
                    t.violations.append(Violation(
                        "state-at-position", t.name, stream,
                        idx, diff[0][0], "the API server's state at %d (%d keys)" %
                        (pos, len(expected)),
                        "%d keys differ: %s" % (len(diff), "; ".join(
                            "%s expected %s got %s" % d for d in diff[:4])),
                        "closing event " + closing))
        # Lists mid-run.
        list_lines = check_lists(seed, w, self.lists)
        self.results.append(("list-snapshots-equal-state-at-their-version (%d lists)" %
                             len(self.lists), not list_lines, list_lines))

        # Final states.
        final_lines = []
        qs = {k: v[0] for k, v in quorum_state.items()}
        for (replica, rv, objs, problems) in final_lists:
            for p in problems:
                final_lines.append("seed=%d final List on %s: %s" % (seed, replica, p))
            if rv is not None and objs != qs:
                diff = diff_states(qs, objs)
                final_lines.append("seed=%d final List on %s at %d != quorum LIST at %d: %s" % (
                    seed, replica, rv, quorum_rv, "; ".join("%s expected %s got %s" % d
                                                            for d in diff[:4])))
        for s in subs:
            exp = {k: v[0] for k, v in quorum_state.items()
                   if all(v[1].get(a) == b for a, b in s.selector.items())}
            if s in lagging:
                final_lines.append("seed=%d subscriber=%s never reached the last write %d "
                                   "(last closed position %s)" % (seed, s.tracker.name, last_rv,
                                                                  s.tracker.pos))
            if s.tracker.state != exp:
                diff = diff_states(exp, s.tracker.state)
                final_lines.append("seed=%d subscriber=%s final state != quorum LIST at %d: %s" %
                                   (seed, s.tracker.name, quorum_rv, "; ".join(
                                       "%s expected %s got %s" % d for d in diff[:4])))
        self.results.append(("final-states-equal-quorum-list", not final_lines, final_lines))

        # Per-subscriber rules, grouped by kind.
        by_kind = collections.defaultdict(list)
        for s in subs:
            for v in s.tracker.violations:
                by_kind[v.kind].append(v)
        kinds = ["position-backwards", "bookmark-in-open-group", "added-held-key",
                 "modified-unheld-key", "deleted-unheld-key",
                 "known-objects-delete-without-final-state-unknown", "selector-mismatch",
                 "state-at-position", "resume-trailer-not-last-closed-position"]
        for k in sorted(by_kind):
            if k not in kinds:
                kinds.append(k)
        for k in kinds:
            vs = by_kind.get(k, [])
            per_sub = collections.Counter(v.subscriber for v in vs)
            lines = ["%d violations (%s)" % (len(vs), ", ".join(
                "%s: %d" % kv for kv in sorted(per_sub.items())))] if vs else []
            # The first violation of each subscriber, then more up to 8.
            shown = []
            for sub in sorted(per_sub):
                shown.append(next(v for v in vs if v.subscriber == sub))
            for v in vs:
                if len(shown) >= 8:
                    break
                if v not in shown:
                    shown.append(v)
            lines += [v.format(seed) for v in shown]
            self.results.append((k, not vs, lines))

        # What happened (must include coalescing, OUT_OF_RANGE and RESOURCE_EXHAUSTED).
        coalesced = sum(s.tracker.coalesced_events for s in subs)
        happened = [("coalesced-events-occurred", coalesced, "%d coalesced events" % coalesced),
                    ("OUT_OF_RANGE-occurred", self.notes["OUT_OF_RANGE"],
                     "%d OUT_OF_RANGE" % self.notes["OUT_OF_RANGE"]),
                    ("RESOURCE_EXHAUSTED-occurred", self.notes["RESOURCE_EXHAUSTED"],
                     "%d RESOURCE_EXHAUSTED" % self.notes["RESOURCE_EXHAUSTED"])]
        for name, n, text in happened:
            self.results.append((name, n > 0, [] if n else [
                "seed=%d: %s; the run did not exercise it (tune --history_size, limits or "
                "--rate)" % (seed, text)]))

    def report(self):
        ok = all(r[1] for r in self.results)
        for name, good, lines in self.results:
            print("%s %s" % ("PASS" if good else "FAIL", name))
            for line in lines:
                print("    " + line)
        print("seed %d: what happened:" % self.seed)
        for k in sorted(self.notes):
            print("    %s: %d" % (k, self.notes[k]))
        for s in self.subs:
            t = s.tracker
            print("    subscriber %-8s events=%d streams=%d closed-positions=%d coalesced=%d "
                  "discarded-groups=%d last-position=%s %s" % (
                      t.name, t.events, t.streams, len(t.snapshots), t.coalesced_events,
                      t.discarded_groups, t.pos, " ".join(
                          "%s=%d" % kv for kv in sorted(s.counts.items()))))
            for trailer, pos in s.trailers:
                print("      RESOURCE_EXHAUSTED trailer=%s last-closed=%s" % (trailer, pos))
        print("    witness: %d events in the namespace, %d rewatches, from %d to %d" % (
            len(self.witness.events), self.witness.rewatches, self.witness.initial_rv,
            self.witness.seen))
        print("    proxy: %s" % self.proxy.stats())
        for r in self.replicas:
            print("    informerd %s counters: %s" % (r.name, " ".join(
                "%s=%s" % (k, int(v) if isinstance(v, float) else v)
                for k, v in sorted(r.metrics_at_end.items()))))
        lat = sorted(self.reset_latency)
        waiting = self.reset_measures - len(lat)
        if lat:
            def fmt(x):
                return "%.3f s" % x if x != float("inf") else "never (120 s)"
            print("    write visible to informerd after a connection reset (%d resets): "
                  "median %s, p90 %s, max %s%s" % (
                      len(lat), fmt(statistics.median(lat)),
                      fmt(lat[min(len(lat) - 1, int(len(lat) * 0.9))]), fmt(lat[-1]),
                      "; %d more still waiting at the end" % waiting if waiting else ""))
        # Everything needed to study a failure offline: the witness's events, every
        # subscriber's streams and events, the List snapshots.
        with open(os.path.join(self.work_dir, "witness.jsonl"), "w") as f:
            f.write(json.dumps({"initial_rv": self.witness.initial_rv,
                                "initial": self.witness.initial}) + "\n")
            for e in self.witness.events:
                f.write(json.dumps(e) + "\n")
        for s in self.subs:
            with open(os.path.join(self.work_dir, "subscriber-%s.jsonl" % s.tracker.name),
                      "w") as f:
                for st in s.tracker.stream_log:
                    f.write(json.dumps({"stream": st}) + "\n")
                for e in s.tracker.record:
                    f.write(json.dumps(e) + "\n")
        with open(os.path.join(self.work_dir, "lists.jsonl"), "w") as f:
            for l in self.lists:
                f.write(json.dumps(l) + "\n")
        print("    files: %s (witness.jsonl, subscriber-*.jsonl, lists.jsonl, informerd-*.log)" %
              self.work_dir)
        with open(os.path.join(self.work_dir, "report-%d.json" % self.seed), "w") as f:
            json.dump({"seed": self.seed, "ok": ok, "results": self.results,
                       "notes": dict(self.notes), "reset_latency": [
                           x if x != float("inf") else None for x in self.reset_latency]},
                      f, indent=1)
        return ok


def check_lists(seed, witness, lists):
    """Each List snapshot (replica, resource_version, {key: object rv}, problems) against the
    witness's state at its resource_version. Returns one line per failure."""
    lines = []
    cur = witness.cursor()
    for (replica, rv, objs, problems) in sorted(lists, key=lambda l: l[1]):
        expected = {k: v[0] for k, v in cur.state_at(rv).items()}
        for p in problems:
            lines.append("seed=%d List on %s at %d: %s" % (seed, replica, rv, p))
        if objs != expected:
            diff = diff_states(expected, objs)
            lines.append(
                "seed=%d List on %s: resource_version %d, %d keys differ from the API "
                "server's state at %d: %s" % (seed, replica, rv, len(diff), rv, "; ".join(
                    "%s expected %s got %s" % d for d in diff[:4])))
    return lines


def diff_states(expected, got):
    """[(key, expected, got)] sorted by key; absent = 'absent'."""
    out = []
    for k in sorted(set(expected) | set(got)):
        e, g = expected.get(k, "absent"), got.get(k, "absent")
        if e != g:
            out.append((k, e, g))
    return out


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--duration", type=float, default=60, help="workload seconds (ops = rate x)")
    p.add_argument("--rate", type=float, default=60, help="workload operations per second")
    p.add_argument("--replicas", type=int, default=1, choices=(1, 2))
    p.add_argument("--kubeconfig", default=os.environ.get("INFORMERD_TEST_KUBECONFIG") or
                   os.environ.get("KUBECONFIG"))
    p.add_argument("--compact", default=os.environ.get("INFORMERD_TEST_CLUSTER_COMPACT"),
                   help="command that compacts etcd ($INFORMERD_TEST_CLUSTER_COMPACT)")
    p.add_argument("--informerd-bin", default=os.environ.get("INFORMERD_BIN") or
                   os.path.join(ROOT, "build", "server", "informerd"))
    p.add_argument("--work-dir", required=True)
    p.add_argument("--resets", type=int, default=10)
    p.add_argument("--compactions", type=int, default=3)
    p.add_argument("--history-size", dest="history_size", type=int, default=300)
    p.add_argument("--soft-limit", dest="soft_limit", type=int, default=40)
    p.add_argument("--hard-limit", dest="hard_limit", type=int, default=48)
    p.add_argument("--bookmark-interval", dest="bookmark_interval", default="1s")
    p.add_argument("--object-bytes", dest="object_bytes", type=int, default=1024,
                   help="padding bytes in each ConfigMap")
    p.add_argument("--settle", type=float, default=60,
                   help="seconds the subscribers get to reach the last write at the end")
    args = p.parse_args(argv)
    faulthandler.register(signal.SIGUSR1)  # kill -USR1 prints every thread's stack
    if not args.kubeconfig or not args.compact:
        p.error("need --kubeconfig and --compact (or INFORMERD_TEST_KUBECONFIG and "
                "INFORMERD_TEST_CLUSTER_COMPACT, as scripts/test exports them)")
    if not os.access(args.informerd_bin, os.X_OK):
        p.error("informerd binary %s not found (build it, or set INFORMERD_BIN)" %
                args.informerd_bin)
    os.makedirs(args.work_dir, exist_ok=True)
    log("seed %d: informerd %s, %s s at %s ops/s, %d replica(s)" % (
        args.seed, args.informerd_bin, args.duration, args.rate, args.replicas))
    run = Run(args)
    try:
        run.setup()
        run.execute()
    except Exception as e:  # noqa: BLE001 - report a broken run as a failure, then clean up
        import traceback
        traceback.print_exc()
        print("FAIL run (seed %d): %r" % (args.seed, e))
        run.teardown()
        return 1
    ok = run.report()
    run.teardown()
    return 0 if ok else 1


if __name__ == "__main__":
    rc = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)  # no waiting for gRPC's or a dead stream's threads at exit
