"""A red-team pass on the lean HTTP/1.1 shadow client (data/h1client.c,
shadow.client "auto"): hostile or broken shadows, real processes.

test_shadow_wire.py pins framing basics; here each case is an attack on
the client's machinery (interim answers without end, an answer before the
request is written, a shadow that never reads, bytes on an idle
connection, half-closes, the one retry, the throttle, blackholes, names
and IPv6, churn, reload, flips and SIGTERM). Whatever the shadow does: the
client gets legacy's answer at once, every exchange gets a verdict and is
counted, the lean client's connections go back to 0, the proxy exits 0
with no sanitizer report. Loopback only, ports 0.
"""
import http.client
import json
import os
import signal
import socket
import struct
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import SANITIZED, SLOW, Proxy, Stub
from helpers import admin_call, json_body_ctl, raw_request
from wire_shadow import BODY, DOC, Steps, WireShadow, head, metrics, plain

SHADOW_TIMEOUT_MS = 800
FAST = 0.9 if SANITIZED else 0.3
H1_OPEN = "shadowproxy_shadow_h1_connections"
H1_IDLE = "shadowproxy_shadow_h1_idle_connections"
H1_RETRIES = "shadowproxy_shadow_h1_retries_total"
IN_FLIGHT = "shadowproxy_shadow_in_flight"


def config(**shadow):
    return {"shadow": {"timeout_ms": SHADOW_TIMEOUT_MS, "breaker_failures": 10000,
                       "client": "auto", **shadow}}


class RawShadow:
    """A shadow whose every connection runs `handler(sock)` in a thread:
    for attacks WireShadow cannot script (it always reads a whole request
    before it answers)."""

    def __init__(self, handler, backlog=128):
        self.handler = handler
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.stopping = threading.Event()
        self.conns = []
        self.accepted = 0
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(c)
            threading.Thread(target=self._run, args=(c,), daemon=True).start()

    def _run(self, c):
        try:
            self.handler(c, self.stopping)
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def stop(self):
        self.stopping.set()
        for s in [self.sock, *self.conns]:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.sock.close()
        self.thread.join(5)


def read_head(c):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(65536)
        if not d:
            return None
        buf += d
    return buf


_seq = iter(range(1 << 30))


def send(p, tag, method="GET", body=b"", ctl=None, fast=True):
    """One client request; asserts legacy's answer, whole and (if fast)
    at once. Returns the request id."""
    rid = f"{tag}-{next(_seq)}"
    hdrs = [("Host", "client.example"), ("X-Request-Id", rid),
            ("X-Stub-Ctl-legacy", ctl or json_body_ctl(DOC))]
    if method in ("POST", "PUT"):
        hdrs.append(("Content-Length", str(len(body))))
    t0 = time.monotonic()
    r = raw_request(p.port, method, f"/h/{rid}", hdrs, body)
    elapsed = time.monotonic() - t0
    assert r.status == 200 and r.complete and r.body == BODY, r
    assert r.header("X-Stub-Name") == "legacy", r
    if fast:
        assert elapsed < FAST + len(body) / 20e6, f"the client waited {elapsed:.3f}s"
    return rid


