"""`shadowproxy report` end to end (docs/report.md).

1. A diff log made by the real proxy between the stub ERPs, with a known
   traffic mix (per route: how many exchanges, which verdicts, which fields
   differ, which sums), checked number by number in `--format json`, in the
   text format, and with the suggested rules run through `shadowproxy check`.
2. Hand-written logs: a torn last line, mixed schema versions and wrong
   types, a 30 MB record, gzip (cut, multi-member), several files and stdin,
   invalid lines, unreadable inputs, time and route filters.
3. --fail-if exit codes and bad arguments.
4. The HTML report as a person sees it, rendered by headless Chromium:
   routes, counts, the highlighted differing path, a `<script>` from the log
   shown as text and never run, nothing fetched from anywhere.
"""
import gzip
import html.parser
import http.client
import json
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from conftest import SANITIZED, SLOW, SP_BIN, Proxy, Stub
from helpers import json_body_ctl

KNOWN = "ERP-123 tax rounding"
CHROMIUM = "/usr/bin/chromium"

RULES = {"version": 1, "routes": [
    {"name": "orders-get", "match": {"methods": ["GET"], "path_glob": "/api/orders/*"}},
    {"name": "inventory-get", "match": {"methods": ["GET"], "path_glob": "/api/inventory/*"},
     "compare": {"ignore": ["/updated_at"]}},
    {"name": "customers-get", "match": {"methods": ["GET"], "path_glob": "/api/customers/*"}},
    {"name": "invoices-get", "match": {"methods": ["GET"], "path_glob": "/api/invoices/*"},
     "compare": {"known": [{"name": KNOWN, "where": "body", "path": "/totals/tax",
                            "kind": "changed"}]}},
    {"name": "slow", "match": {"path_prefix": "/echo/slow"}},
    {"name": "not-mirrored", "match": {"path_prefix": "/echo/nomirror"},
     "mirror": {"enabled": False}},
    {"name": "echo", "match": {"path_prefix": "/echo"}},
]}

ORDERS = range(1, 13)        # tax is a cent higher on new for ids divisible by 3
INVOICES = range(1, 10)      # the same cent, accepted by a known rule
CUSTOMERS = range(1, 11)     # odd ids lose their lastname on new
SKUS = ["24-MB01", "24-MB04", "24-MB03", "24-MB05", "24-UG06", "MH01-M-Black",
        "WT09-M-White", "24-WG085", "FOO-9", "24-WG02", "MS04-S-Blue"]
ODD_SKUS = [s for s in SKUS if s[-1] in "13579"]  # qty is a string on new
DOC = {"ok": True, "n": 7}


def report(*args, stdin=None, timeout=20):
    """Runs `shadowproxy report ...`; no sanitizer report allowed."""
    r = subprocess.run([SP_BIN, "report", *args], input=stdin, capture_output=True,
                       timeout=timeout * SLOW)
    err = r.stderr.decode(errors="replace")
    for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error"):
        assert bad not in err, err[-4000:]
    r.err = err
    r.text = r.stdout.decode(errors="replace")
    return r


def report_json(*args, stdin=None, ok=(0,)):
    r = report("--format", "json", *args, stdin=stdin)
    assert r.returncode in ok, r.err
    return json.loads(r.stdout), r


def route(doc, name):
    return next(x for x in doc["routes"] if x["name"] == name)


def fields(rt):
    return {(f["where"], f["path"], f["kind"]): f for f in rt["fields"]}


