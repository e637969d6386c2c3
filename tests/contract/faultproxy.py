"""A TCP fault proxy on loopback, for tests that break informerd's API-server connections.

It forwards bytes between its clients and one upstream (TLS passes through untouched: the
loopback kube-apiserver's certificate covers 127.0.0.1, so a kubeconfig whose `server` points at
the proxy still verifies). On command it can

  reset      end every open connection with a TCP RST on both sides (SO_LINGER 0), as a broken
             network path or a restarted load balancer does;
  blackhole  stop forwarding in both directions without closing anything (no FIN, no RST): the
             peers see a silent, dead connection (semantics R18). New connections are accepted
             and held silent too;
  blackhole-open
             stop forwarding on the connections open now, without closing them, while new
             connections are forwarded as usual: a peer that vanished (a NAT entry dropped, a
             node gone) under long-lived connections, so only a client that detects the dead
             connection and opens a new one gets through (semantics R18);
  resume     forward again (held bytes are delivered; connections that were not reset live on).

Use it as a module:

    proxy = FaultProxy(("127.0.0.1", 6443))
    proxy.start()            # proxy.port is the listening port on 127.0.0.1
    proxy.reset_all(); proxy.blackhole(); proxy.blackhole_open(); proxy.resume(); proxy.stats()
    proxy.close()

or as a process with a line-based control port (one command per line, one reply line):

    python3 faultproxy.py --upstream 127.0.0.1:6443 [--listen 127.0.0.1:0] [--control 127.0.0.1:0]
        prints "PROXY_PORT=<n>" and "CONTROL_PORT=<n>" on stdout, then serves until killed
    python3 faultproxy.py ctl <control port> reset|blackhole|resume|stats
        sends one command and prints the reply ("ok ..." or "error ...")

`rewrite_kubeconfig` writes a copy of a kubeconfig whose clusters point at the proxy.

Thread-safety: every public method may be called from any thread.
"""

import argparse
import os
import select
import socket
import struct
import sys
import threading
import time

_BUF = 65536


class _Conn:
    """One proxied connection: the client's socket and the upstream's."""

    def __init__(self, client, upstream):
        self.client = client
        self.upstream = upstream
        self.closed = False
        self.silent = False  # blackhole_open: this connection forwards nothing until resume


class FaultProxy:
    """Forwards TCP connections from 127.0.0.1:<port> to `upstream` (host, port)."""

    def __init__(self, upstream, listen=("127.0.0.1", 0)):
        self._upstream = upstream
        self._listen_addr = listen
        self._lock = threading.Lock()
        self._conns = set()
        self._forwarding = threading.Event()
        self._forwarding.set()
        self._stopping = False
        self._listener = None
        self.port = 0
        self._counts = {"accepted": 0, "reset": 0, "resets": 0, "blackholes": 0, "silenced": 0}

    def start(self):
        """Binds the listening socket and starts accepting. Returns the port."""
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(self._listen_addr)
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept_loop, name="faultproxy-accept", daemon=True).start()
        return self.port

    def reset_all(self):
        """Ends every open connection with an RST on both sides. Returns how many."""
        with self._lock:
            conns = list(self._conns)
            self._conns.clear()
            self._counts["resets"] += 1
            self._counts["reset"] += len(conns)
        for c in conns:
            _abort(c)
        return len(conns)

    def blackhole(self):
        """Stops forwarding (nothing is closed)."""
        with self._lock:
            self._counts["blackholes"] += 1
        self._forwarding.clear()

    def blackhole_open(self):
        """Stops forwarding on the connections open now (nothing is closed); new connections
        are forwarded. Returns how many were silenced."""
        with self._lock:
            conns = list(self._conns)
            self._counts["silenced"] += len(conns)
        for c in conns:
            c.silent = True
        return len(conns)

    def resume(self):
        """Forwards again, on every connection."""
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            c.silent = False
        self._forwarding.set()

    def stats(self):
        """A copy of the counters plus the number of open connections and the mode."""
        with self._lock:
            out = dict(self._counts)
            out["open"] = len(self._conns)
        out["mode"] = "forward" if self._forwarding.is_set() else "blackhole"
        return out

    def close(self):
        """Stops accepting and resets every connection."""
        self._stopping = True
        self._forwarding.set()
        try:
            self._listener.close()
        except OSError:
            pass
        self.reset_all()

    def _accept_loop(self):
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._upstream, timeout=10)
                upstream.settimeout(None)
            except OSError:
                _abort_sock(client)
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(client, upstream)
            with self._lock:
                self._conns.add(conn)
                self._counts["accepted"] += 1
            threading.Thread(target=self._pump, args=(conn,), name="faultproxy-conn",
                             daemon=True).start()

    def _pump(self, conn):
        peers = {conn.client: conn.upstream, conn.upstream: conn.client}
        try:
            while not conn.closed:
                if conn.silent or not self._forwarding.is_set():
                    # Blackholed: read nothing, write nothing, close nothing.
                    self._forwarding.wait(0.2) if not self._forwarding.is_set() else time.sleep(0.2)
                    continue
                readable, _, _ = select.select(list(peers), [], [], 0.2)
                if conn.silent or not self._forwarding.is_set():
                    continue
                for s in readable:
                    data = s.recv(_BUF)
                    if not data:
                        # A clean close on one side: pass the FIN on, finish the other way.
                        try:
                            peers[s].shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                        del peers[s]
                        if not peers:
                            raise EOFError
                        continue
                    peers[s].sendall(data)
        except (OSError, EOFError, ValueError):
            pass
        with self._lock:
            was_open = conn in self._conns
            self._conns.discard(conn)
        if was_open:
            conn.closed = True
            for s in (conn.client, conn.upstream):
                try:
                    s.close()
                except OSError:
                    pass


