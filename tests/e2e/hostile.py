"""Shared by the hostile-input tests (test_hostile*.py): a proxy shared by a
module's one-request cases, what reached the upstreams since a point in
time, the shapes of the proxy's and libmicrohttpd's own error answers, and
fd counting."""
import contextlib
import os
import socket
import tempfile
import time

from conftest import SLOW, Proxy, Stub
from helpers import RawConn, by_request_id, raw_request


@contextlib.contextmanager
def shared_proxy(config=None, args=()):
    """Two stubs and a proxy (diff-log mode all) shared by the cases of a
    module that each send their own requests: starting a proxy per case
    would cost more than the cases, under ASan most of all. Stopped (and
    checked for sanitizer reports and whole diff-log lines) at the end."""
    with tempfile.TemporaryDirectory(prefix="sp-hostile-") as tmp:
        legacy = Stub(tmp, "legacy")
        new = Stub(tmp, "new", "new")
        p = Proxy(tmp, legacy.url, new.url, config=config,
                  args=("--diff-log-mode", "all", *args))
        try:
            yield legacy, new, p
        finally:
            try:
                assert p.stop() == 0, p.stderr()[-3000:]
                p.records()
            finally:
                legacy.stop()
                new.stop()


class Upstreams:
    """What the upstreams and the diff log have seen since it was made."""

    def __init__(self, legacy, new, p):
        self.legacy, self.new, self.p = legacy, new, p
        # Settle first: the shadow's log line and the record of an earlier
        # request may still be on their way. Every request is mirrored and
        # recorded (mode all), so the three counts agree when all is in.
        deadline = time.monotonic() + 5 * SLOW
        while True:
            self.n = (len(legacy.requests()), len(new.requests()), len(p.records()))
            if self.n[0] == self.n[1] == self.n[2] or time.monotonic() > deadline:
                break
            time.sleep(0.02)

    def since(self):
        return (self.legacy.requests()[self.n[0]:], self.new.requests()[self.n[1]:],
                self.p.records()[self.n[2]:])

    def only(self, rid, target):
        """After a hostile request and then a normal one (rid): the normal one
        is all that reached each upstream, and all the diff log got."""
        assert len(by_request_id(self.legacy, rid)) == 1
        assert len(by_request_id(self.new, rid)) == 1
        self.p.wait_record(rid)
        time.sleep(0.05)
        legacy, new, records = self.since()
        assert [q["target"] for q in legacy] == [target], legacy
        assert [q["target"] for q in new] == [target], new
        assert [r["id"] for r in records] == [rid], records


_seq = iter(range(1 << 30))


def next_id(tag):
    """A request id unique in this test run."""
    return f"{tag}-{next(_seq)}"


def served_after(up, tag="after"):
    """Another client's normal request is answered, and is the only thing
    that reached the upstreams since `up` was made."""
    rid = next_id(tag)
    target = f"/echo/{rid}"
    r = raw_request(up.p.port, "GET", target, [("Host", "x"), ("X-Request-Id", rid)])
    assert r.status == 200, r
    assert r.json()["target"] == target
    up.only(rid, target)


def proxy_error(r, status, code, words):
    """The proxy's own answer: JSON {"error", "message"}, connection closed."""
    assert r.status == status, r
    assert r.header("Content-Type") == "application/json", r
    assert r.header("Connection") == "close", r
    body = r.json()
    assert body["error"] == code, body
    assert words in body["message"], body
    assert r.header("X-Stub-Name") is None  # never an upstream's answer


def mhd_error(r, status):
    """libmicrohttpd refused the request before the proxy saw it: its own
    small HTML answer, connection closed. (MHD 0.9.75 writes its status line
    and headers twice for a bad Content-Length; only the first counts.)"""
    assert r.status == status, r
    assert r.header("Connection") == "close", r
    assert r.header("X-Stub-Name") is None


def send_raw(port, data, eof=True):
    """One hostile request on its own connection: the answer, and (eof)
    whether the proxy closed the connection after it."""
    with RawConn(port, timeout=5) as c:
        c.send(data)
        r = c.read_response()
        c.buf = b""  # MHD 0.9.75's doubled error head, if any: not another answer
        return r, eof and c.at_eof(timeout=2)


def fd_count(p):
    return len(os.listdir(f"/proc/{p.proc.pid}/fd"))


def warm_baseline(p, n=12):
    """The proxy's fd count once each worker has its upstream connections:
    requests on separate connections spread over the workers."""
    for i in range(n):
        assert raw_request(p.port, "GET", "/health", [("Host", "x")]).status == 200
    time.sleep(0.1)
    return fd_count(p)


def wait_fds(p, at_most, timeout):
    deadline = time.monotonic() + timeout * SLOW
    while fd_count(p) > at_most and time.monotonic() < deadline:
        time.sleep(0.05)
    return fd_count(p)


def eof_within(sock, timeout):
    """True if the peer closes (EOF or reset) within timeout; bytes it sends
    first are ignored."""
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if sock.recv(65536) == b"":
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except (socket.timeout, BlockingIOError):
            return False
    return False


def timed_request(p, rid):
    t0 = time.monotonic()
    r = raw_request(p.port, "GET", f"/echo/{rid}", [("Host", "x"), ("X-Request-Id", rid)])
    return r, time.monotonic() - t0
