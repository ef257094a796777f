"""The comparer pool (compare.threads) and overload sampling: the same
verdicts whatever the thread count; below saturation every exchange is
compared; when the comparers fall behind, the share compared is chosen by
request id (the hash of sample_percent), the rest is counted per route in
`overload` records, and no record is lost."""
import concurrent.futures
import json
import os
import time

from conftest import SLOW
from helpers import json_body_ctl, metrics, raw_request, sample_bucket

def total(samples, name, label=""):
    return sum(v for lbl, v in samples.get(name, []) if label in lbl)


def send(p, rid, ctl=None, ctl_legacy=None, ctl_new=None, target="/x"):
    headers = [("Host", "x"), ("X-Request-Id", rid)]
    for name, v in (("X-Stub-Ctl", ctl), ("X-Stub-Ctl-legacy", ctl_legacy),
                    ("X-Stub-Ctl-new", ctl_new)):
        if v:
            headers.append((name, v))
    r = raw_request(p.port, "GET", target, headers, b"")
    assert r.status == 200, r.status
    return r


# A mix that exercises every kind of verdict the comparison decides: matches,
# mismatches in the body, the status and a header, and shadow failures.
def exchange_mix(n):
    docs = [{"sku": f"S-{i}", "qty": i % 7, "lines": [{"n": j, "p": j * 1.5} for j in range(i % 5)]}
            for i in range(n)]
    out = []
    for i, doc in enumerate(docs):
        other = dict(doc, qty=doc["qty"] + (1 if i % 3 == 0 else 0))
        kind = i % 6
        out.append((f"mix-{i:03d}", json_body_ctl(doc),
                    {0: json_body_ctl(other), 1: None, 2: "status=503", 3: "reset",
                     4: "hdr=X-A:1,ctype=text/plain", 5: json_body_ctl(doc)}[kind]))
    return out


def verdicts_with(stubs, proxy, tmp, threads):
    legacy = stubs("legacy")
    new = stubs("new")
    log = os.path.join(tmp, f"diffs-{threads}.jsonl")
    p = proxy(legacy.url, new.url, diff_log=log, args=("--diff-log-mode", "all"),
              config={"compare": {"threads": threads}, "shadow": {"timeout_ms": 2000}})
    mix = exchange_mix(60)
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda m: send(p, m[0], ctl=m[1], ctl_new=m[2]), mix))
    recs = p.wait_records(len(mix))
    assert p.stop() == 0
    recs = p.records()
    assert len(recs) == len(mix), len(recs)
    return {r["id"]: (r["verdict"], json.dumps(r["differences"], sort_keys=True)) for r in recs}


def test_same_verdicts_whatever_the_thread_count(stubs, proxy, tmp):
    """1 and 3 comparer threads give every exchange the same verdict and the
    same differences; the records leave in any order, each a whole line."""
    one = verdicts_with(stubs, proxy, tmp, 1)
    three = verdicts_with(stubs, proxy, tmp, 3)
    assert one == three
    kinds = {v for v, _ in one.values()}
    assert {"match", "mismatch", "shadow_error"} <= kinds, kinds


def test_threads_default_and_metrics(stubs, proxy):
    """compare.threads defaults to the worker count (2 here); every thread
    has its queue depth, busy time and share in the metrics; below
    saturation every exchange is compared, and nothing is sampled out."""
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url)
    n = 40
    for i in range(n):
        send(p, f"calm-{i}", ctl=json_body_ctl({"i": i}), ctl_new=json_body_ctl({"i": -i}))
    recs = p.wait_records(n - 1)  # calm-0 matches: {"i": 0} == {"i": -0}
    assert len(recs) == n - 1
    m = metrics(p)
    assert {lbl for lbl, _ in m["shadowproxy_comparer_queue_depth"]} == \
        {'{thread="0"}', '{thread="1"}'}
    assert total(m, "shadowproxy_comparer_busy_seconds_total") > 0
    assert all(v == 1 for _, v in m["shadowproxy_comparer_share_ratio"])
    assert total(m, "shadowproxy_compare_offered_total") == n
    assert total(m, "shadowproxy_compare_sampled_out_total") == 0
    assert total(m, "shadowproxy_difflog_records_unlogged_total") == 0
    assert p.stop() == 0
    assert not [r for r in p.records() if r.get("type") == "overload"]


