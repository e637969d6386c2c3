"""A Subscribe client's view of one stream contract (proto/informer/v1/informer.proto), checked
event by event.

The rules, as the contract states them:
- Each SubscribeResponse carries resource_version = the position fully delivered once the event
  is applied; positions never go backwards.
- Groups: an event whose resource_version equals the previous event's position belongs to an
  open group, which the next event carrying a newer resource_version closes (as its last
  member). The initial events of a fresh or known_objects start carry an empty resource_version
  and are closed by SYNCED. A group is applied as one step when it closes; a stream that ends
  inside a group has the group discarded (the client resumes from the last closed position).
  A BOOKMARK never arrives inside an open group.
- While a group is applied in order: no ADDED for a held key, no MODIFIED or DELETED for an
  unheld key; ADDED and MODIFIED objects match the selectors; DELETED of a known_objects start
  carries final_state_unknown.
- At every closed position P the state (key -> object rv) must equal the API server's state at
  P restricted to the subscriber's namespace and selector: the tracker records a snapshot per
  closed position, which the run compares with the witness.

Thread-safety: none; one subscriber thread owns a Tracker.
"""

import json
import time

from informerd.v1 import informer_pb2 as pb

ADDED, MODIFIED, DELETED = pb.EVENT_TYPE_ADDED, pb.EVENT_TYPE_MODIFIED, pb.EVENT_TYPE_DELETED
BOOKMARK, SYNCED = pb.EVENT_TYPE_BOOKMARK, pb.EVENT_TYPE_SYNCED
TYPE_NAMES = {ADDED: "ADDED", MODIFIED: "MODIFIED", DELETED: "DELETED", BOOKMARK: "BOOKMARK",
              SYNCED: "SYNCED"}


class Violation:
    """One broken rule, with everything needed to find it again."""

    def __init__(self, kind, subscriber, stream, event, key, expected, got, detail=""):
        self.kind = kind
        self.subscriber = subscriber
        self.stream = stream
        self.event = event
        self.key = key
        self.expected = expected
        self.got = got
        self.detail = detail

    def format(self, seed):
        s = "seed=%s subscriber=%s stream=%s event=%s key=%s [%s]: expected %s, got %s" % (
            seed, self.subscriber, self.stream, self.event, self.key or "-", self.kind,
            self.expected, self.got)
        if self.detail:
            s += " (" + self.detail + ")"
        return s


class Event:
    __slots__ = ("index", "sidx", "type", "rv", "key", "orv", "uid", "labels", "fsu", "coalesced",
                 "namespace")

    def __init__(self, index, resp):
        self.index = index
        self.type = resp.type
        self.rv = resp.resource_version
        self.fsu = resp.final_state_unknown
        self.coalesced = resp.coalesced
        self.key = self.orv = self.uid = self.namespace = ""
        self.labels = {}
        if resp.HasField("object"):
            o = resp.object
            self.namespace = o.namespace
            self.key = (o.namespace + "/" + o.name) if o.namespace else o.name
            self.orv = o.resource_version
            self.uid = o.uid
            if o.json:
                md = json.loads(o.json).get("metadata", {})
                self.labels = dict(md.get("labels") or {})

    def describe(self):
        return "%s %s (object rv %s, uid %s, position %r%s%s)" % (
            TYPE_NAMES.get(self.type, self.type), self.key, self.orv or "-", self.uid[:8] or "-",
            self.rv, ", final_state_unknown" if self.fsu else "",
            ", coalesced" if self.coalesced else "")


