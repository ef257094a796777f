"""What the red-team found in what the proxy writes (issue 15): secrets
in clear (names matched by families: cc_cid, currentPassword,
access_token, apiKey, card.number ...; card numbers by Luhn under any
name, in JSON, XML and form bodies), while an ordinary Magento order keeps
every field; exemptions by config; raw control bytes from upstream JSON
keys in /metrics. Each test reads what a real run through the proxy wrote:
the diff log, /metrics."""
import json
import os
import subprocess
import time
import urllib.request

from conftest import SLOW, SP_BIN
from helpers import body64, raw_request

R = "[redacted]"
CARDS = ["4111111111111111", "5555 5555 5555 4444", "4012888888881881",
         "4111-1111-1111-1111", "378282246310005"]


def send(p, rid, target="/x", method="GET", body=b"", ctype=None, ctl=None, extra=()):
    headers = [("Host", "x"), ("X-Request-Id", rid), *extra]
    if ctl:
        headers.append(("X-Stub-Ctl", ctl))
    if ctype:
        headers.append(("Content-Type", ctype))
    if body:
        headers.append(("Content-Length", str(len(body))))
    return raw_request(p.port, method, target, headers, body)


def raw_log(p):
    with open(p.diff_log, "rb") as f:
        return f.read()


def assert_no_leak(raw, secrets):
    for s in secrets:
        assert s.encode() not in raw, f"{s!r} leaked into the diff log"
    # a card number in any grouping is one run of digits once separators go
    digits = raw.replace(b" ", b"").replace(b"-", b"")
    for c in CARDS:
        assert c.replace(" ", "").replace("-", "").encode() not in digits, c


def payment_request():
    secrets = {k: f"SECRET-{k}" for k in (
        "currentPassword", "newPassword", "password_confirmation", "access_token",
        "refresh_token", "client_secret", "api_key", "apiKey", "passwd")}
    doc = {
        "paymentMethod": {"method": "braintree", "additional_data": {
            "cc_cid": "737", "cc_number": "SECRET-ccnum", "cardNumber": CARDS[1],
            "card.number": "SECRET-dotted", "note": CARDS[3], "amount": 34}},
        "billingAddress": {"city": "Calder", "company": "Acme"},
        "sku": "24-MB01", "order_id": "000000005", "tokenized": True,
        **secrets,
    }
    return doc, [*secrets.values(), "SECRET-ccnum", "SECRET-dotted"]


def test_json_names_by_family_and_cards_by_value(pair):
    legacy, new, p = pair
    doc, secrets = payment_request()
    answer = {"token": "SECRET-answer", "card": {"number": CARDS[2]},
              "increment_id": "000000005", "items": [{"sku": "24-MB01"}]}
    r = send(p, "fam-json", "/rest/V1/carts/mine/payment-information", "POST",
             json.dumps(doc).encode(), "application/json",
             body64(answer) + ",ctype=application/json")
    assert json.loads(r.body) == answer  # the client gets it all
    rec = p.wait_record("fam-json")
    assert_no_leak(raw_log(p), secrets + ["SECRET-answer", "737"])
    body = rec["request"]["body"]
    add = body["paymentMethod"]["additional_data"]
    assert body["paymentMethod"]["method"] == "braintree"
    assert add == {
        "cc_cid": R, "cc_number": R, "cardNumber": R, "card.number": R, "note": R,
        "amount": 34}
    for k in ("currentPassword", "newPassword", "password_confirmation", "access_token",
              "refresh_token", "client_secret", "api_key", "apiKey", "passwd"):
        assert body[k] == R, k
    # the ERP's own fields stay readable
    assert body["sku"] == "24-MB01" and body["order_id"] == "000000005"
    assert body["tokenized"] is True
    assert body["billingAddress"] == {"city": "Calder", "company": "Acme"}
    assert rec["legacy"]["body"] == {"token": R, "card": {"number": R},
                                     "increment_id": "000000005",
                                     "items": [{"sku": "24-MB01"}]}


