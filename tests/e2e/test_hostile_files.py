"""Hostile files: config, rules and state files that are truncated, not
UTF-8, not JSON, nested 100000 deep, too large, endless (/dev/zero), a
directory or a FIFO nobody writes to; and a diff log that cannot be written.

Each case: a clear error naming the file (FILE:LINE:COLUMN: message, or
FILE: message), `check` exits 1 and `serve` 2 at once (never hangs); in a
running proxy a hostile reload keeps what is in force and traffic flows;
no sanitizer report (SP_BIN is the ASan build in the ASan run, and every
process started here is checked).

Covered elsewhere, not repeated here: config syntax errors with positions,
duplicate keys, unknown keys, a missing file, cross-field errors
(test_cli.py); an invalid or unreadable rules file on reload
(test_rules_e2e.py); a diff log on a full disk (/dev/full,
test_admin.test_unwritable_diff_log_keeps_traffic_flowing) or in a missing
or unwritable directory at startup (test_cli.py); rotation (test_difflog.py).
"""
import json
import os
import resource
import signal
import subprocess
import time

import pytest

from conftest import SLOW, SP_BIN
from helpers import raw_request

VALID = b'{"legacy": "http://127.0.0.1:1", "new": "http://127.0.0.1:2"}'

# (id, content or special path, words in the message)
HOSTILE = [
    ("empty", b"", "file is empty"),
    ("whitespace", b" \n\t\r\n", "file is empty"),
    ("truncated", VALID[:-7], "invalid JSON"),
    ("nul-byte", VALID.replace(b":1", b":1\x00"), "control character 0x0"),
    ("not-utf8", VALID.replace(b"127.0.0.1:1", b"\xff\xfe"), "unable to decode byte 0xff"),
    ("utf8-bom", b"\xef\xbb\xbf" + VALID, "invalid JSON"),
    ("binary", bytes(range(256)) * 8, "invalid JSON"),
    ("nested-arrays", b"[" * 100000 + b"]" * 100000, "maximum parsing depth"),
    ("nested-objects", b'{"a":' * 100000 + b"1" + b"}" * 100000, "maximum parsing depth"),
    ("huge-integer", VALID[:-1] + b', "workers": ' + b"9" * 400 + b"}", "too big integer"),
    ("huge-real", VALID[:-1] + b', "workers": 1e999999}', "real number overflow"),
    ("too-large", b'{"description": "' + b"x" * (5 << 20) + b'"}', "file is larger than"),
    ("dev-zero", "/dev/zero", "file is larger than"),
    ("directory", "DIR", "cannot read: Is a directory"),
    ("fifo", "FIFO", "file is empty"),
]
IDS = [c[0] for c in HOSTILE]


def hostile_file(tmp, content, name="hostile.json"):
    """The path of a hostile file made of `content` (bytes, or a special
    path: a device, a directory, a FIFO without a writer)."""
    path = os.path.join(tmp, name)
    if content == "DIR":
        os.mkdir(path)
    elif content == "FIFO":
        os.mkfifo(path)
    elif isinstance(content, str):
        os.symlink(content, path)
    else:
        with open(path, "wb") as f:
            f.write(content)
    return path


def run(args, timeout=10):
    r = subprocess.run([SP_BIN, *args], capture_output=True, timeout=timeout * SLOW)
    err = r.stderr.decode("utf-8", "replace")
    for report in ("AddressSanitizer", "LeakSanitizer", "runtime error"):
        assert report not in err, err[-3000:]
    return r.returncode, err


@pytest.mark.parametrize("content,words", [c[1:] for c in HOSTILE], ids=IDS)
def test_hostile_config_file(tmp, content, words):
    """`check` and `serve` both refuse it at once, naming the file; neither
    hangs on a FIFO or reads /dev/zero to the end."""
    path = hostile_file(tmp, content)
    t0 = time.monotonic()
    rc, err = run(["check", "--config", path])
    assert rc == 1, err
    assert err.startswith(path + ":") and words in err, err[:500]
    rc, err = run(["serve", "--config", path, "--listen", "127.0.0.1:0",
                   "--diff-log", os.path.join(tmp, "d.jsonl")])
    assert rc == 2, err
    assert words in err, err[:500]
    assert time.monotonic() - t0 < 5 * SLOW


@pytest.mark.parametrize("content,words", [c[1:] for c in HOSTILE], ids=IDS)
def test_hostile_rules_file(tmp, content, words):
    if isinstance(content, bytes) and content.startswith(b'{"description"'):
        content = content[:-1] + b', "version": 1}'  # valid but for its size
    path = hostile_file(tmp, content)
    rc, err = run(["check", "--rules", path])
    assert rc == 1, err
    assert err.startswith(path + ":") and words in err, err[:500]


@pytest.mark.parametrize("content,words", [c[1:] for c in HOSTILE if c[0] not in (
    "empty", "whitespace")], ids=[i for i in IDS if i not in ("empty", "whitespace")])
