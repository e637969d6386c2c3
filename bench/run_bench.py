#!/usr/bin/env python3
"""Runs informerd's benchmarks against client-go in one run and writes docs/benchmarks.md.

Called by scripts/bench after it has built the programs; see docs/benchmarks.md. Every program
prints JSON result lines; this driver starts them in order, collects the lines, prints a table
of absolute figures and ratios informerd / client-go, and writes the document. Every child
process is bounded by a timeout and talks only to 127.0.0.1.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Sizes: (full, quick).
SIZES = {
    "ingest_objects": (100_000, 20_000),
    "ingest_events": (200_000, 40_000),
    "cluster_pods": (20_000, 2_000),
    "latency_writes": (1_000, 300),
    "latency_rate": (100, 50),
    "get_qps": (10_000, 10_000),
    # Get at lower rates too, to show where the shared machine's knee is.
    "get_sweep_qps": ([1_000, 2_500, 5_000], [1_000, 2_500, 5_000]),
    "list_qps": (1_000, 500),
    # The anchor: the same Gets and Lists against the API server's watch cache
    # (resourceVersion=0), at rates it sustains on the shared cores.
    "api_get_qps": (500, 500),
    "api_list_qps": (200, 200),
    "serve_seconds": (20, 5),
    "fanout_pods": (100, 100),
    "fanout_counts": ([1, 10, 100, 1000], [1, 10, 100, 1000]),
    "fanout_rate": (1_000, 1_000),
    "fanout_seconds": (5, 3),
    # Fan-out fed by the paced replay server (workload "fanout"): changes/s, seconds of pacing,
    # and the Pods cached: every subscriber of the broadcast sees all of its Pods, each
    # own-Pod subscriber selects one of the own variant's.
    "paced_rate": (1_000, 1_000),
    "paced_seconds": (20, 10),
    "paced_pods_broadcast": (100, 100),
    "paced_pods_own": (1_000, 1_000),
}


def log(msg):
    print(f"==> {msg}", file=sys.stderr, flush=True)


def results(text):
    """The JSON objects among the lines of `text`."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return out


def run(cmd, timeout, env=None):
    """Runs cmd to completion; returns its result lines. Raises on failure."""
    log(" ".join(cmd))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({p.returncode}): {p.stderr[-2000:]}")
    return results(p.stdout)


def last(lines, event="result"):
    for r in reversed(lines):
        if r.get("event") == event:
            return r
    raise RuntimeError(f"no {event} line in {lines}")


class Background:
    """A child process whose stdout lines are read as they come."""

    def __init__(self, cmd, env=None, stderr_path=None):
        log(" ".join(cmd) + " &")
        self.stderr = open(stderr_path or os.devnull, "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr, text=True,
                                     env=env)
        self.lines = []

    def wait_for(self, event, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.proc.args[0]} exited ({self.proc.returncode}) "
                                       f"before {event}")
                continue
            for r in results(line):
                self.lines.append(r)
                if r.get("event") == event:
                    return r
        raise RuntimeError(f"{self.proc.args[0]}: no {event} within {timeout}s")

    def finish(self, timeout):
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise RuntimeError(f"{self.proc.args[0]} did not finish within {timeout}s")
        self.lines += results(out or "")
        if self.proc.returncode != 0:
            raise RuntimeError(f"{self.proc.args[0]} failed ({self.proc.returncode})")
        return self.lines

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# List modes, compared like with like: "stream" is the streaming list (a WATCH with
# sendInitialEvents=true, R7), the default of both client-go v0.36 (WatchListClient gate on)
# and informerd; "list" is the paged LIST then WATCH (client-go `--watchlist off`, informerd
# `--streaming_list=false`).
MODES = ("stream", "list")
MODE_LABEL = {"stream": "streaming list (default)", "list": "paged LIST"}
MODE_SHORT = {"stream": "streaming list", "list": "paged LIST"}
CLIENTGO_MODE = {"stream": "on", "list": "off"}
INFORMERD_MODE = {"stream": "true", "list": "false"}
# Variants run in the default mode only; the base sides run in both.
INGEST_SIDES = ("client-go", "client-go+strip", "informerd", "informerd-no-history",
                "informerd-keep-mf", "informerd-plain")


def run_key(name, mode):
    return f"{name}@{mode}"


def ingest_runs(cfg, kube, expect, iexpect):
    """(name, mode, command) of every ingest run, default mode first."""
    runs = []
    for mode in MODES:
        cg = [cfg.benchgo, "clientgo", "--kubeconfig", kube, "--watchlist", CLIENTGO_MODE[mode]]
        inf = [cfg.ingest, "--kubeconfig", kube, f"--streaming_list={INFORMERD_MODE[mode]}"]
        runs.append(("client-go", mode, cg + ["--transform", "none"] + expect))
        if mode == "stream":
            runs.append(("client-go+strip", mode, cg + ["--transform", "strip-managed-fields"]
                         + expect))
        runs.append(("informerd", mode, inf + iexpect))
        if mode == "stream":
            runs.append(("informerd-no-history", mode, inf + iexpect
                         + ["--history_max_events", "0"]))
            runs.append(("informerd-keep-mf", mode, inf + iexpect + ["--transform", "none"]))
            # The cache's JSON kept plain (informerd --cache_compression=false).
            runs.append(("informerd-plain", mode, inf + iexpect + ["--compression=false"]))
    return runs


def replay_info(ready):
    try:
        with urllib.request.urlopen(f"{ready['url']}/bench/info", timeout=10) as r:
            return json.loads(r.read())
    except Exception:
        return {}


# ---------------------------------------------------------------------------------------------
# Workload 1: ingest from the replay server.


