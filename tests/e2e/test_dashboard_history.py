"""The dashboard's history (docs/operations.md, "The dashboard"): GET
/api/history reads the diff log on disk backwards, a page at a time, with
filters (route, endpoint, field, verdict, time, request id), a hard cap on
the bytes read per call, hostile lines skipped, a rotated log refused as a
cursor; GET /api/history/OFFSET gives one whole record. And in a real
Chromium: the history table, the request-id search, a click from a field
of a record's differences to the exchanges that differ there."""
import json
import os
import signal
import time
import uuid

import pytest

from conftest import SLOW, wait_port
from helpers import admin_call as call
from test_dashboard import browser  # noqa: F401 (the fixture: one headless Chromium)

TOKEN = "sp-hist-" + uuid.uuid4().hex
VIEW = "sp-hist-view-" + uuid.uuid4().hex
TOKEN_ENV = "SP_HIST_TOKEN"


def rec(i, route="orders", verdict="mismatch", path="/total", endpoint=None, crid=None, uri=None,
        noise_path=None):
    r = {"id": f"r{i:04d}", "ts": f"2026-12-07T10:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
         "route": route, "method": "GET", "uri": uri or f"/api/{route}/{i}",
         "authority": "legacy", "verdict": verdict,
         "differences": [{"where": "body", "path": path, "kind": "changed",
                          "legacy": i, "new": i + 1}] if verdict == "mismatch" else [],
         "legacy": {"status": 200, "body_format": "json", "body": {"n": i}},
         "new": {"status": 200, "body_format": "json", "body": {"n": i + 1}}}
    if noise_path:  # a difference the two legacy answers had too (3-way noise)
        r["differences"].append({"where": "body", "path": noise_path, "kind": "changed",
                                 "legacy": "a", "new": "b", "noise": True})
    if endpoint:
        r["endpoint"] = endpoint
    if crid:
        r["client_request_id"] = crid
    return json.dumps(r, separators=(",", ":")) + "\n"


