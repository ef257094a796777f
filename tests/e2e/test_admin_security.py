"""The admin listener's defences against a hostile browser or client
(docs/operations.md, "Browser checks" and "Limits"), end to end against the
real binary: DNS rebinding without a token (plain HTTP and a real headless
Chromium that resolves a foreign name to 127.0.0.1); a session cookie
refused after its logout; named tokens with the roles operator and viewer
(over HTTP, as a Prometheus scrape, and the dashboard in Chromium);
trickling connections (heads and bodies a byte at a time, from several
loopback addresses) cut at their deadlines while /healthz keeps
answering."""
import os
import re
import select
import socket
import threading
import time
import uuid

import pytest

import browser as wd
from conftest import SLOW, free_port, wait_port
from helpers import admin_call as call, serve_once

TOKEN = "sp-sec-" + uuid.uuid4().hex
TOKEN_ENV = "SP_SEC_TOKEN"
REBIND = "rebind.evil.test"  # the attacker's name, resolving to 127.0.0.1


@pytest.fixture
def start(tmp, stubs, proxy, monkeypatch):
    """start(config=None) -> (proxy, admin port): stubs and a proxy whose
    admin config is `config` (the tokens come from the environment)."""
    def go(config=None, env=None):
        for k, v in (env or {}).items():
            monkeypatch.setenv(k, v)
        legacy, new = stubs("legacy"), stubs("new")
        p = proxy(legacy.url, new.url, config={"admin": dict(config or {})},
                  args=("--diff-log-mode", "all"))
        wait_port(p.admin_port, p.proc)
        return p, p.admin_port
    return go


# ---- DNS rebinding (issue 15, item 1) ------------------------------------------------

READS = ["/state", "/metrics", "/readyz", "/api/live", "/api/recent", "/"]


def test_rebinding_without_a_token_every_request_needs_a_loopback_host(start):
    """A rebound page's same-origin GET carries no Origin nor Sec-Fetch-Site:
    the Host check must not depend on them."""
    p, port = start()
    p.request("GET", "/x")  # some traffic for the endpoints to show
    for path in READS:
        a = call(port, "GET", path, headers={"Host": f"{REBIND}:{port}"})
        assert a.status == 403, (path, a)
        assert "loopback" in a.json()["error"], (path, a)
    a = call(port, "POST", "/authority", {"side": "new"}, headers={"Host": f"{REBIND}:{port}"})
    assert a.status == 403, a
    a = call(port, "GET", "/state", headers={"Host": f"127.0.0.1.{REBIND}:{port}"})
    assert a.status == 403, a
    a = call(port, "GET", "/state", headers={"Host": f"localhost.{REBIND}"})
    assert a.status == 403, a
    # loopback names, with or without the port, are answered
    for host in (f"127.0.0.1:{port}", "127.3.4.5", f"localhost:{port}", "LOCALHOST", f"[::1]:{port}"):
        a = call(port, "GET", "/state", headers={"Host": host})
        assert a.status == 200, (host, a)
    assert call(port, "GET", "/state").json()["authority"]["global"] == "legacy"
    # the liveness probe answers whatever the name
    a = call(port, "GET", "/healthz", headers={"Host": f"{REBIND}:{port}"})
    assert a.status == 200 and a.json() == {"status": "ok"}, a
    assert "event=admin_browser_refused" in p.stderr() and "why=\"host not loopback\"" in p.stderr()


def test_rebinding_with_a_token_the_token_still_decides(start):
    """With a token, the Host is not the defence (a rebound page has no
    token and no cookie): a bearer request with any Host is answered."""
    p, port = start({"token_env": TOKEN_ENV}, env={TOKEN_ENV: TOKEN})
    assert call(port, "GET", "/state", headers={"Host": f"{REBIND}:{port}"}).status == 401
    a = call(port, "GET", "/state", headers={"Host": f"proxy.internal:{port}"}, token=TOKEN)
    assert a.status == 200, a


