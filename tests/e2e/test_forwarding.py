"""Forwarding: methods, request-target fidelity, header fidelity (request and
response), request ids."""
import hashlib
import http.client
import json
import re
import time

import pytest

from conftest import SLOW
from helpers import (RawConn, build_request, by_request_id, one, raw_request, the_request,
                     values, without)

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
# Headers the proxy adds or rewrites on the way upstream (and framing).
PROXY_ADDED = ("Host", "X-Forwarded-For", "X-Forwarded-Proto", "Via", "Content-Length",
               "X-Shadow-Request")


@pytest.mark.parametrize("method,body", [
    ("GET", None),
    ("HEAD", None),
    ("POST", b'{"order":1,"items":[1,2,3]}'),
    ("PUT", b"put body \x00\xff binary"),
    ("PATCH", b'{"op":"replace"}'),
    ("DELETE", b"delete-with-body"),
    ("OPTIONS", None),
    ("PURGE", b"purge me"),
])
def test_method_and_body_reach_both_upstreams(pair, method, body):
    legacy, new, p = pair
    rid = f"method-{method.lower()}"
    c = p.conn()
    c.request(method, "/echo/m?x=1", body=body, headers={"X-Request-Id": rid})
    r = c.getresponse()
    data = r.read()
    c.close()
    assert r.status == 200
    assert r.getheader("X-Echo-Method") == method  # the authoritative saw this method
    assert r.getheader("X-Stub-Name") == "legacy"
    sent = body or b""
    if method == "HEAD":
        assert data == b""
    else:
        echo = json.loads(data)
        assert echo["stub"] == "legacy"
        assert echo["method"] == method
        assert echo["target"] == "/echo/m?x=1"
        assert echo["body_len"] == len(sent)
        assert echo["body_sha256"] == hashlib.sha256(sent).hexdigest()
    la = the_request(legacy, rid)
    na = the_request(new, rid)
    for leg in (la, na):
        assert leg["method"] == method
        assert leg["target"] == "/echo/m?x=1"
        assert leg["body_len"] == len(sent)
        assert leg["body_sha256"] == hashlib.sha256(sent).hexdigest()
        if body is not None:
            assert values(leg["headers"], "Content-Length") == [str(len(sent))]
    assert values(la["headers"], "X-Shadow-Request") == []
    assert values(na["headers"], "X-Shadow-Request") == ["1"]
    rec = p.wait_record(rid)
    assert rec["method"] == method
    assert rec["uri"] == "/echo/m?x=1"
    assert rec["legacy"]["status"] == 200 and rec["new"]["status"] == 200
    assert rec["request"]["body_bytes"] == len(sent)


@pytest.mark.parametrize("target", [
    "/echo/a%2Fb%20c?x=%41&y=1+2&y=3",
    "/echo/a/../b",
    "/echo/./x//y/%2e%2E/z",
    "/echo/%7Euser/%E2%82%AC;param?q=a%20b&q=a+b&&empty=",
    "/echo?",
])
def test_raw_target_passed_untouched_to_both_legs(pair, target):
    legacy, new, p = pair
    rid = "uri-" + hashlib.sha256(target.encode()).hexdigest()[:12]
    r = raw_request(p.port, "GET", target, [("Host", "shop.example.com"), ("X-Request-Id", rid)])
    assert r.status == 200, r
    assert r.json()["target"] == target
    assert the_request(legacy, rid)["target"] == target
    assert the_request(new, rid)["target"] == target
    assert p.wait_record(rid)["uri"] == target


@pytest.mark.parametrize("via", ["flags", "config"])
def test_base_url_prefix_is_prepended(stubs, proxy, via):
    """README: `--legacy https://erp/api` + `/orders/1?x=1` goes to
    `https://erp/api/orders/1?x=1`; docs (legacy.url): one trailing `/` is
    dropped. Flags and the config file must agree."""
    legacy = stubs("legacy")
    new = stubs("new")
    lurl, nurl = legacy.url + "/old-api/", new.url + "/v2"
    if via == "flags":
        p = proxy(lurl, nurl)
    else:
        p = proxy(None, None, config={"legacy": {"url": lurl}, "new": nurl})
    r = raw_request(p.port, "GET", "/orders/7?a=%2F", [("Host", "x"), ("X-Request-Id", "prefix-1")])
    assert r.status == 404  # the stub has no such route, but it logged the target
    assert the_request(legacy, "prefix-1")["target"] == "/old-api/orders/7?a=%2F"
    assert the_request(new, "prefix-1")["target"] == "/v2/orders/7?a=%2F"


