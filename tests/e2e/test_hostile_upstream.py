"""Hostile upstreams: broken or lying framing, storms of 1xx interim
answers, gigantic headers, bodies that are not UTF-8 or not JSON, deeply
nested JSON and XML (stack safety: the comparer, the body decoder and the
record builder), answers that never end.

Each case: the client gets the authoritative answer byte for byte, or a
clear 502/504 JSON naming the cause; a failing shadow never changes what
the client gets; the record says what happened, and every diff-log line is
whole JSON (readable by Python's json and jq 1.6 alike, whatever the
bodies' nesting); other clients are served; ASan/UBSan reports are checked
when each proxy stops.

Covered elsewhere, not repeated here: the authoritative upstream refusing,
resetting, closing, sending garbage, truncating (cut=, badlen), breaking
its chunking (badchunk), stalling before or during its body (delay=,
slow=), test_failures.py; the shadow refusing, resetting, closing, sending
garbage or truncating, and a 50 MB shadow answer, test_shadow.py; a
decompression bomb and broken gzip, test_compare.py / test_bodies.py.
"""
import base64
import hashlib
import json
import os
import threading
import time

import pytest

from conftest import SANITIZED, SLOW
from helpers import RawConn, build_request, raw_request, values
from hostile import next_id, shared_proxy

# Timeouts small enough for never-ending answers to end quickly; a breaker
# that never opens, so that one case's shadow failures cannot turn the next
# case's shadow into shadow_dropped.
CONFIG = {
    "legacy": {"timeout_ms": 1500},
    "new": {"timeout_ms": 1500},
    "shadow": {"timeout_ms": 1000, "breaker_failures": 10000},
}


@pytest.fixture(scope="module")
def shared():
    with shared_proxy(CONFIG) as s:
        yield s


def get(p, rid, legacy_ctl=None, new_ctl=None, both_ctl=None, target=None):
    hdrs = [("Host", "x"), ("X-Request-Id", rid)]
    for name, v in (("X-Stub-Ctl-legacy", legacy_ctl), ("X-Stub-Ctl-new", new_ctl),
                    ("X-Stub-Ctl", both_ctl)):
        if v:
            hdrs.append((name, v))
    return raw_request(p.port, "GET", target or f"/echo/{rid}", hdrs)


def bad_gateway(r, rid, cause, words, status=502):
    assert r.status == status, r
    assert r.header("Content-Type") == "application/json"
    body = r.json()
    assert body["error"] == ("upstream_timeout" if status == 504 else "bad_gateway")
    assert body["upstream"] == "legacy" and body["cause"] == cause, body
    assert words in body["detail"], body
    assert body["request_id"] == rid


def still_served(p, tag="ok"):
    rid = next_id(tag)
    r = get(p, rid)
    assert r.status == 200 and r.json()["target"] == f"/echo/{rid}"


# ---- framing that lies -------------------------------------------------------------------

FRAMING = [
    # (id, directive, cause, words of the detail)
    ("content-length-conflict", "hdr=Content-Length:3", "bad response",
     "Content-Length fields that disagree"),
    ("content-length-and-chunked", "hdr=Transfer-Encoding:chunked", "bad response",
     "both Content-Length and Transfer-Encoding"),
]


@pytest.mark.parametrize("directive,cause,words", [c[1:] for c in FRAMING],
                         ids=[c[0] for c in FRAMING])
def test_authoritative_ambiguous_framing_is_a_502(shared, directive, cause, words):
    """Two Content-Lengths that disagree (curl would take one) or one beside
    Transfer-Encoding: RFC 9112 6.3 wants a proxy to refuse the answer."""
    legacy, new, p = shared
    rid = next_id("frame")
    r = get(p, rid, legacy_ctl=directive)
    bad_gateway(r, rid, cause, words)
    rec = p.wait_record(rid)
    assert rec["verdict"] == "authoritative_error" and rec["reason"] == cause
    assert words in rec["legacy"]["error"]
    still_served(p)


