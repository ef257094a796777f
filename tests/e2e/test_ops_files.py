"""The shipped operations files: deploy/prometheus/alerts.yml passes
`promtool test rules` (a flapping breaker, a rising mismatch rate, records
lost, the decision store down, ...), and every metric that the alerts and
the Grafana dashboard (deploy/grafana/shadowproxy.json) query is one a live
proxy's /metrics exposes."""
import json
import os
import re
import shutil
import subprocess

from test_admin import ROOT, send, start, token_env  # noqa: F401 (fixtures)

PROM = os.path.join(ROOT, "deploy", "prometheus")
DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "shadowproxy.json")

# Metrics the files may name that this proxy does not render here:
NOT_OURS = {
    "up": "Prometheus' own scrape health",
}


def promtool():
    path = shutil.which("promtool")
    assert path, "promtool is missing: it comes with Debian's prometheus package (make test-deps)"
    return path


def test_alert_rules_pass_promtool():
    r = subprocess.run([promtool(), "check", "rules", "alerts.yml"], cwd=PROM,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([promtool(), "test", "rules", "alerts_test.yml"], cwd=PROM,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr


def test_the_breaker_alert_is_tested_on_a_flapping_breaker():
    """The unit test above runs; this makes sure it keeps covering the four
    cases the alerts exist for (a test file can lose a case silently)."""
    text = open(os.path.join(PROM, "alerts_test.yml")).read()
    for alert in ("ShadowproxyShadowBreakerFlapping", "ShadowproxyMismatchRateHigh",
                  "ShadowproxyRecordsLost", "ShadowproxyDecisionStoreDown"):
        assert re.search(rf"alertname: {alert}\n\s+exp_alerts:\n\s+- exp_labels", text), alert
    # the flapping series: the breaker state never stays at 1
    states = re.search(r"shadowproxy_breaker_state\{instance=\"p1\".*\n\s+values: '([^']*)'",
                       text).group(1).split()
    assert "2" in states and not any(states[i:i + 5] == ["1"] * 5 for i in range(len(states)))


def metric_names(expr):
    """The metric names in a PromQL expression: ours all start with
    shadowproxy_ or process_; `up` is Prometheus'."""
    return set(re.findall(r"\b(?:shadowproxy|process)_[a-zA-Z0-9_]+\b|\bup(?=\s*\{)", expr))


def exposed(text):
    """Every name a scrape may hold: each family, and a histogram's series."""
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        names.add(name)
        if kind == "histogram":
            names |= {name + s for s in ("_bucket", "_sum", "_count")}
    return names


def dashboard_queries():
    d = json.load(open(DASHBOARD))
    out = [v["definition"] for v in d["templating"]["list"] if v.get("definition")]
    ids, cells = set(), set()
    for p in d["panels"]:
        assert p["id"] not in ids, p["title"]
        ids.add(p["id"])
        g = p["gridPos"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells and g["x"] + g["w"] <= 24, f"{p['title']} overlaps"
        cells |= mine
        if p["type"] == "row":
            continue
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        assert p["targets"], p["title"]
        out += [t["expr"] for t in p["targets"]]
    return out


def alert_queries():
    import yaml
    doc = yaml.safe_load(open(os.path.join(PROM, "alerts.yml")))
    return [r["expr"] for g in doc["groups"] for r in g["rules"]]


def test_dashboard_and_alerts_name_only_metrics_a_live_proxy_exposes(start):
    legacy, new, p, adm = start()
    send(p)
    text = adm.call("GET", "/metrics").body.decode()
    have = exposed(text)
    assert "process_resident_memory_bytes" in have and "shadowproxy_requests_total" in have
    missing = []
    for source, queries in (("dashboard", dashboard_queries()), ("alerts", alert_queries())):
        assert queries, source
        for q in queries:
            names = metric_names(q)
            assert names, f"{source}: no metric found in {q!r}"
            missing += [(source, n, q) for n in names - have - set(NOT_OURS)]
    assert not missing, "\n".join(f"{s}: {n} is not in /metrics ({q})" for s, n, q in missing)


def doc(name):
    return open(os.path.join(ROOT, "docs", name)).read()


def test_docs_name_exactly_the_shipped_alerts():
    import yaml
    rules = yaml.safe_load(open(os.path.join(PROM, "alerts.yml")))
    shipped = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    for name in ("metrics.md", "operations.md"):
        named = set(re.findall(r"`(Shadowproxy[A-Za-z]+)`", doc(name)))
        assert named == shipped, (name, named ^ shipped)
        assert "deploy/prometheus/alerts.yml" in doc(name), name
    assert "- alert:" not in doc("metrics.md") + doc("operations.md") + doc("deploy.md")


def test_docs_agree_on_what_a_reload_re_reads():
    """config.md's table is generated from the key table; its prose lists
    the keys marked `yes`; operations.md and metrics.md point to it."""
    config = doc("config.md")
    live = set(re.findall(r"^\| `(/[^`]+)` \|[^\n]*\| yes \|", config, re.M))
    assert "/log/level" in live and "/readiness/require_shadow" in live, live
    section = config[config.index("## What a reload re-reads"):]
    section = section[:section.index("\n## ")]
    assert set(re.findall(r"`(/[a-z_/]+)`", section.split("take their new value")[1]
                                                     .split("unless")[0])) == live
    ops = doc("operations.md")
    assert ops.count("config.md#what-a-reload-re-reads") >= 3  # POST /reload, SIGHUP, an alert
    assert "config.md#what-a-reload-re-reads" in doc("metrics.md")
    assert "The config file itself is not re-read" not in ops


def test_a_hung_shadow_keeps_opening_the_breaker(start, stubs):
    """What the breaker alert is built on, on a real proxy: with a shadow
    that hangs, the openings counter keeps rising while the state gauge
    moves between open and half-open (never 1 for long)."""
    import time
    from test_admin import metric_samples
    hung = stubs("new", args=["--delay-ms", "3000"])
    legacy, _, p, adm = start(new=hung, config={"shadow": {
        "timeout_ms": 100, "breaker_failures": 1, "breaker_open_ms": 150}})
    opened, states = [], set()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        send(p)
        m = metric_samples(adm.call("GET", "/metrics").body.decode())
        opened.append(m["shadowproxy_breaker_opened_total"][0][1])
        states |= {v for _, v in m["shadowproxy_breaker_state"]}
        time.sleep(0.05)
    rises = sum(1 for a, b in zip(opened, opened[1:]) if b > a)
    assert rises >= 3, opened
    assert 1 in states and states - {1}, states