def test_hostile_state_file_at_startup(tmp, content, words):
    """serve refuses to start on a state file it cannot read or trust (an
    operator's decision is never dropped silently), naming the file.
    (An empty file is refused too; a missing one means no decisions.)"""
    state = hostile_file(tmp, content, "state.json")
    cfg = os.path.join(tmp, "config.json")
    with open(cfg, "w") as f:
        json.dump({"state_file": state, "admin": {"listen": ""}}, f)
    rc, err = run(["serve", "--config", cfg, "--listen", "127.0.0.1:0", "--legacy",
                   "http://127.0.0.1:1", "--new", "http://127.0.0.1:2", "--diff-log",
                   os.path.join(tmp, "d.jsonl")])
    assert rc == 2, err
    assert state in err and words in err, err[:500]


# ---- reloads of hostile files in a running proxy ------------------------------------------


def count(p, event):
    return p.stderr().count(f"event={event}")


def wait_count(p, event, n, timeout=5.0):
    deadline = time.monotonic() + timeout * SLOW
    while count(p, event) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return count(p, event)


def replace(path, content):
    """Puts hostile content at path, as an edit in place or a rename would."""
    if os.path.isdir(path) and not os.path.islink(path):
        os.rmdir(path)
    elif os.path.lexists(path):
        os.unlink(path)
    tmp = os.path.dirname(path)
    made = hostile_file(tmp, content, "incoming")
    os.rename(made, path)


RELOADED = [c for c in HOSTILE if c[0] in ("truncated", "not-utf8", "binary", "nested-arrays",
                                           "too-large", "dev-zero", "fifo", "directory")]


def test_hostile_rules_and_config_on_reload_keep_what_is_in_force(stubs, proxy, tmp):
    """SIGHUP after the rules file and the config file were each replaced by
    something hostile: both reloads fail with a logged reason, the rules in
    force stay (the route name in the records), the process keeps serving
    and still stops at once on SIGTERM."""
    legacy = stubs("legacy")
    new = stubs("new")
    rules = os.path.join(tmp, "rules.json")
    with open(rules, "w") as f:
        json.dump({"version": 1, "routes": [{"name": "kept", "match": {}}]}, f)
    p = proxy(legacy.url, new.url, config={"rules": rules}, args=("--diff-log-mode", "all"))
    for i, (name, content, words) in enumerate(RELOADED):
        replace(rules, content)
        replace(p.config_path, content)
        p.signal(signal.SIGHUP)
        assert wait_count(p, "rules_reload_failed", i + 1) == i + 1, (name, p.stderr()[-2000:])
        assert wait_count(p, "config_reload_failed", i + 1) == i + 1, name
        rid = f"reload-{name}"
        r = raw_request(p.port, "GET", "/health", [("Host", "x"), ("X-Request-Id", rid)])
        assert r.status == 200
        assert p.wait_record(rid)["route"] == "kept", name
        assert words in p.stderr(), (name, words)
    assert count(p, "rules_reloaded") == 0
    t0 = time.monotonic()
    assert p.stop() == 0
    assert time.monotonic() - t0 < 5 * SLOW


def test_hostile_state_file_while_running_keeps_the_decisions(stubs, proxy, tmp):
    """The watched state file is replaced by hostile content, one after the
    other, a FIFO without a writer among them (its open blocked the main
    loop for good, and SIGTERM with it): each is logged as invalid, the
    operator's decision in force (authority new) stays, the admin API
    answers, and SIGTERM stops the proxy at once."""
    legacy = stubs("legacy")
    new = stubs("new")
    state = os.path.join(tmp, "state.json")
    with open(state, "w") as f:
        json.dump({"version": 1, "global": {"authority": "new"}}, f)
    p = proxy(legacy.url, new.url, config={"state_file": state})

    def answered_by():
        r = raw_request(p.port, "GET", "/health", [("Host", "x")])
        assert r.status == 200
        return r.header("X-Stub-Name")

    assert answered_by() == "new"
    for i, (name, content, words) in enumerate(RELOADED):
        replace(state, content)
        assert wait_count(p, "state_file_invalid", i + 1) >= i + 1, (name, p.stderr()[-2000:])
        assert answered_by() == "new", name
        r = raw_request(p.admin_port, "GET", "/healthz", [("Host", "x")])
        assert r.status == 200, name
    assert count(p, "operator_change") == 0
    t0 = time.monotonic()
    assert p.stop() == 0
    assert time.monotonic() - t0 < 5 * SLOW


# ---- a diff log that cannot be written --------------------------------------------------------


