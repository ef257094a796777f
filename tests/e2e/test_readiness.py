"""GET /readyz means "this replica can serve clients": a traffic worker
listens, the drain has not begun, every side that answers clients accepts
connections. The shadow's health is in the body, not the status (unless
readiness.require_shadow), and a SIGTERM drain is 503 from its first moment.
Probed without a token, as kubelet does, unless a test says otherwise."""
import json
import os
import signal
import threading
import time

from conftest import SLOW
from test_admin import Admin, TOKEN, start, token_env, wait_for  # noqa: F401 (fixtures)


def ready(adm, token=None):
    a = adm.call("GET", "/readyz", token=token)
    return a.status, a.json()


def test_shadow_down_is_still_ready(start):
    legacy, new, p, adm = start()
    new.stop()
    status, body = ready(adm, token="default")
    assert status == 200, body
    assert body["ready"] is True and body["failing"] == [], body
    assert body["upstreams"]["new"]["ok"] is False and body["upstreams"]["new"]["error"]
    assert body["upstreams"]["new"]["shadow"] is True
    assert body["upstreams"]["new"]["required"] is False
    assert body["shadow"] == {"ok": False, "required": False}, body
    assert p.request("GET", "/health")[0].status == 200  # and it does serve


def test_authoritative_side_down_is_not_ready_until_the_authority_moves(start):
    legacy, new, p, adm = start()
    legacy.stop()
    status, body = ready(adm)
    assert status == 503, body
    assert body == {"ready": False, "failing": ["upstream.legacy"]}  # no addresses without a token
    status, body = ready(adm, token="default")
    assert status == 503 and body["failing"] == ["upstream.legacy"], body
    assert str(legacy.port) in body["message"], body
    assert body["upstreams"]["legacy"]["authoritative"] is True
    # the new side answers from now on: legacy only takes the shadow copy
    assert adm.call("POST", "/authority", {"side": "new"}).status == 200
    status, body = ready(adm, token="default")
    assert status == 200, body
    assert body["shadow"]["ok"] is False and body["upstreams"]["legacy"]["required"] is False


def test_a_route_that_answers_from_the_other_side_makes_it_required(start):
    rules = {"version": 1, "routes": [
        {"name": "orders", "match": {"path": "/orders/**"}, "authority": "new"}]}
    legacy, new, p, adm = start(rules=rules)
    new.stop()
    status, body = ready(adm, token="default")
    assert status == 503 and body["failing"] == ["upstream.new"], body
    assert body["upstreams"]["new"]["authoritative"] is True


def test_503_at_once_while_the_main_loop_is_busy(start, tmp):
    """The drain is known from the signal itself, not from the main loop's
    turn: a SIGTERM that arrives while the main loop reloads a 3.5 MB rules
    file (SIGHUP; half a second of parsing) makes /readyz 503 at once, not
    once the reload is done (it used to answer 200 until then)."""
    legacy, new, p, adm = start(rules={"version": 1, "routes": []})
    assert ready(adm)[0] == 200
    big = {"version": 1, "routes": [
        {"name": f"r{i}", "match": {"path_prefix": f"/p{i}/"},
         "compare": {"ignore": [f"/a{i}/b{j}/c/*/d" for j in range(180)]}}
        for i in range(1000)]}
    with open(os.path.join(tmp, "rules.json"), "w") as f:
        json.dump(big, f)
    p.signal(signal.SIGHUP)
    time.sleep(0.05)  # the reload is under way on the main loop
    p.signal(signal.SIGTERM)
    answers = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < 0.5 and p.proc.poll() is None:
        try:
            answers.append((round(time.monotonic() - t0, 3), *ready(adm)))
        except OSError:
            break  # the admin listener closed: the process is ending
        time.sleep(0.02)
    assert len(answers) >= 3, answers
    assert all(s == 503 and b == {"ready": False, "failing": ["draining"]}
               for _, s, b in answers), answers
    assert p.wait_exit(10 * SLOW) == 0
    log = open(p.err_path).read()
    assert "rules_reloaded" in log, log[-2000:]  # the reload did happen


def test_require_shadow_and_its_reload(start, tmp):
    legacy, new, p, adm = start(config={"readiness": {"require_shadow": True}})
    new.stop()
    status, body = ready(adm, token="default")
    assert status == 503 and body["failing"] == ["upstream.new"], body
    assert body["shadow"] == {"ok": False, "required": True}
    # a live key: a reload turns it off without a restart
    cfg = json.load(open(p.config_path))
    cfg["readiness"]["require_shadow"] = False
    json.dump(cfg, open(p.config_path, "w"))
    assert adm.call("POST", "/reload").status == 200
    status, body = ready(adm, token="default")
    assert status == 200, body


def test_503_from_the_first_moment_of_the_drain(start):
    """A request in flight holds the drain open for a second; from the
    signal on, /readyz answers 503 (without probing), while the traffic
    port refuses new clients, until the process exits."""
    legacy, new, p, adm = start(config={"limits": {"drain_timeout_ms": 5000}})
    assert ready(adm, token="default")[0] == 200
    out = {}

    def slow():
        out["r"] = p.request("GET", "/echo/slow", headers={"X-Stub-Ctl-legacy": "delay=1500"})

    th = threading.Thread(target=slow)
    th.start()
    assert wait_for(lambda: len(legacy.requests()) >= 1, 5)
    p.signal(signal.SIGTERM)
    t0 = time.monotonic()
    answers = []
    while time.monotonic() - t0 < 1.0 * SLOW and p.proc.poll() is None:
        try:
            answers.append(ready(adm, token="default" if len(answers) % 2 else None))
        except OSError:
            break  # the admin listener closed: the process is ending
        time.sleep(0.02)
    th.join(10 * SLOW)
    assert out["r"][0].status == 200  # the request in flight finished
    assert len(answers) >= 5, answers
    assert all(s == 503 and b["ready"] is False and b["failing"] == ["draining"]
               for s, b in answers), answers
    assert answers[0][1] == {"ready": False, "failing": ["draining"]}  # what kubelet sees
    assert p.wait_exit(10) == 0