@pytest.mark.parametrize("directive,cause", [
    ("hdr=Content-Length:3", "bad response"),
    ("hdr=Transfer-Encoding:chunked", "bad response"),
    ("bytes=1000,badchunk", "bad response"),
    ("bytes=1000,badlen", "truncated response"),
    ("bytes=100000,chunked,cut=20000", "truncated response"),
], ids=["content-length-conflict", "content-length-and-chunked", "badchunk", "badlen",
        "chunked-cut"])
def test_shadow_broken_framing_is_a_shadow_error(shared, directive, cause):
    legacy, new, p = shared
    rid = next_id("shframe")
    r = get(p, rid, new_ctl=directive)
    assert r.status == 200 and r.header("X-Stub-Name") == "legacy"
    assert r.json()["target"] == f"/echo/{rid}"
    rec = p.wait_record(rid)
    assert rec["verdict"] == "shadow_error" and rec["reason"] == cause, rec["new"]["error"]


def test_content_length_shorter_than_the_body_never_poisons_the_next_answer(stubs, proxy):
    """The upstream declares 5 bytes and sends 5 plus a whole forged HTTP
    answer, keeping the connection: the client gets exactly the 5 declared
    bytes, and the forged answer is never read as the answer to a later
    request on that upstream connection (one worker, so later requests use
    the same connection pool)."""
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, args=("--workers", "1", "--diff-log-mode", "all"))
    forged = b"hello" + (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Smuggled: 1\r\n"
                         b"Content-Type: text/plain\r\n\r\nevil!")
    ctl = "body64=" + base64.b64encode(forged).decode() + ",len=5"
    with RawConn(p.port) as c:
        r = c.request(build_request("GET", "/x", [("Host", "x"), ("X-Request-Id", "short-1"),
                                                  ("X-Stub-Ctl", ctl)]))
        assert r.status == 200 and r.body == b"hello"
        assert values(r.headers, "Content-Length") == ["5"]
        for i in range(6):  # the same client connection, and fresh ones
            r = c.request(build_request("GET", f"/echo/next-{i}", [("Host", "x")]))
            assert r.status == 200 and r.header("X-Smuggled") is None, r
            assert r.json()["target"] == f"/echo/next-{i}"
    for i in range(4):
        r = raw_request(p.port, "GET", f"/echo/fresh-{i}", [("Host", "x")])
        assert r.status == 200 and r.json()["target"] == f"/echo/fresh-{i}"
    assert p.wait_record("short-1")["verdict"] == "match"
    assert not any(b"evil" in line.encode() for line in map(json.dumps, p.records()))


# ---- 1xx storms -------------------------------------------------------------------------


def test_interim_answers_are_skipped_and_never_leak(shared):
    """1000 103 Early Hints before the answer: the client gets the final
    answer only, none of the interim headers."""
    legacy, new, p = shared
    rid = next_id("info")
    r = get(p, rid, both_ctl="info=1000,body=final")
    assert r.status == 200 and r.body == b"final"
    assert r.header("Link") is None and r.header("X-Interim") is None
    rec = p.wait_record(rid)
    assert rec["verdict"] == "match"
    assert values(rec["legacy"]["headers"], "X-Interim") == []


def test_authoritative_1xx_storm_is_a_502(shared):
    """100000 interim answers: more than curl's 300 KiB of headers per
    answer, interim ones included, so the storm is cut short."""
    legacy, new, p = shared
    rid = next_id("storm")
    t0 = time.monotonic()
    r = get(p, rid, legacy_ctl="info=100000,body=never")
    bad_gateway(r, rid, "bad response", "Too large response headers")
    assert time.monotonic() - t0 < 1.5 * SLOW
    still_served(p)


def test_endless_shadow_1xx_storm_never_delays_the_client(shared):
    legacy, new, p = shared
    rid = next_id("shstorm")
    t0 = time.monotonic()
    r = get(p, rid, new_ctl="info=1000000000")
    assert r.status == 200 and r.header("X-Stub-Name") == "legacy"
    assert time.monotonic() - t0 < 0.5 * SLOW
    rec = p.wait_record(rid)
    assert rec["verdict"] == "shadow_error" and rec["reason"] == "bad response"


