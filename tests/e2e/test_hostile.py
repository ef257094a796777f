"""Hostile clients: malformed request lines, invalid header fields, CR/LF
injection, oversized heads and header counts, request smuggling (CL.TE,
TE.CL, duplicated Content-Length, odd Transfer-Encodings), attempts to use
the proxy as an open proxy, slowloris and slow-body clients, and floods of
idle connections up to and beyond limits.max_connections.

Each case: a clear error (the proxy's JSON 400/501, or libmicrohttpd's own
plain 400/413/505 where MHD refuses before the proxy sees the request),
nothing of it reaches an upstream (the stubs' request logs and the diff log,
which gets a record for everything forwarded, say so), the connection is
closed, and a normal request from another client is served afterwards.
ASan/UBSan reports are checked when each proxy stops.

Covered elsewhere, not repeated here: absolute-form, CONNECT and '*'
targets refused with 400 (test_forwarding.test_non_origin_form_targets_refused),
request heads over limits.max_header_bytes get 431
(test_bodies.test_request_head_over_max_header_bytes_gets_431 and
test_default_max_header_bytes_is_32k), request bodies over
limits.max_request_body get 413 (test_bodies), clients leaving mid-body or
mid-answer (test_difflog.test_client_disconnect_*), the idle timeout on an
idle keep-alive connection (test_lifecycle.test_idle_timeout_closes_idle_client_connections).
"""
import hashlib
import os
import socket
import threading
import time

import pytest

from conftest import SLOW
from helpers import RawConn, build_request, by_request_id, raw_request, values
from hostile import (Upstreams, eof_within, mhd_error, next_id, proxy_error,
                     send_raw, served_after, shared_proxy, timed_request, wait_fds,
                     warm_baseline)

H = b"Host: x\r\n"

# ---- one proxy for the request-level cases ------------------------------------


@pytest.fixture(scope="module")
def shared():
    with shared_proxy() as s:
        yield s


# ---- malformed request lines ------------------------------------------------------


