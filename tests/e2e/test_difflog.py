"""The diff log: which records are written, their fields, the file itself
(mode, appending, reopening), redaction, body embedding, and robustness
against clients that go away."""
import base64
import calendar
import json
import os
import signal
import socket
import time

from conftest import SLOW
from helpers import (RawConn, body64, build_request, json_body_ctl, one, pattern,
                     pattern_sha256, raw_request, rfc3339_ms, sha256, the_request, values)

DOC = {"sku": "24-MB01", "qty": 1, "price": 34.0}
RECORD_KEYS = ["v", "id", "ts", "route", "endpoint", "method", "uri", "authority", "verdict", "request",
               "legacy", "new", "differences"]
LEG_KEYS = ["attempted", "status", "headers", "body", "body_format", "body_bytes",
            "duration_ms", "error"]


def send(p, rid, ctl=None, ctl_legacy=None, ctl_new=None, method="GET", target="/x",
         body=b"", extra=()):
    headers = [("Host", "x"), ("X-Request-Id", rid), *extra]
    for name, v in (("X-Stub-Ctl", ctl), ("X-Stub-Ctl-legacy", ctl_legacy),
                    ("X-Stub-Ctl-new", ctl_new)):
        if v:
            headers.append((name, v))
    if body:
        headers.append(("Content-Length", str(len(body))))
    return raw_request(p.port, method, target, headers, body)


def test_mode_mismatches_writes_all_but_matches(stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"shadow": {"timeout_ms": 300}})
    same = json_body_ctl(DOC)
    send(p, "mm-match-1", ctl=same)
    send(p, "mm-mismatch", ctl=same, ctl_new="status=500")
    send(p, "mm-shadow-error", ctl=same, ctl_new="reset")
    send(p, "mm-shadow-timeout", ctl=same, ctl_new="delay=1000")
    send(p, "mm-authoritative", ctl=same, ctl_legacy="close")
    send(p, "mm-match-2", ctl=same)
    p.wait_record("mm-shadow-timeout")
    assert p.stop() == 0  # flushes everything queued
    recs = p.records()
    assert sorted((r["id"], r["verdict"]) for r in recs) == [
        ("mm-authoritative", "authoritative_error"),
        ("mm-mismatch", "mismatch"),
        ("mm-shadow-error", "shadow_error"),
        ("mm-shadow-timeout", "shadow_timeout"),
    ]


def test_record_fields(pair):
    legacy, new, p = pair
    req_body = json.dumps({"order": {"id": 5, "note": "Grüße"}}).encode()
    doc = {"ok": True, "n": 10}
    ctl = json_body_ctl(doc)
    sent = [("Host", "shop.example.com"), ("User-Agent", "e2e/1"), ("x-custom", "A"),
            ("X-Custom", "B"), ("Content-Type", "application/json"), ("X-Request-Id", "fields-1"),
            ("X-Stub-Ctl", ctl), ("Content-Length", str(len(req_body)))]
    before = time.time()
    r = raw_request(p.port, "POST", "/echo/f?b=2&a=%41", sent, req_body)
    after = time.time()
    assert r.status == 200
    rec = p.wait_record("fields-1")
    assert list(rec) == RECORD_KEYS  # order as documented; no reason on a match
    assert rec["v"] == 1
    assert rec["id"] == "fields-1"
    assert rfc3339_ms(rec["ts"]), rec["ts"]
    ts = calendar.timegm(time.strptime(rec["ts"][:19], "%Y-%m-%dT%H:%M:%S")) \
        + int(rec["ts"][20:23]) / 1000
    assert before - 1 <= ts <= after + 1, (rec["ts"], before, after)
    assert rec["route"] == "default"
    assert rec["endpoint"] == "POST /echo/f"
    assert rec["method"] == "POST"
    assert rec["uri"] == "/echo/f?b=2&a=%41"
    assert rec["authority"] == "legacy"
    assert rec["verdict"] == "match"
    assert rec["differences"] == []
    assert list(rec["request"]) == ["headers", "body", "body_format", "body_bytes"]
    assert rec["request"]["headers"] == [[k, v] for k, v in sent]
    assert rec["request"]["body"] == json.loads(req_body)
    assert rec["request"]["body_format"] == "json"
    assert rec["request"]["body_bytes"] == len(req_body)
    body_len = len(json.dumps(doc, separators=(",", ":")))
    for side in ("legacy", "new"):
        leg = rec[side]
        assert list(leg) == LEG_KEYS
        assert leg["attempted"] is True
        assert leg["status"] == 200
        assert [k for k, _ in leg["headers"]] == ["Date", "X-Stub-Name", "Content-Type",
                                                  "Content-Length"]
        assert one(leg["headers"], "X-Stub-Name") == side
        assert one(leg["headers"], "Content-Type") == "application/json"
        assert one(leg["headers"], "Content-Length") == str(body_len)
        assert leg["body"] == doc
        assert leg["body_format"] == "json"
        assert leg["body_bytes"] == body_len
        assert isinstance(leg["duration_ms"], (int, float))
        assert 0 <= leg["duration_ms"] < 5000
        assert round(leg["duration_ms"], 3) == leg["duration_ms"]
        assert leg["error"] is None