# ---- gigantic headers ---------------------------------------------------------------------


@pytest.mark.parametrize("size", [70000, 2000000], ids=["70k", "2M"])
def test_authoritative_gigantic_headers_are_a_502(shared, size):
    """Headers the client's connection cannot hold (MHD builds the answer's
    head in the connection's 64 KiB, which also holds the request) were a
    dropped connection and a record saying 200; now a 502 naming the limit,
    as soon as the headers pass it."""
    legacy, new, p = shared
    words = "response headers too large for the client"
    rid = next_id("bighdr")
    r = get(p, rid, legacy_ctl=f"bigheaders={size}")
    bad_gateway(r, rid, "bad response", words)
    rec = p.wait_record(rid)
    assert rec["verdict"] == "authoritative_error" and words in rec["legacy"]["error"]
    still_served(p)


def test_large_headers_that_fit_pass_byte_for_byte(shared):
    legacy, new, p = shared
    rid = next_id("midhdr")
    r = get(p, rid, legacy_ctl="bigheaders=20000")
    assert r.status == 200
    assert [len(v) for v in values(r.headers, "X-Big-0") + values(r.headers, "X-Big-2")] == [
        8192, 20000 - 2 * 8192]


def test_gigantic_shadow_headers_are_compared(shared):
    """Only the client's answer is limited: a shadow with 200 KB of headers
    is compared (and recorded) like any other."""
    legacy, new, p = shared
    rid = next_id("shbig")
    r = get(p, rid, new_ctl="bigheaders=200000", both_ctl="body=same")
    assert r.status == 200 and r.header("X-Big-0") is None
    rec = p.wait_record(rid)
    assert rec["verdict"] == "match"
    assert len(values(rec["new"]["headers"], "X-Big-0")[0]) == 8192


# ---- bodies that are not UTF-8, not JSON ----------------------------------------------------

NOT_JSON = [
    ("truncated", b'{"a": [1, 2'),
    ("bad-utf8-in-string", b'{"a": "\xff\xfe"}'),
    ("binary", b"\x00\xff\xfe{\"a\":1}\x00"),
    ("number-overflow", b'{"a": 1e999999}'),
    ("lone-surrogate", b'{"a": "\\ud800"}'),
    ("two-documents", b'{"a":1}{"a":2}'),
    ("nul-in-text", b'{"a":1}\x00'),
    ("latin1", b'{"name": "M\xfcller"}'),
]


@pytest.mark.parametrize("body", [c[1] for c in NOT_JSON], ids=[c[0] for c in NOT_JSON])
def test_invalid_json_answer_passed_on_and_recorded(shared, body):
    """Labelled JSON, is not: the client gets the bytes as they came; the
    record says why it did not parse and carries them as text or base64."""
    legacy, new, p = shared
    rid = next_id("notjson")
    ctl = "body64=" + base64.b64encode(body).decode() + ",ctype=application/json"
    r = get(p, rid, legacy_ctl=ctl, new_ctl='body64=' + base64.b64encode(
        b'{"a":1}').decode() + ",ctype=application/json")
    assert r.status == 200 and r.body == body
    rec = p.wait_record(rid)
    assert rec["verdict"] == "mismatch"
    leg = rec["legacy"]
    assert leg["body_decode_error"].startswith("invalid JSON"), leg
    assert leg["body_format"] in ("text", "base64")
    raw = leg["body"].encode() if leg["body_format"] == "text" else base64.b64decode(leg["body"])
    assert raw == body or leg["body_format"] == "text"  # text: as decoded UTF-8
    assert rec["new"]["body_format"] == "json"


def test_same_invalid_json_on_both_sides_matches(shared):
    legacy, new, p = shared
    rid = next_id("samebad")
    ctl = "body64=" + base64.b64encode(b'{"a": \xff').decode() + ",ctype=application/json"
    assert get(p, rid, both_ctl=ctl).status == 200
    assert p.wait_record(rid)["verdict"] == "match"


