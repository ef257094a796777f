"""The shadow leg: it never changes or slows what the client gets; its
failures, timeouts, budget (in-flight cap, circuit breaker) and being
disabled show up as verdicts."""
import json
import threading
import time

import pytest

from conftest import SLOW, free_port
from helpers import (NOT_ATTEMPTED, json_body_ctl, pattern_sha256, raw_request,
                     metric, sha256, the_request, values)

LEGACY_DOC = {"order": {"id": 7, "total": 19.99}, "items": [{"sku": "24-MB01", "qty": 1}]}


def get(p, rid, ctl_new=None, ctl=None, target="/x"):
    headers = [("Host", "x"), ("X-Request-Id", rid),
               ("X-Stub-Ctl", ctl if ctl is not None else json_body_ctl(LEGACY_DOC))]
    if ctl_new:
        headers.append(("X-Stub-Ctl-new", ctl_new))
    t0 = time.monotonic()
    r = raw_request(p.port, "GET", target, headers)
    return r, time.monotonic() - t0


def assert_client_unaffected(r):
    assert r.status == 200, r
    assert r.header("X-Stub-Name") == "legacy"
    assert json.loads(r.body) == LEGACY_DOC


def test_slow_shadow_does_not_delay_client(stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"shadow": {"timeout_ms": 500}},
              args=("--diff-log-mode", "all"))
    get(p, "warm-up")  # first connections, first-use costs
    t_sent = time.monotonic()
    r, elapsed = get(p, "slow-shadow", ctl_new="delay=2000")
    assert_client_unaffected(r)
    assert elapsed < 0.25, f"client waited {elapsed:.3f}s for a shadow"
    rec = p.wait_record("slow-shadow")
    # The record comes when the shadow times out, not when it would have answered.
    assert time.monotonic() - t_sent < 1.8 * SLOW
    assert rec["verdict"] == "shadow_timeout"
    assert rec["reason"] == "timeout"
    leg = rec["new"]
    assert leg["attempted"] is True
    assert leg["status"] is None
    assert leg["body"] is None and leg["body_format"] == "none"
    assert leg["error"].startswith("timeout: "), leg["error"]
    assert 450 <= leg["duration_ms"] < 1500 * SLOW, leg["duration_ms"]
    assert rec["legacy"]["status"] == 200
    assert rec["legacy"]["body"] == LEGACY_DOC
    assert rec["differences"] == []


def test_shadow_timeout_is_the_smaller_of_shadow_and_upstream(stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"shadow": {"timeout_ms": 5000},
                                           "new": {"timeout_ms": 300}})
    r, elapsed = get(p, "small-timeout", ctl_new="delay=2000")
    assert_client_unaffected(r)
    rec = p.wait_record("small-timeout")
    assert rec["verdict"] == "shadow_timeout"
    assert 250 <= rec["new"]["duration_ms"] < 1200 * SLOW


def test_shadow_slower_than_authoritative_but_in_time_is_compared(stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"shadow": {"timeout_ms": 3000}},
              args=("--diff-log-mode", "all"))
    get(p, "warm-up")
    r, elapsed = get(p, "late-shadow", ctl_new="delay=400")
    assert_client_unaffected(r)
    assert elapsed < 0.3, elapsed
    rec = p.wait_record("late-shadow")
    assert rec["verdict"] == "match"
    assert rec["new"]["duration_ms"] >= 400
    assert rec["new"]["body"] == LEGACY_DOC


def test_shadow_down(stubs, proxy):
    legacy = stubs("legacy")
    p = proxy(legacy.url, f"http://127.0.0.1:{free_port()}")
    r, _ = get(p, "shadow-down")
    assert_client_unaffected(r)
    rec = p.wait_record("shadow-down")
    assert rec["verdict"] == "shadow_error"
    assert rec["reason"] == "connection refused"
    assert rec["new"]["attempted"] is True
    assert rec["new"]["status"] is None
    assert rec["new"]["error"].startswith("connection refused: ")
    assert rec["legacy"]["status"] == 200 and rec["legacy"]["error"] is None
    assert rec["differences"] == []


@pytest.mark.parametrize("directive,cause", [
    ("reset", "connection reset"),
    ("garbage", "bad response"),
    ("close", "empty reply"),
    ("bytes=5000,cut=100", "truncated response"),
])
def test_shadow_misbehaves(pair, directive, cause):
    legacy, new, p = pair
    rid = "sh-" + directive.replace("=", "").replace(",", "-")
    r, _ = get(p, rid, ctl_new=directive)
    assert_client_unaffected(r)
    rec = p.wait_record(rid)
    assert rec["verdict"] == "shadow_error"
    assert rec["reason"] == cause
    assert rec["new"]["status"] is None
    assert rec["new"]["error"].startswith(cause + ": "), rec["new"]["error"]
    assert rec["differences"] == []