def workload_ingest(cfg, out):
    n, m = cfg.size("ingest_objects"), cfg.size("ingest_events")
    kube = os.path.join(cfg.tmp, "replay.kubeconfig")
    replay = Background([cfg.benchgo, "replay", "--objects", str(n), "--events", str(m),
                         "--kubeconfig-out", kube, "--lifetime", "90m"],
                        stderr_path=os.path.join(cfg.tmp, "replay.log"))
    try:
        ready = replay.wait_for("replay_ready", 900)
        out["replay"] = ready
        expect = ["--expect-objects", str(n), "--expect-events", str(m)]
        iexpect = ["--expect_objects", str(n), "--expect_events", str(m)]
        out["ingest"] = {}
        for name, mode, cmd in ingest_runs(cfg, kube, expect, iexpect):
            info0 = replay_info(ready)
            r = last(run(cmd + ["--timeout", "20m"], timeout=1500))
            info1 = replay_info(ready)
            # What the client really sent: LISTs and streaming lists (sendInitialEvents).
            r["replay_lists"] = info1.get("lists", 0) - info0.get("lists", 0)
            r["replay_watch_lists"] = info1.get("watch_lists", 0) - info0.get("watch_lists", 0)
            out["ingest"][run_key(name, mode)] = r
            log(f"{name} [{mode}]: {r.get('events_per_cpu_s', 0):.0f} events/CPU-s, "
                f"sync {r['time_to_sync_s']:.2f}s, {r.get('rss_per_object_bytes', 0):.0f} B/object, "
                f"{r['replay_lists']} LIST / {r['replay_watch_lists']} streaming lists")
    finally:
        replay.stop()


# ---------------------------------------------------------------------------------------------
# Workloads 2 and 3: the real API server.


class Cluster:
    def __init__(self, cfg):
        self.dir = os.path.join(cfg.tmp, "cluster")
        p = subprocess.run([os.path.join(ROOT, "scripts", "cluster-up"), "--dir", self.dir],
                           capture_output=True, text=True, timeout=3600)
        if p.returncode != 0:
            raise RuntimeError(f"cluster-up failed: {p.stderr[-2000:]}")
        env = {}
        for line in p.stdout.splitlines():
            m = re.match(r"^([A-Z0-9_]+)='?([^']*)'?$", line.strip())
            if m:
                env[m.group(1)] = m.group(2)
        self.kubeconfig = env["KUBECONFIG"]
        self.pid = int(env["INFORMERD_CLUSTER_PID"])
        self.version = env.get("INFORMERD_CLUSTER_K8S_VERSION", "")

    def down(self):
        subprocess.run([os.path.join(ROOT, "scripts", "cluster-down"), "--dir", self.dir],
                       capture_output=True, timeout=120)


def workload_cluster(cfg, out, cluster):
    n = cfg.size("cluster_pods")
    writes, rate = cfg.size("latency_writes"), cfg.size("latency_rate")
    out["populate"] = last(run([cfg.benchgo, "populate", "--kubeconfig", cluster.kubeconfig,
                                "--namespace", "informerd-bench", "--count", str(n)],
                               timeout=3600), "populated")
    out["cluster"] = {}
    sides = []
    for mode in MODES:
        cg = [cfg.benchgo, "clientgo", "--kubeconfig", cluster.kubeconfig, "--namespace",
              "informerd-bench", "--watchlist", CLIENTGO_MODE[mode], "--latency-events",
              str(writes), "--timeout", "10m"]
        sides.append((run_key("client-go", mode), cg))
        if mode == "stream":
            sides.append((run_key("client-go+strip", mode),
                          cg + ["--transform", "strip-managed-fields"]))
        sides.append((run_key("informerd", mode),
                      [cfg.ingest, "--kubeconfig", cluster.kubeconfig, "--namespace_name",
                       "informerd-bench", f"--streaming_list={INFORMERD_MODE[mode]}",
                       "--latency_events", str(writes), "--timeout", "10m"]))
    for name, cmd in sides:
        client = Background(cmd, stderr_path=os.path.join(cfg.tmp, f"w2-{name.replace('@', '-')}.log"))
        try:
            client.wait_for("synced", 600)
            w = last(run([cfg.benchgo, "write", "--kubeconfig", cluster.kubeconfig,
                          "--namespace", "informerd-bench", "--count", str(writes), "--rate",
                          str(rate)], timeout=1200), "written")
            r = last(client.finish(600))
            r["writer"] = w
            out["cluster"][name] = r
            log(f"{name}: sync {r['time_to_sync_s']:.2f}s, latency p99 "
                f"{r['latency'].get('p99_ms', 0):.1f} ms")
        finally:
            client.stop()


def wait_healthy(port, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"informerd not healthy within {timeout}s")


