"""The authoritative upstream fails: 502/504 with a JSON body naming the
upstream and the cause, and an authoritative_error record. A 5xx answer is
an answer: passed through as is."""
import json
import time

import pytest

from conftest import SLOW, free_port
from helpers import RawConn, build_request, raw_request, the_request, values


def check_error_answer(r, status, error, cause, rid, upstream="legacy"):
    assert r.status == status, r
    assert r.header("Content-Type") == "application/json"
    body = json.loads(r.body)
    assert body["error"] == error
    assert body["upstream"] == upstream
    assert body["cause"] == cause
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["request_id"] == rid
    return body


def check_error_record(rec, cause, side="legacy"):
    assert rec["verdict"] == "authoritative_error"
    assert rec["reason"] == cause
    assert rec["authority"] == side
    leg = rec[side]
    assert leg["attempted"] is True
    assert leg["status"] is None
    assert leg["error"].startswith(cause + ": "), leg["error"]
    assert leg["body"] is None and leg["body_format"] == "none"
    assert isinstance(leg["duration_ms"], (int, float)) and leg["duration_ms"] >= 0
    assert rec["differences"] == []


def test_authoritative_down_gives_502(stubs, proxy):
    new = stubs("new")
    dead = f"http://127.0.0.1:{free_port()}"
    p = proxy(dead, new.url)  # default mode: mismatches; errors are still written
    r = raw_request(p.port, "GET", "/echo/down", [("Host", "x"), ("X-Request-Id", "down-1")])
    check_error_answer(r, 502, "bad_gateway", "connection refused", "down-1")
    assert r.header("X-Request-Id") == "down-1"
    rec = p.wait_record("down-1")
    check_error_record(rec, "connection refused")
    assert rec["uri"] == "/echo/down"


def test_authoritative_slow_gives_504(stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"legacy": {"timeout_ms": 300}})
    t0 = time.monotonic()
    r = raw_request(p.port, "GET", "/echo/slow", [("Host", "x"), ("X-Request-Id", "slow-1"),
                                                  ("X-Stub-Ctl-legacy", "delay=2000")])
    elapsed = time.monotonic() - t0
    check_error_answer(r, 504, "upstream_timeout", "timeout", "slow-1")
    assert 0.25 < elapsed < 1.5 * SLOW, elapsed
    rec = p.wait_record("slow-1")
    check_error_record(rec, "timeout")
    assert 250 <= rec["legacy"]["duration_ms"] < 1500 * SLOW


def test_authoritative_hang_after_headers_gives_504(stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"legacy": {"timeout_ms": 400}})
    # slow=: 16 KiB pieces with a pause before each: the body never finishes in time.
    r = raw_request(p.port, "GET", "/x", [("Host", "x"), ("X-Request-Id", "hang-1"),
                                          ("X-Stub-Ctl-legacy", "bytes=100000,slow=300")])
    check_error_answer(r, 504, "upstream_timeout", "timeout", "hang-1")
    check_error_record(p.wait_record("hang-1"), "timeout")


@pytest.mark.parametrize("directive,cause", [
    ("reset", "connection reset"),
    ("garbage", "bad response"),
    ("close", "empty reply"),
    ("bytes=1000,cut=400", "truncated response"),
    ("bytes=1000,badlen", "truncated response"),
    ("bytes=1000,badchunk", "bad response"),
])
def test_authoritative_misbehaves_gives_502(stubs, proxy, directive, cause):
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url)
    rid = "bad-" + directive.replace("=", "").replace(",", "-")
    r = raw_request(p.port, "GET", "/echo/x", [("Host", "x"), ("X-Request-Id", rid),
                                               ("X-Stub-Ctl-legacy", directive)])
    check_error_answer(r, 502, "bad_gateway", cause, rid)
    check_error_record(p.wait_record(rid), cause)
    # The proxy keeps serving.
    ok = raw_request(p.port, "GET", "/health", [("Host", "x")])
    assert ok.status == 200 and ok.body == b"ok"


def test_authoritative_cut_while_streaming_a_large_answer(stubs, proxy):
    """Headers and 1 MiB are already on their way to the client when the
    upstream dies: the client must see an incomplete answer (never a
    complete-looking short one), and the record says why."""
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url)
    n, cut = 4 * 1024 * 1024, 1024 * 1024
    with RawConn(p.port) as c:
        r = c.request(build_request("GET", "/x", [("Host", "x"), ("X-Request-Id", "cut-big"),
                                                  ("X-Stub-Ctl-legacy", f"bytes={n},cut={cut}")]))
    assert r.status == 200
    assert r.complete is False
    assert len(r.body) < n
    rec = p.wait_record("cut-big")
    check_error_record(rec, "truncated response")
    ok = raw_request(p.port, "GET", "/health", [("Host", "x")])
    assert ok.body == b"ok"


@pytest.mark.parametrize("code", [500, 503])
def test_authoritative_5xx_is_passed_through(pair, code):
    legacy, new, p = pair
    r = raw_request(p.port, "GET", "/x", [("Host", "x"), ("X-Request-Id", f"5xx-{code}"),
                                          ("X-Stub-Ctl-legacy", f"status={code},body=broken")])
    assert r.status == code
    assert r.body == b"broken"
    assert r.header("X-Stub-Name") == "legacy"
    rec = p.wait_record(f"5xx-{code}")
    assert rec["verdict"] == "mismatch"
    assert rec["legacy"]["status"] == code and rec["legacy"]["error"] is None
    assert rec["differences"][0] == {"where": "status", "path": "", "kind": "changed",
                                     "legacy": code, "new": 404}


def test_authoritative_down_with_authority_new(stubs, proxy):
    legacy = stubs("legacy")
    dead = f"http://127.0.0.1:{free_port()}"
    p = proxy(legacy.url, dead, args=("--authority", "new"))
    r = raw_request(p.port, "GET", "/echo/n", [("Host", "x"), ("X-Request-Id", "down-new")])
    check_error_answer(r, 502, "bad_gateway", "connection refused", "down-new", upstream="new")
    rec = p.wait_record("down-new")
    check_error_record(rec, "connection refused", side="new")
    # The shadow (legacy here) was still mirrored, marked as such.
    q = the_request(legacy, "down-new")
    assert values(q["headers"], "X-Shadow-Request") == ["1"]
