"""Unit tests of the stream-contract test's own parts: the tracker's rules on scripted streams
and the fault proxy against a loopback echo server. Run:
    ~/.cache/informerd/venv/bin/python -m pytest tests/contract/contract_unit_test.py
"""

import json
import os
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "clients", "python",
                                "src"))
sys.path.insert(0, HERE)

import pytest  # noqa: E402

from informerd.v1 import informer_pb2 as pb  # noqa: E402

import faultproxy  # noqa: E402
from stream_contract import check_lists  # noqa: E402
from tracker import Tracker  # noqa: E402
from witness import Witness  # noqa: E402

NS = "ns"


def ev(typ, rv, name=None, orv="", app=None, fsu=False):
    r = pb.SubscribeResponse(type=typ, resource_version=rv, final_state_unknown=fsu)
    if name:
        md = {"name": name, "namespace": NS, "resourceVersion": orv}
        if app:
            md["labels"] = {"app": app}
        r.object.CopyFrom(pb.Object(json=json.dumps({"metadata": md}), namespace=NS, name=name,
                                    resource_version=orv, uid="u-" + name))
    return r


def kinds(t):
    return [v.kind for v in t.violations]


def test_fresh_start_closes_at_synced_and_groups_close_at_newer_position():
    t = Tracker("s", NS, {})
    t.begin("fresh", "A")
    t.on_event(ev(pb.EVENT_TYPE_ADDED, "", "a", "5"))
    t.on_event(ev(pb.EVENT_TYPE_ADDED, "", "b", "6"))
    assert t.snapshots == [] and t.pos is None
    t.on_event(ev(pb.EVENT_TYPE_SYNCED, "10"))
    assert t.pos == 10 and t.state == {"ns/a": "5", "ns/b": "6"}
    # A coalesced group: members carry the old position, the last one the new.
    t.on_event(ev(pb.EVENT_TYPE_MODIFIED, "10", "a", "12"))
    t.on_event(ev(pb.EVENT_TYPE_DELETED, "10", "b", "13"))
    assert t.pos == 10 and len(t.snapshots) == 1
    t.on_event(ev(pb.EVENT_TYPE_ADDED, "14", "c", "14"))
    assert t.pos == 14 and t.state == {"ns/a": "12", "ns/c": "14"}
    assert [s[0] for s in t.snapshots] == [10, 14]
    t.on_event(ev(pb.EVENT_TYPE_BOOKMARK, "20"))
    assert t.pos == 20 and t.violations == []


def test_stream_end_inside_group_discards_it():
    t = Tracker("s", NS, {})
    t.begin("rv", "A", 10)
    t.on_event(ev(pb.EVENT_TYPE_ADDED, "11", "a", "11"))
    t.on_event(ev(pb.EVENT_TYPE_MODIFIED, "11", "a", "12"))
    assert t.end() == 1 and t.state == {"ns/a": "11"} and t.pos == 11


def test_rule_breaks_are_violations():
    t = Tracker("s", NS, {"app": "x"})
    t.begin("rv", "A", 10)
    t.on_event(ev(pb.EVENT_TYPE_ADDED, "11", "a", "11", app="x"))
    t.on_event(ev(pb.EVENT_TYPE_ADDED, "12", "a", "12", app="x"))  # held
    t.on_event(ev(pb.EVENT_TYPE_MODIFIED, "13", "b", "13", app="x"))  # unheld
    t.on_event(ev(pb.EVENT_TYPE_DELETED, "14", "c", "14"))  # unheld
    t.on_event(ev(pb.EVENT_TYPE_ADDED, "15", "d", "15", app="y"))  # selector
    t.on_event(ev(pb.EVENT_TYPE_ADDED, "9", "e", "9", app="x"))  # backwards
    t.on_event(ev(pb.EVENT_TYPE_ADDED, "15", "f", "16", app="x"))  # opens a group...
    t.on_event(ev(pb.EVENT_TYPE_BOOKMARK, "17"))  # ...a bookmark inside it
    assert kinds(t) == ["added-held-key", "modified-unheld-key", "deleted-unheld-key",
                        "selector-mismatch", "position-backwards", "bookmark-in-open-group"]
    v = t.violations[2]
    assert v.key == "ns/c" and "seed=7" in v.format(7) and "subscriber=s" in v.format(7)


