"""Endpoints without rules (docs/rules.md, "Endpoints"): with no route
matching, exchanges are named by method and an inferred path template, in
diff-log records (`endpoint`), the report (one group per endpoint), the
metrics (a bounded `endpoint` label) and the dashboard's live view."""
import http.client
import json
import subprocess

from conftest import SLOW, SP_BIN, wait_port


def admin_get(p, path):
    wait_port(p.admin_port, p.proc)
    c = http.client.HTTPConnection("127.0.0.1", p.admin_port, timeout=10 * SLOW)
    try:
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        assert r.status == 200, (path, r.status, body[:300])
        return body
    finally:
        c.close()


def test_endpoints_in_records_report_metrics_and_live(stubs, proxy, tmp):
    legacy, new = stubs("legacy"), stubs("new", args=["--noise"])
    rules = f"{tmp}/rules.json"
    with open(rules, "w") as f:
        json.dump({"version": 1, "routes": [{"name": "health", "match": {"path": "/health"}}]}, f)
    # one comparer thread: the endpoint cap is per comparer thread (docs/metrics.md)
    p = proxy(legacy.url, new.url, config={"compare": {"threads": 1}},
              args=("--diff-log-mode", "all", "--rules", rules))
    sent = [f"/api/orders/{i}" for i in range(1, 7)] + \
           ["/api/orders?status=pending&page=1", "/api/inventory/24-MB01",
            "/api/inventory/MH01-M-Black", "/api/customers/5", "/health"]
    sent += [f"/slug/name-{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(105)]
    for path in sent:
        r, _ = p.request("GET", path)
        assert r.status in (200, 404)
    recs = p.wait_records(len(sent))
    assert len(recs) == len(sent)
    by_uri = {r["uri"]: r for r in recs}
    assert by_uri["/api/orders/3"]["endpoint"] == "GET /api/orders/{id}"
    assert by_uri["/api/orders?status=pending&page=1"]["endpoint"] == "GET /api/orders"
    assert by_uri["/api/inventory/MH01-M-Black"]["endpoint"] == "GET /api/inventory/{id}"
    assert by_uri["/health"]["route"] == "health"

    # the report: one group per endpoint for the route default, routes as before
    out = subprocess.run([SP_BIN, "report", "--format", "json", p.diff_log],
                         capture_output=True, timeout=30 * SLOW)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    names = {r["name"]: r for r in doc["routes"]}
    assert names["GET /api/orders/{id}"]["exchanges"] == 6
    assert names["GET /api/inventory/{id}"]["exchanges"] == 2
    assert names["health"]["exchanges"] == 1
    assert "default" not in names
    # --route default still selects every endpoint of it; an endpoint alone works too
    out = subprocess.run([SP_BIN, "report", "--format", "json", "--route", "GET /api/orders/{id}",
                          p.diff_log], capture_output=True, timeout=30 * SLOW)
    doc = json.loads(out.stdout)
    assert [r["name"] for r in doc["routes"]] == ["GET /api/orders/{id}"]

    # metrics: bounded label cardinality, the rest as endpoint="other"
    metrics = admin_get(p, "/metrics").decode()
    lines = [l for l in metrics.splitlines() if l.startswith("shadowproxy_endpoint_verdicts_total{")]
    eps = {l.split('endpoint="', 1)[1].split('"', 1)[0] for l in lines}
    assert 'endpoint="GET /api/orders/{id}",verdict="mismatch"} 6' in metrics
    assert "other" in eps and len(eps) == 101, sorted(eps)[:5]
    total = sum(int(l.rsplit(" ", 1)[1]) for l in lines)
    assert total == len(sent) - 1  # every exchange of the route default, once
    assert 'route="default",verdict="mismatch"' in metrics

    # the dashboard's live view lists endpoints apart from the routes
    live = json.loads(admin_get(p, "/api/live"))
    assert live["endpoints_capped"] is True
    orders = live["endpoints"]["GET /api/orders/{id}"]["last"]["15m"]
    assert orders["compared"] == 6 and orders["mismatch"] == 6
    assert "GET /api/orders/{id}" not in live["routes"] and "default" in live["routes"]
    assert len(live["endpoints"]) == 101
    recent = json.loads(admin_get(p, "/api/recent"))
    assert any(r["endpoint"] == "GET /api/orders/{id}" for r in recent["records"])
    page = admin_get(p, "/")
    assert b'id="endpoints"' in page


def test_dashboard_and_report_share_the_match_rate(stubs, proxy, tmp):
    """The live view's match_rate is the report's (match / compared); known
    differences count apart (agree_rate)."""
    legacy, new = stubs("legacy"), stubs("new")
    rules = f"{tmp}/rules.json"
    with open(rules, "w") as f:
        json.dump({"version": 1, "routes": [{
            "name": "inv", "match": {"path_prefix": "/api/inventory"},
            "compare": {"ignore": ["/updated_at"],
                        "known": [{"name": "ERP-9 qty as text", "path": "/qty", "kind": "type"}]}}]}, f)
    p = proxy(legacy.url, new.url, args=("--diff-log-mode", "all", "--rules", rules))
    for sku in ("24-MB01", "24-MB03", "24-MB02", "24-MB04"):  # odd: qty as a string (known)
        p.request("GET", f"/api/inventory/{sku}")
    recs = p.wait_records(4)
    assert sorted(r["verdict"] for r in recs) == ["known", "known", "match", "match"]
    live = json.loads(admin_get(p, "/api/live"))["routes"]["inv"]["last"]["15m"]
    out = subprocess.run([SP_BIN, "report", "--format", "json", p.diff_log], capture_output=True,
                         timeout=30 * SLOW)
    rates = next(r for r in json.loads(out.stdout)["routes"] if r["name"] == "inv")["rates"]
    assert live["match_rate"] == rates["match"] == 0.5
    assert live["agree_rate"] == 1.0
