#!/usr/bin/env python3
"""bench/noisy.py: the documents and rules of bench/run.sh's noisy-answers
rows. Standard library only.

  noisy.py NGINX_DIR RULES_FILE

writes NGINX_DIR/noisy-legacy.inc, noisy-new.inc and noisy-same.inc (nginx
`return 200 '...'` lines) and the rules file. The legacy answer is a compact
1.4 KB order carrying nginx's $request_id and $msec; the new one is the same
order pretty-printed (2.1 KB) with its lines in reverse order and its own id
and time; so every exchange differs in bytes and must be parsed. The rules
ignore the id and the time and key the lines by SKU, so the verdict is
`match`. "same" is the legacy order with a fixed id and time: byte-identical
on both sides (the fast path), at the same size.
"""
import json
import os
import sys

SKUS = ["24-MB01", "24-MB04", "24-MB03", "24-MB05", "24-MB06", "24-MB02",
        "24-UB02", "24-WB07", "24-WB04", "24-WG086", "24-WG085", "24-WG088", "24-UG06"]


def order(rid, ts):
    lines = []
    for i, sku in enumerate(SKUS):
        price = 19.0 + 7.5 * i
        lines.append({"sku": sku, "name": "Luma item %d" % i, "qty": 1 + i % 3,
                      "price": price, "row_total": price * (1 + i % 3)})
    return {
        "id": rid,
        "ts": ts,
        "increment_id": "000000042",
        "status": "processing",
        "currency": "EUR",
        "customer": {"id": 7, "email": "roni_cost@example.com",
                     "firstname": "Veronica", "lastname": "Costello"},
        "lines": lines,
        "totals": {"subtotal": 612.5, "tax": 116.38, "shipping": 0, "grand_total": 728.88},
        "created_at": "2024-01-01 07:18:12",
    }


def dump(doc, pretty):
    text = json.dumps(doc, indent=2) if pretty else json.dumps(doc, separators=(",", ":"))
    # nginx variables stand in for the values; the placeholders are strings
    # in the JSON, the variables are not quoted where they are numbers
    text = text.replace('"@RID@"', '"$request_id"').replace('"@TS@"', "$msec")
    assert "'" not in text and "\\" not in text, "an nginx single-quoted string"
    return "return 200 '%s';\n" % text


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    out, rules = argv
    legacy = order("@RID@", "@TS@")
    new = order("@RID@", "@TS@")
    new["lines"].reverse()
    same = order("00000000000000000000000000000000", 1765097075.123)
    for name, doc, pretty in (("legacy", legacy, False), ("new", new, True),
                              ("same", same, False)):
        with open(os.path.join(out, "noisy-%s.inc" % name), "w", encoding="utf-8") as f:
            f.write(dump(doc, pretty))
    with open(rules, "w", encoding="utf-8") as f:
        json.dump({"version": 1, "routes": [{
            "name": "noisy-orders",
            "match": {"methods": ["GET"], "path_glob": "/noisy/**"},
            "compare": {"ignore": ["/id", "/ts"],
                        "arrays": [{"path": "/lines", "key": "sku"}]}}]}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