def test_file_created_0600_whatever_the_umask(stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    old = os.umask(0)
    try:
        p = proxy(legacy.url, new.url)
    finally:
        os.umask(old)
    send(p, "mode-1", ctl_new="status=500")
    p.wait_record("mode-1")
    assert os.stat(p.diff_log).st_mode & 0o7777 == 0o600


def test_existing_file_appended_and_made_0600(tmp, stubs, proxy):
    """An existing diff log is appended to, and its mode is narrowed to
    0600 (records hold bodies): an operator's 0644 would let every local
    user read them. (Failed before: the file kept 0640.)"""
    legacy = stubs("legacy")
    new = stubs("new")
    path = os.path.join(tmp, "diffs.jsonl")
    first = b'{"v":1,"id":"from-before","verdict":"mismatch"}\n'
    with open(path, "wb") as f:
        f.write(first)
    os.chmod(path, 0o640)
    p = proxy(legacy.url, new.url)
    send(p, "append-1", ctl_new="status=500")
    p.wait_record("append-1")
    assert p.stop() == 0
    with open(path, "rb") as f:
        assert f.read().startswith(first)
    assert [r["id"] for r in p.records()] == ["from-before", "append-1"]
    assert os.stat(path).st_mode & 0o7777 == 0o600
    os.chmod(path, 0o644)
    # A restart continues the same file.
    p2 = proxy(legacy.url, new.url)
    send(p2, "append-2", ctl_new="status=500")
    p2.wait_record("append-2")
    assert [r["id"] for r in p2.records()] == ["from-before", "append-1", "append-2"]
    assert os.stat(path).st_mode & 0o7777 == 0o600


def test_reopen_refuses_a_symlink_and_makes_the_file_0600(tmp, pair):
    """SIGUSR1's reopen: a symbolic link put at the path after rotation is
    not followed (logged, the old file is kept, the link's target gets
    nothing); a file put there with mode 0644 is made 0600. (Failed before:
    the records went to the link's target, and the file stayed 0644.)"""
    legacy, new, p = pair
    send(p, "sym-1")
    p.wait_record("sym-1")
    rotated = p.diff_log + ".1"
    os.rename(p.diff_log, rotated)
    victim = os.path.join(tmp, "victim")
    with open(victim, "wb"):
        pass
    os.symlink(victim, p.diff_log)
    p.signal(signal.SIGUSR1)
    deadline = time.monotonic() + 5 * SLOW
    while "event=difflog_reopened" not in p.stderr() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "level=error event=difflog_reopened" in p.stderr()
    assert "symbolic link" in p.stderr()
    send(p, "sym-2")
    deadline = time.monotonic() + 5 * SLOW
    while b'"sym-2"' not in open(rotated, "rb").read() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [json.loads(x)["id"] for x in open(rotated, "rb").read().split(b"\n") if x] == \
        ["sym-1", "sym-2"]
    assert os.path.getsize(victim) == 0
    os.unlink(p.diff_log)
    fd = os.open(p.diff_log, os.O_WRONLY | os.O_CREAT, 0o644)
    os.close(fd)
    os.chmod(p.diff_log, 0o644)
    p.signal(signal.SIGUSR1)
    deadline = time.monotonic() + 5 * SLOW
    while p.stderr().count("event=difflog_reopened") < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    send(p, "sym-3")
    p.wait_record("sym-3")
    assert os.stat(p.diff_log).st_mode & 0o7777 == 0o600
    assert os.path.getsize(victim) == 0


def test_sigusr1_reopens_after_rotation(pair):
    legacy, new, p = pair
    send(p, "rot-1")
    p.wait_record("rot-1")
    rotated = p.diff_log + ".1"
    os.rename(p.diff_log, rotated)
    p.signal(signal.SIGUSR1)
    deadline = time.monotonic() + 5 * SLOW
    while not os.path.exists(p.diff_log) and time.monotonic() < deadline:
        time.sleep(0.02)
    send(p, "rot-2")
    p.wait_record("rot-2")
    assert [r["id"] for r in p.records()] == ["rot-2"]
    with open(rotated) as f:
        assert [json.loads(line)["id"] for line in f] == ["rot-1"]
    assert os.stat(p.diff_log).st_mode & 0o777 == 0o600


SECRETS = {
    "auth": "SECRET-AUTH-TOKEN-1",
    "cookie1": "SECRET-COOKIE-2",
    "cookie2": "SECRET-COOKIE-3",
    "proxyauth": "SECRET-PROXY-4",
    "req_pw": "SECRET-PW-5",
    "req_card": "SECRET-CARD-6",
    "req_cvv": "SECRET-CVV-7",
    "req_token": "SECRET-TOKEN-8",
    "leg_pw": "SECRET-PW-9",
    "leg_card": "SECRET-CARD-10",
    "leg_nested": "SECRET-NESTED-11",
    "new_pw": "SECRET-PW-13",
    "new_nested": "SECRET-NESTED-14",
    "new_cvv": "SECRET-CVV-15",
    "new_extra": "SECRET-PW-16",
    "new_cc": "SECRET-CC-17",
}
# In Set-Cookie answers: the stub only takes them as plain text in its
# directive header, so they also appear (only) in the logged X-Stub-Ctl-*.
SETCOOKIE = ("SECRET-SETCOOKIE-A", "SECRET-SETCOOKIE-B")


def test_secrets_redacted_everywhere(stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"compare": {"headers": ["Content-Type", "Set-Cookie"]}})
    S = SECRETS
    req = {"user": "alice", "Password": S["req_pw"],
           "payment": {"card_number": S["req_card"], "cvv": S["req_cvv"]},
           "items": [{"token": S["req_token"], "sku": "A"}]}
    leg_doc = {"customer": {"password": S["leg_pw"], "email": "a@example.com"},
               "card_number": S["leg_card"], "secret": {"nested": S["leg_nested"]},
               "list": [1, 2]}
    new_doc = {"customer": {"password": S["new_pw"], "email": "a@example.com"},
               "secret": {"nested": S["new_nested"]}, "cvv": S["new_cvv"],
               "extra": {"password": S["new_extra"], "keep": 1},
               "list": [1, {"cc_number": S["new_cc"]}]}
    body = json.dumps(req).encode()
    r = send(p, "redact-1", method="POST", target="/api/x", body=body,
             ctl="ctype=application/json",
             ctl_legacy=body64(leg_doc) + f",hdr=Set-Cookie:sid={SETCOOKIE[0]}; HttpOnly",
             ctl_new=body64(new_doc) + f",hdr=Set-Cookie:sid={SETCOOKIE[1]}",
             extra=[("Authorization", f"Bearer {S['auth']}"),
                    ("Cookie", f"sid={S['cookie1']}; other={S['cookie2']}"),
                    ("Proxy-Authorization", f"Basic {S['proxyauth']}"),
                    ("Content-Type", "application/json")])
    assert r.status == 200
    assert json.loads(r.body) == leg_doc  # the client gets it all, unredacted
    assert values(r.headers, "Set-Cookie") == [f"sid={SETCOOKIE[0]}; HttpOnly"]
    # The upstreams got the real credentials (hop-by-hop Proxy-Authorization aside).
    q = the_request(legacy, "redact-1")
    assert values(q["headers"], "Authorization") == [f"Bearer {S['auth']}"]
    rec = p.wait_record("redact-1")
    assert p.stop() == 0
    with open(p.diff_log, "rb") as f:
        raw = f.read()
    for name, secret in SECRETS.items():
        assert secret.encode() not in raw, f"{name} leaked into the diff log"
    assert b"SECRET" not in raw.replace(SETCOOKIE[0].encode(), b"").replace(SETCOOKIE[1].encode(), b"")
    # The Set-Cookie secrets appear only inside the stub's directive header.
    stripped = dict(rec)
    stripped["request"] = dict(rec["request"])
    stripped["request"]["headers"] = [h for h in rec["request"]["headers"]
                                      if not h[0].lower().startswith("x-stub-ctl")]
    text = json.dumps(stripped, ensure_ascii=False)
    for secret in SETCOOKIE:
        assert secret not in text
        assert raw.count(secret.encode()) == 1
    # Where the redactions are.
    rh = rec["request"]["headers"]
    assert values(rh, "Authorization") == ["[redacted]"]
    assert values(rh, "Cookie") == ["[redacted]"]
    assert values(rh, "Proxy-Authorization") == ["[redacted]"]
    assert rec["request"]["body"] == {
        "user": "alice", "Password": "[redacted]",
        "payment": {"card_number": "[redacted]", "cvv": "[redacted]"},
        "items": [{"token": "[redacted]", "sku": "A"}]}
    assert values(rec["legacy"]["headers"], "Set-Cookie") == ["[redacted]"]
    assert values(rec["new"]["headers"], "Set-Cookie") == ["[redacted]"]
    assert rec["legacy"]["body"] == {
        "customer": {"password": "[redacted]", "email": "a@example.com"},
        "card_number": "[redacted]", "secret": "[redacted]", "list": [1, 2]}
    R = "[redacted]"
    got = sorted(rec["differences"], key=lambda d: (d["where"], d["path"]))
    assert got == sorted([
        {"where": "header", "path": "Set-Cookie", "kind": "changed", "legacy": R, "new": R},
        {"where": "body", "path": "/customer/password", "kind": "changed", "legacy": R, "new": R},
        {"where": "body", "path": "/card_number", "kind": "removed", "legacy": R},
        {"where": "body", "path": "/secret/nested", "kind": "changed", "legacy": R, "new": R},
        {"where": "body", "path": "/cvv", "kind": "added", "new": R},
        {"where": "body", "path": "/extra", "kind": "added", "new": {"password": R, "keep": 1}},
        {"where": "body", "path": "/list/1", "kind": "type", "legacy": 2, "new": {"cc_number": R}},
    ], key=lambda d: (d["where"], d["path"]))


