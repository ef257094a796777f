"""Fault injection for staging (issue 17 part 4; docs/operations.md
"Injecting faults", docs/rules.md "faults"): per route and side (legacy,
new, authoritative, shadow) a delay before the leg is sent, an answer with a
status the upstream never gave, or a connection reset, for a share of the
requests chosen by request id. Only with faults.enabled: a rules file or an
API call with faults is refused otherwise. From the rules file, or
time-boxed through POST /faults and `ctl fault add ... --for`. Visible in
/state, /metrics and each affected record's "fault"."""
import json
import os
import subprocess
import time
import uuid

from conftest import SLOW, SP_BIN
from helpers import sample_bucket
from test_admin import TOKEN, records_by_id, start, token_env, wait_for  # noqa: F401 (fixtures)
from test_admin import mirrored_ids as seen_by
from test_write_pause import ctl, metric

ENABLED = {"faults": {"enabled": True}}


def routes(*faults_by_route, default_faults=None):
    """A rules file: route "slow" (/echo/slow...), "flaky" (/echo/flaky...),
    "plain" (/echo/plain...), each with the faults given."""
    names = ("slow", "flaky", "plain")
    doc = {"version": 1, "routes": []}
    for name, faults in zip(names, list(faults_by_route) + [None] * 3):
        rt = {"name": name, "match": {"path_prefix": f"/echo/{name}"}}
        if faults:
            rt["faults"] = faults
        doc["routes"].append(rt)
    if default_faults:
        doc["default"] = {"faults": default_faults}
    return doc


def get(p, path, tag="f"):
    rid = f"fault-{tag}-{uuid.uuid4().hex[:10]}"
    t0 = time.monotonic()
    r, data = p.request("GET", path, headers={"X-Request-Id": rid})
    return rid, r, data, time.monotonic() - t0


