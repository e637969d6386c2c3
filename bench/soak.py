#!/usr/bin/env python3
"""Soak benchmark (issue 16): informerd's memory under many subscribers and churn.

    scripts/bench --only soak [--objects N] [--subscribers S]
    python3 bench/soak.py --informerd PATH [--kubeconfig FILE] [--objects N] [--subscribers S]

Creates N ConfigMaps of about 2 KB (a `payload` data key) in 8 namespaces with labels, starts
informerd caching configmaps, opens S Subscribe streams from a few Python processes with mixed
selectors (every object, a namespace, label selectors, a metadata.name field selector), some
stalled (never read after SYNCED, so they reach the slow-subscriber limits) and some reconnecting
periodically with known_objects; then changes every object three times (merge patch of the
payload). It samples informerd's VmRSS and VmHWM (/proc/PID/status) and its cache bytes
(`informerd_cache_bytes` on /metrics) and reports:

- RSS / cache bytes (target: under 2.5 at every sample), and VmHWM / cache bytes;
- memory per subscriber after its initial objects: (RSS once all S synced - RSS before any
  subscriber) / S (target: under 64 KiB), and the same after the churn.

Without --kubeconfig it starts a local API server with scripts/cluster-up and stops it at the
end. Prints a table and one JSON line ({"event": "soak", ...}). Not a test: it asserts nothing,
it measures. Needs grpcio and the informerd Python client (the venv of scripts/setup).
"""

import argparse
import asyncio
import base64
import http.client
import json
import multiprocessing as mp
import os
import queue
import random
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The generated stubs of this tree's Python client (informerd.v1), whatever the venv installed.
sys.path.insert(0, os.path.join(ROOT, "clients", "python", "src"))
NAMESPACES = 8
GROUPS = 200  # label group=gK: N/200 objects each
SHARDS = 4    # label shard=sK
RESOURCE = "configmaps"


def log(msg):
    print(f"==> {msg}", file=sys.stderr, flush=True)


def now():
    return time.monotonic()


# ---------------------------------------------------------------------------------------------
# The API server side: a small HTTPS client (bearer token or client certificate of a kubeconfig).