def test_shadow_huge_body_does_not_affect_client(pair):
    legacy, new, p = pair
    n = 30_000_000
    r, elapsed = get(p, "sh-huge", ctl_new=f"bytes={n}")
    assert_client_unaffected(r)
    rec = p.wait_record("sh-huge", timeout=20)
    assert rec["verdict"] == "mismatch"
    nl = rec["new"]
    assert nl["status"] == 200
    assert nl["body_format"] == "oversize" and nl["body"] is None
    assert nl["body_bytes"] == n
    assert nl["body_sha256"] == pattern_sha256(n)
    # Both sides say application/json (the generic ctype= directive reaches
    # both stubs): only the body differs. An oversize body's format is not
    # known, so the kind is "changed", not "type" (proxy/diff/compare.c).
    assert rec["differences"] == [
        {"where": "body", "path": "", "kind": "changed",
         "legacy": {"format": "json", "bytes": len(r.body), "sha256": sha256(r.body)},
         "new": {"format": "oversize", "bytes": n, "sha256": pattern_sha256(n)}},
    ]


def test_circuit_breaker_opens_probes_and_closes(stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    open_ms = 400 * SLOW
    p = proxy(legacy.url, new.url,
              config={"shadow": {"breaker_failures": 3, "breaker_open_ms": open_ms}},
              args=("--diff-log-mode", "all", "--workers", "1"))

    def step(rid, fail):
        r, _ = get(p, rid, ctl_new="reset" if fail else None)
        assert_client_unaffected(r)
        return p.wait_record(rid)

    for i in range(3):
        rec = step(f"br-fail-{i}", True)
        assert rec["verdict"] == "shadow_error", rec
    rec = step("br-open-1", False)
    assert rec["verdict"] == "shadow_dropped"
    assert "breaker" in rec["reason"]
    assert rec["new"] == NOT_ATTEMPTED
    # never compared: the answer's length, not its content
    assert rec["legacy"]["status"] == 200 and rec["legacy"]["body"] is None
    assert rec["legacy"]["body_format"] == "omitted" and rec["legacy"]["body_bytes"] > 0
    rec = step("br-open-2", True)
    assert rec["verdict"] == "shadow_dropped"
    time.sleep(open_ms / 1000 + 0.1)
    rec = step("br-probe-fails", True)  # half-open: one probe, it fails
    assert rec["verdict"] == "shadow_error"
    rec = step("br-reopened", False)
    assert rec["verdict"] == "shadow_dropped" and "breaker" in rec["reason"]
    time.sleep(open_ms / 1000 + 0.1)
    rec = step("br-probe-ok", False)  # the probe succeeds: closed again
    assert rec["verdict"] == "match"
    rec = step("br-closed", False)
    assert rec["verdict"] == "match"
    shadow_ids = [values(q["headers"], "X-Request-Id")[0] for q in new.requests()]
    assert shadow_ids == ["br-fail-0", "br-fail-1", "br-fail-2", "br-probe-fails",
                          "br-probe-ok", "br-closed"]


def test_circuit_breaker_with_shadow_down(stubs, proxy):
    legacy = stubs("legacy")
    p = proxy(legacy.url, f"http://127.0.0.1:{free_port()}",
              config={"shadow": {"breaker_failures": 3, "breaker_open_ms": 60000}},
              args=("--workers", "1"))
    verdicts = []
    for i in range(6):
        r, _ = get(p, f"bd-{i}")
        assert_client_unaffected(r)
        verdicts.append(p.wait_record(f"bd-{i}"))
    assert [v["verdict"] for v in verdicts] == ["shadow_error"] * 3 + ["shadow_dropped"] * 3
    for v in verdicts[3:]:
        assert "breaker" in v["reason"]
        assert v["new"] == NOT_ATTEMPTED


def four_at_a_cap_of_one(stubs, proxy, mode, prefix):
    """Four clients at once, the shadow slow (1 s) and its in-flight cap 1:
    one is mirrored, three are dropped. The proxy and each client's
    (answer, seconds), by client number."""
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url,
              config={"shadow": {"max_in_flight": 1, "timeout_ms": 5000}},
              args=("--diff-log-mode", mode, "--workers", "1"))
    results = {}

    def client(i):
        results[i] = get(p, f"{prefix}-{i}", ctl_new="delay=1000")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(results) == [0, 1, 2, 3]
    return p, new, results


