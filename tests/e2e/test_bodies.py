"""Bodies: large and chunked uploads, large and streamed answers, HEAD,
Expect: 100-continue, keep-alive, size limits."""
import gzip
import hashlib
import http.client
import json
import os
import time

from conftest import SLOW
from helpers import (RawConn, build_request, by_request_id, json_body_ctl, one, pattern,
                     pattern_sha256, raw_request, sha256, the_request, values)

MiB = 1024 * 1024


def test_10mb_request_body_arrives_intact_on_both_legs(pair):
    legacy, new, p = pair
    body = os.urandom(10 * MiB)
    digest = sha256(body)
    c = p.conn(timeout=30)
    c.request("POST", "/echo/upload", body=body,
              headers={"X-Request-Id": "up-10mb", "Content-Type": "application/octet-stream"})
    r = c.getresponse()
    echo = json.loads(r.read())
    c.close()
    assert r.status == 200
    assert echo["body_len"] == len(body)
    assert echo["body_sha256"] == digest
    for stub in (legacy, new):
        q = the_request(stub, "up-10mb")
        assert q["method"] == "POST"
        assert q["body_len"] == len(body)
        assert q["body_sha256"] == digest
        assert values(q["headers"], "Content-Length") == [str(len(body))]
    rec = p.wait_record("up-10mb")
    # Larger than compare.max_body_bytes (8 MiB): described, not embedded.
    assert rec["request"]["body_bytes"] == len(body)
    assert rec["request"]["body_format"] == "oversize"
    assert rec["request"]["body"] is None


def test_chunked_upload_arrives_intact_on_both_legs(pair):
    legacy, new, p = pair
    pieces = [os.urandom(n) for n in (1, 1000, 65536, 3, 200000, 17)]
    whole = b"".join(pieces)
    c = p.conn()
    c.request("PUT", "/echo/chunked", body=iter(pieces), encode_chunked=True,
              headers={"X-Request-Id": "up-chunked", "Transfer-Encoding": "chunked"})
    r = c.getresponse()
    echo = json.loads(r.read())
    c.close()
    assert r.status == 200
    assert echo["body_len"] == len(whole)
    assert echo["body_sha256"] == sha256(whole)
    for stub in (legacy, new):
        q = the_request(stub, "up-chunked")
        assert q["method"] == "PUT"
        assert q["body_len"] == len(whole)
        assert q["body_sha256"] == sha256(whole)
    rec = p.wait_record("up-chunked")
    assert rec["request"]["body_bytes"] == len(whole)


def test_chunked_upload_raw_with_extensions_and_trailer(pair):
    legacy, new, p = pair
    body = b"7;ext=1\r\nchunk-1\r\n3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n"
    r = raw_request(p.port, "POST", "/echo/raw-chunked",
                    [("Host", "x"), ("Transfer-Encoding", "chunked"), ("X-Request-Id", "raw-ch")],
                    body)
    assert r.status == 200, r
    assert r.json()["body_len"] == 10
    for stub in (legacy, new):
        q = the_request(stub, "raw-ch")
        assert q["body_len"] == 10
        assert q["body_sha256"] == sha256(b"chunk-1abc")


def test_50mb_response_byte_for_byte_and_recorded_as_oversize(pair):
    legacy, new, p = pair
    n = 50 * MiB
    c = p.conn(timeout=60)
    c.request("GET", f"/bytes/{n}", headers={"X-Request-Id": "down-50mb"})
    r = c.getresponse()
    assert r.status == 200
    assert r.getheader("Content-Length") == str(n)
    assert r.getheader("Content-Type") == "application/octet-stream"
    h = hashlib.sha256()
    got = 0
    while True:
        block = r.read(1 << 20)
        if not block:
            break
        h.update(block)
        got += len(block)
    c.close()
    assert got == n
    want = pattern_sha256(n)
    assert h.hexdigest() == want
    rec = p.wait_record("down-50mb", timeout=30)
    assert rec["verdict"] == "match"
    for side in ("legacy", "new"):
        leg = rec[side]
        assert leg["status"] == 200
        assert leg["body_format"] == "oversize"
        assert leg["body"] is None
        assert leg["body_bytes"] == n
        assert leg["body_sha256"] == want
    assert rec["differences"] == []