def test_configured_redact_fields(stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"diff_log": {"redact_fields": ["SSN", "iban"]}})
    send(p, "redact-cfg", ctl="ctype=application/json",
         ctl_legacy=body64({"ssn": "111-SECRET-SSN", "iban": "DE00SECRETIBAN", "password": "pw1"}),
         ctl_new=body64({"ssn": "222-SECRET-SSN", "password": "pw2"}))
    rec = p.wait_record("redact-cfg")
    # the configured names add to the secret families, which stay on
    assert rec["legacy"]["body"] == {"ssn": "[redacted]", "iban": "[redacted]",
                                     "password": "[redacted]"}
    with open(p.diff_log, "rb") as f:
        assert b"SECRET" not in f.read()


def test_no_raw_line_breaks_in_records(pair):
    legacy, new, p = pair
    tricky = "line\nbreak\rcr \u2028 ls \u2029 ps \u0085 nel \u00e9 \U0001F600 \"q\" \\"
    doc = {"text": tricky, tricky: [tricky]}
    send(p, "lines-1", ctl=json_body_ctl(doc))
    send(p, "lines-2", ctl="ctype=text/plain", ctl_legacy=body64(tricky.encode()),
         ctl_new=body64((tricky + "!").encode()))
    r = raw_request(p.port, "GET", "/echo/obs", [("Host", "x"), ("X-Request-Id", "lines-3"),
                                                 ("X-Name", "caf\u00e9")])
    assert r.status == 200
    recs = {x["id"]: x for x in p.wait_records(3) if x["id"].startswith("lines-")}
    p.wait_record("lines-3")
    with open(p.diff_log, "rb") as f:
        raw = f.read()
    for bad in ("\u2028", "\u2029", "\u0085", "\r"):
        assert bad.encode() not in raw, repr(bad)
    assert raw.count(b"\n") == len(p.records())
    recs = {x["id"]: x for x in p.records()}
    assert recs["lines-1"]["legacy"]["body"] == doc
    assert recs["lines-2"]["legacy"]["body"] == tricky
    assert recs["lines-2"]["legacy"]["body_format"] == "text"
    # obs-text in a header value is read as ISO-8859-1.
    assert values(recs["lines-3"]["request"]["headers"], "X-Name") == ["caf\u00e9"]