@pytest.fixture(scope="module")
def rebinding_browser():
    why = wd.missing()
    if why:
        pytest.skip(f"no headless browser: {why}")
    b = wd.Browser(args=[f"--host-resolver-rules=MAP {REBIND} 127.0.0.1"])
    try:
        yield b
    finally:
        b.quit()


def test_rebinding_in_chromium_reads_nothing(rebinding_browser, start):
    """Chromium opens http://rebind.evil.test:PORT/ (resolved to 127.0.0.1):
    neither the dashboard nor the page's own same-origin fetches get data."""
    b = rebinding_browser
    p, port = start()
    p.request("GET", "/x")
    b.get(f"http://{REBIND}:{port}/")
    body = b.wait(lambda: b.execute("return document.body && document.body.innerText"),
                  what="the answer")
    assert "loopback" in body and "DNS rebinding" in body, body
    assert b.find_all("#routes") == []
    got = b.execute("""
        const out = {};
        for (const path of arguments[0]) {
            const xhr = new XMLHttpRequest();
            xhr.open('GET', path, false);
            xhr.send();
            out[path] = [xhr.status, xhr.responseText.slice(0, 200)];
        }
        return out;""", ["/state", "/metrics", "/api/recent", "/api/recent/1", "/api/live"])
    for path, (status, text) in got.items():
        assert status == 403 and "loopback" in text, (path, status, text)
    # the same browser on the real loopback name gets the dashboard
    b.get(f"http://127.0.0.1:{port}/")
    b.wait(lambda: b.find_all("#routes"), 10 * SLOW, "the dashboard")


# ---- logout ends the session here (issue 15, item 8) ---------------------------------

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def sign_in(port):
    a = call(port, "POST", "/login", f"token={TOKEN}", headers=FORM)
    assert a.status == 303, a
    return a.header("Set-Cookie").split(";", 1)[0]


def test_logout_revokes_the_session_cookie_server_side(start):
    """A copy of the cookie (another tab, a stolen one) must not outlive the
    logout; another sign-in's session goes on."""
    p, port = start({"token_env": TOKEN_ENV}, env={TOKEN_ENV: TOKEN})
    mine, other = sign_in(port), sign_in(port)
    assert mine != other
    for c in (mine, other):
        assert call(port, "GET", "/state", cookie=c).status == 200
    out = call(port, "POST", "/logout", cookie=mine)
    assert out.status == 303 and "Max-Age=0" in out.header("Set-Cookie"), out
    for path in ("/state", "/api/live", "/metrics"):
        a = call(port, "GET", path, cookie=mine)
        assert a.status == 401, (path, a)
    page = call(port, "GET", "/", cookie=mine)
    assert page.status == 200 and b'action="/login"' in page.body  # the login form again
    a = call(port, "POST", "/authority", {"side": "new"}, cookie=mine,
             headers={"Origin": f"http://127.0.0.1:{port}", "X-Shadowproxy-Dashboard": "1"})
    assert a.status == 401, a
    assert call(port, "GET", "/state", cookie=other).status == 200
    # logging out again, or with a forged cookie, changes nothing
    assert call(port, "POST", "/logout", cookie=mine).status == 303
    assert call(port, "POST", "/logout", cookie=other[:-4] + "0000").status == 303
    assert call(port, "GET", "/state", cookie=other).status == 200
    assert call(port, "GET", "/state", token=TOKEN).json()["authority"]["global"] == "legacy"
    assert 'event=admin_logout who="token:admin from 127.0.0.1:' in p.stderr()
    assert TOKEN not in p.stderr()


# ---- token roles: operator and viewer (issue 12) --------------------------------------

