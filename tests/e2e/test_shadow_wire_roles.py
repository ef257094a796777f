"""The shadow leg on the wire when its request is not the plain copy: the
roles flipped (new authoritative, so legacy is the shadow), a route's
shadow_rewrite (Host, set and removed headers, path), preserve_host. The
shadow is the raw server of wire_shadow.py; each test has its own proxy.
test_shadow_wire.py has the framing cases."""
import json
import os

from helpers import json_body_ctl, raw_request, values
from wire_shadow import BODY, DOC, Steps, WireShadow, bytewise, head, metrics, plain


def one_request(p, rid, target="/api/orders/7?x=1", headers=()):
    return raw_request(p.port, "GET", target, [
        ("Host", "client.example"), ("X-Request-Id", rid), ("X-Stub-Ctl", json_body_ctl(DOC)),
        *headers])


def test_flipped_roles_legacy_is_the_shadow(stubs, proxy):
    """authority new: the client gets new's answer; legacy gets the shadow
    copy (X-Shadow-Request: 1, Host of legacy's URL), read the same way: a
    chunked answer one byte at a time is compared, a reset is a
    shadow_error counted once."""
    new = stubs("new")
    shadow = WireShadow()
    try:
        shadow.on("flip-1", Steps(*bytewise(
            head(b"HTTP/1.1 200 OK", b"Content-Type: application/json",
                 b"Transfer-Encoding: chunked")
            + b"%x;e=1\r\n" % len(BODY) + BODY + b"\r\n0\r\nX-T: 1\r\n\r\n"), gap=0.0005))
        shadow.on("flip-2", Steps(then="rst"))
        p = proxy(shadow.url, new.url, config={"authority": "new"},
                  args=("--diff-log-mode", "all", "--workers", "1"))
        r = one_request(p, "flip-1")
        assert r.status == 200 and r.body == BODY and r.header("X-Stub-Name") == "new"
        rec = p.wait_record("flip-1")
        assert rec["authority"] == "new" and rec["verdict"] == "match", rec["legacy"]
        assert rec["legacy"]["body"] == DOC and values(rec["legacy"]["headers"], "X-T") == []
        (req,) = shadow.requests("flip-1")
        assert req.values("X-Shadow-Request") == ["1"]
        assert req.values("Host") == [f"127.0.0.1:{shadow.port}"]
        assert req.request_line == "GET /api/orders/7?x=1 HTTP/1.1"

        before = metrics(p)
        r = one_request(p, "flip-2")
        assert r.status == 200 and r.body == BODY and r.header("X-Stub-Name") == "new"
        rec = p.wait_record("flip-2")
        assert rec["verdict"] == "shadow_error" and rec["reason"] == "connection reset"
        assert rec["legacy"]["error"].startswith("connection reset: ")
        after = metrics(p)
        key = 'shadowproxy_verdicts_total{verdict="shadow_error"}'
        assert after[key] - before[key] == 1
        assert after["shadowproxy_proxy_errors_total"] == before["shadowproxy_proxy_errors_total"]
    finally:
        shadow.stop()


def test_shadow_rewrite_on_the_wire(stubs, proxy, tmp):
    """A route's shadow_rewrite, as the shadow reads it: exactly one Host
    (the rewrite's), a set header replacing the client's (one line), a
    removed header absent, the path rewritten and the query kept; legacy
    gets the client's request untouched."""
    legacy = stubs("legacy")
    shadow = WireShadow()
    shadow.default = Steps(plain())
    secret_file = os.path.join(tmp, "auth")
    with open(secret_file, "w") as f:
        f.write("Bearer new-side\n")
    rules = {"version": 1, "routes": [{
        "name": "orders", "match": {"path_glob": "/api/orders/*"},
        "shadow_rewrite": {
            "path_prefix": {"from": "/api", "to": "/v2"},
            "host": "erp-new.internal:8443",
            "set_headers": {"Authorization": {"file": secret_file},
                            "X-Tenant": {"value": "eu"}},
            "remove_headers": ["Cookie"]}}]}
    path = os.path.join(tmp, "rules.json")
    with open(path, "w") as f:
        json.dump(rules, f)
    try:
        p = proxy(legacy.url, shadow.url, args=("--rules", path, "--diff-log-mode", "all"))
        r = one_request(p, "rw-1", headers=[("Authorization", "Basic client"),
                                            ("Cookie", "s=1"), ("X-Tenant", "us")])
        assert r.status == 200 and r.body == BODY and r.header("X-Stub-Name") == "legacy"
        rec = p.wait_record("rw-1")
        assert rec["route"] == "orders" and rec["verdict"] == "match", rec["new"]
        (req,) = shadow.requests("rw-1")
        assert req.request_line == "GET /v2/orders/7?x=1 HTTP/1.1"
        assert req.values("Host") == ["erp-new.internal:8443"]
        assert req.values("Authorization") == ["Bearer new-side"]
        assert req.values("X-Tenant") == ["eu"]
        assert req.values("Cookie") == []
        assert req.values("X-Shadow-Request") == ["1"]
        (auth,) = [q for q in legacy.wait_requests(1)
                   if "rw-1" in values(q["headers"], "X-Request-Id")]
        assert auth["target"] == "/api/orders/7?x=1"
        assert values(auth["headers"], "Authorization") == ["Basic client"]
        assert values(auth["headers"], "Cookie") == ["s=1"]
        assert values(auth["headers"], "X-Tenant") == ["us"]
    finally:
        shadow.stop()