def test_xml_and_form_bodies(pair):
    legacy, new, p = pair
    soap = ("<?xml version=\"1.0\"?><Envelope><Body><Pay>"
            "<cc_cid>SECRET-xcid</cc_cid><CardNumber>SECRET-xcard</CardNumber>"
            f"<Note>{CARDS[0]}</Note><Sku>24-MB01</Sku>"
            "<!-- apiKey=SECRET-comment -->"
            "<Raw><![CDATA[<Login><Password>SECRET-cdata</Password></Login>]]></Raw>"
            "</Pay></Body></Envelope>").encode()
    send(p, "fam-xml", "/soap", "POST", soap, "text/xml")
    form = ("payment%5Bcc_cid%5D=SECRET-fcid&payment%5Bcc_number%5D=SECRET-fnum"
            f"&note={CARDS[1].replace(' ', '+')}&access_token=SECRET-ftok"
            "&sku=24-MB01&order_id=4111111111111111").encode()
    send(p, "fam-form", "/checkout", "POST", form, "application/x-www-form-urlencoded")
    xml_rec = p.wait_record("fam-xml")
    form_rec = p.wait_record("fam-form")
    raw = raw_log(p)
    for s in ("SECRET-xcid", "SECRET-xcard", "SECRET-comment", "SECRET-cdata",
              "SECRET-fcid", "SECRET-fnum", "SECRET-ftok"):
        assert s.encode() not in raw, s
    x = xml_rec["request"]["body"]
    assert xml_rec["request"]["body_format"] == "xml"
    assert "<cc_cid>[redacted]</cc_cid><CardNumber>[redacted]</CardNumber>" in x
    assert "<Note>[redacted]</Note><Sku>24-MB01</Sku>" in x
    assert "<!--[redacted]-->" in x and "<Raw>[redacted]</Raw>" in x
    assert form_rec["request"]["body"] == (
        "payment%5Bcc_cid%5D=[redacted]&payment%5Bcc_number%5D=[redacted]"
        "&note=[redacted]&access_token=[redacted]&sku=24-MB01"
        "&order_id=4111111111111111")  # an id's name: not a card


MAGENTO_ORDER = {
    "base_currency_code": "USD", "base_grand_total": 39.0, "customer_id": 1,
    "customer_email": "roni_cost@example.com", "entity_id": 5,
    "increment_id": "000000005", "protect_code": "a1b2c3", "quote_id": 12,
    "remote_ip": "127.0.0.1", "state": "new", "status": "pending", "store_id": 1,
    "customer_group_id": 1, "stock": {"source_code": "default", "stock_id": 1,
                                      "quantity": 100, "is_in_stock": True,
                                      "session_start": "09:00", "form_type": "erp"},
    "items": [{"item_id": 9, "order_id": 5, "sku": "24-MB01", "name": "Joust Duffle Bag",
               "price": 34.0, "product_id": 1, "qty_ordered": 1,
               "ean": "4006381333931"}],
    "billing_address": {"city": "Calder", "company": "Acme", "postcode": "49628-7978",
                        "street": ["6146 Honey Bluff Parkway"],
                        "telephone": "(555) 229-3326"},
    "payment": {"amount_ordered": 39.0, "cc_last4": "1111", "cc_type": "VI",
                "cc_exp_month": "12", "method": "checkmo", "parent_id": 5,
                "additional_information": ["Check / Money order"]},
    "extension_attributes": {"shipping_assignments": [
        {"shipping": {"method": "flatrate_flatrate"}}]},
}


def test_magento_order_keeps_its_fields(pair):
    legacy, new, p = pair
    changed = json.loads(json.dumps(MAGENTO_ORDER))
    changed["status"] = "processing"
    send(p, "order-1", "/rest/V1/orders/5",
         ctl=None, extra=[("X-Stub-Ctl-legacy", body64(MAGENTO_ORDER) + ",ctype=application/json"),
                          ("X-Stub-Ctl-new", body64(changed) + ",ctype=application/json")])
    rec = p.wait_record("order-1")
    assert rec["legacy"]["body"] == MAGENTO_ORDER
    assert rec["new"]["body"] == changed
    assert rec["differences"] == [{"where": "body", "path": "/status", "kind": "changed",
                                   "legacy": "pending", "new": "processing"}]