def test_max_in_flight_cap_drops_shadows(stubs, proxy):
    p, new, results = four_at_a_cap_of_one(stubs, proxy, "all", "cap")
    for r, elapsed in results.values():
        assert_client_unaffected(r)
        assert elapsed < 0.5, elapsed
    recs = p.wait_records(4)
    assert sorted(x["id"] for x in recs) == ["cap-0", "cap-1", "cap-2", "cap-3"]
    dropped = [x for x in recs if x["verdict"] == "shadow_dropped"]
    compared = [x for x in recs if x["verdict"] == "match"]
    assert len(dropped) == 3 and len(compared) == 1, [x["verdict"] for x in recs]
    for x in dropped:
        assert "flight" in x["reason"], x["reason"]
        assert x["new"] == NOT_ATTEMPTED
    assert [values(q["headers"], "X-Request-Id") for q in new.requests()] == \
        [[compared[0]["id"]]]


def test_max_in_flight_drops_are_counted_in_mismatches_mode(stubs, proxy):
    """In mismatches mode a shadow dropped at the in-flight cap gets no
    record of its own (a slow shadow at full traffic would flood the
    comparers and the log with one per request): the route's overload
    records count it, and the verdict metrics do at once."""
    p, _, results = four_at_a_cap_of_one(stubs, proxy, "mismatches", "capm")
    for r, _ in results.values():
        assert_client_unaffected(r)
    assert metric(p, "shadowproxy_shadow_dropped_total") == 3
    assert metric(p, 'shadowproxy_verdicts_total{verdict="shadow_dropped"}') == 3
    p.stop()
    recs = p.records()
    assert not [x for x in recs if "flight" in x.get("reason", "")], recs
    counted = sum(x["verdicts"].get("shadow_dropped", 0) for x in recs
                  if x.get("type") == "overload")
    assert counted == 3, recs


def test_shadow_disabled_is_skipped(stubs, proxy):
    """The record of a not-mirrored exchange (mode all: in mismatches mode
    it is counted in not_mirrored records, test_not_mirrored.py)."""
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"shadow": {"enabled": False}},
              args=("--diff-log-mode", "all"))
    r, _ = get(p, "disabled-1")
    assert_client_unaffected(r)
    rec = p.wait_record("disabled-1")
    assert rec["verdict"] == "skipped"
    assert rec["reason"] == "shadow disabled"
    assert rec["new"] == NOT_ATTEMPTED
    assert rec["legacy"]["status"] == 200 and rec["legacy"]["headers"]
    assert rec["legacy"]["body"] is None and rec["legacy"]["body_format"] == "omitted"
    assert rec["legacy"]["body_bytes"] == len(r.body)
    assert rec["differences"] == []
    time.sleep(0.1)
    assert new.requests() == []


def test_authority_new(stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, args=("--authority", "new", "--diff-log-mode", "all"))
    r = raw_request(p.port, "POST", "/echo/auth", [("Host", "x"), ("X-Request-Id", "auth-new"),
                                                   ("Content-Length", "3")], b"abc")
    assert r.status == 200
    assert r.header("X-Stub-Name") == "new"
    assert r.json()["stub"] == "new"
    assert values(the_request(legacy, "auth-new")["headers"], "X-Shadow-Request") == ["1"]
    assert values(the_request(new, "auth-new")["headers"], "X-Shadow-Request") == []
    assert the_request(legacy, "auth-new")["body_sha256"] == sha256(b"abc")
    rec = p.wait_record("auth-new")
    assert rec["authority"] == "new"
    assert rec["legacy"]["body"]["stub"] == "legacy"
    assert rec["new"]["body"]["stub"] == "new"