BAD_LINES = [
    # (id, bytes, status, proxy's error code or None for MHD's, words of the message)
    ("no-version", b"GET /echo/x\r\n" + H + b"\r\n", 400, None, ""),
    ("extra-token", b"GET /echo/x HTTP/1.1 extra\r\n" + H + b"\r\n", 400, None, ""),
    ("version-9.9", b"GET /echo/x HTTP/9.9\r\n" + H + b"\r\n", 505, None, ""),
    ("http2-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, None, ""),
    ("space-in-target", b"GET /echo/a b HTTP/1.1\r\n" + H + b"\r\n", 400, "bad_request",
     "request target"),
    ("cr-in-target", b"GET /echo/a\rb HTTP/1.1\r\n" + H + b"\r\n", 400, "bad_request",
     "request target"),
    ("del-in-target", b"GET /echo/a\x7fb HTTP/1.1\r\n" + H + b"\r\n", 400, "bad_request",
     "request target"),
    ("raw-utf8-target", b"GET /echo/caf\xc3\xa9 HTTP/1.1\r\n" + H + b"\r\n", 400,
     "bad_request", "non-ASCII"),
    ("latin1-target", b"GET /echo/\xff\xfe HTTP/1.1\r\n" + H + b"\r\n", 400, "bad_request",
     "non-ASCII"),
    ("fragment", b"GET /echo/x#frag HTTP/1.1\r\n" + H + b"\r\n", 400, "bad_request",
     "fragment"),
    ("nul-in-target", b"GET /echo/a\x00b HTTP/1.1\r\n" + H + b"\r\n", 400, "bad_request",
     "NUL"),
    ("nul-in-method", b"DEL\x00ETE /echo/x HTTP/1.1\r\n" + H + b"\r\n", 400, "bad_request",
     "NUL"),
    ("method-not-token", b"G(T /echo/x HTTP/1.1\r\n" + H + b"\r\n", 400, "bad_request",
     "method"),
]


def refused_then_served(shared, data, status, code=None, words=""):
    """Sends `data` as it is: the answer is the proxy's JSON error `code`
    (or MHD's own, with code None), the connection is closed, and the next
    client is still served."""
    up = Upstreams(*shared)
    r, closed = send_raw(up.p.port, data)
    if code:
        proxy_error(r, status, code, words)
    else:
        mhd_error(r, status)
    assert closed
    served_after(up)


@pytest.mark.parametrize("data,status,code,words", [c[1:] for c in BAD_LINES],
                         ids=[c[0] for c in BAD_LINES])
def test_malformed_request_line_refused(shared, data, status, code, words):
    refused_then_served(shared, data, status, code, words)


def test_request_line_without_target_is_dropped(shared):
    """'GET' alone: MHD closes without an answer (nothing to answer to)."""
    up = Upstreams(*shared)
    with RawConn(up.p.port, timeout=5) as c:
        c.send(b"GET\r\n\r\n")
        assert c.at_eof(timeout=3)
        assert c.buf == b""
    served_after(up)


# ---- header fields: invalid names and values, CR/LF injection --------------------

BAD_FIELDS = [
    ("space-in-name", b"Bad Name: v\r\n", "header name"),
    ("space-before-colon", b"X-A : v\r\n", "header name"),
    ("te-space-before-colon", b"Transfer-Encoding : chunked\r\n", "header name"),
    ("control-in-name", b"X-\x01A: v\r\n", "header name"),
    ("empty-name", b": v\r\n", "header name"),
    ("non-ascii-name", b"X-Caf\xc3\xa9: v\r\n", "header name"),
    ("bare-cr-in-value", b"X-A: a\rX-Injected: yes\r\n", "control character"),
    ("bare-cr-in-request-id", b"X-Request-Id: abc\rX-Evil: 1\r\n", "control character"),
    ("del-in-value", b"X-A: a\x7fb\r\n", "control character"),
    ("vt-in-value", b"X-A: a\x0bb\r\n", "control character"),
]


@pytest.mark.parametrize("field,words", [c[1:] for c in BAD_FIELDS],
                         ids=[c[0] for c in BAD_FIELDS])
def test_invalid_header_field_refused(shared, field, words):
    refused_then_served(shared, b"GET /echo/f HTTP/1.1\r\n" + field + H + b"\r\n", 400,
                        "bad_request", words)


def test_header_line_without_colon_refused_by_mhd(shared):
    refused_then_served(shared, b"GET /echo/f HTTP/1.1\r\n" + H + b"NoColon\r\n\r\n", 400)


def test_percent_encoded_crlf_stays_encoded(shared):
    """CR/LF injection through the target: %0d%0a goes upstream as written
    (never decoded), so no header is injected."""
    legacy, new, p = shared
    target = "/echo/x%0d%0aX-Injected:%20yes%0d%0a?q=%0D%0A"
    r = raw_request(p.port, "GET", target, [("Host", "x"), ("X-Request-Id", "crlf-pct")])
    assert r.status == 200
    for stub in (legacy, new):
        seen = by_request_id(stub, "crlf-pct")
        assert len(seen) == 1
        assert seen[0]["target"] == target
        assert values(seen[0]["headers"], "X-Injected") == []
    assert p.wait_record("crlf-pct")["uri"] == target


def test_obs_fold_never_reaches_upstream_as_a_fold(shared):
    """A folded header line (obs-fold). libmicrohttpd 0.9.75 joins the
    continuation to the header's *name* ('X-A' + 'folded'), so the proxy
    cannot see the fold to refuse it (RFC 9112 5.2 also allows replacing
    it); what matters is that no continuation line, CR or LF reaches an
    upstream and the framing is unchanged."""
    legacy, new, p = shared
    up = Upstreams(legacy, new, p)
    r, _ = send_raw(p.port, b"GET /echo/fold HTTP/1.1\r\n" + H + b"X-Request-Id: fold-1\r\n"
                    b"X-A: v\r\n folded\r\n\tmore\r\n\r\n", eof=False)
    assert r.status in (200, 400), r
    for q in up.since()[0] + up.since()[1]:
        for name, value in q["headers"]:
            assert name.strip() == name and "\r" not in value and "\n" not in value
            assert not value.startswith((" ", "\t"))
    served_after(Upstreams(legacy, new, p))


def test_nul_in_header_value_cannot_inject(shared):
    """A NUL in a header value: libmicrohttpd cuts the value at the NUL (the
    proxy never sees what follows), so the upstreams get 'a' and nothing
    after it: no injected header, no NUL."""
    legacy, new, p = shared
    r, _ = send_raw(p.port, b"GET /echo/nul HTTP/1.1\r\n" + H + b"X-Request-Id: nul-1\r\n"
                    b"X-A: a\x00\r\nX-Injected: yes\r\n\r\n", eof=False)
    assert r.status == 200, r
    for stub in (legacy, new):
        seen = by_request_id(stub, "nul-1")
        assert len(seen) == 1
        assert values(seen[0]["headers"], "X-A") == ["a"]


def test_obs_text_header_value_passes_and_records(shared):
    """Bytes above 0x7f in a value (obs-text) are legal: passed on as they
    are, and the record (JSON, UTF-8) reads them as ISO-8859-1."""
    legacy, new, p = shared
    r, _ = send_raw(p.port, b"GET /echo/lat HTTP/1.1\r\n" + H + b"X-Request-Id: lat-1\r\n"
                    b"X-Lat: \xe9t\xe9\r\n\r\n", eof=False)
    assert r.status == 200
    for stub in (legacy, new):
        assert values(by_request_id(stub, "lat-1")[0]["headers"], "X-Lat") == ["\u00e9t\u00e9"]
    rec = p.wait_record("lat-1")
    assert values(rec["request"]["headers"], "X-Lat") == ["\u00e9t\u00e9"]


# ---- oversized heads and header counts ------------------------------------------------


def test_many_small_headers_under_the_limit_all_forwarded(shared):
    """500 headers: every one reaches both upstreams, in order. (Each field
    also costs libmicrohttpd about 60 bytes of its per-connection memory,
    64 KiB by default: some 900 tiny fields get MHD's 431 before
    limits.max_header_bytes is reached.)"""
    legacy, new, p = shared
    hdrs = [("Host", "x"), ("X-Request-Id", "many-1")] + [(f"X-{i}", "v") for i in range(500)]
    r = raw_request(p.port, "GET", "/echo/many", hdrs)
    assert r.status == 200, r
    for stub in (legacy, new):
        got = [k for k, _ in by_request_id(stub, "many-1")[0]["headers"] if k.startswith("X-")
               and k[2:].isdigit()]
        assert got == [f"X-{i}" for i in range(500)]


@pytest.mark.parametrize("count,size", [(20000, 1), (3, 400000)], ids=["20000-headers",
                                                                       "three-400k-headers"])
def test_header_flood_refused(shared, count, size):
    """Far over the limit, by count or by size: 431, from the proxy or from
    MHD when its per-connection memory is exhausted first."""
    up = Upstreams(*shared)
    head = b"GET /echo/flood HTTP/1.1\r\n" + H + b"".join(
        b"X-%d: %s\r\n" % (i, b"v" * size) for i in range(count)) + b"\r\n"
    with RawConn(up.p.port, timeout=10) as c:
        try:
            c.send(head)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before it was all sent: the answer is still there
        r = c.read_response()
    assert r.status == 431, r
    assert r.header("X-Stub-Name") is None
    served_after(up)


# ---- request smuggling ----------------------------------------------------------------

SMUGGLING = [
    # CL.TE: a front end using Content-Length sends the GET along as body.
    ("cl-te", b"POST /echo/clte HTTP/1.1\r\n" + H + b"Content-Length: 6\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /echo/smuggled HTTP/1.1\r\n" + H + b"\r\n",
     400, "bad_request", "both Content-Length and Transfer-Encoding"),
    # TE.CL: a front end using chunked sends SMUGGLED as body, a back end
    # using Content-Length: 3 would start a request with it.
    ("te-cl", b"POST /echo/tecl HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n"
     b"Content-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
     400, "bad_request", "both Content-Length and Transfer-Encoding"),
    ("te-obfuscated-cl", b"POST /echo/x HTTP/1.1\r\n" + H + b"Transfer-Encoding: xchunked\r\n"
     b"Content-Length: 5\r\n\r\nhello", 400, "bad_request", "both"),
    ("cl-cl-differ", b"POST /echo/clcl HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n"
     b"Content-Length: 30\r\n\r\nhelloGET /echo/smuggled HTTP/1.1\r\n\r\n",
     400, "bad_request", "disagree"),
    ("te-gzip-chunked", b"POST /echo/x HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked"
     b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501, "not_implemented", "chunked"),
    ("te-chunked-identity", b"POST /echo/x HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n"
     b"Transfer-Encoding: identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
     501, "not_implemented", "chunked"),
    ("te-unknown", b"POST /echo/x HTTP/1.1\r\n" + H + b"Transfer-Encoding: xchunked\r\n\r\n"
     b"5\r\nhello\r\n0\r\n\r\n", 501, "not_implemented", "chunked"),
    ("te-trailing-space", b"POST /echo/x HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked \r\n\r\n"
     b"5\r\nhello\r\n0\r\n\r\n", 501, "not_implemented", "chunked"),
    ("te-in-http10", b"POST /echo/x HTTP/1.0\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"5\r\nhello\r\n0\r\n\r\n", 400, "bad_request", "HTTP/1.0"),
    # Refused by MHD itself.
    ("cl-list", b"POST /echo/x HTTP/1.1\r\n" + H + b"Content-Length: 5, 5\r\n\r\nhello",
     400, None, ""),
    ("cl-plus", b"POST /echo/x HTTP/1.1\r\n" + H + b"Content-Length: +5\r\n\r\nhello",
     400, None, ""),
    ("cl-negative", b"POST /echo/x HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\nhello",
     400, None, ""),
    ("cl-hex", b"POST /echo/x HTTP/1.1\r\n" + H + b"Content-Length: 0x5\r\n\r\nhello",
     400, None, ""),
    ("cl-overflow", b"POST /echo/x HTTP/1.1\r\n" + H + b"Content-Length: "
     b"99999999999999999999999\r\n\r\nhello", 413, None, ""),
    ("chunk-size-bad", b"POST /echo/x HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"zz\r\nhello\r\n0\r\n\r\n", 400, None, ""),
    ("chunk-size-negative", b"POST /echo/x HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n"
     b"\r\n-5\r\nhello\r\n0\r\n\r\n", 400, None, ""),
    ("chunk-size-overflow", b"POST /echo/x HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n"
     b"\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n", 413, None, ""),
    ("chunk-without-crlf", b"POST /echo/x HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n"
     b"\r\n5\r\nhelloXX0\r\n\r\n", 400, None, ""),
]


@pytest.mark.parametrize("data,status,code,words", [c[1:] for c in SMUGGLING],
                         ids=[c[0] for c in SMUGGLING])
def test_request_smuggling_refused(shared, data, status, code, words):
    """Framing that two HTTP parsers could read two ways is refused before
    anything goes upstream, and the connection is closed, so no byte after
    the head is ever read as another request."""
    refused_then_served(shared, data, status, code, words)


@pytest.mark.parametrize("extra,chunked", [
    (b"Content-Length: 5\r\nContent-Length: 5\r\n", False),
    (b"Content-Length: 5\r\nContent-Length: 005\r\n", False),
    (b"Transfer-Encoding: CHUNKED\r\n", True),
    (b"Transfer-Encoding:\tchunked\r\n", True),
], ids=["cl-cl-same", "cl-cl-leading-zeros", "te-uppercase", "te-tab"])
def test_unambiguous_framing_variants_pass_once(shared, extra, chunked):
    """Odd but unambiguous framing is accepted: each upstream sees exactly
    one request, with exactly the body the client meant and one
    Content-Length of the proxy's own."""
    legacy, new, p = shared
    rid = next_id("frame")
    body = b"5\r\nhello\r\n0\r\n\r\n" if chunked else b"hello"
    r, _ = send_raw(p.port, b"POST /echo/frame HTTP/1.1\r\n" + H + b"X-Request-Id: "
                    + rid.encode() + b"\r\n" + extra + b"\r\n" + body, eof=False)
    assert r.status == 200, r
    for stub in (legacy, new):
        seen = by_request_id(stub, rid)
        assert len(seen) == 1, seen
        assert seen[0]["body_len"] == 5 and seen[0]["body_sha256"] == (
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        assert values(seen[0]["headers"], "Content-Length") == ["5"]
        assert values(seen[0]["headers"], "Transfer-Encoding") == []


# ---- no open proxy -----------------------------------------------------------------


class Listener:
    """A TCP listener standing for a host an attacker wants reached through
    the proxy: it records every connection made to it, request or not."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.addr = f"127.0.0.1:{self.port}"
        self.connections = []
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            c.settimeout(0.5)
            try:
                data = c.recv(4096)
            except OSError:
                data = b""
            self.connections.append(data)
            c.close()

    def close(self):
        self.stopped = True
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def attacker():
    a = Listener()
    yield a
    a.close()


def test_no_open_proxy_whatever_the_target_or_host(stubs, proxy, attacker):
    """Only the configured upstreams are ever contacted: absolute-form and
    authority-form targets naming another host are refused (400); a Host,
    X-Forwarded-Host or X-Original-URL naming it, or a path that looks like
    an authority, goes to the configured upstream like any request. The
    other host never sees a connection."""
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, args=("--diff-log-mode", "all"))
    a = attacker.addr.encode()
    refused = [
        b"GET http://" + a + b"/echo/abs HTTP/1.1\r\nHost: " + a + b"\r\n\r\n",
        b"GET https://" + a + b"/echo/abs HTTP/1.1\r\nHost: " + a + b"\r\n\r\n",
        b"GET HTTP://" + a + b"/echo/abs HTTP/1.1\r\nHost: x\r\n\r\n",
        b"CONNECT " + a + b" HTTP/1.1\r\nHost: " + a + b"\r\n\r\n",
        b"POST " + a + b"/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        b"GET @" + a + b"/echo HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET \\\\" + a + b"/echo HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    for data in refused:
        r, closed = send_raw(p.port, data)
        proxy_error(r, 400, "bad_request", "origin-form")
        assert closed
    passed = [
        ("/echo/h1", [("Host", attacker.addr)]),
        ("/echo/h2", [("Host", "x"), ("X-Forwarded-Host", attacker.addr),
                      ("X-Original-URL", f"http://{attacker.addr}/"),
                      ("X-Rewrite-URL", f"http://{attacker.addr}/"),
                      ("Forwarded", f"host={attacker.addr}")]),
        (f"//{attacker.addr}/echo", [("Host", "x")]),
        (f"/%2F%2F{attacker.addr}/echo", [("Host", "x")]),
        (f"/@{attacker.addr}/echo", [("Host", "x")]),
    ]
    for i, (target, hdrs) in enumerate(passed):
        rid = f"open-{i}"
        r = raw_request(p.port, "GET", target, hdrs + [("X-Request-Id", rid)])
        assert r.header("X-Stub-Name") == "legacy", r
        assert by_request_id(legacy, rid)[0]["target"] == target
        assert by_request_id(new, rid)[0]["target"] == target
    time.sleep(0.2)
    assert attacker.connections == []
    assert len(legacy.requests()) == len(new.requests()) == len(passed)
    assert len(p.wait_records(len(passed))) == len(passed)


def test_no_open_proxy_with_preserve_host(stubs, proxy, attacker):
    """preserve_host sends the client's Host upstream: still to the
    configured upstream's address."""
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"preserve_host": True})
    r = raw_request(p.port, "GET", "/echo/ph", [("Host", attacker.addr), ("X-Request-Id", "ph-1")])
    assert r.status == 200 and r.header("X-Stub-Name") == "legacy"
    for stub in (legacy, new):
        assert values(by_request_id(stub, "ph-1")[0]["headers"], "Host") == [attacker.addr]
    time.sleep(0.2)
    assert attacker.connections == []


# ---- slow clients and connection floods -----------------------------------------------


def test_slowloris_heads_do_not_hold_up_others_and_are_dropped_when_they_stall(stubs, proxy):
    """20 clients trickle their request heads a byte at a time, faster than
    the idle timeout (1 s): a well-behaved client is served at once all the
    while; one trickler that finishes its head is served; the others, once
    they stall (and a client that sent a TLS ClientHello to the plain port,
    which never ends a line), are closed by the idle timeout, nothing of
    theirs reaches an upstream, and the fd count is back to where it was."""
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"limits": {"idle_timeout_s": 1}},
              args=("--diff-log-mode", "all"))
    base = warm_baseline(p)
    n0 = len(legacy.requests())
    head = b"GET /echo/loris HTTP/1.1\r\nHost: x\r\nX-Request-Id: loris-done\r\n"
    socks = [socket.create_connection(("127.0.0.1", p.port)) for _ in range(20)]
    hello = socket.create_connection(("127.0.0.1", p.port))
    hello.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64))
    finisher = socks[0]
    stop = threading.Event()

    def trickle():
        for i in range(len(head)):
            if stop.is_set():
                return
            for j, s in enumerate(socks):
                if j == 0 and i == len(head) - 1:
                    s.sendall(head[i:] + b"\r\n")  # the finisher completes its head
                else:
                    s.sendall(head[i:i + 1])
            time.sleep(0.03)

    t = threading.Thread(target=trickle)
    t.start()
    worst = 0.0
    for i in range(8):
        r, took = timed_request(p, f"good-{i}")
        assert r.status == 200
        worst = max(worst, took)
        time.sleep(0.1)
    t.join(30)
    assert worst < 0.5 * SLOW, worst
    finisher.settimeout(5 * SLOW)
    got = RawConn.__new__(RawConn)
    got.sock, got.buf = finisher, b""
    assert got.read_response().json()["target"] == "/echo/loris"
    # Stalled: closed by the idle timeout.
    for s in socks[1:] + [hello]:
        assert eof_within(s, 3), "a stalled connection is still open"
    for s in socks + [hello]:
        s.close()
    reqs = legacy.requests()[n0:]
    assert sorted(q["target"] for q in reqs) == sorted(
        ["/echo/loris"] + [f"/echo/good-{i}" for i in range(8)])
    assert wait_fds(p, base, 3) <= base


