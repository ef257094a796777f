"""One authority decision for the whole fleet (issue 12), file store: several
real proxies sharing one decision file on this host, changed through their
admin APIs and `shadowproxy ctl`, checked with real traffic."""
import json
import os
import re
import threading
import time

import pytest

from conftest import SLOW
from test_admin import Admin, ctl, send, start, token_env, write_json  # noqa: F401 (fixtures)

ROUTES = {"version": 1, "routes": [
    {"name": f"r{i}", "match": {"path": f"/echo/r{i}"}} for i in range(10)] + [
    {"name": "orders-get", "match": {"path": "/echo/orders"}}]}


def wait_for(cond, timeout):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def fleet_of(tmp, start, n, state=None, rules=ROUTES):
    """n proxies on one file store; [(proxy, admin)], the stubs shared."""
    state = state or os.path.join(tmp, "shared-state.json")
    out, legacy, new = [], None, None
    for i in range(n):
        legacy, new, p, adm = start(rules=rules, config={"state_file": state}, legacy=legacy,
                                    new=new, diff_log=os.path.join(tmp, f"diffs-{i}.jsonl"))
        out.append((p, adm))
    return out


def answered_by(p, path):
    return send(p, path)[1]


def url_of(adm):
    return f"http://127.0.0.1:{adm.port}"


# ---- the bug from the issue ----------------------------------------------------------


def test_flip_legacy_after_a_route_flip_reaches_that_route(start):
    """`ctl flip legacy` after `ctl flip new --route orders-get` used to print
    "authority (global): legacy (unchanged)" and leave orders-get on new: a
    global flip now removes route authority decisions, and says which."""
    _, _, p, adm = start(rules=ROUTES)
    r = ctl("--admin", url_of(adm), "flip", "new", "--route", "orders-get")
    assert r.returncode == 0, r.stderr
    assert answered_by(p, "/echo/orders") == "new"
    r = ctl("--admin", url_of(adm), "flip", "legacy")
    assert r.returncode == 0, r.stderr
    assert "cleared route authority: orders-get" in r.stdout, r.stdout
    assert answered_by(p, "/echo/orders") == "legacy"
    assert adm.state()["authority"]["routes"]["orders-get"] == "legacy"
    # --keep-routes leaves them
    ctl("--admin", url_of(adm), "flip", "new", "--route", "orders-get")
    r = ctl("--admin", url_of(adm), "flip", "legacy", "--keep-routes")
    assert r.returncode == 0 and "cleared" not in r.stdout, r.stdout
    assert answered_by(p, "/echo/orders") == "new"
    # ctl clear --route removes one route's decisions
    r = ctl("--admin", url_of(adm), "clear", "--route", "orders-get")
    assert r.returncode == 0, r.stderr
    assert answered_by(p, "/echo/orders") == "legacy"
    assert ctl("--admin", url_of(adm), "clear").returncode == 2  # needs --route


# ---- two processes on one file -------------------------------------------------------


