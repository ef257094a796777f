"""shadow.client: the lean HTTP/1.1 client (data/h1client.c) that sends the
shadow leg to an http:// upstream by default ("auto"), against curl
("curl", the way back).

- The same client request gives the same bytes on the shadow's socket,
  byte for byte, from either client (request line, Host, curl's Accept,
  the exchange's headers in order, an empty value, Content-Length and
  curl's Content-Type for a body, no body for HEAD).
- The lean client keeps connections alive (reused, counted), resolves a
  host name (localhost: ::1 refused, 127.0.0.1 answers), and reads a large
  answer under the shadow gate's byte budget (paused, resumed) whole.
test_shadow_wire.py runs every framing and failure case with the default.
"""
import shutil
import subprocess
import tempfile

import pytest

from conftest import SLOW, Proxy, Stub
from helpers import json_body_ctl, metric, raw_request
from wire_shadow import BODY, DOC, Steps, WireShadow, head, plain


@pytest.fixture(scope="module")
def two():
    """One raw shadow, two proxies in front of it: curl's and the lean one."""
    with tempfile.TemporaryDirectory(prefix="sp-client-") as tmp:
        legacy = Stub(tmp, "legacy")
        shadow = WireShadow()
        shadow.default = Steps(plain())
        conf = {"shadow": {"timeout_ms": 2000, "breaker_failures": 10000}}
        curl = Proxy(tmp, legacy.url, shadow.url, config={**conf, "shadow": {
            **conf["shadow"], "client": "curl"}}, args=("--diff-log-mode", "all", "--workers", "1"))
        lean = Proxy(tmp, legacy.url, shadow.url, config=conf,
                     args=("--diff-log-mode", "all", "--workers", "1"))
        try:
            yield legacy, shadow, curl, lean
        finally:
            try:
                assert curl.stop() == 0, curl.stderr()[-3000:]
                assert lean.stop() == 0, lean.stderr()[-3000:]
            finally:
                shadow.stop()
                legacy.stop()


CASES = [
    ("GET", None, []),
    ("GET", None, [("Accept", "application/json"), ("X-Empty", ""), ("X-Tab", "a\tb")]),
    ("POST", BODY, [("Content-Type", "application/json")]),
    ("POST", BODY, []),  # curl's own Content-Type: suppressed by the exchange
    ("PUT", b"", []),
    ("DELETE", None, [("Cookie", "a=1; b=2")]),
    ("HEAD", None, []),
    ("OPTIONS", None, [("X-Request-Id-Extra", "z")]),
]


@pytest.mark.parametrize("method,body,extra", CASES,
                         ids=["get", "get-headers", "post-json", "post", "put-empty", "delete",
                              "head", "options"])
def test_same_bytes_as_curl(two, method, body, extra):
    legacy, shadow, curl, lean = two
    rid = f"bytes-{method.lower()}-{len(extra)}-{0 if body is None else len(body)}"
    answer = head(b"HTTP/1.1 200 OK", b"Content-Type: application/json",
                  b"Content-Length: %d" % len(BODY))
    shadow.on(rid, Steps(answer if method == "HEAD" else plain()))
    hdrs = [("Host", "client.example"), ("X-Request-Id", rid),
            ("X-Stub-Ctl-legacy", json_body_ctl(DOC)), *extra]
    if body is not None:
        hdrs.append(("Content-Length", str(len(body))))
    for p in (curl, lean):
        r = raw_request(p.port, method, f"/orders/7?q={method}", hdrs, body or b"")
        assert r.status == 200, r
        rec = p.wait_record(rid)
        assert rec["verdict"] in ("match", "mismatch"), rec
        assert rec["new"]["error"] is None, rec["new"]
    a, b = shadow.wait_requests(rid, 2)
    assert a.head == b.head, (a.head, b.head)
    assert a.body == b.body
    assert a.body == (body or b"")
    # and what both sent: the line, then curl's Host, then the list
    assert b.head.startswith(f"{method} /orders/7?q={method} HTTP/1.1\r\n"
                             f"Host: 127.0.0.1:{shadow.port}\r\nX-Shadow-Request: 1\r\n".encode())
    assert (b"\r\nX-Empty:\r\n" in b.head) == (("X-Empty", "") in extra)
    tail = b"" if body is None else b"Content-Length: %d\r\n" % len(body)
    assert b.head.endswith(b"\r\nVia: 1.1 shadowproxy\r\n" + tail + b"\r\n"), b.head


