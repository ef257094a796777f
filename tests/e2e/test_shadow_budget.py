"""The shadow answers' memory budget (shadow.max_buffered_bytes,
docs/config.md): the bytes running shadow transfers hold, every worker
together, are bounded in total, not only per answer. A shadow answer that
would pass the budget is not read further: its exchange is shadow_dropped
("over the shadow memory budget"), counted, and the client never notices;
the bytes come back when an exchange is handed over, so the budget serves
the next answers."""
import threading

import pytest

from helpers import metric

BYTES = 40000      # each answer (/bytes/N: both stubs)
BUDGET = 100000    # two answers fit, the third does not
REASON = "over the shadow memory budget"


def get(p, rid):
    r, data = p.request("GET", f"/bytes/{BYTES}", headers={"X-Request-Id": rid})
    assert r.status == 200 and len(data) == BYTES, (r.status, len(data))


@pytest.mark.parametrize("client", ["auto", "curl"])
def test_shadow_answers_held_at_once_are_bounded(stubs, proxy, client):
    # legacy answers after 400 ms: each shadow answer (at once) is held
    # until its exchange is handed over, so 8 at once hold 320,000 bytes
    legacy = stubs("legacy", args=["--delay-ms", "400"])
    new = stubs("new")
    p = proxy(legacy.url, new.url, args=("--workers", "1", "--diff-log-mode", "all"),
              config={"shadow": {"max_buffered_bytes": BUDGET, "client": client}})
    ids = [f"budget-{i}" for i in range(8)]
    threads = [threading.Thread(target=get, args=(p, rid)) for rid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    recs = {rid: p.wait_record(rid) for rid in ids}
    dropped = [r for r in recs.values() if r["verdict"] == "shadow_dropped"]
    compared = [r for r in recs.values() if r["verdict"] == "match"]
    assert len(compared) + len(dropped) == 8, [r["verdict"] for r in recs.values()]
    assert 1 <= len(compared) <= BUDGET // BYTES, len(compared)
    for r in dropped:
        assert r["reason"] == REASON and r["new"]["attempted"], r["reason"]
        assert "shadow.max_buffered_bytes" in r["new"]["error"], r["new"]["error"]
    assert metric(p, "shadowproxy_shadow_over_budget_total") == len(dropped)
    assert metric(p, "shadowproxy_shadow_dropped_total") == len(dropped)
    assert metric(p, "shadowproxy_breaker_opened_total") == 0  # memory, not the shadow

    # The budget came back with each exchange: one at a time, every
    # answer is compared again, many times its size in total.
    for i in range(10):
        get(p, f"after-{i}")
        assert p.wait_record(f"after-{i}")["verdict"] == "match"
    assert metric(p, "shadowproxy_shadow_over_budget_total") == len(dropped)


def test_an_answer_over_the_whole_budget_is_dropped(stubs, proxy):
    legacy, new = stubs("legacy"), stubs("new")
    p = proxy(legacy.url, new.url, args=("--diff-log-mode", "all"),
              config={"shadow": {"max_buffered_bytes": BYTES // 2}})
    get(p, "too-big")
    rec = p.wait_record("too-big")
    assert rec["verdict"] == "shadow_dropped" and rec["reason"] == REASON, rec["verdict"]
    assert rec["legacy"]["status"] == 200
