"""The write pause (read-only mode, issue 17 part 3; docs/operations.md
"Pausing writes"): with writes paused, POST, PUT, PATCH and DELETE are
answered 503 with Retry-After and a JSON body, reach neither upstream and
are recorded with the verdict write_paused; reads flow. Global or per route,
through the admin API and `ctl writes`, persisted in the decision store and
applied by every replica sharing it; in /state, /metrics and the report."""
import json
import os
import re
import subprocess
import uuid

from conftest import SLOW, SP_BIN
from test_admin import TOKEN, records_by_id, start, token_env, wait_for  # noqa: F401 (fixtures)
from test_admin import mirrored_ids as seen_by

ROUTES = {"version": 1, "routes": [
    {"name": "orders", "match": {"path_prefix": "/echo/orders"}},
    {"name": "health", "match": {"path": "/health"}}]}
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def send(p, method, path, tag):
    rid = f"wp-{tag}-{uuid.uuid4().hex[:8]}"
    body = b'{"sku":"A-1","qty":2}' if method in ("POST", "PUT", "PATCH") else None
    headers = {"X-Request-Id": rid, "Content-Type": "application/json"}
    r, data = p.request(method, path, body=body, headers=headers)
    return rid, r, data


def metric(text, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pat = rf"(?m)^{re.escape(name)}{re.escape('{' + want + '}') if want else ''} (\S+)$"
    m = re.search(pat, text)
    return float(m.group(1)) if m else None


def ctl(adm, *args):
    return subprocess.run([SP_BIN, "ctl", "--admin", f"http://127.0.0.1:{adm.port}", *args],
                          capture_output=True, text=True, timeout=30 * SLOW,
                          env={**os.environ, "SHADOWPROXY_ADMIN_TOKEN": TOKEN})


def test_paused_writes_get_503_reach_no_upstream_and_reads_flow(start):
    legacy, new, p, adm = start(rules=ROUTES)
    ans = adm.ok("POST", "/writes", {"action": "pause", "retry_after_s": 120})
    assert ans["old"] == {"paused": False} and \
        ans["new"] == {"paused": True, "retry_after_s": 120}, ans
    assert ans["fleet"]["complete"] is True and ans["persisted"] is True, ans

    refused = []
    for m in WRITES:
        for path in ("/echo/orders/7", "/echo/w"):
            rid, r, data = send(p, m, path, "paused")
            assert r.status == 503, (m, path, r.status, data)
            assert r.getheader("Retry-After") == "120", r.getheaders()
            assert r.getheader("Content-Type") == "application/json"
            body = json.loads(data)
            assert body["error"] == "writes_paused" and body["retry_after_s"] == 120, body
            assert body["request_id"] == rid and "paused" in body["message"], body
            refused.append(rid)
    reads = [send(p, m, "/echo/orders/7", "read") for m in ("GET", "HEAD", "OPTIONS")]
    for rid, r, _ in reads:
        assert r.status == 200, r.status
    read_ids = [rid for rid, _, _ in reads]

    recs = records_by_id(p, refused + read_ids)
    for rid in refused:
        rec = recs[rid]
        assert rec["verdict"] == "write_paused" and "paused" in rec["reason"], rec
        assert rec["legacy"]["attempted"] is False and rec["new"]["attempted"] is False, rec
    assert all(recs[rid]["verdict"] != "write_paused" for rid in read_ids)
    assert not seen_by(legacy, set(refused)) and not seen_by(new, set(refused))
    assert seen_by(legacy, set(read_ids)) == set(read_ids)

    st = adm.state()
    assert st["writes"]["global"] == {"paused": True, "retry_after_s": 120}, st["writes"]
    assert st["writes"]["routes"]["orders"]["paused"] is True
    assert st["operator"]["global"]["writes"] == {"paused": True, "retry_after_s": 120}
    text = adm.call("GET", "/metrics").body.decode()
    assert metric(text, "shadowproxy_writes_paused") == 1
    assert metric(text, "shadowproxy_route_writes_paused", route="orders") == 1
    assert metric(text, "shadowproxy_verdicts_total", verdict="write_paused") == len(refused)
    assert metric(text, "shadowproxy_route_verdicts_total", route="orders",
                  verdict="write_paused") == len(WRITES)

    # resumed: writes reach the authoritative upstream again
    ans = adm.ok("POST", "/writes", {"action": "resume"})
    assert ans["new"] == {"paused": False}, ans
    rid, r, _ = send(p, "POST", "/echo/orders/7", "resumed")
    assert r.status == 200 and seen_by(legacy, {rid}) == {rid}
    text = adm.call("GET", "/metrics").body.decode()
    assert metric(text, "shadowproxy_writes_paused") == 0

    # the report counts them
    assert p.stop() == 0
    r = subprocess.run([SP_BIN, "report", "--format", "json", p.diff_log], capture_output=True,
                       timeout=30 * SLOW)
    rep = json.loads(r.stdout)
    orders = next(rt for rt in rep["routes"] if rt["name"] == "orders")
    assert orders["verdicts"]["write_paused"] == len(WRITES), orders["verdicts"]
    r = subprocess.run([SP_BIN, "report", p.diff_log], capture_output=True, timeout=30 * SLOW)
    assert b"write(s) answered 503 while writes were paused" in r.stdout, r.stdout[-2000:]

    # replay sends none of the refused writes (they ran nowhere), says why,
    # and sends the rest
    r = subprocess.run([SP_BIN, "replay", p.diff_log, "--legacy", legacy.url, "--new", new.url,
                        "--diff-log", p.diff_log + ".replay", "--no-progress"],
                       capture_output=True, text=True, timeout=60 * SLOW)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    m = re.search(r"skipped (\d+) record\(s\)\n\s+(\d+)\s+write refused while writes were paused",
                  r.stdout)
    assert m and int(m.group(2)) == len(refused), r.stdout
    assert not seen_by(legacy, set(refused)) and not seen_by(new, set(refused))
    assert seen_by(legacy, set(read_ids)) == set(read_ids)


def test_route_pause_leaves_other_routes_writing_and_bad_requests_are_refused(start):
    legacy, new, p, adm = start(rules=ROUTES)
    ans = adm.ok("POST", "/writes", {"action": "pause", "route": "orders"})
    assert ans["scope"] == "route" and ans["new"] == {"paused": True, "retry_after_s": 30}, ans
    rid, r, _ = send(p, "POST", "/echo/orders/1", "route")
    assert r.status == 503 and r.getheader("Retry-After") == "30"
    rid2, r2, _ = send(p, "POST", "/health", "other")
    assert r2.status == 200
    assert seen_by(legacy, {rid, rid2}) == {rid2}
    # a route decision wins over the global one, both ways
    adm.ok("POST", "/writes", {"action": "pause", "retry_after_s": 5})
    adm.ok("POST", "/writes", {"action": "resume", "route": "health"})
    assert send(p, "DELETE", "/health", "g1")[1].status == 200
    _, r, _ = send(p, "PUT", "/echo/x", "g2")
    assert r.status == 503 and r.getheader("Retry-After") == "5"
    _, r, _ = send(p, "PUT", "/echo/orders/2", "g3")
    assert r.status == 503 and r.getheader("Retry-After") == "30"
    # clearing the route's decisions: it follows the global pause
    adm.ok("POST", "/clear", {"route": "health"})
    assert send(p, "DELETE", "/health", "g4")[1].status == 503

    for body, want in [({"action": "stop"}, "\"action\" must be"),
                       ({"action": "pause", "retry_after_s": 0}, "retry_after_s"),
                       ({"action": "pause", "retry_after_s": "10"}, "retry_after_s"),
                       ({"action": "resume", "retry_after_s": 10}, "goes with"),
                       ({"action": "pause", "route": "nope"}, "unknown route")]:
        a = adm.call("POST", "/writes", body)
        assert a.status in (400, 404) and want in a.json()["error"], (body, a)


def test_write_pause_is_fleet_wide_persisted_and_audited(start, tmp):
    state = os.path.join(tmp, "state.json")
    legacy, new, a, adm_a = start(rules=ROUTES, config={"state_file": state},
                                  diff_log=os.path.join(tmp, "a.jsonl"))
    _, _, b, adm_b = start(rules=ROUTES, config={"state_file": state}, legacy=legacy, new=new,
                           diff_log=os.path.join(tmp, "b.jsonl"))
    r = ctl(adm_a, "writes", "pause", "--retry-after", "90")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == \
        "writes (global): flowing \u2192 paused (503, Retry-After 90 s)", r.stdout
    assert re.search(r"fleet: 2/2 replicas applied revision \d+", r.stdout), r.stdout
    _, r, _ = send(b, "PATCH", "/echo/orders/3", "b")
    assert r.status == 503 and r.getheader("Retry-After") == "90"
    assert json.load(open(state))["global"]["writes"] == {"paused": True, "retry_after_s": 90}
    hist = adm_b.ok("GET", "/history")["changes"]
    assert hist[0]["what"].startswith("writes pause") and hist[0]["who"] == "admin", hist[0]

    r = ctl(adm_b, "state")
    assert re.search(r"(?m)^writes\s+paused \(503, Retry-After 90 s\) \(global, set by an "
                     r"operator\)", r.stdout), r.stdout
    # a restart keeps it
    assert b.stop() == 0
    _, _, b2, adm_b2 = start(rules=ROUTES, config={"state_file": state}, legacy=legacy,
                             new=new, diff_log=os.path.join(tmp, "b2.jsonl"))
    assert adm_b2.state()["writes"]["global"]["paused"] is True
    assert send(b2, "POST", "/echo/orders/4", "b2")[1].status == 503
    r = ctl(adm_b2, "writes", "resume", "--route", "orders")
    assert r.returncode == 0 and "(route orders)" in r.stdout and "\u2192 flowing" in r.stdout, \
        r.stdout
    assert wait_for(lambda: send(a, "POST", "/echo/orders/5", "a")[1].status == 200, 2.0)
    assert send(a, "POST", "/echo/5", "a2")[1].status == 503

    for bad in [("writes",), ("writes", "stop"), ("writes", "resume", "--retry-after", "5"),
                ("writes", "pause", "--retry-after", "0"), ("state", "--retry-after", "5")]:
        r = ctl(adm_a, *bad)
        assert r.returncode == 2 and r.stderr.strip(), (bad, r.returncode, r.stderr)