def test_exemptions_by_config(stubs, proxy):
    legacy, new = stubs("legacy"), stubs("new")
    p = proxy(legacy.url, new.url, args=("--diff-log-mode", "all"), config={
        "diff_log": {"redact_exempt": ["cvv:cc_cid", "luhn:note", "token:token_type"]}})
    doc = {"cc_cid": "737", "note": CARDS[0], "token_type": "Bearer",
           "access_token": "SECRET-tok", "memo": CARDS[2]}
    send(p, "exempt-1", "/x", "POST", json.dumps(doc).encode(), "application/json")
    rec = p.wait_record("exempt-1")
    assert rec["request"]["body"] == {"cc_cid": "737", "note": CARDS[0],
                                      "token_type": "Bearer", "access_token": R, "memo": R}


def test_bad_exemption_refused(tmp):
    path = os.path.join(tmp, "c.json")
    with open(path, "w") as f:
        json.dump({"listen": "127.0.0.1:0", "legacy": "http://127.0.0.1:1",
                   "new": "http://127.0.0.1:2",
                   "diff_log": {"redact_exempt": ["token:token_type", "tokens:x"]}}, f)
    r = subprocess.run([SP_BIN, "check", "--config", path], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode != 0
    assert 'diff_log.redact_exempt[1] names no family' in r.stderr, r.stderr
    assert '"tokens:x"' in r.stderr


def test_metrics_labels_never_carry_control_bytes(pair):
    legacy, new, p = pair
    key = "k\x1b[31mred\r\x7f\u009b"  # ESC, CR, DEL, CSI (C1) in a JSON key
    send(p, "ctl-1", "/x", extra=[
        ("X-Stub-Ctl-legacy", body64({key: 1}) + ",ctype=application/json"),
        ("X-Stub-Ctl-new", body64({key: 2}) + ",ctype=application/json")])
    p.wait_record("ctl-1")
    deadline = time.monotonic() + 5 * SLOW
    while True:  # the analyzer's shard is read at the next render
        with urllib.request.urlopen(f"http://127.0.0.1:{p.admin_port}/metrics",
                                    timeout=10) as r:
            text = r.read()
        line = [ln for ln in text.split(b"\n") if b"path=" in ln and b"red" in ln]
        if line or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for b in text:
        assert b == 0x0A or (0x20 <= b < 0x7F) or b >= 0x80, f"raw control byte {b:#x}"
    assert b"\xc2\x9b" not in text
    assert line and b'path="/k\\\\x1B[31mred\\\\x0D\\\\x7F\\\\xC2\\\\x9B"' in line[0], line


def admin_get(p, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{p.admin_port}{path}", timeout=10) as r:
        return r.read()


def test_secrets_outside_bodies(stubs, proxy, tmp):
    """Query strings in the record's uri, the dashboard API, the report and
    WARN/debug log lines; request and response headers by family; multipart
    form fields; a token answered as a bare JSON string."""
    legacy, new = stubs("legacy"), stubs("new")
    p = proxy(legacy.url, new.url, args=("--diff-log-mode", "all"),
              config={"log": {"level": "debug"}, "shadow": {"timeout_ms": 2000}})
    q = "/cb?access_token=SECRET-Q1&state=ok&password=SECRET-Q2&n=4111111111111111&page=2"
    # mismatch, so the dashboard keeps it; the authoritative error logs a WARN
    send(p, "out-q", q, extra=[("X-Stub-Ctl-legacy", "status=200"),
                               ("X-Stub-Ctl-new", "status=500")])
    send(p, "out-warn", q.replace("page=2", "page=3"),
         extra=[("X-Stub-Ctl-legacy", "close")])
    send(p, "out-hdr", "/h", extra=[
        ("X-Api-Key", "SECRET-H1"), ("X-Auth-Token", "SECRET-H2"),
        ("X-Amz-Security-Token", "SECRET-H3"), ("X-Trace", "keep-me"),
        ("Referer", "https://shop.example/checkout?password=SECRET-H5"),
        ("X-Stub-Ctl", "hdr=X-Auth-Token:SECRET-H4")])
    mp = (b"--XyZ\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nbob\r\n"
          b"--XyZ\r\nContent-Disposition: form-data; name=\"newPassword\"\r\n\r\nSECRET-M1\r\n"
          b"--XyZ\r\nContent-Disposition: form-data; name=\"memo\"\r\n\r\n4012 8888 8888 1881\r\n"
          b"--XyZ--\r\n")
    send(p, "out-mp", "/upload", "POST", mp, "multipart/form-data; boundary=XyZ")
    send(p, "out-tok", "/rest/V1/integration/customer/token", "POST",
         json.dumps({"username": "roni_cost@example.com", "password": "SECRET-P"}).encode(),
         "application/json",
         extra=[("X-Stub-Ctl-legacy", body64(b'"SECRET-T1"') + ",ctype=application/json"),
                ("X-Stub-Ctl-new", body64(b'"SECRET-T2"') + ",ctype=application/json")])
    recs = {rid: p.wait_record(rid) for rid in ("out-q", "out-warn", "out-hdr", "out-mp",
                                                 "out-tok")}
    assert recs["out-q"]["uri"] == \
        "/cb?access_token=[redacted]&state=ok&password=[redacted]&n=[redacted]&page=2"
    assert recs["out-warn"]["verdict"] == "authoritative_error"
    rh = dict((k, v) for k, v in recs["out-hdr"]["request"]["headers"])
    assert rh["X-Api-Key"] == rh["X-Auth-Token"] == rh["X-Amz-Security-Token"] == R
    assert rh["X-Trace"] == "keep-me"
    assert dict(recs["out-hdr"]["legacy"]["headers"])["X-Auth-Token"] == R
    assert rh["Referer"] == "https://shop.example/checkout?password=[redacted]"
    assert recs["out-mp"]["request"]["body"] == mp.decode().replace(
        "SECRET-M1", R).replace("4012 8888 8888 1881", R)
    tok = recs["out-tok"]
    assert tok["legacy"]["body"] == R and tok["new"]["body"] == R
    assert tok["request"]["body"]["password"] == R
    assert [d.get("legacy") for d in tok["differences"]] == [R]
    # the dashboard API: summaries and whole records
    listing = admin_get(p, "/api/recent")
    seqs = [r["seq"] for r in json.loads(listing)["records"]]
    assert seqs
    whole = b"".join(admin_get(p, f"/api/recent/{s}") for s in seqs)
    # the report, text and HTML
    rep = subprocess.run([SP_BIN, "report", p.diff_log], capture_output=True, timeout=30)
    html = subprocess.run([SP_BIN, "report", "--format", "html", p.diff_log],
                          capture_output=True, timeout=30)
    assert rep.returncode in (0, 1) and html.returncode in (0, 1), rep.stderr
    assert p.stop() == 0
    err = p.stderr().encode()
    assert b"authoritative_error" in err and b"event=exchange" in err  # WARN and debug lines
    assert b"access_token=[redacted]" in err
    for where, text in (("diff log", raw_log(p)), ("/api/recent", listing + whole),
                        ("report", rep.stdout + html.stdout), ("process log", err)):
        for s in ("SECRET-Q1", "SECRET-Q2", "SECRET-H1", "SECRET-H2", "SECRET-H3",
                  "SECRET-M1", "SECRET-T1", "SECRET-T2", "SECRET-P", "4111111111111111",
                  "SECRET-H5"):
            assert s.encode() not in text, f"{s} in the {where}"


def test_secret_path_segments(stubs, proxy):
    """A token in the path (Magento's reset-password link: .../resetLinkToken/
    TOKEN, .../token/TOKEN/) and a card number as a segment: masked in the
    record's uri, the dashboard API and the process log (red-team re-run)."""
    legacy, new = stubs("legacy"), stubs("new")
    p = proxy(legacy.url, new.url, args=("--diff-log-mode", "all"),
              config={"log": {"level": "debug"}})
    mismatch = [("X-Stub-Ctl-new", "status=500")]
    send(p, "path-1", "/rest/V1/customers/5/password/resetLinkToken/SECRETabcX9?x=1",
         extra=mismatch)
    send(p, "path-2", "/customer/account/createPassword/id/5/token/SECRETd4e5f6/",
         extra=mismatch)
    send(p, "path-3", "/V1/carts/4111111111111111/items", extra=mismatch)
    send(p, "path-4", "/oauth/token/request", extra=mismatch)
    recs = {rid: p.wait_record(rid) for rid in ("path-1", "path-2", "path-3", "path-4")}
    assert recs["path-1"]["uri"] == "/rest/V1/customers/5/password/resetLinkToken/[redacted]?x=1"
    assert recs["path-2"]["uri"] == "/customer/account/createPassword/id/5/token/[redacted]/"
    assert recs["path-3"]["uri"] == "/V1/carts/[redacted]/items"
    assert recs["path-4"]["uri"] == "/oauth/token/request"  # a plain word stays
    # the endpoint (a record field and a metrics label) has a placeholder
    assert recs["path-1"]["endpoint"] == \
        "GET /rest/V1/customers/{id}/password/resetLinkToken/{id}"
    seqs = [r["seq"] for r in json.loads(admin_get(p, "/api/recent"))["records"]]
    api = b"".join(admin_get(p, f"/api/recent/{s}") for s in seqs)
    assert b"resetLinkToken/[redacted]" in api
    metrics = admin_get(p, "/metrics")
    assert p.stop() == 0
    err = p.stderr().encode()
    assert b"resetLinkToken/[redacted]" in err  # the debug line `exchange`
    for where, text in (("diff log", raw_log(p)), ("/api/recent", api),
                        ("/metrics", metrics), ("process log", err)):
        for s in ("SECRETabcX9", "SECRETd4e5f6", "4111111111111111"):
            assert s.encode() not in text, f"{s} in the {where}"


def utf16(obj, bom=True, be=False):
    text = json.dumps(obj)
    data = text.encode("utf-16-be" if be else "utf-16-le")
    return ((b"\xfe\xff" if be else b"\xff\xfe") if bom else b"") + data


def test_utf16_json_decoded_before_redaction(pair):
    legacy, new, p = pair
    req = {"newPassword": "SECRET-U1", "sku": "24-MB01", "note": "caf\u00e9"}
    ans = {"access_token": "SECRET-U2", "increment_id": "000000005"}
    send(p, "u16", "/rest/V1/customers/me/password", "PUT", utf16(req),
         "application/json; charset=utf-16",
         extra=[("X-Stub-Ctl-legacy", body64(utf16(ans, bom=False, be=True))
                 + ",ctype=application/json; charset=utf-16be"),
                ("X-Stub-Ctl-new", body64(utf16(ans, be=False)) + ",ctype=application/json")])
    # not valid UTF-16 (a lone surrogate): withheld, never base64 of the bytes
    bad = utf16({"password": "SECRET-U3"})[:-2] + b"\x00\xd8"
    send(p, "u16-bad", "/x", "POST", bad, "application/json")
    rec, badrec = p.wait_record("u16"), p.wait_record("u16-bad")
    assert rec["request"]["body_format"] == "json"
    assert rec["request"]["body"] == {"newPassword": R, "sku": "24-MB01", "note": "caf\u00e9"}
    assert rec["legacy"]["body"] == rec["new"]["body"] == {"access_token": R,
                                                           "increment_id": "000000005"}
    # the same JSON in two encodings: only the Content-Type header differs
    assert [d["where"] for d in rec["differences"]] == ["header"]
    assert badrec["request"]["body_format"] == "redacted"
    assert badrec["request"]["body"] is None
    assert badrec["request"]["body_decode_error"] == "invalid utf-16le text"
    raw = raw_log(p)
    import base64
    for s in ("SECRET-U1", "SECRET-U2", "SECRET-U3"):
        assert s.encode() not in raw and s.encode("utf-16-le") not in raw
    assert base64.b64encode(bad)[:40] not in raw


def test_route_exemptions_from_rules(stubs, proxy, tmp):
    rules = os.path.join(tmp, "rules.json")
    with open(rules, "w") as f:
        json.dump({"version": 1, "routes": [
            {"name": "catalog", "match": {"path_glob": "/catalog/**"},
             "redact": {"exempt": ["luhn:barcode_value", "token:token_type"]}}]}, f)
    legacy, new = stubs("legacy"), stubs("new")
    p = proxy(legacy.url, new.url, args=("--diff-log-mode", "all"), config={"rules": rules})
    doc = {"barcode_value": CARDS[0], "note": CARDS[0], "token_type": "Bearer",
           "token": "SECRET-R"}
    send(p, "rt-catalog", "/catalog/1", "POST", json.dumps(doc).encode(), "application/json")
    send(p, "rt-other", "/other", "POST", json.dumps(doc).encode(), "application/json")
    cat, other = p.wait_record("rt-catalog"), p.wait_record("rt-other")
    assert cat["route"] == "catalog"
    assert cat["request"]["body"] == {"barcode_value": CARDS[0], "note": R,
                                      "token_type": "Bearer", "token": R}
    assert other["request"]["body"] == {"barcode_value": R, "note": R, "token_type": R,
                                        "token": R}


def test_ndjson_bodies_redacted_line_by_line(stubs, proxy):
    """NDJSON and its kin (red-team re-run): a request body, answers and a
    difference on one line, each line redacted as JSON; a body with a line
    that is not JSON and a secret name is withheld. Read from the diff log
    and /api/recent."""
    legacy, new = stubs("legacy"), stubs("new")
    p = proxy(legacy.url, new.url, args=("--diff-log-mode", "all"))
    req = b'{"sku":"24-MB01","qty":2}\n{"password":"SECRETND1","user":"ann"}\n'
    old = b'{"ok":true}\n{"token":"SECRETND2","id":5}\n'
    newer = b'{"ok":true}\n{"token":"SECRETND3","id":6}\n'
    ctl = lambda b, t: body64(b) + ",ctype=" + t
    types = ("application/x-ndjson", "application/jsonl", "application/json-seq",
             "application/stream+json")
    for i, t in enumerate(types):
        r = send(p, f"nd-{i}", "/rest/V1/stream", "POST", req, t, ctl(old, t),
                 extra=[("X-Stub-Ctl-new", ctl(newer, t))])
        assert r.body == old  # the client gets it all
    send(p, "nd-bad", "/rest/V1/stream", "POST",
         b'{"a":1}\npassword=SECRETND4\n', "application/x-ndjson")
    recs = {i: p.wait_record(f"nd-{i}") for i in range(len(types))}
    for rec in recs.values():
        assert rec["request"]["body"] == \
            '{"sku":"24-MB01","qty":2}\n{"password":"[redacted]","user":"ann"}\n'
        assert rec["legacy"]["body"] == '{"ok":true}\n{"token":"[redacted]","id":5}\n'
        d = [x for x in rec["differences"] if x["where"] == "body"]
        assert d and d[0]["path"] == "/1", d
        assert d[0]["legacy"] == '{"token":"[redacted]","id":5}'
    assert p.wait_record("nd-bad")["request"]["body_format"] == "redacted"
    seqs = [r["seq"] for r in json.loads(admin_get(p, "/api/recent"))["records"]]
    api = b"".join(admin_get(p, f"/api/recent/{s}") for s in seqs)
    assert b'\\"password\\":\\"[redacted]\\"' in api
    for where, text in (("diff log", raw_log(p)), ("/api/recent", api)):
        for s in ("SECRETND1", "SECRETND2", "SECRETND3", "SECRETND4"):
            assert s.encode() not in text, f"{s} in the {where}"


def test_names_added_by_the_re_run(pair):
    """Magento's form_key, session ids, Braintree's nonce, ssn and iban
    (red-team re-run): masked in the diff log and /api/recent."""
    legacy, new, p = pair
    doc = {"form_key": "SECRETNM1", "sessionId": "SECRETNM2", "session_id": "SECRETNM3",
           "payment_method_nonce": "SECRETNM4", "PaymentMethodNonce": "SECRETNM5",
           "customer": {"ssn": "SECRETNM6", "iban": "SECRETNM7"},
           "sku": "24-MB01", "customer_group_id": 1}
    send(p, "nm-1", "/checkout/cart/add", "POST", json.dumps(doc).encode(),
         "application/json", extra=[("X-Session-Id", "SECRETNM8")])
    rec = p.wait_record("nm-1")
    body = rec["request"]["body"]
    assert body == {**{k: R for k in doc if k not in ("customer", "sku", "customer_group_id")},
                    "customer": {"ssn": R, "iban": R}, "sku": "24-MB01",
                    "customer_group_id": 1}
    assert ["X-Session-Id", R] in rec["request"]["headers"] or \
        {"name": "X-Session-Id", "value": R} in rec["request"]["headers"], rec["request"]["headers"]
    seqs = [r["seq"] for r in json.loads(admin_get(p, "/api/recent"))["records"]]
    api = b"".join(admin_get(p, f"/api/recent/{s}") for s in seqs)
    for where, text in (("diff log", raw_log(p)), ("/api/recent", api)):
        for i in range(1, 9):
            assert f"SECRETNM{i}".encode() not in text, f"SECRETNM{i} in the {where}"
