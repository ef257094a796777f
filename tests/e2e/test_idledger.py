"""Correlated ids (issue 17 part 1; docs/rules.md "Correlated ids"): the
legacy ERP names a created order SO-000001, the new one NX-000001 (the
stub's --generated-ids). A rule learns the pair from both answers; a later
request naming SO-000001 reaches the shadow with NX-000001 (path, query,
header or body field), the pair counts as equal in the comparison, a wrong
pairing shows as a difference, an unknown id is not mirrored (verdict
id_unknown, counted), and the ledger survives a restart."""
import hashlib
import http.client
import json
import os
import re
import time
import uuid

from conftest import SLOW

LEARN = {"name": "order", "legacy": "/erp_order_id", "new": "/erp_order_id"}
RULES = {"version": 1, "routes": [
    {"name": "order-create", "match": {"methods": ["POST"], "path": "/api/orders"},
     "ids": {"learn": [LEARN]}},
    {"name": "order-status", "match": {"path_glob": "/api/orders/*/status"},
     "ids": {"use": [{"name": "order", "path_template": "/api/orders/{id}/status"}]}},
    {"name": "order-echo", "match": {"path_prefix": "/echo/orders"},
     "ids": {"use": [{"name": "order", "query": "order"},
                     {"name": "order", "header": "X-Order-Id"},
                     {"name": "order", "body": "/order/id"}]}},
]}


def write_rules(tmp, rules=RULES, name="rules.json"):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        json.dump(rules, f)
    return path


def erp(stubs):
    legacy = stubs("legacy", profile="plain", args=["--generated-ids", "SO"])
    new = stubs("new", profile="plain", args=["--generated-ids", "NX"])
    return legacy, new


def rid(tag):
    return f"ids-{tag}-{uuid.uuid4().hex[:8]}"


def send(p, method, path, tag, body=None, headers=None):
    i = rid(tag)
    h = {"X-Request-Id": i, "Content-Type": "application/json", **(headers or {})}
    r, data = p.request(method, path, body=body, headers=h)
    return i, r, data


def create(p, tag, sku):
    i, r, data = send(p, "POST", "/api/orders", tag, json.dumps({"sku": sku}).encode())
    assert r.status == 201, (r.status, data)
    return i, json.loads(data)["erp_order_id"]