def test_known_objects_deletion_needs_final_state_unknown():
    t = Tracker("s", NS, {})
    t.state = {"ns/a": "5", "ns/b": "6"}
    t.begin("known", "A")
    t.on_event(ev(pb.EVENT_TYPE_DELETED, "", "a", "5", fsu=True))
    t.on_event(ev(pb.EVENT_TYPE_DELETED, "", "b", "30", fsu=False))
    t.on_event(ev(pb.EVENT_TYPE_SYNCED, "31"))
    assert kinds(t) == ["known-objects-delete-without-final-state-unknown"]
    assert t.state == {} and t.pos == 31


def test_known_start_keeps_held_objects_not_sent():
    t = Tracker("s", NS, {})
    t.state = {"ns/a": "5"}
    t.begin("known", "B")
    t.on_event(ev(pb.EVENT_TYPE_ADDED, "", "b", "7"))
    t.on_event(ev(pb.EVENT_TYPE_SYNCED, "8"))
    assert t.state == {"ns/a": "5", "ns/b": "7"} and t.violations == []


def test_list_check_catches_a_version_older_than_its_content():
    w = Witness(None, NS)
    w.initial_rv = 10
    w.initial = {"ns/a": ("5", "u", {})}
    w.events = [(12, "MODIFIED", "ns/a", "12", "u", {}), (13, "ADDED", "ns/b", "13", "u", {}),
                (14, "DELETED", "ns/a", "14", "u", {})]
    good = [("A", 11, {"ns/a": "5"}, []), ("A", 13, {"ns/a": "12", "ns/b": "13"}, []),
            ("B", 20, {"ns/b": "13"}, [])]
    assert check_lists(1, w, good) == []
    # Objects at 13 and 14 under resource_version 12 (issue 13's third break).
    bad = check_lists(1, w, [("A", 12, {"ns/b": "13"}, ["total_count 2 but 1 objects"])])
    assert len(bad) == 2 and "total_count" in bad[0]
    assert "resource_version 12" in bad[1] and "ns/a expected 12 got absent" in bad[1]
    assert "ns/b expected absent got 13" in bad[1] and "seed=1" in bad[1]


# --- fault proxy --------------------------------------------------------------------------
@pytest.fixture
def echo():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return

            def loop(c=c):
                try:
                    while True:
                        d = c.recv(4096)
                        if not d:
                            break
                        c.sendall(d)
                except OSError:
                    pass
                c.close()

            threading.Thread(target=loop, daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield srv.getsockname()
    srv.close()


def test_proxy_forwards_resets_blackholes_and_resumes(echo):
    p = faultproxy.FaultProxy(echo)
    p.start()
    c = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    c.sendall(b"hello")
    assert c.recv(5) == b"hello"
    # Blackhole: nothing comes back, nothing closes.
    p.blackhole()
    time.sleep(0.3)
    c.sendall(b"ping")
    c.settimeout(0.8)
    with pytest.raises(socket.timeout):
        c.recv(4)
    p.resume()
    c.settimeout(5)
    assert c.recv(4) == b"ping"
    # Reset: the client sees ECONNRESET, not a clean EOF.
    assert p.reset_all() == 1
    with pytest.raises(ConnectionResetError):
        c.sendall(b"x")
        c.recv(1)
    c.close()
    c2 = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    c2.sendall(b"again")
    assert c2.recv(5) == b"again"
    st = p.stats()
    assert st["accepted"] == 2 and st["resets"] == 1 and st["reset"] == 1
    p.close()


def test_proxy_blackhole_open_silences_only_the_connections_open_now(echo):
    p = faultproxy.FaultProxy(echo)
    p.start()
    old = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    old.sendall(b"hello")
    assert old.recv(5) == b"hello"
    assert p.blackhole_open() == 1
    time.sleep(0.3)
    old.sendall(b"ping")
    old.settimeout(0.8)
    with pytest.raises(socket.timeout):
        old.recv(4)
    # A connection opened after it is forwarded as usual.
    new = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    new.sendall(b"fresh")
    assert new.recv(5) == b"fresh"
    # Resume delivers what the silenced connection held.
    p.resume()
    old.settimeout(5)
    assert old.recv(4) == b"ping"
    assert p.stats()["silenced"] == 1
    old.close()
    new.close()
    p.close()