@pytest.fixture
def start(tmp, stubs, proxy, monkeypatch):
    """start(lines) -> (proxy, admin port): a diff log holding `lines`
    (bytes or str) before the proxy starts, an operator token and a viewer."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)

    def go(lines=()):
        log = os.path.join(tmp, "diffs.jsonl")
        with open(log, "wb") as f:
            for line in lines:
                f.write(line.encode() if isinstance(line, str) else line)
        view_file = os.path.join(tmp, "viewer.token")
        with open(view_file, "w") as f:
            f.write(VIEW + "\n")
        cfg = {"admin": {"token_env": TOKEN_ENV, "tokens": [
            {"name": "qa", "role": "viewer", "token_file": view_file}]}}
        p = proxy(stubs("legacy").url, stubs("new").url, config=cfg, diff_log=log)
        wait_port(p.admin_port, p.proc)
        return p, p.admin_port
    return go


def page(port, query="", token=VIEW, status=200):
    a = call(port, "GET", "/api/history" + (("?" + query) if query else ""), token=token)
    assert a.status == status, (query, a.status, a.body[:300])
    return a.json()


def ids(pg):
    return [r["id"] for r in pg["records"]]


# ---- the API ---------------------------------------------------------------------------

def test_pages_go_back_through_the_whole_log_newest_first(start):
    p, port = start([rec(i) for i in range(120)])
    first = page(port)  # a viewer may read it
    assert ids(first) == [f"r{i:04d}" for i in range(119, 69, -1)]
    assert first["next_before"] > 0 and not first["scan_capped"]
    s = first["records"][0]
    assert s["route"] == "orders" and s["verdict"] == "mismatch" and s["differences"] == 1
    assert s["status"] == {"legacy": 200, "new": 200} and isinstance(s["offset"], int)
    seen = ids(first)
    pg = first
    while pg["next_before"] is not None:
        pg = page(port, f"before={pg['next_before']}&limit=50&log={pg['log']}")
        seen += ids(pg)
    assert seen == [f"r{i:04d}" for i in range(119, -1, -1)]
    assert len(pg["records"]) == 20
    # one whole record from a summary's offset; a mid-line offset is not one
    whole = call(port, "GET", f"/api/history/{s['offset']}", token=VIEW).json()
    assert whole["id"] == "r0119" and whole["new"]["body"] == {"n": 120}
    assert call(port, "GET", f"/api/history/{s['offset'] + 3}", token=VIEW).status == 404
    assert call(port, "GET", "/api/history/99999999", token=VIEW).status == 404
    assert call(port, "GET", "/api/history/x", token=VIEW).status == 404
    # no token: refused
    assert call(port, "GET", "/api/history").status == 401


def test_filters_and_request_id_search(start):
    lines = []
    for i in range(200):
        route = "stock" if i % 4 == 0 else "orders"
        verdict = "known" if i % 10 == 5 else "mismatch"
        path = "/lines/sku=MB01/qty" if i % 7 == 0 else "/total"
        endpoint = "GET /api/stock/{id}" if route == "stock" else None
        lines.append(rec(i, route, verdict, path, endpoint, crid=f"client-{i}"))
    p, port = start(lines)
    assert {r["route"] for r in page(port, "route=stock&limit=200")["records"]} == {"stock"}
    assert len(page(port, "route=stock&limit=200")["records"]) == 50
    eps = page(port, "endpoint=GET%20/api/stock/%7Bid%7D&limit=200")["records"]
    assert len(eps) == 50 and all(r["endpoint"] == "GET /api/stock/{id}" for r in eps)
    assert ids(page(port, "verdict=known&limit=200")) == [f"r{i:04d}" for i in range(195, 0, -10)]
    field = page(port, "field=/lines/sku%3DMB01/qty&route=orders&limit=200")
    assert ids(field) == [f"r{i:04d}" for i in range(199, -1, -1) if i % 7 == 0 and i % 4 and i % 10 != 5]
    # time: i = 65..70 are 10:01:05 .. 10:01:10 (until is inclusive at its precision)
    assert ids(page(port, "since=2026-12-07T10:01:05&until=2026-12-07T10:01:10Z")) == \
        [f"r{i:04d}" for i in range(70, 64, -1)]
    assert ids(page(port, "since=2026-12-07T10:03")) == [f"r{i:04d}" for i in range(199, 179, -1)]
    # the proxy's id, and the client's X-Request-Id
    assert ids(page(port, "id=r0042")) == ["r0042"]
    assert ids(page(port, "id=client-42")) == ["r0042"]
    assert page(port, "id=r0042")["records"][0]["fields"] == ["/lines/sku=MB01/qty"]  # 42 % 7 == 0
    assert page(port, "id=r0045")["records"][0]["fields"] == []  # known: no differences listed here
    assert ids(page(port, "id=nobody")) == [] and page(port, "id=nobody")["next_before"] is None
    # bad input: a clear 400
    for q in ("limit=0", "limit=201", "limit=x", "before=-1", "before=abc", "since=yesterday",
              "until=2026-13", "rout=orders", "route=" + "x" * 600):
        assert "error" in page(port, q, status=400), q
    assert page(port, "before=999999999", status=400)["error"].startswith("before")


def test_hostile_lines_are_skipped_and_each_call_reads_a_bounded_amount(start):
    huge_junk = b"x" * (40 << 20) + b"\n"  # one 40 MiB line, over every cap
    huge_rec = rec(1, uri="/" + "y" * (9 << 20))  # a record over the 8 MiB line cap
    lines = [rec(0), huge_junk, rec(2), "not json\n", "[1,2]\n", huge_rec,
             rec(3, uri="/<img src=x onerror=alert(1)>"), rec(4)]
    p, port = start(lines)
    pg = page(port, "limit=10")
    assert ids(pg) == ["r0004", "r0003", "r0002"]
    assert pg["records"][1]["uri"] == "/<img src=x onerror=alert(1)>"
    # the 9 MiB record, and the 40 MiB line found too long before the budget ran out
    assert pg["skipped"]["too_long"] == 2 and pg["skipped"]["invalid"] == 2
    assert pg["scan_capped"] and pg["scanned_bytes"] <= pg["limits"]["scan_bytes"]
    got, n = ids(pg), 0
    while pg["next_before"] is not None:
        n += 1
        assert n < 10, "paging made no progress"
        prev = pg["next_before"]
        pg = page(port, f"limit=10&before={prev}&log={pg['log']}")
        assert pg["scanned_bytes"] <= pg["limits"]["scan_bytes"]
        assert pg["next_before"] is None or pg["next_before"] < prev
        got += ids(pg)
    assert got == ["r0004", "r0003", "r0002", "r0000"]
    # the proxy lived through it
    assert call(port, "GET", "/healthz").status == 200
    assert p.proc.poll() is None
    with open(p.diff_log, "w") as f:  # the fixture checks every line is whole JSON at the end
        f.write(rec(5))


def test_a_rotated_log_refuses_the_old_cursor_and_reads_the_new_file(start):
    p, port = start([rec(i) for i in range(80)])
    first = page(port)
    rotated = p.diff_log + ".1"
    os.rename(p.diff_log, rotated)
    with open(p.diff_log, "w") as f:
        for i in range(500, 503):
            f.write(rec(i))
    p.signal(signal.SIGUSR1)  # logrotate's reopen
    deadline = time.monotonic() + 5 * SLOW
    while "event=difflog_reopened" not in p.stderr() and time.monotonic() < deadline:
        time.sleep(0.02)
    a = call(port, "GET", f"/api/history?before={first['next_before']}&log={first['log']}", token=VIEW)
    assert a.status == 409 and "rotated" in a.json()["error"], a
    now = page(port)
    assert ids(now) == ["r0502", "r0501", "r0500"] and now["log"] != first["log"]
    assert now["next_before"] is None


def test_no_diff_log_yet_is_a_clear_error(start):
    p, port = start()
    os.unlink(p.diff_log)
    a = call(port, "GET", "/api/history", token=VIEW)
    assert a.status == 503 and "cannot read the diff log" in a.json()["error"], a


# ---- in the browser --------------------------------------------------------------------------

def history_ids(b):
    return [tr.find("td.uri").text for tr in b.find_all("#history tbody tr")]


def test_history_search_and_a_click_from_a_field_to_its_exchanges(browser, start):
    lines = [rec(i, path="/lines/sku=MB01/qty" if i % 9 == 0 else "/total", crid=f"cli-{i}",
                 noise_path="/served_nonce" if i % 10 == 5 else None)
             for i in range(130)]
    lines.append(rec(130, uri="/<img src=x onerror=window.pwned=1>"))
    p, port = start(lines)
    base = f"http://127.0.0.1:{port}"
    browser.delete_cookies()
    browser.get(base + "/")
    field = browser.wait(lambda: browser.find("input[name=token]"), what="the login form")
    field.send_keys(TOKEN)
    browser.find("button[type=submit]").click()
    # the first page: 50 records, newest first, beyond the in-memory list (empty here)
    browser.wait(lambda: len(browser.find_all("#history tbody tr")) == 50, 10 * SLOW, "history")
    uris = history_ids(browser)
    assert uris[0] == "/<img src=x onerror=window.pwned=1>" and uris[1] == "/api/orders/129"
    assert browser.execute("return window.pwned === undefined")
    older = browser.find("#history-older")
    older.click()
    browser.wait(lambda: len(browser.find_all("#history tbody tr")) == 100, 10 * SLOW, "page 2")
    assert history_ids(browser)[99] == "/api/orders/31"
    # the fields table: each field of the records shown, with how many differ there
    # and beside it the share that differs and the share that was noise
    fields = {(tr.find("td.route").text, tr.find("td.path").text):
              (tr.find("td.num").text, tr.find("td.differs").text, tr.find("td.noise").text)
              for tr in browser.find_all("#fields tbody tr")}
    assert fields == {("orders", "/total"): ("89", "89.0%", "0.0%"),
                      ("orders", "/lines/sku=MB01/qty"): ("11", "11.0%", "0.0%"),
                      ("orders", "/served_nonce"): ("10", "10.0%", "10.0%")}, fields
    want = [f"/api/orders/{i}" for i in range(126, -1, -9)]
    [b for b in browser.find_all("#fields button.field") if b.text == "/lines/sku=MB01/qty"][0].click()
    browser.wait(lambda: history_ids(browser) == want, 10 * SLOW, "the field's exchanges (fields table)")
    browser.find("#h-clear").click()
    browser.wait(lambda: len(browser.find_all("#history tbody tr")) == 50, 10 * SLOW, "cleared")
    # search by the client's request id
    browser.find("#h-id").send_keys("cli-17")
    browser.find("#h-search").click()
    browser.wait(lambda: history_ids(browser) == ["/api/orders/17"], 10 * SLOW, "the id search")
    browser.find("#history tbody tr").click()
    browser.wait(lambda: "GET /api/orders/17" in browser.find("#detail-title").text, 10 * SLOW, "detail")
    # a record with the field, then a click on it: that field's exchanges
    browser.execute('document.querySelector("#h-id").value = ""')
    browser.find("#h-id").send_keys("cli-18")
    browser.find("#h-search").click()
    browser.wait(lambda: history_ids(browser) == ["/api/orders/18"], 10 * SLOW, "the id search")
    browser.find("#history tbody tr").click()
    browser.wait(lambda: browser.find_all("#difftable button.field")
                 and "18" in browser.find("#detail-title").text, 10 * SLOW, "detail 18")
    btn = browser.find("#difftable button.field")
    assert btn.text == "/lines/sku=MB01/qty"
    btn.click()
    browser.wait(lambda: history_ids(browser) == want, 10 * SLOW, "the field's exchanges")
    assert browser.find("#h-field").prop("value") == "/lines/sku=MB01/qty"
    assert browser.find("#h-route").prop("value") == "orders"
    assert not [m for m in browser.console() if "Content Security Policy" in m.get("message", "")]