def test_body_embedding_cap(stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"diff_log": {"max_body_bytes": 101}},
              args=("--diff-log-mode", "all"))
    # text, cut at the cap
    send(p, "cap-text", ctl="bytes=1000,ctype=text/plain")
    rec = p.wait_record("cap-text")
    leg = rec["legacy"]
    assert leg["body_format"] == "text"
    assert leg["body"] == pattern(101).decode()
    assert leg["body_bytes"] == 1000
    assert leg["body_sha256"] == pattern_sha256(1000)
    assert leg["body_truncated"] is True
    # UTF-8 cut on a character boundary: 2-byte characters, cap 101 -> 100 bytes
    text = "\u00e9" * 100
    send(p, "cap-utf8", ctl=body64(text.encode()) + ",ctype=text/plain; charset=utf-8")
    leg = p.wait_record("cap-utf8")["legacy"]
    assert leg["body"] == "\u00e9" * 50
    assert leg["body_truncated"] is True
    assert leg["body_bytes"] == 200
    assert leg["body_sha256"] == sha256(text.encode())
    # JSON longer than the cap: its compact text, cut
    doc = {"items": [{"sku": f"SKU-{i:04d}"} for i in range(50)]}
    send(p, "cap-json", ctl=json_body_ctl(doc))
    leg = p.wait_record("cap-json")["legacy"]
    compact = json.dumps(doc, separators=(",", ":"))
    assert leg["body_format"] == "text"
    assert leg["body"] == compact[:101]
    assert leg["body_truncated"] is True
    # binary: base64 of the first cap bytes
    data = bytes(range(256)) * 2
    send(p, "cap-bin", ctl=body64(data))
    leg = p.wait_record("cap-bin")["legacy"]
    assert leg["body_format"] == "base64"
    assert base64.b64decode(leg["body"]) == data[:101]
    assert leg["body_truncated"] is True
    assert leg["body_sha256"] == sha256(data)
    # small bodies are whole: no truncation keys
    send(p, "cap-small", ctl="body=short,ctype=text/plain")
    leg = p.wait_record("cap-small")["legacy"]
    assert leg["body"] == "short"
    assert "body_truncated" not in leg and "body_sha256" not in leg


