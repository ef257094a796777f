"""Slow and greedy clients on the traffic listener (issue 15, item 2): a
deadline for the whole request head that a byte now and then does not push
back, a floor on the rate of request bodies, a cap on connections per
client address, and a process-wide budget for buffered request bodies (503
with Retry-After over it). Tricklers connect from 127.0.0.2, well-behaved
clients from 127.0.0.1 (both loopback)."""
import re
import socket
import threading
import time

import pytest

from conftest import SANITIZED, SLOW
from helpers import RawConn, admin_call, raw_request
from hostile import eof_within


def connect_from(port, source="127.0.0.2"):
    s = socket.socket()
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def metric(p, name):
    text = admin_call(p.admin_port, "GET", "/metrics").body.decode()
    m = re.search(rf"^{name} (\d+)$", text, re.M)
    return int(m.group(1)) if m else None


def rss_kib(p):
    with open(f"/proc/{p.proc.pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def quick_status(port, rid, timeout=2.0):
    """A normal request from 127.0.0.1; its status, or None when the
    connection was refused, closed or timed out."""
    try:
        r = raw_request(port, "GET", "/echo/ok", [("Host", "x"), ("X-Request-Id", rid)])
        return r.status
    except (OSError, EOFError, AssertionError, ValueError):
        return None


def test_trickling_heads_do_not_hold_the_listener(stubs, proxy):
    """30 connections trickle request heads a byte every 0.5 s with
    max_connections 30 (only the defaults otherwise): they fill the
    listener, but the head deadline (limits.head_timeout_s, 10 s) closes
    them, so normal requests fail for about that long and then are served
    while the trickling goes on. (Failed before: each byte reset the idle
    timeout, and every normal request failed for as long as the trickling
    lasted.)"""
    legacy, new = stubs("legacy"), stubs("new")
    p = proxy(legacy.url, new.url, config={"limits": {"max_connections": 30}})
    time.sleep(1)  # the fixture's readiness probe has closed: the 30 places are free
    socks = [connect_from(p.port) for _ in range(30)]
    started = time.monotonic()
    stop = threading.Event()
    head = b"GET /echo/trickle HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 400

    def trickle():
        for i in range(len(head)):
            for s in socks:
                try:
                    s.sendall(head[i:i + 1])
                except OSError:
                    pass
            if stop.wait(0.5):
                return

    t = threading.Thread(target=trickle)
    t.start()
    try:
        time.sleep(0.5)
        t0 = time.monotonic()
        first_ok = None
        i = 0
        while time.monotonic() - t0 < 20 * SLOW:
            if quick_status(p.port, f"trickle-ok-{i}") == 200:
                first_ok = time.monotonic() - t0
                break
            i += 1
            time.sleep(0.25)
        assert first_ok is not None, "normal requests failed for 20 s"
        assert first_ok < 13 * SLOW, first_ok
        # Every trickler is closed by its deadline (each worker sweeps once
        # a second, on its own beat).
        deadline = started + (10 + 5) * SLOW
        for s in socks:
            assert eof_within(s, max(0.1, deadline - time.monotonic())), \
                "a trickling connection is still open"
        for j in range(3):  # and normal requests keep being served while the trickling goes on
            assert quick_status(p.port, f"trickle-after-{j}") == 200
    finally:
        stop.set()
        t.join(5)
        for s in socks:
            s.close()
    assert metric(p, "shadowproxy_slow_clients_closed_total") >= 30
    assert "event=slow_client_closed" in p.stderr()
    assert "request head not complete within limits.head_timeout_s" in p.stderr()


def test_trickling_body_is_closed_under_the_rate_floor(stubs, proxy):
    """A body that starts fast and then trickles (a byte a second) is cut
    once a window of head_timeout_s brings less than min_body_rate a
    second; nothing of it goes upstream. A body at a steady rate above
    the floor is served."""
    legacy, new = stubs("legacy"), stubs("new")
    p = proxy(legacy.url, new.url,
              config={"limits": {"head_timeout_s": 2, "min_body_rate": 1000}})
    n0 = len(legacy.requests())
    s = connect_from(p.port)
    s.sendall(b"POST /echo/slowbody HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
              + b"x" * 50000)
    t0 = time.monotonic()
    closed = False
    while time.monotonic() - t0 < 10 * SLOW:
        try:
            s.sendall(b"x")
        except OSError:
            closed = True
            break
        if eof_within(s, 1):
            closed = True
            break
    s.close()
    assert closed, "the trickling body was not cut"
    assert time.monotonic() - t0 < 6 * SLOW
    # A body at 4 KB/s for 5 s (above the floor, longer than one window) is served.
    c = RawConn(p.port, timeout=20)
    c.send(b"POST /echo/steady HTTP/1.1\r\nHost: x\r\nX-Request-Id: steady-1\r\n"
           b"Content-Length: 20000\r\n\r\n")
    for _ in range(20):
        c.send(b"y" * 1000)
        time.sleep(0.25)
    r = c.read_response()
    c.close()
    assert r.status == 200, r
    targets = [q["target"] for q in legacy.requests()[n0:]]
    assert targets == ["/echo/steady"], targets
    assert metric(p, "shadowproxy_slow_clients_closed_total") == 1
    assert "request body under limits.min_body_rate" in p.stderr()


@pytest.mark.parametrize("trusted", [False, True])
def test_connections_per_address_capped(stubs, proxy, trusted):
    """limits.max_connections_per_address: the address's next connection
    is closed at once; other addresses are served; an address in
    trusted_proxies (a load balancer) is not capped."""
    legacy, new = stubs("legacy"), stubs("new")
    config = {"limits": {"max_connections_per_address": 5}}
    if trusted:
        config["trusted_proxies"] = ["127.0.0.2"]
    p = proxy(legacy.url, new.url, config=config)
    held = [connect_from(p.port) for _ in range(5)]
    time.sleep(0.2)
    extra = connect_from(p.port)
    try:
        if trusted:
            extra.sendall(b"GET /echo/lb HTTP/1.1\r\nHost: x\r\n\r\n")
            extra.settimeout(5 * SLOW)
            assert extra.recv(12) == b"HTTP/1.1 200"
        else:
            assert eof_within(extra, 2), "the sixth connection from one address was served"
            assert metric(p, "shadowproxy_connections_refused_per_address_total") == 1
            assert "max_connections_per_address=5" in p.stderr()
        assert quick_status(p.port, "other-address") == 200
    finally:
        extra.close()
        for s in held:
            s.close()
    # Closed connections give their places back.
    if not trusted:
        time.sleep(0.3)
        again = connect_from(p.port)
        again.sendall(b"GET /echo/again HTTP/1.1\r\nHost: x\r\n\r\n")
        again.settimeout(5 * SLOW)
        assert again.recv(12) == b"HTTP/1.1 200"
        again.close()


def test_body_budget_gives_503_with_retry_after(stubs, proxy):
    """limits.max_buffered_bodies: two uploads hold 16 MiB of a 20 MiB
    budget; a third declaring 8 MiB gets 503 with Retry-After at once, a
    chunked one passing the budget gets 503 when it ends, a small request
    is served; both are counted; once the holders finish, 8 MiB fits."""
    legacy, new = stubs("legacy"), stubs("new")
    p = proxy(legacy.url, new.url, config={"limits": {"max_buffered_bodies": 20 << 20}})
    mib8 = 8 << 20
    holders = []
    for i in range(2):
        c = RawConn(p.port, timeout=30)
        c.send(b"POST /echo/hold HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % mib8)
        c.send(b"h" * (mib8 - 10))
        holders.append(c)
    time.sleep(0.5)
    c = RawConn(p.port, timeout=10)
    c.send(b"POST /echo/third HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
           b"Expect: 100-continue\r\n\r\n" % mib8)
    r = c.read_response()
    c.close()
    assert r.status == 503, r
    assert r.header("Retry-After") == "1"
    assert r.json()["error"] == "overloaded"
    chunked = RawConn(p.port, timeout=30)
    chunked.send(b"POST /echo/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(6):
        chunked.send(b"100000\r\n" + b"c" * (1 << 20) + b"\r\n")
    chunked.send(b"0\r\n\r\n")
    r = chunked.read_response()
    chunked.close()
    assert r.status == 503 and r.header("Retry-After") == "1", r
    assert quick_status(p.port, "small-fits") == 200
    assert metric(p, "shadowproxy_body_budget_rejected_total") == 2
    for c in holders:
        c.send(b"h" * 10)
        assert c.read_response().status == 200
        c.close()
    r = raw_request(p.port, "POST", "/echo/after", [("Host", "x"), ("Content-Length", str(mib8))],
                    b"a" * mib8)
    assert r.status == 200


def test_greedy_uploads_do_not_blow_rss(stubs, proxy):
    """Four connections each send most of a 60 MiB body and hold it, with
    the defaults: the body budget (128 MiB) admits two of them, the other
    two get 503 before sending their bodies, so the proxy's memory grows by
    about two bodies, not four. (Failed before: RSS grew by about 250 MiB.)"""
    if SANITIZED:
        pytest.skip("ASan's shadow memory and quarantine make RSS no measure of buffering")
    legacy, new = stubs("legacy"), stubs("new")
    p = proxy(legacy.url, new.url)
    assert quick_status(p.port, "warm") == 200
    base = rss_kib(p)
    size, sent = 60 << 20, (60 << 20) - 4096
    conns = []
    for _ in range(4):
        c = RawConn(p.port, timeout=30)
        c.send(b"POST /echo/big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
        try:
            c.send(b"b" * sent)
        except OSError:
            pass  # answered 503 and closed before the body
        conns.append(c)
    time.sleep(1.0)
    grown = (rss_kib(p) - base) // 1024
    for c in conns:
        c.close()
    assert grown < 140, f"RSS grew by {grown} MiB"
