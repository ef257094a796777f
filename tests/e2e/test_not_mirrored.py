"""Exchanges not mirrored by choice (docs/diff-log.md, "Not-mirrored
records"): shadow disabled, paused by the operator, mirroring off for the
route, the method not mirrored, not sampled. In `mismatches` mode they get
no record of their own: each route's count per reason goes into one
`not_mirrored` record per window; every exchange still has its verdict in
the metrics, and the report counts them. In `all` mode nothing changes."""
import http.client
import json
import os
import subprocess
import time

from conftest import SLOW, SP_BIN
import helpers
from helpers import admin_call, sample_bucket

TOKEN = "sp-nm-token-0123456789abcdef"
EP = "GET /echo/x/{id}"  # the endpoint of /echo/x/N, counted apart on the route default

ROUTES = {
    "version": 1,
    "routes": [
        {"name": "off", "match": {"path_prefix": "/echo/off/"}, "mirror": {"enabled": False}},
        {"name": "reads", "match": {"path_prefix": "/echo/reads/"}, "mirror": {"methods": ["GET"]}},
        {"name": "s0", "match": {"path_prefix": "/echo/s0/"}, "mirror": {"sample_percent": 0}},
        {"name": "s30", "match": {"path_prefix": "/echo/s30/"}, "mirror": {"sample_percent": 30}},
        {"name": "paused", "match": {"path_prefix": "/echo/paused/"}},
        {"name": "on", "match": {"path_prefix": "/echo/on/"}},
    ],
}


def metrics(p):
    return helpers.metrics(p, token=TOKEN)


def total(samples, name, *labels):
    return sum(v for lbl, v in samples.get(name, []) if all(x in lbl for x in labels))


def send_all(p, plan):
    """plan: [(method, path, request id)], on one keep-alive connection."""
    c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10 * SLOW)
    try:
        for method, path, rid in plan:
            body = b"{}" if method == "POST" else None
            c.request(method, path, body=body, headers={"X-Request-Id": rid})
            r = c.getresponse()
            r.read()
            assert r.status == 200, (rid, r.status)
    finally:
        c.close()


def wait_verdicts(p, n):
    """Every exchange has its verdict, and the writer has collected the
    workers' counts (the per-route verdicts add up too)."""
    deadline = time.monotonic() + 10 * SLOW
    while True:
        m = metrics(p)
        if (total(m, "shadowproxy_verdicts_total") >= n and
                total(m, "shadowproxy_route_verdicts_total") >= n):
            return m
        assert time.monotonic() < deadline, (m.get("shadowproxy_verdicts_total"),
                                             m.get("shadowproxy_route_verdicts_total"))
        time.sleep(0.05)


def check_summary(rec):
    extra = {"endpoint"} if rec.get("route") == "default" else set()
    assert set(rec) == {"v", "type", "ts", "route", "window_start", "window_end", "window_ms",
                        "count", "reasons"} | extra, rec
    assert rec["v"] == 1 and rec["type"] == "not_mirrored"
    assert rec["ts"] == rec["window_end"] and rec["window_start"] <= rec["window_end"]
    assert rec["window_ms"] >= 0
    assert rec["count"] == sum(rec["reasons"].values()) > 0, rec


def by_route(recs):
    """route (for the route default, endpoint) -> {reason: count}, summed
    over the not_mirrored records."""
    out = {}
    for r in recs:
        if r.get("type") == "not_mirrored":
            check_summary(r)
            key = r["endpoint"] if r["route"] == "default" else r["route"]
            for why, n in r["reasons"].items():
                out.setdefault(key, {}).setdefault(why, 0)
                out[key][why] += n
    return out


