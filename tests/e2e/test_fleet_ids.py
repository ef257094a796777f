"""The id ledger shared by the fleet (issue 17 part 1, docs/operations.md
"The id ledger"): two real replicas behind one "balancer" (the test sends
the create to one and the read to the other), on a real etcd
(decisions.store etcd://) or on one file store (the journal beside the
state file). The read through the replica that did not see the create is
mirrored with the new side's id and compared, never id_unknown."""
import json
import os
import re
import time

import pytest

from conftest import SLOW
from etcd_cluster import ETCD
from test_admin import start, token_env  # noqa: F401 (fixtures)
from test_fleet import wait_for
from test_fleet_etcd import etcd  # noqa: F401 (fixture)
from test_idledger import RULES, create, erp, seen, send

needs_etcd = pytest.mark.skipif(not os.path.exists(ETCD), reason="etcd-server not installed")


def two_replicas(tmp, start, stubs, store=None, ids=None):
    """Replicas a and b on the same stubs (generated ids SO-/NX-), each with
    its own ledger file; store: decisions.store (None: one shared state
    file, the file store)."""
    legacy, new = erp(stubs)
    out = []
    for i in range(2):
        cfg = {"ids": {"ledger_file": os.path.join(tmp, f"ids-{i}.json"), **(ids or {})}}
        if store:
            cfg["decisions"] = {"store": store}
            cfg["state_file"] = os.path.join(tmp, f"cache-{i}.json")
        else:
            cfg["state_file"] = os.path.join(tmp, "shared-state.json")
        _, _, p, adm = start(rules=RULES, legacy=legacy, new=new, config=cfg,
                             diff_log=os.path.join(tmp, f"diffs-{i}.jsonl"))
        p.adm = adm  # /metrics wants the admin token
        out.append(p)
    return legacy, new, out[0], out[1]


def counter(p, name):
    text = p.adm.call("GET", "/metrics").body.decode()
    m = re.search(rf"(?m)^{re.escape(name)} (\S+)$", text)
    return float(m.group(1)) if m else 0


def read_status(p, so):
    sid, r, data = send(p, "GET", f"/api/orders/{so}/status", "status")
    assert r.status == 200 and json.loads(data)["erp_order_id"] == so, (r.status, data)
    return sid


def assert_mirrored_with_new_id(p, new, sid, so, nx):
    rec = p.wait_record(sid)
    assert rec["verdict"] == "match", rec
    assert [q["target"] for q in seen(new, sid)] == [f"/api/orders/{nx}/status"]


def etcd_pair(cluster, so, kind="order"):
    v = cluster.get(f"/shadowproxy/ids/{kind}/{so}")
    return json.loads(v) if v else None


@needs_etcd
def test_a_read_through_the_other_replica_is_mirrored_with_the_new_id(tmp, start, stubs, etcd):
    cluster = etcd(1)
    legacy, new, a, b = two_replicas(tmp, start, stubs, store=cluster.store())
    cid, so = create(a, "create", "24-MB01")
    assert a.wait_record(cid)["verdict"] == "match"
    # A published the pair under PREFIX/ids/KIND/ID; B's watch brought it.
    assert wait_for(lambda: etcd_pair(cluster, so), 5), "the pair never reached etcd"
    pair = etcd_pair(cluster, so)
    assert pair["new"] == "NX-000001" and pair["learned_ms"] > 0, pair
    assert wait_for(lambda: counter(b, "shadowproxy_ids_fleet_received_total") >= 1, 5)
    assert counter(a, "shadowproxy_ids_fleet_published_total") >= 1
    assert counter(b, "shadowproxy_ids_fleet_published_total") == 0  # B learned nothing itself

    sid = read_status(b, so)
    assert_mirrored_with_new_id(b, new, sid, so, "NX-000001")
    assert counter(b, "shadowproxy_ids_misses_total") == 0
    # and the other way: a create through B, read through A
    cid2, so2 = create(b, "create-b", "24-MB02")
    assert wait_for(lambda: counter(a, "shadowproxy_ids_fleet_received_total") >= 1, 5)
    sid2 = read_status(a, so2)
    assert_mirrored_with_new_id(a, new, sid2, so2, "NX-000002")


@needs_etcd
def test_a_replica_started_later_loads_the_pairs_and_odd_ids_survive_the_key(
        tmp, start, stubs, etcd):
    """The range read at start (not only the watch), and an id with "/" and
    "%" in it (percent-escaped in the key) learned from the answers."""
    cluster = etcd(1)
    legacy, new = erp(stubs)
    cfg = {"decisions": {"store": cluster.store()}, "state_file": os.path.join(tmp, "c0.json"),
           "ids": {"ledger_file": os.path.join(tmp, "ids-0.json")}}
    _, _, a, adm = start(rules=RULES, legacy=legacy, new=new, config=cfg,
                         diff_log=os.path.join(tmp, "diffs-0.jsonl"))
    a.adm = adm
    cid, so = create(a, "create", "24-MB01")
    assert wait_for(lambda: counter(a, "shadowproxy_ids_fleet_published_total") >= 1, 5)
    # a pair put by hand the way a replica writes it: an id with / and %
    body = {"new": "NX/9%", "learned_ms": int(time.time() * 1000), "by": "test"}
    from etcd_cluster import b64, etcd_post
    etcd_post(cluster.members[0].url, "/v3/kv/put",
              {"key": b64("/shadowproxy/ids/order/SO%2F9%25"), "value": b64(json.dumps(body))})
    cfg = {**cfg, "state_file": os.path.join(tmp, "c1.json"),
           "ids": {"ledger_file": os.path.join(tmp, "ids-1.json")}}
    _, _, b, adm = start(rules=RULES, legacy=legacy, new=new, config=cfg,
                         diff_log=os.path.join(tmp, "diffs-1.jsonl"))
    b.adm = adm
    assert wait_for(lambda: counter(b, "shadowproxy_ids_fleet_received_total") >= 2, 5), \
        counter(b, "shadowproxy_ids_fleet_received_total")
    sid = read_status(b, so)
    assert_mirrored_with_new_id(b, new, sid, so, "NX-000001")
    # the escaped pair: the header rule rewrites SO/9% to NX/9% on the shadow
    sid, r, _ = send(b, "GET", "/echo/orders", "odd", headers={"X-Order-Id": "SO/9%"})
    assert r.status == 200
    got = [v for q in seen(new, sid) for n, v in q["headers"] if n.lower() == "x-order-id"]
    assert got == ["NX/9%"], got