class Kube:
    def __init__(self, kubeconfig):
        import yaml  # the venv of scripts/setup has it
        self.lock = threading.Lock()
        self.retries = 0  # transient failures retried (Kube.TRANSIENT)
        with open(kubeconfig) as f:
            kc = yaml.safe_load(f)
        ctx_name = kc.get("current-context")
        ctx = next(c["context"] for c in kc["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in kc["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in kc["users"] if u["name"] == ctx["user"])
        m = re.match(r"https://([^:/]+):?(\d*)", cluster["server"])
        self.host, self.port = m.group(1), int(m.group(2) or 443)
        self.ctx = ssl.create_default_context()
        if "certificate-authority-data" in cluster:
            self.ctx.load_verify_locations(
                cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        elif "certificate-authority" in cluster:
            self.ctx.load_verify_locations(cafile=cluster["certificate-authority"])
        self.headers = {}
        if "token" in user:
            self.headers["Authorization"] = f"Bearer {user['token']}"
        elif "tokenFile" in user:
            self.headers["Authorization"] = f"Bearer {open(user['tokenFile']).read().strip()}"
        if "client-certificate" in user:
            self.ctx.load_cert_chain(user["client-certificate"], user["client-key"])
        elif "client-certificate-data" in user:
            d = tempfile.mkdtemp(prefix="soak-cert-")
            cert, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
            with open(cert, "wb") as f:
                f.write(base64.b64decode(user["client-certificate-data"]))
            with open(key, "wb") as f:
                f.write(base64.b64decode(user["client-key-data"]))
            self.ctx.load_cert_chain(cert, key)
            shutil.rmtree(d)

    def conn(self):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=60)

    def request(self, conn, method, path, body=None, ctype="application/json"):
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = ctype
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        return r.status, data

    # Answers worth retrying: the API server or etcd overloaded, not a wrong request.
    TRANSIENT = (429, 500, 503, 504)

    def parallel(self, items, fn, workers):
        """Runs fn(conn, item) over items on `workers` threads, each with its own connection."""
        q = queue.Queue()
        for it in items:
            q.put(it)
        errors = []

        def work():
            c = self.conn()
            while True:
                try:
                    it = q.get_nowait()
                except queue.Empty:
                    return
                for attempt in range(8):
                    try:
                        fn(c, it)
                        break
                    except (OSError, http.client.HTTPException) as e:
                        c.close()
                        c = self.conn()
                        if attempt == 7:
                            errors.append(str(e))
                    except Transient as e:  # e.g. etcd timed out on an overloaded machine
                        with self.lock:
                            self.retries += 1
                        if attempt == 7:
                            errors.append(str(e))
                        time.sleep(min(8.0, 0.25 * 2 ** attempt))
                    except RuntimeError as e:
                        errors.append(str(e))
                        break

        threads = [threading.Thread(target=work) for _ in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise RuntimeError(f"{len(errors)} requests failed, first: {errors[0][:300]}")


class Transient(RuntimeError):
    """A request the API server failed for now (Kube.TRANSIENT); parallel() retries it."""


def ns_of(i):
    return f"soak-{i % NAMESPACES}"


def name_of(i):
    return f"cm-{i}"


def payload(i, rnd, base):
    head = f"{rnd}:{i}:"
    return head + base[: 2000 - len(head)]


def populate(kube, n, workers, base):
    def mkns(c, k):
        st, data = kube.request(c, "POST", "/api/v1/namespaces",
                                json.dumps({"metadata": {"name": f"soak-{k}"}}))
        if st not in (201, 409):
            raise RuntimeError(f"namespace soak-{k}: {st} {data[:200]}")

    kube.parallel(range(NAMESPACES), mkns, 4)

    # Left by an earlier run on this cluster with the same content: nothing to write (the
    # payload is the same every run), which saves minutes at 100 000 objects.
    current = {}
    c = kube.conn()
    for k in range(NAMESPACES):
        cont = ""
        while True:
            st, data = kube.request(c, "GET", f"/api/v1/namespaces/soak-{k}/configmaps"
                                    f"?limit=2000&continue={cont}")
            if st != 200:
                raise RuntimeError(f"list soak-{k}: {st} {data[:200]}")
            page = json.loads(data)
            for cm in page["items"]:
                current[cm["metadata"]["name"]] = (cm.get("data") or {}).get("payload")
            cont = page["metadata"].get("continue", "")
            if not cont:
                break
    c.close()
    todo = [i for i in range(n) if current.get(name_of(i)) != payload(i, 0, base)]
    log(f"{n - len(todo)} of {n} ConfigMaps already in place")

    def create(c, i):
        body = json.dumps({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name_of(i), "namespace": ns_of(i),
                         "labels": {"app": "soak", "group": f"g{i % GROUPS}",
                                    "shard": f"s{i % SHARDS}"}},
            "data": {"payload": payload(i, 0, base)}})
        st, data = kube.request(c, "POST", f"/api/v1/namespaces/{ns_of(i)}/configmaps", body)
        if st == 409:  # left by an earlier run on this cluster: reset its payload
            st, data = kube.request(c, "PATCH", f"/api/v1/namespaces/{ns_of(i)}/configmaps/"
                                    f"{name_of(i)}", json.dumps({"data": {"payload": payload(
                                        i, 0, base)}}), "application/merge-patch+json")
        if st not in (200, 201):
            error = Transient if st in Kube.TRANSIENT else RuntimeError
            raise error(f"create {name_of(i)}: {st} {data[:200]}")

    kube.parallel(todo, create, workers)


def churn(kube, n, rnd, workers, base):
    def patch(c, i):
        st, data = kube.request(c, "PATCH", f"/api/v1/namespaces/{ns_of(i)}/configmaps/"
                                f"{name_of(i)}", json.dumps({"data": {"payload": payload(
                                    i, rnd, base)}}), "application/merge-patch+json")
        if st != 200:
            error = Transient if st in Kube.TRANSIENT else RuntimeError
            raise error(f"patch {name_of(i)}: {st} {data[:200]}")

    kube.parallel(range(n), patch, workers)


# ---------------------------------------------------------------------------------------------
# informerd: its process, /proc and /metrics.


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Threads"):
                out[k] = int(v.split()[0]) * (1024 if k != "Threads" else 1)
    return out


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name = re.split(r"[{ ]", line, 1)[0]
        try:
            out[name] = out.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
        except ValueError:
            pass
    return out


class Sampler(threading.Thread):
    """Samples informerd's RSS and cache bytes every `period` seconds; keeps the worst ratio."""

    def __init__(self, pid, mport, period=0.5):
        super().__init__(daemon=True)
        self.pid, self.mport, self.period = pid, mport, period
        self.stop = threading.Event()
        self.max_rss = 0
        self.max_ratio = 0.0
        self.max_ratio_at = {}
        self.samples = 0

    def run(self):
        while not self.stop.is_set():
            try:
                st = proc_status(self.pid)
                m = metrics(self.mport)
            except (OSError, ValueError):
                break
            cache = m.get("informerd_cache_bytes", 0)
            self.samples += 1
            self.max_rss = max(self.max_rss, st["VmRSS"])
            if cache > 0 and st["VmRSS"] / cache > self.max_ratio:
                self.max_ratio = st["VmRSS"] / cache
                self.max_ratio_at = {"rss": st["VmRSS"], "cache_bytes": cache}
            self.stop.wait(self.period)


# ---------------------------------------------------------------------------------------------
# The subscribers: a few processes, each an asyncio loop with many gRPC streams.

KINDS = (  # kind, share of S
    ("all", 0.01), ("namespace", 0.04), ("label", 0.35), ("label-set", 0.05), ("name", 0.35),
    ("stalled", 0.10), ("reconnecting", 0.10))


def plan(s, n, shares=None, seed=7):
    """The S subscribers: (kind, namespace, label_selector, field_selector)."""
    rng = random.Random(seed)
    shares = shares or dict(KINDS)
    counts = {k: max(1, round(share * s)) if share else 0 for k, share in shares.items()}
    counts[max(counts, key=counts.get)] += s - sum(counts.values())
    subs = []
    for kind, _ in KINDS:
        for j in range(counts.get(kind, 0)):
            i = rng.randrange(n)
            if kind == "all":
                subs.append((kind, "", "", ""))
            elif kind == "namespace":
                subs.append((kind, ns_of(j), "", ""))
            elif kind == "label":
                subs.append((kind, "", f"group=g{rng.randrange(GROUPS)}", ""))
            elif kind == "label-set":
                a, b = rng.randrange(GROUPS), rng.randrange(GROUPS)
                subs.append((kind, ns_of(j), f"app=soak,group in (g{a},g{b}),shard!=s3", ""))
            elif kind == "name":  # half with the namespace, half across namespaces
                subs.append((kind, ns_of(i) if j % 2 else "", "", f"metadata.name={name_of(i)}"))
            elif kind == "stalled":  # every object, a namespace, or a label group
                pick = j % 5
                subs.append((kind, "" if pick == 0 else ns_of(j) if pick < 3 else "",
                             f"group=g{rng.randrange(GROUPS)}" if pick >= 3 else "", ""))
            else:  # reconnecting: a namespace or a label group, holding what it received
                subs.append((kind, ns_of(j) if j % 4 == 0 else "",
                             "" if j % 4 == 0 else f"shard=s{j % SHARDS},group=g{j % GROUPS}", ""))
    return subs


def worker_main(wid, target, subs, reconnect_every, q, stop_ev, streams_per_channel):
    """One load process: runs its subscribers until stop_ev; reports through q."""
    import grpc
    from informerd.v1 import informer_pb2 as pb

    stats = {"events": 0, "bytes": 0, "synced": 0, "reconnects": 0,
             "start_refusals": 0, "ended": {}, "end_details": {}, "known_objects_sent": 0}
    first_synced = [0]

    async def main():
        base_opts = [("grpc.use_local_subchannel_pool", 1),
                     ("grpc.max_receive_message_length", 64 << 20),
                     ("grpc.keepalive_time_ms", 60000)]
        # A stalled subscriber must stall at informerd, not in this process: its connections
        # keep gRPC's 64 KiB stream window (no BDP probing, which on loopback grows the window
        # to megabytes that the client then buffers without reading).
        stall_opts = base_opts + [("grpc.http2.bdp_probe", 0),
                                  ("grpc.http2.lookahead_bytes", 65536)]
        channels, slot = [], []
        counts = {False: 0, True: 0}
        pools = {False: [], True: []}
        for kind, *_ in subs:
            stalled = kind == "stalled"
            if counts[stalled] % streams_per_channel == 0:
                ch = grpc.aio.insecure_channel(target, options=stall_opts if stalled
                                               else base_opts)
                channels.append(ch)
                pools[stalled].append(ch.unary_stream(
                    "/informer.v1.InformerService/Subscribe",
                    request_serializer=pb.SubscribeRequest.SerializeToString,
                    response_deserializer=None))
            slot.append(pools[stalled][-1])
            counts[stalled] += 1
        stopping = asyncio.Event()

        async def subscriber(idx, kind, ns, lsel, fsel):
            method = slot[idx]
            held = {}  # key -> resourceVersion (reconnecting subscribers only)
            synced_once = False
            rng = random.Random(idx)
            while not stopping.is_set():
                req = pb.SubscribeRequest(resource=RESOURCE, namespace=ns, label_selector=lsel,
                                          field_selector=fsel)
                if held:
                    req.known_objects.update(held)
                    stats["known_objects_sent"] += len(held)
                call = method(req)
                deadline = now() + reconnect_every * (0.5 + rng.random()) \
                    if kind == "reconnecting" else None
                try:
                    async for raw in call:
                        stats["events"] += 1
                        stats["bytes"] += len(raw)
                        ev = pb.SubscribeResponse.FromString(raw)
                        if kind == "reconnecting" and ev.HasField("object"):
                            o = ev.object
                            key = f"{o.namespace}/{o.name}" if o.namespace else o.name
                            if ev.type == pb.EVENT_TYPE_DELETED:
                                held.pop(key, None)
                            else:
                                held[key] = o.resource_version
                        if ev.type == pb.EVENT_TYPE_SYNCED:
                            stats["synced"] += 1
                            if not synced_once:
                                synced_once = True
                                first_synced[0] += 1
                            if kind == "stalled":  # never read again
                                await stopping.wait()
                                break
                        if deadline and now() > deadline and synced_once:
                            stats["reconnects"] += 1
                            break
                except grpc.aio.AioRpcError as e:
                    code = e.code().name
                    if code == "RESOURCE_EXHAUSTED" and not synced_once:
                        stats["start_refusals"] += 1  # the start gate or a stream cap: retry
                    else:
                        stats["ended"][code] = stats["ended"].get(code, 0) + 1
                        # Why, as the client saw it (informerd's own log says its side); the
                        # first 20 distinct causes, each counted.
                        why = stats["end_details"]
                        cause = f"{code} ({kind}): {e.details()}"
                        if cause in why or len(why) < 20:
                            why[cause] = why.get(cause, 0) + 1
                    if kind == "stalled" and synced_once:
                        await stopping.wait()
                        break
                    await asyncio.sleep(0.2 + rng.random())
                    continue
                finally:
                    call.cancel()

        async def report():
            while not stopping.is_set():
                q.put(("progress", wid, first_synced[0], dict(stats)))
                if stop_ev.is_set():
                    stopping.set()
                    break
                await asyncio.sleep(0.5)

        tasks = [asyncio.ensure_future(subscriber(i, *s)) for i, s in enumerate(subs)]
        rep = asyncio.ensure_future(report())
        await rep
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for ch in channels:
            await ch.close()

    asyncio.run(main())
    q.put(("done", wid, first_synced[0], stats))


class Load:
    def __init__(self, target, subs, procs, reconnect_every, streams_per_channel):
        ctx = mp.get_context("spawn")
        self.q = ctx.Queue()
        self.stop_ev = ctx.Event()
        self.procs = []
        self.progress = {}
        self.n = len(subs)
        for w in range(procs):
            part = subs[w::procs]
            p = ctx.Process(target=worker_main, args=(w, target, part, reconnect_every, self.q,
                                                      self.stop_ev, streams_per_channel))
            p.start()
            self.procs.append(p)

    def poll(self, timeout=0.5):
        try:
            while True:
                kind, wid, synced, stats = self.q.get(timeout=timeout)
                self.progress[wid] = (synced, stats)
                timeout = 0
        except queue.Empty:
            pass
        return sum(s for s, _ in self.progress.values())

    def stats(self):
        tot = {}
        for _, st in self.progress.values():
            for k, v in st.items():
                if isinstance(v, dict):
                    d = tot.setdefault(k, {})
                    for kk, vv in v.items():
                        d[kk] = d.get(kk, 0) + vv
                else:
                    tot[k] = tot.get(k, 0) + v
        return tot

    def cpu(self):
        return sum(proc_cpu(p.pid) for p in self.procs if p.is_alive())

    def stop(self, timeout=60):
        self.stop_ev.set()
        deadline = now() + timeout
        done = set()
        while len(done) < len(self.procs) and now() < deadline:
            try:
                kind, wid, synced, stats = self.q.get(timeout=1)
                self.progress[wid] = (synced, stats)
                if kind == "done":
                    done.add(wid)
            except queue.Empty:
                pass
        for p in self.procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()


# ---------------------------------------------------------------------------------------------


def start_cluster(tmp):
    d = os.path.join(tmp, "cluster")
    p = subprocess.run([os.path.join(ROOT, "scripts", "cluster-up"), "--dir", d],
                       capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        raise RuntimeError(f"cluster-up failed: {p.stderr[-2000:]}")
    env = {}
    for line in p.stdout.splitlines():
        m = re.match(r"^([A-Z0-9_]+)='?([^']*)'?$", line.strip())
        if m:
            env[m.group(1)] = m.group(2)
    return d, env["KUBECONFIG"], env.get("INFORMERD_CLUSTER_K8S_VERSION", "")


def wait_until(cond, timeout, what, period=0.5):
    deadline = now() + timeout
    while now() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(period)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


def settle(mport, quiet, timeout):
    """Waits until informerd has delivered what it can: the subscribers' total lag
    (`informerd_subscriber_lag_sum`: what the stalled ones will never read, 0 for the others) and
    the events received from the API server have not changed for `quiet` seconds. Events out
    never settle: reconnecting subscribers keep resubscribing, and each start sends SYNCED."""
    keys = ("informerd_subscriber_lag_sum", "informerd_events_in_total")
    last, since, deadline = None, now(), now() + timeout
    while now() < deadline:
        m = metrics(mport)
        v = tuple(m.get(k, 0) for k in keys)
        if v != last:
            last, since = v, now()
        elif now() - since >= quiet:
            return True
        time.sleep(0.5)
    return False


def mib(b):
    return b / 2**20


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 2**20
    return f"{os.cpu_count()} × {model}, {mem:.0f} GiB RAM"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--informerd", required=True, help="the informerd binary")
    ap.add_argument("--kubeconfig", help="an API server to use (default: scripts/cluster-up)")
    ap.add_argument("--objects", type=int, default=10_000)
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3, help="changes of every object")
    ap.add_argument("--procs", type=int, default=2, help="subscriber processes")
    ap.add_argument("--streams-per-channel", type=int, default=100)
    ap.add_argument("--reconnect-every", type=float, default=20.0,
                    help="seconds (±50%%) between a reconnecting subscriber's reconnects")
    ap.add_argument("--mix", help="the subscriber mix instead of the default, e.g. name=1 or "
                    "label=0.5,name=0.5 (kinds: " + ", ".join(k for k, _ in KINDS) + ")")
    ap.add_argument("--writers", type=int, default=16, help="API server write threads")
    ap.add_argument("--informerd-arg", action="append", default=[],
                    help="extra informerd flag (repeatable)")
    ap.add_argument("--out", help="also write the JSON result to this file")
    ap.add_argument("--command", default="bench/soak.py")
    a = ap.parse_args()
    n, s = a.objects, a.subscribers
    tmp = tempfile.mkdtemp(prefix="informerd-soak-")
    log(f"scratch and logs in {tmp}")
    res = {"event": "soak", "objects": n, "subscribers": s, "rounds": a.rounds,
           "command": a.command, "machine": machine(),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    cluster_dir = None
    server = load = sampler = None
    # The same payload every run, so that a second run on a cluster finds its objects in place.
    base = random.Random(16).randbytes(1000).hex()
    try:
        kubeconfig = a.kubeconfig
        if not kubeconfig:
            cluster_dir, kubeconfig, res["k8s_version"] = start_cluster(tmp)
        kube = Kube(kubeconfig)
        t0 = now()
        populate(kube, n, a.writers, base)
        res["populate_s"] = now() - t0
        log(f"created {n} ConfigMaps in {res['populate_s']:.1f}s")

        gport, mport = free_port(), free_port()
        cmd = [a.informerd, "--kubeconfig", kubeconfig, "--resources", RESOURCE,
               "--listen", f"127.0.0.1:{gport}", "--metrics_listen", f"127.0.0.1:{mport}",
               "--log_level", "info",  # every stream's end, with its cause, in informerd.log
               # every stream comes from 127.0.0.1, one caller: let all S (and reconnects) in
               f"--max_subscribers_per_caller={2 * s + 100}"] + a.informerd_arg
        res["informerd_command"] = " ".join(os.path.basename(c) if i == 0 else c
                                            for i, c in enumerate(cmd) if c != kubeconfig)
        log(" ".join(cmd))
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                  stderr=open(os.path.join(tmp, "informerd.log"), "w"))
        pid = server.pid

        def synced():
            try:
                m = metrics(mport)
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError(f"informerd exited ({server.returncode})")
                return False
            return m.get("informerd_resource_synced") == 1 and \
                m.get("informerd_cache_objects", 0) >= n
        t0 = now()
        wait_until(synced, 600, "informerd to sync")
        res["informerd_sync_s"] = now() - t0
        time.sleep(11)  # past one --heap_trim_interval (10 s), so the heap figures are of now
        m = metrics(mport)
        st = proc_status(pid)
        res["cached_objects"] = m["informerd_cache_objects"]
        res["base"] = {"rss": st["VmRSS"], "hwm": st["VmHWM"],
                       "heap_free": m.get("informerd_heap_free_bytes", 0),
                       "heap_in_use": m.get("informerd_heap_in_use_bytes", 0),
                       "heap_released": m.get("informerd_heap_released_bytes_total", 0),
                       "cache_bytes": m["informerd_cache_bytes"],
                       "history_bytes": m.get("informerd_history_bytes", 0)}
        log(f"informerd synced {m['informerd_cache_objects']:.0f} objects in "
            f"{res['informerd_sync_s']:.1f}s: RSS {mib(st['VmRSS']):.1f} MiB, cache "
            f"{mib(m['informerd_cache_bytes']):.1f} MiB")
        sampler = Sampler(pid, mport)
        sampler.start()

        shares = None
        if a.mix:
            shares = {k: float(v) for k, v in (x.split("=") for x in a.mix.split(","))}
            res["mix_arg"] = a.mix
        subs = plan(s, n, shares)
        res["mix"] = {k: sum(1 for x in subs if x[0] == k) for k, _ in KINDS}
        cpu0 = proc_cpu(pid)
        t0 = now()
        load = Load(f"127.0.0.1:{gport}", subs, a.procs, a.reconnect_every,
                    a.streams_per_channel)
        wait_until(lambda: load.poll() >= s, 900, f"{s} subscribers to sync")
        res["subscribe_s"] = now() - t0
        settle(mport, 3, 60)
        # Past one --heap_trim_interval (10 s), so the heap figures are of this state.
        time.sleep(11)
        m = metrics(mport)
        st = proc_status(pid)
        res["synced"] = {"rss": st["VmRSS"], "hwm": st["VmHWM"],
                         "heap_free": m.get("informerd_heap_free_bytes", 0),
                       "heap_in_use": m.get("informerd_heap_in_use_bytes", 0),
                         "heap_released": m.get("informerd_heap_released_bytes_total", 0),
                         "cache_bytes": m["informerd_cache_bytes"],
                         "history_bytes": m.get("informerd_history_bytes", 0),
                         "subscribers_open": m.get("informerd_subscribers", 0),
                         "informerd_cpu_s": proc_cpu(pid) - cpu0, "load": load.stats()}
        res["per_subscriber_synced"] = (st["VmRSS"] - res["base"]["rss"]) / s
        log(f"{s} subscribers synced in {res['subscribe_s']:.1f}s: RSS {mib(st['VmRSS']):.1f} MiB"
            f", {res['per_subscriber_synced'] / 1024:.1f} KiB per subscriber")

        cpu0 = proc_cpu(pid)
        t0 = now()
        for rnd in range(1, a.rounds + 1):
            churn(kube, n, rnd, a.writers, base)
            load.poll(0)
            log(f"round {rnd}: {n} changes after {now() - t0:.1f}s; RSS "
                f"{mib(proc_status(pid)['VmRSS']):.1f} MiB")
        res["churn_s"] = now() - t0
        res["api_server_retries"] = kube.retries
        res["settled"] = settle(mport, 5, 300)
        time.sleep(11)  # past one --heap_trim_interval, as above
        load.poll(0)
        m = metrics(mport)
        st = proc_status(pid)
        res["churned"] = {"rss": st["VmRSS"], "hwm": st["VmHWM"],
                          "heap_free": m.get("informerd_heap_free_bytes", 0),
                       "heap_in_use": m.get("informerd_heap_in_use_bytes", 0),
                          "heap_released": m.get("informerd_heap_released_bytes_total", 0),
                          "cache_bytes": m["informerd_cache_bytes"],
                          "history_bytes": m.get("informerd_history_bytes", 0),
                          "history_events": m.get("informerd_history_events", 0),
                          "subscribers_open": m.get("informerd_subscribers", 0),
                          "events_in": m.get("informerd_events_in_total", 0),
                          "events_out": m.get("informerd_events_out_total", 0),
                          "coalesced_subscribers": m.get(
                              "informerd_coalesced_subscribers_total", 0),
                          "terminated_subscribers": m.get(
                              "informerd_terminated_subscribers_total", 0),
                          "write_stalled_subscribers": m.get(
                              "informerd_write_stalled_subscribers_total", 0),
                          "subscriptions": m.get("informerd_subscriptions_total", 0),
                          "limit_refusals": m.get("informerd_limit_refusals_total", 0),
                          "informerd_cpu_s": proc_cpu(pid) - cpu0, "load_cpu_s": load.cpu()}
        res["per_subscriber_churned"] = (st["VmRSS"] - res["base"]["rss"]) / s
        load.stop()
        load_stats = load.stats()
        load = None
        time.sleep(3)
        st = proc_status(pid)
        res["closed"] = {"rss": st["VmRSS"], "hwm": st["VmHWM"]}
        # informerd hands freed heap memory back every --heap_trim_interval (10 s by default).
        time.sleep(12)
        m = metrics(mport)
        res["heap_trims"] = m.get("informerd_heap_trims_total", 0)
        res["heap_trim_s"] = m.get("informerd_heap_trim_seconds_total", 0)
        res["closed_12s"] = {"rss": proc_status(pid)["VmRSS"],
                             "heap_free": m.get("informerd_heap_free_bytes", 0),
                             "heap_in_use": m.get("informerd_heap_in_use_bytes", 0)}
        # The churn grows the process whether or not anyone subscribes: the history ring keeps
        # each MODIFIED change's previous version, which the cache no longer shares (its byte
        # count, at its cap before and after, does not show that). So what the subscribers hold
        # after the churn is measured against the same process once they have all closed.
        res["per_subscriber_churned_vs_closed"] = (
            res["churned"]["rss"] - res["closed_12s"]["rss"]) / s
        res["per_subscriber_churned_in_use_vs_closed"] = (
            res["churned"]["heap_in_use"] - res["closed_12s"]["heap_in_use"]) / s
        sampler.stop.set()
        sampler.join()
        res["load"] = load_stats
        res["max_rss"] = sampler.max_rss
        res["max_ratio"] = sampler.max_ratio
        res["max_ratio_at"] = sampler.max_ratio_at
        res["samples"] = sampler.samples
        res["hwm"] = st["VmHWM"]
        res["hwm_ratio"] = st["VmHWM"] / res["churned"]["cache_bytes"]
    finally:
        if load:
            load.stop(10)
        if sampler:
            sampler.stop.set()
        if server and server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        if cluster_dir:
            subprocess.run([os.path.join(ROOT, "scripts", "cluster-down"), "--dir", cluster_dir],
                           capture_output=True, timeout=120)

    b, sy, ch = res["base"], res["synced"], res["churned"]
    rows = [
        ("objects cached / size", f"{res['cached_objects']:.0f}, "
         f"cache {mib(b['cache_bytes']):.1f} MiB → {mib(ch['cache_bytes']):.1f} MiB after churn"),
        ("subscribers", f"{s} ({', '.join(f'{k} {v}' for k, v in res['mix'].items())})"),
        ("RSS before subscribers", f"{mib(b['rss']):.1f} MiB ({b['rss'] / b['cache_bytes']:.2f}× "
         "cache)"),
        ("RSS, all subscribers synced", f"{mib(sy['rss']):.1f} MiB "
         f"({sy['rss'] / sy['cache_bytes']:.2f}× cache), after {res['subscribe_s']:.0f}s"),
        ("per subscriber after its initial objects",
         f"{res['per_subscriber_synced'] / 1024:.1f} KiB (target < 64 KiB); malloc in use "
         f"{(sy['heap_in_use'] - b['heap_in_use']) / s / 1024:.1f} KiB"),
        ("RSS after churn", f"{mib(ch['rss']):.1f} MiB ({ch['rss'] / ch['cache_bytes']:.2f}× "
         f"cache; history {mib(ch['history_bytes']):.1f} MiB), churn {res['churn_s']:.0f}s"),
        ("per subscriber after churn", f"{res['per_subscriber_churned'] / 1024:.1f} KiB over "
         "the RSS before subscribers; over the RSS once they all closed (the churn's own growth "
         f"left out) {res['per_subscriber_churned_vs_closed'] / 1024:.1f} KiB, malloc in use "
         f"{res['per_subscriber_churned_in_use_vs_closed'] / 1024:.1f} KiB"),
        ("max RSS / cache bytes over samples",
         f"{res['max_ratio']:.2f}× (target < 2.5×; {res['samples']} samples)"),
        ("VmHWM", f"{mib(res['hwm']):.1f} MiB ({res['hwm_ratio']:.2f}× final cache)"),
        ("RSS after subscribers closed", f"{mib(res['closed']['rss']):.1f} MiB after 3 s, "
         f"{mib(res['closed_12s']['rss']):.1f} MiB after 15 s"),
        ("streams ended by informerd", f"{ch['terminated_subscribers']:.0f}; coalesced "
         f"{ch['coalesced_subscribers']:.0f}; subscriptions {ch['subscriptions']:.0f}; "
         f"start refusals {res['load'].get('start_refusals', 0)}; streams ended with "
         f"{res['load'].get('ended') or 'no error'}"
         + "".join(f"; {n}× {cause}" for cause, n in res["load"].get("end_details", {}).items())),
        ("malloc's heap in use / free", f"{mib(b['heap_in_use']):.1f} / "
         f"{mib(b['heap_free']):.1f} MiB before subscribers, {mib(sy['heap_in_use']):.1f} / "
         f"{mib(sy['heap_free']):.1f} MiB synced, {mib(ch['heap_in_use']):.1f} / "
         f"{mib(ch['heap_free']):.1f} MiB after churn, "
         f"{mib(res['closed_12s']['heap_in_use']):.1f} / "
         f"{mib(res['closed_12s']['heap_free']):.1f} MiB after close; "
         f"{res.get('heap_trims', 0):.0f} trims took {res.get('heap_trim_s', 0) * 1000:.0f} ms; "
         f"{mib(ch['heap_released']):.1f} MiB handed back by informerd's heap trimmer"),
        ("API server writes retried", f"{res.get('api_server_retries', 0)} (etcd or the API "
         "server overloaded)"),
        ("events delivered", f"{ch['events_out']:.0f} ({res['load'].get('events', 0)} read by "
         "clients)"),
        ("informerd CPU", f"{sy['informerd_cpu_s']:.1f}s subscribing, "
         f"{ch['informerd_cpu_s']:.1f}s churn"),
    ]
    w = max(len(r[0]) for r in rows)
    print("\n".join(f"{k:<{w}}  {v}" for k, v in rows))
    print(json.dumps(res))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
