"""3-way noise (Diffy's model) for reads: a route with
"noise": {"secondary": true} also asks legacy (or secondary.url) again;
a field the two legacy answers disagree on is noise, not a mismatch.
The stub's --volatile adds "served_nonce", new on every call."""
import json
import os
import time
import uuid

# SKUs of the stub's catalog: on --profile new, one ending in an odd digit
# gets "qty" as a string (a real difference); an even one does not.
SKU_CLEAN = "24-MB02"
SKU_REAL_DIFF = "24-MB01"


def write_rules(tmp, noise=True):
    path = os.path.join(tmp, "rules.json")
    route = {"name": "inventory", "match": {"path_prefix": "/api/inventory/"},
             # the new ERP's updated_at is "now": a known drift, not under test
             "compare": {"ignore": ["/updated_at"]}}
    if noise:
        route["noise"] = {"secondary": True}
    with open(path, "w") as f:
        json.dump({"version": 1, "routes": [route, {
            "name": "orders", "match": {"path_prefix": "/api/orders"},
            "noise": {"secondary": True}}]}, f)
    return path


def get(p, path, **kw):
    rid = str(uuid.uuid4())
    r, body = p.request("GET", path, headers={"X-Request-Id": rid}, **kw)
    return rid, r, body


def diff_at(rec, path):
    return [d for d in rec.get("differences", []) if d.get("path") == path]


