"""Mirroring yields to a saturated worker (docs/config.md,
shadow.busy_min_percent): while the worker's loop is 90% busy or more, only
a share of requests chosen by request id is mirrored, down to the floor;
the rest are shadow_dropped with their reason and counted, and the share
comes back once the load ends. The clients get every answer throughout."""
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request

from conftest import SLOW
from helpers import metric, sample_bucket

REASON = "worker saturated: mirroring yields to the clients"


def flood_until(p, tmp, done, limit_s=20):
    """curl's own parallel transfers, fast enough to saturate one worker,
    until done() or limit_s; then the flood is stopped."""
    urls = os.path.join(tmp, "urls.cfg")
    with open(urls, "w") as f:
        for i in range(200000):
            f.write(f'url = "http://127.0.0.1:{p.port}/api/orders/{i % 50 + 1}"\n'
                    'output = "/dev/null"\n')
    flood = subprocess.Popen(["curl", "-s", "-Z", "--parallel-max", "64", "-K", urls],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + limit_s * SLOW
        while time.monotonic() < deadline and flood.poll() is None:
            if done():
                return True
            time.sleep(0.1)
        return done()
    finally:
        flood.kill()
        flood.wait()


def mirrored_after_the_load(p, n=20):
    """Once the worker is idle the share grows back (0.1 every 250 ms):
    every request is mirrored again within a few seconds."""
    deadline = time.monotonic() + 15 * SLOW
    while True:
        sent = metric(p, "shadowproxy_shadow_sent_total")
        for i in range(n):
            urllib.request.urlopen(f"http://127.0.0.1:{p.port}/api/orders/{i + 1}",
                                   timeout=5 * SLOW).read()
        if metric(p, "shadowproxy_shadow_sent_total") - sent == n:
            return
        assert time.monotonic() < deadline, "mirroring did not come back after the load"
        time.sleep(0.5)


def test_mirroring_yields_while_the_worker_is_saturated(stubs, proxy, tmp):
    legacy, new = stubs("legacy"), stubs("new")
    p = proxy(legacy.url, new.url, args=("--workers", "1"),
              config={"shadow": {"busy_min_percent": 1},
                      "diff_log": {"mode": "all", "queue": 1000000}})
    assert flood_until(p, tmp, lambda: metric(p, "shadowproxy_shadow_yielded_total") > 200), \
        "mirroring never yielded to the saturated worker"
    yielded = metric(p, "shadowproxy_shadow_yielded_total")
    assert metric(p, "shadowproxy_shadow_dropped_total") >= yielded
    mirrored_after_the_load(p)

    # Every yielded exchange has its record and reason; a request inside
    # the floor's share (bucket below 1% * 100) is never the one dropped.
    recs = [r for r in p.records() if r.get("reason") == REASON]
    assert recs, "no record says the worker was saturated"
    for r in recs:
        assert r["verdict"] == "shadow_dropped", r
        assert r["legacy"]["status"] == 200 and not r["new"]["attempted"], r
        assert sample_bucket(r["id"]) >= 100, r["id"]


def test_yielded_exchanges_are_counted_per_route_in_mismatches_mode(stubs, proxy, tmp):
    """In mismatches mode a yielded exchange gets no record of its own (the
    log would be flooded just when the CPU is short): it is counted in the
    route's overload records, and nothing is lost."""
    legacy, new = stubs("legacy"), stubs("new")
    p = proxy(legacy.url, new.url, args=("--workers", "1"),
              config={"shadow": {"busy_min_percent": 1}, "diff_log": {"mode": "mismatches"}})
    assert flood_until(p, tmp, lambda: metric(p, "shadowproxy_shadow_yielded_total") > 200), \
        "mirroring never yielded to the saturated worker"
    mirrored_after_the_load(p)
    yielded = metric(p, "shadowproxy_shadow_yielded_total")
    p.stop()
    recs = p.records()
    assert not [r for r in recs if r.get("reason") == REASON]
    counted = sum(r["verdicts"].get("shadow_dropped", 0) for r in recs
                  if r.get("type") == "overload")
    assert counted == yielded, (counted, yielded)


def test_one_client_back_to_back_is_not_yielded(stubs, proxy, tmp):
    """One connection sending as fast as it can keeps the worker's loop
    about 90% busy, but no request waits behind another (or behind a
    mirror): every request is still mirrored."""
    legacy, new = stubs("legacy"), stubs("new")
    p = proxy(legacy.url, new.url, args=("--workers", "1"),
              config={"shadow": {"busy_min_percent": 1}})
    # wrk: one connection, the next request sent the moment the answer
    # came (curl's own loop is too slow to keep the worker this busy).
    wrk = shutil.which("wrk")
    assert wrk, "wrk is missing: make test-deps installs it"
    run = subprocess.Popen([wrk, "-t1", "-c1", "-d4s", f"http://127.0.0.1:{p.port}/api/orders/1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    busiest = 0.0
    try:
        deadline = time.monotonic() + 30 * SLOW
        while run.poll() is None and time.monotonic() < deadline:
            url = f"http://127.0.0.1:{p.admin_port}/metrics"
            text = urllib.request.urlopen(url, timeout=5 * SLOW).read().decode()
            m = re.search(r'(?m)^shadowproxy_worker_busy_ratio\{worker="0"\} (\S+)$', text)
            busiest = max(busiest, float(m.group(1)) if m else 0.0)
            time.sleep(0.2)
    finally:
        run.kill()
        run.wait()
    assert metric(p, "shadowproxy_shadow_yielded_total") == 0, f"busiest {busiest}"
    assert metric(p, "shadowproxy_shadow_sent_total") == metric(p, "shadowproxy_requests_total")


def test_no_yield_at_100_percent(stubs, proxy, tmp):
    """busy_min_percent 100: the same flood saturates the worker (the
    comparers yield) and every request is still offered to the shadow."""
    legacy, new = stubs("legacy"), stubs("new")
    p = proxy(legacy.url, new.url, args=("--workers", "1"),
              config={"shadow": {"busy_min_percent": 100}})

    def saturated():
        url = f"http://127.0.0.1:{p.admin_port}/metrics"
        text = urllib.request.urlopen(url, timeout=5 * SLOW).read().decode()
        return re.search(r'(?m)^shadowproxy_comparer_yielding\{thread="0"\} 1$', text)

    assert flood_until(p, tmp, saturated), "the flood never saturated the worker"
    assert metric(p, "shadowproxy_shadow_yielded_total") == 0


def test_yield_comes_before_the_id_ledger(stubs, proxy, tmp):
    """A saturated worker yields before it rewrites correlated ids: the
    ledger lookups (a lock each) would be CPU the clients need, for a
    mirror not sent. Every id here is unknown, so without that order no
    request would ever reach the yield (all id_unknown)."""
    legacy, new = stubs("legacy"), stubs("new")
    rules = os.path.join(tmp, "ids-rules.json")
    with open(rules, "w") as f:
        json.dump({"version": 1, "routes": [
            {"name": "orders", "match": {"path_glob": "/api/orders/*"},
             "ids": {"use": [{"name": "order", "path_template": "/api/orders/{id}"}]}}]}, f)
    p = proxy(legacy.url, new.url, args=("--workers", "1", "--rules", rules),
              config={"shadow": {"busy_min_percent": 1}, "diff_log": {"mode": "mismatches"}})
    assert flood_until(p, tmp, lambda: metric(p, "shadowproxy_shadow_yielded_total") > 200), \
        "mirroring never yielded: the id ledger was asked first"
    # Those yielded were never looked up; the rest were, and missed (read
    # once the last requests of the killed flood are done).
    deadline = time.monotonic() + 5 * SLOW
    while True:
        misses = metric(p, "shadowproxy_ids_misses_total")
        yielded = metric(p, "shadowproxy_shadow_yielded_total")
        total = metric(p, "shadowproxy_requests_total")
        if misses + yielded == total or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert misses + yielded == total, (misses, yielded, total)
