"""Shutdown and connection lifecycle: SIGTERM drains requests in flight and
exits 0, idle connections do not hold it up, shadows get a short grace, the
drain has a deadline, a second signal exits at once."""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request

from conftest import SLOW
from helpers import RawConn, build_request, raw_request, values


def wait_logged(stub, n, timeout=3.0):
    reqs = stub.wait_requests(n, timeout)
    assert len(reqs) >= n, f"{stub.name} saw {len(reqs)} requests, expected {n}"


def test_sigterm_drains_requests_in_flight(stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, args=("--diff-log-mode", "all"))
    n = 5
    results = {}

    def client(i):
        try:
            c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10 * SLOW)
            body = f"payload-{i}".encode() * 100
            c.request("POST", f"/echo/drain/{i}", body=body,
                      headers={"X-Request-Id": f"drain-{i}", "X-Stub-Ctl-legacy": "delay=1000"})
            r = c.getresponse()
            results[i] = (r.status, json.loads(r.read()), len(body))
            c.close()
        except Exception as e:  # reported below
            results[i] = e

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    wait_logged(legacy, n)  # all five are at the legacy stub, waiting
    time.sleep(0.2)
    t_term = time.monotonic()
    p.signal(signal.SIGTERM)
    time.sleep(0.2)
    # No longer accepting: new connections are refused.
    try:
        with socket.create_connection(("127.0.0.1", p.port), timeout=1) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(2 * SLOW)
            late = s.recv(100)
        assert late == b"", f"a new connection was served during the drain: {late!r}"
    except (ConnectionRefusedError, ConnectionResetError):
        pass
    for t in threads:
        t.join(10 * SLOW)
    for i in range(n):
        got = results.get(i)
        assert isinstance(got, tuple), f"client {i}: {got!r}"
        status, echo, blen = got
        assert status == 200
        assert echo["target"] == f"/echo/drain/{i}"
        assert echo["body_len"] == blen
    rc = p.wait_exit(5)
    assert rc == 0, f"exit code {rc}\n{p.stderr()[-3000:]}"
    assert time.monotonic() - t_term < 3 * SLOW
    recs = p.records()
    assert sorted(r["id"] for r in recs) == [f"drain-{i}" for i in range(n)]
    for r in recs:
        assert r["legacy"]["status"] == 200
        assert r["new"]["status"] == 200


def test_sigterm_with_idle_keepalive_connections_exits_promptly(pair):
    legacy, new, p = pair
    conns = []
    for i in range(3):
        c = p.conn()
        c.request("GET", f"/echo/idle/{i}", headers={"X-Request-Id": f"idle-{i}"})
        r = c.getresponse()
        r.read()
        assert r.status == 200
        conns.append(c)
    p.wait_record("idle-2")
    t0 = time.monotonic()
    p.signal(signal.SIGTERM)
    rc = p.wait_exit(3)
    elapsed = time.monotonic() - t0
    for c in conns:
        c.close()
    assert rc == 0, f"exit code {rc} after {elapsed:.2f}s\n{p.stderr()[-3000:]}"
    assert elapsed < 1.0 * SLOW, elapsed
    assert sorted(r["id"] for r in p.records()) == ["idle-0", "idle-1", "idle-2"]


def test_sigint_also_drains_and_exits_0(pair):
    legacy, new, p = pair
    r = raw_request(p.port, "GET", "/echo/int", [("Host", "x"), ("X-Request-Id", "int-1")])
    assert r.status == 200
    p.wait_record("int-1")
    p.signal(signal.SIGINT)
    assert p.wait_exit(3) == 0


def test_abandoned_requests_do_not_delay_shutdown(stubs, proxy):
    """Clients that send part of a request and hang up at once (timeouts,
    scanners, health checkers) must not hold the drain until its deadline."""
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"limits": {"drain_timeout_ms": 5000}})
    partial = [
        b"POST /echo/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789",
        b"GET /echo/b HTTP/1.1\r\n",
        b"POST /echo/c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n100\r\nab",
    ]
    for data in partial:
        s = socket.create_connection(("127.0.0.1", p.port))
        s.sendall(data)
        s.close()
    time.sleep(0.3)
    r = raw_request(p.port, "GET", "/health", [("Host", "x")])
    assert r.body == b"ok"
    t0 = time.monotonic()
    p.signal(signal.SIGTERM)
    rc = p.wait_exit(2)
    elapsed = time.monotonic() - t0
    assert rc == 0, f"not exited 2 s after SIGTERM (rc {rc})\n{p.stderr()[-3000:]}"
    assert elapsed < 1.0 * SLOW