@pytest.mark.parametrize("request_bytes", [
    b"GET http://evil.example/ HTTP/1.1\r\nHost: evil.example\r\n\r\n",
    b"GET http://127.0.0.1:1/echo HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
    b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: evil.example\r\n\r\n",
], ids=["absolute", "absolute-upstream", "connect", "asterisk"])
def test_non_origin_form_targets_refused(pair, request_bytes):
    legacy, new, p = pair
    with RawConn(p.port) as c:
        r = c.request(request_bytes)
    assert r.status == 400, r
    assert r.header("Content-Type") == "application/json"
    assert r.json()["error"] == "bad_request"
    # A normal request afterwards is served, and is the only one upstream.
    ok = raw_request(p.port, "GET", "/echo/after", [("Host", "x"), ("X-Request-Id", "after-1")])
    assert ok.status == 200
    assert len(by_request_id(legacy, "after-1")) == 1
    time.sleep(0.1)
    assert [q["target"] for q in legacy.requests()] == ["/echo/after"]
    assert [q["target"] for q in new.requests()] == ["/echo/after"]


def _e2e_request_headers():
    return [
        ("Host", "shop.example.com"),
        ("X-A", "1"),
        ("Accept", "application/json"),
        ("X-B", "two"),
        ("X-A", "3"),
        ("X-Forwarded-For", "10.0.0.1"),
        ("Connection", "close, X-Hop"),
        ("Keep-Alive", "timeout=5"),
        ("X-Hop", "must not pass"),
        ("TE", "trailers"),
        ("Upgrade", "websocket"),
        ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
        ("Proxy-Connection", "keep-alive"),
        ("x-lower-case", "Mixed Value"),
        ("X-Forwarded-For", "10.0.0.2, 10.0.0.3"),
        ("X-Request-Id", "hdr-order-1"),
        ("X-A", "5"),
    ]


def test_request_headers_order_duplicates_and_hop_by_hop(pair):
    legacy, new, p = pair
    r = raw_request(p.port, "GET", "/echo/h", _e2e_request_headers())
    assert r.status == 200, r
    want = [["X-A", "1"], ["Accept", "application/json"], ["X-B", "two"], ["X-A", "3"],
            ["x-lower-case", "Mixed Value"], ["X-Request-Id", "hdr-order-1"], ["X-A", "5"]]
    la = the_request(legacy, "hdr-order-1")
    na = the_request(new, "hdr-order-1")
    for leg, stub in ((la, legacy), (na, new)):
        h = leg["headers"]
        assert without(h, *PROXY_ADDED) == want, h
        assert one(h, "Host") == f"127.0.0.1:{stub.port}"
        # the client is no trusted proxy: its X-Forwarded-For is replaced
        assert one(h, "X-Forwarded-For") == "127.0.0.1"
        assert one(h, "X-Forwarded-Proto") == "http"
        assert one(h, "Via") == "1.1 shadowproxy"
        for hop in ("Connection", "Keep-Alive", "X-Hop", "TE", "Upgrade",
                    "Proxy-Authorization", "Proxy-Connection", "Transfer-Encoding",
                    "Content-Length", "Expect"):
            assert values(h, hop) == [], (hop, h)
    assert values(la["headers"], "X-Shadow-Request") == []
    assert one(na["headers"], "X-Shadow-Request") == "1"
    # Apart from Host and the shadow marker, both legs got the same list.
    assert without(la["headers"], "Host") == without(na["headers"], "Host", "X-Shadow-Request")
    # The record keeps the client's headers as received, names as spelled.
    rec = p.wait_record("hdr-order-1")
    got = rec["request"]["headers"]
    sent = [[k, v] for k, v in _e2e_request_headers()]
    assert [k for k, _ in got] == [k for k, _ in sent]
    assert one(got, "Proxy-Authorization") == "[redacted]"
    assert without(got, "Proxy-Authorization") == without(sent, "Proxy-Authorization")


CLIENT_FORWARDING = [
    ("X-Forwarded-For", "10.9.9.9, " + "1" * 1000),  # long: 1023 bytes with the peer, before
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "admin.internal"),
    ("X-Forwarded-Port", "443"),
    ("Forwarded", "for=10.9.9.9;proto=https"),
    ("X-Real-IP", "10.9.9.9"),
    ("X-Forwarded-For", "10.8.8.8"),
    ("X_Forwarded_For", "10.7.7.7"),  # PHP reads it as X-Forwarded-For
    ("X_Real_IP", "10.7.7.7"),
    ("x_forwarded_host", "admin.internal"),
]


