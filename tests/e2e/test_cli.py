"""The command line: help, version, check (every config error as
file:line:column: message), exit codes, and serve failing clearly at start."""
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import SLOW, SP_BIN, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "docs", "config.example.json")


def run(*args, timeout=10):
    return subprocess.run([SP_BIN, *args], capture_output=True, text=True, timeout=timeout * SLOW)


def write(tmp, name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def pos(text, line_no, needle):
    """1-based (line, column) of needle on line line_no of text."""
    line = text.split("\n")[line_no - 1]
    return line_no, line.index(needle) + 1


@pytest.mark.parametrize("arg", ["--help", "-h", "help"])
def test_help(arg):
    r = run(arg)
    assert r.returncode == 0
    assert re.search(r"^  shadowproxy serve\b", r.stdout, re.M)
    assert re.search(r"^  shadowproxy check\b.*--config FILE", r.stdout, re.M)
    assert re.search(r"^  shadowproxy version\b", r.stdout, re.M)
    assert "--legacy URL" in r.stdout and "--diff-log-mode" in r.stdout
    assert r.stderr == ""


def test_serve_help():
    r = run("serve", "--help")
    assert r.returncode == 0
    assert "serve" in r.stdout and "check" in r.stdout


def test_no_arguments_is_a_usage_error():
    r = run()
    assert r.returncode == 2
    assert "Usage:" in r.stderr
    assert r.stdout == ""


def test_version():
    r = run("version")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert re.fullmatch(r"shadowproxy \d+\.\d+\.\d+", lines[0]), lines
    assert "libmicrohttpd" in lines[1] and "libcurl" in lines[1] and "jansson" in lines[1]


def test_unknown_command_exits_2():
    r = run("frobnicate")
    assert r.returncode == 2
    assert "frobnicate" in r.stderr
    assert r.stdout == ""


def test_check_valid_file(tmp):
    cfg = {
        "listen": "127.0.0.1:0", "authority": "new", "workers": 2, "preserve_host": True,
        "legacy": {"url": "http://127.0.0.1:8081/erp/", "connect_timeout_ms": 500,
                   "timeout_ms": 2000},
        "new": "https://erp-next.example.com",
        "limits": {"max_request_body": "16MiB", "max_header_bytes": 65536,
                   "max_connections": 100, "idle_timeout_s": 5, "drain_timeout_ms": 1000},
        "shadow": {"enabled": True, "timeout_ms": 500, "max_in_flight": 10,
                   "breaker_failures": 3, "breaker_open_ms": 1000, "grace_ms": 100},
        "compare": {"max_body_bytes": "1MiB", "headers": ["Content-Type", "ETag"],
                    "max_differences": 10},
        "diff_log": {"path": "d.jsonl", "mode": "all", "max_body_bytes": 0, "queue": 10,
                     "redact_fields": ["ssn"]},
        "log": {"level": "debug", "format": "json"},
    }
    path = write(tmp, "good.json", json.dumps(cfg, indent=2))
    r = run("check", "--config", path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{path}: ok\n"
    assert r.stderr == ""


def test_check_example_config_is_valid():
    if not os.path.exists(EXAMPLE):
        pytest.skip("docs/config.example.json not present")
    r = run("check", "--config", EXAMPLE)
    assert r.returncode == 0, r.stderr


def test_check_reports_every_error_with_position(tmp):
    text = "\n".join([
        "{",
        '  "listn": ":8080",',
        '  "workers": 100,',
        '  "legacy": "ftp://erp.internal",',
        '  "new": {"url": "http://ok:1", "timeout_ms": 0},',
        '  "shadow": {"timeout_ms": "5s", "enabled": "yes"},',
        '  "log": {"level": "verbose"},',
        '  "diff_log": {"mode": "some", "bogus": 1}',
        "}",
    ]) + "\n"
    path = write(tmp, "bad.json", text)
    r = run("check", "--config", path)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    rx = re.compile(r"^(.*):(\d+):(\d+): (.+)$")
    got = []
    for line in lines:
        m = rx.match(line)
        assert m, f"not file:line:column: message: {line!r}"
        assert m.group(1) == path
        got.append((int(m.group(2)), int(m.group(3)), m.group(4)))
    want = [
        (pos(text, 2, '"listn"'), ["listn"]),
        (pos(text, 3, "100"), ["workers", "100"]),
        (pos(text, 4, '"ftp://'), ["legacy.url", "ftp://erp.internal"]),
        (pos(text, 5, "0}"), ["new.timeout_ms"]),
        (pos(text, 6, '"5s"'), ["shadow.timeout_ms"]),
        (pos(text, 6, '"yes"'), ["shadow.enabled"]),
        (pos(text, 7, '"verbose"'), ["log.level", "verbose"]),
        (pos(text, 8, '"some"'), ["diff_log.mode", "some"]),
        (pos(text, 8, '"bogus"'), ["bogus"]),
    ]
    assert sorted((l, c) for l, c, _ in got) == sorted(p for p, _ in want), r.stderr
    for (l, c), words in want:
        msg = [m for ll, cc, m in got if (ll, cc) == (l, c)][0]
        for w in words:
            assert w in msg, (w, msg)


def test_check_syntax_error_position(tmp):
    text = '{\n  "listen": ":8080",\n  "workers": }\n'
    path = write(tmp, "syntax.json", text)
    r = run("check", "--config", path)
    assert r.returncode == 1
    line, col = pos(text, 3, "}")
    assert re.fullmatch(re.escape(f"{path}:{line}:{col}: ") + r".+\n", r.stderr), r.stderr


def test_check_duplicate_key(tmp):
    text = '{\n  "workers": 1,\n  "workers": 2\n}\n'
    path = write(tmp, "dup.json", text)
    r = run("check", "--config", path)
    assert r.returncode == 1
    assert r.stderr.startswith(f"{path}:3:"), r.stderr
    assert "workers" in r.stderr


def test_check_cross_field_errors_have_no_position(tmp):
    path = write(tmp, "min.json", '{"legacy": "http://10.0.0.5:8080/erp/"}\n')
    r = run("check", "--config", path)
    assert r.returncode == 1
    assert r.stderr == f"{path}: new.url is required (set it in the config or with --new)\n"


def test_check_missing_file(tmp):
    path = os.path.join(tmp, "nope.json")
    r = run("check", "--config", path)
    assert r.returncode == 1
    assert r.stderr.startswith(f"{path}: ")
    assert "No such file" in r.stderr


@pytest.mark.parametrize("args", [["check"], ["check", "--bogus"], ["check", "--config"]])
def test_check_usage_errors_exit_2(args):
    r = run(*args)
    assert r.returncode == 2
    assert "usage" in r.stderr.lower()


@pytest.mark.parametrize("flag,value", [
    ("--workers", "100"), ("--authority", "both"), ("--diff-log-mode", "some"),
    ("--listen", "nohostport"), ("--log-level", "loud"), ("--log-format", "xml"),
])
def test_serve_bad_flag_value_exits_2(flag, value):
    r = run("serve", "--legacy", "http://127.0.0.1:1", "--new", "http://127.0.0.1:2",
            "--diff-log", "/dev/null", flag, value)
    assert r.returncode == 2
    assert flag in r.stderr and value in r.stderr


def test_serve_unknown_flag_exits_2():
    r = run("serve", "--frobnicate")
    assert r.returncode == 2


def test_serve_missing_upstream(tmp):
    r = run("serve", "--legacy", "http://127.0.0.1:1", "--listen", f"127.0.0.1:{free_port()}",
            "--diff-log", os.path.join(tmp, "d.jsonl"))
    assert r.returncode == 2
    assert "new.url is required" in r.stderr


def test_serve_config_errors_exit_2(tmp):
    text = '{\n  "workers": -1,\n  "shadow": {"grace_ms": "x"}\n}\n'
    path = write(tmp, "bad.json", text)
    r = run("serve", "--config", path, "--legacy", "http://127.0.0.1:1",
            "--new", "http://127.0.0.1:2")
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert f"{path}:{pos(text, 2, '-1')[0]}:{pos(text, 2, '-1')[1]}: " in lines[0]
    assert any(l.startswith(f"{path}:3:") for l in lines), lines


def serve_failing(tmp, diff_log, port=None):
    port = port or free_port()
    t0 = time.monotonic()
    r = run("serve", "--listen", f"127.0.0.1:{port}", "--legacy", "http://127.0.0.1:1",
            "--new", "http://127.0.0.1:2", "--diff-log", diff_log, "--admin", "",
            "--state-file", os.path.join(tmp, "state.json"), timeout=10)
    return r, time.monotonic() - t0


def test_serve_diff_log_directory_missing(tmp):
    path = os.path.join(tmp, "no-such-dir", "diffs.jsonl")
    r, elapsed = serve_failing(tmp, path)
    assert r.returncode != 0
    assert path in r.stderr
    assert "No such file or directory" in r.stderr


def test_serve_diff_log_parent_is_a_file(tmp):
    parent = write(tmp, "plainfile", "x")
    path = os.path.join(parent, "diffs.jsonl")
    r, _ = serve_failing(tmp, path)
    assert r.returncode != 0
    assert path in r.stderr
    assert "Not a directory" in r.stderr


def test_serve_diff_log_symlink_refused_unless_configured(tmp, stubs):
    """A symbolic link at the diff-log path is refused at start (whoever can
    write the folder could point the records, bodies and all, anywhere);
    diff_log.follow_symlinks: true allows it, and the target is made 0600.
    (Failed before: the link was followed.)"""
    target = write(tmp, "target.jsonl", "")
    os.chmod(target, 0o644)
    link = os.path.join(tmp, "diffs.jsonl")
    os.symlink(target, link)
    r, elapsed = serve_failing(tmp, link)
    assert r.returncode == 1, r.stderr
    assert link in r.stderr and "symbolic link" in r.stderr
    assert "follow_symlinks" in r.stderr
    assert elapsed < 5 * SLOW
    assert os.stat(target).st_mode & 0o7777 == 0o644  # untouched

    legacy, new = stubs("legacy"), stubs("new")
    port = free_port()
    cfg = write(tmp, "follow.json", json.dumps({"diff_log": {"follow_symlinks": True},
                                                "admin": {"listen": ""}}))
    proc = subprocess.Popen([SP_BIN, "serve", "--config", cfg, "--listen", f"127.0.0.1:{port}",
                             "--legacy", legacy.url, "--new", new.url, "--diff-log", link,
                             "--diff-log-mode", "all",
                             "--state-file", os.path.join(tmp, "state.json")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10 * SLOW
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                    s.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\nX-Request-Id: via-link\r\n"
                              b"Connection: close\r\n\r\n")
                    while s.recv(4096):
                        pass
                break
            except OSError:
                time.sleep(0.05)
        while b"via-link" not in open(target, "rb").read() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert b"via-link" in open(target, "rb").read()
        assert os.stat(target).st_mode & 0o7777 == 0o600
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20 * SLOW)
    assert proc.returncode == 0


def test_serve_diff_log_directory_not_writable(tmp):
    if os.geteuid() == 0:
        pytest.skip("root is not stopped by directory permissions")
    d = os.path.join(tmp, "ro")
    os.mkdir(d, 0o500)
    path = os.path.join(d, "diffs.jsonl")
    r, _ = serve_failing(tmp, path)
    assert r.returncode != 0
    assert path in r.stderr
    assert "Permission denied" in r.stderr


def test_serve_port_in_use_by_another_program(tmp):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r, elapsed = serve_failing(tmp, os.path.join(tmp, "d.jsonl"), port=port)
    assert r.returncode != 0
    assert f"127.0.0.1:{port}" in r.stderr
    assert "Address already in use" in r.stderr
    assert elapsed < 5 * SLOW


def test_serve_port_in_use_by_another_shadowproxy(tmp, stubs, proxy):
    """Starting a second instance on the same address by mistake must fail,
    not silently share the port (and the traffic) with the first one."""
    legacy = stubs("legacy")
    new = stubs("new")
    first = proxy(legacy.url, new.url)
    second = subprocess.Popen(
        [SP_BIN, "serve", "--listen", f"127.0.0.1:{first.port}", "--legacy", legacy.url,
         "--new", new.url, "--diff-log", os.path.join(tmp, "second.jsonl"), "--admin", "",
         "--state-file", os.path.join(tmp, "second-state.json")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        rc = second.wait(1.5 * SLOW)  # a failed bind exits within milliseconds
    except subprocess.TimeoutExpired:
        second.send_signal(signal.SIGTERM)
        second.wait(10)
        second.stderr.close()
        pytest.fail(f"a second shadowproxy started on the port of a running one "
                    f"(127.0.0.1:{first.port}): SO_REUSEPORT lets both bind")
    err = second.stderr.read()
    second.stderr.close()
    assert rc != 0
    assert "Address already in use" in err


def test_flags_override_config_file(tmp, stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    other = free_port()
    p = proxy(legacy.url, new.url, config={"listen": f"127.0.0.1:{other}",
                                           "legacy": "http://127.0.0.1:1",
                                           "diff_log": {"mode": "mismatches"}},
              args=("--diff-log-mode", "all"))
    # --listen, --legacy and --diff-log-mode from the fixture won over the file.
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", other)) != 0
    from helpers import json_body_ctl, raw_request
    r = raw_request(p.port, "GET", "/x", [("Host", "x"), ("X-Request-Id", "ovr-1"),
                                          ("X-Stub-Ctl", json_body_ctl({"a": 1}))])
    assert r.status == 200 and r.header("X-Stub-Name") == "legacy"
    assert p.wait_record("ovr-1")["verdict"] == "match"


@pytest.mark.parametrize("url,host", [
    ("http://bob:hunter2@127.0.0.1:1", "127.0.0.1:1"),            # refused for its user info
    ("https://bob:hunter2@erp.example/api?x=1", "erp.example"),   # and for its query
    ("bob:hunter2 x@10.9.8.7", "10.9.8.7"),                       # no scheme, a space
])
def test_upstream_url_with_user_info_is_refused_without_printing_it(tmp, url, host):
    """A password in an upstream URL never reaches stderr, whichever way the
    URL came in (flag, config file under serve, check) and whatever else is
    wrong with it; the rest of the URL is shown so the operator finds it."""
    path = write(tmp, "c.json", json.dumps({"legacy": url, "new": "http://127.0.0.1:2"}))
    runs = [run("serve", "--legacy", url, "--new", "http://127.0.0.1:2", "--diff-log", "/dev/null"),
            run("serve", "--config", path, "--diff-log", "/dev/null"),
            run("check", "--config", path)]
    for r in runs:
        assert r.returncode in (1, 2), r.stderr  # check: 1, serve: 2
        assert "hunter2" not in r.stderr and "bob" not in r.stderr, r.stderr
        assert f"***@{host}" in r.stderr, r.stderr