def test_shadow_gets_only_a_short_grace(stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url,
              config={"shadow": {"timeout_ms": 10000, "grace_ms": 300}},
              args=("--diff-log-mode", "all"))
    t0 = time.monotonic()
    r = raw_request(p.port, "GET", "/echo/grace", [("Host", "x"), ("X-Request-Id", "grace-1"),
                                                   ("X-Stub-Ctl-new", "delay=5000")])
    assert r.status == 200
    assert time.monotonic() - t0 < 0.5 * SLOW
    wait_logged(new, 1)
    t0 = time.monotonic()
    p.signal(signal.SIGTERM)
    rc = p.wait_exit(4)
    elapsed = time.monotonic() - t0
    assert rc == 0, f"rc {rc}\n{p.stderr()[-3000:]}"
    assert 0.25 < elapsed < 1.5 * SLOW, elapsed
    rec = [x for x in p.records() if x["id"] == "grace-1"]
    assert len(rec) == 1, "the exchange cut short at shutdown must still be recorded"
    assert rec[0]["verdict"] in ("shadow_error", "shadow_timeout", "shadow_dropped"), rec[0]
    assert rec[0]["legacy"]["status"] == 200


def test_drain_deadline_cuts_slow_requests(stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"limits": {"drain_timeout_ms": 300}},
              args=("--diff-log-mode", "all"))
    c = RawConn(p.port)
    c.send(build_request("GET", "/echo/stuck", [("Host", "x"), ("X-Request-Id", "stuck-1"),
                                                ("X-Stub-Ctl-legacy", "delay=4000")]))
    wait_logged(legacy, 1)
    t0 = time.monotonic()
    p.signal(signal.SIGTERM)
    r = c.read_response()
    c.close()
    assert r.status == 502, r
    body = json.loads(r.body)
    assert body["upstream"] == "legacy" and body["request_id"] == "stuck-1"
    rc = p.wait_exit(3)
    elapsed = time.monotonic() - t0
    assert rc == 0, f"rc {rc}\n{p.stderr()[-3000:]}"
    assert elapsed < 1.5 * SLOW, elapsed
    recs = [x for x in p.records() if x["id"] == "stuck-1"]
    assert len(recs) == 1 and recs[0]["verdict"] == "authoritative_error"


def test_second_sigterm_exits_at_once(stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url)
    p.expected_rc = None  # "exits at once": no clean drain, the code is not specified
    c = RawConn(p.port)
    c.send(build_request("GET", "/echo/slow", [("Host", "x"),
                                               ("X-Stub-Ctl-legacy", "delay=5000")]))
    wait_logged(legacy, 1)
    p.signal(signal.SIGTERM)
    time.sleep(0.2)
    assert p.proc.poll() is None, "the first SIGTERM must wait for the request in flight"
    t0 = time.monotonic()
    p.signal(signal.SIGTERM)
    rc = p.wait_exit(2)
    assert rc is not None, "still running after a second SIGTERM"
    assert time.monotonic() - t0 < 1.0 * SLOW
    c.close()


def test_idle_timeout_closes_idle_client_connections(stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"limits": {"idle_timeout_s": 1}})
    with RawConn(p.port) as c:
        r = c.request(build_request("GET", "/health", [("Host", "x")]))
        assert r.body == b"ok"
        t0 = time.monotonic()
        assert c.at_eof(timeout=3), "idle connection still open after 3 s"
        assert 0.8 < time.monotonic() - t0 < 2.5 * SLOW


def read_threads(pid):
    """{thread name: (nice, policy)} from /proc."""
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        # after "pid (comm)": field 19 nice is [16], field 41 policy is [38]
        threads[name] = (int(fields[16]), int(fields[38]))
    return threads