def test_hundreds_of_slow_shadows_in_flight_all_compared(stubs, proxy):
    """200 shadow transfers in flight on one worker: more than one curl
    multi handle's share (upstream.h: UPSTREAM_SHARD_CONNS, 64), so they
    spread over several shards. Every client gets the legacy answer and
    every exchange is compared, none lost or mixed up. Once the burst is
    over, the curl handles it left idle are freed down to 64 per upstream
    (upstream_trim, a 10 s period; tests/unit/test_upstream.c counts them),
    and the next burst reuses their places."""
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"shadow": {"timeout_ms": 10000}},
              args=("--diff-log-mode", "all", "--workers", "1"))
    n, results = 200, {}

    def client(i):
        results[i] = get(p, f"many-{i}", ctl_new="delay=800")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30 * SLOW)
    assert sorted(results) == list(range(n))
    for r, elapsed in results.values():
        assert_client_unaffected(r)
    recs = p.wait_records(n, timeout=30)
    assert sorted(x["id"] for x in recs) == sorted(f"many-{i}" for i in range(n))
    assert {x["verdict"] for x in recs} == {"match"}, [x["verdict"] for x in recs][:10]
    assert len(new.requests()) == n

    deadline = time.monotonic() + 35 * SLOW  # two or three periods
    while metric(p, "shadowproxy_upstream_handles_trimmed_total") == 0:
        assert time.monotonic() < deadline, "the burst's idle handles were not freed"
        time.sleep(0.5)
    threads = [threading.Thread(target=client, args=(i,)) for i in range(n, n + 100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30 * SLOW)
    recs = p.wait_records(n + 100, timeout=30)
    assert {x["verdict"] for x in recs} == {"match"}, [x["verdict"] for x in recs][:10]


def test_small_shadow_recv_buffer_reads_whole_answers(stubs, proxy):
    """shadow.recv_buffer 1024 (curl's minimum, to hold less memory per
    waiting shadow): a slow shadow's 40,000-byte answer is read whole in
    1 KiB pieces and compared (match), and an oversize one is hashed over
    every byte; with the authority flipped to new, the client still gets
    new's whole answer (the authoritative side keeps 16 KiB)."""
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url,
              config={"shadow": {"recv_buffer": 1024, "timeout_ms": 5000},
                      "compare": {"max_body_bytes": 100_000}},
              args=("--diff-log-mode", "all"))
    n = 40_000
    r, _ = get(p, "rb-slow", ctl=f"bytes={n}", ctl_new="delay=300")
    assert r.status == 200 and len(r.body) == n
    rec = p.wait_record("rb-slow")
    assert rec["verdict"] == "match", rec["differences"]
    assert rec["new"]["body_bytes"] == n and rec["new"]["duration_ms"] >= 300
    big = 300_000
    r, _ = get(p, "rb-big", ctl=f"bytes={big}", ctl_new="delay=100")
    assert r.status == 200 and len(r.body) == big
    rec = p.wait_record("rb-big", timeout=20)
    assert rec["new"]["body_bytes"] == big
    assert rec["new"]["body_sha256"] == pattern_sha256(big)

    q = proxy(legacy.url, new.url, config={"shadow": {"recv_buffer": 1024}},
              args=("--authority", "new", "--diff-log-mode", "all"))
    r, _ = get(q, "rb-auth-new", ctl=f"bytes={n}")
    assert r.status == 200 and r.header("X-Stub-Name") == "new"
    assert len(r.body) == n
    rec = q.wait_record("rb-auth-new")
    assert rec["verdict"] == "match", rec["differences"]


def test_auto_recv_buffer_follows_the_routes_answers(stubs, proxy):
    """shadow.recv_buffer "auto" (the default): a slow shadow holds curl's
    16 KiB receive buffer until the route has seen 16 answers, then 1 KiB
    while its answers are small; a 40,000-byte answer on that route is
    still read whole and compared (in more reads), and the next slow shadow
    holds 16 KiB again. One worker: the sizes are counted per worker.
    shadow.client "curl": the lean client (the default for an http://
    shadow) holds no receive buffer per transfer, so it counts none (checked
    at the end)."""
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"shadow": {"timeout_ms": 10000, "client": "curl"}},
              args=("--workers", "1", "--diff-log-mode", "all"))

    def held_by_a_slow_shadow(rid, ctl):
        r, _ = get(p, rid, ctl=ctl, ctl_new="delay=1500")
        assert r.status == 200
        deadline = time.monotonic() + 1.2
        while metric(p, "shadowproxy_shadow_in_flight") != 1:
            assert time.monotonic() < deadline, "the slow shadow is not in flight"
            time.sleep(0.02)
        held = metric(p, "shadowproxy_shadow_recv_buffer_bytes")
        rec = p.wait_record(rid, timeout=10)
        assert rec["verdict"] == "match", rec
        assert metric(p, "shadowproxy_shadow_recv_buffer_bytes") == 0
        return held

    assert held_by_a_slow_shadow("cold", "bytes=500") == 16384
    for i in range(8):  # both sides' answers count: 16 answers
        r, _ = get(p, f"warm-{i}", ctl="bytes=500")
        assert r.status == 200
        assert p.wait_record(f"warm-{i}")["verdict"] == "match"
    assert held_by_a_slow_shadow("warm", "bytes=500") == 1024
    n = 40_000
    r, _ = get(p, "large", ctl=f"bytes={n}", ctl_new="delay=300")
    assert r.status == 200 and len(r.body) == n
    rec = p.wait_record("large")
    assert rec["verdict"] == "match", rec["differences"]
    assert rec["new"]["body_bytes"] == n
    assert held_by_a_slow_shadow("after-large", "bytes=500") == 16384

    p = proxy(legacy.url, new.url, config={"shadow": {"timeout_ms": 10000}},
              args=("--workers", "1", "--diff-log-mode", "all"))
    assert held_by_a_slow_shadow("lean", "bytes=500") == 0
