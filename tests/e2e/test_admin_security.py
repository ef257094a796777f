"""The admin listener's defences against a hostile browser or client
(docs/operations.md, "Browser checks" and "Limits"), end to end against the
real binary: DNS rebinding without a token (plain HTTP and a real headless
Chromium that resolves a foreign name to 127.0.0.1); a session cookie
refused after its logout."""
import uuid

import pytest

import browser as wd
from conftest import SLOW, wait_port
from helpers import admin_call as call

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
    assert "event=admin_logout who=127.0.0.1:" in p.stderr()
    assert TOKEN not in p.stderr()