SCHED_OTHER, SCHED_BATCH, SCHED_IDLE = 0, 3, 5


def comparers_at_rest(threads):
    return all(v == (10, SCHED_BATCH) for k, v in threads.items() if k.startswith("sp-compare-"))


def test_comparer_thread_yields_to_the_workers(pair):
    """Comparison is shadow work: at rest the comparer threads run under
    SCHED_BATCH at nice 10 (their wake-ups do not preempt a worker, and they
    keep a fair share next to other processes); the diff-log writer and the
    confirm thread under SCHED_BATCH at nice 0; the workers keep the default
    policy. Threads are named for top -H."""
    legacy, new, p = pair

    def settled(threads):
        return (any(k.startswith("sp-compare-") for k in threads) and
                any(k.startswith("sp-worker-") for k in threads) and
                threads.get("sp-difflog") == (0, SCHED_BATCH) and comparers_at_rest(threads))

    # Each thread names itself and sets its policy once it runs: on a busy
    # machine (or under ASan) that can come after the proxy answers.
    deadline = time.monotonic() + 10 * SLOW
    threads = read_threads(p.proc.pid)
    while not settled(threads) and time.monotonic() < deadline:
        time.sleep(0.05)
        threads = read_threads(p.proc.pid)
    comparers = [v for k, v in threads.items() if k.startswith("sp-compare-")]
    assert comparers and comparers_at_rest(threads), threads
    assert threads.get("sp-difflog") == (0, SCHED_BATCH), threads
    assert threads.get("sp-confirm") == (0, SCHED_BATCH), threads  # rules "confirm"
    workers = [v for k, v in threads.items() if k.startswith("sp-worker-")]
    assert workers and all(v == (0, SCHED_OTHER) for v in workers), threads


def test_comparers_yield_while_a_worker_is_saturated(stubs, proxy, tmp):
    """A flood that keeps the one worker busy (shadowproxy_worker_busy_ratio
    at 0.9 or more) makes the comparers yield (they compare on a small CPU
    budget and sleep the rest): the clients keep the CPU and overload
    sampling gives. Once the flood ends they stop yielding; their policy
    stays SCHED_BATCH at nice 10 throughout."""
    legacy, new = stubs("legacy"), stubs("new")
    p = proxy(legacy.url, new.url, args=("--workers", "1"))

    def metrics():
        url = f"http://127.0.0.1:{p.admin_port}/metrics"
        return urllib.request.urlopen(url, timeout=5 * SLOW).read().decode()

    def yielding(text, v):
        return re.search(rf'(?m)^shadowproxy_comparer_yielding{{thread="0"}} {v}$', text)

    # curl's own parallel transfers: a client fast enough to saturate a worker
    urls = os.path.join(tmp, "urls.cfg")
    with open(urls, "w") as f:
        for i in range(200000):
            f.write(f'url = "http://127.0.0.1:{p.port}/api/orders/{i % 50}"\noutput = "/dev/null"\n')
    flood = subprocess.Popen(["curl", "-s", "-Z", "--parallel-max", "64", "-K", urls],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen = None
    try:
        deadline = time.monotonic() + 20 * SLOW
        while seen is None and time.monotonic() < deadline and flood.poll() is None:
            text = metrics()
            if yielding(text, 1):
                seen = text
            time.sleep(0.05)
    finally:
        flood.kill()
        flood.wait()
    busy = " ".join(re.findall(r"(?m)^shadowproxy_worker_busy_ratio.*$", seen or metrics()))
    assert seen is not None, f"the comparers never yielded during the flood ({busy})"
    assert comparers_at_rest(read_threads(p.proc.pid))  # a sleep, not another policy

    deadline = time.monotonic() + 10 * SLOW
    while True:
        rest = read_threads(p.proc.pid)
        if comparers_at_rest(rest) and yielding(metrics(), 0):
            break
        assert time.monotonic() < deadline, f"comparers still yielding after the flood: {rest}"
        # a comparer changes its policy between two jobs: give it one
        urllib.request.urlopen(f"http://127.0.0.1:{p.port}/api/orders/1", timeout=5 * SLOW).read()
        time.sleep(0.1)
