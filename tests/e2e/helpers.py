"""Helpers shared by the end-to-end tests: a raw HTTP/1.1 client (exact bytes
out, exact header list back), stub directive builders and small lookups.
Standard library only."""
import base64
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid

from conftest import SLOW, SP_BIN, free_port

# The stub's generated body: byte i is 'a' + i % 26 (tests/stub/reply.c).
_ALPHABET = bytes(range(ord("a"), ord("z") + 1))


def pattern(n):
    """The body of the stub's /bytes/N route and of its bytes=N directive."""
    reps = n // 26 + 1
    return (_ALPHABET * reps)[:n]


def pattern_sha256(n):
    """sha256 hex of pattern(n), computed in slices to keep memory flat."""
    h = hashlib.sha256()
    block = _ALPHABET * (1 << 16)  # 26 * 65536 bytes: a whole number of periods
    left = n
    while left:
        k = min(left, len(block))
        h.update(block[:k])
        left -= k
    return h.hexdigest()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# ---- stub directives ----------------------------------------------------------

def body64(obj_or_bytes):
    """A body64= directive: JSON (compact) for objects, raw bytes as given."""
    if isinstance(obj_or_bytes, (bytes, bytearray)):
        data = bytes(obj_or_bytes)
    else:
        data = json.dumps(obj_or_bytes, separators=(",", ":"), ensure_ascii=False).encode()
    return "body64=" + base64.b64encode(data).decode()


def json_body_ctl(obj):
    """Directive list answering with obj as application/json."""
    return body64(obj) + ",ctype=application/json"


# ---- header lists -------------------------------------------------------------

def values(headers, name):
    """Every value of a header (case-insensitive name), in order."""
    return [v for k, v in headers if k.lower() == name.lower()]


def one(headers, name):
    vs = values(headers, name)
    assert len(vs) == 1, f"expected exactly one {name}: {headers}"
    return vs[0]


def without(headers, *names):
    low = {n.lower() for n in names}
    return [[k, v] for k, v in headers if k.lower() not in low]


def by_request_id(stub, rid, n=1, timeout=5.0):
    """The stub's logged requests carrying X-Request-Id: rid (waits for n)."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        got = [r for r in stub.requests() if rid in values(r["headers"], "X-Request-Id")]
        if len(got) >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.02)


def the_request(stub, rid):
    got = by_request_id(stub, rid)
    assert len(got) == 1, f"{stub.name}: expected one request with id {rid}, got {len(got)}"
    return got[0]


# ---- raw HTTP/1.1 client ----------------------------------------------------------

class RawResponse:
    def __init__(self, status, reason, version, headers, body, complete):
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers  # [[name, value], ...] as received
        self.body = body
        self.complete = complete  # False: the connection ended before the framing said

    def header(self, name):
        vs = values(self.headers, name)
        return vs[0] if vs else None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<RawResponse {self.status} {self.headers} {self.body[:200]!r}>"


class RawConn:
    """One TCP connection; requests are written as given, responses parsed
    strictly enough to catch framing errors (a HEAD answer with a body shows
    up as garbage in front of the next status line)."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def _line(self):
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise EOFError(f"connection closed mid-line: {self.buf[:200]!r}")
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n:
            if not self._fill():
                data, self.buf = self.buf, b""
                return data, False
        data, self.buf = self.buf[:n], self.buf[n:]
        return data, True

    def read_response(self, head=False):
        while True:
            status_line = self._line()
            m = re.match(rb"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", status_line)
            assert m, f"bad status line {status_line[:200]!r}"
            version, status, reason = m.group(1).decode(), int(m.group(2)), (m.group(3) or b"").decode("latin-1")
            headers = []
            while True:
                line = self._line()
                if not line:
                    break
                name, sep, value = line.partition(b":")
                assert sep, f"bad header line {line!r}"
                headers.append([name.decode("latin-1"), value.strip(b" \t").decode("latin-1")])
            if 100 <= status < 200:
                continue  # interim answer
            break
        body, complete = b"", True
        te = values(headers, "Transfer-Encoding")
        cl = values(headers, "Content-Length")
        if head or status in (204, 304):
            pass
        elif te:
            assert te[-1].lower().endswith("chunked"), te
            parts = []
            while True:
                try:
                    size_line = self._line()
                except EOFError:
                    complete = False
                    break
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    while self._line():  # trailers
                        pass
                    break
                data, ok = self._exact(size)
                parts.append(data)
                if not ok:
                    complete = False
                    break
                crlf, ok = self._exact(2)
                assert crlf == b"\r\n", crlf
            body = b"".join(parts)
        elif cl:
            body, complete = self._exact(int(cl[0]))
        else:
            while self._fill():
                pass
            body, self.buf = self.buf, b""
        return RawResponse(status, reason, version, headers, body, complete)

    def request(self, data, head=False):
        self.send(data)
        return self.read_response(head=head)

    def at_eof(self, timeout=2.0):
        """True if the peer closed (after any buffered bytes) within timeout."""
        if self.buf:
            return False
        self.sock.settimeout(timeout * SLOW)
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def build_request(method, target, headers, body=b""):
    """Exact request bytes: headers as a list of (name, value), in order."""
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def raw_request(port, method, target, headers, body=b"", head=None):
    with RawConn(port) as c:
        return c.request(build_request(method, target, headers, body),
                         head=(method == "HEAD") if head is None else head)