def test_diff_log_over_the_file_size_limit(stubs, proxy):
    """RLIMIT_FSIZE (ulimit -f, systemd's LimitFSIZE) reached mid-batch: the
    proxy used to die of SIGXFSZ with a torn last line. Now the batch is cut
    back, the failure logged, clients served; and once the limit is lifted,
    records are written again."""
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, args=("--diff-log-mode", "all"))
    for i in range(3):
        assert raw_request(p.port, "GET", f"/echo/pre-{i}", [("Host", "x"),
                                                             ("X-Request-Id", f"pre-{i}")]).status == 200
    p.wait_record("pre-2")
    size = os.path.getsize(p.diff_log)
    limit = size + 1500  # less than one record: the next batch is cut mid-line
    soft, hard = resource.prlimit(p.proc.pid, resource.RLIMIT_FSIZE)
    resource.prlimit(p.proc.pid, resource.RLIMIT_FSIZE, (limit, hard))  # the soft limit counts
    for i in range(10):
        r = raw_request(p.port, "GET", f"/echo/during-{i}", [("Host", "x")])
        assert r.status == 200
    assert wait_count(p, "difflog_write_failed", 1) == 1, p.stderr()[-2000:]
    assert "File too large" in p.stderr()
    assert p.proc.poll() is None
    # Each failed batch is cut back to whole lines (a reader may catch one
    # between its partial write and its cut: wait for the last).
    deadline = time.monotonic() + 3 * SLOW
    while os.path.getsize(p.diff_log) != size and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.path.getsize(p.diff_log) == size
    # Records leave in the order their exchanges finish (a shadow leg may
    # finish later than the next exchange's): compare as a set.
    assert sorted(r["id"] for r in p.records()) == ["pre-0", "pre-1", "pre-2"]
    resource.prlimit(p.proc.pid, resource.RLIMIT_FSIZE, (soft, hard))
    raw_request(p.port, "GET", "/echo/post", [("Host", "x"), ("X-Request-Id", "post-1")])
    p.wait_record("post-1")
    assert wait_count(p, "difflog_write_resumed", 1) == 1


def test_diff_log_that_cannot_be_reopened(stubs, proxy, tmp):
    """After the diff log was moved away, its path became a directory:
    SIGUSR1's reopen fails (logged), records keep going to the file still
    open, traffic flows; once the path is usable again, the next SIGUSR1
    reopens it."""
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, args=("--diff-log-mode", "all"))
    raw_request(p.port, "GET", "/echo/a", [("Host", "x"), ("X-Request-Id", "ro-1")])
    p.wait_record("ro-1")
    moved = p.diff_log + ".1"
    os.rename(p.diff_log, moved)
    os.mkdir(p.diff_log)
    p.signal(signal.SIGUSR1)
    assert wait_count(p, "difflog_reopened", 1) == 1
    assert "level=error event=difflog_reopened" in p.stderr()
    r = raw_request(p.port, "GET", "/echo/b", [("Host", "x"), ("X-Request-Id", "ro-2")])
    assert r.status == 200
    deadline = time.monotonic() + 5 * SLOW
    while b'"ro-2"' not in open(moved, "rb").read() and time.monotonic() < deadline:
        time.sleep(0.02)
    lines = open(moved, "rb").read().split(b"\n")
    assert [json.loads(x)["id"] for x in lines if x] == ["ro-1", "ro-2"]
    os.rmdir(p.diff_log)
    p.signal(signal.SIGUSR1)
    assert wait_count(p, "difflog_reopened", 2) == 2
    raw_request(p.port, "GET", "/echo/c", [("Host", "x"), ("X-Request-Id", "ro-3")])
    assert p.wait_record("ro-3")["id"] == "ro-3"


# ---- files named inside the rules and config: secrets and TLS material ------------

@pytest.mark.parametrize("kind", ["fifo", "directory", "dev-zero"])
def test_hostile_secret_and_tls_files(tmp, kind):
    """A rules secret ({"file": ...}) or a TLS file that is a FIFO without a
    writer, a directory or /dev/zero: `check` refuses it at once, naming the
    file (an open of a FIFO used to block `check`, a reload and startup for
    good)."""
    special = {"fifo": "FIFO", "directory": "DIR", "dev-zero": "/dev/zero"}[kind]
    secret = hostile_file(tmp, special, "secret")
    rules = os.path.join(tmp, "rules.json")
    with open(rules, "w") as f:
        json.dump({"version": 1, "routes": [{
            "name": "r", "match": {"path_glob": "/**"},
            "shadow_rewrite": {"set_headers": {"Authorization": {"file": secret}}}}]}, f)
    t0 = time.monotonic()
    rc, err = run(["check", "--rules", rules])
    assert rc == 1 and secret in err and "cannot be used" in err, err[:500]

    pem = hostile_file(tmp, special, "ca.pem")
    cfg = os.path.join(tmp, "config.json")
    with open(cfg, "w") as f:
        json.dump({"legacy": {"url": "https://127.0.0.1:1", "tls": {"ca_file": pem}},
                   "new": "http://127.0.0.1:2"}, f)
    rc, err = run(["check", "--config", cfg])
    assert rc == 1 and pem in err, err[:500]
    assert time.monotonic() - t0 < 5 * SLOW
