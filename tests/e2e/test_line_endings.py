"""Bare LF as a line ending (issue 15, item 13).

libmicrohttpd 0.9.75 reads a bare LF as the end of a line in the request
line, the header fields, the blank line and chunk-size lines; its
strictness option (MHD_OPTION_STRICT_FOR_CLIENT) does not change that, and
the proxy never sees the raw bytes, so it cannot refuse them. It is safe on
the proxy-to-upstream hop because nothing of the client's framing is
forwarded: each leg is a new request that curl writes from the parsed
method, target, header list and de-chunked body, with CRLF line endings
and a Content-Length of the proxy's own (docs/operations.md, "What the
proxy refuses from clients"). These tests read the bytes an upstream
receives and check exactly that."""
import hashlib
import socket
import threading
import time

import pytest

from conftest import SLOW
from hostile import send_raw


class RawUpstream:
    """An HTTP/1.1 upstream that keeps the exact bytes of each request it
    receives (head to the blank line, then Content-Length bytes) and
    answers 200 with a small body."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests = []
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(5)
        buf = b""
        with c:
            while not self.stopped:
                try:
                    while b"\r\n\r\n" not in buf:
                        data = c.recv(65536)
                        if not data:
                            return
                        buf += data
                    head, rest = buf.split(b"\r\n\r\n", 1)
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value.strip())
                    while len(rest) < length:
                        data = c.recv(65536)
                        if not data:
                            return
                        rest += data
                    self.requests.append(head + b"\r\n\r\n" + rest[:length])
                    buf = rest[length:]
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                              b"Content-Length: 2\r\n\r\nok")
                except OSError:
                    return

    def close(self):
        self.stopped = True
        self.thread.join(2)
        self.sock.close()

    def wait_for(self, rid, timeout=5.0):
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            got = [r for r in self.requests if b"\r\nX-Request-Id: " + rid + b"\r\n" in r]
            if got:
                return got
            time.sleep(0.02)
        return []


@pytest.fixture
def raw_pair(proxy):
    ups = [RawUpstream(), RawUpstream()]
    p = proxy(ups[0].url, ups[1].url)
    yield ups, p
    for u in ups:
        u.close()


def canonical(raw, body):
    """One request, every line ended by CRLF, framed by one Content-Length
    of the proxy's own that matches the body exactly."""
    head, _, got_body = raw.partition(b"\r\n\r\n")
    assert b"\n" not in head.replace(b"\r\n", b""), raw  # no bare LF anywhere in the head
    assert b"\r" not in head.replace(b"\r\n", b""), raw
    lines = head.split(b"\r\n")
    assert lines[0].endswith(b" HTTP/1.1") and lines[0].count(b" ") == 2, lines[0]
    names = [line.split(b":", 1)[0].lower() for line in lines[1:]]
    assert b"transfer-encoding" not in names, raw
    if body:
        assert names.count(b"content-length") == 1, raw
        assert f"Content-Length: {len(body)}".encode() in lines, raw
    assert got_body == body, raw
    return lines


H_ID = b"X-Request-Id: %s"
CASES = [
    # (id, request with its X-Request-Id as %s, body the upstream must get)
    ("head-all-lf", b"GET /a HTTP/1.1\nHost: x\n" + H_ID + b"\n\n", b""),
    ("request-line-lf", b"GET /a HTTP/1.1\nHost: x\r\n" + H_ID + b"\r\n\r\n", b""),
    ("header-line-lf", b"GET /a HTTP/1.1\r\nHost: x\n" + H_ID + b"\r\n\r\n", b""),
    ("blank-line-lf", b"GET /a HTTP/1.1\r\nHost: x\r\n" + H_ID + b"\r\n\n", b""),
    ("lf-before-content-length",
     b"POST /a HTTP/1.1\r\nHost: x\r\nX-A: b\nContent-Length: 5\r\n" + H_ID + b"\r\n\r\nhello",
     b"hello"),
    ("chunk-sizes-lf",
     b"POST /a HTTP/1.1\r\nHost: x\r\n" + H_ID + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"5\nhello\n6\n world\n0\n\n", b"hello world"),
    ("last-chunk-lf",
     b"POST /a HTTP/1.1\r\nHost: x\r\n" + H_ID + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"5\r\nhello\r\n0\n\r\n", b"hello"),
]


@pytest.mark.parametrize("data,body", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bare_lf_request_reaches_upstreams_canonical(raw_pair, data, body):
    """Whatever bare LFs the client used, each upstream gets exactly one
    request, with CRLF line endings, no Transfer-Encoding and the body the
    client meant under one Content-Length; the client gets the answer."""
    ups, p = raw_pair
    rid = hashlib.sha1(data).hexdigest()[:12].encode()
    r, _ = send_raw(p.port, data.replace(b"%s", rid), eof=False)
    assert r.status == 200, r
    assert r.body == b"ok"
    for u in ups:
        got = u.wait_for(rid)
        assert len(got) == 1, got
        lines = canonical(got[0], body)
        assert lines[0].startswith(b"POST /a " if body else b"GET /a "), lines[0]
        if data.count(b"X-A: b"):
            assert b"X-A: b" in lines


@pytest.mark.parametrize("raw", [
    b"GET /a HTTP/1.1\nHost: x\r\n\r\n",                                  # bare LF
    b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello",     # client framing
    b"POST /a HTTP/1.1\r\nContent-Length: 9\r\n\r\nhello",                  # length mismatch
])
def test_canonical_check_has_teeth(raw):
    """The check above fails on what a proxy forwarding the client's bytes
    would send."""
    with pytest.raises(AssertionError):
        canonical(raw, b"hello" if b"POST" in raw else b"")