def workload_serving(cfg, out, cluster):
    fan_ns = "informerd-fanout"
    out["populate_fanout"] = last(run([cfg.benchgo, "populate", "--kubeconfig",
                                       cluster.kubeconfig, "--namespace", fan_ns, "--count",
                                       str(cfg.size("fanout_pods")), "--seed", "3"],
                                      timeout=1200), "populated")
    grpc_port, metrics_port = free_port(), free_port()
    server = Background([cfg.informerd, "--kubeconfig", cluster.kubeconfig, "--resources", "pods",
                         "--index", "pods=by-app=label:app,pods=by-node=field:spec.nodeName",
                         "--listen", f"127.0.0.1:{grpc_port}", "--metrics_listen",
                         f"127.0.0.1:{metrics_port}", "--log_level", "warning"],
                        stderr_path=os.path.join(cfg.tmp, "informerd.log"))
    target = f"127.0.0.1:{grpc_port}"
    secs = cfg.size("serve_seconds")
    try:
        wait_healthy(metrics_port, 300)
        out["serving"] = {}
        calls = [(f"get@{q}", "get", q) for q in cfg.size("get_sweep_qps")]
        calls += [("get", "get", cfg.size("get_qps")), ("list", "list", cfg.size("list_qps"))]
        for key, mode, qps in calls:
            cpu0 = proc_cpu(server.proc.pid)
            r = last(run([cfg.load, "--target", target, "--mode", mode, "--qps", str(qps),
                          "--duration", f"{secs}s"], timeout=secs + 120))
            r["server_cpu_s"] = proc_cpu(server.proc.pid) - cpu0
            out["serving"][key] = r
            log(f"{key}: {r['achieved_qps']:.0f}/s, p99 {r['latency'].get('p99_ms', 0):.2f} ms")
        # The anchor, and informerd again at the same rates for a side-by-side row.
        out["serving_apiserver"] = {}
        for mode, qps in (("get", cfg.size("api_get_qps")), ("list", cfg.size("api_list_qps"))):
            r = last(run([cfg.benchgo, "apiget", "--kubeconfig", cluster.kubeconfig, "--mode", mode,
                          "--qps", str(qps), "--duration", f"{secs}s", "--pid", str(cluster.pid)],
                         timeout=secs + 120))
            out["serving_apiserver"][mode] = r
            cpu0 = proc_cpu(server.proc.pid)
            same = last(run([cfg.load, "--target", target, "--mode", mode, "--qps", str(qps),
                             "--duration", f"{secs}s"], timeout=secs + 120))
            same["server_cpu_s"] = proc_cpu(server.proc.pid) - cpu0
            out["serving"][f"anchor-{mode}@{int(qps)}"] = same
            log(f"API server {mode} at {qps}/s: {r.get('server_cpu_us_per_call', 0):.0f} us CPU/call, "
                f"informerd {1e6 * same['server_cpu_s'] / max(same['ok'], 1):.0f} us")

        rate, fsecs = cfg.size("fanout_rate"), cfg.size("fanout_seconds")
        writes = rate * fsecs
        out["fanout"] = {"informerd": {}, "client-go": {}, "rate": rate, "writes": writes}
        for n in cfg.size("fanout_counts"):
            for side in ("informerd", "client-go"):
                ready = os.path.join(cfg.tmp, f"ready-{side}-{n}")
                if side == "informerd":
                    cmd = [cfg.load, "--target", target, "--mode", "subscribe", "--namespace_name",
                           fan_ns, "--subscribers", str(n), "--channels", "16",
                           "--expect_stamped", str(writes), "--duration", f"{fsecs + 120}s"]
                else:
                    cmd = [cfg.benchgo, "fanout", "--kubeconfig", cluster.kubeconfig,
                           "--namespace", fan_ns, "--informers", str(n), "--expect-stamped",
                           str(writes), "--timeout", f"{fsecs + 180}s"]
                client = Background(cmd, stderr_path=os.path.join(cfg.tmp, f"fan-{side}-{n}.log"))
                try:
                    client.wait_for("subscribed", 300)
                    before = last(run([cfg.benchgo, "apistat", "--kubeconfig", cluster.kubeconfig,
                                       "--pid", str(cluster.pid)], timeout=60), "apistat")
                    server_cpu0 = proc_cpu(server.proc.pid)
                    w = last(run([cfg.benchgo, "write", "--kubeconfig", cluster.kubeconfig,
                                  "--namespace", fan_ns, "--count", str(writes), "--rate",
                                  str(rate), "--workers", "64"], timeout=fsecs + 600), "written")
                    after = last(run([cfg.benchgo, "apistat", "--kubeconfig", cluster.kubeconfig,
                                      "--pid", str(cluster.pid)], timeout=60), "apistat")
                    r = last(client.finish(fsecs + 400))
                    r["writer"] = w
                    r["apiserver_cpu_s"] = after["cpu_s"] - before["cpu_s"]
                    r["apiserver_pod_watches"] = before["pod_watches"]
                    if side == "informerd":
                        r["informerd_cpu_s"] = proc_cpu(server.proc.pid) - server_cpu0
                    out["fanout"][side][str(n)] = r
                    log(f"fan-out {side} x{n}: p99 {r['latency'].get('p99_ms', 0):.1f} ms, "
                        f"{r['stamped_per_s']:.0f} receipts/s, apiserver "
                        f"{r['apiserver_cpu_s']:.1f} CPU-s, {r['apiserver_pod_watches']:.0f} watches")
                except Exception as e:  # one size failing must not lose the others
                    log(f"fan-out {side} x{n} failed: {e}")
                    out["fanout"][side][str(n)] = {"error": str(e)}
                finally:
                    client.stop()
    finally:
        server.stop()