@needs_etcd
def test_a_pair_expires_from_etcd_near_max_age(tmp, start, stubs, etcd):
    cluster = etcd(1)
    legacy, new, a, b = two_replicas(tmp, start, stubs, store=cluster.store(),
                                     ids={"max_age_s": 2})
    cid, so = create(a, "create", "24-MB01")
    assert wait_for(lambda: etcd_pair(cluster, so), 5), "the pair never reached etcd"
    learned = time.monotonic()
    # under a lease of max_age_s + one bucket (1 s here): gone by 3 s, nobody deleted it
    assert wait_for(lambda: etcd_pair(cluster, so) is None, 8), etcd_pair(cluster, so)
    gone_after = time.monotonic() - learned
    assert gone_after > 1.0, gone_after
    # and no replica knows it any more: the read is id_unknown, not mirrored blindly
    sid = read_status(b, so)
    assert b.wait_record(sid)["verdict"] == "id_unknown"


@needs_etcd
def test_etcd_down_at_publish_time_is_counted_and_the_local_ledger_works(
        tmp, start, stubs, etcd):
    cluster = etcd(1)
    legacy, new, a, b = two_replicas(tmp, start, stubs, store=cluster.store())
    cluster.members[0].stop()
    t0 = time.monotonic()
    cid, so = create(a, "create", "24-MB01")
    assert time.monotonic() - t0 < 2 * SLOW  # the client never waits for etcd
    assert a.wait_record(cid)["verdict"] == "match"
    assert wait_for(lambda: counter(a, "shadowproxy_ids_fleet_failures_total") >= 1, 5)
    assert counter(a, "shadowproxy_ids_fleet_published_total") == 0
    sid = read_status(a, so)  # this replica's own ledger still works
    assert_mirrored_with_new_id(a, new, sid, so, "NX-000001")

    # etcd back: the queued pair is published, B re-reads on reconnect
    cluster.members[0].start()
    cluster.wait_ready()
    assert wait_for(lambda: counter(a, "shadowproxy_ids_fleet_published_total") >= 1, 10)
    assert wait_for(lambda: counter(b, "shadowproxy_ids_fleet_received_total") >= 1, 10)
    sid = read_status(b, so)
    assert_mirrored_with_new_id(b, new, sid, so, "NX-000001")


def journal_lines(tmp):
    with open(os.path.join(tmp, "shared-state.json.ids.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_the_file_store_shares_pairs_between_replicas_on_one_host(tmp, start, stubs):
    legacy, new, a, b = two_replicas(tmp, start, stubs)
    cid, so = create(a, "create", "24-MB01")
    assert a.wait_record(cid)["verdict"] == "match"
    assert wait_for(lambda: counter(b, "shadowproxy_ids_fleet_received_total") >= 1, 5)
    assert [line[:3] for line in journal_lines(tmp)] == [["order", so, "NX-000001"]]
    assert oct(os.stat(os.path.join(tmp, "shared-state.json.ids.jsonl")).st_mode & 0o777) == \
        "0o600"
    sid = read_status(b, so)
    assert_mirrored_with_new_id(b, new, sid, so, "NX-000001")
    assert counter(b, "shadowproxy_ids_misses_total") == 0


def test_the_file_journal_is_compacted_under_its_bound(tmp, start, stubs):
    """max_pairs 4: past 2 * 4 + 16 lines a writer rewrites the journal with
    its ledger (the newest 4 pairs); both replicas still resolve the newest."""
    legacy, new, a, b = two_replicas(tmp, start, stubs, ids={"max_pairs": 4})
    ids = [create(a if i % 2 else b, f"c{i}", f"SKU-{i}")[1] for i in range(30)]
    assert wait_for(lambda: len(journal_lines(tmp)) < 25, 5), len(journal_lines(tmp))
    last = ids[-1]
    assert wait_for(lambda: any(line[1] == last for line in journal_lines(tmp)), 5)
    for p in (a, b):  # the other replica reads the journal every 200 ms
        deadline = time.monotonic() + 5 * SLOW
        while True:
            sid = read_status(p, last)
            if p.wait_record(sid)["verdict"] != "id_unknown" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert_mirrored_with_new_id(p, new, sid, last, "NX-" + last.split("-")[1])
