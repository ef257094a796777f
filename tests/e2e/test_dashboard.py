"""The live dashboard on the admin listener (docs/operations.md, "The
dashboard"), end to end: in a real headless Chromium (tests/e2e/browser.py,
chromedriver over WebDriver) the login form, a real click on Flip that
changes the authority, recent mismatches with the side-by-side view; and
over plain HTTP the refusals (no token, no CSRF header, another origin, a
forged cookie, DNS rebinding without a token) and the ?token= exchange,
whose token never reaches the proxy's log."""
import base64
import hashlib
import json
import os
import re
import time
import uuid

import pytest

import browser as wd
from conftest import SLOW, wait_port
from helpers import admin_call as call

TOKEN = "sp-dash-" + uuid.uuid4().hex
TOKEN_ENV = "SP_DASH_TOKEN"
DASH = "X-Shadowproxy-Dashboard"
# orders' lines are matched by sku: differences at /order/items/sku=MB01/qty,
# which the side-by-side view must find at /order/items/0/qty.
ROUTES = {"version": 1, "routes": [{"name": "orders", "match": {"path_prefix": "/api/orders"},
                                    "compare": {"arrays": [{"path": "/order/items", "key": "sku"}]}}]}


# ---- helpers ------------------------------------------------------------------------

def cookie_pair(answer):
    """name=value of the answer's Set-Cookie."""
    sc = answer.header("Set-Cookie")
    assert sc, answer.headers
    return sc.split(";", 1)[0]


def wait_for(pred, timeout=10.0):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return pred()


def json_ctl(obj):
    data = json.dumps(obj, separators=(",", ":")).encode()
    return "body64=" + base64.b64encode(data).decode() + ",ctype=application/json"


@pytest.fixture(scope="module")
def browser():
    why = wd.missing()
    if why:
        pytest.skip(f"no headless browser: {why}")
    b = wd.Browser()
    try:
        yield b
    finally:
        b.quit()


