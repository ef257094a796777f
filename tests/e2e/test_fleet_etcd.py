"""One authority decision for the whole fleet (issue 12), etcd store: real
proxies on a real etcd (Debian's etcd-server, one member or three on
loopback ports), changed through different replicas, checked with real
traffic right after each change returns."""
import json
import os
import re
import subprocess
import threading
import time

import pytest

from conftest import SLOW
from etcd_cluster import ETCD, Cluster, b64, etcd_post
from test_admin import ctl, send, start, token_env  # noqa: F401 (fixtures)
from test_fleet import ROUTES, answered_by, url_of, wait_for
from test_tls import MAKE_CERTS

pytestmark = pytest.mark.skipif(not os.path.exists(ETCD), reason="etcd-server not installed")


@pytest.fixture
def etcd(tmp):
    started = []

    def go(n=1, tls=None):
        c = Cluster(tmp, n, tls)
        started.append(c)
        return c

    yield go
    for c in started:
        c.stop()


def replicas(tmp, start, cluster, n, orders=None):
    """n proxies on the cluster; replica i lists the endpoints in orders[i]."""
    out, legacy, new = [], None, None
    for i in range(n):
        store = cluster.store(order=orders[i] if orders else None)
        legacy, new, p, adm = start(
            rules=ROUTES, legacy=legacy, new=new,
            config={"decisions": {"store": store},
                    "state_file": os.path.join(tmp, f"cache-{i}.json")},
            diff_log=os.path.join(tmp, f"diffs-{i}.jsonl"))
        out.append((p, adm))
    for _, adm in out:  # every replica registered
        assert wait_for(lambda: len(adm.state()["fleet"]) == n, 5), adm.state()["fleet"]
    return out


def flip_until_done(adm, route, side="new", tries=40):
    """A flip, retried while the store answers 503 (an election in progress).
    Returns the revision of the change that was made."""
    for _ in range(tries):
        a = adm.call("POST", "/authority", {"side": side, "route": route, "timeout_ms": 3000})
        if a.status == 200:
            return a.json()["revision"]
        assert a.status == 503, a
        time.sleep(0.1)
    raise AssertionError(f"flip of {route} never went through")