class Tracker:
    """Applies one subscriber's streams, recording violations and a snapshot per closed
    position. `selector` is a dict of required labels (equality only)."""

    def __init__(self, name, namespace, selector):
        self.name = name
        self.namespace = namespace
        self.selector = dict(selector)
        self.state = {}  # key -> object rv
        self.pos = None  # last closed position (int), None before the first
        self.violations = []
        # (position, state dict, stream description, event index, closing event description)
        self.snapshots = []
        self.events = 0
        self.streams = 0
        self.coalesced_events = 0
        self.discarded_groups = 0
        self.stream_log = []  # one dict per stream: how it started and ended
        # Every event as (stream, index, type, position, key, object rv, uid, app label,
        # final_state_unknown, coalesced, wall-clock time), for the run's report; None = not
        # recorded.
        self.record = []
        self.stream_desc = ""
        self._group = []
        self._prev = None
        self._mode = None
        self._in_initial = False
        self._replica = ""
        self._stream_events = 0

    # --- stream lifecycle -------------------------------------------------------------------
    def begin(self, mode, replica, resume_rv=None):
        """mode: 'fresh', 'known' or 'rv' (resume_rv = the position passed)."""
        self.streams += 1
        self._mode = mode
        self._replica = replica
        self.stream_desc = "%d(%s%s on %s)" % (
            self.streams, mode, " from %s" % resume_rv if mode == "rv" else "", replica)
        self.stream_log.append({"stream": self.streams, "time": round(time.time(), 3),
                                "mode": mode, "replica": replica,
                                "resume_rv": resume_rv, "first_event": self.events + 1,
                                "held": len(self.state), "position": self.pos})
        self._group = []
        self._stream_events = 0
        self._in_initial = mode in ("fresh", "known")
        self._prev = int(resume_rv) if mode == "rv" else None

    def end(self, how=""):
        """The stream ended (`how`: client cut or the status): an open group is discarded.
        Returns its size."""
        n = len(self._group)
        self.stream_log[-1].update(end=how, end_time=round(time.time(), 3),
                                   events=self._stream_events, discarded=n,
                                   position_after=self.pos)
        if n:
            self.discarded_groups += 1
        self._group = []
        return n

    def known_objects(self):
        return {k: v for k, v in self.state.items()}

    # --- events -----------------------------------------------------------------------------
    def on_event(self, resp):
        self.events += 1
        self._stream_events += 1
        ev = Event(self.events, resp)
        ev.sidx = self._stream_events
        if self.record is not None:
            self.record.append((self.streams, ev.index, TYPE_NAMES.get(ev.type, ev.type), ev.rv,
                                ev.key, ev.orv, ev.uid, ev.labels.get("app"), ev.fsu,
                                ev.coalesced, round(time.time(), 3)))
        if ev.coalesced:
            self.coalesced_events += 1
        if ev.type == SYNCED:
            if not self._in_initial:
                self._violate("synced-outside-start", ev, "SYNCED only after a fresh or "
                              "known_objects start", ev.describe())
            if not ev.rv:
                self._violate("synced-without-position", ev, "the cut's resourceVersion",
                              "empty")
                return
            self._close(ev, int(ev.rv))
            self._in_initial = False
            self._prev = int(ev.rv)
            return
        if self._in_initial:
            if ev.type == BOOKMARK:
                self._violate("bookmark-in-open-group", ev, "no BOOKMARK before SYNCED",
                              ev.describe())
                return
            if ev.rv:
                self._violate("initial-event-with-position", ev,
                              "an empty resource_version before SYNCED", repr(ev.rv))
            self._group.append(ev)
            return
        if not ev.rv:
            self._violate("live-event-without-position", ev, "a resource_version",
                          ev.describe())
            self._group.append(ev)
            return
        rv = int(ev.rv)
        if self._prev is not None and rv < self._prev:
            self._violate("position-backwards", ev, ">= %d" % self._prev, rv, ev.describe())
        if ev.type == BOOKMARK:
            if self._group:
                self._violate("bookmark-in-open-group", ev,
                              "no BOOKMARK while %d events wait for their group to close" %
                              len(self._group), ev.describe())
            self._close(ev, rv)
        elif self._prev is not None and rv == self._prev:
            self._group.append(ev)
        else:
            self._group.append(ev)
            self._close(ev, rv)
        self._prev = rv if self._prev is None else max(self._prev, rv)

    def _matches(self, labels):
        return all(labels.get(k) == v for k, v in self.selector.items())

    def _close(self, closing, position):
        initial = self._in_initial
        if self._group or (initial and self._mode == "fresh"):
            base = {} if (initial and self._mode == "fresh") else self.state
            state = dict(base)
            for ev in self._group:
                self._apply(state, ev, initial)
            self.state = state
        self._group = []
        self.pos = position
        self.snapshots.append((position, self.state, self.stream_desc,
                               "%d(#%d in stream)" % (closing.index, closing.sidx),
                               closing.describe()))

    def _apply(self, state, ev, initial):
        held = ev.key in state
        if ev.type in (ADDED, MODIFIED):
            if ev.namespace != self.namespace:
                self._violate("wrong-namespace", ev, self.namespace, ev.namespace, ev.describe())
            if not self._matches(ev.labels):
                self._violate("selector-mismatch", ev, "labels matching %s" % self.selector,
                              ev.labels, ev.describe())
            if ev.type == ADDED and held:
                self._violate("added-held-key", ev, "no ADDED for a key held (at object rv %s)"
                              % state[ev.key], ev.describe())
            if ev.type == MODIFIED and not held:
                self._violate("modified-unheld-key", ev, "no MODIFIED for a key not held",
                              ev.describe())
            state[ev.key] = ev.orv
        elif ev.type == DELETED:
            if not held:
                self._violate("deleted-unheld-key", ev, "no DELETED for a key not held",
                              ev.describe())
            if initial and self._mode == "known" and not ev.fsu:
                self._violate("known-objects-delete-without-final-state-unknown", ev,
                              "final_state_unknown=true on a known_objects DELETED",
                              ev.describe(), "client held object rv %s" % state.get(ev.key))
            state.pop(ev.key, None)
        else:
            self._violate("unexpected-event-in-group", ev, "ADDED/MODIFIED/DELETED",
                          ev.describe())

    def _violate(self, kind, ev, expected, got, detail=""):
        self.violations.append(Violation(
            kind, self.name, self.stream_desc,
            "%d(#%d in stream)" % (ev.index, ev.sidx), ev.key, expected, got,
            detail))
