"""End-to-end harness: real shadowproxy and stub processes on 127.0.0.1.

SP_BIN and SP_STUB name the binaries (the Makefile sets them); SP_SANITIZED=1
means the proxy is the ASan+UBSan build, so its stderr is checked for reports.
"""
import copy
import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

import pytest

SP_BIN = os.environ.get("SP_BIN", os.path.abspath("../../shadowproxy"))
SP_STUB = os.environ.get("SP_STUB", os.path.abspath("../../build/sp-stub"))
SANITIZED = os.environ.get("SP_SANITIZED") == "1"
SLOW = 3 if SANITIZED else 1  # timeouts scale under sanitizers


def free_port():
    """A port free now. Another process (a second e2e worker, a client's
    source port) may take it before ours binds it: Stub and Proxy start
    again on fresh ports when that happens (port_taken)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT_TRIES = 4


def port_taken(err_path):
    """Whether a process that exited at start-up said its port was taken."""
    with open(err_path, errors="replace") as f:
        return "Address already in use" in f.read()


def listens(pid, port):
    """Whether process pid holds a listening TCP socket on port (IPv4)."""
    inodes = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return False
    fds = f"/proc/{pid}/fd"
    for fd in os.listdir(fds):
        try:
            if os.readlink(os.path.join(fds, fd)) in inodes:
                return True
        except OSError:
            pass  # closed meanwhile
    return False


def wait_port(port, proc, timeout=10.0, owned=False):
    """Waits until port accepts connections. owned: until proc itself
    listens on it, not some other process that took the port first (a
    port free_port chose can be taken before proc binds it)."""
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                if not owned or listens(proc.pid, port):
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise TimeoutError(f"port {port} not listening")


class Stub:
    def __init__(self, tmp, name, profile="legacy", args=()):
        self.name = name
        self.log = os.path.join(tmp, f"stub-{name}.jsonl")
        portfile = os.path.join(tmp, f"stub-{name}.port")
        err_path = os.path.join(tmp, f"stub-{name}.err")
        for attempt in range(PORT_TRIES):
            self.port = free_port()
            self.err = open(err_path, "w")
            self.proc = subprocess.Popen(
                [SP_STUB, "--listen", f"127.0.0.1:{self.port}", "--name", name,
                 "--profile", profile, "--log", self.log, "--port-file", portfile, *args],
                stdout=subprocess.DEVNULL, stderr=self.err)
            try:
                wait_port(self.port, self.proc, owned=True)
                break
            except RuntimeError:  # exited: free_port's port taken meanwhile?
                self.err.close()
                if attempt + 1 == PORT_TRIES or not port_taken(err_path):
                    raise
        self.url = f"http://127.0.0.1:{self.port}"

    def requests(self):
        """Every logged request. The stub writes each line with one write();
        a line still being written (no newline yet) is left for next time."""
        if not os.path.exists(self.log):
            return []
        with open(self.log, "rb") as f:
            data = f.read()
        return [json.loads(line) for line in data.split(b"\n")[:-1] if line.strip()]

    def wait_requests(self, n, timeout=5.0):
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            reqs = self.requests()
            if len(reqs) >= n:
                return reqs
            time.sleep(0.02)
        return self.requests()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


class Proxy:
    instances = 0

    def __init__(self, tmp, legacy, new, config=None, args=(), port=None, diff_log=None):
        Proxy.instances += 1
        # Several proxies in one test each get their own stderr and config
        # file; the first keeps the plain names.
        sfx = "" if not os.path.exists(os.path.join(tmp, "proxy.err")) else f"-{Proxy.instances}"
        self.tmp = tmp
        own_port = port is None
        self.port = port or free_port()
        self.diff_log = diff_log or os.path.join(tmp, "diffs.jsonl")
        self.err_path = os.path.join(tmp, f"proxy{sfx}.err")
        self.returncode = None
        self.terminated = False
        self.expected_rc = 0  # checked by the fixture; None: the test checks it
        # legacy/new None: not given as flags (the config file has them).
        cmd = [SP_BIN, "serve", "--listen", f"127.0.0.1:{self.port}",
               *(["--legacy", legacy] if legacy is not None else []),
               *(["--new", new] if new is not None else []),
               "--diff-log", self.diff_log, "--workers", "2", *args]
        # Every proxy gets its own admin listener on a free port (never the
        # default 127.0.0.1:9901, which concurrent proxies would fight over)
        # and its own state file in tmp; a test's own values win.
        config = copy.deepcopy(config) if config is not None else {}
        # Mirroring yields to a saturated worker (shadow.busy_min_percent),
        # and a proxy under ASan or valgrind is saturated by one client: a
        # test that counts mirrored exchanges must not depend on the
        # machine's speed. test_shadow_yield.py tests the yield itself.
        config.setdefault("shadow", {}).setdefault("busy_min_percent", 100)
        admin = config.setdefault("admin", {})
        own_admin = "listen" not in admin
        admin.setdefault("listen", f"127.0.0.1:{free_port()}")
        config.setdefault("state_file", os.path.join(tmp, f"state{sfx}.json"))
        self.config = config
        self.state_file = config["state_file"]
        listen = admin["listen"]
        self.admin_port = int(listen.rsplit(":", 1)[1]) if listen else None
        self.config_path = os.path.join(tmp, f"config{sfx}.json")
        cmd += ["--config", self.config_path]
        for attempt in range(PORT_TRIES):
            with open(self.config_path, "w") as f:
                json.dump(config, f)
            self.cmd = cmd
            self.err = open(self.err_path, "w")
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.err)
            try:
                wait_port(self.port, self.proc, owned=True)
                break
            except Exception:
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait()
                self.err.close()
                # A port free_port chose was taken before the proxy bound it
                # (another worker's process): start again on fresh ones.
                if attempt + 1 < PORT_TRIES and (own_port or own_admin) \
                        and port_taken(self.err_path):
                    if own_port:
                        self.port = free_port()
                        cmd[cmd.index("--listen") + 1] = f"127.0.0.1:{self.port}"
                    if own_admin:
                        self.admin_port = free_port()
                        admin["listen"] = f"127.0.0.1:{self.admin_port}"
                    continue
                raise RuntimeError(f"proxy did not start: {cmd}\n{self.stderr()[-3000:]}")

    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout * SLOW)

    def request(self, method, path, body=None, headers=None, timeout=10):
        c = self.conn(timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r, data
        finally:
            c.close()

    def records(self):
        """Every diff-log line, each asserted to be one whole JSON object.

        While the proxy runs, a reader may catch a batch write in progress
        (the file grows page by page): an unterminated last line is read
        again until it is complete. Anything else that is not whole JSON,
        or a tail that stays unterminated, fails."""
        if not os.path.exists(self.diff_log):
            return []
        deadline = time.monotonic() + 2.0 * SLOW
        while True:
            with open(self.diff_log, "rb") as f:
                data = f.read()
            if not data or data.endswith(b"\n"):
                break
            running = self.proc.poll() is None
            assert running and time.monotonic() < deadline, \
                f"torn line at the end of the diff log: {data[-300:]!r}"
            time.sleep(0.02)
        out = []
        for raw in data.split(b"\n")[:-1]:
            try:
                rec = json.loads(raw)
            except ValueError as e:
                raise AssertionError(f"diff-log line is not whole JSON ({e}): {raw[:300]!r}")
            assert isinstance(rec, dict), raw[:300]
            out.append(rec)
        return out

    def wait_record(self, rid, timeout=10.0):
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            for r in self.records():
                if r.get("id") == rid:
                    return r
            time.sleep(0.02)
        raise AssertionError(f"no diff-log record for {rid}")

    def wait_records(self, n, timeout=10.0):
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            recs = self.records()
            if len(recs) >= n:
                return recs
            time.sleep(0.02)
        return self.records()

    def stderr(self):
        with open(self.err_path) as f:
            return f.read()

    def signal(self, sig=signal.SIGTERM):
        if sig in (signal.SIGTERM, signal.SIGINT):
            self.terminated = True  # stop() must not send a second one
        self.proc.send_signal(sig)

    def wait_exit(self, timeout):
        """Waits for the process to end (after a signal the test sent);
        returns the exit code, or None if it is still running."""
        try:
            return self.proc.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=20.0):
        """SIGTERM and wait; returns the exit code. Checks sanitizer output."""
        if self.proc.poll() is None:
            if not self.terminated:
                # A second SIGTERM means "exit at once": only one is sent.
                self.proc.send_signal(signal.SIGTERM)
                self.terminated = True
            try:
                self.proc.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                if not self.err.closed:
                    self.err.close()
                raise AssertionError(f"proxy did not exit after SIGTERM\n{self.stderr()[-3000:]}")
        if not self.err.closed:
            self.err.close()
        self.returncode = self.proc.returncode
        err = self.stderr()
        assert "AddressSanitizer" not in err, err[-4000:]
        assert "LeakSanitizer" not in err, err[-4000:]
        assert "runtime error" not in err, err[-4000:]
        return self.proc.returncode


@pytest.fixture
def tmp():
    with tempfile.TemporaryDirectory(prefix="sp-e2e-") as d:
        yield d


@pytest.fixture
def stubs(tmp):
    """Starts stubs on demand: stubs("legacy"), stubs("new", profile=..., args=[...])."""
    started = []

    def start(name, profile=None, args=()):
        s = Stub(tmp, name, profile or ("new" if name == "new" else "legacy"), args)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def proxy(tmp):
    """proxy(legacy_url, new_url, config=None, args=(), port=None, diff_log=None)
    -> Proxy. legacy_url/new_url None: not passed as flags (the config has them).
    Each proxy is stopped at the end (one SIGTERM, unless the test sent one);
    exit code 0 is required (p.expected_rc; None: the test checked it), no
    sanitizer report, and after a clean exit every diff-log line whole JSON."""
    started = []

    def start(legacy, new, **kw):
        p = Proxy(tmp, legacy, new, **kw)
        started.append(p)
        return p

    yield start
    failures = []
    for p in started:
        try:
            code = p.stop()
        except AssertionError as e:
            failures.append(str(e))
            continue
        if p.expected_rc is not None and code != p.expected_rc:
            failures.append(f"proxy exit code {code}\n{p.stderr()[-3000:]}")
        if code == p.expected_rc == 0:
            try:
                p.records()  # after a clean exit, every diff-log line is whole JSON
            except (AssertionError, ValueError) as e:
                failures.append(str(e))
    assert not failures, "\n".join(failures)


@pytest.fixture
def pair(stubs, proxy):
    """The usual setup: legacy and new stubs (plain echo-capable) and a proxy."""
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, args=("--diff-log-mode", "all"))
    return legacy, new, p