def test_client_disconnect_mid_request_body(stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    # drain_timeout_ms only bounds the cost of a stuck shutdown here;
    # test_lifecycle.py checks that abandoned requests do not delay it.
    p = proxy(legacy.url, new.url, config={"limits": {"drain_timeout_ms": 2000}},
              args=("--diff-log-mode", "all"))
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", p.port))
        s.sendall(b"POST /echo/abandoned HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                  b"X-Request-Id: abandoned\r\n\r\n0123456789")
        s.close()
    # Mid-head and mid-chunk too.
    s = socket.create_connection(("127.0.0.1", p.port))
    s.sendall(b"GET /echo/half HTTP/1.1\r\nHost: x\r\nX-Half: ")
    s.close()
    s = socket.create_connection(("127.0.0.1", p.port))
    s.sendall(b"POST /echo/half HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"100\r\nonly-a-little")
    s.close()
    time.sleep(0.2)
    for i in range(5):
        r = raw_request(p.port, "POST", f"/echo/after/{i}",
                        [("Host", "x"), ("X-Request-Id", f"after-{i}"), ("Content-Length", "3")],
                        b"abc")
        assert r.status == 200
        assert r.json()["body_sha256"] == sha256(b"abc")
    p.wait_record("after-4")
    for stub in (legacy, new):
        assert sorted(q["target"] for q in stub.wait_requests(5)) == \
            [f"/echo/after/{i}" for i in range(5)]
    assert "abandoned" not in [x["id"] for x in p.records()]


def test_client_disconnect_while_waiting_for_answer(pair):
    legacy, new, p = pair
    c = RawConn(p.port)
    c.send(build_request("GET", "/echo/gone", [("Host", "x"), ("X-Request-Id", "gone-1"),
                                               ("X-Stub-Ctl-legacy", "delay=500")]))
    time.sleep(0.1)
    c.close()
    # The exchange still completes on both sides and is recorded.
    rec = p.wait_record("gone-1")
    assert rec["legacy"]["status"] == 200
    assert rec["new"]["status"] == 200
    r = raw_request(p.port, "GET", "/health", [("Host", "x")])
    assert r.body == b"ok"


def test_client_disconnect_during_large_streamed_answer(pair):
    legacy, new, p = pair
    n = 40 * 1024 * 1024
    c = RawConn(p.port)
    c.send(build_request("GET", f"/bytes/{n}", [("Host", "x"), ("X-Request-Id", "gone-big")]))
    got = 0
    while got < 2 * 1024 * 1024:
        got += len(c.sock.recv(1 << 16))
    c.close()
    rec = p.wait_record("gone-big", timeout=20)
    # The proxy read the whole answer from upstream anyway, for the comparison.
    assert rec["legacy"]["body_bytes"] == n
    assert rec["legacy"]["body_sha256"] == pattern_sha256(n)
    r = raw_request(p.port, "GET", "/health", [("Host", "x")])
    assert r.body == b"ok"


def test_rotation_under_load_loses_no_record(pair):
    """logrotate's move + SIGUSR1, three times while 3 clients keep sending:
    every request id is in exactly one of the files, each line whole."""
    import threading
    legacy, new, p = pair
    stop = threading.Event()
    sent, errors = [], []

    def client(n):
        i = 0
        while not stop.is_set():
            rid = f"rotload-{n}-{i}"
            try:
                r = send(p, rid, target="/echo/rotation")
                if r.status == 200:
                    sent.append(rid)
                else:
                    errors.append((rid, r.status))
            except OSError as e:
                errors.append((rid, repr(e)))
            i += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    rotated = []
    try:
        for k in range(3):
            time.sleep(0.3 * SLOW)
            # the reopened file appears with the writer's next batch: on a
            # loaded machine that can take longer than the pause above
            deadline = time.monotonic() + 5 * SLOW
            while not os.path.exists(p.diff_log) and time.monotonic() < deadline:
                time.sleep(0.02)
            path = f"{p.diff_log}.{k + 1}"
            os.rename(p.diff_log, path)
            rotated.append(path)
            p.signal(signal.SIGUSR1)
        time.sleep(0.3 * SLOW)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[:5]
    assert len(sent) > 30
    p.stop()
    seen = []
    for path in rotated + [p.diff_log]:
        with open(path, "rb") as f:
            for raw in f:
                assert raw.endswith(b"\n")
                seen.append(json.loads(raw)["id"])
    assert sorted(i for i in seen if i.startswith("rotload-")) == sorted(sent)