def test_non_utf8_response_header_passed_byte_for_byte(shared):
    legacy, new, p = shared
    rid = next_id("hdr8")
    with RawConn(p.port) as c:
        c.send(b"GET /echo/h HTTP/1.1\r\nHost: x\r\nX-Request-Id: " + rid.encode() +
               b"\r\nX-Stub-Ctl: hdr=X-Bad:a\xffb\x80\r\n\r\n")
        r = c.read_response()
    assert r.status == 200
    assert values(r.headers, "X-Bad") == ["a\xffb\x80"]  # latin-1 view of the raw bytes
    rec = p.wait_record(rid)
    assert values(rec["legacy"]["headers"], "X-Bad") == ["a\u00ffb\u0080"]


# ---- deeply nested bodies --------------------------------------------------------------------

DEEP = "/0" * 2000


def test_json_nested_beyond_the_parser_limit(shared):
    """100000 levels on both sides: past jansson's 2048, so both are text
    (with the decode error) and compared as text: equal, a match."""
    legacy, new, p = shared
    rid = next_id("deep")
    r = get(p, rid, both_ctl="nest=100000")
    assert r.status == 200 and r.body == b"[" * 100000 + b"]" * 100000
    rec = p.wait_record(rid)
    assert rec["verdict"] == "match"
    for side in ("legacy", "new"):
        assert "maximum parsing depth" in rec[side]["body_decode_error"]
        assert rec[side]["body_format"] == "text" and rec[side]["body_truncated"] is True


def test_json_nested_deeply_compared_to_the_bottom(shared):
    """2000 levels against 2001 (the parser takes both): the comparer walks
    to the bottom and reports the one difference there; the record embeds
    the bodies as text (deeper than 200 levels), so every consumer can read
    the line."""
    legacy, new, p = shared
    rid = next_id("deep2k")
    r = get(p, rid, legacy_ctl="nest=2000", new_ctl="nest=2001")
    assert r.body == b"[" * 2000 + b"]" * 2000
    rec = p.wait_record(rid)
    assert rec["verdict"] == "mismatch"
    assert [(d["path"], d["kind"]) for d in rec["differences"]] == [(DEEP, "added")]
    assert rec["legacy"]["body_format"] == rec["new"]["body_format"] == "text"
    assert rec["legacy"]["body"] == "[" * 2000 + "]" * 2000


def test_json_objects_nested_deeply_with_a_type_change_at_the_bottom(shared):
    legacy, new, p = shared
    rid = next_id("deepobj")
    get(p, rid, legacy_ctl="nestobj=2000", new_ctl="nestobj=2001")
    rec = p.wait_record(rid)
    assert rec["verdict"] == "mismatch"
    (d,) = rec["differences"]
    assert d["path"] == "/a" * 2000 and d["kind"] == "type"
    assert d["legacy"] == 0 and d["new"] == {"a": 0}


def test_deep_value_in_a_difference_recorded_as_text(shared):
    """A difference whose value is 1000 levels deep (an array against an
    object at the top) carries that value as its JSON text."""
    legacy, new, p = shared
    rid = next_id("deepdiff")
    get(p, rid, legacy_ctl="nest=1000", new_ctl="nestobj=1")
    rec = p.wait_record(rid)
    (d,) = rec["differences"]
    assert d["path"] == "" and d["kind"] == "type"
    assert d["legacy"] == "[" * 1000 + "]" * 1000 and d["new"] == {"a": 0}


def test_xml_nested_beyond_the_parser_limit(shared):
    legacy, new, p = shared
    rid = next_id("deepxml")
    get(p, rid, legacy_ctl="nestxml=100000", new_ctl="nestxml=200")
    rec = p.wait_record(rid)
    assert rec["verdict"] == "mismatch"
    assert "Excessive depth" in rec["legacy"]["body_decode_error"]
    assert rec["new"]["body_format"] == "xml"