def settled(p, timeout=5.0):
    """The shadow legs are over and the lean client's busy connections
    closed or idle: returns the metrics then."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        m = metrics(p)
        if m[IN_FLIGHT] == 0 and m[H1_OPEN] == m[H1_IDLE]:
            return m
        assert time.monotonic() < deadline, {k: v for k, v in m.items() if "h1" in k or "flight" in k}
        time.sleep(0.05)


def failed(rec, verdict, cause, words=None):
    """The shadow leg failed: verdict, reason (the cause), words in its error."""
    assert rec["verdict"] == verdict, (rec["verdict"], rec["new"]["error"])
    new = rec["new"]
    assert new["status"] is None and new["error"], new
    assert rec["reason"] == cause, (rec["reason"], new["error"])
    if words:
        assert words.lower() in new["error"].lower(), new["error"]


@pytest.fixture
def env():
    """A legacy stub, a temp dir; proxies and shadows the case starts are
    stopped (proxies first: exit 0, no sanitizer report)."""
    with tempfile.TemporaryDirectory(prefix="sp-h1red-") as tmp:
        legacy = Stub(tmp, "legacy")
        made = {"proxies": [], "shadows": []}

        def proxy(shadow_url, workers=1, **kw):
            cfg = kw.pop("cfg", None) or config()
            p = Proxy(tmp, legacy.url, shadow_url, config=cfg,
                      args=("--diff-log-mode", "all", "--workers", str(workers)), **kw)
            made["proxies"].append(p)
            return p

        def shadow(s):
            made["shadows"].append(s)
            return s

        try:
            yield tmp, proxy, shadow
        finally:
            try:
                for p in made["proxies"]:
                    if p.expected_rc is not None:
                        assert p.stop() == p.expected_rc, p.stderr()[-3000:]
                    p.records()
            finally:
                for s in made["shadows"]:
                    s.stop()
                legacy.stop()


# ---- interim answers -----------------------------------------------------------------


def interim_forever():
    while True:
        yield b"HTTP/1.1 100 Continue\r\n\r\n"
        yield 0.01


def early_hints_flood():
    while True:  # as fast as the proxy reads: the heads' sum passes curl's 300 KiB
        yield b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" * 50


@pytest.mark.parametrize("steps,verdict,cause,words", [
    # a flood of 1xx heads: refused once they pass 300 KiB, as curl does
    # ("Too large response headers"), long before the timeout
    (Steps(early_hints_flood), "shadow_error", "bad response", "too large response headers"),
    # 1xx after 1xx, never a final answer: the total timeout ends it
    (Steps(interim_forever), "shadow_timeout", "timeout", None),
    # 100 then a close: not an answer
    (Steps(head(b"HTTP/1.1 100 Continue"), then="close"), "shadow_error", "bad response",
     "inside the answer's header"),
    # 101 nobody asked for, then bytes of another protocol and more
    (Steps(head(b"HTTP/1.1 101 Switching Protocols", b"Upgrade: websocket",
                b"Connection: Upgrade") + b"\x81\x05hello" * 100), "shadow_error", "bad response",
     "101"),
])
def test_interim_answers_never_hang_or_leak(env, steps, verdict, cause, words):
    tmp, proxy, shadow = env
    s = shadow(WireShadow())
    s.default = Steps(plain())
    p = proxy(s.url)
    rid = f"interim-bad-{next(_seq)}"
    s.on(rid, steps)
    r = raw_request(p.port, "GET", "/x", [("Host", "c"), ("X-Request-Id", rid),
                                          ("X-Stub-Ctl-legacy", json_body_ctl(DOC))])
    assert r.status == 200 and r.body == BODY
    rec = p.wait_record(rid, timeout=5)
    failed(rec, verdict, cause, words)
    # the connection the hostile answer used is gone; the next is compared
    settled(p)
    rid = send(p, "after")
    assert p.wait_record(rid)["verdict"] == "match"


# ---- the answer before the request is written ------------------------------------------------

BIG = b"x" * (8 << 20)


def answer_at_once(then):
    def handler(c, stopping):
        if read_head(c) is None:
            return
        c.sendall(plain())
        if then == "rst":
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif then == "keep":  # answered, never reads the body, keeps the connection
            stopping.wait(3)
    return handler


# What each client makes of it: the lean client reads the answer while it
# writes and compares it (RFC 9112 9.5: a server may answer before the
# whole request); curl fails the leg on the failed write (close, reset) or
# waits until its timeout for the write to end (keep).
EARLY = {
    ("auto", "close"): ("match", None), ("auto", "rst"): ("match", None),
    ("auto", "keep"): ("match", None),
    ("curl", "close"): ("shadow_error", "connection reset"),
    ("curl", "rst"): ("shadow_error", "connection reset"),
    ("curl", "keep"): ("shadow_timeout", "timeout"),
}


@pytest.mark.parametrize("client", ["auto", "curl"])
@pytest.mark.parametrize("then", ["close", "rst", "keep"])
def test_answer_before_an_8mb_body_is_written(env, then, client):
    """The shadow answers a large POST after its head and closes (or
    resets, or just stops reading): one verdict each (pinned per client),
    the connection is never kept, nothing hangs or leaks."""
    tmp, proxy, shadow = env
    s = shadow(RawShadow(answer_at_once(then)))
    p = proxy(s.url, cfg={**config(client=client), "limits": {"max_request_body": 16 << 20}})
    rids = [send(p, f"early-{then}", "POST", BIG, fast=False) for _ in range(3)]
    verdict, reason = EARLY[client, then]
    for rid in rids:
        rec = p.wait_record(rid, timeout=5)
        assert (rec["verdict"], rec.get("reason")) == (verdict, reason), rec["new"]["error"]
        if verdict == "match":
            assert rec["new"]["body"] == DOC
    m = settled(p)
    assert m[H1_IDLE] == 0 and m[H1_OPEN] == 0, "a connection with a half-written request was kept"


def never_reads(c, stopping):
    stopping.wait(10)  # the window fills; nothing is read or answered


def test_shadow_that_never_reads_times_out_with_the_write_pending(env):
    tmp, proxy, shadow = env
    s = shadow(RawShadow(never_reads))
    p = proxy(s.url, cfg={**config(), "limits": {"max_request_body": 16 << 20}})
    rids = [send(p, "noread", "POST", BIG, fast=False) for _ in range(2)]
    for rid in rids:
        rec = p.wait_record(rid, timeout=5)
        assert rec["verdict"] == "shadow_timeout", (rec["verdict"], rec["new"]["error"])
    m = settled(p)
    assert m[H1_OPEN] == 0


def test_sigterm_while_writes_are_pending(env):
    """SIGTERM with shadows whose 8 MB bodies sit in full TCP windows:
    the drain cuts them, every exchange has a record, exit 0."""
    tmp, proxy, shadow = env
    s = shadow(RawShadow(never_reads))
    p = proxy(s.url, cfg={"shadow": {"timeout_ms": 30000, "client": "auto"},
                          "limits": {"max_request_body": 16 << 20, "drain_timeout_ms": 1000}})
    rids = [send(p, "drainw", "POST", BIG, fast=False) for _ in range(3)]
    t0 = time.monotonic()
    p.signal()
    assert p.wait_exit(10) == 0, p.stderr()[-3000:]
    assert time.monotonic() - t0 < 5 * SLOW
    got = {r.get("id"): r for r in p.records()}
    for rid in rids:
        assert rid in got, "an exchange lost at shutdown"
        assert got[rid]["new"]["error"], got[rid]["new"]


# ---- idle connections and half-closes ---------------------------------------------------------


def test_bytes_on_an_idle_connection_close_it(env):
    """After a whole answer the shadow sends more bytes on the idle kept
    connection (a stray answer): that connection is dropped, never read
    as the next request's answer."""
    tmp, proxy, shadow = env
    s = shadow(WireShadow())
    s.default = Steps(plain())
    p = proxy(s.url)
    stray = head(b"HTTP/1.1 200 OK", b"Content-Length: 5") + b"WRONG"
    rid = f"stray-{next(_seq)}"
    s.on(rid, Steps(plain(), 0.1, stray))
    raw_request(p.port, "GET", "/s", [("Host", "c"), ("X-Request-Id", rid),
                                      ("X-Stub-Ctl-legacy", json_body_ctl(DOC))])
    assert p.wait_record(rid)["verdict"] == "match"
    time.sleep(0.3)
    m = settled(p)
    assert m[H1_IDLE] == 0 and m[H1_OPEN] == 0, "the connection with stray bytes was kept"
    nxt = send(p, "after-stray")
    rec = p.wait_record(nxt)
    assert rec["verdict"] == "match" and rec["new"]["body"] == DOC, rec["new"]
    assert s.requests(nxt)[0].conn_no != s.requests(rid)[0].conn_no