def test_slow_body_served_whole_or_dropped_when_it_stalls(stubs, proxy):
    """A body trickled a byte at a time but steadily arrives whole, while
    others are served; a body that stops halfway is dropped at the idle
    timeout and never forwarded."""
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"limits": {"idle_timeout_s": 1}})
    base = warm_baseline(p)
    body = b"0123456789abcdef"
    slow = RawConn(p.port)
    slow.send(build_request("POST", "/echo/slowbody", [("Host", "x"), ("X-Request-Id", "sb-1"),
                                                        ("Content-Length", str(len(body)))]))
    stall = RawConn(p.port)
    stall.send(build_request("POST", "/echo/stalled", [("Host", "x"), ("Content-Length", "100")],
                             b"x" * 40))
    for i, b in enumerate(body):
        slow.send(bytes([b]))
        if i % 4 == 0:
            r, took = timed_request(p, f"sb-good-{i}")
            assert r.status == 200 and took < 0.5 * SLOW
        time.sleep(0.1)
    r = slow.read_response()
    assert r.status == 200
    assert r.json()["body_len"] == len(body)
    for stub in (legacy, new):
        seen = by_request_id(stub, "sb-1")
        assert len(seen) == 1 and seen[0]["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert eof_within(stall.sock, 3)
    slow.close()
    stall.close()
    assert [q for q in legacy.requests() if q["target"] == "/echo/stalled"] == []
    assert wait_fds(p, base, 3) <= base


def test_idle_connection_flood_up_to_and_beyond_the_limit(stubs, proxy):
    """limits.max_connections is 12 for the whole process (two workers).
    Below it, a flood of idle connections does not keep a client from being
    served. At it, every further connection is closed at once (EOF, no hang
    in the backlog), a well-behaved client included, and the refusal is
    logged. When the flood goes, clients are served again and the fd count
    is back to where it was."""
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"limits": {"max_connections": 12, "idle_timeout_s": 30}})
    base = warm_baseline(p)
    flood = [socket.create_connection(("127.0.0.1", p.port)) for _ in range(11)]
    time.sleep(0.2)
    for s in flood:
        assert not eof_within(s, 0.05)
    r = raw_request(p.port, "GET", "/echo/flood-ok", [("Host", "x"), ("Connection", "close")])
    assert r.status == 200  # the 12th: served, and its connection closed by the proxy
    time.sleep(0.2)
    more = [socket.create_connection(("127.0.0.1", p.port)) for _ in range(20)]
    refused = [eof_within(s, 1) for s in more]
    kept = refused.count(False)
    # The last slot goes to one of them; a second one may slip in when two
    # workers accept at the same instant (documented in worker.c).
    assert 1 <= kept <= 2, refused
    with socket.create_connection(("127.0.0.1", p.port)) as c:  # a good client, at the limit
        c.settimeout(2 * SLOW)
        try:
            c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert c.recv(100) == b""
        except (ConnectionResetError, BrokenPipeError):
            pass
    assert "event=connection_limit_reached max_connections=12" in p.stderr()
    for s in flood + more:
        s.close()
    time.sleep(0.2)
    r, took = timed_request(p, "flood-after")
    assert r.status == 200
    assert wait_fds(p, base, 3) <= base
    assert [q["target"] for q in legacy.requests()][-2:] == ["/echo/flood-ok", "/echo/flood-after"]
