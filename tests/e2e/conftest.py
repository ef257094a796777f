"""End-to-end harness: real shadowproxy and stub processes on 127.0.0.1.

SP_BIN and SP_STUB name the binaries (the Makefile sets them); SP_SANITIZED=1
means the proxy is the ASan+UBSan build, so its stderr is checked for reports.
"""
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
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"port {port} not listening")


class Stub:
    def __init__(self, tmp, name, profile="legacy", args=()):
        self.name = name
        self.log = os.path.join(tmp, f"stub-{name}.jsonl")
        portfile = os.path.join(tmp, f"stub-{name}.port")
        self.port = free_port()
        self.err = open(os.path.join(tmp, f"stub-{name}.err"), "w")
        self.proc = subprocess.Popen(
            [SP_STUB, "--listen", f"127.0.0.1:{self.port}", "--name", name,
             "--profile", profile, "--log", self.log, "--port-file", portfile, *args],
            stdout=subprocess.DEVNULL, stderr=self.err)
        wait_port(self.port, self.proc)
        self.url = f"http://127.0.0.1:{self.port}"

    def requests(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [json.loads(line) for line in f if line.strip()]

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
    def __init__(self, tmp, legacy, new, config=None, args=(), port=None):
        self.tmp = tmp
        self.port = port or free_port()
        self.diff_log = os.path.join(tmp, "diffs.jsonl")
        self.err_path = os.path.join(tmp, "proxy.err")
        cmd = [SP_BIN, "serve", "--listen", f"127.0.0.1:{self.port}",
               "--legacy", legacy, "--new", new, "--diff-log", self.diff_log,
               "--workers", "2", *args]
        if config is not None:
            path = os.path.join(tmp, "config.json")
            with open(path, "w") as f:
                json.dump(config, f)
            cmd += ["--config", path]
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.err)
        wait_port(self.port, self.proc)

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
        """Every diff-log line, each asserted to be one whole JSON object."""
        if not os.path.exists(self.diff_log):
            return []
        out = []
        with open(self.diff_log, "rb") as f:
            for raw in f:
                assert raw.endswith(b"\n"), f"torn line: {raw[:200]!r}"
                rec = json.loads(raw)
                assert isinstance(rec, dict)
                out.append(rec)
        return out

    def wait_record(self, rid, timeout=10.0):
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            for r in self.records():
                if r["id"] == rid:
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

    def stop(self, timeout=20.0):
        """SIGTERM and wait; returns the exit code. Checks sanitizer output."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("proxy did not exit after SIGTERM")
        self.err.close()
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
    """proxy(legacy_url, new_url, config=None, args=()) -> Proxy; stopped at the end
    with exit code 0 required and no sanitizer report."""
    started = []

    def start(legacy, new, **kw):
        p = Proxy(tmp, legacy, new, **kw)
        started.append(p)
        return p

    yield start
    for p in started:
        if p.proc.poll() is None or not p.err.closed:
            code = p.stop()
            assert code == 0, f"proxy exit code {code}\n{p.stderr()[-3000:]}"


@pytest.fixture
def pair(stubs, proxy):
    """The usual setup: legacy and new stubs (plain echo-capable) and a proxy."""
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, args=("--diff-log-mode", "all"))
    return legacy, new, p