def test_reset_on_an_idle_connection_closes_it(env):
    """The shadow resets a kept connection while it is idle: it is dropped
    (no error for anyone), the next mirror goes on a fresh one."""
    tmp, proxy, shadow = env
    s = shadow(WireShadow())
    s.default = Steps(plain())
    p = proxy(s.url)
    rid = f"idle-rst-{next(_seq)}"
    s.on(rid, Steps(plain(), 0.1, then="rst"))
    raw_request(p.port, "GET", "/s", [("Host", "c"), ("X-Request-Id", rid),
                                      ("X-Stub-Ctl-legacy", json_body_ctl(DOC))])
    assert p.wait_record(rid)["verdict"] == "match"
    time.sleep(0.3)
    m = settled(p)
    assert m[H1_OPEN] == 0
    nxt = send(p, "after-idle-rst")
    assert p.wait_record(nxt)["verdict"] == "match"
    assert metrics(p)[H1_RETRIES] == 0


def retried_on_a_fresh_connection(p, s, first_attempt):
    """A warm connection, then a request whose first attempt (on it) gets
    first_attempt and whose retry gets the plain answer: compared, sent
    twice, the second time on a fresh connection."""
    assert p.wait_record(send(p, "warm"))["verdict"] == "match"
    settled(p)
    rid = f"retried-{next(_seq)}"
    s.on(rid, first_attempt, Steps(plain()))
    raw_request(p.port, "GET", "/r", [("Host", "c"), ("X-Request-Id", rid),
                                      ("X-Stub-Ctl-legacy", json_body_ctl(DOC))])
    rec = p.wait_record(rid)
    assert rec["verdict"] == "match", rec["new"]["error"]
    first, second = s.requests(rid)
    assert (first.nth_on_conn, second.nth_on_conn) == (2, 1)