# Slow comparisons: 4 MB of pattern bytes, gzip level 1 on one side and 2 on
# the other, so the wire bytes differ (no fast path) and both are inflated
# before they compare equal; the wire stays small.
SLOW_BODY = "bytes=4000000,gzip=1"
SLOW_BODY_NEW = "bytes=4000000,gzip=2"


def ids_in(lo, hi, n, prefix):
    out, i = [], 0
    while len(out) < n:
        rid = f"{prefix}-{i}"
        if lo <= sample_bucket(rid) < hi:
            out.append(rid)
        i += 1
    return out


def overload_run(stubs, proxy, mode):
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, args=("--diff-log-mode", mode),
              config={"compare": {"threads": 1}, "diff_log": {"queue": 16},
                     "shadow": {"timeout_ms": 60000}})
    low = ids_in(0, 2500, 80, "low")       # compared while the share is over 25%
    high = ids_in(7500, 10000, 80, "high")  # only while it is over 75%
    order = [rid for pair in zip(low, high) for rid in pair]
    with concurrent.futures.ThreadPoolExecutor(12) as ex:
        list(ex.map(lambda rid: send(p, rid, ctl=SLOW_BODY, ctl_new=SLOW_BODY_NEW), order))
    # the client has its answers; the shadows may still be finishing
    deadline = time.monotonic() + 10 * SLOW
    while (total(m := metrics(p), "shadowproxy_verdicts_total") < len(order)
           or total(m, "shadowproxy_difflog_queue_depth") > 0):
        assert time.monotonic() < deadline, ("exchanges without a verdict",
                                             m["shadowproxy_verdicts_total"])
        time.sleep(0.05)
    assert p.stop() == 0
    return p, low, high, m, p.records()


def check_counted(recs, m, n):
    """Every exchange is in a record of its own or in an overload count."""
    assert total(m, "shadowproxy_difflog_records_lost_total") == 0
    overload = [r for r in recs if r.get("type") == "overload"]
    assert overload, "no overload record"
    for r in overload:
        assert r["v"] == 1 and r["route"] == "default"
        assert r["window_ms"] >= 0 and r["window_start"] <= r["window_end"]
        assert r["unlogged"] == sum(r["verdicts"].values())
        assert r["not_compared"] == r["verdicts"].get("skipped", 0)
    return overload


def test_overload_samples_by_request_id_and_counts_the_rest(stubs, proxy):
    """mismatches mode: comparisons that cannot keep up are sampled by
    request id (low hash buckets are kept longer than high ones), the rest
    is counted in overload records and the metrics; no record is lost."""
    p, low, high, m, recs = overload_run(stubs, proxy, "mismatches")
    overload = check_counted(recs, m, len(low) + len(high))
    not_compared = sum(r["not_compared"] for r in overload)
    assert not_compared > 0
    # matches write no record in this mode: every exchange is a match, has a
    # record (a shadow failure on a busy machine) or is in an overload count,
    # and the metrics agree with the records
    own = [r for r in recs if r.get("type") != "overload"]
    assert all(r["verdict"] != "match" for r in own)
    matches = total(m, "shadowproxy_verdicts_total", 'verdict="match"')
    assert matches + len(own) + sum(r["unlogged"] for r in overload) == len(low) + len(high), \
        m["shadowproxy_verdicts_total"]
    assert total(m, "shadowproxy_compare_sampled_out_total") == not_compared
    assert total(m, "shadowproxy_verdicts_total", 'verdict="skipped"') == not_compared


def test_overload_in_mode_all_keeps_the_id_choice(stubs, proxy):
    """all mode: every compared exchange has its record; which were compared
    follows the request id's bucket (the sample_percent hash): the ids of
    the low buckets are compared clearly more often than the high ones."""
    p, low, high, m, recs = overload_run(stubs, proxy, "all")
    overload = check_counted(recs, m, len(low) + len(high))
    own = [r for r in recs if r.get("type") != "overload"]
    compared = {r["id"] for r in own if r["verdict"] == "match"}
    assert len(own) + sum(r["unlogged"] for r in overload) == len(low) + len(high)
    low_in = sum(rid in compared for rid in low)
    high_in = sum(rid in compared for rid in high)
    assert high_in < len(high), "nothing sampled out among the high buckets"
    print("compared: low", low_in, "high", high_in)
    assert low_in > high_in, (low_in, high_in)
