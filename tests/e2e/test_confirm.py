"""Confirmed mismatches (issue 17 part 2): a route with "confirm" reads a
mismatching GET or HEAD again from both sides after confirm.after_ms; the
exchange's one record says confirmation "transient" (equal on the re-read)
or "confirmed" (still different). Writes are never read again; over the
route's budget the confirmation is skipped and counted; the client never
waits for it. The stub's --sync-lag-ms makes the new ERP's stock lag."""
import csv
import io
import json
import os
import subprocess
import time
import uuid

import pytest

from conftest import SLOW, SP_BIN
from helpers import admin_call, metric

# Catalog SKUs with stock (the lag shows as qty - 1) ending in an even digit
# (an odd one gets qty as a string on --profile new: a difference of its own).
SKUS = ["24-MB02", "24-MB04", "24-WB02", "24-WB04", "24-UB02", "24-MG02"]


def rules_file(tmp, confirm, methods=("GET", "HEAD"), name="rules.json", headers=None):
    path = os.path.join(tmp, name)
    route = {"name": "inventory",
             "match": {"methods": list(methods), "path_prefix": "/api/inventory/"},
             # the new ERP's updated_at is "now": a drift not under test
             "compare": {"ignore": ["/updated_at"]}}
    if headers is not None:
        route["compare"]["headers"] = headers
    if confirm is not None:
        route["confirm"] = confirm
    orders = {"name": "orders", "match": {"path_prefix": "/api/orders"},
              "mirror": {"methods": ["GET", "POST"]},
              "confirm": {"after_ms": 50}}
    with open(path, "w") as f:
        json.dump({"version": 1, "routes": [route, orders]}, f)
    return path


def get(p, path, method="GET"):
    rid = str(uuid.uuid4())
    t0 = time.monotonic()
    r, body = p.request(method, path, headers={"X-Request-Id": rid})
    return rid, r, body, time.monotonic() - t0


def records_for(p, rid):
    return [r for r in p.records() if r.get("id") == rid]


def by_rid(stub, rid):
    out = []
    for q in stub.requests():
        h = {k.lower(): v for k, v in q["headers"]}
        if h.get("x-request-id") == rid:
            out.append(q)
    return out


def qty_of(body):
    return json.loads(body)["qty"]