def test_reset_of_a_reused_connection_on_the_request_is_retried(env):
    """The kept connection is reset as the request arrives (no answer
    byte): sent again once on a fresh connection and compared."""
    tmp, proxy, shadow = env
    s = shadow(WireShadow())
    s.default = Steps(plain())
    p = proxy(s.url)
    retried_on_a_fresh_connection(p, s, Steps(then="rst"))
    assert settled(p)[H1_RETRIES] == 1


def half_close(body_part):
    def handler(c, stopping):
        if read_head(c) is None:
            return
        c.sendall(body_part)
        c.shutdown(socket.SHUT_WR)  # our side done; theirs still open
        stopping.wait(2)
    return handler


@pytest.mark.parametrize("answer,verdict", [
    # a close-delimited body ended by a half-close: whole
    (head(b"HTTP/1.1 200 OK", b"Content-Type: application/json") + BODY, "match"),
    # a half-close in the middle of a Content-Length body: cut
    (head(b"HTTP/1.1 200 OK", b"Content-Length: %d" % len(BODY)) + BODY[:10], "shadow_error"),
    # a half-close inside the head
    (b"HTTP/1.1 200 OK\r\nContent-Le", "shadow_error"),
])
def test_half_close_mid_answer(env, answer, verdict):
    tmp, proxy, shadow = env
    s = shadow(RawShadow(half_close(answer)))
    p = proxy(s.url)
    rid = send(p, "halfclose")
    rec = p.wait_record(rid)
    assert rec["verdict"] == verdict, (rec["verdict"], rec["new"]["error"])
    m = settled(p)
    assert m[H1_OPEN] == 0, "a half-closed connection was kept"


# ---- the one retry ----------------------------------------------------------------------------