def test_file_store_keeps_every_change_of_two_processes(tmp, start):
    """Changes through two replicas, one after the other and concurrently,
    all stay (they used to overwrite each other: 5 of 5 and 12 of 20 lost),
    and each replica applies every one of them."""
    (a, adm_a), (b, adm_b) = fleet_of(tmp, start, 2)
    for i in range(5):  # alternating, one after the other
        (adm_a if i % 2 else adm_b).flip("new", route=f"r{i}")
    errors = []
    # the admin listener takes 8 connections per client address (admin.h)
    gates = {id(adm_a): threading.Semaphore(5), id(adm_b): threading.Semaphore(5)}

    def change(adm, i):
        try:
            with gates[id(adm)]:
                do_change(adm, i)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def do_change(adm, i):
        if i < 10:
            adm.shadow("pause", route=f"r{i}")
        else:
            adm.flip("new", route=f"r{i - 5}")

    # 20 at once: every route paused, r5..r9 flipped, through both replicas
    threads = [threading.Thread(target=change, args=(adm_a if i % 2 else adm_b, i))
               for i in range(15)] + [
        threading.Thread(target=change, args=(adm_a if i % 2 else adm_b, 10 + i % 5))
        for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    with open(os.path.join(tmp, "shared-state.json")) as f:
        doc = json.load(f)
    assert doc["revision"] == 25, doc
    for i in range(10):
        assert doc["routes"][f"r{i}"] == {"authority": "new", "shadow": {"paused": True}}, doc
    for p, adm in ((a, adm_a), (b, adm_b)):
        assert wait_for(lambda: adm.state()["decisions"]["revision"] == 25, 2), adm.state()
        st = adm.state()
        assert all(st["authority"]["routes"][f"r{i}"] == "new" for i in range(10)), st
        assert all(st["shadow"]["routes"][f"r{i}"]["paused"] for i in range(10)), st
        assert answered_by(p, "/echo/r7") == "new"
    fleet = adm_a.state()["fleet"]
    assert len(fleet) == 2 and all(r["revision"] == 25 for r in fleet), fleet
    assert {r["pid"] for r in fleet} == {a.proc.pid, b.proc.pid}
    # the last sync moves on without changes (the registration every second)
    synced = adm_b.state()["decisions"]["last_sync"]
    assert wait_for(lambda: adm_b.state()["decisions"]["last_sync"] != synced, 2.5), synced


def test_file_store_deletion_does_not_revert(tmp, start):
    (a, adm_a), (b, adm_b) = fleet_of(tmp, start, 2)
    state = os.path.join(tmp, "shared-state.json")
    adm_a.flip("new")
    assert wait_for(lambda: adm_b.state()["authority"]["global"] == "new", 1)
    os.unlink(state)
    assert wait_for(lambda: "event=state_file_missing" in b.stderr(), 3), b.stderr()[-2000:]
    for p, adm in ((a, adm_a), (b, adm_b)):
        assert adm.state()["authority"]["global"] == "new"
        assert answered_by(p, "/echo/r1") == "new"
        metrics = adm.call("GET", "/metrics").body.decode()
        assert re.search(r"^shadowproxy_decisions_store_warnings_total [1-9]", metrics, re.M), \
            metrics
    # the next change rewrites the file from the decisions in force
    adm_b.shadow("pause", route="r2")
    with open(state) as f:
        doc = json.load(f)
    assert doc["global"]["authority"] == "new" and doc["routes"]["r2"]["shadow"]["paused"], doc
    assert doc["revision"] == 2, doc
    assert wait_for(lambda: adm_a.state()["shadow"]["routes"]["r2"]["paused"] is True, 1)


def test_rollback_through_one_replica_puts_every_route_of_every_replica_on_legacy(tmp, start):
    (a, adm_a), (b, adm_b) = fleet_of(tmp, start, 2)
    adm_a.flip("new")
    adm_b.flip("new", route="orders-get")
    adm_a.flip("new", route="r3")
    assert wait_for(lambda: adm_b.state()["decisions"]["revision"] == 3, 1)
    r = ctl("--admin", url_of(adm_b), "rollback")
    assert r.returncode == 0, (r.stdout, r.stderr)
    # right after it returned: real traffic on every route of every replica
    for p in (a, b):
        for path in ("/echo/orders", "/echo/r3", "/echo/r0", "/echo/elsewhere"):
            assert answered_by(p, path) == "legacy", (p.port, path)
    assert "fleet: 2/2 replicas applied revision 4" in r.stdout, r.stdout
    assert "orders-get" in r.stdout and "r3" in r.stdout, r.stdout
    hist = adm_a.ok("GET", "/history?limit=2")["changes"]
    assert [h["what"] for h in hist] == ["rollback", "authority new"], hist
    assert hist[0]["revision"] == 4 and re.match(r"127\.0\.0\.1:\d+", hist[0]["client"]), hist
    assert hist[0]["old"]["routes"]["orders-get"]["authority"] == "new", hist[0]
    assert hist[0]["new"] == {"global": {"authority": "legacy"}, "routes": {}}, hist[0]
    r = ctl("--admin", url_of(adm_a), "history", "--limit", "1")
    assert r.returncode == 0 and "rollback" in r.stdout and "rev 4" in r.stdout, r.stdout
    assert "event=operator_change what=rollback" in b.stderr()


def test_a_replica_behind_is_named_and_the_wait_times_out(tmp, start):
    """A live replica that does not apply a change (here a registration that
    keeps claiming an old revision) is marked by ctl state, and ctl flip
    waits --timeout for it, then names it and exits 4."""
    (a, adm_a), = fleet_of(tmp, start, 1)
    fleet_dir = os.path.join(tmp, "shared-state.json.fleet")
    stop = threading.Event()

    os.makedirs(fleet_dir, exist_ok=True)

    def stuck_replica():
        while not stop.is_set():
            now = int(time.time() * 1000)
            write_json(os.path.join(fleet_dir, "stuck-1.json"), {
                "id": "stuck-1", "host": "stuck", "pid": 1, "started": "x", "revision": 0,
                "last_seen": "x", "last_seen_ms": now})
            time.sleep(0.2)

    t = threading.Thread(target=stuck_replica)
    t.start()
    try:
        assert wait_for(lambda: len(adm_a.state()["fleet"]) == 2, 2)
        t0 = time.monotonic()
        r = ctl("--admin", url_of(adm_a), "flip", "new", "--timeout", "0.5")
        took = time.monotonic() - t0
        assert r.returncode == 4, (r.stdout, r.stderr)
        assert "fleet: 1/2 replicas applied revision 1" in r.stdout, r.stdout
        assert "replica stuck-1 (stuck) still on revision 0" in r.stderr, r.stderr
        assert 0.5 <= took < 5 * SLOW, took
        r = ctl("--admin", url_of(adm_a), "state")
        assert re.search(r"stuck-1 .* BEHIND", r.stdout), r.stdout
        r = ctl("--admin", url_of(adm_a), "flip", "legacy", "--no-wait")
        assert r.returncode == 0 and "not waiting" in r.stdout, r.stdout
    finally:
        stop.set()
        t.join(5)
    # registrations older than 5 s are not live
    assert wait_for(lambda: len(adm_a.state()["fleet"]) == 1, 7), adm_a.state()["fleet"]


def test_a_store_that_cannot_be_written_refuses_the_change(tmp, start):
    (a, adm_a), = fleet_of(tmp, start, 1)
    state = os.path.join(tmp, "shared-state.json")
    os.mkdir(state + ".lock")  # the lock cannot be opened: the store is unusable
    r = adm_a.call("POST", "/authority", {"side": "new"})
    assert r.status == 503, r
    assert f"file:{state}" in r.json()["error"] and "nothing was changed" in r.json()["error"]
    assert answered_by(a, "/echo/r1") == "legacy"  # never applied locally
    assert adm_a.state()["decisions"]["up"] is False
    metrics = adm_a.call("GET", "/metrics").body.decode()
    assert f'shadowproxy_decisions_store_up{{store="file:{state}"}} 0' in metrics, metrics
    assert adm_a.call("GET", "/readyz").status == 200  # still ready: it serves
    r = ctl("--admin", url_of(adm_a), "rollback")
    assert r.returncode == 1 and "503" in r.stderr, r.stderr
    os.rmdir(state + ".lock")
    adm_a.flip("new")
    assert adm_a.state()["decisions"]["up"] is True
    assert answered_by(a, "/echo/r1") == "new"


def test_invalid_state_file_at_startup_uses_the_last_good_copy(tmp, start):
    (a, adm_a), = fleet_of(tmp, start, 1)
    state = os.path.join(tmp, "shared-state.json")
    adm_a.flip("new", route="r1")
    assert a.stop() == 0
    with open(state, "w") as f:
        f.write('{"version": 1, "global": {"authority": "sideways"}}')
    (b, adm_b), = fleet_of(tmp, start, 1)
    err = b.stderr()
    assert state in err and "global.authority must be" in err, err[-2000:]
    assert "event=state_file_last_good_used" in err and state + ".last-good" in err
    assert adm_b.state()["authority"]["routes"]["r1"] == "new"
    assert answered_by(b, "/echo/r1") == "new"
