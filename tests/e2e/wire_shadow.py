"""A raw TCP shadow upstream for test_shadow_wire.py: it writes exact bytes,
split as the test says, and keeps every request it reads, byte for byte.

Each request is matched to a script by its X-Request-Id (the proxy sends
the same id to both legs); a request without a script gets the default
steps. Also the answers' building blocks and a reading of every metric.
Standard library only; loopback only; port 0."""
import json
import socket
import struct
import threading
import time

from conftest import SLOW
from helpers import admin_call

DOC = {"order": {"id": 7, "total": 19.99}, "items": [{"sku": "24-MB01", "qty": 1}]}
BODY = json.dumps(DOC, separators=(",", ":")).encode()


def head(status=b"HTTP/1.1 200 OK", *lines):
    """A response head: the status line, the lines given, the empty line."""
    return status + b"\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


def plain(body=BODY):
    """The ordinary answer: Content-Length, kept open."""
    return head(b"HTTP/1.1 200 OK", b"Content-Type: application/json",
                b"Content-Length: %d" % len(body)) + body


def bytewise(data):
    return [data[i:i + 1] for i in range(len(data))]


def metrics(p):
    """Every sample on p's /metrics: {"name{labels}": value}."""
    text = admin_call(p.admin_port, "GET", "/metrics").body.decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


class Seen:
    """One request as the shadow read it."""

    def __init__(self, conn_no, nth_on_conn, head, body):
        self.conn_no = conn_no          # which accepted connection (1, 2, ...)
        self.nth_on_conn = nth_on_conn  # 1 for the first request on it
        self.head = head                # the raw head, CRLFCRLF included
        self.body = body
        lines = head.decode("latin-1").split("\r\n")
        self.request_line = lines[0]
        self.method, self.target, self.version = lines[0].split(" ", 2)
        self.headers = []
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                self.headers.append((name, value.strip(" \t")))

    def values(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def has(self, name):
        return bool(self.values(name))


class Steps:
    """What the shadow does for one request: bytes written one write()
    each (TCP_NODELAY, so each is its own segment), numbers as pauses in
    seconds (a part may be a generator function: a trickle that never ends
    stops when the proxy leaves), then whether the connection stays open."""

    def __init__(self, *parts, gap=0.0, then="keep"):
        self.parts = parts
        self.gap = gap
        self.then = then  # "keep", "close", "rst" (SO_LINGER 0), "hang"


class WireShadow:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.scripts = {}   # request id -> list of Steps or callables, one per attempt
        self.seen = {}      # request id -> [Seen, ...]
        self.default = None
        self.accepted = 0
        self.idle_close = {}  # conn_no -> seconds: close that connection once idle that long
        self.open_conns = set()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    # ---- the test's side ----------------------------------------------------

    def on(self, rid, *attempts):
        """Scripts for rid's requests: the first attempt gets attempts[0],
        a retry attempts[1], ...; past the last, the last again."""
        with self.lock:
            self.scripts[rid] = list(attempts)

    def requests(self, rid):
        with self.lock:
            return list(self.seen.get(rid, []))

    def wait_requests(self, rid, n, timeout=5.0):
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            got = self.requests(rid)
            if len(got) >= n:
                return got
            time.sleep(0.01)
        return self.requests(rid)

    def stop(self):
        self.stopping.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close would not)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self.open_conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(5)

    # ---- the server -----------------------------------------------------------

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.accepted += 1
                no = self.accepted
                self.open_conns.add(c)
            threading.Thread(target=self._serve, args=(c, no), daemon=True).start()

    def _read_request(self, c, buf, no):
        """(head, body, rest) or None when the peer closed or we stop."""
        while b"\r\n\r\n" not in buf:
            idle = self.idle_close.get(no)
            c.settimeout(idle if idle and not buf else 0.5)
            try:
                data = c.recv(65536)
            except socket.timeout:
                if idle and not buf:
                    return None  # idle long enough: close it, as a server would
                if self.stopping.is_set():
                    return None
                continue
            except OSError:
                return None
            if not data:
                return None
            buf += data
        head, _, rest = buf.partition(b"\r\n\r\n")
        head += b"\r\n\r\n"
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        c.settimeout(5 * SLOW)
        while len(rest) < length:
            data = c.recv(65536)
            if not data:
                return None
            rest += data
        return head, rest[:length], rest[length:]

    def _serve(self, c, no):
        buf, nth = b"", 0
        try:
            while not self.stopping.is_set():
                got = self._read_request(c, buf, no)
                if got is None:
                    break
                head, body, buf = got
                nth += 1
                req = Seen(no, nth, head, body)
                rid = (req.values("X-Request-Id") or [""])[0]
                with self.lock:
                    attempts = self.seen.setdefault(rid, [])
                    attempts.append(req)
                    script = self.scripts.get(rid)
                    steps = (script[min(len(attempts), len(script)) - 1] if script
                             else self.default)
                if callable(steps):
                    steps = steps(req)
                if not self._play(c, steps):
                    break
        finally:
            with self.lock:
                self.open_conns.discard(c)
            try:
                c.close()
            except OSError:
                pass

    def _play(self, c, steps):
        """Writes the steps; False when the connection is done."""
        def flat(parts):
            for part in parts:
                if callable(part):  # a generator function: a stream of parts
                    yield from part()
                else:
                    yield part

        try:
            for i, part in enumerate(flat(steps.parts)):
                if self.stopping.is_set():
                    return False
                if isinstance(part, (int, float)):
                    time.sleep(part)
                    continue
                if i and steps.gap:
                    time.sleep(steps.gap)
                c.sendall(part)
        except OSError:
            return False
        if steps.then == "keep":
            return True
        if steps.then == "rst":
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif steps.then == "hang":
            # read and drop until the proxy leaves (or the server stops)
            c.settimeout(0.2)
            while not self.stopping.is_set():
                try:
                    if not c.recv(65536):
                        break
                except socket.timeout:
                    continue
                except OSError:
                    break
        return False