def forwarding_seen(stubs, proxy, trusted, rid):
    legacy, new = stubs("legacy"), stubs("new")
    config = {"trusted_proxies": trusted} if trusted is not None else None
    p = proxy(legacy.url, new.url, config=config)
    r = raw_request(p.port, "GET", "/echo/f",
                    [("Host", "x"), ("X-Request-Id", rid), *CLIENT_FORWARDING])
    assert r.status == 200, r
    return [the_request(legacy, rid)["headers"], the_request(new, rid)["headers"]]


@pytest.mark.parametrize("trusted", [None, ["10.0.0.0/8", "::1"]])
def test_forwarding_headers_from_an_untrusted_client_are_replaced(stubs, proxy, trusted):
    """A client that is not in trusted_proxies (none by default) cannot say
    who it is: both legs get X-Forwarded-For with the peer address alone and
    the listener's X-Forwarded-Proto; its X-Forwarded-*, Forwarded and
    X-Real-IP are removed, written with '_' for '-' too. (Failed before: a
    1023-byte X-Forwarded-For pushed the peer address out of the shared
    1024-byte buffer, and every other forwarding header passed unchanged;
    X_Forwarded_For and X_Real_IP, which PHP upstreams read as the real
    ones, passed until the red-team re-run.)"""
    for h in forwarding_seen(stubs, proxy, trusted, f"fwd-untrusted-{trusted is None}"):
        assert values(h, "X-Forwarded-For") == ["127.0.0.1"], h
        assert values(h, "X-Forwarded-Proto") == ["http"], h
        for name in ("X-Forwarded-Host", "X-Forwarded-Port", "Forwarded", "X-Real-IP",
                     "X_Forwarded_For", "X_Real_IP", "x_forwarded_host"):
            assert values(h, name) == [], (name, h)


def test_forwarding_headers_from_a_trusted_proxy_are_kept(stubs, proxy):
    """From a peer in trusted_proxies the forwarding headers pass, and the
    peer address is appended to X-Forwarded-For whole, however long the
    client's part."""
    for h in forwarding_seen(stubs, proxy, ["127.0.0.0/8"], "fwd-trusted"):
        assert values(h, "X-Forwarded-For") == ["10.9.9.9, " + "1" * 1000 + ", 10.8.8.8, 127.0.0.1"]
        assert values(h, "X-Forwarded-Proto") == ["https"]
        assert values(h, "X-Forwarded-Host") == ["admin.internal"]
        assert values(h, "X-Forwarded-Port") == ["443"]
        assert values(h, "Forwarded") == ["for=10.9.9.9;proto=https"]
        assert values(h, "X-Real-IP") == ["10.9.9.9"]


def test_empty_header_value_forwarded(pair):
    legacy, new, p = pair
    r = raw_request(p.port, "GET", "/echo/e", [("Host", "x"), ("X-Empty", ""),
                                               ("X-Request-Id", "empty-1"), ("X-After", "z")])
    assert r.status == 200
    for stub in (legacy, new):
        h = the_request(stub, "empty-1")["headers"]
        assert values(h, "X-Empty") == [""]
        assert without(h, *PROXY_ADDED) == [["X-Empty", ""], ["X-Request-Id", "empty-1"],
                                            ["X-After", "z"]]


def test_host_rewritten_to_upstream_by_default(pair):
    legacy, new, p = pair
    raw_request(p.port, "GET", "/echo", [("Host", "shop.example.com"), ("X-Request-Id", "host-1")])
    assert one(the_request(legacy, "host-1")["headers"], "Host") == f"127.0.0.1:{legacy.port}"
    assert one(the_request(new, "host-1")["headers"], "Host") == f"127.0.0.1:{new.port}"


def test_preserve_host(stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"preserve_host": True})
    r = raw_request(p.port, "GET", "/echo", [("Host", "shop.example.com:8443"),
                                             ("X-Request-Id", "host-2")])
    assert r.status == 200
    for stub in (legacy, new):
        h = the_request(stub, "host-2")["headers"]
        assert values(h, "Host") == ["shop.example.com:8443"]