def test_preserve_host_sends_the_clients_host_once(stubs, proxy):
    legacy = stubs("legacy")
    shadow = WireShadow()
    shadow.default = Steps(plain())
    try:
        p = proxy(legacy.url, shadow.url, config={"preserve_host": True},
                  args=("--diff-log-mode", "all"))
        r = one_request(p, "ph-1")
        assert r.status == 200 and r.body == BODY
        assert p.wait_record("ph-1")["verdict"] == "match"
        (req,) = shadow.requests("ph-1")
        assert req.values("Host") == ["client.example"]
    finally:
        shadow.stop()


def test_every_kind_of_shadow_failure_feeds_the_breaker(stubs, proxy):
    """The breaker counts consecutive shadow failures of every kind (a
    refused answer, a bad status line, a truncated body, a timeout, a
    reset); an answered 5xx is an answer and resets the count."""
    legacy = stubs("legacy")
    shadow = WireShadow()
    shadow.default = Steps(plain())
    failures = [
        Steps(head(b"HTTP/1.1 200 OK", b"Content-Length: 3", b"Transfer-Encoding: chunked")
              + b"3\r\nabc\r\n0\r\n\r\n", then="close"),
        Steps(head(b"HTTP/1.1 abc"), then="close"),
        Steps(head(b"HTTP/1.1 200 OK", b"Content-Length: 100") + b"short", then="close"),
        Steps(then="hang"),
        Steps(then="rst"),
    ]
    answered_5xx = Steps(head(b"HTTP/1.1 503 Busy", b"Content-Type: application/json",
                              b"Content-Length: %d" % len(BODY)) + BODY)
    try:
        p = proxy(legacy.url, shadow.url, config={"shadow": {
            "timeout_ms": 300, "breaker_failures": len(failures), "breaker_open_ms": 60000}},
            args=("--diff-log-mode", "all", "--workers", "1"))
        # four failures, a 5xx (the count starts again), then all five
        plan = [*failures[:4], answered_5xx, *failures]
        for i, steps in enumerate(plan):
            shadow.on(f"br-{i}", steps)
            assert one_request(p, f"br-{i}").status == 200
            rec = p.wait_record(f"br-{i}")
            assert rec["new"]["attempted"] is True, (i, rec["reason"])
        rec = p.wait_record(f"br-{len(plan) - 1}")
        assert rec["verdict"] == "shadow_error" and rec["reason"] == "connection reset"
        r = one_request(p, "br-open")
        assert r.status == 200 and r.body == BODY
        rec = p.wait_record("br-open")
        assert rec["verdict"] == "shadow_dropped" and "breaker" in rec["reason"], rec
        assert shadow.requests("br-open") == []
        assert metrics(p)["shadowproxy_breaker_opened_total"] == 1
    finally:
        shadow.stop()


def test_obs_fold_reaches_the_client_as_one_space(stubs, proxy):
    """An authoritative answer's folded header (obs-fold, RFC 9112 5.2):
    a proxy must replace the fold with a space before passing it on (the
    continuation was dropped before: the client saw "first")."""
    new = stubs("new")
    auth = WireShadow()
    try:
        auth.on("fold-1", Steps(head(b"HTTP/1.1 200 OK", b"Content-Type: application/json",
                                     b"X-Folded: first", b"\tsecond  ", b"X-After: 1",
                                     b"Content-Length: %d" % len(BODY)) + BODY))
        p = proxy(auth.url, new.url, args=("--workers", "1"))
        r = one_request(p, "fold-1")
        assert r.status == 200 and r.body == BODY
        assert r.header("X-Folded") == "first second" and r.header("X-After") == "1"
    finally:
        auth.stop()