def test_shadow_disabled_writes_counts_not_records(stubs, proxy):
    """Shadow off: no record per exchange, a summary per window whose counts
    sum to the requests sent; every verdict counted. (Fails on the code
    before: one `skipped` record per request, no not_mirrored record.)"""
    legacy, new = stubs("legacy"), stubs("new")
    p = proxy(legacy.url, new.url, config={"shadow": {"enabled": False}})
    n = 300
    # two bursts a window apart: the counts span more than one window
    send_all(p, [("GET", f"/echo/x/{i}", f"off-{i}") for i in range(n // 2)])
    time.sleep(1.2)
    send_all(p, [("GET", f"/echo/x/{i}", f"off-{i}") for i in range(n // 2, n)])
    m = wait_verdicts(p, n)
    assert total(m, "shadowproxy_verdicts_total", 'verdict="skipped"') == n
    assert total(m, "shadowproxy_route_verdicts_total", 'route="default"', 'verdict="skipped"') == n
    # the route default by endpoint, as its records are
    assert total(m, "shadowproxy_endpoint_verdicts_total", f'endpoint="{EP}"',
                 'verdict="skipped"') == n
    live = json.loads(admin_call(p.admin_port, "GET", "/api/readiness").body)
    live = {r["route"]: r for r in live["routes"]}
    assert live[EP]["exchanges"] == n and "default" not in live, live
    assert total(m, "shadowproxy_difflog_records_lost_total") == 0
    # the dashboard's history lists a count record as such
    deadline = time.monotonic() + 5 * SLOW
    while True:
        hist = json.loads(admin_call(p.admin_port, "GET", "/api/history").body)["records"]
        counted = [h for h in hist if h.get("type") == "not_mirrored"]
        if sum(h["count"] for h in counted) == n or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert counted and sum(h["count"] for h in counted) == n, hist
    assert all(h["route"] == "default" and h["endpoint"] == EP and h["verdict"] is None
               for h in counted), counted
    assert p.stop() == 0  # the last, partial window is written at exit
    recs = p.records()
    assert not [r for r in recs if "id" in r], recs[:3]
    assert by_route(recs) == {EP: {"shadow disabled": n}}
    assert len(recs) >= 2, recs  # a record per window that had any
    assert new.requests() == []
    rep = subprocess.run([SP_BIN, "report", "--format", "json", p.diff_log],
                         capture_output=True, text=True, timeout=30 * SLOW)
    assert rep.returncode == 0, rep.stderr
    assert [(r["name"], r["exchanges"]) for r in json.loads(rep.stdout)["routes"]] == [(EP, n)]


def test_each_reason_is_counted_by_route(stubs, proxy, tmp):
    """Route mirror off, a method not mirrored, sample 0 and 30 %, an
    operator's pause: each route's summary has the right reason and count;
    the mirrored exchanges (mismatches: the echo stubs differ) keep their usual handling; the report
    counts every exchange, by verdict and by route."""
    legacy, new = stubs("legacy"), stubs("new")
    rules = os.path.join(tmp, "rules.json")
    with open(rules, "w") as f:
        json.dump(ROUTES, f)
    token = os.path.join(tmp, "token")
    with open(token, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(token, 0o600)
    p = proxy(legacy.url, new.url, config={"admin": {"token_file": token}},
              args=("--rules", rules))
    a = admin_call(p.admin_port, "POST", "/shadow", {"action": "pause", "route": "paused"},
                   token=TOKEN)
    assert a.status == 200, a
    s30 = [f"s30-{i}" for i in range(100)]
    sampled = [rid for rid in s30 if sample_bucket(rid) < 3000]
    assert 10 < len(sampled) < 50, "the test's ids should split"
    plan = ([("GET", f"/echo/off/{i}", f"off-{i}") for i in range(7)] +
            [("POST", f"/echo/reads/{i}", f"post-{i}") for i in range(5)] +
            [("GET", f"/echo/reads/{i}", f"get-{i}") for i in range(3)] +
            [("GET", f"/echo/s0/{i}", f"s0-{i}") for i in range(11)] +
            [("GET", f"/echo/s30/{i}", rid) for i, rid in enumerate(s30)] +
            [("GET", f"/echo/paused/{i}", f"paused-{i}") for i in range(13)] +
            [("GET", f"/echo/on/{i}", f"on-{i}") for i in range(4)])
    send_all(p, plan)
    m = wait_verdicts(p, len(plan))
    n_skipped = 7 + 5 + 11 + (100 - len(sampled)) + 13
    assert total(m, "shadowproxy_verdicts_total", 'verdict="skipped"') == n_skipped
    assert total(m, "shadowproxy_verdicts_total") == len(plan), m["shadowproxy_verdicts_total"]
    for route, n in (("off", 7), ("reads", 5), ("s0", 11), ("s30", 100 - len(sampled)),
                     ("paused", 13), ("on", 0)):
        assert total(m, "shadowproxy_route_verdicts_total", f'route="{route}"',
                     'verdict="skipped"') == n, route
    # the live scorecard (GET /api/readiness) counts them as exchanges
    live = json.loads(admin_call(p.admin_port, "GET", "/api/readiness", token=TOKEN).body)
    live = {r["route"]: r for r in live["routes"]}
    assert live["off"]["exchanges"] == 7 and live["off"]["compared"] == 0, live["off"]
    assert live["reads"]["exchanges"] == 8 and live["reads"]["compared"] == 3, live["reads"]
    assert p.stop() == 0
    recs = p.records()
    want_mirrored = {f"get-{i}" for i in range(3)} | set(sampled) | {f"on-{i}" for i in range(4)}
    own = [r for r in recs if "id" in r]  # the echo stubs differ: mismatches
    assert {r["id"] for r in own} == want_mirrored
    assert all(r["verdict"] != "skipped" for r in own), own
    assert by_route(recs) == {
        "off": {"mirroring off for this route": 7},
        "reads": {"method not mirrored on this route": 5},
        "s0": {"not sampled": 11},
        "s30": {"not sampled": 100 - len(sampled)},
        "paused": {"shadow paused by operator": 13},
    }
    mirrored = {v for q in new.requests() for k, v in q["headers"] if k.lower() == "x-request-id"}
    assert mirrored == want_mirrored

    # the report: totals by verdict and by route include the counted ones
    out = subprocess.run([SP_BIN, "report", "--format", "json", p.diff_log],
                         capture_output=True, text=True, timeout=30 * SLOW)
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    assert rep["records"]["not_mirrored_exchanges"] == n_skipped, rep["records"]
    # a count record is a record read: what passed the filters never exceeds it
    assert rep["records"]["read"] == rep["records"]["used"], rep["records"]
    routes = {r["name"]: r for r in rep["routes"]}
    for route, n, sent in (("off", 7, 7), ("reads", 5, 8), ("s0", 11, 11),
                           ("s30", 100 - len(sampled), 100), ("paused", 13, 13), ("on", 0, 4)):
        assert routes[route]["exchanges"] == sent, (route, routes[route])
        assert routes[route]["verdicts"]["skipped"] == n, (route, routes[route]["verdicts"])
    assert rep["totals"]["verdicts"]["skipped"] == n_skipped, rep["totals"]
    assert rep["totals"]["exchanges"] == len(plan), rep["totals"]
    # the scorecard over the log: the same exchanges
    ready = subprocess.run([SP_BIN, "readiness", "--format", "json", p.diff_log],
                           capture_output=True, text=True, timeout=30 * SLOW)
    assert ready.returncode in (0, 3), ready.stderr
    ready = {r["route"]: r for r in json.loads(ready.stdout)["routes"]}
    assert ready["off"]["exchanges"] == 7 and ready["off"]["compared"] == 0, ready["off"]
    assert ready["s30"]["exchanges"] == 100, ready["s30"]
    text = subprocess.run([SP_BIN, "report", p.diff_log], capture_output=True, text=True,
                          timeout=30 * SLOW)
    assert text.returncode == 0, text.stderr
    assert f"{n_skipped} exchange(s) were not mirrored" in text.stdout, text.stdout
    # replay sends nothing for a count
    rp = subprocess.run([SP_BIN, "replay", "--legacy", legacy.url, "--new", new.url,
                         "-d", os.path.join(tmp, "replay.jsonl"), p.diff_log],
                        capture_output=True, text=True, timeout=30 * SLOW)
    assert rp.returncode == 0, rp.stdout + rp.stderr
    assert f"replayed {len(want_mirrored)} request(s)" in rp.stdout, rp.stdout
    assert "skipped 0 record(s)" in rp.stdout, rp.stdout


def test_all_mode_keeps_a_record_per_exchange(stubs, proxy):
    """`all` mode: every not-mirrored exchange keeps its own skipped record
    (replay captures rely on it); no summary."""
    legacy, new = stubs("legacy"), stubs("new")
    p = proxy(legacy.url, new.url, config={"shadow": {"enabled": False}},
              args=("--diff-log-mode", "all"))
    n = 40
    send_all(p, [("GET", f"/echo/x/{i}", f"all-{i}") for i in range(n)])
    m = wait_verdicts(p, n)
    assert total(m, "shadowproxy_verdicts_total", 'verdict="skipped"') == n
    assert p.stop() == 0
    recs = p.records()
    assert not [r for r in recs if r.get("type")], recs[:3]
    assert sorted(r["id"] for r in recs) == sorted(f"all-{i}" for i in range(n))
    for r in recs:
        assert r["verdict"] == "skipped" and r["reason"] == "shadow disabled", r