def test_faults_are_refused_while_faults_enabled_is_false(start, tmp):
    doc = routes(None, [{"side": "new", "abort": {"status": 503}}])
    path = os.path.join(tmp, "faulty.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
    # check: the key and its position, and why
    r = subprocess.run([SP_BIN, "check", "--rules", path], capture_output=True, text=True,
                       timeout=30 * SLOW)
    assert r.returncode == 1, r
    text = open(path).read().split("\n")
    line = next(i for i, t in enumerate(text, 1) if '"faults"' in t)
    col = text[line - 1].index('"faults"') + 1
    assert f"{path}:{line}:{col}: faults (route \"flaky\") refused: faults.enabled is false" \
        in r.stderr, r.stderr
    cfg = os.path.join(tmp, "staging.json")
    with open(cfg, "w") as f:
        json.dump({**ENABLED, "legacy": {"url": "http://127.0.0.1:1"},
                   "new": {"url": "http://127.0.0.1:2"}}, f)
    r = subprocess.run([SP_BIN, "check", "--config", cfg, "--rules", path], capture_output=True,
                       text=True, timeout=30 * SLOW)
    assert r.returncode == 0, r

    # the API (and ctl) refuse with 409 and say why, a valid fault or not
    legacy, new, p, adm = start(rules=routes())
    for body in ({"action": "add", "side": "new", "reset": True, "for_s": 60}, {}):
        a = adm.call("POST", "/faults", body)
        assert a.status == 409, a
        assert a.json()["reason"] == "faults_disabled" and \
            "faults.enabled is false" in a.json()["error"], a
    c = ctl(adm, "fault", "add", "--route", "flaky", "--side", "new", "--reset", "--for", "1m")
    assert c.returncode == 1 and "faults.enabled is false" in c.stderr, c
    assert adm.state()["faults"] == {"enabled": False, "scope": "process", "rules": {},
                                     "live": []}
    # a reload to a rules file with faults is refused; the old rules stay
    version = adm.state()["rules"]["version"]
    with open(p.cmd[p.cmd.index("--rules") + 1], "w") as f:
        json.dump(doc, f)
    a = adm.call("POST", "/reload")
    assert a.status != 200 and "faults.enabled is false" in json.dumps(a.json()), a
    assert adm.state()["rules"]["version"] == version


def test_delay_abort_and_reset_from_the_rules_file(start):
    doc = routes([{"side": "authoritative", "delay": {"ms": 400}}],
                 [{"side": "authoritative", "abort": {"status": 503}}],
                 [{"side": "legacy", "reset": True}])
    legacy, new, p, adm = start(rules=doc, config=ENABLED)

    # delay: the client waits; the other routes do not
    rid_d, r, _, took = get(p, "/echo/slow/1", "delay")
    assert r.status == 200 and took >= 0.4, took
    rid_n, r, _, took_plain = get(p, "/echo/other/1", "none")
    assert r.status == 200 and took_plain < 0.3, took_plain

    # abort: the client gets the status with a body that says it is injected;
    # the authoritative upstream never saw the request
    rid_a, r, data, _ = get(p, "/echo/flaky/1", "abort")
    assert r.status == 503, (r.status, data)
    body_bytes, body = data, json.loads(data)
    assert body["error"] == "injected_fault" and body["route"] == "flaky", body
    assert "fault injection" in body["message"] and body["side"] == "authoritative", body
    assert r.getheader("X-Shadowproxy-Fault") == "abort 503"
    r, data = p.request("HEAD", "/echo/flaky/1")
    assert r.status == 503 and data == b"" and \
        r.getheader("Content-Length") == str(len(body_bytes)), r.getheaders()

    # reset: the normal 502 JSON of a failed authoritative upstream
    rid_r, r, data, _ = get(p, "/echo/plain/1", "reset")
    assert r.status == 502, (r.status, data)
    body = json.loads(data)
    assert body["error"] == "bad_gateway" and body["upstream"] == "legacy", body
    assert body["cause"] == "connection reset (injected fault)", body

    recs = records_by_id(p, [rid_d, rid_n, rid_a, rid_r])
    assert "fault" not in recs[rid_n], recs[rid_n]
    assert recs[rid_d]["fault"] == [{"side": "legacy", "role": "authoritative", "kind": "delay",
                                     "source": "rules", "delay_ms": 400}], recs[rid_d]
    assert recs[rid_d]["legacy"]["duration_ms"] >= 400, recs[rid_d]["legacy"]
    assert recs[rid_a]["fault"][0]["kind"] == "abort" and \
        recs[rid_a]["fault"][0]["status"] == 503, recs[rid_a]
    assert recs[rid_a]["legacy"]["status"] == 503 and recs[rid_a]["verdict"] == "mismatch"
    assert recs[rid_r]["verdict"] == "authoritative_error", recs[rid_r]
    assert recs[rid_r]["fault"][0]["kind"] == "reset", recs[rid_r]
    assert seen_by(legacy, {rid_d, rid_n, rid_a, rid_r}) == {rid_d, rid_n}
    assert seen_by(new, {rid_d, rid_a, rid_r}) == {rid_d, rid_a, rid_r}  # the shadow went out

    st = adm.state()["faults"]
    assert st["enabled"] is True and st["live"] == [], st
    assert st["rules"]["slow"] == [{"side": "authoritative", "delay": {"ms": 400,
                                                                       "jitter_ms": 0},
                                    "percent": 100.0}], st
    text = adm.call("GET", "/metrics").body.decode()
    for route, side, kind, n in (("slow", "authoritative", "delay", 1),
                                 ("flaky", "authoritative", "abort", 2),  # GET and HEAD
                                 ("plain", "legacy", "reset", 1)):
        assert metric(text, "shadowproxy_faults_injected_total", route=route, side=side,
                      kind=kind) == n, (route, text[-1500:])


def test_shadow_faults_never_change_the_client_answer(start):
    doc = routes([{"side": "shadow", "delay": {"ms": 600}}],
                 [{"side": "new", "abort": {"status": 500}}],
                 [{"side": "shadow", "reset": True}])
    legacy, new, p, adm = start(rules=doc, config=ENABLED)
    ids = {}
    for name in ("slow", "flaky", "plain"):
        rid, r, data, took = get(p, f"/echo/{name}/7", name)
        _, r0, data0, _ = get(p, "/echo/other/7", "ref")
        assert r.status == r0.status == 200 and took < 0.5, (name, took)
        assert json.loads(data)["target"] == f"/echo/{name}/7", data
        assert json.loads(data)["stub"] == "legacy", data
        ids[name] = rid
    recs = records_by_id(p, list(ids.values()))
    slow, flaky, plain = (recs[ids[n]] for n in ("slow", "flaky", "plain"))
    assert slow["fault"][0] == {"side": "new", "role": "shadow", "kind": "delay",
                                "source": "rules", "delay_ms": 600}, slow
    assert slow["new"]["duration_ms"] >= 600 and slow["legacy"]["duration_ms"] < 500, slow
    assert flaky["new"]["status"] == 500 and flaky["verdict"] == "mismatch", flaky
    assert plain["verdict"] == "shadow_error" and "injected" in plain["reason"], plain
    assert seen_by(new, set(ids.values())) == {ids["slow"]}  # abort and reset: never sent


def test_time_boxed_faults_through_the_api_and_ctl(start):
    legacy, new, p, adm = start(rules=routes(), config=ENABLED)
    c = ctl(adm, "fault", "add", "--route", "flaky", "--side", "authoritative", "--abort",
            "418", "--for", "2s")
    assert c.returncode == 0 and "fault 1 added: abort 418 on authoritative" in c.stdout, c
    c = ctl(adm, "fault", "add", "--side", "shadow", "--delay", "50ms:20ms", "--percent",
            "100", "--for", "10m")
    assert c.returncode == 0, c
    live = adm.state()["faults"]["live"]
    assert [f["id"] for f in live] == [1, 2], live
    assert live[0]["route"] == "flaky" and live[0]["abort"] == {"status": 418}, live
    assert 0 < live[0]["remaining_s"] <= 2 and live[1]["route"] is None, live
    assert live[1]["delay"] == {"ms": 50, "jitter_ms": 20}, live
    c = ctl(adm, "fault", "list")
    assert c.returncode == 0 and "abort 418 on authoritative" in c.stdout, c
    assert "(every route)" in c.stdout and "delay 50 ms (+0..20) on shadow" in c.stdout, c

    rid1, r, data, _ = get(p, "/echo/flaky/1", "api")
    assert r.status == 418 and json.loads(data)["fault_id"] == 1, data
    rid2, r, _, _ = get(p, "/echo/plain/1", "api-other")
    assert r.status == 200
    # removed when the time is up
    assert wait_for(lambda: len(adm.state()["faults"]["live"]) == 1, 5), adm.state()["faults"]
    rid3, r, _, _ = get(p, "/echo/flaky/2", "expired")
    assert r.status == 200
    recs = records_by_id(p, [rid1, rid2, rid3])
    assert recs[rid1]["fault"] == [
        {"side": "legacy", "role": "authoritative", "kind": "abort", "source": "api", "id": 1,
         "status": 418},
        {"side": "new", "role": "shadow", "kind": "delay", "source": "api", "id": 2,
         "delay_ms": recs[rid1]["fault"][1]["delay_ms"]}], recs[rid1]
    assert 50 <= recs[rid1]["fault"][1]["delay_ms"] <= 70
    assert [f["kind"] for f in recs[rid3]["fault"]] == ["delay"], recs[rid3]

    # clear by id, then everything; bad requests say why
    assert ctl(adm, "fault", "clear", "2").returncode == 0
    assert adm.state()["faults"]["live"] == []
    adm.ok("POST", "/faults", {"action": "add", "side": "new", "reset": True, "for_s": 60})
    c = ctl(adm, "fault", "clear", "--all")
    assert c.returncode == 0 and "1 fault cleared" in c.stdout, c
    for body, status, want in [
            ({"action": "add", "side": "new", "reset": True}, 400, "for_s"),
            ({"action": "add", "side": "old", "reset": True, "for_s": 5}, 400, "side"),
            ({"action": "add", "side": "new", "for_s": 5}, 400, "exactly one"),
            ({"action": "add", "side": "new", "abort": {"status": 99}, "for_s": 5}, 400,
             "abort"),
            ({"action": "add", "side": "new", "reset": True, "for_s": 5, "route": "nope"}, 404,
             "unknown route"),
            ({"action": "clear", "id": 99}, 404, "no live fault"),
            ({"action": "stop"}, 400, "\"action\" must be")]:
        a = adm.call("POST", "/faults", body)
        assert a.status == status and want in a.json()["error"], (body, a)
    c = ctl(adm, "fault", "add", "--side", "new", "--reset")
    assert c.returncode == 2 and "--for" in c.stderr, c


def test_the_share_is_chosen_by_request_id_like_mirror_sampling(start):
    doc = routes(None, [{"side": "authoritative", "abort": {"status": 429}, "percent": 30}])
    legacy, new, p, adm = start(rules=doc, config=ENABLED)
    hits = 0
    for i in range(120):
        rid = f"share-{i}"
        r, _ = p.request("GET", "/echo/flaky/x", headers={"X-Request-Id": rid})
        want = 429 if sample_bucket(rid) < 3000 else 200
        assert r.status == want, (rid, r.status, sample_bucket(rid))
        hits += want == 429
        if i < 3:  # the same id: the same choice
            r2, _ = p.request("GET", "/echo/flaky/x", headers={"X-Request-Id": rid})
            assert r2.status == r.status
    assert 20 <= hits <= 55, hits
    text = adm.call("GET", "/metrics").body.decode()
    extra = sum(sample_bucket(f"share-{i}") < 3000 for i in range(3))
    assert metric(text, "shadowproxy_faults_injected_total", route="flaky",
                  side="authoritative", kind="abort") == hits + extra


def test_a_drain_ends_a_delayed_shadow_and_a_viewer_cannot_add_faults(start, tmp):
    view = os.path.join(tmp, "viewer.token")
    op = os.path.join(tmp, "operator.token")
    for path, tok in ((view, "viewer-" + uuid.uuid4().hex), (op, TOKEN)):
        with open(path, "w") as f:
            f.write(tok)
    cfg = {**ENABLED, "admin": {"token_file": op, "tokens": [
        {"name": "dash", "role": "viewer", "token_file": view}]}}
    doc = routes([{"side": "shadow", "delay": {"ms": 30000}}])
    legacy, new, p, adm = start(rules=doc, config=cfg)
    a = adm.call("POST", "/faults", {"action": "add", "side": "new", "reset": True,
                                     "for_s": 5}, token=open(view).read())
    assert a.status == 403, a
    assert adm.state()["faults"]["live"] == []

    rid, r, _, took = get(p, "/echo/slow/9", "drain")
    assert r.status == 200 and took < 1, took
    t0 = time.monotonic()
    assert p.stop() == 0
    assert time.monotonic() - t0 < 10 * SLOW  # not the 30 s delay
    rec = records_by_id(p, [rid])[rid]
    assert rec["verdict"] == "shadow_error" and rec["reason"] == "proxy shutting down", rec
    assert rec["fault"][0]["kind"] == "delay" and not seen_by(new, {rid})
