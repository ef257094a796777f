"""The comparison: verdicts and the exact differences (status, compared
headers, JSON bodies structurally at JSON Pointer paths, other bodies by
descriptor), decoding gzip/deflate first. ERP routes: the stub's 'new'
profile differs from 'legacy' on purpose (tests/stub/README.md)."""
import json

import pytest

from helpers import body64, json_body_ctl, raw_request, sha256


def exchange(p, rid, ctl=None, ctl_legacy=None, ctl_new=None, method="GET", target="/x",
             body=b""):
    headers = [("Host", "x"), ("X-Request-Id", rid)]
    if ctl:
        headers.append(("X-Stub-Ctl", ctl))
    if ctl_legacy:
        headers.append(("X-Stub-Ctl-legacy", ctl_legacy))
    if ctl_new:
        headers.append(("X-Stub-Ctl-new", ctl_new))
    if body:
        headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    r = raw_request(p.port, method, target, headers, body)
    return r, p.wait_record(rid)


def by_path(diffs):
    return sorted(diffs, key=lambda d: (d["where"], d["path"]))


DOC = {"order": {"id": 7, "lines": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}],
                 "total": 10, "note": "x"},
       "a/b": {"m~n": 1}, "flag": True, "gone": "bye", "nested": {"n": None},
       "tags": ["a", "b", "c"], "price": 19.99}


def test_identical_answers_match(pair):
    legacy, new, p = pair
    r, rec = exchange(p, "cmp-same", ctl=json_body_ctl(DOC))
    assert r.status == 200 and json.loads(r.body) == DOC
    assert rec["verdict"] == "match"
    assert rec["differences"] == []
    assert "reason" not in rec
    assert rec["legacy"]["body"] == DOC and rec["new"]["body"] == DOC
    assert rec["legacy"]["body_format"] == "json"


def test_identical_answers_still_differ_through_a_one_sided_map(stubs, proxy, tmp):
    """Byte-identical answers are matched without decoding them, unless the
    route has a map: it moves a field on one side only, so equal bytes can
    differ (and the record still carries both decoded bodies)."""
    rules = f"{tmp}/rules.json"
    with open(rules, "w") as f:
        json.dump({"version": 1, "routes": [{
            "name": "mapped", "match": {"path": "/x"},
            "compare": {"map": [{"side": "new", "from": "/price", "to": "/unit_price"}]}}]}, f)
    p = proxy(stubs("legacy").url, stubs("new").url, args=("--rules", rules))
    r, rec = exchange(p, "cmp-same-mapped", ctl=json_body_ctl(DOC))
    assert r.status == 200 and rec["verdict"] == "mismatch", rec
    assert {(d["path"], d["kind"]) for d in rec["differences"]} == {
        ("/price", "removed"), ("/unit_price", "added")}
    assert rec["legacy"]["body"] == DOC and rec["new"]["body"] == DOC


def test_status_difference(pair):
    legacy, new, p = pair
    r, rec = exchange(p, "cmp-status", ctl=json_body_ctl(DOC), ctl_new="status=500")
    assert r.status == 200
    assert rec["verdict"] == "mismatch"
    assert rec["new"]["status"] == 500
    assert rec["differences"] == [{"where": "status", "path": "", "kind": "changed",
                                   "legacy": 200, "new": 500}]


def test_json_differences_at_exact_pointers(pair):
    legacy, new, p = pair
    # Different key order, 10 vs 10.0, and every kind of difference.
    other = {"tags": ["a", "c"], "price": 19.99, "added": [1], "nested": {"n": 0},
             "flag": False, "a/b": {"m~n": 2},
             "order": {"note": "y", "total": 10.0, "id": 7,
                       "lines": [{"qty": 1, "sku": "A"}, {"sku": "B", "qty": "2"}]}}
    r, rec = exchange(p, "cmp-json", ctl=json_body_ctl(DOC), ctl_new=body64(other))
    assert json.loads(r.body) == DOC
    assert rec["verdict"] == "mismatch"
    assert by_path(rec["differences"]) == by_path([
        {"where": "body", "path": "/order/lines/1/qty", "kind": "type", "legacy": 2, "new": "2"},
        {"where": "body", "path": "/order/note", "kind": "changed", "legacy": "x", "new": "y"},
        {"where": "body", "path": "/a~1b/m~0n", "kind": "changed", "legacy": 1, "new": 2},
        {"where": "body", "path": "/flag", "kind": "changed", "legacy": True, "new": False},
        {"where": "body", "path": "/gone", "kind": "removed", "legacy": "bye"},
        {"where": "body", "path": "/added", "kind": "added", "new": [1]},
        {"where": "body", "path": "/nested/n", "kind": "type", "legacy": None, "new": 0},
        {"where": "body", "path": "/tags/1", "kind": "changed", "legacy": "b", "new": "c"},
        {"where": "body", "path": "/tags/2", "kind": "removed", "legacy": "c"},
    ])


