"""`shadowproxy readiness`: the cutover scorecard (docs/readiness.md). One
proxy run against two stubs with a known mix of payments and stock reads;
then the scorecard is read back in every format, against the criteria of
the rules file's "readiness" sections, and its exit status gates."""
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import SLOW, SP_BIN, Proxy, Stub
from helpers import json_body_ctl

PAY_READINESS = {
    "min_exchanges": 10, "max_mismatch_rate": 0.1, "max_error_rate": 0.05,
    "max_p99_delta_ms": 5000,
    "money": {"path": "/total", "group": "/currency", "max_gap": 0.01},
    "coverage": [
        {"field": "/payment/method", "in": "request", "min_count": 3, "min_match_rate": 0.9},
        {"field": "/currency", "in": "response", "min_count": 1},
    ],
}
RULES = {"version": 1,
         "defaults": {"readiness": {"max_error_rate": 0.05}},
         "routes": [
             {"name": "pay", "match": {"methods": ["POST"], "path": "/echo/pay"},
              "mirror": {"methods": ["POST"]}, "readiness": PAY_READINESS},
             {"name": "stock", "match": {"methods": ["GET"], "path": "/echo/stock"},
              "readiness": {"min_exchanges": 5}},
             {"name": "never", "match": {"path": "/never"}, "readiness": {"min_exchanges": 1}},
             {"name": "writes-off", "match": {"path": "/echo/off"}, "mirror": {"enabled": False},
              "readiness": {"required": False}},
         ],
         "default": {"readiness": {"required": False}}}

# (method, amount on legacy, amount on new, currency, count)
PAYMENTS = [("checkmo", 19.99, 19.99, "EUR", 12), ("card", 5.5, 5.5, "EUR", 3),
            ("card", 5.5, 6.5, "EUR", 1), ("banktransfer", 1.25, 1.25, "USD", 1)]


class Run:
    def __init__(self, tmp):
        self.tmp = tmp
        self.rules = self.write("rules.json", RULES)
        legacy, new = Stub(tmp, "legacy", "plain"), Stub(tmp, "new", "plain")
        proxy = None
        try:
            proxy = Proxy(tmp, legacy.url, new.url, args=("--rules", self.rules,
                                                          "--diff-log-mode", "all"))
            n = 0
            for method, l_amount, n_amount, cur, count in PAYMENTS:
                for _ in range(count):
                    h = {"Content-Type": "application/json",
                         "X-Stub-Ctl": json_body_ctl({"total": l_amount, "currency": cur})}
                    if n_amount != l_amount:
                        h["X-Stub-Ctl-new"] = json_body_ctl({"total": n_amount, "currency": cur})
                    body = json.dumps({"payment": {"method": method}, "lines": 1})
                    r, _ = proxy.request("POST", "/echo/pay", body=body, headers=h)
                    assert r.status == 200
                    n += 1
            for _ in range(6):
                proxy.request("GET", "/echo/stock", headers={"X-Stub-Ctl": json_body_ctl({"qty": 3})})
                n += 1
            for _ in range(2):
                proxy.request("POST", "/echo/off", body="{}", headers={"Content-Type": "application/json"})
                n += 1
            assert len(proxy.wait_records(n, timeout=15)) == n
            assert proxy.stop() == 0
            self.log = proxy.diff_log
        finally:
            if proxy and proxy.proc.poll() is None:
                proxy.proc.kill()
                proxy.proc.wait()
            legacy.stop()
            new.stop()

    def write(self, name, obj):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(obj if isinstance(obj, str) else json.dumps(obj, indent=2))
        return path