def _abort_sock(s):
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


def _abort(conn):
    conn.closed = True
    _abort_sock(conn.client)
    _abort_sock(conn.upstream)


def rewrite_kubeconfig(src, dst, port, host="127.0.0.1"):
    """Writes to `dst` a copy of kubeconfig `src` whose clusters' servers are
    https://host:port, with relative file paths made absolute. Returns the original server URL
    of the current context's cluster."""
    import yaml  # the venv's kubernetes package brings PyYAML

    with open(src) as f:
        cfg = yaml.safe_load(f)
    base = os.path.dirname(os.path.abspath(src))

    def absolutize(d, keys):
        for k in keys:
            if k in d and not os.path.isabs(d[k]):
                d[k] = os.path.join(base, d[k])

    current = cfg.get("current-context")
    ctx_cluster = None
    for c in cfg.get("contexts", []):
        if c.get("name") == current:
            ctx_cluster = c["context"].get("cluster")
    original = None
    for c in cfg.get("clusters", []):
        cl = c["cluster"]
        if c.get("name") == ctx_cluster or original is None:
            original = cl["server"]
        absolutize(cl, ["certificate-authority"])
        cl["server"] = "https://%s:%d" % (host, port)
    for u in cfg.get("users", []):
        absolutize(u.get("user", {}), ["client-certificate", "client-key", "tokenFile"])
    with open(dst, "w") as f:
        yaml.safe_dump(cfg, f)
    return original


def upstream_of_kubeconfig(path):
    """(host, port) of the current context's API server in kubeconfig `path`."""
    import urllib.parse

    import yaml

    with open(path) as f:
        cfg = yaml.safe_load(f)
    current = cfg.get("current-context")
    name = None
    for c in cfg.get("contexts", []):
        if c.get("name") == current:
            name = c["context"].get("cluster")
    for c in cfg.get("clusters", []):
        if name is None or c.get("name") == name:
            u = urllib.parse.urlparse(c["cluster"]["server"])
            return u.hostname, u.port or 443
    raise ValueError("no cluster in %s" % path)


def _serve_control(proxy, addr):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(addr)
    srv.listen(8)

    def handle(c):
        with c, c.makefile("rw") as f:
            for line in f:
                cmd = line.strip()
                if cmd == "reset":
                    reply = "ok reset %d" % proxy.reset_all()
                elif cmd == "blackhole":
                    proxy.blackhole()
                    reply = "ok blackhole"
                elif cmd == "blackhole-open":
                    reply = "ok blackhole-open %d" % proxy.blackhole_open()
                elif cmd == "resume":
                    proxy.resume()
                    reply = "ok resume"
                elif cmd == "stats":
                    reply = "ok " + " ".join("%s=%s" % kv for kv in sorted(proxy.stats().items()))
                else:
                    reply = "error unknown command %r (reset, blackhole, blackhole-open, resume, stats)" % cmd
                f.write(reply + "\n")
                f.flush()

    def loop():
        while True:
            c, _ = srv.accept()
            threading.Thread(target=handle, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return srv.getsockname()[1]


def _hostport(s):
    host, _, port = s.rpartition(":")
    return host, int(port)


def main(argv):
    if len(argv) >= 1 and argv[0] == "ctl":
        if len(argv) != 3:
            print("usage: faultproxy.py ctl PORT reset|blackhole|blackhole-open|resume|stats", file=sys.stderr)
            return 2
        with socket.create_connection(("127.0.0.1", int(argv[1])), timeout=10) as c:
            c.sendall((argv[2] + "\n").encode())
            reply = c.makefile().readline().strip()
        print(reply)
        return 0 if reply.startswith("ok") else 1
    p = argparse.ArgumentParser(description="TCP fault proxy (reset, blackhole, resume)")
    p.add_argument("--upstream", required=True, help="host:port to forward to")
    p.add_argument("--listen", default="127.0.0.1:0")
    p.add_argument("--control", default="127.0.0.1:0")
    args = p.parse_args(argv)
    for a in (args.listen, args.control):
        if _hostport(a)[0] not in ("127.0.0.1", "localhost"):
            print("only loopback addresses", file=sys.stderr)
            return 2
    proxy = FaultProxy(_hostport(args.upstream), _hostport(args.listen))
    proxy.start()
    control = _serve_control(proxy, _hostport(args.control))
    print("PROXY_PORT=%d" % proxy.port)
    print("CONTROL_PORT=%d" % control, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        proxy.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
