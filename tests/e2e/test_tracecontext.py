"""W3C Trace Context: each upstream leg is a child span of the client's
(the client's trace id, a span id of its own, the sampled flag kept), the
record carries trace_id; no traceparent in, none out; an invalid one is
dropped (with its tracestate), never passed on and never replaced by an
invented trace."""
import re

import pytest

from helpers import raw_request, the_request, values

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TP = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def legs(pair, rid, headers):
    legacy, new, p = pair
    r, _ = p.request("GET", f"/echo/trace/{rid}", headers={"X-Request-Id": rid, **headers})
    assert r.status == 200
    return the_request(legacy, rid), the_request(new, rid), p.wait_record(rid)


@pytest.mark.parametrize("flags", ["01", "00"])
def test_each_leg_is_a_child_span_of_the_client(pair, flags):
    rid = f"trace-{flags}"
    la, na, rec = legs(pair, rid, {"traceparent": f"00-{TRACE}-{PARENT}-{flags}",
                                   "tracestate": "congo=t61rcWkgMzE"})
    lt = TP.match(values(la["headers"], "traceparent")[0])
    nt = TP.match(values(na["headers"], "traceparent")[0])
    assert len(values(la["headers"], "traceparent")) == 1
    assert len(values(na["headers"], "traceparent")) == 1
    assert lt and nt
    assert lt.group(1) == nt.group(1) == TRACE                       # the client's trace
    assert len({lt.group(2), nt.group(2), PARENT}) == 3              # three distinct spans
    assert "0000000000000000" not in (lt.group(2), nt.group(2))
    assert lt.group(3) == nt.group(3) == flags                       # sampled flag kept
    assert values(la["headers"], "tracestate") == ["congo=t61rcWkgMzE"]
    assert values(na["headers"], "tracestate") == ["congo=t61rcWkgMzE"]
    assert rec["trace_id"] == TRACE


def test_spans_differ_from_request_to_request(pair):
    spans = set()
    for i in range(3):
        la, na, _ = legs(pair, f"trace-many-{i}", {"traceparent": f"00-{TRACE}-{PARENT}-01"})
        spans |= {TP.match(values(h["headers"], "traceparent")[0]).group(2) for h in (la, na)}
    assert len(spans) == 6


def test_no_traceparent_no_trace(pair):
    la, na, rec = legs(pair, "trace-none", {})
    assert values(la["headers"], "traceparent") == values(na["headers"], "traceparent") == []
    assert "trace_id" not in rec


@pytest.mark.parametrize("bad", [
    f"00-{TRACE.upper()}-{PARENT}-01",                 # upper-case hex
    f"00-{'0' * 32}-{PARENT}-01",                      # all-zero trace id
    f"00-{TRACE}-{'0' * 16}-01",                       # all-zero parent id
    f"ff-{TRACE}-{PARENT}-01",                         # forbidden version
    f"00-{TRACE}-{PARENT}-01-extra",                   # version 00 with more fields
    f"00-{TRACE}-{PARENT}",                            # too short
    "not a traceparent",
])
def test_an_invalid_traceparent_is_dropped_with_its_tracestate(pair, bad):
    rid = f"trace-bad-{abs(hash(bad)) % 10 ** 8}"
    la, na, rec = legs(pair, rid, {"traceparent": bad, "tracestate": "congo=t61rcWkgMzE"})
    for h in (la, na):
        assert values(h["headers"], "traceparent") == [], h["headers"]
        assert values(h["headers"], "tracestate") == [], h["headers"]
    assert "trace_id" not in rec


def test_a_later_version_is_read_as_00_and_sent_as_00(pair):
    la, na, rec = legs(pair, "trace-v01", {"traceparent": f"01-{TRACE}-{PARENT}-01-what-ever"})
    for h in (la, na):
        m = TP.match(values(h["headers"], "traceparent")[0])
        assert m and m.group(1) == TRACE and m.group(3) == "01"
    assert rec["trace_id"] == TRACE


def test_two_traceparent_fields_are_dropped(pair):
    legacy, new, p = pair
    rid = "trace-two"
    r = raw_request(p.port, "GET", f"/echo/trace/{rid}",
                    [("Host", "x"), ("X-Request-Id", rid),
                     ("traceparent", f"00-{TRACE}-{PARENT}-01"),
                     ("traceparent", f"00-{TRACE}-{PARENT[::-1]}-01")])
    assert r.status == 200
    for stub in (legacy, new):
        assert values(the_request(stub, rid)["headers"], "traceparent") == []
    assert "trace_id" not in p.wait_record(rid)
