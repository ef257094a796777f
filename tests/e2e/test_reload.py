"""SIGHUP and POST /reload re-read the config file: what can change live
changes, and every other key changed in the file since the start is named,
in a restart_required log line, the reload's answer and the
shadowproxy_config_restart_required metric, until the file has its start
value again. A key a command-line flag set is left alone (the flag wins)."""
import json
import re
import signal

from test_admin import (Admin, ctl, metric_samples, start, token_env,  # noqa: F401 (fixtures)
                        wait_for)


def edit(p, change):
    cfg = json.load(open(p.config_path))
    change(cfg)
    with open(p.config_path, "w") as f:
        json.dump(cfg, f)


def restart_metric(adm):
    text = adm.call("GET", "/metrics").body.decode()
    return sorted(labels for labels, _ in metric_samples(text).get(
        "shadowproxy_config_restart_required", []))


def test_reload_applies_live_keys_and_names_the_others(start):
    legacy, new, p, adm = start(config={"shadow": {"timeout_ms": 5000},
                                        "readiness": {"require_shadow": False}})
    assert restart_metric(adm) == []

    def change(cfg):
        cfg["shadow"]["timeout_ms"] = 2000           # needs a restart
        cfg["limits"] = {"max_connections": 100}     # needs a restart
        cfg["log"] = {"level": "debug"}              # live
        cfg["readiness"]["require_shadow"] = True    # live
        cfg["listen"] = "127.0.0.1:1"                # set by --listen: the flag wins
    edit(p, change)
    a = adm.call("POST", "/reload")
    assert a.status == 200, a
    conf = a.json()["config"]
    assert conf["ok"] is True and conf["path"] == p.config_path, conf
    assert conf["restart_required"] == ["limits.max_connections", "shadow.timeout_ms"], conf
    assert re.search(r'level=warn event=restart_required keys="?limits.max_connections,'
                     r'shadow.timeout_ms[" ]', p.stderr()), p.stderr()[-2000:]
    assert restart_metric(adm) == ['{key="limits.max_connections"}', '{key="shadow.timeout_ms"}']
    r = ctl("--admin", f"127.0.0.1:{adm.port}", "reload")
    assert r.returncode == 0 and r.stdout.startswith("rules reloaded"), (r.stdout, r.stderr)
    assert ("warning: changed in the config file, applied only by a restart: "
            "limits.max_connections, shadow.timeout_ms") in r.stderr, r.stderr
    # the live keys changed: debug lines for admin requests, readiness wants the shadow
    adm.call("GET", "/state")
    assert "event=admin_request" in p.stderr()
    new.stop()
    r = adm.call("GET", "/readyz")
    assert r.status == 503 and r.json()["failing"] == ["upstream.new"], r

    # the file back as it started (SIGHUP this time): nothing waits for a restart
    def revert(cfg):
        cfg["shadow"]["timeout_ms"] = 5000
        del cfg["limits"]
    edit(p, revert)
    p.signal(signal.SIGHUP)
    assert wait_for(lambda: restart_metric(adm) == [], 5), restart_metric(adm)
    assert adm.call("POST", "/reload").json()["config"]["restart_required"] == []


def test_an_invalid_config_changes_nothing_and_says_so(start):
    legacy, new, p, adm = start()
    with open(p.config_path, "a") as f:
        f.write("{ not json")
    a = adm.call("POST", "/reload")
    assert a.status == 200, a  # the rules and the state file were re-read all the same
    conf = a.json()["config"]
    assert conf["ok"] is False and conf["errors"] and p.config_path in conf["errors"][0], conf
    assert conf["restart_required"] == []
    assert "event=config_reload_failed" in p.stderr()
    r = ctl("--admin", f"127.0.0.1:{adm.port}", "reload")
    assert r.returncode == 0 and "the config file is invalid" in r.stderr, r.stderr