def test_large_chunked_response_streamed(pair):
    legacy, new, p = pair
    n = 3 * MiB + 5
    r = raw_request(p.port, "GET", "/x", [("Host", "x"), ("X-Stub-Ctl", f"bytes={n},chunked"),
                                          ("X-Request-Id", "down-chunked")])
    assert r.status == 200
    assert r.complete
    assert len(r.body) == n
    assert r.body == pattern(n)
    rec = p.wait_record("down-chunked")
    assert rec["verdict"] == "match"
    assert rec["legacy"]["body_bytes"] == n


def test_small_chunked_and_close_delimited_responses(pair):
    legacy, new, p = pair
    for ctl in ("bytes=1000,chunked", "bytes=1000,nocl", "bytes=0,chunked"):
        r = raw_request(p.port, "GET", "/x", [("Host", "x"), ("X-Stub-Ctl", ctl)])
        want = pattern(int(ctl.split(",")[0].split("=")[1]))
        assert r.status == 200, ctl
        assert r.complete, ctl
        assert r.body == want, ctl


def test_gzip_answer_passed_through_compressed(pair):
    legacy, new, p = pair
    doc = {"items": [{"sku": f"SKU-{i}", "qty": i} for i in range(200)]}
    ctl = json_body_ctl(doc) + ",gzip"
    r = raw_request(p.port, "GET", "/x", [("Host", "x"), ("Accept-Encoding", "gzip"),
                                          ("X-Stub-Ctl", ctl), ("X-Request-Id", "gz-1")])
    assert r.status == 200
    assert one(r.headers, "Content-Encoding") == "gzip"
    assert one(r.headers, "Content-Length") == str(len(r.body))
    assert r.body[:2] == b"\x1f\x8b"  # not decoded on the way
    assert json.loads(gzip.decompress(r.body)) == doc
    rec = p.wait_record("gz-1")
    assert rec["verdict"] == "match"
    assert rec["legacy"]["body"] == doc  # decoded for the record
    assert rec["legacy"]["body_bytes"] == len(r.body)  # size on the wire


def test_head_gets_content_length_of_get_and_no_body(pair):
    legacy, new, p = pair
    with RawConn(p.port) as c:
        get = c.request(build_request("GET", "/bytes/12345", [("Host", "x")]))
        head = c.request(build_request("HEAD", "/bytes/12345", [("Host", "x"),
                                                                ("X-Request-Id", "head-1")]),
                         head=True)
        # If the HEAD answer had carried a body, this would read it as the
        # next status line and fail.
        after = c.request(build_request("GET", "/health", [("Host", "x")]))
    assert get.status == 200 and len(get.body) == 12345
    assert head.status == 200
    assert one(head.headers, "Content-Length") == "12345"
    assert one(head.headers, "Content-Type") == "application/octet-stream"
    assert after.status == 200 and after.body == b"ok"
    for stub in (legacy, new):
        assert the_request(stub, "head-1")["method"] == "HEAD"


def test_head_on_large_resource(pair):
    legacy, new, p = pair
    n = 20 * MiB
    with RawConn(p.port) as c:
        head = c.request(build_request("HEAD", f"/bytes/{n}", [("Host", "x")]), head=True)
        after = c.request(build_request("GET", "/health", [("Host", "x")]))
    assert head.status == 200
    assert one(head.headers, "Content-Length") == str(n)
    assert after.body == b"ok"


def test_expect_100_continue(pair):
    legacy, new, p = pair
    with RawConn(p.port) as c:
        c.send(b"POST /echo/expect HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
               b"X-Request-Id: expect-1\r\nContent-Length: 11\r\n\r\n")
        c.sock.settimeout(3 * SLOW)
        first = c.sock.recv(64)
        assert first.startswith(b"HTTP/1.1 100"), first
        c.buf = first[first.index(b"\r\n\r\n") + 4:]
        c.send(b"hello world")
        r = c.read_response()
    assert r.status == 200
    assert r.json()["body_sha256"] == sha256(b"hello world")
    for stub in (legacy, new):
        q = the_request(stub, "expect-1")
        assert q["body_len"] == 11
        assert values(q["headers"], "Expect") == []