def nearest_rank(values, q):
    values = sorted(values)
    rank = max(1, -(-int(q * len(values) * 1000) // 1000))  # ceil(q*n) without float noise
    return values[min(rank, len(values)) - 1]


# ---- 1. a log made by the real proxy ---------------------------------------------------

class Traffic:
    """One proxy run with a known traffic mix; the stubs are asked directly
    for the sums the reconciliation must find."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.rules = os.path.join(tmp, "rules.json")
        with open(self.rules, "w") as f:
            json.dump(RULES, f)
        self.legacy = Stub(tmp, "legacy", "legacy")
        self.new = Stub(tmp, "new", "new")
        self.proxy = None
        try:
            self.expected_sums()
            self.proxy = Proxy(tmp, self.legacy.url, self.new.url,
                               config={"shadow": {"timeout_ms": 400 * SLOW}},
                               args=("--rules", self.rules, "--diff-log-mode", "all"))
            self.send_all()
            recs = self.proxy.wait_records(self.total, timeout=15)
            assert len(recs) == self.total, f"{len(recs)} records of {self.total}"
            assert self.proxy.stop() == 0
            self.records = self.proxy.records()
            self.log = self.proxy.diff_log
        finally:
            if self.proxy and self.proxy.proc.poll() is None:
                self.proxy.proc.kill()
                self.proxy.proc.wait()
            self.legacy.stop()
            self.new.stop()

    def get(self, stub, path):
        c = http.client.HTTPConnection("127.0.0.1", stub.port, timeout=10 * SLOW)
        c.request("GET", path)
        body = c.getresponse().read()
        c.close()
        return json.loads(body, parse_float=Decimal)

    def expected_sums(self):
        """{route: {side: {"grand_total": Decimal, "tax": Decimal}}} straight from the stubs."""
        self.sums = {}
        for rname, prefix, ids in (("orders-get", "/api/orders/", ORDERS),
                                   ("invoices-get", "/api/invoices/", INVOICES)):
            per = {}
            for side, stub in (("legacy", self.legacy), ("new", self.new)):
                docs = [self.get(stub, f"{prefix}{i}") for i in ids]
                assert all(d["currency"] == "EUR" for d in docs)
                per[side] = {k: sum(Decimal(str(d["totals"][k])) for d in docs)
                             for k in ("grand_total", "tax")}
            self.sums[rname] = per

    def send_all(self):
        c = http.client.HTTPConnection("127.0.0.1", self.proxy.port, timeout=10 * SLOW)
        self.ids = {}

        def send(rname, path, rid, ctl=None, legacy=None, new=None):
            h = {"X-Request-Id": rid}
            for k, v in (("X-Stub-Ctl", ctl), ("X-Stub-Ctl-legacy", legacy), ("X-Stub-Ctl-new", new)):
                if v:
                    h[k] = v
            c.request("GET", path, headers=h)
            c.getresponse().read()
            self.ids.setdefault(rname, []).append(rid)

        for i in ORDERS:
            send("orders-get", f"/api/orders/{i}", f"ord-{i}")
        for s in SKUS:
            send("inventory-get", f"/api/inventory/{s}", f"inv-{s}")
        for i in CUSTOMERS:
            send("customers-get", f"/api/customers/{i}", f"cus-{i}")
        for i in INVOICES:
            send("invoices-get", f"/api/invoices/{i}", f"invc-{i}")
        same = json_body_ctl(DOC)
        for i in range(5):
            send("slow", "/echo/slow", f"slow-{i}", ctl=same, new="delay=80")
        for i in range(2):
            send("not-mirrored", "/echo/nomirror", f"nomirror-{i}", ctl=same)
        for i in range(3):
            send("echo", "/echo/x", f"echo-match-{i}", ctl=same)
        for i in range(2):
            send("echo", "/echo/x", f"echo-500-{i}", ctl=same, new="status=500")
        for i in range(2):
            send("echo", "/echo/x", f"echo-reset-{i}", ctl=same, new="reset")
        for i in range(2):
            send("echo", "/echo/x", f"echo-slowshadow-{i}", ctl=same, new="delay=3000")
        for i in range(2):
            c.close()  # the client sees a 502 and the proxy may close: a fresh connection
            send("echo", "/echo/x", f"echo-legacy-down-{i}", ctl=same, legacy="close")
        c.close()
        self.total = sum(len(v) for v in self.ids.values())


EXPECTED_VERDICTS = {
    "orders-get": {"mismatch": 12},        # updated_at is the new ERP's clock on every order
    "inventory-get": {"mismatch": len(ODD_SKUS), "match": len(SKUS) - len(ODD_SKUS)},
    "customers-get": {"mismatch": 5, "match": 5},
    "invoices-get": {"known": 3, "match": 6},
    "slow": {"match": 5},
    "not-mirrored": {"skipped": 2},
    "echo": {"match": 3, "mismatch": 2, "shadow_error": 2, "shadow_timeout": 2,
             "authoritative_error": 2},
}
VERDICTS = ["match", "mismatch", "known", "shadow_error", "shadow_timeout", "shadow_dropped",
            "skipped", "authoritative_error", "other"]


@pytest.fixture(scope="module")
def traffic():
    d = tempfile.mkdtemp(prefix="sp-e2e-report-")
    try:
        yield Traffic(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


SUM_ARGS = ("--sum", "/totals/grand_total@/currency", "--sum", "/totals/tax")


def test_known_traffic_counts_per_route_and_verdict(traffic):
    doc, r = report_json(*SUM_ARGS, traffic.log)
    assert doc["report_version"] == 1
    assert doc["inputs"] == [{"path": traffic.log, "lines": traffic.total, "records": traffic.total,
                              "used": traffic.total, "torn": 0, "invalid": 0, "too_long": 0,
                              "duplicate": False, "error": None}]
    assert doc["records"]["read"] == doc["records"]["used"] == traffic.total
    assert doc["schema_versions"] == {"1": traffic.total}
    assert doc["logged_matches"] is True and doc["rates_over"] == "all_exchanges"
    assert {x["name"] for x in doc["routes"]} == set(EXPECTED_VERDICTS)
    for name, want in EXPECTED_VERDICTS.items():
        rt = route(doc, name)
        got = {k: v for k, v in rt["verdicts"].items() if v}
        assert got == want, (name, got)
        assert rt["exchanges"] == sum(want.values()) == len(traffic.ids[name])
        compared = sum(want.get(k, 0) for k in ("match", "mismatch", "known"))
        assert rt["compared"] == compared
        if compared:
            assert rt["rates"]["match"] == round(want.get("match", 0) / compared, 6)
            assert rt["rates"]["mismatch"] == round(want.get("mismatch", 0) / compared, 6)
        else:
            assert rt["rates"]["match"] is None
    tot = doc["totals"]
    assert tot["exchanges"] == traffic.total
    for v in VERDICTS:
        assert tot["verdicts"][v] == sum(want.get(v, 0) for want in EXPECTED_VERDICTS.values())
    assert tot["errors"] == 6  # shadow errors + timeouts + authoritative errors
    # routes are listed most exchanges first
    ex = [x["exchanges"] for x in doc["routes"]]
    assert ex == sorted(ex, reverse=True)


def test_known_traffic_differing_fields(traffic):
    doc, _ = report_json(traffic.log)
    orders = fields(route(doc, "orders-get"))
    assert set(orders) == {("body", "/updated_at", "changed"), ("body", "/totals/tax", "changed")}
    tax = orders[("body", "/totals/tax", "changed")]
    assert tax["exchanges"] == tax["occurrences"] == 4
    assert tax["share"] == round(4 / 12, 6)
    assert tax["known"] is None
    assert 1 <= len(tax["sample_ids"]) <= 3
    assert set(tax["sample_ids"]) <= {f"ord-{i}" for i in ORDERS if i % 3 == 0}
    ex = tax["example"]
    assert round(ex["new"] - ex["legacy"], 2) == 0.01 and ex["truncated"] is False
    upd = orders[("body", "/updated_at", "changed")]
    assert upd["exchanges"] == 12 and upd["share"] == 1.0

    inv = fields(route(doc, "inventory-get"))
    assert set(inv) == {("body", "/qty", "type")}
    q = inv[("body", "/qty", "type")]
    assert q["exchanges"] == len(ODD_SKUS)
    assert isinstance(q["example"]["legacy"], int) and q["example"]["new"] == str(q["example"]["legacy"])

    cus = fields(route(doc, "customers-get"))
    assert set(cus) == {("body", "/lastname", "removed")}
    ln = cus[("body", "/lastname", "removed")]
    assert ln["exchanges"] == 5 and "legacy" in ln["example"] and "new" not in ln["example"]
    assert set(ln["sample_ids"]) <= {f"cus-{i}" for i in CUSTOMERS if i % 2}

    invc = fields(route(doc, "invoices-get"))
    assert set(invc) == {("body", "/totals/tax", "changed")}
    k = invc[("body", "/totals/tax", "changed")]
    assert k["known"] == KNOWN and k["exchanges"] == 3

    echo = fields(route(doc, "echo"))
    assert set(echo) == {("status", "", "changed")}
    st = echo[("status", "", "changed")]
    assert st["exchanges"] == 2 and st["example"]["legacy"] == 200 and st["example"]["new"] == 500
    assert set(st["sample_ids"]) == {"echo-500-0", "echo-500-1"}
    for name in ("slow", "not-mirrored"):
        assert route(doc, name)["fields"] == []


def test_known_traffic_reconciliation(traffic):
    doc, _ = report_json(*SUM_ARGS, traffic.log)
    for name, ids in (("orders-get", ORDERS), ("invoices-get", INVOICES)):
        rec = route(doc, name)["reconciliation"]
        assert rec["legacy_2xx"] == rec["new_2xx"] == rec["both_2xx"] == len(ids)
        gt, tax = rec["sums"]
        assert gt["path"] == "/totals/grand_total" and gt["group_by"] == "/currency"
        assert [g["group"] for g in gt["groups"]] == ["EUR"]
        g = gt["groups"][0]
        want = traffic.sums[name]
        for side in ("legacy", "new"):
            assert Decimal(g[side]["text"]) == want[side]["grand_total"], (name, side)
            assert g[side]["count"] == len(ids)
        assert Decimal(g["gap_text"]) == 0
        assert tax["group_by"] is None and [x["group"] for x in tax["groups"]] == [None]
        t = tax["groups"][0]
        assert Decimal(t["legacy"]["text"]) == want["legacy"]["tax"]
        assert Decimal(t["new"]["text"]) == want["new"]["tax"]
        assert Decimal(t["gap_text"]) == Decimal("0.01") * sum(1 for i in ids if i % 3 == 0)
        assert gt["missing"] == {"legacy": 0, "new": 0} and gt["unusable"] == {"legacy": 0, "new": 0}
    # routes whose bodies have no totals: every 2xx JSON body lacks the field
    cus = route(doc, "customers-get")["reconciliation"]["sums"][0]
    assert cus["groups"] == [] and cus["missing"] == {"legacy": 10, "new": 10}
    echo = route(doc, "echo")["reconciliation"]
    assert echo["legacy_2xx"] == 9  # all but the two the legacy side dropped
    tot = doc["totals"]["reconciliation"]["sums"][0]["groups"][0]
    assert Decimal(tot["legacy"]["text"]) == sum(traffic.sums[n]["legacy"]["grand_total"]
                                                 for n in ("orders-get", "invoices-get"))


def test_known_traffic_latency_and_drift(traffic):
    doc, _ = report_json(traffic.log)
    by_route = {}
    for rec in traffic.records:
        for side in ("legacy", "new"):
            leg = rec[side]
            if isinstance(leg.get("status"), int) and isinstance(leg.get("duration_ms"), (int, float)):
                by_route.setdefault(rec["route"], {}).setdefault(side, []).append(leg["duration_ms"])
    for name, sides in by_route.items():
        lat = route(doc, name)["latency_ms"]
        for side, values in sides.items():
            assert lat[side]["samples"] == len(values)
            for q, key in ((0.5, "p50"), (0.99, "p99")):
                assert abs(lat[side][key] - nearest_rank(values, q)) <= 0.002, (name, side, key)
    slow = route(doc, "slow")["latency_ms"]
    assert slow["new"]["p50"] >= 80 and slow["delta"]["p50"] >= 50  # the new side's 80 ms
    assert route(doc, "not-mirrored")["latency_ms"]["new"]["samples"] == 0
    drift = doc["drift"]
    assert drift["bucket_seconds"] == 60  # a short run: the finest width of the ladder
    for rt in doc["routes"]:
        assert len(rt["drift"]["exchanges"]) == drift["buckets"]
        assert sum(rt["drift"]["exchanges"]) == rt["exchanges"]
        assert sum(rt["drift"]["mismatches"]) == rt["verdicts"]["mismatch"]
        assert sum(rt["drift"]["errors"]) == rt["errors"]


def test_text_report_fits_80_columns_with_whole_ids(traffic, tmp):
    """Without --wide the text fits 80 columns (or COLUMNS): the tables are
    narrower, the sample ids go on lines of their own and stay whole, the
    prose wraps. COLUMNS of 100 or more, or --wide, is the 100-column one."""
    # the sample ids the report picked (records leave the comparers in any
    # order, so which ids are first varies): every one shows whole
    doc = json.loads(subprocess.run([SP_BIN, "report", "--format", "json", *SUM_ARGS, traffic.log],
                                    capture_output=True, timeout=30 * SLOW).stdout)
    ids = sorted({i for rt in doc["routes"] for f in rt.get("fields", []) for i in f.get("sample_ids", [])})
    assert ids
    long_id = "x" * 90  # an id wider than the terminal: whole all the same
    recs = [rec(long_id if i == 0 else f"r{i}") for i in range(3)]
    path = write(tmp, "ids.jsonl", "".join(line(r) for r in recs))
    for env in ({}, {"COLUMNS": "80"}, {"COLUMNS": "60"}):
        r = subprocess.run([SP_BIN, "report", *SUM_ARGS, traffic.log], capture_output=True,
                           env={**{k: v for k, v in os.environ.items() if k != "COLUMNS"}, **env},
                           timeout=30 * SLOW)
        text = r.stdout.decode()
        assert r.returncode == 0
        too_wide = [ln for ln in text.splitlines() if display_width(ln) > 80]
        assert not too_wide, too_wide
        assert all(re.search(rf"\b{i}\b", text) for i in ids)
        assert re.search(r"^ +ids [\w-]+", text, re.M), text
    r = subprocess.run([SP_BIN, "report", traffic.log], capture_output=True, timeout=30 * SLOW,
                       env={**os.environ, "COLUMNS": "120"})
    assert max(display_width(ln) for ln in r.stdout.decode().splitlines()) > 80
    text = report(path).text
    assert long_id in text  # whole, on its own line
    assert [ln for ln in text.splitlines() if display_width(ln) > 80] == \
        [ln for ln in text.splitlines() if long_id in ln]


def test_drift_shows_the_error_rate_with_labelled_axes(traffic, tmp):
    """Beside the mismatch rate, the error rate: an "errors" row under each
    route with errors (text), a line over the bars with a legend and
    labelled axes (HTML)."""
    text = report("--wide", traffic.log).text
    drift = text[text.index("drift:"):]
    rows = drift.split("\n")
    echo = next(i for i, r in enumerate(rows) if r.strip().startswith("echo"))
    assert rows[echo + 1].strip().startswith("errors") and "max 54.5%" in rows[echo + 1], drift
    orders = next(i for i, r in enumerate(rows) if r.strip().startswith("orders-get"))
    assert not rows[orders + 1].strip().startswith("errors")  # no errors, no row
    out = os.path.join(tmp, "r.html")
    assert report("-o", out, traffic.log).returncode == 0
    page = open(out).read()
    assert page.count('<polyline class="err"') >= 2  # all routes, and echo
    for label in ("time (UTC)", "rate, max", "error rate (of exchanges)", "mismatch rate (of compared)"):
        assert label in page
    assert "errors of" in page  # the tooltips


def test_known_traffic_noise_suggestion_is_valid_rules(traffic, tmp):
    doc, _ = report_json(traffic.log)
    orders = route(doc, "orders-get")
    assert [(s["path"], s["ignore"], s["reason"]) for s in orders["suggestions"]] == [
        ("/updated_at", "/updated_at", "date-time values")]
    assert orders["suggested_rules"] == {"compare": {"ignore": ["/updated_at"]}}
    for rt in doc["routes"]:  # a real bug (tax, qty, lastname) is never called noise
        if rt["name"] != "orders-get":
            assert rt["suggestions"] == [] and rt["suggested_rules"] is None
    # pasted into the rules file as the report says, it loads
    rules = json.loads(json.dumps(RULES))
    r0 = next(x for x in rules["routes"] if x["name"] == "orders-get")
    r0.setdefault("compare", {}).update(orders["suggested_rules"]["compare"])
    path = os.path.join(tmp, "rules-suggested.json")
    with open(path, "w") as f:
        json.dump(rules, f)
    chk = subprocess.run([SP_BIN, "check", "--rules", path], capture_output=True, text=True,
                         timeout=10 * SLOW)
    assert chk.returncode == 0, chk.stdout + chk.stderr


def display_width(line):
    return len(line)  # one column per code point: the report writes no wide characters itself


def test_known_traffic_text_report(traffic):
    r = report("--wide", *SUM_ARGS, traffic.log)
    assert r.returncode == 0, r.err
    text = r.text
    for name in EXPECTED_VERDICTS:
        assert f"== {name} ==" in text
    too_wide = [ln for ln in text.splitlines() if display_width(ln) > 100]
    assert not too_wide, too_wide
    assert re.search(r"^  orders-get\s+12\s+0\s+12\s+0\s", text, re.M)
    assert re.search(r"^  echo\s+11\s+3\s+2\s+0\s+2\s+2\s+0\s+0\s+2$", text, re.M)
    assert '"compare": {"ignore": ["/updated_at"]}' in text
    assert "body   /totals/tax" in text and "/lastname" in text
    assert re.search(r"^    EUR\s", text, re.M)
    assert "drift: mismatch rate, and the error rate" in text
    assert "ord-3" in text  # sample ids beside their field, whole
    # mode `mismatches`: the same log without its matches
    path = os.path.join(os.path.dirname(traffic.log), "mismatches-only.jsonl")
    with open(traffic.log) as src, open(path, "w") as dst:
        dst.writelines(ln for ln in src if json.loads(ln)["verdict"] != "match")
    doc, _ = report_json("--route", "orders-get", traffic.log)  # no match on the route, but in the log
    assert doc["logged_matches"] is True and route(doc, "orders-get")["rates"]["match"] == 0.0
    doc, _ = report_json(path)
    assert doc["logged_matches"] is False and doc["rates_over"] == "logged_records"
    assert route(doc, "orders-get")["rates"]["mismatch"] == 1.0
    r = report(path)
    assert "no `match` record" in r.text and "mismatches" in r.text
    assert "drift: mismatches, and the error rate" in r.text


# ---- 2. hand-written logs ----------------------------------------------------------------

def rec(rid, route_name="r", verdict="mismatch", ts="2026-11-24T13:00:00.000Z", diffs=None,
        legacy=None, new=None, **extra):
    r = {"v": 1, "id": rid, "ts": ts, "route": route_name, "method": "GET", "uri": "/x",
         "authority": "legacy", "verdict": verdict,
         "legacy": legacy or {"attempted": True, "status": 200, "body": None, "body_format": "none",
                              "body_bytes": 0, "duration_ms": 10.0, "error": None},
         "new": new or {"attempted": True, "status": 200, "body": None, "body_format": "none",
                        "body_bytes": 0, "duration_ms": 12.0, "error": None},
         "differences": diffs if diffs is not None else
         ([{"where": "body", "path": "/a", "kind": "changed", "legacy": 1, "new": 2}]
          if verdict == "mismatch" else [])}
    r.update(extra)
    return r


def line(r):
    return json.dumps(r, separators=(",", ":")) + "\n"


def write(tmp, name, text, gz=False):
    path = os.path.join(tmp, name)
    data = text.encode() if isinstance(text, str) else text
    with open(path, "wb") as f:
        f.write(gzip.compress(data) if gz else data)
    return path


def test_suggestions_only_for_changing_values(tmp):
    """A field missing on one side in every exchange is a structural bug, not
    noise, even when its values all differ; a timestamp that changes is."""
    recs = [rec(f"s{i}", diffs=[
        {"where": "body", "path": "/lastname", "kind": "removed", "legacy": f"Name{i}"},
        {"where": "body", "path": "/updated_at", "kind": "changed",
         "legacy": f"2026-11-24 13:{i:02d}:00", "new": f"2026-11-24T13:{i:02d}:07Z"}])
        for i in range(12)]
    doc, _ = report_json(write(tmp, "struct.jsonl", "".join(line(r) for r in recs)))
    assert [s["path"] for s in route(doc, "r")["suggestions"]] == ["/updated_at"]


def test_torn_last_line_invalid_lines_and_versions(tmp):
    odd = [
        rec("v2", verdict="match", v=2, extra_field={"x": 1}),           # newer version: read
        {k: v for k, v in rec("nov", verdict="match").items() if k != "v"},
        rec("vstr", verdict="match", v="1"),
        rec("types", route_name=42, verdict=7, legacy={"status": "200", "duration_ms": "fast"},
            new=[], differences="none"),
        rec("diffs", diffs=[1, None, {"where": 3}, {"path": "/b", "kind": "added", "new": 1}]),
        rec("nots", ts="yesterday"),
        rec("unknown", verdict="exploded"),
    ]
    text = line(rec("a")) + "\n" + "not json\n" + "[1,2]\n" + "".join(line(x) for x in odd) + \
        line(rec("b"))[:40]
    path = write(tmp, "torn.jsonl", text)
    doc, r = report_json(path)
    assert doc["inputs"][0]["torn"] == 1 and doc["inputs"][0]["invalid"] == 2
    assert doc["inputs"][0]["records"] == 8 and doc["inputs"][0]["lines"] == 12
    assert "torn" in r.err and "not a JSON object" in r.err
    assert doc["schema_versions"] == {"1": 5, "2": 1, "missing": 1, "not an integer": 1}
    assert doc["records"]["without_ts"] == 1
    names = {x["name"]: x for x in doc["routes"]}
    assert set(names) == {"r", "(no route)"}
    assert names["(no route)"]["verdicts"]["other"] == 1
    r_ = names["r"]
    assert r_["verdicts"]["other"] == 1 and r_["verdicts"]["match"] == 3
    f = fields(r_)
    assert f[("body", "/a", "changed")]["exchanges"] == 2  # "a" and "nots"
    assert f[("?", "", "?")]["exchanges"] == 1
    assert f[("?", "/b", "added")]["example"] == {"new": 1, "truncated": False}  # no "where"
    txt = report(path)
    assert txt.returncode == 0 and "torn last line" in txt.text
    assert "v=2: 1" in txt.text


def test_gzip_rotated_files_several_at_once_and_stdin(tmp):
    t0 = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)

    def ts(minutes):
        return (t0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    old = "".join(line(rec(f"o{i}", route_name="orders", ts=ts(i), verdict="match" if i % 4 else "mismatch"))
                  for i in range(0, 100))
    rotated = write(tmp, "diffs.jsonl.2.gz", old, gz=True)
    # a replica's log compressed as two members (`cat a.gz b.gz`), cut inside a line
    mid = "".join(line(rec(f"m{i}", route_name="stock", ts=ts(100 + i))) for i in range(50))
    half = len(mid) // 2
    multi = os.path.join(tmp, "replica2.jsonl.gz")
    with open(multi, "wb") as f:
        f.write(gzip.compress(mid[:half].encode()) + gzip.compress(mid[half:].encode()))
    # a cut gzip: what came before the cut counts, the cut is reported as torn
    cut_src = gzip.compress("".join(line(rec(f"c{i}", route_name="stock", ts=ts(200 + i // 10)))
                                    for i in range(200)).encode())
    cut = write(tmp, "cut.jsonl.gz", cut_src[:len(cut_src) * 2 // 3])
    current = "".join(line(rec(f"n{i}", route_name="orders", ts=ts(300 + i), verdict="match"))
                      for i in range(20))
    doc, r = report_json(rotated, multi, cut, "-", stdin=current.encode())
    ins = {os.path.basename(i["path"]): i for i in doc["inputs"]}
    assert ins["diffs.jsonl.2.gz"]["records"] == 100
    assert ins["replica2.jsonl.gz"]["records"] == 50 and ins["replica2.jsonl.gz"]["invalid"] == 0
    assert 0 < ins["cut.jsonl.gz"]["records"] < 200 and ins["cut.jsonl.gz"]["torn"] == 1
    assert ins["-"]["records"] == 20
    n_cut = ins["cut.jsonl.gz"]["records"]
    assert doc["records"]["used"] == 170 + n_cut
    o = route(doc, "orders")
    assert o["verdicts"]["mismatch"] == 25 and o["verdicts"]["match"] == 95
    assert route(doc, "stock")["exchanges"] == 50 + n_cut
    assert doc["time_range"]["first"] == ts(0)
    assert doc["drift"]["bucket_seconds"] == 15 * 60  # 320 minutes: 22 buckets of 15m
    assert doc["drift"]["buckets"] == 22
    # the same file twice is read once
    doc2, r2 = report_json(rotated, rotated)
    assert doc2["records"]["used"] == 100 and doc2["inputs"][1]["duplicate"] is True
    assert "read once" in r2.err


def test_huge_record_unreadable_inputs_and_directory(tmp):
    big = "x" * (10 << 20)  # three times in the record: a 30 MB line
    huge = rec("huge", diffs=[{"where": "body", "path": "/blob", "kind": "changed",
                               "legacy": big, "new": big + "y"}],
               legacy={"attempted": True, "status": 200, "body": big, "body_format": "text",
                       "body_bytes": len(big), "duration_ms": 1.0, "error": None})
    path = write(tmp, "huge.jsonl", line(rec("small")) + line(huge) + line(rec("after")))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.monotonic()
    doc, r = report_json(path, os.path.join(tmp, "missing.jsonl"), tmp, ok=(1,))
    took = time.monotonic() - t
    assert took < 10 * SLOW
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if not SANITIZED and rss > before:  # kB; a few copies of the 30 MB line at most
        assert rss < 400 * 1024, rss
    assert r.returncode == 1
    assert "missing.jsonl" in r.err and tmp in r.err
    ins = doc["inputs"]
    assert ins[0]["records"] == 3 and ins[0]["error"] is None
    assert "missing.jsonl" in ins[1]["error"] and "No such file" in ins[1]["error"]
    assert ins[2]["error"] is not None
    f = fields(route(doc, "r"))[("body", "/blob", "changed")]
    assert f["example"]["truncated"] is True
    assert len(f["example"]["legacy"]) < 1000 and len(f["example"]["new"]) < 1000
    assert route(doc, "r")["exchanges"] == 3
    # HTML and text of it stay small, and the report still exits 1 for the missing file
    out = os.path.join(tmp, "huge.html")
    h = report("-o", out, path)
    assert h.returncode == 0 and os.path.getsize(out) < 2 << 20


def test_filters_time_and_route(tmp):
    now = datetime.now(timezone.utc)

    def ago(**kw):
        return (now - timedelta(**kw)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    recs = [rec("h3", route_name="a", ts=ago(hours=3)), rec("m90", route_name="a", ts=ago(minutes=90)),
            rec("m10", route_name="b", ts=ago(minutes=10)), rec("nots", route_name="b", ts=None)]
    path = write(tmp, "f.jsonl", "".join(line(x) for x in recs))
    doc, _ = report_json("--since", "2h", path)
    assert doc["records"]["used"] == 2 and doc["records"]["filtered_by_time"] == 2
    doc, _ = report_json("--until", "1h", path)
    assert doc["records"]["used"] == 2
    doc, _ = report_json("--since", "2h", "--until", "30m", path)
    assert [x["name"] for x in doc["routes"]] == ["a"] and doc["records"]["used"] == 1
    doc, _ = report_json("--route", "b", path)
    assert [x["name"] for x in doc["routes"]] == ["b"] and doc["records"]["used"] == 2
    assert doc["records"]["without_ts"] == 1
    doc, _ = report_json("--route", "b", "--route", "nothing-here", path)
    assert {x["name"]: x["exchanges"] for x in doc["routes"]} == {"b": 2, "nothing-here": 0}
    since = (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc, _ = report_json("--since", since, path)
    assert doc["records"]["used"] == 2
    day = now.strftime("%Y-%m-%d")
    doc, _ = report_json("--until", day, path)  # before today's midnight
    assert doc["records"]["used"] == sum(1 for x in recs[:3] if x["ts"] < day)


# ---- 3. --fail-if and bad arguments --------------------------------------------------

def test_fail_if_exit_codes(traffic, tmp):
    log = traffic.log
    r = report("--fail-if", "mismatches>=5", log)
    assert r.returncode == 3 and "mismatches>=5 holds" in r.err
    r = report("--fail-if", "mismatch_rate>0.1%", "--fail-if", "errors>100", log)
    assert r.returncode == 3
    assert "mismatch_rate>0.1% holds" in r.err and "errors>100" not in r.err
    assert report("--fail-if", "errors>100", "--fail-if", "mismatch_rate>99%", log).returncode == 0
    assert report("--fail-if", "errors>0", log).returncode == 3
    assert report("--fail-if", "route:invoices-get:mismatches>0", log).returncode == 0
    assert report("--fail-if", "route:invoices-get:known>=3", log).returncode == 3
    assert report("--fail-if", "route:customers-get:mismatch_rate>=50%", log).returncode == 3
    assert report("--fail-if", "route:customers-get:mismatch_rate>50%", log).returncode == 0
    assert report("--fail-if", "route:slow:p50_delta_ms>50", log).returncode == 3
    assert report("--fail-if", "route:slow:p50_delta_ms > 5000ms", log).returncode == 0
    # a rate with no compared exchange is no data: it never holds, and says so
    r = report("--fail-if", "route:not-mirrored:mismatch_rate>=0%", log)
    assert r.returncode == 0 and "no data" in r.err
    # in the JSON and text reports too
    doc, r = report_json("--fail-if", "route:echo:shadow_errors==2", log, ok=(3,))
    assert doc["fail_if"] == [{"expr": "route:echo:shadow_errors==2", "route": "echo",
                               "metric": "shadow_errors", "op": "==", "threshold": 2.0,
                               "value": 2.0, "holds": True}]
    assert "HOLDS" in report("--fail-if", "errors>0", log).text
    # an unreadable input wins over a gate: the report is incomplete
    assert report("--fail-if", "errors>0", log, os.path.join(tmp, "nope")).returncode == 1
    torn = write(tmp, "t.jsonl", line(rec("a")) + '{"v":1')
    assert report("--fail-if", "torn_lines>0", torn).returncode == 3
    assert report("--fail-if", "invalid_lines>0", torn).returncode == 0
    # a route the logs never name (a typo) is a usage error, not a silent pass
    out = os.path.join(tmp, "never.txt")
    r = report("--fail-if", "route:invoices-gte:mismatches>0", "-o", out, log)
    assert r.returncode == 2 and 'no record of route "invoices-gte"' in r.err
    assert not os.path.exists(out)
    r = report("--since", "2001-01-01", "--until", "2001-01-02", "--fail-if",
               "route:invoices-get:mismatches>0", log)
    assert r.returncode == 2 and "within --since/--until" in r.err


@pytest.mark.parametrize("args, message", [
    (["--fail-if", "mismatch_rate>>1%"], "expected a number"),
    (["--fail-if", "bogus>1"], "unknown metric"),
    (["--fail-if", "errors>1%"], "% only goes with a rate"),
    (["--fail-if", "mismatch_rate>5"], "fraction from 0 to 1"),
    (["--fail-if", "mismatch_rate"], "expected one of"),
    (["--fail-if", "route:x:torn_lines>0"], "not a route"),
    (["--fail-if", "route::errors>0"], "route:NAME:"),
    (["--since", "yesterday"], "--since"),
    (["--until", "2026-13-01"], "--until"),
    (["--since", "1h", "--until", "2h"], "--since must be before --until"),
    (["--format", "xml"], "one of text, json, html"),
    (["--sum", "totals/x"], "JSON Pointer"),
    (["--sum", "/a@"], "JSON Pointer"),
    (["--top", "-1"], "--top"),
    (["--bogus"], "unknown option --bogus"),
    (["--route"], "needs a value"),
    ([], "no diff log given"),
])
def test_bad_arguments_exit_2(tmp, args, message):
    path = write(tmp, "ok.jsonl", line(rec("a")))
    r = report(*([path] if args else []), *args)
    assert r.returncode == 2, r.err
    assert message in r.err and "--help" in r.err
    assert r.stdout == b""


def test_help():
    r = report("--help")
    assert r.returncode == 0 and r.err == ""
    for opt in ("--since", "--until", "--route", "--format", "-o", "--sum", "--fail-if", "Exit status"):
        assert opt in r.text


def test_output_file_is_written_whole(tmp):
    path = write(tmp, "a.jsonl", line(rec("a")))
    out = os.path.join(tmp, "r.json")
    r = report("-o", out, path)  # the extension chooses the format
    assert r.returncode == 0 and r.stdout == b""
    with open(out) as f:
        assert json.load(f)["report_version"] == 1
    assert os.stat(out).st_mode & 0o777 == 0o600
    assert sorted(os.listdir(tmp)) == ["a.jsonl", "r.json"]  # no temporary file left
    r = report("-o", os.path.join(tmp, "no-such-dir", "r.txt"), path)
    assert r.returncode == 1 and "no-such-dir" in r.err


# ---- 4. HTML as a person sees it ----------------------------------------------------------

HOSTILE = "<script>document.title='pwned'</script>"


class Visible(html.parser.HTMLParser):
    """The DOM as text and elements, as Chromium serialized it."""

    def __init__(self):
        super().__init__()
        self.tags, self.text, self.marks, self.attrs = [], [], [], []
        self._in_mark = 0
        self._title = False
        self.title = ""

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)
        if tag == "mark":
            self._in_mark += 1
            self.marks.append("")
        self._title = tag == "title" and not self.title  # the page's, not an SVG tooltip

    def handle_endtag(self, tag):
        if tag == "mark":
            self._in_mark -= 1
        self._title = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_mark:
            self.marks[-1] += data
        if self._title:
            self.title += data


def hostile_log(tmp):
    body_l = {"id": 7, "totals": {"tax": 2.66, "grand_total": 21.61}, "note": HOSTILE,
              "items": [{"sku": "MB01", "qty": 1}]}
    body_n = {"id": 7, "totals": {"tax": 2.67, "grand_total": 21.61}, "note": HOSTILE,
              "items": [{"sku": "MB01", "qty": 2}]}
    leg = {"attempted": True, "status": 200, "headers": [], "body_format": "json", "body_bytes": 10,
           "duration_ms": 5.0, "error": None}
    recs = [rec(f"ord-{i}", route_name="orders-get", verdict="match") for i in range(3)]
    recs.append(rec("ord-7", route_name="orders-get",
                    legacy=dict(leg, body=body_l), new=dict(leg, body=body_n),
                    diffs=[{"where": "body", "path": "/totals/tax", "kind": "changed",
                            "legacy": 2.66, "new": 2.67},
                           {"where": "body", "path": "/items/sku=MB01/qty", "kind": "changed",
                            "legacy": 1, "new": 2}]))
    recs.append(rec(f"id-{HOSTILE}", route_name=HOSTILE,
                    diffs=[{"where": "body", "path": "/<img src=x onerror=alert(1)>", "kind": "changed",
                            "legacy": HOSTILE, "new": "javascript:alert(1)"}]))
    return write(tmp, "hostile.jsonl", "".join(line(x) for x in recs))


def test_html_report_in_chromium(tmp):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (make test-deps installs it)")
    log = hostile_log(tmp)
    out = os.path.join(tmp, "report.html")
    r = report("--format", "html", "-o", out, "--sum", "/totals/grand_total", log)
    assert r.returncode == 0, r.err
    with open(out, encoding="utf-8") as f:
        raw = f.read()
    # self-contained: nothing to fetch, no script
    assert "http://" not in raw and "https://" not in raw
    for attr, value in re.findall(r'\s(src|href|action|xlink:href)\s*=\s*"([^"]*)"', raw):
        assert attr == "href" and value.startswith("#"), (attr, value)
    assert "<script" not in raw and "<link" not in raw and "@import" not in raw
    assert HOSTILE not in raw  # only escaped
    dom = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                          "--no-first-run", "--disable-extensions", "--dump-dom", f"file://{out}"],
                         capture_output=True, text=True, timeout=60)
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = Visible()
    page.feed(dom.stdout)
    text = "".join(page.text)
    assert page.title == "shadowproxy report"        # the injected script did not run
    assert "script" not in page.tags and "img" not in page.tags
    assert HOSTILE in text                             # shown as text, as written
    assert "/<img src=x onerror=alert(1)>" in text
    assert "orders-get" in text and "Route orders-get" in text
    assert re.search(r"orders-get\s*4\s*75\.0%\s*25\.0%", text)  # exchanges, match %, mismatch %
    marked = [m.replace("\n", " ") for m in page.marks]
    assert any('"tax": 2.66' in m for m in marked) and any('"tax": 2.67' in m for m in marked)
    assert any('"qty": 1' in m for m in marked) and any('"qty": 2' in m for m in marked)
    assert not any("grand_total" in m for m in marked)  # equal values are not highlighted
    assert "21.61" in text and "Reconciliation" in text and "Drift" in text
    assert all(v.startswith("#") for k, v in page.attrs if k == "href")


def test_same_instant_suggests_normalize_not_ignore(tmp):
    """The report decides like `rules suggest`: a date-time that is the same
    instant written in another zone is a normalize, not an ignore; one that
    differs in a minority of exchanges gets nothing."""
    recs = [rec(f"n{i}", diffs=[
        {"where": "body", "path": "/created_at", "kind": "changed",
         "legacy": f"2024-01-01 07:{i:02d}:12", "new": f"2024-01-01T08:{i:02d}:12+01:00"},
        {"where": "body", "path": "/qty", "kind": "type", "legacy": 16, "new": "16"}]
        if i < 4 else [{"where": "body", "path": "/created_at", "kind": "changed",
                        "legacy": f"2024-01-01 07:{i:02d}:12", "new": f"2024-01-01T08:{i:02d}:12+01:00"}])
        for i in range(12)]
    doc, _ = report_json(write(tmp, "n.jsonl", "".join(line(r) for r in recs)))
    r = route(doc, "r")
    assert [(s["path"], s["rule"]) for s in r["suggestions"]] == [("/created_at", "normalize")]
    assert r["suggestions"][0]["ignore"] is None
    assert r["suggested_rules"] == {"compare": {"normalize": [{"path": "/created_at", "datetime": True}]}}
    text = report("--wide", write(tmp, "n2.jsonl", "".join(line(r) for r in recs))).text
    assert '"datetime": true' in text and "the same instant written differently" in text


def leg(status, total=None, error=None, attempted=True):
    body = {"totals": {"grand_total": total}} if total is not None else None
    return {"attempted": attempted, "status": status, "body": body,
            "body_format": "json" if body else "none", "body_bytes": 10,
            "duration_ms": 5.0 if status else None, "error": error}


def test_reconciliation_gap_over_both_2xx_one_sided_money_apart(tmp):
    """The gap is over exchanges both sides answered 2xx; money on an
    exchange only one side answered is shown apart with the reason, so a
    failing new side is not read as missing money. A route whose bodies
    lack the field gets no empty table."""
    recs = [rec("b1", verdict="match", legacy=leg(200, "10.00"), new=leg(200, "10.00")),
            rec("b2", verdict="mismatch", legacy=leg(200, "5.50"), new=leg(200, "5.49")),
            rec("t1", verdict="shadow_timeout", legacy=leg(200, "100.00"), new=leg(None, error="timeout: 400 ms")),
            rec("e1", verdict="shadow_error", legacy=leg(200, "7.00"), new=leg(None, error="connection reset: x")),
            rec("n1", verdict="mismatch", legacy=leg(200, "3.00"), new=leg(500)),
            rec("d1", verdict="shadow_dropped", legacy=leg(200, "2.00"), new=leg(None, attempted=False)),
            rec("x1", route_name="other", verdict="match", legacy=leg(200), new=leg(200))]
    path = write(tmp, "rec.jsonl", "".join(line(r) for r in recs))
    doc, _ = report_json("--sum", "/totals/grand_total", path)
    s = route(doc, "r")["reconciliation"]["sums"][0]
    g = s["groups"][0]
    assert g["legacy"]["text"] == "15.50" and g["new"]["text"] == "15.49" and g["gap_text"] == "-0.01"
    one = s["one_sided"]["legacy"]
    assert one["timeout"] == {"count": 1, "sum": 100.0, "text": "100.00"}
    assert one["error"]["text"] == "7.00" and one["non-2xx"]["text"] == "3.00"
    assert one["not sent"]["count"] == 1
    assert s["one_sided"]["new"]["timeout"]["count"] == 0
    text = report("--wide", "--sum", "/totals/grand_total", path).text
    assert "only one side answered 2xx (not in the gap): legacy 7.00 in 1 exchange (new: error); " \
        "legacy 100.00 in 1 exchange (new: timeout)" in text, text
    html_path = os.path.join(tmp, "r.html")
    assert report("--sum", "/totals/grand_total", "-o", html_path, path).returncode == 0
    page = open(html_path).read()
    other = page[page.index("<code>other</code></h2>"):]
    assert "no exchange both sides answered 2xx with a number there" in other
    assert "<table><caption>sum of" not in other.split("</section>")[0]


def test_csv_per_field_table(tmp):
    """--format csv (or -o x.csv): the per-field table, RFC 4180, formula-like
    cells neutralised."""
    import csv
    import io
    recs = [rec(f"c{i}", diffs=[
        {"where": "body", "path": "/a,b", "kind": "changed", "legacy": "=HYPERLINK(1)", "new": 'say "hi"'}])
        for i in range(3)] + [rec("m", verdict="match")]
    path = write(tmp, "c.jsonl", "".join(line(r) for r in recs))
    r = report("--format", "csv", path)
    assert r.returncode == 0 and r.stdout.startswith(b"route,where,path,kind,known,exchanges,")
    assert b"\r\n" in r.stdout
    rows = list(csv.DictReader(io.StringIO(r.stdout.decode(), newline="")))
    assert len(rows) == 1
    row = rows[0]
    assert row["route"] == "r" and row["path"] == "/a,b" and row["exchanges"] == "3"
    assert row["share"] == "0.750000" and row["sample_ids"] == "c0 c1 c2"
    assert row["legacy"] == '"=HYPERLINK(1)"' and row["new"] == '"say \\"hi\\""'
    out = os.path.join(tmp, "f.csv")
    assert report("-o", out, path).returncode == 0
    assert open(out, "rb").read() == r.stdout
    assert report("--format", "xls", path).returncode == 2
    # a cell a spreadsheet would run as a formula gets a leading '
    recs = [rec("=cmd|x", diffs=[{"where": "body", "path": "/p", "kind": "changed", "legacy": 1, "new": 2}])]
    r = report("--format", "csv", write(tmp, "f.jsonl", line(recs[0])))
    assert "'=cmd|x" in r.stdout.decode()


def test_csv_and_json_count_confirmations_per_field(tmp):
    """A route with rules "confirm": of the exchanges where a field differed,
    how many were transient, confirmed, failed or skipped on the re-read,
    in the CSV's confirm_* columns and each JSON field's confirmations."""
    import csv
    import io

    def diff(path):
        return {"where": "body", "path": path, "kind": "changed", "legacy": 1, "new": 2}

    def conf(state):
        return {"confirmation": {"state": state, "after_ms": 50}}
    recs = [rec(f"t{i}", route_name="inv", diffs=[diff("/qty")], **conf("transient"))
            for i in range(3)] + \
        [rec("c0", route_name="inv", diffs=[diff("/qty"), diff("/price")], **conf("confirmed")),
         rec("f0", route_name="inv", diffs=[diff("/price")], **conf("failed")),
         rec("s0", route_name="inv", diffs=[diff("/qty"), diff("/qty")], **conf("skipped")),
         rec("n0", route_name="plain", diffs=[diff("/a")])]
    path = write(tmp, "conf.jsonl", "".join(line(r) for r in recs))
    r = report("--format", "csv", path)
    assert r.returncode == 0, r.err
    head = r.stdout.split(b"\r\n")[0].decode()
    assert head.endswith(",noise_exchanges,noise_share,confirm_transient,confirm_confirmed,"
                         "confirm_failed,confirm_skipped"), head
    rows = {(x["route"], x["path"]): x for x in
            csv.DictReader(io.StringIO(r.stdout.decode(), newline=""))}
    cols = ("exchanges", "confirm_transient", "confirm_confirmed", "confirm_failed",
            "confirm_skipped")
    assert [rows[("inv", "/qty")][c] for c in cols] == ["5", "3", "1", "0", "1"]
    assert [rows[("inv", "/price")][c] for c in cols] == ["2", "0", "1", "1", "0"]
    assert [rows[("plain", "/a")][c] for c in cols] == ["1", "0", "0", "0", "0"]
    assert all(None not in x and len(x) == len(head.split(",")) for x in rows.values())
    doc, _ = report_json(path)
    fields = {f["path"]: f["confirmations"] for f in route(doc, "inv")["fields"]}
    assert fields["/qty"] == {"transient": 3, "confirmed": 1, "failed": 0, "skipped": 1}
    assert fields["/price"] == {"transient": 0, "confirmed": 1, "failed": 1, "skipped": 0}
    assert route(doc, "inv")["confirmations"] == {"transient": 3, "confirmed": 1, "failed": 1,
                                                  "skipped": 1}


def test_baseline_between_two_runs(tmp):
    """--baseline OLD: routes and fields that appeared, disappeared, rose or
    fell since the earlier run."""
    def diff(path):
        return {"where": "body", "path": path, "kind": "changed", "legacy": 1, "new": 2}
    old = [rec(f"o{i}", diffs=[diff("/a")] + ([diff("/b")] if i < 5 else [])) for i in range(10)] + \
          [rec(f"g{i}", route_name="gone", verdict="match") for i in range(3)] + \
          [rec(f"s{i}", route_name="same", diffs=[diff("/s")]) for i in range(4)]
    new = [rec(f"n{i}", diffs=[diff("/a")] + ([diff("/b")] if i < 1 else []) + [diff("/c")])
           for i in range(10)] + \
          [rec(f"w{i}", route_name="fresh") for i in range(2)] + \
          [rec(f"t{i}", route_name="same", diffs=[diff("/s")]) for i in range(4)]
    po = write(tmp, "old.jsonl", "".join(line(r) for r in old))
    pn = write(tmp, "new.jsonl", "".join(line(r) for r in new))
    doc, _ = report_json("--baseline", po, pn)
    bl = doc["baseline"]
    assert bl["old_records"] == 17 and bl["new_records"] == 16
    routes = {r["name"]: r["change"] for r in bl["routes"]}
    assert routes == {"fresh": "appeared", "gone": "disappeared"}
    fields = {(f["route"], f["path"]): (f["change"], f["old_share"], f["new_share"]) for f in bl["fields"]}
    assert fields[("r", "/b")] == ("fell", 0.5, 0.1)
    assert fields[("r", "/c")] == ("appeared", 0.0, 1.0)
    assert ("r", "/a") not in fields and ("same", "/s") not in fields
    assert fields[("fresh", "/a")][0] == "appeared"
    text = report("--baseline", po, pn).text
    assert "baseline: since the earlier run (17 records; this run 16)" in text
    assert "route gone disappeared" in text and "/b" in text and "fell: 50.0% -> 10.0%" in text
    assert report_json(pn)[0]["baseline"] is None
    r = report("--baseline", os.path.join(tmp, "missing.jsonl"), pn)
    assert r.returncode == 1 and "baseline" in r.err
    # HTML: a Baseline section with both tables, values escaped
    h = report("--format", "html", "--baseline", po, pn).text
    sec = h[h.index('<section id="baseline">'):]
    sec = sec[:sec.index("</section>")]
    assert "17 records; this run 16" in sec and 'href="#baseline"' in h
    assert "<td>gone</td><td>disappeared</td>" in sec and "<td>fresh</td><td>appeared</td>" in sec
    assert "<td>/b</td><td>changed</td><td>-</td><td>fell</td><td class=\"n\">50.0%</td><td class=\"n\">10.0%</td>" in sec
    assert 'id="baseline"' not in report("--format", "html", pn).text
    # CSV: the changes instead of the per-field table
    import csv
    import io
    r = report("--format", "csv", "--baseline", po, pn)
    assert r.returncode == 0 and r.stdout.startswith(b"scope,route,where,path,kind,known,change,old,new,")
    rows = list(csv.DictReader(io.StringIO(r.stdout.decode(), newline="")))
    byk = {(x["scope"], x["route"], x["path"]): x for x in rows}
    assert byk[("route", "gone", "")]["change"] == "disappeared"
    assert byk[("route", "gone", "")]["new_exchanges"] == "0"
    b = byk[("field", "r", "/b")]
    assert (b["change"], float(b["old"]), float(b["new"])) == ("fell", 0.5, 0.1)
    assert byk[("field", "r", "/c")]["change"] == "appeared"
    assert len(rows) == len(bl["routes"]) + len(bl["fields"])