def test_response_headers_order_duplicates_and_hop_by_hop(pair):
    legacy, new, p = pair
    hdrs = [
        ("Host", "x"),
        ("X-Stub-Ctl", "hdr=Set-Cookie:a=1; Path=/"),
        ("X-Stub-Ctl", "hdr=X-Mid:m,hdr=Set-Cookie:b=2,hdr=Keep-Alive:timeout=5"),
        ("X-Stub-Ctl", "hdr=Connection:X-Private,hdr=X-Private:p,hdr=Proxy-Authenticate:Basic"),
        ("X-Stub-Ctl", "hdr=Upgrade:h2c,hdr=Trailer:X-T,hdr=X-Last:z,body=hello"),
    ]
    with RawConn(p.port) as c:
        r = c.request(build_request("GET", "/anything", hdrs))
        # The connection stays usable: the framing the client got was right.
        r2 = c.request(build_request("GET", "/health", [("Host", "x")]))
    assert r.status == 200
    assert r.body == b"hello"
    assert values(r.headers, "Content-Length") == ["5"]
    assert values(r.headers, "Connection") in ([], ["keep-alive"])
    names = [k for k, _ in without(r.headers, "Content-Length", "Connection")]
    assert names == ["Date", "X-Stub-Name", "Content-Type", "Set-Cookie", "X-Mid", "Set-Cookie",
                     "X-Last"], r.headers
    assert values(r.headers, "Set-Cookie") == ["a=1; Path=/", "b=2"]
    assert one(r.headers, "X-Stub-Name") == "legacy"
    assert one(r.headers, "Content-Type") == "application/octet-stream"
    assert one(r.headers, "X-Mid") == "m"
    for hop in ("Keep-Alive", "X-Private", "Proxy-Authenticate", "Upgrade", "Trailer"):
        assert values(r.headers, hop) == [], hop
    assert r2.status == 200 and r2.body == b"ok"


def test_upstream_status_and_reason_passed(pair):
    legacy, new, p = pair
    for code in (201, 404, 418, 503):
        r = raw_request(p.port, "GET", f"/status/{code}", [("Host", "x")])
        assert r.status == code
        assert r.json() == {"status": code}
    r = raw_request(p.port, "DELETE", "/x", [("Host", "x"), ("X-Stub-Ctl", "status=204")])
    assert r.status == 204 and r.body == b""


def test_request_id_from_client_kept(pair):
    legacy, new, p = pair
    r, _ = p.request("GET", "/echo", headers={"X-Request-Id": "client-id-42"})
    assert r.status == 200
    for stub in (legacy, new):
        assert values(the_request(stub, "client-id-42")["headers"], "X-Request-Id") == ["client-id-42"]
    assert p.wait_record("client-id-42")["id"] == "client-id-42"


def test_request_id_generated_when_absent(pair):
    legacy, new, p = pair
    ids = []
    for i in range(2):
        r = raw_request(p.port, "GET", f"/echo/gen{i}", [("Host", "x")])
        assert r.status == 200
        body = r.json()
        rid = one(body["headers"], "X-Request-Id")
        assert UUID4.match(rid), rid
        ids.append(rid)
        assert one(the_request(new, rid)["headers"], "X-Request-Id") == rid
        assert the_request(legacy, rid)["target"] == f"/echo/gen{i}"
        assert p.wait_record(rid)["uri"] == f"/echo/gen{i}"
    assert ids[0] != ids[1]


def records_for(p, uri, n, timeout=5.0):
    deadline = time.monotonic() + timeout * SLOW
    while True:
        recs = [x for x in p.records() if x["uri"] == uri]
        if len(recs) >= n or time.monotonic() > deadline:
            return recs
        time.sleep(0.02)


@pytest.mark.parametrize("bad", [
    "<script>alert(1)</script>", "a'b", "id;x=1", "a&b", "a b", "é", "x" * 61,
])
def test_unsafe_client_request_id_is_replaced(pair, bad):
    """Only ids of letters, digits and - _ . : + = / up to 60 characters are
    kept: markup, quotes, separators and non-ASCII are replaced by a
    generated id, on both legs and in the record. (Failed before: any
    printable ASCII without quote or backslash was kept, markup included.)"""
    legacy, new, p = pair
    uri = f"/echo/unsafe-{abs(hash(bad))}"
    r = raw_request(p.port, "GET", uri, [("Host", "x"), ("X-Request-Id", bad.encode("utf-8"))])
    assert r.status == 200
    (rec,) = records_for(p, uri, 1)
    assert UUID4.match(rec["id"]), rec["id"]
    assert "client_request_id" not in rec
    for stub in (legacy, new):
        assert values(the_request(stub, rec["id"])["headers"], "X-Request-Id") == [rec["id"]]


