"""`shadowproxy replay`: captured traffic (a diff log in mode "all") re-sent
through the same rules and comparison to real stub upstreams. The replayed
verdicts must reproduce the original ones, the upstreams must receive the
requests as the client sent them, requests that cannot be sent unaltered
(cut or redacted bodies, redacted headers) are skipped and counted, and
sampling decides the same way on every replay."""
import json
import os
import subprocess

import pytest

from conftest import SANITIZED, SLOW, SP_BIN

RULES = {
    "version": 1,
    "defaults": {"compare": {"ignore": ["/**/updated_at"]}},
    "routes": [
        {"name": "customers", "match": {"path_glob": "/api/customers/*"}},
        {"name": "invoices", "match": {"path_glob": "/api/invoices/*"},
         "mirror": {"sample_percent": 50}},
        {"name": "orders-create", "match": {"methods": ["POST"], "path": "/api/orders"}},
    ],
}


def rules_file(tmp, doc=RULES):
    path = os.path.join(tmp, "rules.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def run_replay(tmp, logs, legacy, new, *args, out="replay.jsonl", check=True):
    out = os.path.join(tmp, out)
    cmd = [SP_BIN, "replay", *logs, "--legacy", legacy, "--new", new, "--diff-log", out, *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60 * SLOW)
    for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error"):
        assert bad not in r.stderr, r.stderr[-4000:]
    if check:
        assert r.returncode == 0, f"rc {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r, out


def read_log(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data == b"" or data.endswith(b"\n")
    return [json.loads(line) for line in data.split(b"\n")[:-1]]


def capture(stubs, proxy, tmp, config=None):
    """The original run: known traffic through a real proxy, mode all."""
    legacy, new = stubs("legacy"), stubs("new")
    p = proxy(legacy.url, new.url, config=config,
              args=("--diff-log-mode", "all", "--rules", rules_file(tmp)))
    sent = {}

    def send(method, path, body=None, headers=None, rid=None):
        h = {"X-Request-Id": rid, **(headers or {})}
        if body is not None:
            h["Content-Type"] = "application/json"
        r, _ = p.request(method, path, body=body, headers=h)
        sent[rid] = r.status

    for i in range(1, 9):  # odd ids lack lastname on new: mismatch
        send("GET", f"/api/customers/{i}", rid=f"cust-{i}")
    for i in range(1, 31):  # sampled at 50 %: some not mirrored
        send("GET", f"/api/invoices/{i}", rid=f"inv-{i}")
    for i in range(4):  # with customer_email both 201; without, 422 on new
        doc = {"increment_id": f"10000{i}", "total": 19.99}
        if i % 2 == 0:
            doc["customer_email"] = f"c{i}@example.com"
        send("POST", "/api/orders", body=json.dumps(doc, separators=(",", ":")), rid=f"ord-{i}")
    send("POST", "/api/orders", body='{"customer_email":"a@b.c"}',
         headers={"Authorization": "Bearer magento-secret"}, rid="ord-auth")
    send("POST", "/api/orders", body=json.dumps({"customer_email": "x", "pad": "y" * 5000}),
         rid="ord-big")
    recs = p.wait_records(len(sent))
    assert len(recs) == len(sent)
    p.stop()
    return p.diff_log, {r["id"]: r for r in recs}, legacy, new


def summary_counts(stdout):
    line = next(l for l in stdout.splitlines() if l.startswith("verdicts against the original"))
    same = int(line.split(":")[1].split("same")[0])
    changed = int(line.split(",")[1].split("changed")[0])
    return same, changed


def test_replay_reproduces_verdicts_and_requests(tmp, stubs, proxy):
    log, orig, legacy, new = capture(stubs, proxy, tmp,
                                     config={"diff_log": {"max_body_bytes": 4096}})
    assert orig["ord-big"]["request"].get("body_truncated") is True
    assert orig["ord-auth"]["request"]["headers"][-0] is not None
    verdicts = {rid: r["verdict"] for rid, r in orig.items()}
    assert {verdicts["cust-1"], verdicts["cust-2"]} == {"mismatch", "match"}
    assert "skipped" in verdicts.values()  # sampling at 50 % left some out
    l2, n2 = stubs("legacy2", profile="legacy"), stubs("new2", profile="new")
    r, out = run_replay(tmp, [log], l2.url, n2.url, "--rules", rules_file(tmp),
                        "--concurrency", "4")
    replayed = {rec["id"]: rec for rec in read_log(out)}
    # cut body and redacted Authorization: skipped and counted, never sent
    assert set(replayed) == set(orig) - {"ord-big", "ord-auth"}
    assert "request body cut" in r.stdout and "redacted header" in r.stdout
    assert "skipped 2 record(s)" in r.stdout
    for rid, rec in replayed.items():
        assert rec["verdict"] == verdicts[rid], (rid, rec["verdict"], verdicts[rid])
        assert rec["route"] == orig[rid]["route"]
    assert summary_counts(r.stdout) == (len(replayed), 0)
    # The upstreams got what the client sent: same target, same body bytes,
    # the recorded request id.
    got = {q["headers_map"]["x-request-id"]: q for q in with_map(l2.requests())}
    first = {q["headers_map"]["x-request-id"]: q for q in with_map(legacy.requests())}
    assert set(got) == set(replayed)
    for rid in got:
        assert got[rid]["target"] == first[rid]["target"]
        assert got[rid]["method"] == first[rid]["method"]
        assert got[rid]["body_sha256"] == first[rid]["body_sha256"], rid
    # pipes get no progress line
    assert "\x1b[K" not in r.stderr and "ETA" not in r.stderr


def with_map(reqs):
    for q in reqs:
        q["headers_map"] = {k.lower(): v for k, v in q["headers"]}
    return reqs


def test_sampling_same_on_every_replay(tmp, stubs, proxy):
    log, orig, legacy, new = capture(stubs, proxy, tmp)
    not_sampled = {rid for rid, r in orig.items() if r.get("reason") == "not sampled"}
    assert 3 <= len(not_sampled) <= 27
    runs = []
    for k in range(2):
        _, out = run_replay(tmp, [log], legacy.url, new.url, "--rules", rules_file(tmp),
                            out=f"again-{k}.jsonl")
        runs.append({r["id"] for r in read_log(out) if r.get("reason") == "not sampled"})
    assert runs[0] == runs[1] == not_sampled


def test_set_header_gives_back_redacted_credentials(tmp, stubs, proxy):
    log, orig, legacy, new = capture(stubs, proxy, tmp)
    l2 = stubs("legacy2", profile="legacy")
    r, out = run_replay(tmp, [log], l2.url, new.url, "--rules", rules_file(tmp),
                        "--route", "orders-create", "-H", "Authorization: Bearer replay-token")
    ids = {rec["id"] for rec in read_log(out)}
    assert "ord-auth" in ids and not any(i.startswith("inv-") for i in ids)
    auth = [v for q in l2.requests() for k, v in q["headers"] if k.lower() == "authorization"]
    assert auth and set(auth) == {"Bearer replay-token"}
    # the credential is redacted in the new log as in any other
    assert "replay-token" not in open(out).read()


def test_changed_verdicts_reported(tmp, stubs, proxy):
    """Replaying against a fixed new side: the customers mismatches are gone."""
    log, orig, legacy, new = capture(stubs, proxy, tmp)
    fixed = stubs("fixed", profile="legacy")  # behaves like legacy: everything matches
    r, out = run_replay(tmp, [log], legacy.url, fixed.url, "--rules", rules_file(tmp))
    was_mismatch = {rid for rid, rec in orig.items() if rec["verdict"] == "mismatch"
                    and rid not in ("ord-auth",)}
    assert was_mismatch
    same, changed = summary_counts(r.stdout)
    assert changed == len(was_mismatch)
    assert "changed  cust-1  mismatch -> match" in r.stdout


def test_progress_on_request_and_rate(tmp, stubs, proxy):
    log, orig, legacy, new = capture(stubs, proxy, tmp)
    r, out = run_replay(tmp, [log], legacy.url, new.url, "--rate", "200/s", "--progress",
                        "--rules", rules_file(tmp))
    assert "\x1b[K" in r.stderr and "ETA" in r.stderr and "mismatches" in r.stderr
    secs = float(r.stdout.split(" in ")[1].split(" s")[0])
    assert secs >= (len(orig) - 2) / 200 * 0.9  # paced, not a burst


def test_gzip_log_torn_line_and_existing_output(tmp, stubs, proxy):
    import gzip
    log, orig, legacy, new = capture(stubs, proxy, tmp)
    data = open(log, "rb").read()
    gz = os.path.join(tmp, "orig.jsonl.gz")
    with gzip.open(gz, "wb") as f:
        f.write(data + b'{"v":1,"id":"torn","method":"GET"')  # cut by kill -9
    r, out = run_replay(tmp, [gz], legacy.url, new.url, "--rules", rules_file(tmp))
    assert len(read_log(out)) == len(orig) - 1  # ord-auth: redacted Authorization
    assert "1 torn" in r.stderr
    # an existing output is never mixed into
    r, _ = run_replay(tmp, [gz], legacy.url, new.url, check=False)
    assert r.returncode == 2 and "--overwrite" in r.stderr
    r, _ = run_replay(tmp, [gz], legacy.url, new.url, "--overwrite")
    assert r.returncode == 0


@pytest.mark.parametrize("args,msg", [
    ((), "--legacy and --new"),
    (("--legacy", "http://127.0.0.1:1", "--new", "ftp://x"), "URL"),
    (("--legacy", "http://127.0.0.1:1", "--new", "http://127.0.0.1:2", "--rate", "fast"), "--rate"),
    (("--legacy", "http://127.0.0.1:1", "--new", "http://127.0.0.1:2", "-H", "no colon"), "--set-header"),
])
def test_usage_errors(tmp, args, msg):
    log = os.path.join(tmp, "x.jsonl")
    open(log, "w").close()
    r = subprocess.run([SP_BIN, "replay", log, *args, "-d", os.path.join(tmp, "o.jsonl")],
                       capture_output=True, text=True, timeout=10 * SLOW)
    assert r.returncode == 2 and msg in r.stderr, r.stderr


def test_unreadable_log_fails(tmp, stubs):
    legacy = stubs("legacy")
    r, _ = run_replay(tmp, [os.path.join(tmp, "missing.jsonl")], legacy.url, legacy.url,
                      check=False)
    assert r.returncode == 1 and "missing.jsonl" in r.stderr


def matrix_rows(stdout):
    """{route: {transition: n}} from the transitions table."""
    lines = stdout.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("transitions against the original"))
    rows = {}
    for l in lines[start + 2:]:
        if not l.startswith("  "):
            break
        parts = l.split()
        nums = [int(x) for x in parts[-5:]]
        rows[" ".join(parts[:-5])] = dict(zip(
            ["fixed", "regressed", "still_differing", "unchanged", "not_compared"], nums))
    return rows


def test_transition_matrix_and_fail_if_regressions(tmp, stubs, proxy):
    """Per route: fixed (mismatch -> match), regressed (match -> mismatch),
    still differing, unchanged, not compared; --fail-if 'regressions>0'
    exits 3 when the replay broke something that agreed."""
    log, orig, legacy, new = capture(stubs, proxy, tmp)
    # against a side like legacy: every mismatch is fixed, nothing regresses
    fixed = stubs("fixed", profile="legacy")
    summary = os.path.join(tmp, "fixed-summary.json")
    r, _ = run_replay(tmp, [log], legacy.url, fixed.url, "--rules", rules_file(tmp),
                      "--fail-if", "regressions>0", "--json", summary, out="fixed.jsonl")
    rows = matrix_rows(r.stdout)
    # --json: the same matrix, and the counts
    with open(summary) as f:
        js = json.load(f)
    assert js["transitions"]["routes"] == {k: v for k, v in rows.items() if k != "(all routes)"}
    for k in ("fixed", "regressed", "unchanged"):
        assert js["transitions"]["total"][k] == sum(t[k] for t in js["transitions"]["routes"].values())
    assert js["replayed"] == js["answered"] + js["failed"] and js["replayed"] > 0
    assert js["verdicts"]["mismatch"] + js["verdicts"]["match"] <= js["replayed"]
    assert js["diff_log"].endswith("fixed.jsonl")
    nj, _ = run_replay(tmp, [log], legacy.url, fixed.url, "--json", os.path.join(tmp, "no", "s.json"),
                       out="nojson.jsonl", check=False)
    assert nj.returncode == 1 and "cannot write --json" in nj.stderr, nj.stderr
    cust = [rec for rid, rec in orig.items() if rid.startswith("cust-")]
    assert rows["customers"]["fixed"] == sum(x["verdict"] == "mismatch" for x in cust)
    assert rows["customers"]["unchanged"] == sum(x["verdict"] == "match" for x in cust)
    assert rows["customers"]["regressed"] == 0
    assert r.returncode == 0
    # the other way round: a log of the fixed run replayed against the real
    # new side regresses the customers that agreed
    fixed_log = os.path.join(tmp, "fixed.jsonl")
    r, _ = run_replay(tmp, [fixed_log], legacy.url, new.url, "--rules", rules_file(tmp),
                      "--fail-if", "regressions>0", out="back.jsonl", check=False)
    rows = matrix_rows(r.stdout)
    assert r.returncode == 3, r.stdout + r.stderr
    assert rows["customers"]["regressed"] == sum(x["verdict"] == "mismatch" for x in cust) > 0
    assert "--fail-if regressions>0 holds" in r.stderr
    r, _ = run_replay(tmp, [fixed_log], legacy.url, new.url, "--rules", rules_file(tmp),
                      "--fail-if", "route:invoices:regressions>0", out="inv.jsonl", check=False)
    assert r.returncode in (0, 3)
    r, _ = run_replay(tmp, [fixed_log], legacy.url, new.url, "--rules", rules_file(tmp),
                      "--fail-if", "route:custmers:regressions>0", out="typo.jsonl", check=False)
    assert r.returncode == 2 and 'route "custmers"' in r.stderr
    r, _ = run_replay(tmp, [log], legacy.url, new.url, "--fail-if", "regresions>0",
                      out="bad.jsonl", check=False)
    assert r.returncode == 2 and "regressions" in r.stderr


def test_speed_keeps_the_recorded_timing_and_loop_repeats(tmp, stubs, proxy):
    """--speed X sends at the recorded gaps (ts), X times as fast; --loop N
    replays the logs N times; with stdin --loop is refused."""
    import time
    log, orig, legacy, new = capture(stubs, proxy, tmp)
    recs = [orig[f"cust-{i}"] for i in range(1, 4)]
    for k, r in enumerate(recs):  # 0 s, 1 s, 2 s apart
        r["ts"] = f"2026-11-24T13:00:0{k}.000Z"
    timed = os.path.join(tmp, "timed.jsonl")
    with open(timed, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in recs)
    t0 = time.monotonic()
    r, out = run_replay(tmp, [timed], legacy.url, new.url, "--rules", rules_file(tmp),
                        "--speed", "2", out="speed2.jsonl")
    took = time.monotonic() - t0
    assert took >= 0.95, took        # 2 s of recorded time at twice the speed
    assert len(read_log(out)) == 3
    t0 = time.monotonic()
    run_replay(tmp, [timed], legacy.url, new.url, "--speed", "50", out="speed50.jsonl")
    assert time.monotonic() - t0 < took
    r, out = run_replay(tmp, [timed], legacy.url, new.url, "--rules", rules_file(tmp),
                        "--loop", "3", "--speed", "100", out="loop.jsonl")
    got = read_log(out)
    # a looped request repeats its X-Request-Id: the record of a repeat gets a
    # new id and keeps the client's in client_request_id (docs/diff-log.md)
    assert len(got) == 9
    assert sorted({g.get("client_request_id", g["id"]) for g in got}) == ["cust-1", "cust-2", "cust-3"]
    assert len({g["id"] for g in got}) == 9
    assert "replayed 9 request(s)" in r.stdout
    same, changed = summary_counts(r.stdout)
    assert same + changed == 3  # each id set against its original once
    for bad, msg in ((["--speed", "0"], "--speed"), (["--loop", "0"], "--loop"),
                     (["--loop", "2"], "stdin")):
        cmd = [SP_BIN, "replay", "-" if "stdin" == msg else timed, "--legacy", legacy.url,
               "--new", new.url, "--diff-log", os.path.join(tmp, "x.jsonl"), *bad]
        p = subprocess.run(cmd, capture_output=True, text=True, input="", timeout=30 * SLOW)
        assert p.returncode == 2 and msg in p.stderr, (bad, p.stderr)