def rfc3339_ms(ts):
    return re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ts) is not None


NOT_ATTEMPTED = {"attempted": False, "status": None, "headers": None, "body": None,
                 "body_format": "none", "body_bytes": 0, "duration_ms": None, "error": None}


# ---- the admin API -------------------------------------------------------------

class AdminAnswer:
    """An admin API answer: status, header list, body."""

    def __init__(self, r, body):
        self.status = r.status
        self.headers = r.getheaders()
        self.body = body

    def header(self, name):
        vs = [v for k, v in self.headers if k.lower() == name.lower()]
        return vs[0] if vs else None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Answer {self.status} {self.body[:300]!r}>"


def admin_call(port, method, path, body=None, headers=None, token=None, cookie=None):
    """One request to the admin listener on 127.0.0.1:port, on its own
    connection; a `Host` in headers replaces the real one."""
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    if cookie:
        h["Cookie"] = cookie
    data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
    if data is not None and "Content-Type" not in h:
        h["Content-Type"] = "application/json"
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10 * SLOW)
    try:
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        return AdminAnswer(r, r.read())
    finally:
        c.close()


def metric(p, name):
    """The value of the sample `name` (labels included, as exposed) on p's
    /metrics; fails when it is not there."""
    text = admin_call(p.admin_port, "GET", "/metrics").body.decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def metrics(p, token=None):
    """Every sample on p's /metrics: {name: [(labels, value), ...]}."""
    text = admin_call(p.admin_port, "GET", "/metrics", token=token).body.decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)", line)
        if m and not line.startswith("#"):
            out.setdefault(m.group(1), []).append((m.group(2) or "", float(m.group(3))))
    return out


def serve_once(tmp, config, env=None, wait=5.0):
    """Runs serve with the config; returns (exit code or None if it kept
    running, stderr). A running one is stopped."""
    legacy_port, new_port = free_port(), free_port()
    cfg_path = os.path.join(tmp, f"cfg-{uuid.uuid4().hex[:6]}.json")
    config = dict(config)
    config.setdefault("state_file", os.path.join(tmp, "state-once.json"))
    with open(cfg_path, "w") as f:
        json.dump(config, f)
    proc = subprocess.Popen(
        [SP_BIN, "serve", "--config", cfg_path, "--listen", f"127.0.0.1:{free_port()}",
         "--legacy", f"http://127.0.0.1:{legacy_port}", "--new", f"http://127.0.0.1:{new_port}",
         "--diff-log", os.path.join(tmp, "once.jsonl"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        rc = proc.wait(wait * SLOW)
    except subprocess.TimeoutExpired:
        rc = None
        proc.send_signal(signal.SIGTERM)
        proc.wait(20 * SLOW)
    err = proc.stderr.read()
    proc.stderr.close()
    return rc, err


def sample_bucket(rid):
    """docs/rules.md: FNV-1a 64 of the request id, MurmurHash3's fmix64,
    modulo 10000; sampled when below sample_percent * 100."""
    m = (1 << 64) - 1
    h = 0xcbf29ce484222325
    for b in rid.encode():
        h = ((h ^ b) * 0x100000001b3) & m
    h ^= h >> 33
    h = (h * 0xff51afd7ed558ccd) & m
    h ^= h >> 33
    h = (h * 0xc4ceb9fe1a85ec53) & m
    h ^= h >> 33
    return h % 10000