OPS, VIEW = "sp-ops-" + uuid.uuid4().hex, "sp-view-" + uuid.uuid4().hex
WRITES = [("POST", "/authority", {"side": "new"}), ("POST", "/shadow", {"action": "pause"}),
          ("POST", "/reload", None), ("PUT", "/log-level", {"level": "debug"}),
          ("POST", "/rollback", {}), ("POST", "/clear", {"route": "default"}),
          ("POST", "/writes", {"action": "pause"})]


@pytest.fixture
def roles(tmp, start):
    """A proxy with the single token (operator "admin"), an operator "ops"
    from the environment and a viewer "prometheus" from a file."""
    view_file = os.path.join(tmp, "viewer.token")
    with open(view_file, "w") as f:
        f.write(VIEW + "\n")
    return start({"token_env": TOKEN_ENV, "tokens": [
        {"name": "ops", "role": "operator", "token_env": "SP_SEC_OPS"},
        {"name": "prometheus", "role": "viewer", "token_file": view_file}]},
        env={TOKEN_ENV: TOKEN, "SP_SEC_OPS": OPS})


def global_authority(port):
    return call(port, "GET", "/state", token=TOKEN).json()["authority"]["global"]


def test_viewer_token_reads_everything_and_changes_nothing(roles):
    p, port = roles
    p.request("GET", "/x")
    for path in ("/state", "/api/live", "/api/recent", "/history"):
        a = call(port, "GET", path, token=VIEW)
        assert a.status == 200, (path, a)
    assert call(port, "GET", "/readyz", token=VIEW).status in (200, 503)
    assert call(port, "GET", "/api/live", token=VIEW).json()["auth"] == \
        {"mode": "token", "via": "bearer", "role": "viewer", "name": "prometheus"}
    # a Prometheus scrape: text format, the counters there
    a = call(port, "GET", "/metrics", token=VIEW, headers={"Accept": "text/plain;version=0.0.4"})
    assert a.status == 200 and a.header("Content-Type").startswith("text/plain; version=0.0.4"), a
    assert b"# TYPE shadowproxy_" in a.body
    for method, path, body in WRITES:
        a = call(port, method, path, body, token=VIEW)
        assert a.status == 403, (path, a)
        assert a.header("Content-Type").startswith("application/json")
        assert "viewer" in a.json()["error"] and "operator" in a.json()["error"], a
    st = call(port, "GET", "/state", token=TOKEN).json()
    assert st["authority"]["global"] == "legacy" and st["shadow"]["global"]["paused"] is False
    assert "level=debug" not in p.stderr()
    assert re.search(r'event=admin_forbidden who="token:prometheus from 127\.0\.0\.1:\d+" '
                     r'method=POST path=/authority role=viewer', p.stderr())
    # a wrong token is still 401, not 403
    assert call(port, "POST", "/authority", {"side": "new"}, token=VIEW + "x").status == 401
    assert VIEW not in p.stderr() and OPS not in p.stderr()


def test_operators_are_named_in_the_log_and_the_single_token_still_works(roles):
    p, port = roles
    a = call(port, "POST", "/authority", {"side": "new"}, token=OPS)
    assert a.status == 200 and a.json()["new"] == {"authority": "new"}, a
    assert global_authority(port) == "new"
    assert re.search(r'event=operator_change what=authority route=\(global\) who=127\.0\.0\.1:\d+ '
                     r'token=ops', p.stderr()), p.stderr()[-1500:]
    # admin.token_env: the operator "admin", as before
    a = call(port, "POST", "/authority", {"side": "legacy"}, token=TOKEN)
    assert a.status == 200
    assert re.search(r'event=operator_change what=authority route=\(global\) who=127\.0\.0\.1:\d+ '
                     r'token=admin', p.stderr())
    assert call(port, "GET", "/api/live", token=OPS).json()["auth"]["role"] == "operator"
    # the decision store's audit trail has the names
    changes = call(port, "GET", "/history", token=VIEW).json()["changes"]
    assert [c["who"] for c in changes[:2]] == ["admin", "ops"], changes
    assert all(re.fullmatch(r"127\.0\.0\.1:\d+", c["client"]) for c in changes[:2]), changes