def metric_sum(port, name):
    """The sum of a Prometheus series' samples on informerd's metrics port."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def workload_fanout(cfg, out):
    """Subscribe fan-out fed by the paced replay server (no API server write ceiling).

    Two variants: "broadcast" (every subscriber sees every change, as the API-server-driven
    rows) and "own" (subscriber i selects only Pod i with a metadata.name field selector, as a
    controller watching its own objects; a change costs one delivery). The replay server
    stamps each modification's send time; latency is send -> receipt in informerd_load.
    """
    rate, secs = cfg.size("paced_rate"), cfg.size("paced_seconds")
    count = rate * secs
    out["fanout_paced"] = {"rate": rate, "seconds": secs, "count": count}
    for variant in ("broadcast", "own"):
        pods = cfg.size(f"paced_pods_{variant}")
        res = out["fanout_paced"][variant] = {"pods": pods}
        kube = os.path.join(cfg.tmp, f"paced-{variant}.kubeconfig")
        replay = Background([cfg.benchgo, "replay", "--paced", "--objects", str(pods), "--seed",
                             "3", "--kubeconfig-out", kube, "--lifetime", "30m"],
                            stderr_path=os.path.join(cfg.tmp, f"paced-{variant}-replay.log"))
        server = None
        try:
            ready = replay.wait_for("replay_ready", 300)
            res["avg_object_bytes"] = ready["avg_object_bytes"]
            grpc_port, metrics_port = free_port(), free_port()
            server = Background([cfg.informerd, "--kubeconfig", kube, "--resources", "pods",
                                 "--listen", f"127.0.0.1:{grpc_port}", "--metrics_listen",
                                 f"127.0.0.1:{metrics_port}", "--log_level", "warning"],
                                stderr_path=os.path.join(cfg.tmp, f"paced-{variant}-informerd.log"))
            wait_healthy(metrics_port, 120)
            for n in cfg.size("fanout_counts"):
                expect = count if variant == "broadcast" else count // pods
                cmd = [cfg.load, "--target", f"127.0.0.1:{grpc_port}", "--mode", "subscribe",
                       "--namespace_name=", "--subscribers", str(n), "--channels", "16",
                       "--expect_stamped", str(expect), "--duration", f"{secs + 60}s"]
                if variant == "own":
                    cmd.append("--select_own")
                client = Background(cmd, stderr_path=os.path.join(
                    cfg.tmp, f"paced-{variant}-{n}.log"))
                try:
                    client.wait_for("subscribed", 300)
                    coalesced0 = metric_sum(metrics_port, "informerd_coalesced_subscribers_total")
                    merged0 = metric_sum(metrics_port, "informerd_coalesced_events_total")
                    ended0 = metric_sum(metrics_port, "informerd_terminated_subscribers_total")
                    sent0 = metric_sum(metrics_port, "informerd_events_out_total")
                    cpu0, rcpu0 = proc_cpu(server.proc.pid), proc_cpu(replay.proc.pid)
                    with urllib.request.urlopen(urllib.request.Request(
                            f"{ready['url']}/bench/pace?rate={rate}&count={count}",
                            method="POST"), timeout=secs + 120) as p:
                        paced = json.loads(p.read())
                    r = last(client.finish(secs + 180))
                    r["paced"] = paced
                    r["expect_per_subscriber"] = expect
                    r["informerd_cpu_s"] = proc_cpu(server.proc.pid) - cpu0
                    r["replay_cpu_s"] = proc_cpu(replay.proc.pid) - rcpu0
                    r["coalesced_subscribers"] = metric_sum(
                        metrics_port, "informerd_coalesced_subscribers_total") - coalesced0
                    r["coalesced_events"] = metric_sum(
                        metrics_port, "informerd_coalesced_events_total") - merged0
                    r["terminated_subscribers"] = metric_sum(
                        metrics_port, "informerd_terminated_subscribers_total") - ended0
                    r["events_out"] = metric_sum(metrics_port, "informerd_events_out_total") - sent0
                    res[str(n)] = r
                    log(f"paced fan-out {variant} x{n}: {paced['achieved_rate']:.0f} changes/s, "
                        f"p99 {r['latency'].get('p99_ms', 0):.1f} ms, {r['complete']} of {n} "
                        f"complete, {r['stamped_received']} of {n * expect} delivered, "
                        f"informerd {r['informerd_cpu_s']:.1f} CPU-s")
                except Exception as e:  # one size failing must not lose the others
                    log(f"paced fan-out {variant} x{n} failed: {e}")
                    res[str(n)] = {"error": str(e)}
                finally:
                    client.stop()
        finally:
            if server:
                server.stop()
            replay.stop()


def workload_micro(cfg, out):
    p = subprocess.run([cfg.micro, "--benchmark_format=json", "--benchmark_min_time=0.3"],
                       capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"micro-benchmarks failed: {p.stderr[-2000:]}")
    out["micro"] = json.loads(p.stdout)["benchmarks"]


# ---------------------------------------------------------------------------------------------
# Report.


def fmt(v, unit=""):
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    a = abs(v)
    if a >= 100:
        s = f"{v:,.0f}"
    elif a >= 10:
        s = f"{v:.1f}"
    else:
        s = f"{v:.2f}"
    return s + unit


def ratio(a, b):
    if a is None or b in (None, 0):
        return "–"
    return f"{a / b:.2f}×"


def per_call(cpu_s, calls):
    if cpu_s is None or not calls:
        return "–"
    return f"{cpu_s / calls * 1e6:,.0f} µs"


def get(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(r) + " |")
    return "\n".join(lines)


def mode_ratios(ing, *_):
    """The headline ratios informerd / client-go, each list mode against the same mode."""
    def r(name, mode):
        return ing.get(run_key(name, mode)) or {}

    metrics = [("events per CPU-second", "events_per_cpu_s"),
               ("time to sync", "time_to_sync_s"),
               ("RSS per object (settled)", "rss_per_object_bytes")]
    rows = []
    for label, k in metrics:
        rows.append([label,
                     ratio(r("informerd", "stream").get(k), r("client-go", "stream").get(k)),
                     ratio(r("informerd", "list").get(k), r("client-go", "list").get(k)),
                     ratio(r("informerd", "stream").get(k), r("client-go+strip", "stream").get(k)),
                     ratio(r("informerd", "list").get(k), r("client-go", "stream").get(k))])
    return ("Ratios informerd / client-go, each list mode against the same mode (the first two "
            "columns are the like-for-like comparison; the third compares with client-go's "
            "managedFields-stripping transform, informerd's default; the last is the pairing of "
            "the benchmark before both defaulted to the streaming list: informerd paged, "
            "client-go streaming):\n\n"
            + table(["", "streaming list (both defaults)", "paged LIST (both)",
                     "streaming / client-go+strip", "informerd paged / client-go streaming"],
                    rows) + "\n")


def report(cfg, out):
    parts = []
    ing = out.get("ingest")
    if ing:
        rp = out["replay"]
        parts.append(f"### 1. Ingest from the replay server\n\n{rp['objects']:,} Pods in the LIST "
                     f"(average {rp['avg_object_bytes']:,} bytes of JSON each), then "
                     f"{rp['events']:,} watch events ({rp['watch_bytes'] / 1e6:,.0f} MB), "
                     f"{rp['final_objects']:,} Pods at the end. Each client runs alone against "
                     "the same replay server (plain HTTP on 127.0.0.1); indexes: namespace, "
                     "label `app`, `spec.nodeName`; one counting handler. Two list modes, each side "
                     "against the same mode: the **streaming list** (WATCH with "
                     "`sendInitialEvents=true`), the default of both client-go v0.36 "
                     "(WatchListClient on; `benchgo clientgo --watchlist on`) and informerd "
                     "(`--streaming_list=true`), and the **paged LIST** then WATCH (`--watchlist "
                     "off`, `--streaming_list=false`); the variants run in the default mode. The "
                     "last column counts the requests the replay server saw, to show each run "
                     "used its mode.\n")
        rows = []
        for name, mode, _ in ingest_runs(cfg, "", [], []):
            r = ing.get(run_key(name, mode))
            if not r:
                continue
            rows.append([name, MODE_LABEL[mode], fmt(r.get("events_per_cpu_s")),
                         fmt(r.get("events_per_s")), fmt(r.get("time_to_sync_s"), " s"),
                         fmt(r.get("cpu_s"), " s"),
                         fmt(r.get("rss_settled_bytes", 0) / 2**20, " MiB"),
                         fmt(r.get("rss_per_object_bytes"), " B"),
                         fmt(r.get("rss_steady_per_object_bytes"), " B"),
                         f"{r.get('replay_lists', '–')} / {r.get('replay_watch_lists', '–')}"])
        parts.append(table(["side", "list mode", "events / CPU-s", "events / s (wall)",
                            "time to sync", "CPU", "RSS settled", "RSS / object (settled)",
                            "RSS / object (steady)", "LISTs / streaming lists sent"], rows))
        parts.append("")
        parts.append(mode_ratios(ing, "events_per_cpu_s", "time_to_sync_s",
                                 "rss_per_object_bytes"))
        hist = []
        for name, mode, _ in ingest_runs(cfg, "", [], []):
            r = ing.get(run_key(name, mode))
            if not r or "cache_bytes" not in r:
                continue
            hist.append([name, MODE_LABEL[mode], fmt(r["cache_bytes"] / 2**20, " MiB"),
                         fmt(r.get("history_events")),
                         fmt(r.get("history_bytes", 0) / 2**20, " MiB"),
                         fmt(r.get("history_byte_limit", 0) / 2**20, " MiB")])
        if hist:
            parts.append("The cache and the EventHistory ring at the end, as informerd counts them "
                         "(`Object::ApproximateBytes`; the ring counts each event's object and "
                         "old_object, also those the cache shares, so its real extra memory is at "
                         "most its count):\n")
            parts.append(table(["side", "list mode", "cache bytes", "ring events", "ring bytes",
                                "ring byte bound"], hist))
            parts.append("")

    cl = out.get("cluster")
    if cl:
        pop = out["populate"]
        parts.append(f"### 2. Real API server (kube-apiserver {cfg.k8s_version})\n\n"
                     f"{pop['count']:,} Pods in namespace `informerd-bench` (created with status "
                     f"and managedFields in {pop['seconds']:.0f} s). Initial sync of that "
                     "namespace, then live latency of merge-patches made by `benchgo write` "
                     f"({cfg.size('latency_writes')} writes at {cfg.size('latency_rate')}/s): "
                     "from the writer's clock before the request to the handler; both list modes, as "
                     "in workload 1.\n")
        rows = []
        for mode in MODES:
            for name in ("client-go", "client-go+strip", "informerd"):
                r = cl.get(run_key(name, mode))
                if not r:
                    continue
                lat = r.get("latency", {})
                rows.append([name, MODE_LABEL[mode], fmt(r.get("time_to_sync_s"), " s"),
                             fmt(lat.get("p50_ms"), " ms"), fmt(lat.get("p99_ms"), " ms"),
                             fmt(get(r, "writer", "write_latency", "p50_ms"), " ms"),
                             fmt(r.get("rss_settled_bytes", 0) / 2**20, " MiB")])
        parts.append(table(["side", "list mode", "initial sync", "write→handler p50",
                            "write→handler p99", "write request p50 (API server)",
                            "RSS settled"], rows))
        ratios = []
        for mode in MODES:
            cg, inf = cl.get(run_key("client-go", mode)), cl.get(run_key("informerd", mode))
            if cg and inf:
                ratios.append(f"{MODE_LABEL[mode]}: sync "
                              + ratio(inf.get("time_to_sync_s"), cg.get("time_to_sync_s"))
                              + ", latency p99 "
                              + ratio(get(inf, "latency", "p99_ms"), get(cg, "latency", "p99_ms"))
                              + ", RSS " + ratio(inf.get("rss_settled_bytes"),
                                                 cg.get("rss_settled_bytes")))
        if ratios:
            parts.append("\nRatios informerd / client-go in the same list mode: "
                         + "; ".join(ratios) + ".")
        parts.append("")

    sv = out.get("serving")
    if sv:
        parts.append("### 3. Serving over gRPC on loopback\n\n"
                     "`informerd` caches every Pod (both namespaces, indexes `by-app`, `by-node`). "
                     "Open-loop load from `informerd_load` (latency from each call's scheduled "
                     "start); Get by random name in `informerd-bench`, List with namespace + "
                     "`app=` selector.\n")
        rows = []
        keys = [k for k in sv if k.startswith("get@")]
        keys.sort(key=lambda k: int(k.split("@")[1]))
        for key in keys + ["get", "list"]:
            r = sv.get(key)
            if not r:
                continue
            mode = "list" if key == "list" else "get"
            lat = r["latency"]
            rows.append([mode, fmt(r["target_qps"]), fmt(r["achieved_qps"]),
                         fmt(lat.get("p50_ms"), " ms"), fmt(lat.get("p99_ms"), " ms"),
                         fmt(r.get("objects_per_call")) if mode == "list" else "1",
                         f"{r['failed']} / {r['shed']}",
                         per_call(r.get("server_cpu_s"), r.get("ok")),
                         per_call(r.get("client_cpu_s"), r.get("ok"))])
        parts.append(table(["call", "target QPS", "achieved QPS", "p50", "p99", "objects / call",
                            "failed / shed", "informerd CPU / call",
                            "load client CPU / call"], rows))
        parts.append("")
        anchor = out.get("serving_apiserver") or {}
        if anchor:
            parts.append("The anchor: the same reads from the API server's own watch cache "
                         "(`benchgo apiget`, client-go's typed client, `resourceVersion=0`), "
                         "and informerd at the same rate. The API server's CPU is the test "
                         "cluster's process (etcd runs inside it, idle for these reads).\n")
            rows = []
            for mode in ("get", "list"):
                a = anchor.get(mode)
                if not a:
                    continue
                i = sv.get(f"anchor-{mode}@{int(a['target_qps'])}") or {}
                rows.append([mode, fmt(a["target_qps"]),
                             fmt(a.get("objects_per_call")) if mode == "list" else "1",
                             fmt(a["latency"].get("p99_ms"), " ms"),
                             per_call(a.get("server_cpu_s"), a.get("ok")),
                             fmt(i.get("latency", {}).get("p99_ms"), " ms"),
                             per_call(i.get("server_cpu_s"), i.get("ok"))])
            parts.append(table(["call", "QPS", "objects / call", "API server p99",
                                "API server CPU / call", "informerd p99",
                                "informerd CPU / call"], rows))
            parts.append("")
    fo = out.get("fanout")
    if fo:
        parts.append(f"Subscribe fan-out: {fo['writes']:,} merge-patches at {fo['rate']:,}/s to "
                     f"{cfg.size('fanout_pods')} Pods of `informerd-fanout`; informerd "
                     "subscribers (one stream each over 16 connections) against the same number "
                     "of client-go informers, each with its own connection and watch. Latency: "
                     "writer's clock before the request → receipt. API server CPU covers the "
                     "write phase (the writes themselves included, equal for both sides; the "
                     "test cluster runs etcd in the same process).\n")
        rows = []
        for n in cfg.size("fanout_counts"):
            for side in ("informerd", "client-go"):
                r = get(fo, side, str(n))
                if not r:
                    continue
                if "error" in r:
                    rows.append([str(n), side, "failed: " + r["error"][:80], "", "", "", "", "", "",
                                 "", ""])
                    continue
                lat = r["latency"]
                mbps = "–"
                if r.get("json_bytes_received") and r.get("seconds"):
                    mbps = fmt(r["json_bytes_received"] / r["seconds"] / 1e6, " MB/s")
                rows.append([str(n), side, fmt(lat.get("p50_ms"), " ms"),
                             fmt(lat.get("p99_ms"), " ms"), fmt(r.get("stamped_per_s")), mbps,
                             fmt(get(r, "writer", "achieved_rate")),
                             fmt(r.get("apiserver_cpu_s"), " s"),
                             fmt(r.get("apiserver_pod_watches")),
                             fmt(r.get("informerd_cpu_s"), " s"),
                             fmt(r.get("client_cpu_s"), " s")])
        parts.append(table(["subscribers", "side", "write→receipt p50", "p99",
                            "receipts / s", "JSON received", "writes / s achieved", "API server CPU",
                            "API server Pod watches", "informerd CPU",
                            "subscribers' CPU (informerd_load or client-go)"], rows))
        parts.append("")

    fp = out.get("fanout_paced")
    if fp:
        parts.append(fanout_paced_report(cfg, fp))

    mc = out.get("micro")
    if mc:
        rows = []
        for b in mc:
            if b.get("run_type") == "aggregate":
                continue
            extra = []
            if "items_per_second" in b:
                extra.append(f"{b['items_per_second'] / 1e3:,.1f} k items/s")
            if "bytes_per_second" in b:
                extra.append(f"{b['bytes_per_second'] / 2**20:,.0f} MiB/s")
            rows.append([f"`{b['name']}`", f"{b['cpu_time']:,.0f} {b['time_unit']}",
                         ", ".join(extra), b.get("label", "")])
        parts.append("### Micro-benchmarks (Google Benchmark, `informerd_micro`)\n")
        parts.append(table(["benchmark", "CPU time", "throughput", "note"], rows))
        parts.append("")
    return "\n".join(parts)


def fanout_paced_report(cfg, fp):
    parts = [f"### Subscribe fan-out fed by the paced replay server\n\n"
             f"informerd watches the replay server (`benchgo replay --paced`), which modifies "
             f"its Pods round-robin at {fp['rate']:,}/s for {fp['seconds']} s ({fp['count']:,} "
             "changes) and stamps each change's send time in an annotation; latency is that "
             "stamp → receipt in `informerd_load` (16 connections). No API server: the input "
             "rate is the target's. **broadcast**: every subscriber subscribes to all "
             f"{get(fp, 'broadcast', 'pods') or '?'} Pods and should receive every change. "
             "**own**: subscriber *i* selects only Pod *i* of "
             f"{get(fp, 'own', 'pods') or '?'} (`metadata.name` field selector), as a "
             "controller watching its own objects; it should receive that Pod's changes. "
             "Deliveries/s is over the window from the first to the last stamped receipt; "
             "CPU covers pacing and draining; *ended* counts streams informerd ended "
             "(RESOURCE_EXHAUSTED: too slow, fallen out of the history ring or past the hard "
             "limit), *coalesced* the times a subscriber fell past the soft limit (1 000 "
             "history changes) and had its pending changes merged per Pod (latest state "
             "wins).\n"]
    rows = []
    for variant in ("broadcast", "own"):
        for n in cfg.size("fanout_counts"):
            r = get(fp, variant, str(n))
            if not r:
                continue
            if "error" in r:
                rows.append([variant, str(n), "failed: " + r["error"][:80]] + [""] * 10)
                continue
            lat = r["latency"]
            expected = r["expect_per_subscriber"] * n
            win = r.get("stamped_window_s") or 0
            rows.append([variant, str(n), fmt(get(r, "paced", "achieved_rate")),
                         f"{r['stamped_received']:,} of {expected:,}",
                         f"{r['complete']} of {n}",
                         f"{r.get('terminated_subscribers', 0):.0f} / "
                         f"{r.get('coalesced_subscribers', 0):.0f}",
                         fmt(lat.get("p50_ms"), " ms"), fmt(lat.get("p99_ms"), " ms"),
                         fmt(lat.get("max_ms"), " ms"),
                         fmt(r["stamped_received"] / win) if win > 0 else "–",
                         fmt(r.get("informerd_cpu_s"), " s"),
                         per_call(r.get("informerd_cpu_s"), get(r, "paced", "count")),
                         fmt(r.get("client_cpu_s"), " s")])
    parts.append(table(["variant", "subscribers", "changes / s sent", "changes delivered",
                        "subscribers complete", "streams ended / coalesced", "send→receipt p50",
                        "p99", "max", "deliveries / s", "informerd CPU",
                        "informerd CPU / change sent", "subscribers' CPU"], rows))
    parts.append("")
    return "\n".join(parts)


def paced_target_row(fp, variant, label):
    r = get(fp, variant, "1000")
    if not r or "latency" not in r:
        return None
    rate = get(r, "paced", "achieved_rate") or 0
    p99 = r["latency"].get("p99_ms", 1e9)
    ok = p99 < 10 and rate >= 950 and r.get("complete") == 1000
    return [label, f"p99 {p99:.1f} ms at {rate:.0f} changes/s, {r.get('complete')} of 1000 "
            "complete", "met" if ok else "**missed**"]


def targets(cfg, out):
    rows = []
    for mode in MODES:
        cg = get(out, "ingest", run_key("client-go", mode))
        inf = get(out, "ingest", run_key("informerd", mode))
        if not (cg and inf):
            continue
        x = inf["events_per_cpu_s"] / cg["events_per_cpu_s"]
        rows.append([f"ingest ≥ 3× client-go's events per CPU-second ({MODE_SHORT[mode]}, "
                     "both sides)", f"{x:.2f}×", "met" if x >= 3 else "**missed**"])
        x = inf["rss_per_object_bytes"] / cg["rss_per_object_bytes"]
        rows.append(["memory per cached Pod ≤ ½ of client-go's default typed informer "
                     f"({MODE_SHORT[mode]}, both sides)", f"{x:.2f}×",
                     "met" if x <= 0.5 else "**missed**"])
    fp = out.get("fanout_paced")
    for variant, label in (("broadcast", "1000 subscribers at 1k events/s, p99 < 10 ms: "
                            "paced replay, every subscriber gets every change"),
                           ("own", "the same, each subscriber selecting its own Pod "
                            "(controller variant)")):
        row = paced_target_row(fp, variant, label)
        if row:
            rows.append(row)
    r = get(out, "fanout", "informerd", "1000")
    if r and "latency" in r:
        rate = get(r, "writer", "achieved_rate") or 0
        p99 = r["latency"].get("p99_ms", 1e9)
        ok = p99 < 10 and rate >= 950 and r.get("complete") == 1000
        rows.append(["the same fed by API server writes (write→receipt)",
                     f"p99 {p99:.1f} ms at {rate:.0f} writes/s, {r.get('complete')} of 1000 "
                     "complete", "met" if ok else "**missed**"])
    g = get(out, "serving", "get")
    if g:
        p99 = g["latency"].get("p99_ms", 1e9)
        ok = p99 < 1 and g["achieved_qps"] >= 0.95 * g["target_qps"]
        rows.append(["Get p99 < 1 ms at 10k QPS",
                     f"p99 {p99:.2f} ms at {g['achieved_qps']:,.0f} QPS",
                     "met" if ok else "**missed**"])
    return table(["target", "measured", "verdict"], rows) if rows else "(no target measured)"


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) / 2**20
    except OSError:
        mem = 0
    return f"{os.cpu_count()} × {model}, {mem:.0f} GiB RAM, {platform.system()} {platform.release()}"


def versions(cfg):
    def cmd(*c):
        try:
            return subprocess.run(c, capture_output=True, text=True, timeout=30).stdout.strip()
        except Exception:
            return "?"
    gomod = open(os.path.join(ROOT, "bench", "go", "go.mod")).read()
    cg = re.search(r"k8s.io/client-go (v\S+)", gomod)
    commit = cmd("git", "-C", ROOT, "rev-parse", "--short", "HEAD")
    dirty = cmd("git", "-C", ROOT, "status", "--porcelain")
    return [
        f"informerd {commit}{' (work tree with uncommitted changes)' if dirty else ''}, "
        f"C++ Release build ({cmd('c++', '--version').splitlines()[0] if cmd('c++', '--version') else '?'})",
        f"client-go {cg.group(1) if cg else '?'}, {cmd('go', 'version')}",
        f"kube-apiserver {cfg.k8s_version or 'not run'} (scripts/cluster-up: in-process apiserver + etcd)",
    ]


def write_doc(cfg, out, body, path, meta=None):
    """Writes the document; `meta` (command, date, load, machine, versions) defaults to now."""
    analysis_path = os.path.join(ROOT, "bench", "analysis.md")
    analysis = open(analysis_path).read() if os.path.exists(analysis_path) else ""
    if meta is None:
        meta = {
            "command": cfg.command,
            "size": "quick" if cfg.quick else "full",
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "load": os.getloadavg()[0],
            "machine": machine(),
            "versions": versions(cfg),
        }
    out["meta"] = meta
    doc = f"""# Benchmarks: informerd against client-go