def direct(stub, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", stub.port, timeout=10 * SLOW)
    try:
        c.request(method, path, body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def seen(stub, request_id):
    """The requests stub received with this X-Request-Id (the shadow's
    arrive a moment after the client's answer)."""
    deadline = time.monotonic() + 5 * SLOW
    while True:
        out = [q for q in stub.requests()
               if any(n.lower() == "x-request-id" and v == request_id for n, v in q["headers"])]
        if out or time.monotonic() > deadline:
            return out
        time.sleep(0.02)


def metric(p, name, **labels):
    text = p_metrics(p)
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pat = rf"(?m)^{re.escape(name)}{re.escape('{' + want + '}') if want else ''} (\S+)$"
    m = re.search(pat, text)
    return float(m.group(1)) if m else None


def p_metrics(p):
    port = int(p.config["admin"]["listen"].rsplit(":", 1)[1])
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10 * SLOW)
    try:
        c.request("GET", "/metrics")
        return c.getresponse().read().decode()
    finally:
        c.close()


def test_create_then_read_is_mirrored_with_the_new_id_and_matches(tmp, stubs, proxy):
    legacy, new = erp(stubs)
    p = proxy(legacy.url, new.url, args=("--rules", write_rules(tmp), "--diff-log-mode", "all"))
    cid, so = create(p, "create", "24-MB01")
    assert so == "SO-000001"
    rec = p.wait_record(cid)
    # The create's own answers differ by the generated id only: the pair
    # was learned from them and counts as equal.
    assert rec["verdict"] == "match", rec
    assert rec["ids"]["pairs"] == [{"name": "order", "legacy": "SO-000001",
                                    "new": "NX-000001"}], rec["ids"]
    assert rec["ids"]["mapped"] == 1, rec["ids"]

    sid, r, data = send(p, "GET", f"/api/orders/{so}/status", "status")
    assert r.status == 200 and json.loads(data)["erp_order_id"] == so, data
    # The client's answer is legacy's, byte for byte, and legacy was asked
    # the client's own target.
    assert direct(legacy, "GET", f"/api/orders/{so}/status") == (200, data)
    assert [q["target"] for q in seen(legacy, sid)] == [f"/api/orders/{so}/status"]
    assert [q["target"] for q in seen(new, sid)] == ["/api/orders/NX-000001/status"]
    rec = p.wait_record(sid)
    assert rec["verdict"] == "match", rec
    assert rec["uri"] == f"/api/orders/{so}/status"
    assert rec["ids"] == {"pairs": [{"name": "order", "legacy": so, "new": "NX-000001"}],
                          "mapped": 1}, rec
    assert metric(p, "shadowproxy_ids_learned_total") == 1
    assert metric(p, "shadowproxy_ids_hits_total") == 1
    assert metric(p, "shadowproxy_ids_ledger_size") == 1


def test_query_header_and_body_ids_are_rewritten_on_the_shadow_only(tmp, stubs, proxy):
    legacy = stubs("legacy", profile="plain", args=["--generated-ids", "SO"])
    new = stubs("new", profile="plain", args=["--generated-ids", "NX"])
    p = proxy(legacy.url, new.url, args=("--rules", write_rules(tmp), "--diff-log-mode", "all"))
    cid, so = create(p, "create", "24-MB01")
    p.wait_record(cid)  # the pair is learned once both answers are in (before the record)
    body = b'{"order": {"id": "SO-000001", "note": "keep  spacing"}, "qty": 2}'
    eid, r, data = send(p, "POST", "/echo/orders/cancel?order=SO-000001&x=1", "echo", body,
                        {"X-Order-Id": "SO-000001"})
    assert r.status == 200
    echoed = json.loads(data)
    # The client's (authoritative) request reached legacy unchanged, byte for byte.
    assert echoed["target"] == "/echo/orders/cancel?order=SO-000001&x=1"
    assert echoed["body"] == body.decode()
    assert ["X-Order-Id", "SO-000001"] in echoed["headers"], echoed["headers"]
    (q,) = seen(new, eid)
    assert q["target"] == "/echo/orders/cancel?order=NX-000001&x=1", q
    assert ["X-Order-Id", "NX-000001"] in q["headers"], q["headers"]
    want = json.dumps({"order": {"id": "NX-000001", "note": "keep  spacing"}, "qty": 2},
                      separators=(",", ":")).encode()
    assert q["body_sha256"] == hashlib.sha256(want).hexdigest(), q
    (lq,) = seen(legacy, eid)
    assert lq["body_sha256"] == hashlib.sha256(body).hexdigest()
    rec = p.wait_record(eid)
    assert rec["ids"]["pairs"] == [{"name": "order", "legacy": so, "new": "NX-000001"}] * 3


def test_unknown_id_is_not_mirrored_but_recorded_and_counted(tmp, stubs, proxy):
    legacy, new = erp(stubs)
    p = proxy(legacy.url, new.url, args=("--rules", write_rules(tmp)))
    uid, r, data = send(p, "GET", "/api/orders/SO-000042/status", "unknown")
    assert r.status == 404  # legacy's answer: it never made that order
    rec = p.wait_record(uid)
    assert rec["verdict"] == "id_unknown", rec
    assert "SO-000042" in rec["reason"] and "path /api/orders/{id}/status" in rec["reason"], rec
    assert rec["new"]["attempted"] is False, rec
    assert seen(legacy, uid) and not seen(new, uid)
    assert metric(p, "shadowproxy_ids_misses_total") == 1
    assert metric(p, "shadowproxy_verdicts_total", verdict="id_unknown") == 1
    assert metric(p, "shadowproxy_route_verdicts_total", route="order-status",
                  verdict="id_unknown") == 1
    # A route without an "ids" rule mirrors as before, no lookup.
    hid, r, _ = send(p, "GET", "/health", "health")
    assert r.status == 200 and seen(new, hid)
    assert metric(p, "shadowproxy_ids_misses_total") == 1


def test_a_wrong_pairing_shows_as_a_difference(tmp, stubs, proxy):
    legacy, new = erp(stubs)
    # Two orders made on both ERPs directly, then a ledger that pairs them
    # crosswise, as a bad learn rule or a mixed-up restore would.
    for sku in ("A-1", "B-2"):
        b = json.dumps({"sku": sku}).encode()
        assert direct(legacy, "POST", "/api/orders", b)[0] == 201
        assert direct(new, "POST", "/api/orders", b)[0] == 201
    ledger = os.path.join(tmp, "ledger.json")
    now = int(time.time() * 1000)
    with open(ledger, "w") as f:
        json.dump({"v": 1, "pairs": [["order", "SO-000001", "NX-000002", now],
                                     ["order", "SO-000002", "NX-000001", now]]}, f)
    p = proxy(legacy.url, new.url, args=("--rules", write_rules(tmp)),
              config={"ids": {"ledger_file": ledger}})
    wid, r, _ = send(p, "GET", "/api/orders/SO-000001/status", "wrong")
    assert r.status == 200
    assert [q["target"] for q in seen(new, wid)] == ["/api/orders/NX-000002/status"]
    rec = p.wait_record(wid)
    assert rec["verdict"] == "mismatch", rec
    paths = {d["path"] for d in rec["differences"]}
    assert paths == {"/request_digest"}, rec["differences"]  # the id itself maps back


def test_the_ledger_survives_a_restart(tmp, stubs, proxy):
    legacy, new = erp(stubs)
    rules = write_rules(tmp)
    p = proxy(legacy.url, new.url, args=("--rules", rules))
    cid, so = create(p, "create", "24-MB01")
    deadline = time.monotonic() + 5 * SLOW
    while metric(p, "shadowproxy_ids_ledger_size") != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert p.stop() == 0
    path = os.path.join(tmp, "shadowproxy-ids.json")  # beside the state file
    saved = json.load(open(path))
    assert [x[:3] for x in saved["pairs"]] == [["order", "SO-000001", "NX-000001"]], saved
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"

    p2 = proxy(legacy.url, new.url, args=("--rules", rules, "--diff-log-mode", "all"))
    assert metric(p2, "shadowproxy_ids_ledger_size") == 1
    sid, r, _ = send(p2, "GET", f"/api/orders/{so}/status", "after")
    assert r.status == 200
    assert [q["target"] for q in seen(new, sid)] == ["/api/orders/NX-000001/status"]
    assert p2.wait_record(sid)["verdict"] == "match"


def test_after_a_flip_the_mapping_runs_from_new_to_legacy(tmp, stubs, proxy):
    legacy, new = erp(stubs)
    p = proxy(legacy.url, new.url,
              args=("--rules", write_rules(tmp), "--authority", "new", "--diff-log-mode", "all"))
    cid, nx = create(p, "create", "24-MB01")
    assert nx == "NX-000001"  # the client speaks the new ERP's ids now
    assert p.wait_record(cid)["verdict"] == "match"
    sid, r, data = send(p, "GET", f"/api/orders/{nx}/status", "flipped")
    assert r.status == 200 and json.loads(data)["erp_order_id"] == nx
    assert [q["target"] for q in seen(legacy, sid)] == ["/api/orders/SO-000001/status"]
    assert [q["target"] for q in seen(new, sid)] == [f"/api/orders/{nx}/status"]
    rec = p.wait_record(sid)
    assert rec["verdict"] == "match" and rec["authority"] == "new", rec