@pytest.mark.parametrize("client", ["auto", "curl"])
def test_reused_connection_dying_twice_is_retried_once_and_a_post_is_sent_twice(env, client):
    """A kept connection that dies before any answer byte is retried once,
    on a fresh connection; if that one dies too the exchange fails (never a
    third send). A POST is sent again like a GET (as curl does): the
    shadow may see a mirrored POST twice. Pinned here; docs/operations.md
    says so."""
    tmp, proxy, shadow = env
    s = shadow(WireShadow())
    s.default = Steps(plain())
    p = proxy(s.url, cfg=config(client=client))
    rid = send(p, "warm")
    assert p.wait_record(rid)["verdict"] == "match"
    settled(p)
    before = metrics(p)
    body = b'{"sku":"24-MB01","qty":2}'
    rid = f"twice-{next(_seq)}"
    s.on(rid, Steps(then="close"), Steps(then="close"), Steps(plain()))
    r = raw_request(p.port, "POST", "/p", [("Host", "c"), ("X-Request-Id", rid),
                                           ("X-Stub-Ctl-legacy", json_body_ctl(DOC)),
                                           ("Content-Length", str(len(body)))], body)
    assert r.status == 200 and r.body == BODY
    rec = p.wait_record(rid)
    failed(rec, "shadow_error", "empty reply", "empty reply from server")
    assert rec["new"]["duration_ms"] < SHADOW_TIMEOUT_MS
    seen = s.requests(rid)
    assert len(seen) == 2, "sent more than twice"
    assert [q.nth_on_conn for q in seen] == [2, 1]
    assert seen[0].body == seen[1].body == body
    m = settled(p)
    assert m[H1_RETRIES] - before.get(H1_RETRIES, 0) == (1 if client == "auto" else 0)
    # one exchange: sent once and one verdict, whatever the wire saw
    assert m["shadowproxy_shadow_sent_total"] - before["shadowproxy_shadow_sent_total"] == 1
    key = 'shadowproxy_verdicts_total{verdict="shadow_error"}'
    deadline = time.monotonic() + 5 * SLOW
    while metrics(p).get(key, 0) - before.get(key, 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert metrics(p).get(key, 0) - before.get(key, 0) == 1


# ---- the throttle -----------------------------------------------------------------------------


def test_many_large_answers_paused_by_the_throttle_all_compared(env):
    """16 shadows at once, each 600 KB (over the gate's 256 KiB a loop
    turn): they are paused and resumed, some end with a close while paused
    (until-close bodies); every one is compared whole."""
    tmp, proxy, shadow = env
    big = {"items": [{"sku": f"SKU-{i:06d}", "qty": i} for i in range(20000)]}
    big_body = json.dumps(big, separators=(",", ":")).encode()
    assert len(big_body) > 500000
    s = shadow(WireShadow())
    by_len = head(b"HTTP/1.1 200 OK", b"Content-Type: application/json",
                  b"Content-Length: %d" % len(big_body)) + big_body
    until_close = head(b"HTTP/1.1 200 OK", b"Content-Type: application/json") + big_body
    s.default = lambda req: (Steps(by_len) if req.target.endswith("0") else
                             Steps(until_close, then="close"))
    p = proxy(s.url, cfg=config(timeout_ms=10000))

    def one(i):
        rid = f"thr-{i}"
        r = raw_request(p.port, "GET", f"/t/{rid}/{i % 2}",
                        [("Host", "c"), ("X-Request-Id", rid),
                         ("X-Stub-Ctl-legacy", json_body_ctl(DOC))])
        assert r.status == 200 and r.body == BODY
        return rid

    with ThreadPoolExecutor(16) as pool:
        rids = list(pool.map(one, range(16)))
    for rid in rids:
        rec = p.wait_record(rid, timeout=15)
        # legacy's answer is the small one: a mismatch, with the shadow's whole
        assert rec["verdict"] == "mismatch", (rec["verdict"], rec["new"]["error"])
        assert rec["new"]["error"] is None and rec["new"]["body_bytes"] == len(big_body), rec["new"]
    settled(p)


# ---- connecting ---------------------------------------------------------------------------------


def test_connect_timeout_to_a_full_backlog(env):
    """A listener that never accepts, its backlog full: SYNs are dropped,
    the connect never completes; the connect timeout ends each shadow."""
    tmp, proxy, shadow = env
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(0)
    port = lst.getsockname()[1]
    fillers = []
    for _ in range(4):  # fill the accept queue
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(("127.0.0.1", port))
        fillers.append(f)
    time.sleep(0.1)
    try:
        cfg = config(timeout_ms=3000)
        cfg["new"] = {"connect_timeout_ms": 300}
        p = proxy(f"http://127.0.0.1:{port}", cfg=cfg)
        rids = [send(p, "blackhole") for _ in range(3)]
        for rid in rids:
            rec = p.wait_record(rid, timeout=5)
            assert rec["verdict"] in ("shadow_timeout", "shadow_error"), rec["verdict"]
            assert "onnect" in rec["new"]["error"] or "timed out" in rec["new"]["error"], rec["new"]
            assert rec["new"]["duration_ms"] < 1500 * SLOW, rec["new"]["duration_ms"]
        m = settled(p)
        assert m[H1_OPEN] == 0
    finally:
        for f in fillers:
            f.close()
        lst.close()


def has_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


@pytest.mark.parametrize("host", ["localhost", "[::1]"])
def test_shadow_by_name_and_ipv6_literal(env, host):
    tmp, proxy, shadow = env
    if host == "[::1]":
        if not has_ipv6_loopback():
            pytest.skip("no ::1 on this machine")
        srv = socket.socket(socket.AF_INET6)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("::1", 0))
    else:
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    port = srv.getsockname()[1]
    got = []

    def keep_answering(c):
        with c:
            while True:
                try:
                    h = read_head(c)
                except OSError:
                    return
                if h is None:
                    return
                got.append(h)
                c.sendall(plain())

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=keep_answering, args=(c,), daemon=True).start()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        p = proxy(f"http://{host}:{port}")
        # 30 at once on a cold pool: as many resolves (localhost) or connects
        with ThreadPoolExecutor(30) as pool:
            rids = list(pool.map(lambda i: send(p, "named"), range(30)))
        for rid in rids:
            rec = p.wait_record(rid)
            assert rec["verdict"] == "match", rec["new"]["error"]
        assert all(f"Host: {host}:{port}\r\n".encode() in h for h in got), got[0]
        m = settled(p)
        assert 1 <= m[H1_OPEN] == m[H1_IDLE] <= 30, "not kept alive"
    finally:
        srv.shutdown(socket.SHUT_RDWR)
        srv.close()