def test_three_replicas_on_one_etcd(tmp, start, etcd):
    cluster = etcd(1)
    fleet = replicas(tmp, start, cluster, 3)
    (a, adm_a), (b, adm_b), (c, adm_c) = fleet

    # concurrent flips of three routes through three replicas: all in force on all three
    answers = {}

    def flip(adm, route):
        answers[route] = adm.flip("new", route=route)

    threads = [threading.Thread(target=flip, args=(adm, f"r{i}"))
               for i, (_, adm) in enumerate(fleet)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(answers) == ["r0", "r1", "r2"], answers
    for route, ans in answers.items():
        assert ans["fleet"]["complete"] is True, ans
    for p, adm in fleet:
        routes = adm.state()["authority"]["routes"]
        assert [routes[f"r{i}"] for i in range(3)] == ["new"] * 3, routes
        for i in range(3):
            assert answered_by(p, f"/echo/r{i}") == "new"
    doc = json.loads(cluster.get("/shadowproxy/decisions"))
    assert sorted(doc["routes"]) == ["r0", "r1", "r2"], doc

    # a change through one replica reaches the others within 200 ms
    t0 = time.monotonic()
    adm_a.call("POST", "/authority", {"side": "new", "route": "orders-get", "wait": False})
    assert wait_for(lambda: adm_c.state()["authority"]["routes"]["orders-get"] == "new", 1)
    took = time.monotonic() - t0
    assert took < 0.2 * SLOW + 0.1, f"replica c applied it after {took:.3f} s"

    # ctl rollback through any replica: every route of every replica on legacy when it returns
    r = ctl("--admin", url_of(adm_c), "rollback")
    assert r.returncode == 0, (r.stdout, r.stderr)
    for p, _ in fleet:
        for path in ("/echo/r0", "/echo/r1", "/echo/r2", "/echo/orders", "/echo/other"):
            assert answered_by(p, path) == "legacy", (p.port, path)
    assert "fleet: 3/3 replicas applied" in r.stdout, r.stdout
    assert re.search(r"cleared route authority: .*orders-get", r.stdout), r.stdout
    hist = adm_b.ok("GET", "/history?limit=1")["changes"]
    assert hist[0]["what"] == "rollback" and hist[0]["revision"] == \
        adm_b.state()["decisions"]["revision"], hist

    # etcd stopped: every replica serves; a flip answers 503 naming the store
    cluster.members[0].stop()
    for p, adm in fleet:
        assert answered_by(p, "/echo/r1") == "legacy"
        assert adm.call("GET", "/readyz").status == 200
    refused = adm_b.call("POST", "/authority", {"side": "new"})
    assert refused.status == 503, refused
    assert cluster.store() in refused.json()["error"], refused.json()
    assert answered_by(b, "/echo/r1") == "legacy"  # not applied locally either
    metrics = adm_b.call("GET", "/metrics").body.decode()
    assert re.search(r'^shadowproxy_decisions_store_up\{store="etcd://[^"]+"\} 0$', metrics,
                     re.M), metrics

    # etcd back: a flip applies everywhere
    cluster.members[0].start()
    cluster.wait_ready()
    rev = flip_until_done(adm_b, None, "new")
    for p, adm in fleet:
        assert wait_for(lambda: adm.state()["decisions"]["revision"] >= rev, 3), adm.state()
        assert answered_by(p, "/echo/r5") == "new"
        assert adm.state()["decisions"]["up"] is True


def test_member_failure_during_flips_loses_nothing(tmp, start, etcd):
    """A three-member cluster loses the member replica a talks to while flips
    go through both replicas: every flip that was answered 200 is in force
    on both replicas, and neither is stuck on an old revision."""
    cluster = etcd(3)
    fleet = replicas(tmp, start, cluster, 2, orders=[(0, 1, 2), (1, 2, 0)])
    (a, adm_a), (b, adm_b) = fleet
    done = []
    for i in range(10):
        adm = adm_a if i % 2 == 0 else adm_b
        if i == 4:
            cluster.members[0].stop()  # a's first endpoint, maybe the leader
        flip_until_done(adm, f"r{i}")
        done.append(f"r{i}")
    last = flip_until_done(adm_a, "orders-get")
    # a's watch was on the lost member and moved to another one
    assert wait_for(lambda: "event=decisions_watch_broken" in a.stderr(), 3), a.stderr()[-2000:]
    for p, adm in fleet:
        assert wait_for(lambda: adm.state()["decisions"]["revision"] >= last, 3), \
            (adm.state()["decisions"], p.stderr()[-2000:])
        routes = adm.state()["authority"]["routes"]
        assert all(routes[r] == "new" for r in done), routes
        assert answered_by(p, "/echo/r9") == "new" and answered_by(p, "/echo/orders") == "new"
    doc = json.loads(cluster.get("/shadowproxy/decisions"))
    assert sorted(doc["routes"]) == sorted(done + ["orders-get"]), doc


def test_etcd_user_and_password_from_a_file(tmp, start, etcd):
    """etcd's own authentication: the proxy signs in with decisions.etcd's
    username and password_file, and the password never reaches the log; a
    wrong password leaves the store down and a change refused with 503."""
    cluster = etcd(1)
    url = cluster.members[0].url
    for path, body in (("/v3/auth/user/add", {"name": "root", "password": "s3cret-pw"}),
                       ("/v3/auth/role/add", {"name": "root"}),
                       ("/v3/auth/user/grant", {"user": "root", "role": "root"}),
                       ("/v3/auth/enable", {})):
        etcd_post(url, path, body)
    good, bad = os.path.join(tmp, "etcd-pw"), os.path.join(tmp, "etcd-pw-bad")
    with open(good, "w") as f:
        f.write("s3cret-pw\n")
    with open(bad, "w") as f:
        f.write("not-it\n")

    def proxy_with(pw, i, legacy=None, new=None):
        return start(rules=ROUTES, legacy=legacy, new=new, config={
            "decisions": {"store": cluster.store(),
                          "etcd": {"username": "root", "password_file": pw}},
            "state_file": os.path.join(tmp, f"cache-{i}.json")},
            diff_log=os.path.join(tmp, f"diffs-{i}.jsonl"))

    legacy, new, p, adm = proxy_with(good, 0)
    ans = adm.flip("new", route="r1")
    assert ans["fleet"]["complete"] is True and ans["fleet"]["replicas"] == 1, ans
    assert answered_by(p, "/echo/r1") == "new"
    assert adm.ok("GET", "/history?limit=1")["changes"][0]["what"] == "authority new"
    _, _, q, adm_q = proxy_with(bad, 1, legacy, new)
    r = adm_q.call("POST", "/authority", {"side": "new"})
    assert r.status == 503 and "authentication failed" in r.json()["error"], r
    assert adm_q.state()["decisions"]["up"] is False
    assert answered_by(q, "/echo/r1") == "legacy"  # started without the decisions, and says so
    assert "event=decisions_store_down" in q.stderr()
    for proc in (p, q):
        assert "s3cret-pw" not in proc.stderr() and "not-it" not in proc.stderr()


def test_etcd_over_tls_with_a_client_certificate(tmp, start, etcd):
    """etcds:// with decisions.etcd's ca_file, client_cert and client_key
    against an etcd that requires client certificates; without the client
    certificate the store is down and a change is refused."""
    certs = os.path.join(tmp, "certs")
    os.mkdir(certs)
    subprocess.run(["sh", MAKE_CERTS, certs], check=True, stdout=subprocess.DEVNULL)
    c = lambda name: os.path.join(certs, name)  # noqa: E731
    # etcd's gateway dials its own gRPC port with the server certificate as
    # a client one: it needs both usages
    ext = c("etcd.ext")
    with open(ext, "w") as f:
        f.write("extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1\n")
    for args in (["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", c("etcd.key")],
                 ["req", "-new", "-key", c("etcd.key"), "-subj", "/CN=etcd", "-out", c("etcd.csr")],
                 ["x509", "-req", "-in", c("etcd.csr"), "-CA", c("ca.pem"), "-CAkey", c("ca.key"),
                  "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", c("etcd.pem")]):
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    cluster = etcd(1, tls={"cert": c("etcd.pem"), "key": c("etcd.key"), "ca": c("ca.pem"),
                           "client_cert": c("client.pem"), "client_key": c("client.key")})
    assert cluster.store().startswith("etcds://")
    legacy, new, p, adm = start(rules=ROUTES, config={
        "decisions": {"store": cluster.store(),
                      "etcd": {"ca_file": c("ca.pem"), "client_cert": c("client.pem"),
                               "client_key": c("client.key")}},
        "state_file": os.path.join(tmp, "cache-0.json")})
    ans = adm.flip("new", route="r2")
    assert ans["fleet"]["complete"] is True, ans
    assert answered_by(p, "/echo/r2") == "new"
    assert json.loads(cluster.get("/shadowproxy/decisions"))["routes"]["r2"] == \
        {"authority": "new"}
    _, _, q, adm_q = start(rules=ROUTES, legacy=legacy, new=new, config={
        "decisions": {"store": cluster.store(), "etcd": {"ca_file": c("ca.pem")}},
        "state_file": os.path.join(tmp, "cache-1.json")},
        diff_log=os.path.join(tmp, "diffs-1.jsonl"))
    r = adm_q.call("POST", "/authority", {"side": "new"})
    assert r.status == 503 and cluster.store() in r.json()["error"], r


def test_a_deleted_key_reverts_nothing(tmp, start, etcd):
    """PREFIX/decisions deleted by hand: the replicas keep the decisions in
    force (warned, counted), and the next change writes them back with it."""
    cluster = etcd(1)
    (a, adm_a), (b, adm_b) = replicas(tmp, start, cluster, 2)
    adm_a.flip("new")
    etcd_post(cluster.members[0].url, "/v3/kv/deleterange", {"key": b64("/shadowproxy/decisions")})
    for p, adm in ((a, adm_a), (b, adm_b)):
        assert wait_for(lambda: "event=decisions_deleted" in p.stderr(), 2), p.stderr()[-2000:]
        assert adm.state()["authority"]["global"] == "new"
        assert answered_by(p, "/echo/r1") == "new"
    ans = adm_b.shadow("pause", route="r1")
    assert ans["fleet"]["complete"] is True, ans
    doc = json.loads(cluster.get("/shadowproxy/decisions"))
    assert doc["global"] == {"authority": "new"}, doc
    assert doc["routes"]["r1"] == {"shadow": {"paused": True}}, doc
    for p, adm in ((a, adm_a), (b, adm_b)):
        assert adm.state()["shadow"]["routes"]["r1"]["paused"] is True
        assert answered_by(p, "/echo/r1") == "new"
    metrics = adm_b.call("GET", "/metrics").body.decode()
    assert re.search(r"^shadowproxy_decisions_store_warnings_total [1-9]", metrics, re.M), metrics