def test_keepalive_many_requests_one_connection(pair):
    legacy, new, p = pair
    c = p.conn()
    c.connect()
    sock = c.sock
    n = 30
    for i in range(n):
        rid = f"ka-{i}"
        if i % 3 == 0:
            body = f"body-{i}".encode() * (i + 1)
            c.request("POST", f"/echo/ka/{i}", body=body, headers={"X-Request-Id": rid})
        elif i % 3 == 1:
            body = b""
            c.request("GET", f"/echo/ka/{i}", headers={"X-Request-Id": rid})
        else:
            body = None
            c.request("GET", f"/bytes/{1000 + i}", headers={"X-Request-Id": rid})
        r = c.getresponse()
        data = r.read()
        assert r.status == 200
        if body is None:
            assert data == pattern(1000 + i)
        else:
            echo = json.loads(data)
            assert echo["target"] == f"/echo/ka/{i}"
            assert echo["body_sha256"] == sha256(body)
        assert c.sock is sock, "the proxy closed the keep-alive connection"
    c.close()
    for stub in (legacy, new):
        reqs = stub.wait_requests(n)
        ids = [one(q["headers"], "X-Request-Id") for q in reqs]
        assert sorted(ids) == sorted(f"ka-{i}" for i in range(n))


def test_request_body_over_limit_gets_413_and_is_not_forwarded(stubs, proxy):
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"limits": {"max_request_body": 1000}})
    # Declared too large: refused before the body is read.
    with RawConn(p.port) as c:
        r = c.request(build_request("POST", "/echo/big", [("Host", "x"), ("Content-Length", "2000")],
                                    b"x" * 2000))
    assert r.status == 413, r
    # Chunked, discovered while reading.
    chunk = b"x" * 600
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
    with RawConn(p.port) as c:
        r = c.request(build_request("POST", "/echo/big", [("Host", "x"),
                                                          ("Transfer-Encoding", "chunked")], body))
    assert r.status == 413, r
    # At the limit: accepted.
    r = raw_request(p.port, "POST", "/echo/ok", [("Host", "x"), ("Content-Length", "1000")],
                    b"y" * 1000)
    assert r.status == 200
    assert r.json()["body_len"] == 1000
    time.sleep(0.1)
    assert [q["target"] for q in legacy.requests()] == ["/echo/ok"]
    assert [q["target"] for q in new.wait_requests(1)] == ["/echo/ok"]


def test_many_concurrent_clients(pair):
    import threading
    legacy, new, p = pair
    results = {}

    def client(i):
        c = p.conn()
        body = os.urandom(5000 + i)
        c.request("POST", f"/echo/c/{i}", body=body, headers={"X-Request-Id": f"cc-{i}"})
        r = c.getresponse()
        results[i] = (r.status, json.loads(r.read())["body_sha256"] == sha256(body))
        c.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {i: (200, True) for i in range(20)}
    recs = p.wait_records(20)
    assert sorted(r["id"] for r in recs) == sorted(f"cc-{i}" for i in range(20))


def test_request_head_over_max_header_bytes_gets_431(stubs, proxy):
    """limits.max_header_bytes: 'Largest request line plus headers accepted.'"""
    legacy = stubs("legacy")
    new = stubs("new")
    p = proxy(legacy.url, new.url, config={"limits": {"max_header_bytes": 4096}})
    ok = raw_request(p.port, "GET", "/echo/small", [("Host", "x"), ("X-Fill", "a" * 2000)])
    assert ok.status == 200
    for size in (6000, 40000):
        with RawConn(p.port) as c:
            r = c.request(build_request("GET", f"/echo/big{size}",
                                        [("Host", "x"), ("X-Fill", "b" * size)]))
        assert r.status == 431, (size, r.status)
    time.sleep(0.1)
    assert [q["target"] for q in legacy.requests()] == ["/echo/small"]


def test_default_max_header_bytes_is_32k(pair):
    legacy, new, p = pair
    ok = raw_request(p.port, "GET", "/echo/ok", [("Host", "x"), ("X-Fill", "a" * 30000)])
    assert ok.status == 200
    with RawConn(p.port) as c:
        r = c.request(build_request("GET", "/echo/big", [("Host", "x"), ("X-Fill", "b" * 40000)]))
    assert r.status == 431, r.status