Measured on one machine by `{meta['command']}` ({meta['size']} size), {meta['date']}; with
`--merge`, workloads not run then keep the results of the previous run. Regenerate with
`scripts/bench` (full, about an hour) or `scripts/bench --quick` (a few minutes); the sections
between the generated markers are rewritten, the analysis after them comes from
`bench/analysis.md`.

- Machine: {meta['machine']}; load average at the end {meta['load']:.2f} (the machine is shared:
  numbers from a busy machine are noisy, ratios less so since both sides run in the same
  conditions).
""" + "".join(f"- {v}\n" for v in meta["versions"]) + f"""
<!-- generated results: begin -->
## Targets

{targets(cfg, out)}

## Results

{body}
<!-- generated results: end -->

{analysis}"""
    with open(path, "w") as f:
        f.write(doc)
    for p in (os.path.join(cfg.tmp, "results.json"), cfg.results):
        with open(p, "w") as f:
            json.dump(out, f, indent=1)


class Config:
    pass


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--benchgo", required=True)
    ap.add_argument("--only", default="ingest,cluster,serving,fanout,micro",
                    help="comma-separated workloads to run")
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--command", default="scripts/bench")
    ap.add_argument("--merge", action="store_true",
                    help="start from the previous run's results (build dir's bench/results.json), "
                         "so a run of some workloads keeps the others in the document")
    ap.add_argument("--report-only", action="store_true",
                    help="run nothing: rewrite the document from the previous run's results "
                         "(e.g. after editing bench/analysis.md)")
    a = ap.parse_args()
    cfg = Config()
    cfg.quick = a.quick
    cfg.size = lambda k: SIZES[k][1 if a.quick else 0]
    cfg.benchgo = a.benchgo
    cfg.ingest = os.path.join(a.build_dir, "bench", "informerd_ingest")
    cfg.micro = os.path.join(a.build_dir, "bench", "informerd_micro")
    cfg.load = os.path.join(a.build_dir, "bench", "informerd_load")
    cfg.informerd = os.path.join(a.build_dir, "server", "informerd")
    cfg.command = a.command
    cfg.k8s_version = ""
    cfg.tmp = tempfile.mkdtemp(prefix="informerd-bench-")
    only = set(a.only.split(","))
    cfg.results = os.path.join(a.build_dir, "bench", "results.json")
    out = {}
    if a.merge and os.path.exists(cfg.results):
        with open(cfg.results) as f:
            out = json.load(f)
        cfg.k8s_version = out.get("k8s_version", "")
    if a.report_only:
        with open(cfg.results) as f:
            out = json.load(f)
        quick = get(out, "meta", "size") == "quick" if get(out, "meta") else a.quick
        cfg.quick = quick
        cfg.size = lambda k: SIZES[k][1 if quick else 0]
        cfg.k8s_version = out.get("k8s_version", "")
        write_doc(cfg, out, report(cfg, out), a.doc, out.get("meta"))
        log(f"rewrote {a.doc} from {cfg.results}")
        return 0
    log(f"scratch and logs in {cfg.tmp}")
    errors = []

    def attempt(name, fn, *args):
        try:
            fn(cfg, out, *args)
        except Exception as e:
            errors.append(f"{name}: {e}")
            log(f"{name} failed: {e}")

    if "ingest" in only:
        attempt("ingest", workload_ingest)
    if only & {"cluster", "serving"}:
        cluster = None
        try:
            cluster = Cluster(cfg)
            cfg.k8s_version = out["k8s_version"] = cluster.version
            if "cluster" in only:
                attempt("cluster", workload_cluster, cluster)
            if "serving" in only:
                if "cluster" not in only:  # Get/List read the namespace workload 2 fills
                    out["populate"] = last(run([cfg.benchgo, "populate", "--kubeconfig",
                                                cluster.kubeconfig, "--namespace",
                                                "informerd-bench", "--count",
                                                str(cfg.size("cluster_pods"))], timeout=3600),
                                           "populated")
                attempt("serving", workload_serving, cluster)
        except Exception as e:
            errors.append(f"cluster: {e}")
            log(f"cluster failed: {e}")
        finally:
            if cluster:
                cluster.down()
    if "fanout" in only:
        attempt("fanout", workload_fanout)
    if "micro" in only:
        attempt("micro", workload_micro)

    body = report(cfg, out)
    if errors:
        body += "\n### Failures in this run\n\n" + "\n".join(f"- {e}" for e in errors) + "\n"
    print("\n## Targets\n\n" + targets(cfg, out) + "\n\n" + body)
    write_doc(cfg, out, body, a.doc)
    log(f"wrote {a.doc}; raw results in {cfg.results}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