def test_max_differences_caps_the_list(stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"compare": {"max_differences": 3}})
    a = {f"k{i}": i for i in range(10)}
    b = {f"k{i}": i + 1 for i in range(10)}
    _, rec = exchange(p, "cmp-cap", ctl=json_body_ctl(a), ctl_new=body64(b))
    assert rec["verdict"] == "mismatch"
    assert len(rec["differences"]) == 3
    assert rec["differences_total"] == 10
    for d in rec["differences"]:
        i = int(d["path"][2:])
        assert d == {"where": "body", "path": f"/k{i}", "kind": "changed", "legacy": i, "new": i + 1}


@pytest.mark.parametrize("coding", ["gzip", "deflate", "gzip=1"])
def test_compressed_on_one_side_only_matches(pair, coding):
    legacy, new, p = pair
    doc = {"items": [{"sku": f"S{i}", "name": "Müller ™"} for i in range(50)]}
    rid = "cmp-" + coding.replace("=", "")
    r, rec = exchange(p, rid, ctl=json_body_ctl(doc), ctl_new=coding)
    assert json.loads(r.body) == doc
    assert rec["verdict"] == "match", rec["differences"]
    assert rec["differences"] == []
    assert rec["new"]["body"] == doc
    assert rec["new"]["body_bytes"] < rec["legacy"]["body_bytes"] == len(r.body)


def test_compressed_text_on_one_side_matches(pair):
    legacy, new, p = pair
    r, rec = exchange(p, "cmp-gz-text", ctl="body=plain text body,ctype=text/plain",
                      ctl_new="gzip")
    assert r.body == b"plain text body"
    assert rec["verdict"] == "match", rec["differences"]


def test_content_type_difference(pair):
    legacy, new, p = pair
    _, rec = exchange(p, "cmp-ctype", ctl="body=hello,ctype=text/plain; charset=utf-8",
                      ctl_new="ctype=text/html")
    assert rec["verdict"] == "mismatch"
    assert rec["differences"] == [{"where": "header", "path": "Content-Type", "kind": "changed",
                                   "legacy": "text/plain; charset=utf-8", "new": "text/html"}]


def test_text_bodies_differ_by_descriptor(pair):
    legacy, new, p = pair
    _, rec = exchange(p, "cmp-text", ctl="ctype=text/plain", ctl_legacy="body=hello",
                      ctl_new="body=hello world")
    assert rec["verdict"] == "mismatch"
    assert rec["differences"] == [{
        "where": "body", "path": "", "kind": "changed",
        "legacy": {"format": "text", "bytes": 5, "sha256": sha256(b"hello")},
        "new": {"format": "text", "bytes": 11, "sha256": sha256(b"hello world")}}]
    assert rec["legacy"]["body"] == "hello" and rec["legacy"]["body_format"] == "text"


def test_binary_bodies_differ_by_descriptor(pair):
    legacy, new, p = pair
    a, b = bytes(range(256)), bytes(range(255, -1, -1))
    _, rec = exchange(p, "cmp-bin", ctl_legacy=body64(a), ctl_new=body64(b))
    assert rec["differences"] == [{
        "where": "body", "path": "", "kind": "changed",
        "legacy": {"format": "binary", "bytes": 256, "sha256": sha256(a)},
        "new": {"format": "binary", "bytes": 256, "sha256": sha256(b)}}]
    assert rec["legacy"]["body_format"] == "base64"
    import base64
    assert base64.b64decode(rec["legacy"]["body"]) == a