def test_reused_client_request_id_keeps_records_unique(pair):
    """A client id another recent exchange already had (a retry, or a
    forged copy of another record's id) still goes to both upstreams, but
    the record gets an id of its own and keeps the client's in
    client_request_id: a record id names one exchange. (Failed before:
    both records had the same id.)"""
    legacy, new, p = pair
    for i in range(2):
        r = raw_request(p.port, "GET", "/echo/dup", [("Host", "x"), ("X-Request-Id", "dup-7")])
        assert r.status == 200
        assert one(r.json()["headers"], "X-Request-Id") == "dup-7"
    recs = records_for(p, "/echo/dup", 2)
    assert [x["id"] for x in recs].count("dup-7") == 1, recs
    other = next(x for x in recs if x["id"] != "dup-7")
    assert UUID4.match(other["id"]) and other["client_request_id"] == "dup-7"
    assert "client_request_id" not in next(x for x in recs if x["id"] == "dup-7")
    for stub in (legacy, new):
        seen = [q for q in stub.requests() if q["target"] == "/echo/dup"]
        assert [values(q["headers"], "X-Request-Id") for q in seen] == [["dup-7"], ["dup-7"]]
    # A generated id reused by a client (to overwrite that record in a
    # viewer keyed by id) gets the same treatment.
    r = raw_request(p.port, "GET", "/echo/gen-victim", [("Host", "x")])
    victim = one(r.json()["headers"], "X-Request-Id")
    raw_request(p.port, "GET", "/echo/forger", [("Host", "x"), ("X-Request-Id", victim)])
    (forged,) = records_for(p, "/echo/forger", 1)
    assert forged["id"] != victim and forged["client_request_id"] == victim


def test_invalid_client_request_id_replaced_consistently(pair):
    """An X-Request-Id the proxy does not accept (too long, or with spaces) is
    replaced: the id in the record must be the one both upstreams got, so the
    record can be matched with upstream logs (README, 'Each request carries
    one request id ... on both legs and in its record')."""
    legacy, new, p = pair
    bad = "x" * 80
    r = raw_request(p.port, "GET", "/echo/badid", [("Host", "x"), ("X-Request-Id", bad)])
    assert r.status == 200
    deadline = time.monotonic() + 5 * SLOW
    while True:
        recs = [x for x in p.records() if x["uri"] == "/echo/badid"]
        if recs or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert len(recs) == 1
    rid = recs[0]["id"]
    assert rid != bad
    legs = [q for q in legacy.requests() if q["target"] == "/echo/badid"]
    shadows = [q for q in new.requests() if q["target"] == "/echo/badid"]
    assert len(legs) == 1 and len(shadows) == 1
    assert values(legs[0]["headers"], "X-Request-Id") == [rid]
    assert values(shadows[0]["headers"], "X-Request-Id") == [rid]


def test_http10_client(pair):
    legacy, new, p = pair
    with RawConn(p.port) as c:
        c.send(b"GET /echo/ten HTTP/1.0\r\nHost: x\r\nX-Request-Id: ten-1\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert r.json()["target"] == "/echo/ten"
        assert c.at_eof()
    assert the_request(new, "ten-1")["method"] == "GET"


def test_reused_handles_forget_the_previous_request(stubs, proxy):
    """curl handles are reused without a reset (the upstream's settings are
    set once per handle): each request must still go out with its own
    method and body only. One worker, so the same few handles serve all."""
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, args=("--workers", "1"))
    sequence = [("POST", b"x" * 5000), ("HEAD", b""), ("GET", b""), ("PUT", b"abc"),
                ("POST", b""), ("DELETE", b""), ("GET", b""), ("HEAD", b""), ("OPTIONS", b"")]
    for i, (method, body) in enumerate(sequence):
        headers = [("Host", "x"), ("X-Request-Id", f"reuse-{i}")]
        if body or method in ("POST", "PUT"):
            headers.append(("Content-Length", str(len(body))))
        r = raw_request(p.port, method, f"/echo/{i}", headers, body, head=method == "HEAD")
        assert r.status == 200, (method, r)
        for stub in (legacy, new):
            seen = the_request(stub, f"reuse-{i}")
            assert seen["method"] == method
            assert seen["body_len"] == len(body)
            assert seen["target"] == f"/echo/{i}"