def test_viewer_session_from_the_login_form_is_read_only(roles):
    p, port = roles
    a = call(port, "POST", "/login", f"token={VIEW}", headers=FORM)
    assert a.status == 303, a
    cookie = a.header("Set-Cookie").split(";", 1)[0]
    assert VIEW not in cookie
    assert call(port, "GET", "/state", cookie=cookie).status == 200
    live = call(port, "GET", "/api/live", cookie=cookie).json()
    assert live["auth"] == {"mode": "token", "via": "cookie", "role": "viewer", "name": "prometheus"}
    dash = {"Origin": f"http://127.0.0.1:{port}", "X-Shadowproxy-Dashboard": "1"}
    for method, path, body in WRITES:
        a = call(port, method, path, body, cookie=cookie, headers=dash)
        assert a.status == 403 and "viewer" in a.json()["error"], (path, a)
    assert global_authority(port) == "legacy"
    assert "event=admin_login who=127.0.0.1:" in p.stderr() and "principal=prometheus role=viewer" in p.stderr()


def serve_briefly(tmp, config, env):
    """serve with this config and these variables for up to 3 s."""
    return serve_once(tmp, config, env=dict(os.environ, **env), wait=3.0)


def test_bad_token_lists_refuse_to_start(tmp):
    listen = {"listen": f"127.0.0.1:{free_port()}"}
    rc, err = serve_briefly(tmp, {"admin": dict(listen, tokens=[
        {"name": "a", "role": "viewer", "token_env": "SP_SEC_A"},
        {"name": "b", "role": "operator", "token_env": "SP_SEC_B"}])},
        {"SP_SEC_A": OPS, "SP_SEC_B": OPS})
    assert rc == 1 and r'the token of \"b\" is the same as that of \"a\"' in err, (rc, err)
    assert OPS not in err
    rc, err = serve_briefly(tmp, {"admin": dict(listen, token_env="SP_SEC_A", tokens=[
        {"name": "admin", "role": "viewer", "token_env": "SP_SEC_B"}])},
        {"SP_SEC_A": OPS, "SP_SEC_B": VIEW})
    assert rc == 1 and r'token name \"admin\" is used twice' in err, (rc, err)
    rc, err = serve_briefly(tmp, {"admin": dict(listen, tokens=[
        {"name": "v", "role": "viewer", "token_file": os.path.join(tmp, "missing")}])}, {})
    assert rc == 1 and "admin.tokens[0]" in err and "missing: cannot read" in err, (rc, err)
    rc, err = serve_briefly(tmp, {"admin": dict(listen, tokens=[
        {"name": "v", "role": "reader", "token_env": "SP_SEC_A"}])}, {"SP_SEC_A": VIEW})
    assert rc == 2 or rc == 1, (rc, err)
    assert 'admin.tokens[0] needs a "role": "operator" or "viewer"' in err, err


def test_dashboard_shows_no_buttons_to_a_viewer(rebinding_browser, roles):
    """Signed in with the viewer token, the page lists the routes without
    Flip, Pause or Sample; an operator's session has them."""
    b = rebinding_browser
    p, port = roles
    base = f"http://127.0.0.1:{port}"
    for token, ro in ((VIEW, True), (OPS, False)):
        b.delete_cookies()
        b.get(base + "/")
        field = b.wait(lambda: b.find("input[name=token]"), what="the login form")
        field.send_keys(token)
        b.find("button[type=submit]").click()
        b.wait(lambda: b.find_all('tr.route[data-route=""] button.flip'), 10 * SLOW, "the routes")
        b.wait(lambda: b.find("#who").text, 5 * SLOW, "the signed-in name")
        shown = [e.displayed() for css in ("button.flip", "button.pause", "button.set-sample", "input.sample")
                 for e in b.find_all(f"tr.route {css}")]
        assert shown and all(not d for d in shown) if ro else any(shown), (token == VIEW, shown)
        who = b.find("#who").text
        assert who == ("prometheus (viewer, read only)" if ro else "ops (operator)"), who
        assert b.find("#logout").displayed()
    assert global_authority(port) == "legacy"