def test_json_on_one_side_only_is_a_type_difference(pair):
    legacy, new, p = pair
    doc = {"ok": True}
    _, rec = exchange(p, "cmp-json-text", ctl=json_body_ctl(doc),
                      ctl_new="body=<html>error</html>,ctype=text/html")
    raw = json.dumps(doc, separators=(",", ":")).encode()
    assert rec["differences"] == [
        {"where": "header", "path": "Content-Type", "kind": "changed",
         "legacy": "application/json", "new": "text/html"},
        {"where": "body", "path": "", "kind": "type",
         "legacy": {"format": "json", "bytes": len(raw), "sha256": sha256(raw)},
         "new": {"format": "text", "bytes": len(b"<html>error</html>"),
                 "sha256": sha256(b"<html>error</html>")}},
    ]


def test_configured_compare_headers(stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"compare": {"headers": ["Content-Type", "x-version"]}},
              args=("--diff-log-mode", "all"))
    _, rec = exchange(p, "cmp-hdr", ctl=json_body_ctl({"a": 1}), ctl_legacy="hdr=X-Version:1",
                      ctl_new="hdr=X-Version:2,hdr=X-Version:3")
    assert rec["differences"] == [{"where": "header", "path": "x-version", "kind": "changed",
                                   "legacy": "1", "new": "2, 3"}]
    # X-Stub-Name and Date differ on every exchange but are not compared.
    _, rec = exchange(p, "cmp-hdr-same", ctl=json_body_ctl({"a": 1}) + ",hdr=X-Version:7")
    assert rec["verdict"] == "match", rec["differences"]


def test_5xx_on_shadow_is_compared_not_an_error(pair):
    legacy, new, p = pair
    _, rec = exchange(p, "cmp-5xx", target="/status/200", ctl_new="status=503")
    assert rec["verdict"] == "mismatch"
    assert rec["new"]["error"] is None
    assert rec["differences"] == [{"where": "status", "path": "", "kind": "changed",
                                   "legacy": 200, "new": 503}]


# ---- the ERP routes: intentional differences of --profile new --------------------

def test_erp_customer_odd_id_loses_lastname(pair):
    legacy, new, p = pair
    r, rec = exchange(p, "erp-cust-7", target="/api/customers/7")
    assert r.status == 200
    lastname = json.loads(r.body)["lastname"]
    assert rec["verdict"] == "mismatch"
    assert rec["differences"] == [{"where": "body", "path": "/lastname", "kind": "removed",
                                   "legacy": lastname}]


def test_erp_customer_even_id_matches(pair):
    legacy, new, p = pair
    _, rec = exchange(p, "erp-cust-8", target="/api/customers/8")
    assert rec["verdict"] == "match", rec["differences"]


def test_erp_inventory_qty_string_and_number_formatting(pair):
    legacy, new, p = pair
    r, rec = exchange(p, "erp-inv-mb01", target="/api/inventory/24-MB01")
    body = json.loads(r.body)
    diffs = by_path(rec["differences"])
    assert [(d["path"], d["kind"]) for d in diffs] == [("/qty", "type"), ("/updated_at", "changed")]
    assert diffs[0]["legacy"] == body["qty"] and diffs[0]["new"] == str(body["qty"])
    # 24-MB04 (even digit): only the clock differs; 32 vs 32.0 is equal.
    r, rec = exchange(p, "erp-inv-mb04", target="/api/inventory/24-MB04")
    assert json.loads(r.body)["price"] == 32
    assert [(d["path"], d["kind"]) for d in rec["differences"]] == [("/updated_at", "changed")]


def test_erp_order_tax_drift(pair):
    legacy, new, p = pair
    r, rec = exchange(p, "erp-order-3", target="/api/orders/3")
    tax = json.loads(r.body)["totals"]["tax"]
    diffs = by_path(rec["differences"])
    assert [(d["path"], d["kind"]) for d in diffs] == [("/totals/tax", "changed"),
                                                       ("/updated_at", "changed")]
    assert diffs[0]["legacy"] == tax
    assert round(diffs[0]["new"] - tax, 2) == 0.01


def test_erp_order_creation_stricter_on_new(pair):
    legacy, new, p = pair
    body = b'{"increment_id":"000000901","items":[{"sku":"24-MB01","qty":1}]}'
    r, rec = exchange(p, "erp-post", method="POST", target="/api/orders", body=body)
    assert r.status == 201
    assert rec["request"]["body"] == json.loads(body)
    assert rec["new"]["status"] == 422
    diffs = rec["differences"]
    assert diffs[0] == {"where": "status", "path": "", "kind": "changed", "legacy": 201, "new": 422}
    assert {(d["path"], d["kind"]) for d in diffs[1:]} >= {("/message", "added")}
