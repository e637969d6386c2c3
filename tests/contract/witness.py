"""The witness: one raw watch of the API server, from which the exact state of a namespace at
any resourceVersion is known.

It LISTs every ConfigMap (a quorum read) and WATCHes from that list's resourceVersion with
allowWatchBookmarks, directly against the API server (never through informerd or a fault
proxy), recording every event of the namespace in the order the API server sends them (which
is resourceVersion order). The state at P is the list's state with every event of version <= P
applied; it is known once the watch has passed P (an event or bookmark at or after P).

Events of other namespaces only move `seen` (the newest version the watch has passed), so a
write in another namespace can fence the witness past every position of interest.

Thread-safety: the watch runs on its own thread; the other methods may be called from any
thread.
"""

import json
import threading
import time

from kubernetes.watch.watch import iter_resp_lines


class WitnessError(Exception):
    pass


class Witness:
    def __init__(self, core_v1, namespace):
        self._api = core_v1
        self.namespace = namespace
        self._lock = threading.Condition()
        self.initial_rv = 0
        self.initial = {}  # key -> (object rv, uid, labels)
        # (rv, type, key, object rv, uid, labels), in the order received (rv order).
        self.events = []
        self.seen = 0
        self.rewatches = 0  # the watch ended cleanly and was reopened from the last version
        self.error = None
        self._stop = False
        self._thread = None

    def start(self):
        lst = self._api.list_config_map_for_all_namespaces(_preload_content=False)
        body = json.loads(lst.data)
        self.initial_rv = self.seen = int(body["metadata"]["resourceVersion"])
        for item in body.get("items") or []:
            md = item["metadata"]
            if md.get("namespace") == self.namespace:
                self.initial[md["namespace"] + "/" + md["name"]] = (
                    md["resourceVersion"], md.get("uid", ""), dict(md.get("labels") or {}))
        self._thread = threading.Thread(target=self._run, name="witness", daemon=True)
        self._thread.start()

    def stop(self):
        """Stops recording. The watch's thread is a daemon blocked in a read: it is left to
        the process's exit (closing the response from here would block on that read)."""
        self._stop = True

    def wait_past(self, rv, timeout):
        """Waits until the watch has passed `rv`. Returns whether it has."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.seen < rv and self.error is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
            return self.seen >= rv

    def _run(self):
        rv = self.initial_rv
        while not self._stop:
            try:
                resp = self._api.list_config_map_for_all_namespaces(
                    watch=True, resource_version=str(rv), allow_watch_bookmarks=True,
                    timeout_seconds=3600, _preload_content=False)
                for line in iter_resp_lines(resp):
                    if not line:
                        continue
                    ev = json.loads(line)
                    typ = ev["type"]
                    obj = ev["object"]
                    if typ == "ERROR":
                        raise WitnessError("watch ERROR event at rv %d: %s" % (rv, obj))
                    md = obj["metadata"]
                    erv = int(md["resourceVersion"])
                    with self._lock:
                        if typ != "BOOKMARK" and md.get("namespace") == self.namespace:
                            if erv <= rv:
                                raise WitnessError(
                                    "watch event out of order: %d after %d" % (erv, rv))
                            self.events.append(
                                (erv, typ, md["namespace"] + "/" + md["name"],
                                 md["resourceVersion"], md.get("uid", ""),
                                 dict(md.get("labels") or {})))
                        rv = max(rv, erv)
                        self.seen = rv
                        self._lock.notify_all()
                if self._stop:
                    return
                self.rewatches += 1
            except Exception as e:  # noqa: BLE001 - any break of the witness ends the run
                if self._stop:
                    return
                with self._lock:
                    self.error = "witness watch broke at rv %d: %r" % (rv, e)
                    self._lock.notify_all()
                return

    def cursor(self):
        return StateCursor(self)


class StateCursor:
    """Replays the witness: state_at(P) is the namespace's state at resourceVersion P
    (key -> (object rv, uid, labels)). Cheap for non-decreasing P; restarts when P goes back."""

    def __init__(self, witness):
        self._w = witness
        self._reset()

    def _reset(self):
        self._i = 0
        self._p = 0
        self._state = dict(self._w.initial)

    def state_at(self, p):
        if p < self._p:
            self._reset()
        self._p = p
        events = self._w.events
        while self._i < len(events) and events[self._i][0] <= p:
            _, typ, key, orv, uid, labels = events[self._i]
            if typ == "DELETED":
                self._state.pop(key, None)
            else:
                self._state[key] = (orv, uid, labels)
            self._i += 1
        return self._state
