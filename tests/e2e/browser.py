"""A tiny W3C WebDriver client for the dashboard tests: chromedriver drives a
headless Chromium, spoken to over HTTP with urllib only (no selenium here).

    with Browser() as b:
        b.get("http://127.0.0.1:9901/")
        b.find("input[name=token]").send_keys("...")
        b.find("button[type=submit]").click()      # a real click: input events
        b.wait(lambda: b.find_all("tr.route"))

`missing()` says why no browser can be driven (for pytest.skip), or None.
The binaries are /usr/bin/chromium and /usr/bin/chromedriver (Debian's
chromium and chromium-driver), or $SP_CHROMIUM / $SP_CHROMEDRIVER."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

CHROMIUM = os.environ.get("SP_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SP_CHROMEDRIVER", "/usr/bin/chromedriver")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--window-size=1400,1000", "--no-first-run", "--no-default-browser-check"]
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C element reference key


def missing():
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"{path} is not installed (Debian: apt-get install chromium chromium-driver)"
    return None


class WebDriverError(Exception):
    def __init__(self, status, error, message):
        super().__init__(f"{status} {error}: {message[:500]}")
        self.error = error


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Element:
    def __init__(self, browser, eid):
        self.b = browser
        self.id = eid

    def _path(self, tail):
        return f"/element/{self.id}{tail}"

    def click(self):
        self.b.session("POST", self._path("/click"), {})

    def send_keys(self, text):
        self.b.session("POST", self._path("/value"), {"text": text})

    @property
    def text(self):
        return self.b.session("GET", self._path("/text"))

    def attribute(self, name):
        return self.b.session("GET", self._path(f"/attribute/{name}"))

    def prop(self, name):
        return self.b.session("GET", self._path(f"/property/{name}"))

    def displayed(self):
        return self.b.session("GET", self._path("/displayed"))

    def find(self, css):
        return Element(self.b, self.b.session("POST", self._path("/element"),
                                              {"using": "css selector", "value": css})[ELEMENT])

    def find_all(self, css):
        found = self.b.session("POST", self._path("/elements"), {"using": "css selector", "value": css})
        return [Element(self.b, e[ELEMENT]) for e in found]


class Browser:
    """One chromedriver process and one headless Chromium session."""

    def __init__(self, timeout=30.0, args=()):
        """args: extra Chromium flags (e.g. --host-resolver-rules)."""
        self.sid = None
        self.port = _free_port()
        # Its own process group: quit() ends chromedriver and the browser it
        # started, even when the session could not be closed.
        self.proc = subprocess.Popen([CHROMEDRIVER, f"--port={self.port}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    if self._call("GET", "/status").get("ready"):
                        break
                except (OSError, WebDriverError):
                    pass
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("chromedriver did not start")
                time.sleep(0.05)
            caps = {"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": CHROMIUM, "args": ARGS + list(args)},
                "goog:loggingPrefs": {"browser": "ALL"},
                "timeouts": {"implicit": 0, "pageLoad": 20000, "script": 10000},
            }}}
            self.sid = self._call("POST", "/session", caps, timeout=timeout)["sessionId"]
        except Exception:
            self.quit()
            raise

    def _call(self, method, path, body=None, timeout=30.0):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            try:
                v = json.loads(e.read()).get("value", {})
            except ValueError:
                v = {}
            raise WebDriverError(e.code, v.get("error", "?"), v.get("message", "")) from None

    def session(self, method, path, body=None):
        return self._call(method, f"/session/{self.sid}{path}", body)

    # ---- navigation and lookups ----

    def get(self, url):
        self.session("POST", "/url", {"url": url})

    def url(self):
        return self.session("GET", "/url")

    def find(self, css):
        return Element(self, self.session("POST", "/element",
                                          {"using": "css selector", "value": css})[ELEMENT])

    def find_all(self, css):
        found = self.session("POST", "/elements", {"using": "css selector", "value": css})
        return [Element(self, e[ELEMENT]) for e in found]

    def execute(self, script, *args):
        return self.session("POST", "/execute/sync", {"script": script, "args": list(args)})

    def cookies(self):
        return self.session("GET", "/cookie")

    def delete_cookies(self):
        self.session("DELETE", "/cookie")

    def console(self):
        """The page's console messages since the last call (CSP violations show here)."""
        try:
            return self.session("POST", "/se/log", {"type": "browser"}) or []
        except WebDriverError:
            return []

    def wait(self, pred, timeout=10.0, what="condition"):
        """pred() until truthy; a stale element or a missing one counts as not yet."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                v = pred()
                if v:
                    return v
            except WebDriverError as e:
                last = e
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}" + (f" (last error: {last})" if last else ""))

    def quit(self):
        if self.sid:
            try:
                self._call("DELETE", f"/session/{self.sid}", timeout=10)
            except (OSError, WebDriverError):
                pass
            self.sid = None
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)  # the group this client started
            except ProcessLookupError:
                break
            try:
                self.proc.wait(5)
                break
            except subprocess.TimeoutExpired:
                continue
        self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.quit()