def test_keep_alive_reuse_counted(two):
    legacy, shadow, curl, lean = two
    before = metric(lean, "shadowproxy_shadow_h1_reused_total")
    for i in range(3):
        r = raw_request(lean.port, "GET", "/health", [("Host", "x"), ("X-Request-Id", f"ka-{i}")])
        assert r.status == 200
        assert lean.wait_record(f"ka-{i}")["new"]["error"] is None
    assert metric(lean, "shadowproxy_shadow_h1_reused_total") >= before + 2
    assert metric(lean, "shadowproxy_shadow_h1_connections") >= 1
    assert metric(lean, "shadowproxy_shadow_h1_idle_connections") >= 1


def test_answer_before_the_write_report_keeps_the_connection(stubs, proxy):
    """A request written just before the loop's poll is often answered
    within that poll, before libuv reports the write done: the connection
    must go idle once it does, not be closed (it cost a connect for one
    shadow in 25 at 128 connections). wrk keeps 16 connections busy, every
    request is mirrored (busy_min_percent 100): every shadow connection
    opened is still open at the end (none closed and opened again)."""
    legacy, new = stubs("legacy"), stubs("new")
    p = proxy(legacy.url, new.url, args=("--workers", "1"),
              config={"shadow": {"busy_min_percent": 100}})
    wrk = shutil.which("wrk")
    assert wrk, "wrk is missing: make test-deps installs it"
    subprocess.run([wrk, "-t1", "-c16", "-d2s", f"http://127.0.0.1:{p.port}/api/orders/1"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30 * SLOW,
                   check=True)
    sent = metric(p, "shadowproxy_shadow_sent_total")
    opened = sent - metric(p, "shadowproxy_shadow_h1_reused_total")
    assert sent > 500, sent
    assert opened == metric(p, "shadowproxy_shadow_h1_connections"), (sent, opened)


def test_host_name_resolved(stubs, proxy):
    """http://localhost:PORT: resolved off the loop; the stub listens on
    127.0.0.1 only, so an ::1 address first is refused and the next one
    answers."""
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url.replace("127.0.0.1", "localhost"),
              args=("--diff-log-mode", "all"))
    for i in range(2):
        r = raw_request(p.port, "GET", "/health", [("Host", "x"), ("X-Request-Id", f"res-{i}")])
        assert r.status == 200
        rec = p.wait_record(f"res-{i}")
        assert rec["verdict"] == "match", rec


def test_large_answer_read_whole_under_the_byte_budget(stubs, proxy):
    """3 MB answers from both sides: the shadow's body passes the gate's
    256 KiB a loop turn, so its transfer pauses and resumes, and is read
    whole (length and SHA-256 compared past the cap)."""
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, args=("--diff-log-mode", "all"))
    n = 3_000_000
    r = raw_request(p.port, "GET", "/big", [("Host", "x"), ("X-Request-Id", "big-1"),
                                            ("X-Stub-Ctl", f"bytes={n}")])
    assert r.status == 200 and len(r.body) == n
    rec = p.wait_record("big-1", timeout=20)
    assert rec["verdict"] == "match", rec
    assert rec["new"]["body_bytes"] == n


def test_ipv6_literal_same_bytes_as_curl(stubs, proxy):
    """http://[::1]:PORT: never resolved, connected as is; the Host line
    (with its brackets and port) is curl's."""
    import socket
    import threading
    try:
        srv = socket.socket(socket.AF_INET6)
        srv.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    srv.listen(16)
    port = srv.getsockname()[1]
    heads = []

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = c.recv(65536)
                if not chunk:
                    break
                data += chunk
            heads.append(data.split(b"\r\n\r\n")[0])
            c.sendall(plain() if data else b"")
            c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    legacy = stubs("legacy")
    url = f"http://[::1]:{port}"
    try:
        for client in ("curl", "auto"):
            p = proxy(legacy.url, url, config={"shadow": {"client": client}},
                      args=("--diff-log-mode", "all", "--workers", "1"))
            r = raw_request(p.port, "GET", "/v6", [("Host", "x"), ("X-Request-Id", "v6"),
                                                   ("X-Stub-Ctl-legacy", json_body_ctl(DOC))])
            assert r.status == 200
            rec = p.wait_record("v6")
            assert rec["verdict"] == "match" and rec["new"]["error"] is None, rec
        assert len(heads) == 2 and heads[0] == heads[1], heads
        assert f"\r\nHost: [::1]:{port}\r\n".encode() in heads[1]
    finally:
        srv.close()