def test_sync_lag_is_transient_and_the_client_never_waits(tmp, stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new", args=["--sync-lag-ms", "300"])
    # Long enough that a first request on a busy machine (0.75 s seen with
    # two e2e workers and a loaded host) still shows it did not wait.
    after = 2500
    p = proxy(legacy.url, new.url,
              args=("--rules", rules_file(tmp, {"after_ms": after}), "--diff-log-mode", "all"))
    sku = SKUS[0]
    rid, r, body, took = get(p, f"/api/inventory/{sku}")
    assert r.status == 200 and json.loads(body)["sku"] == sku
    # The client got legacy's answer at once, not after the confirmation wait.
    assert took < after / 1000 / 2, took
    assert records_for(p, rid) == []  # the record waits for the re-read
    rec = p.wait_record(rid, timeout=10)
    assert rec["verdict"] == "mismatch", rec
    assert [d["path"] for d in rec["differences"]] == ["/qty"]
    c = rec["confirmation"]
    assert c["state"] == "transient" and c["after_ms"] == after, c
    assert "differences" not in c
    # Each side was read twice: the client's call and the re-read, which is
    # marked as the proxy's own (X-Shadow-Request) on both sides.
    for stub in (legacy, new):
        reqs = by_rid(stub, rid)
        assert len(reqs) == 2, reqs
        assert [q["method"] for q in reqs] == ["GET", "GET"]
        marked = [q for q in reqs if any(h[0].lower() == "x-shadow-request" for h in q["headers"])]
        assert len(marked) == (1 if stub is legacy else 2)
    time.sleep(0.3)
    assert len(records_for(p, rid)) == 1  # exactly one record for the exchange
    assert metric(p, "shadowproxy_confirm_started_total") == 1
    assert metric(p, "shadowproxy_confirm_transient_total") == 1
    assert metric(p, "shadowproxy_confirm_confirmed_total") == 0
    assert metric(p, "shadowproxy_confirm_in_flight") == 0
    assert metric(p, 'shadowproxy_route_confirmations_total{route="inventory",outcome="transient"}') == 1
    assert metric(p, 'shadowproxy_route_confirmations_total{route="inventory",outcome="confirmed"}') == 0
    # The dashboard's live view counts it per route.
    live = json.loads(admin_call(p.admin_port, "GET", "/api/live").body)
    conf = live["routes"]["inventory"]["last"]["15m"]["confirmation"]
    assert conf["transient"] == 1 and conf["confirmed"] == 0, conf

    # Cutover readiness leaves the transient mismatch out of the mismatch
    # rate (a sync lag, not a difference), live and from the log alike.
    def mismatch_rate(doc):
        [route] = [x for x in doc["routes"] if x["route"] == "inventory"]
        [c] = [c for c in route["criteria"] if c["criterion"] == "max_mismatch_rate"]
        return c
    live_c = mismatch_rate(json.loads(admin_call(p.admin_port, "GET", "/api/readiness").body))
    assert live_c["ok"] is True and live_c["value"] == 0, live_c
    assert "(0 of 1; 1 transient not counted; limit" in live_c["reason"], live_c
    p.stop()
    out = subprocess.run([SP_BIN, "readiness", "--format", "json", "--rules",
                          rules_file(tmp, {"after_ms": after}, name="again.json"), p.diff_log],
                         capture_output=True, text=True, timeout=30 * SLOW)
    assert out.returncode in (0, 3), out.stderr
    log_c = mismatch_rate(json.loads(out.stdout))
    assert (log_c["ok"], log_c["value"], log_c["reason"]) == \
        (live_c["ok"], live_c["value"], live_c["reason"]), (log_c, live_c)


def test_a_lasting_difference_is_confirmed_with_what_differs(tmp, stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new", args=["--sync-lag-ms", "always"])
    p = proxy(legacy.url, new.url, args=("--rules", rules_file(tmp, {"after_ms": 100})))
    rid, r, body, _ = get(p, f"/api/inventory/{SKUS[1]}")
    assert r.status == 200
    rec = p.wait_record(rid)
    assert rec["verdict"] == "mismatch"
    c = rec["confirmation"]
    assert c["state"] == "confirmed" and c["same"] is True, c
    assert c["differences"] == [{"where": "body", "path": "/qty"}] and c["differences_total"] == 1
    # A HEAD of the same SKU matches (no body to differ): nothing read again.
    rid2, r2, _, _ = get(p, f"/api/inventory/{SKUS[1]}", method="HEAD")
    assert r2.status == 200
    time.sleep(0.5 * SLOW)
    assert all("confirmation" not in x for x in records_for(p, rid2))
    assert len(by_rid(new, rid2)) == 1

    p.stop()
    out = subprocess.run([SP_BIN, "report", "--format", "json", p.diff_log],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode in (0, 3), out.stderr
    [route] = [x for x in json.loads(out.stdout)["routes"] if x["name"] == "inventory"]
    assert route["confirmations"] == {"transient": 0, "confirmed": 1, "failed": 0,
                                      "skipped": 0}, route
    [qty] = [f for f in route["fields"] if f["path"] == "/qty"]
    assert qty["confirmations"] == route["confirmations"], qty
    rows = subprocess.run([SP_BIN, "report", "--format", "csv", p.diff_log], capture_output=True,
                          text=True, timeout=30).stdout
    [row] = [x for x in csv.DictReader(io.StringIO(rows, newline=""))
             if (x["route"], x["path"]) == ("inventory", "/qty")]
    assert [row[f"confirm_{c}"] for c in ("transient", "confirmed", "failed", "skipped")] == \
        ["0", "1", "0", "0"], row
    text = subprocess.run([SP_BIN, "report", p.diff_log], capture_output=True, text=True,
                          timeout=30).stdout
    assert "mismatches read again: 0 transient, 1 confirmed, 0 failed, 0 skipped" in text, text
    html = os.path.join(tmp, "report.html")
    subprocess.run([SP_BIN, "report", "-o", html, p.diff_log], check=True, timeout=30,
                   capture_output=True)
    with open(html) as f:
        assert "<strong>0 transient</strong> (equal on the re-read), <strong>1 confirmed</strong>" \
            in f.read()


@pytest.mark.parametrize("lag,state", [("300", "transient"), ("always", "confirmed")])
def test_a_head_is_read_again_with_a_head(tmp, stubs, proxy, lag, state):
    """A HEAD has no body: its status and compared headers are what differ.
    The stub's X-Stock-Qty header lags with the stock: the first HEAD
    differs there; the re-read is a HEAD on both sides and agrees once the
    lag is over (transient), or never does (confirmed)."""
    legacy = stubs("legacy")
    new = stubs("new", args=["--sync-lag-ms", lag])
    rules = rules_file(tmp, {"after_ms": 900}, headers=["Content-Type", "X-Stock-Qty"])
    p = proxy(legacy.url, new.url, args=("--rules", rules, "--diff-log-mode", "all"))
    rid, r, body, took = get(p, f"/api/inventory/{SKUS[2]}", method="HEAD")
    assert r.status == 200 and body == b"" and took < 0.45, took
    assert int(r.getheader("X-Stock-Qty")) > 0  # legacy's answer, never lagging
    rec = p.wait_record(rid, timeout=10)
    assert rec["method"] == "HEAD" and rec["verdict"] == "mismatch", rec
    assert [(d["where"], d["path"].lower()) for d in rec["differences"]] == \
        [("header", "x-stock-qty")], rec["differences"]
    c = rec["confirmation"]
    assert c["state"] == state and c["after_ms"] == 900, c
    if state == "confirmed":
        assert c["same"] is True and c["differences_total"] == 1, c
        assert [(d["where"], d["path"].lower()) for d in c["differences"]] == \
            [("header", "x-stock-qty")], c
    else:
        assert "differences" not in c, c
    for stub in (legacy, new):  # the client's call and the re-read: HEAD both
        assert [q["method"] for q in by_rid(stub, rid)] == ["HEAD", "HEAD"]
    assert metric(p, f"shadowproxy_confirm_{state}_total") == 1
    assert len(records_for(p, rid)) == 1


def test_writes_are_never_read_again(tmp, stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, args=("--rules", rules_file(tmp, {"after_ms": 50}),
                                         "--diff-log-mode", "all"))
    order = {"customer_id": 7, "currency": "EUR",
             "items": [{"sku": "24-MB02", "qty": 1, "price": 45}]}
    rid = str(uuid.uuid4())
    r, _ = p.request("POST", "/api/orders", body=json.dumps(order),
                     headers={"X-Request-Id": rid, "Content-Type": "application/json"})
    assert r.status in (200, 201)
    rec = p.wait_record(rid)
    assert rec["verdict"] == "mismatch", rec  # the new ERP's generated ids differ
    assert "confirmation" not in rec
    time.sleep(0.5 * SLOW)  # well past after_ms
    assert len(by_rid(legacy, rid)) == 1 and len(by_rid(new, rid)) == 1
    assert metric(p, "shadowproxy_confirm_started_total") == 0


def test_confirm_on_a_write_only_route_is_refused(tmp):
    path = rules_file(tmp, {"after_ms": 100}, methods=("PUT", "POST"))
    out = subprocess.run([SP_BIN, "check", "--rules", path], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode != 0
    assert "re-reads only GET and HEAD" in out.stderr + out.stdout, out.stderr
    assert "rules.json:" in out.stderr + out.stdout  # file:line:column
    bad = os.path.join(tmp, "bad.json")
    with open(bad, "w") as f:
        json.dump({"version": 1, "routes": [{"name": "x", "match": {"path": "/x"},
                                             "confirm": {"after_ms": -1, "max_in_flight": 0,
                                                         "afterms": 3}}]}, f)
    out = subprocess.run([SP_BIN, "check", "--rules", bad], capture_output=True, text=True,
                         timeout=30)
    err = out.stderr + out.stdout
    assert out.returncode != 0 and "after_ms" in err and "max_in_flight" in err, err
    assert "afterms" in err, err


def test_over_budget_is_skipped_and_counted(tmp, stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new", args=["--sync-lag-ms", "always"])
    confirm = {"after_ms": 700, "max_in_flight": 1, "max_per_second": 0.5}
    p = proxy(legacy.url, new.url, args=("--rules", rules_file(tmp, confirm)))
    first, *_ = get(p, f"/api/inventory/{SKUS[0]}")
    time.sleep(0.2)  # the first is compared and waiting
    busy, *_ = get(p, f"/api/inventory/{SKUS[1]}")
    rec = p.wait_record(busy)
    assert rec["confirmation"]["state"] == "skipped"
    assert rec["confirmation"]["reason"] == "over confirm.max_in_flight", rec
    assert p.wait_record(first)["confirmation"]["state"] == "confirmed"
    # The slot is free again, but one every two seconds: the rate says no.
    fast, *_ = get(p, f"/api/inventory/{SKUS[2]}")
    rec = p.wait_record(fast)
    assert rec["confirmation"] == {"state": "skipped", "after_ms": 700,
                                   "reason": "over confirm.max_per_second"}, rec
    assert metric(p, "shadowproxy_confirm_skipped_total") == 2
    assert metric(p, 'shadowproxy_route_confirmations_total{route="inventory",outcome="skipped"}') == 2
    assert metric(p, "shadowproxy_confirm_started_total") == 1
    for rid in (busy, fast):
        assert len(by_rid(new, rid)) == 1  # never asked again


def test_a_drain_writes_the_waiting_record_as_skipped(tmp, stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new", args=["--sync-lag-ms", "always"])
    p = proxy(legacy.url, new.url, args=("--rules", rules_file(tmp, {"after_ms": 60000})))
    rid, r, _, took = get(p, f"/api/inventory/{SKUS[3]}")
    assert r.status == 200 and took < 5
    time.sleep(0.3)
    t0 = time.monotonic()
    assert p.stop() == 0
    assert time.monotonic() - t0 < 15  # the minute-long wait does not hold the exit
    [rec] = records_for(p, rid)
    assert rec["verdict"] == "mismatch"
    assert rec["confirmation"] == {"state": "skipped", "after_ms": 60000,
                                   "reason": "shutting down"}, rec


def test_a_failed_reread_says_so(tmp, stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new", args=["--sync-lag-ms", "always"])
    p = proxy(legacy.url, new.url, args=("--rules", rules_file(tmp, {"after_ms": 800})))
    rid, r, _, _ = get(p, f"/api/inventory/{SKUS[4]}")
    assert r.status == 200
    time.sleep(0.2)
    new.stop()  # gone before the re-read
    rec = p.wait_record(rid)
    c = rec["confirmation"]
    assert c["state"] == "failed" and c["side"] == "new" and "re-read failed" in c["error"], c
    assert metric(p, "shadowproxy_confirm_failed_total") == 1


def test_the_dashboard_counts_transient_and_confirmed(tmp, stubs, proxy):
    import browser as wd
    why = wd.missing()
    if why:
        import pytest
        pytest.skip(f"no headless browser: {why}")
    legacy = stubs("legacy")
    new = stubs("new", args=["--sync-lag-ms", "400"])
    p = proxy(legacy.url, new.url, args=("--rules", rules_file(tmp, {"after_ms": 800})))
    transient, *_ = get(p, f"/api/inventory/{SKUS[0]}")  # lags 400 ms: equal at 800
    # an odd SKU: qty is a string on the new side, a difference no wait mends
    confirmed, *_ = get(p, "/api/inventory/24-MB01")
    assert p.wait_record(transient)["confirmation"]["state"] == "transient"
    assert p.wait_record(confirmed)["confirmation"]["state"] == "confirmed"
    b = wd.Browser()
    try:
        b.get(f"http://127.0.0.1:{p.admin_port}/")
        cell = 'tr.route[data-route="inventory"] .mismatches'
        b.wait(lambda: "confirmed" in (b.find_all(cell) or [None])[0].text
               if b.find_all(cell) else False, 10 * SLOW, "the confirmation counts")
        text = b.find(cell).text
        assert "1 transient, 1 confirmed" in text, text
        rows = b.find_all("#recent tbody tr.recent")
        verdicts = sorted(r.find("td.verdict").text for r in rows)
        assert "mismatch (confirmed)" in verdicts and "mismatch (transient)" in verdicts, verdicts
    finally:
        b.quit()