# ---- churn: connections that close after each answer -------------------------------------------


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def close_answer(c, stopping):
    if read_head(c) is not None:
        c.sendall(head(b"HTTP/1.1 200 OK", b"Content-Type: application/json",
                       b"Connection: close", b"Content-Length: %d" % len(BODY)) + BODY)


def test_churn_of_close_answers_leaks_no_fd_or_memory(env):
    """Thousands of quick mirrors whose answers say Connection: close:
    every one compared, fds and RSS come back, the lean client's
    connections go to 0. (The shadow is a thread per connection: a deep
    backlog and a long timeout so that its slowness is not the test's.)"""
    tmp, proxy, shadow = env
    s = shadow(RawShadow(close_answer, backlog=4096))
    p = proxy(s.url, cfg=config(timeout_ms=10000, max_in_flight=100000))
    n = 400 if SANITIZED else 3000
    ctl = json_body_ctl(DOC)

    def batch(k):
        c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10 * SLOW)
        for i in range(k):
            c.request("GET", f"/c/{i}", headers={"X-Stub-Ctl-legacy": ctl})
            r = c.getresponse()
            assert r.status == 200 and r.read() == BODY
        c.close()

    with ThreadPoolExecutor(8) as pool:  # the legacy pool at this concurrency
        list(pool.map(batch, [25] * 8))
    settled(p)
    fd0, rss0 = fd_count(p.proc.pid), rss_kb(p.proc.pid)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(batch, [n // 8] * 8))
    m = settled(p, timeout=10)
    assert m[H1_OPEN] == 0 and m[H1_IDLE] == 0
    sent = m["shadowproxy_shadow_sent_total"]
    assert sent == n + 200, sent
    # verdicts are counted by the comparers, a moment after the leg ends
    deadline = time.monotonic() + 10 * SLOW
    while True:
        m = metrics(p)
        verdicts = {k: v for k, v in m.items() if k.startswith("shadowproxy_verdicts_total{")}
        if sum(verdicts.values()) >= sent or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert verdicts['shadowproxy_verdicts_total{verdict="match"}'] == sent, verdicts
    fd1, rss1 = fd_count(p.proc.pid), rss_kb(p.proc.pid)
    assert fd1 <= fd0 + 2, (fd0, fd1)
    if not SANITIZED:  # ASan keeps freed memory in quarantine
        assert rss1 < rss0 + 16 * 1024, (rss0, rss1)


# ---- reload, flips and SIGTERM with lean transfers in flight --------------------------------------


def slow_answer(delay):
    return Steps(delay, plain())


def test_reload_and_authority_flip_with_transfers_in_flight(env):
    tmp, proxy, shadow = env
    s = shadow(WireShadow())
    s.default = slow_answer(0.6)
    p = proxy(s.url, cfg=config(timeout_ms=5000))
    with ThreadPoolExecutor(20) as pool:
        rids = list(pool.map(lambda i: send(p, "inflight"), range(20)))
    assert metrics(p)[IN_FLIGHT] > 0
    assert admin_call(p.admin_port, "POST", "/reload").status == 200
    p.signal(signal.SIGHUP)
    r = admin_call(p.admin_port, "POST", "/authority", {"side": "new"})
    assert r.status == 200, r.body
    for rid in rids:
        rec = p.wait_record(rid, timeout=5)
        assert rec["verdict"] == "match", (rec["verdict"], rec["new"]["error"])
        assert rec["authority"] == "legacy"
    # flipped: the shadow is now legacy's stub, through the lean client too
    rid = f"flipped-{next(_seq)}"
    s.on(rid, Steps(plain()))
    r = raw_request(p.port, "GET", "/f", [("Host", "c"), ("X-Request-Id", rid),
                                          ("X-Stub-Ctl-legacy", json_body_ctl(DOC))])
    assert r.status == 200 and r.body == BODY
    rec = p.wait_record(rid)
    assert rec["authority"] == "new" and rec["verdict"] == "match", rec
    settled(p)


def test_sigterm_with_many_slow_lean_shadows_in_flight(env):
    """1,000 slow lean shadows in flight: the clients' answers stay fast;
    SIGTERM: exits within its drain time, 0, and every exchange has a
    record."""
    tmp, proxy, shadow = env
    s = shadow(RawShadow(lambda c, stopping: (read_head(c), stopping.wait(20))))
    n = 200 if SANITIZED else 1000
    p = proxy(s.url, workers=2,
              cfg={"shadow": {"timeout_ms": 30000, "client": "auto", "max_in_flight": 5000},
                   "limits": {"drain_timeout_ms": 1500}})
    ctl = json_body_ctl(DOC)

    def batch(k):
        c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10 * SLOW)
        ids = []
        for i in range(k):
            rid = f"drain-{threading.get_ident()}-{i}"
            c.request("GET", f"/d/{i}", headers={"X-Stub-Ctl-legacy": ctl, "X-Request-Id": rid})
            r = c.getresponse()
            assert r.status == 200 and r.read() == BODY
            ids.append(rid)
        c.close()
        return ids

    with ThreadPoolExecutor(8) as pool:
        rids = [r for ids in pool.map(batch, [n // 8] * 8) for r in ids]
    deadline = time.monotonic() + 10 * SLOW
    while metrics(p)[IN_FLIGHT] < n and time.monotonic() < deadline:
        time.sleep(0.05)
    assert metrics(p)[IN_FLIGHT] == n
    for _ in range(10):  # the client's path with them all waiting
        send(p, "client-under-1000")
    t0 = time.monotonic()
    p.signal()
    assert p.wait_exit(10) == 0, p.stderr()[-3000:]
    took = time.monotonic() - t0
    assert took < 1.5 + 3 * SLOW, took
    got = {r.get("id") for r in p.records()}
    missing = [r for r in rids if r not in got]
    assert not missing, f"{len(missing)} exchanges without a record"


# ---- shadows that pour without end --------------------------------------------------------------


def pour(framing):
    """An answer whose body never ends (until-close, a Content-Length far
    beyond what comes, or chunks of one byte each): 64 KiB writes as fast
    as the proxy reads. Requests whose target is not /h/pour-... get the
    plain answer."""
    def handler(c, stopping):
        h = read_head(c)
        if h is None:
            return
        if b" /h/pour-" not in h.split(b"\r\n", 1)[0]:
            c.sendall(plain())
            return
        c.sendall(head(b"HTTP/1.1 200 OK", b"Content-Type: application/octet-stream",
                       *{"until_close": [], "length": [b"Content-Length: 100000000000"],
                         "chunks_of_1": [b"Transfer-Encoding: chunked"]}[framing]))
        block = b"1\r\ny\r\n" * 10923 if framing == "chunks_of_1" else b"y" * 65536
        while not stopping.is_set():
            c.sendall(block)
    return handler


@pytest.mark.parametrize("framing", ["until_close", "length", "chunks_of_1"])
def test_shadows_pouring_without_end_never_slow_the_client(env, framing):
    """Four shadows pour bytes as fast as loopback goes: the throttle
    pauses them turn after turn; the clients' answers stay fast, each pour
    ends with the shadow's timeout (a verdict, counted), memory stays
    bounded (each capture stops at compare.max_body_bytes, 8 MiB; the rest
    is hashed), the connections close."""
    tmp, proxy, shadow = env
    s = shadow(RawShadow(pour(framing)))
    p = proxy(s.url, cfg=config(timeout_ms=1500))
    rss0 = rss_kb(p.proc.pid)
    pouring = [send(p, f"pour-{framing}") for _ in range(4)]
    t_end = time.monotonic() + 1.0
    worst = 0.0
    while time.monotonic() < t_end:  # the client's path while they pour
        t0 = time.monotonic()
        last = send(p, "client")
        worst = max(worst, time.monotonic() - t0)
    assert worst < FAST, f"a client waited {worst:.3f}s while shadows poured"
    for rid in pouring:
        rec = p.wait_record(rid, timeout=5)
        assert rec["verdict"] == "shadow_timeout", (rec["verdict"], rec["new"]["error"])
    m = settled(p)
    p.wait_record(last)
    clients = [r for r in p.records() if r.get("id", "").startswith("client-")]
    assert clients and all(r["verdict"] == "match" for r in clients)
    assert m[H1_OPEN] == m[H1_IDLE]
    if not SANITIZED:  # 4 captures of 8 MiB (16 MiB blobs at most) and some
        rss1 = rss_kb(p.proc.pid)
        assert rss1 < rss0 + 96 * 1024, (rss0, rss1)


def test_sigterm_while_throttled_shadows_pour(env):
    """SIGTERM while 12 pouring shadows are paused and resumed by the
    throttle: the drain cuts them (cancelled while paused or reading),
    every exchange has a record, exit 0 within the grace time."""
    tmp, proxy, shadow = env
    s = shadow(RawShadow(pour("length")))
    p = proxy(s.url, cfg={"shadow": {"timeout_ms": 30000, "client": "auto", "grace_ms": 300},
                          "limits": {"drain_timeout_ms": 1000}})
    rids = [send(p, "pour-drain") for _ in range(12)]
    time.sleep(0.5)
    t0 = time.monotonic()
    p.signal()
    assert p.wait_exit(10) == 0, p.stderr()[-3000:]
    assert time.monotonic() - t0 < 1.5 + 2 * SLOW
    got = {r.get("id"): r for r in p.records()}
    for rid in rids:
        assert rid in got, "an exchange lost at shutdown"
        assert got[rid]["new"]["error"], got[rid]["new"]


@pytest.mark.parametrize("client", ["auto", "curl"])
def test_retry_after_a_slow_close_gets_its_own_connect_time(env, client):
    """A kept connection the server closes without an answer after longer
    than the connect timeout (a worker that died on the request): the
    retry on a fresh connection has its own connect time, as curl's has,
    within the total timeout; it is not a 'connection timed out'."""
    tmp, proxy, shadow = env
    s = shadow(WireShadow())
    s.default = Steps(plain())
    cfg = config(timeout_ms=3000, client=client)
    cfg["new"] = {"connect_timeout_ms": 300}
    p = proxy(s.url, cfg=cfg)
    retried_on_a_fresh_connection(p, s, Steps(0.6, then="close"))