# ---- slow connections (issue 15, item 2: the admin listener) ---------------------------

HEAD_DEADLINE, BODY_DEADLINE = 5.0, 10.0  # admin.h: ADMIN_HEAD_TIMEOUT_MS, ADMIN_BODY_TIMEOUT_MS


def trickle(port, source, first, out, i, stop):
    """From `source`, sends `first`, then a byte every 0.5 s until the
    server answers or closes; out[i] = seconds until it did (None: never)."""
    s = socket.socket()
    try:
        s.bind((source, 0))
        s.settimeout(5 * SLOW)
        s.connect(("127.0.0.1", port))
        s.sendall(first)
        t0 = time.monotonic()
        while not stop.is_set() and time.monotonic() - t0 < 30 * SLOW:
            if select.select([s], [], [], 0.5)[0]:
                out[i] = time.monotonic() - t0
                return
            try:
                s.send(b"x")
            except OSError:
                out[i] = time.monotonic() - t0
                return
    except OSError as e:
        out[i] = f"error: {e}"
    finally:
        s.close()


def tricklers(port, first, n, sources):
    out, stop = [None] * n, threading.Event()
    threads = [threading.Thread(target=trickle, args=(port, sources[i % len(sources)], first, out, i,
                                                      stop), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    return out, stop, threads


def trickle_while_probing(port, first, n, sources, deadline):
    """n tricklers (see trickle); meanwhile /healthz must answer within a
    second, and each trickler must be cut by the server within deadline + 2 s."""
    out, stop, threads = tricklers(port, first, n, sources)
    time.sleep(1.0)
    liveness_answers_quickly(port)
    for t in threads:
        t.join(deadline + 15 * SLOW)
    stop.set()
    assert all(isinstance(v, float) and v < deadline + 2 * SLOW for v in out), out


def liveness_answers_quickly(port, times=5):
    for _ in range(times):
        t0 = time.monotonic()
        a = call(port, "GET", "/healthz")
        took = time.monotonic() - t0
        assert a.status == 200 and a.json() == {"status": "ok"}, a
        assert took < 1.0 * SLOW, f"/healthz took {took:.2f} s"
        time.sleep(0.4)


def test_trickled_heads_are_cut_and_liveness_answers(start):
    """20 connections from 5 loopback addresses send their head a byte every
    0.5 s (each byte used to restart the 10 s idle timeout, and 16 such
    sockets kept /healthz unanswered): /healthz answers within a second all
    along, and each head is cut at its deadline."""
    p, port = start()
    first = b"GET /state HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
    trickle_while_probing(port, first, 20, [f"127.0.0.{k}" for k in range(2, 7)], HEAD_DEADLINE)
    assert call(port, "GET", "/state").status == 200
    assert p.proc.poll() is None


def test_trickled_bodies_are_cut_and_liveness_answers(start):
    """16 connections from 2 addresses (the admin listener's whole budget: 16,
    8 per address) send a whole head, then the body a byte every 0.5 s:
    /healthz still answers within a second, each is cut at the body's
    deadline, and the listener serves again afterwards."""
    p, port = start({"token_env": TOKEN_ENV}, env={TOKEN_ENV: TOKEN})
    first = (f"POST /authority HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
             f"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n").encode()
    trickle_while_probing(port, first, 16, ["127.0.0.2", "127.0.0.3"], BODY_DEADLINE)
    a = call(port, "GET", "/state", token=TOKEN)
    assert a.status == 200 and a.json()["authority"]["global"] == "legacy", a