def test_deep_json_request_body_forwarded_and_recorded(shared):
    legacy, new, p = shared
    rid = next_id("deepreq")
    body = b"[" * 100000 + b"]" * 100000
    r = raw_request(p.port, "POST", "/echo/deepreq", [
        ("Host", "x"), ("X-Request-Id", rid), ("Content-Type", "application/json"),
        ("Content-Length", str(len(body)))], body)
    assert r.status == 200 and r.json()["body_sha256"] == hashlib.sha256(body).hexdigest()
    rec = p.wait_record(rid)
    assert "maximum parsing depth" in rec["request"]["body_decode_error"]


def test_deep_json_with_rules_on_every_level(stubs, proxy, tmp):
    """The deepest JSON the parser takes (2048 levels) on both sides, with
    rules that act at every level (unordered arrays, an ignore pattern with
    '**'): the walk with its rule lookups stays within the stack."""
    legacy = stubs("legacy")
    new = stubs("new")
    rules = {"version": 1, "default": {"compare": {
        "ignore": ["/**/nothing"], "arrays": [{"path": "/**", "unordered": True}]}}}
    path = os.path.join(tmp, "rules.json")
    with open(path, "w") as f:
        json.dump(rules, f)
    p = proxy(legacy.url, new.url, config={"rules": path}, args=("--diff-log-mode", "all"))
    for i, (l_ctl, n_ctl, verdict) in enumerate([("nest=2048", "nest=2048", "match"),
                                                 ("nest=2047", "nest=2048", "mismatch")]):
        r = get(p, f"deeprules-{i}", legacy_ctl=l_ctl, new_ctl=n_ctl)
        assert r.status == 200
        assert p.wait_record(f"deeprules-{i}")["verdict"] == verdict


# ---- answers that never end ------------------------------------------------------------------


def test_authoritative_answer_that_never_ends(shared):
    """Headers, then a body that never ends: the client gets the headers and
    the body so far, then an incomplete chunked stream when the leg's
    timeout (1.5 s) cuts it; the record is an authoritative_error (timeout).
    Other clients are served while it streams."""
    legacy, new, p = shared
    rid = next_id("endless")
    result = {}

    def stream():
        with RawConn(p.port, timeout=10) as c:
            result["r"] = c.request(build_request("GET", "/x", [
                ("Host", "x"), ("X-Request-Id", rid), ("X-Stub-Ctl-legacy", "endless,slow=5")]))

    t = threading.Thread(target=stream)
    t.start()
    time.sleep(0.3)
    for _ in range(3):
        t0 = time.monotonic()
        still_served(p)
        assert time.monotonic() - t0 < 0.5 * SLOW
    t.join(15)
    r = result["r"]
    assert r.status == 200 and r.complete is False and len(r.body) > 16384
    rec = p.wait_record(rid)
    assert rec["verdict"] == "authoritative_error" and rec["reason"] == "timeout"


def test_shadow_answer_that_never_ends(shared):
    """A shadow pouring bytes as fast as it can for its whole timeout (1 s):
    neither its client nor another one is delayed (curl reading the flood
    used to hold the worker's loop for up to the whole timeout, now shadow
    reads pause after 256 KiB per loop turn), the record is a
    shadow_timeout, and the
    proxy's memory stays bounded (the comparison keeps at most
    compare.max_body_bytes, 8 MiB, and hashes the rest)."""
    legacy, new, p = shared
    status = f"/proc/{p.proc.pid}/status"

    def rss_mb():
        with open(status) as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) / 1024

    before = rss_mb()
    rids = []
    for _ in range(4):  # the delay was intermittent: several tries
        rid = next_id("shendless")
        rids.append(rid)
        t0 = time.monotonic()
        r = get(p, rid, new_ctl="endless")
        assert r.status == 200 and time.monotonic() - t0 < 0.5 * SLOW
        t0 = time.monotonic()  # another client, while the shadow pours
        still_served(p)
        assert time.monotonic() - t0 < 0.5 * SLOW
    for rid in rids:
        rec = p.wait_record(rid)
        assert rec["verdict"] == "shadow_timeout" and "bytes received" in rec["new"]["error"]
    if not SANITIZED:  # ASan's quarantine holds freed memory on purpose
        assert rss_mb() - before < 64, (before, rss_mb())