@pytest.fixture(scope="module")
def run():
    d = tempfile.mkdtemp(prefix="sp-e2e-scorecard-")
    try:
        yield Run(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def readiness(*args):
    return subprocess.run([SP_BIN, "readiness", *args], capture_output=True, text=True,
                          timeout=30 * SLOW)


def scorecard(run, *args):
    r = readiness("--rules", run.rules, "--format", "json", *args, run.log)
    assert r.returncode in (0, 3), r.stderr
    return r.returncode, json.loads(r.stdout)


def route(doc, name):
    return next(r for r in doc["routes"] if r["route"] == name)


def crit(rt, name, field=None):
    return next(c for c in rt["criteria"]
                if c["criterion"] == name and (field is None or c.get("field") == field))


def test_each_criterion_judged_with_its_reason(run):
    rc, doc = scorecard(run)
    assert rc == 3 and doc["ready"] is False
    assert doc["routes_required"] == 3 and doc["routes_ready"] == 1
    pay = route(doc, "pay")
    assert (pay["ready"], pay["exchanges"], pay["compared"]) == (False, 17, 17)
    assert crit(pay, "min_exchanges")["ok"] is True
    mm = crit(pay, "max_mismatch_rate")
    assert mm["ok"] is True and mm["value"] == pytest.approx(1 / 17, abs=1e-6)
    assert "1 of 17" in mm["reason"]
    assert crit(pay, "max_error_rate")["ok"] is True
    assert crit(pay, "max_p99_delta_ms")["ok"] is True
    money = crit(pay, "money_gap")
    assert money["ok"] is False
    groups = {g["group"]: g for g in money["groups"]}
    assert groups["EUR"]["ok"] is False and groups["EUR"]["gap"] == "1.00"
    assert groups["EUR"]["legacy"] == "261.88" and groups["EUR"]["new"] == "262.88"
    assert groups["USD"]["ok"] is True and groups["USD"]["gap"] == "0.00"
    assert "EUR 1.00 (legacy 261.88, new 262.88)" in money["reason"]
    method = crit(pay, "coverage", "/payment/method")
    assert method["ok"] is False and method["in"] == "request"
    values = {v["value"]: v for v in method["values"]}
    assert (values["checkmo"]["compared"], values["checkmo"]["ok"]) == (12, True)
    assert (values["card"]["compared"], values["card"]["agreed"]) == (4, 3)
    assert method["rare"] == ["banktransfer"] and method["below_match_rate"] == ["card"]
    assert '"banktransfer" (1)' in method["reason"] and '"card" 75%' in method["reason"]
    cur = crit(pay, "coverage", "/currency")
    assert cur["in"] == "response" and cur["below_match_rate"] == ["EUR"] and cur["rare"] == []
    stock = route(doc, "stock")
    assert stock["ready"] is True and stock["compared"] == 6
    assert crit(stock, "max_error_rate")["limit"] == 0.05  # from "defaults"
    never = route(doc, "never")  # criteria, no traffic: no evidence, not ready
    assert never["ready"] is False and never["exchanges"] == 0
    assert crit(never, "min_exchanges")["reason"] == "0 compared exchanges (need 1)"
    off = route(doc, "writes-off")  # skipped only: not ready, but not required
    assert off["required"] is False and off["ready"] is False and off["exchanges"] == 2


def test_text_and_html_say_the_same(run):
    r = readiness("--rules", run.rules, run.log)
    assert r.returncode == 3, r.stderr
    out = r.stdout
    assert out.startswith("shadowproxy readiness: NOT READY: 1 of 3 required routes ready\n")
    assert "\npay: NOT READY (17 exchanges, 17 compared)\n" in out
    assert re.search(r"^  FAIL  money_gap: 1 of 2 groups over 0.01: EUR 1.00", out, re.M)
    assert re.search(r"^  ok    max_mismatch_rate: mismatch rate 5.882% \(1 of 17; limit 10%\)", out, re.M)
    assert re.search(r'^  FAIL  coverage: /payment/method \(request\): 3 values; compared fewer than 3 '
                     r'times: "banktransfer" \(1\); agreeing below 90%: "card" 75%$', out, re.M)
    assert re.search(r"^          card: 4 seen, 4 compared, 75.0% agreeing  <-$", out, re.M)
    assert "\nstock: READY (6 exchanges, 6 compared)\n" in out
    assert "\nwrites-off: NOT READY (not required)" in out
    html = os.path.join(run.tmp, "card.html")
    r = readiness("--rules", run.rules, "-o", html, run.log)
    assert r.returncode == 3 and r.stdout == ""
    assert oct(os.stat(html).st_mode & 0o777) == "0o600"
    page = open(html).read()
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert '<span class="fail">NOT READY: 1 of 3 required routes ready</span>' in page
    assert "&quot;banktransfer&quot; (1)" in page and '"banktransfer"' not in page


def test_ready_exits_0_and_since_filters(run):
    relaxed = json.loads(json.dumps(RULES))
    relaxed["routes"][0]["readiness"]["required"] = False
    relaxed["routes"][2]["readiness"]["required"] = False
    path = run.write("relaxed.json", relaxed)
    r = readiness("--rules", path, "--format", "json", run.log)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["ready"] is True and doc["routes_required"] == 1
    assert route(doc, "never")["required"] is False
    # nothing after --since: no evidence, so not ready
    rc, doc = scorecard(run, "--since", "2099-01-01")
    assert rc == 3 and doc["records"] == 0
    assert {x["route"] for x in doc["routes"]} == {"pay", "stock", "never", "writes-off"}
    assert all(x["exchanges"] == 0 for x in doc["routes"])
    # without --rules: the built-in criteria (100 compared exchanges)
    r = readiness("--format", "json", run.log)
    assert r.returncode == 3
    doc = json.loads(r.stdout)
    assert crit(route(doc, "pay"), "min_exchanges")["reason"] == "17 compared exchanges (need 100)"


def test_usage_unreadable_and_bad_rules(run):
    r = readiness(run.log, "--bogus")
    assert r.returncode == 2 and "unknown option --bogus" in r.stderr
    r = readiness("--rules", run.rules)
    assert r.returncode == 2 and "no diff log given" in r.stderr
    r = readiness("--format", "csv", run.log)
    assert r.returncode == 2 and "one of text, json, html" in r.stderr
    r = readiness("--rules", run.rules, os.path.join(run.tmp, "missing.jsonl"))
    assert r.returncode == 1 and "missing.jsonl" in r.stderr
    r = readiness("--rules", os.path.join(run.tmp, "nope.json"), run.log)
    assert r.returncode == 1 and "cannot read the rules file" in r.stderr
    bad = run.write("bad.json", '{"version": 1, "routes": [{"name": "p", "match": {"path": "/p"},\n'
                                '  "readiness": {"max_mismatch_rate": 5,\n'
                                '                "coverage": [{"field": "payment"}]}}]}\n')
    r = readiness("--rules", bad, run.log)
    assert r.returncode == 2
    assert "bad.json:3:" in r.stderr and "max_mismatch_rate must be between 0 and 1, got 5" in r.stderr
    assert "must be a JSON Pointer such as /payment/method" in r.stderr
    c = subprocess.run([SP_BIN, "check", "--rules", bad], capture_output=True, text=True)
    assert c.returncode != 0 and "max_mismatch_rate must be between 0 and 1" in c.stderr
    c = subprocess.run([SP_BIN, "check", "--rules", run.rules], capture_output=True, text=True)
    assert c.returncode == 0, c.stderr