def test_volatile_field_is_noise_and_a_real_difference_stays_a_mismatch(tmp, stubs, proxy):
    legacy = stubs("legacy", args=["--volatile"])
    new = stubs("new", args=["--volatile"])
    p = proxy(legacy.url, new.url, args=("--rules", write_rules(tmp), "--diff-log-mode", "all"))

    rid, r, body = get(p, f"/api/inventory/{SKU_CLEAN}")
    assert r.status == 200 and "served_nonce" in json.loads(body)
    rec = p.wait_record(rid)
    assert rec["verdict"] == "match", rec  # every difference is noise
    [d] = diff_at(rec, "/served_nonce")
    assert d.get("noise") is True
    assert rec["secondary"]["state"] == "compared" and rec["secondary"]["noise"] == 1
    assert rec["secondary"]["status"] == 200

    rid, r, _ = get(p, f"/api/inventory/{SKU_REAL_DIFF}")
    assert r.status == 200
    rec = p.wait_record(rid)
    assert rec["verdict"] == "mismatch", rec
    [qty] = diff_at(rec, "/qty")
    assert "noise" not in qty  # the two legacy answers agree on it: a real difference
    assert diff_at(rec, "/served_nonce")[0]["noise"] is True

    # Legacy was asked twice per read: once for real, once marked as a copy.
    reqs = legacy.wait_requests(4)
    assert len(reqs) == 4
    shadowed = [q for q in reqs
                if any(h[0].lower() == "x-shadow-request" for h in q["headers"])]
    assert len(shadowed) == 2

    # The report shows the noise rate beside the difference rate.
    import subprocess
    from conftest import SP_BIN
    p.stop()
    out = subprocess.run([SP_BIN, "report", "--format", "json", p.diff_log],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode in (0, 3), out.stderr
    [route] = [r for r in json.loads(out.stdout)["routes"] if r["name"] == "inventory"]
    fields = route["fields"]
    [nonce] = [f for f in fields if f["path"] == "/served_nonce"]
    assert nonce["noise_exchanges"] == 2 and nonce["noise_share"] == nonce["share"] == 1.0, nonce
    [qtyf] = [f for f in fields if f["path"] == "/qty"]
    assert qtyf["noise_exchanges"] == 0 and qtyf["noise_share"] == 0 and qtyf["share"] == 0.5
    text = subprocess.run([SP_BIN, "report", p.diff_log], capture_output=True, text=True,
                          timeout=30, env={**os.environ, "COLUMNS": "80"}).stdout
    lines = text.splitlines()
    at = [i for i, ln in enumerate(lines) if "/served_nonce" in ln][0]
    noise = [ln for ln in lines[at:at + 8] if ln.strip().startswith("noise ")]
    assert noise and "noise 100.0%" in noise[0] and "2 exch." in noise[0], text
    assert max(len(ln) for ln in lines) <= 80
    csv = subprocess.run([SP_BIN, "report", "--format", "csv", p.diff_log],
                         capture_output=True, text=True, timeout=30).stdout
    head = csv.splitlines()[0].split(",")
    assert head[-6:-4] == ["noise_exchanges", "noise_share"], head
    [row] = [ln for ln in csv.splitlines() if "/served_nonce" in ln]
    assert row.endswith(",2,1.000000,0,0,0,0"), row  # then confirm_*: no confirm here


def test_without_the_route_key_the_volatile_field_is_a_mismatch(tmp, stubs, proxy):
    legacy = stubs("legacy", args=["--volatile"])
    new = stubs("new", args=["--volatile"])
    p = proxy(legacy.url, new.url, args=("--rules", write_rules(tmp, noise=False)))
    rid, r, _ = get(p, f"/api/inventory/{SKU_CLEAN}")
    assert r.status == 200
    rec = p.wait_record(rid)
    assert rec["verdict"] == "mismatch" and "secondary" not in rec
    assert "noise" not in diff_at(rec, "/served_nonce")[0]
    assert len(legacy.wait_requests(1)) == 1
    time.sleep(0.3)
    assert len(legacy.requests()) == 1  # not asked again


def test_secondary_url_gets_reads_only(tmp, stubs, proxy):
    legacy = stubs("legacy", args=["--volatile"])
    second = stubs("second", profile="legacy", args=["--volatile"])
    new = stubs("new", args=["--volatile"])
    p = proxy(legacy.url, new.url, config={"secondary": {"url": second.url + "/"}},
              args=("--rules", write_rules(tmp), "--diff-log-mode", "all"))
    rid, r, _ = get(p, f"/api/inventory/{SKU_REAL_DIFF}")
    assert r.status == 200
    rec = p.wait_record(rid)
    assert rec["verdict"] == "mismatch"
    assert diff_at(rec, "/served_nonce")[0]["noise"] is True
    assert "noise" not in diff_at(rec, "/qty")[0]
    assert [q["target"] for q in second.wait_requests(1)] == [f"/api/inventory/{SKU_REAL_DIFF}"]

    # A write on a route with noise detection: never sent to the secondary.
    rid = str(uuid.uuid4())
    r, _ = p.request("POST", "/api/orders", body=b'{"increment_id":"9"}',
                     headers={"X-Request-Id": rid, "Content-Type": "application/json"})
    assert r.status == 201
    rec = p.wait_record(rid)
    assert rec["secondary"] == {"state": "not a read", "noise": 0}, rec
    assert len(legacy.wait_requests(2)) == 2
    time.sleep(0.3)
    assert len(second.requests()) == 1, second.requests()
    assert all(q["method"] == "GET" for q in second.requests())


def test_a_failing_or_slow_secondary_changes_nothing_for_the_client(tmp, stubs, proxy):
    legacy = stubs("legacy", args=["--volatile"])
    new = stubs("new", args=["--volatile"])
    slow = stubs("slow", profile="legacy", args=["--volatile", "--delay-ms", "3000"])
    rules = write_rules(tmp)
    p = proxy(legacy.url, new.url, args=("--rules", rules),
              config={"secondary": {"url": slow.url, "timeout_ms": 300}})
    t0 = time.monotonic()
    rid, r, body = get(p, f"/api/inventory/{SKU_REAL_DIFF}")
    assert r.status == 200 and time.monotonic() - t0 < 1.0
    rec = p.wait_record(rid)
    # No noise detection: the main comparison's verdict as without it.
    assert rec["verdict"] == "mismatch"
    assert rec["secondary"]["state"] == "failed" and "timeout" in rec["secondary"]["error"]
    assert not any(d.get("noise") for d in rec["differences"])
    assert {d["path"] for d in rec["differences"]} >= {"/qty", "/served_nonce"}
    # The client got legacy's answer byte for byte.
    direct = [q for q in legacy.wait_requests(1) if q["target"].endswith(SKU_REAL_DIFF)]
    assert direct

    # A secondary that refuses connections: the same, and the breaker opens.
    p.stop()
    from conftest import free_port
    dead = f"http://127.0.0.1:{free_port()}"
    p2 = proxy(legacy.url, new.url, args=("--rules", rules, "--workers", "1"),
               config={"secondary": {"url": dead}, "shadow": {"breaker_failures": 2}})
    for _ in range(4):
        rid, r, _ = get(p2, f"/api/inventory/{SKU_CLEAN}")
        assert r.status == 200
        rec = p2.wait_record(rid)
        assert rec["verdict"] == "mismatch"  # the nonce, with no second legacy answer
        assert rec["secondary"]["state"] in ("failed", "circuit breaker open")
    assert rec["secondary"]["state"] == "circuit breaker open"
    assert "secondary_breaker_open" in p2.stderr()


def test_drain_cuts_a_secondary_still_in_flight(tmp, stubs, proxy):
    legacy = stubs("legacy", args=["--volatile"])
    new = stubs("new", args=["--volatile"])
    slow = stubs("slow", profile="legacy", args=["--volatile", "--delay-ms", "10000"])
    p = proxy(legacy.url, new.url, args=("--rules", write_rules(tmp)),
              config={"secondary": {"url": slow.url, "timeout_ms": 20000},
                      "shadow": {"grace_ms": 300}})
    rid, r, _ = get(p, f"/api/inventory/{SKU_REAL_DIFF}")
    assert r.status == 200
    assert slow.wait_requests(1)
    t0 = time.monotonic()
    assert p.stop() == 0
    assert time.monotonic() - t0 < 5  # the grace, not the secondary's 10 s
    [rec] = [x for x in p.records() if x.get("id") == rid]
    assert rec["verdict"] == "mismatch" and rec["secondary"]["state"] == "failed"
    assert "shutting down" in rec["secondary"]["error"]


def test_no_secondary_without_a_shadow(tmp, stubs, proxy):
    """Mirroring off on the route: nothing to compare, so legacy is asked once."""
    legacy = stubs("legacy", args=["--volatile"])
    new = stubs("new", args=["--volatile"])
    path = os.path.join(tmp, "rules-nomirror.json")
    with open(path, "w") as f:
        json.dump({"version": 1, "routes": [{
            "name": "inventory", "match": {"path_prefix": "/api/inventory/"},
            "mirror": {"enabled": False}, "noise": {"secondary": True}}]}, f)
    p = proxy(legacy.url, new.url, args=("--rules", path, "--diff-log-mode", "all"))
    rid, r, _ = get(p, f"/api/inventory/{SKU_CLEAN}")
    assert r.status == 200
    rec = p.wait_record(rid)
    assert rec["verdict"] == "skipped"
    assert rec["secondary"] == {"state": "not compared", "noise": 0}
    time.sleep(0.3)
    assert len(legacy.requests()) == 1 and not new.requests()


def test_rules_check_refuses_a_bad_noise_section(tmp):
    import subprocess
    from conftest import SP_BIN
    path = os.path.join(tmp, "bad.json")
    with open(path, "w") as f:
        f.write('{"version": 1, "routes": [{"name": "a", "match": {},\n'
                ' "noise": {"secondary": "yes", "tertiary": true}}]}\n')
    out = subprocess.run([SP_BIN, "check", "--rules", path], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode != 0
    assert "secondary" in out.stderr and "tertiary" in out.stderr, out.stderr