@pytest.fixture
def start(tmp, stubs, proxy, monkeypatch):
    """start(token=True, args=()) -> (proxy, admin port): stubs, the rules
    above, and the admin token from $SP_DASH_TOKEN (or no token)."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)

    def go(token=True, args=()):
        legacy, new = stubs("legacy"), stubs("new")
        rules = os.path.join(tmp, "rules.json")
        with open(rules, "w") as f:
            json.dump(ROUTES, f)
        cfg = {"admin": {"token_env": TOKEN_ENV}} if token else {}
        p = proxy(legacy.url, new.url, config=cfg, args=("--rules", rules, *args))
        wait_port(p.admin_port, p.proc)
        return p, p.admin_port
    return go


def send(p, path, headers=None):
    r, body = p.request("GET", path, headers=headers or {})
    assert r.status == 200, (path, r.status, body[:200])
    return r.getheader("X-Stub-Name")


def authority(port, route="orders"):
    return call(port, "GET", "/state", token=TOKEN).json()["authority"]["routes"][route]


def row_text(b, route, css):
    return b.find(f'tr.route[data-route="{route}"] {css}').text


# ---- in the browser ----------------------------------------------------------------------

def test_login_form_then_a_real_click_flips_the_authority(browser, start):
    p, port = start()
    base = f"http://127.0.0.1:{port}"
    browser.delete_cookies()
    browser.get(base + "/")
    # not signed in: the login form, and nothing of the dashboard
    field = browser.wait(lambda: browser.find("input[name=token]"), what="the login form")
    assert field.attribute("type") == "password"
    assert browser.find_all("#routes") == []
    field.send_keys(TOKEN)
    browser.find("button[type=submit]").click()
    browser.wait(lambda: browser.find_all('tr.route[data-route="orders"]'), 10 * SLOW, "the routes")
    assert browser.url() == base + "/"
    # the session cookie is not the token, and scripts cannot read it
    cookies = {c["name"]: c for c in browser.cookies()}
    c = cookies[f"sp_session_{port}"]
    assert TOKEN not in c["value"] and c["httpOnly"] and c["sameSite"] == "Strict", c
    assert browser.execute("return document.cookie") == ""
    assert set(r.attribute("data-route") for r in browser.find_all("tr.route")) == {"", "orders", "default"}
    assert row_text(browser, "orders", ".authority") == "legacy"
    assert send(p, "/api/orders/1") == "legacy"

    flip = browser.find('tr.route[data-route="orders"] button.flip')
    assert flip.text == "Flip to new"
    flip.click()  # a real click through WebDriver: the page's own fetch with its CSRF header

    assert wait_for(lambda: authority(port) == "new"), "the click did not flip the route"
    browser.wait(lambda: row_text(browser, "orders", ".authority") == "new", 5 * SLOW, "the re-render")
    assert row_text(browser, "orders", ".decided") == "*"  # an operator's decision
    assert row_text(browser, "", ".authority") == "legacy"  # only the route moved
    assert authority(port, "default") == "legacy"
    assert browser.find('tr.route[data-route="orders"] button.flip').text == "Flip to legacy"
    assert "authority (route orders)" in browser.find("#msg").text
    # the button waited for the fleet, and says so
    assert re.search(r"1/1 replicas applied revision \d+", browser.find("#msg").text), \
        browser.find("#msg").text
    assert send(p, "/api/orders/1") == "new"  # traffic follows at once
    assert re.search(r'event=operator_change what=authority route=orders who=127\.0\.0\.1:\d+ token=admin', p.stderr())
    # the page runs under its CSP: no violation reported
    assert not [m for m in browser.console() if "Content Security Policy" in m.get("message", "")]
    assert TOKEN not in p.stderr()


def test_pause_writes_button_makes_a_route_read_only(browser, start):
    """The write pause from the dashboard (issue 17 part 3): a real click on
    the orders row's "Pause writes" makes that route answer writes 503 with
    Retry-After; reads and other routes flow; "Resume" undoes it."""
    p, port = start()
    browser.get(f"http://127.0.0.1:{port}/?token={TOKEN}")
    btn = browser.wait(lambda: browser.find_all('tr.route[data-route="orders"] button.writes-pause'),
                       10 * SLOW, "the routes")[0]
    assert btn.text == "Pause writes"
    btn.click()
    assert wait_for(lambda: call(port, "GET", "/state", token=TOKEN).json()
                    ["writes"]["routes"]["orders"]["paused"]), "the click did not pause writes"
    browser.wait(lambda: row_text(browser, "orders", ".writes") == "writes paused *", 5 * SLOW,
                 "the re-render")
    assert "Retry-After: 30" in browser.find('tr.route[data-route="orders"] .writes').attribute("title")
    assert "writes (route orders)" in browser.find("#msg").text
    r, body = p.request("POST", "/api/orders/1", body=b"{}", headers={"Content-Type": "application/json"})
    assert r.status == 503 and r.getheader("Retry-After") == "30", (r.status, body)
    assert send(p, "/api/orders/1") == "legacy"  # reads flow
    r, _ = p.request("POST", "/echo/other", body=b"{}")
    assert r.status == 200  # another route writes
    browser.find('tr.route[data-route="orders"] button.writes-pause').click()
    assert wait_for(lambda: not call(port, "GET", "/state", token=TOKEN).json()
                    ["writes"]["routes"]["orders"]["paused"]), "the click did not resume writes"
    r, _ = p.request("POST", "/api/orders/1", body=b"{}")
    assert r.getheader("X-Stub-Name") == "legacy", r.status  # the upstream answers writes again


def test_recent_mismatches_and_the_side_by_side_view(browser, start):
    p, port = start()
    base = f"http://127.0.0.1:{port}"
    hostile = "<img src=x onerror=\"document.title='pwned'\"><b>bold</b>"
    legacy_body = {"order": {"id": 7, "total": 10, "note": hostile, "items": [{"sku": "MB01", "qty": 1}]}}
    new_body = {"order": {"id": 7, "total": 12, "note": hostile, "items": [{"sku": "MB01", "qty": 2}]}}
    for _ in range(3):
        send(p, "/health")  # matches: the default route's rate
    send(p, "/api/orders/7?x=<script>", {"X-Stub-Ctl-legacy": json_ctl(legacy_body),
                                         "X-Stub-Ctl-new": json_ctl(new_body)})
    # The comparer pool may finish two exchanges in either order: the next
    # one goes once this one's record is in the live view (newest first).
    assert wait_for(lambda: any(r["uri"].startswith("/api/orders/7") for r in
                                call(port, "GET", "/api/recent", token=TOKEN).json()["records"])), \
        "the first mismatch never reached the live view"
    send(p, "/api/orders/8", {"X-Stub-Ctl-new": "status=503"})  # another mismatch: the status
    browser.delete_cookies()
    # the ?token= exchange: the token leaves the address bar
    browser.get(f"{base}/?token={TOKEN}")
    browser.wait(lambda: len(browser.find_all("#recent tbody tr.recent")) >= 2, 10 * SLOW, "the recent list")
    assert browser.url() == base + "/"
    rows = browser.find_all("#recent tbody tr.recent")
    assert [r.find("td.uri").text for r in rows] == ["/api/orders/8", "/api/orders/7?x=<script>"]
    assert rows[1].find("td.verdict").text == "mismatch"
    assert rows[1].find("td.ndiff").text == "2"
    # match rates: default matched 3 of 3, orders none of 2
    browser.wait(lambda: row_text(browser, "default", ".r1") == "100.0 %", 5 * SLOW, "default's rate")
    assert row_text(browser, "orders", ".r5") == "0.0 %"
    assert row_text(browser, "orders", ".mismatches") == "2"
    assert len(browser.find_all('tr.route[data-route="orders"] svg.sparkline rect')) == 15

    rows[1].click()
    browser.wait(lambda: browser.find("#detail").displayed(), 5 * SLOW, "the detail view")
    browser.wait(lambda: browser.find_all("#pane-legacy .line"), 5 * SLOW, "the panes")
    paths = [r.find("td.path").text for r in browser.find_all("#difftable tbody tr.diff")]
    assert sorted(paths) == ["/order/items/sku=MB01/qty", "/order/total"], paths
    for side, total, qty in (("legacy", "10", "1"), ("new", "12", "2")):
        hl = {e.attribute("data-path"): e.text for e in browser.find_all(f"#pane-{side} .line.hl-changed")}
        assert set(hl) == {"/order/total", "/order/items/0/qty"}, hl
        assert hl["/order/total"].strip() == f'"total": {total},'
        assert hl["/order/items/0/qty"].strip() == f'"qty": {qty}'
        # everything else is shown, not highlighted
        assert browser.find(f'#pane-{side} .line[data-path="/order/id"]').attribute("class") == "line"
    assert "authoritative" in browser.find("#side-legacy h3").text
    assert "shadow" in browser.find("#side-new h3").text
    # hostile record data is text, never markup
    note = browser.find('#pane-legacy .line[data-path="/order/note"]').text
    assert "<img src=x" in note and "<b>bold</b>" in note
    assert browser.find_all("#detail img, #detail b, #recent img") == []
    assert browser.execute("return document.title") == "shadowproxy"
    assert "<script>" in browser.find("#detail-title").text
    # the client's request, folded: its line, headers and (no) body
    assert "client request: GET /api/orders/7?x=<script>" in browser.find("#request-summary").text
    browser.find("#request-summary").click()
    assert "X-Stub-Ctl-legacy" in browser.find("#request-body").text

    # the other one: the status differs
    browser.find_all("#recent tbody tr.recent")[0].click()
    browser.wait(lambda: "/api/orders/8" in browser.find("#detail-title").text, 5 * SLOW, "the second record")
    assert [r.find("td.path").text for r in browser.find_all("#difftable tbody tr.diff")][0] == ""
    assert "differs" in browser.find("#side-new .status-line").attribute("class")
    assert "status 503" in browser.find("#side-new .status-line").text
    assert TOKEN not in p.stderr()


# ---- over HTTP ----------------------------------------------------------------------------

def test_refused_without_the_token_and_without_the_csrf_header(start):
    p, port = start()
    # no token: the data and the controls are refused; the page is the login form
    for method, path, body in [("GET", "/api/live", None), ("GET", "/api/recent", None),
                               ("GET", "/api/recent/1", None), ("GET", "/state", None),
                               ("POST", "/authority", {"side": "new", "route": "orders"}),
                               ("POST", "/shadow", {"action": "pause"})]:
        for cookie in (None, f"sp_session_{port}={TOKEN}", f"sp_session_{port}=1.{'0' * 64}"):
            a = call(port, method, path, body, cookie=cookie)
            assert a.status == 401 and a.json() == {"error": "unauthorized"}, (method, path, cookie, a)
    login = call(port, "GET", "/")
    assert login.status == 200 and b'action="/login"' in login.body and b"Flip" not in login.body
    assert login.header("X-Frame-Options") == "DENY"
    assert "frame-ancestors 'none'" in login.header("Content-Security-Policy")
    assert login.header("Cache-Control") == "no-store"

    wrong = call(port, "POST", "/login", "token=" + TOKEN[:-1],
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert wrong.status == 401 and b"not the admin token" in wrong.body and not wrong.header("Set-Cookie")
    ok = call(port, "POST", "/login", "token=" + TOKEN,
              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert ok.status == 303 and ok.header("Location") == "/", ok
    sc = ok.header("Set-Cookie")
    assert "HttpOnly" in sc and "SameSite=Strict" in sc and "Path=/" in sc, sc
    cookie = cookie_pair(ok)
    assert TOKEN not in cookie and cookie.startswith(f"sp_session_{port}=")

    # the cookie opens the page and the data
    page = call(port, "GET", "/", cookie=cookie)
    assert page.status == 200 and b'id="routes"' in page.body
    csp = page.header("Content-Security-Policy")
    script = re.search(rb"<script>(.*?)</script>", page.body, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp and "connect-src 'self'" in csp, csp
    assert "unsafe-inline" not in csp and "http" not in csp
    live = call(port, "GET", "/api/live", cookie=cookie).json()
    assert live["auth"] == {"mode": "token", "via": "cookie", "role": "operator", "name": "admin"} and live["minutes"] == 15
    assert live["recent"]["max_records"] == 50
    assert {"breakers", "shadow_in_flight", "diff_log"} <= set(live["health"])

    # a state change with the cookie needs the dashboard's header, from the same origin
    flip = {"side": "new", "route": "orders"}
    a = call(port, "POST", "/authority", flip, cookie=cookie)
    assert a.status == 403 and DASH in a.json()["error"], a
    a = call(port, "POST", "/authority", flip, cookie=cookie,
             headers={DASH: "1", "Origin": "http://evil.example"})
    assert a.status == 403 and "cross-origin" in a.json()["error"], a
    a = call(port, "POST", "/authority", flip, cookie=cookie,
             headers={DASH: "1", "Sec-Fetch-Site": "cross-site"})
    assert a.status == 403, a
    assert authority(port) == "legacy"  # nothing changed behind the refusals
    assert "event=admin_browser_refused" in p.stderr()
    a = call(port, "POST", "/authority", flip, cookie=cookie,
             headers={DASH: "1", "Origin": f"http://127.0.0.1:{port}"})
    assert a.status == 200 and a.json()["new"] == {"authority": "new"}, a
    assert authority(port) == "new"
    # the Bearer token needs no such header (ctl, scripts)
    a = call(port, "POST", "/authority", {"side": "legacy", "route": "orders"}, token=TOKEN)
    assert a.status == 200

    # a forged or foreign cookie is worth nothing
    name, value = cookie.split("=", 1)
    issued, who, nonce, mac = value.split(".")  # who: the token's index
    for bad in [f"{name}={issued}.{who}.{nonce}.{mac[:-1]}{'0' if mac[-1] != '0' else '1'}",
                f"{name}={int(issued) + 1}.{who}.{nonce}.{mac}",
                f"{name}={issued}.{who}.{nonce[:-1]}{'0' if nonce[-1] != '0' else '1'}.{mac}",
                f"{name}={issued}.{int(who) + 1}.{nonce}.{mac}",
                f"{name}={issued}.{nonce}.{mac}",
                f"sp_session_{port + 1}={value}"]:
        assert call(port, "GET", "/api/live", cookie=bad).status == 401, bad

    out = call(port, "POST", "/logout", cookie=cookie)
    assert out.status == 303 and "Max-Age=0" in out.header("Set-Cookie")
    assert TOKEN not in p.stderr()


def test_token_exchange_redirects_and_never_logs_the_token(start):
    p, port = start(args=("--log-level", "debug"))
    a = call(port, "GET", f"/?token={TOKEN}")
    assert a.status == 303 and a.header("Location") == "/", a
    cookie = cookie_pair(a)
    assert TOKEN not in cookie
    assert call(port, "GET", "/api/recent", cookie=cookie).status == 200
    a = call(port, "GET", f"/?token={TOKEN}x&a=b")
    assert a.status == 401 and b'action="/login"' in a.body and not a.header("Set-Cookie")
    # also a token in a query string MHD itself complains about
    call(port, "GET", f"/nope?token={TOKEN}")
    call(port, "GET", f"/?token={TOKEN}&token=")
    assert p.stop() == 0
    err = p.stderr()
    assert "event=admin_login who=" in err and "via=query" in err
    assert "event=admin_login_refused" in err
    assert "event=admin_request" in err  # debug is on: requests are logged...
    assert TOKEN not in err               # ...without their query strings
    assert "token=" not in err


def test_without_a_token_loopback_only_and_no_rebinding(start):
    p, port = start(token=False)
    page = call(port, "GET", "/")
    assert page.status == 200 and b'id="routes"' in page.body  # no login on loopback
    live = call(port, "GET", "/api/live").json()
    assert live["auth"] == {"mode": "loopback", "via": "none", "role": "operator", "name": None}
    # a page on another site must not drive it: DNS rebinding (Host), CSRF (no header)
    a = call(port, "GET", "/state", headers={"Host": f"evil.example:{port}", "Sec-Fetch-Site": "same-origin"})
    assert a.status == 403 and "loopback" in a.json()["error"], a
    a = call(port, "POST", "/authority", {"side": "new"},
             headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert a.status == 403
    a = call(port, "POST", "/authority", {"side": "new"}, headers={"Origin": f"http://127.0.0.1:{port}"})
    assert a.status == 403 and DASH in a.json()["error"]
    assert call(port, "GET", "/state").json()["authority"]["global"] == "legacy"
    # the dashboard's own request, and a script's (no Origin: ctl, curl), are fine
    a = call(port, "POST", "/authority", {"side": "new"},
             headers={"Origin": f"http://127.0.0.1:{port}", DASH: "1"})
    assert a.status == 200
    a = call(port, "POST", "/authority", {"side": "legacy"})
    assert a.status == 200
    # logging in is a no-op here
    a = call(port, "POST", "/login", "token=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert a.status == 303 and not a.header("Set-Cookie")


def test_routes_table_fits_1366_pixels(browser, start):
    """A laptop's 1366 px: the routes table (the widest route name the live
    view keeps is not the point: the columns are) without horizontal scroll."""
    p, port = start(token=False)
    send(p, "/health")
    send(p, "/api/orders/7")
    browser.session("POST", "/window/rect", {"width": 1366, "height": 900})
    browser.get(f"http://127.0.0.1:{port}/")
    browser.wait(lambda: browser.find_all('tr.route[data-route="orders"]'), 10 * SLOW, "the routes")
    measure = ("var t = document.querySelector('#routes');"
               "return [t.getBoundingClientRect().right, document.documentElement.clientWidth,"
               " document.documentElement.scrollWidth];")
    right, client, scroll = sizes = browser.execute(measure)
    assert client <= 1366 and right <= client and scroll <= client, sizes
    # also with writes paused (its longest state) on a route
    assert call(port, "POST", "/writes", {"action": "pause", "route": "orders"}).status == 200
    browser.wait(lambda: row_text(browser, "orders", ".writes") == "writes paused *", 5 * SLOW,
                 "the paused row")
    right, client, scroll = sizes = browser.execute(measure)
    assert client <= 1366 and right <= client and scroll <= client, sizes
