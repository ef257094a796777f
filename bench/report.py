#!/usr/bin/env python3
"""bench/report.py: the parsing and printing half of bench/run.sh.

Standard library only.

  report.py wrk FILE                 parse one wrk --latency output, print
                                     shell assignments (wrk_rps=... etc.)
  report.py row ROWS.jsonl k=v ...   append one result row (a JSON object)
  report.py compare-row ROWS.jsonl METRICS.txt k=v ...
                                     append one row of the comparer pool's
                                     figures, read from a /metrics scrape
  report.py render OUTDIR            print the tables from OUTDIR/*.jsonl;
                                     they are also written to OUTDIR/results.md
"""
import json
import os
import re
import shlex
import sys

UNITS_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def to_us(text):
    """'812.00us', '4.59ms', '1.02s', '2.00m' -> microseconds (float)."""
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        raise ValueError("unparsable wrk duration %r" % text)
    return float(m.group(1)) * UNITS_US[m.group(2)]


def parse_wrk(text):
    out = {"rps": None, "requests": None, "p50_us": None, "p99_us": None,
           "non2xx": 0, "connect": 0, "read": 0, "write": 0, "timeout": 0}
    m = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    if m:
        out["rps"] = float(m.group(1))
    m = re.search(r"^\s*(\d+) requests in ", text, re.M)
    if m:
        out["requests"] = int(m.group(1))
    # The "Latency Distribution" block: "     50%    4.59ms".
    for pct, key in (("50", "p50_us"), ("99", "p99_us")):
        m = re.search(r"^\s+%s(?:\.0+)?%%\s+([0-9.]+[a-z]+)\s*$" % pct, text, re.M)
        if m:
            out[key] = to_us(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        out["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                  r"timeout (\d+)", text)
    if m:
        for i, k in enumerate(("connect", "read", "write", "timeout")):
            out[k] = int(m.group(i + 1))
    return out


def cmd_wrk(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        w = parse_wrk(f.read())
    ok = w["rps"] is not None and w["requests"] is not None
    print("wrk_ok=%d" % ok)
    for k, v in w.items():
        print("wrk_%s=%s" % (k, shlex.quote("" if v is None else str(v))))


def cmd_row(path, pairs):
    row = {}
    for p in pairs:
        k, _, v = p.partition("=")
        row[k] = v
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def metric_sums(text):
    """{sample name: sum over its label sets} of a Prometheus exposition."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)", line)
        if m and not line.startswith("#"):
            out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(3))
    return out


def cmd_compare_row(path, metrics_path, pairs):
    with open(metrics_path, encoding="utf-8", errors="replace") as f:
        m = metric_sums(f.read())
    pairs = list(pairs) + [
        "offered=%d" % m.get("shadowproxy_compare_offered_total", 0),
        "sampled_out=%d" % m.get("shadowproxy_compare_sampled_out_total", 0),
        "records_lost=%d" % m.get("shadowproxy_difflog_records_lost_total", 0),
        "unlogged=%d" % m.get("shadowproxy_difflog_records_unlogged_total", 0),
        "busy_s=%.3f" % m.get("shadowproxy_comparer_busy_seconds_total", 0),
        "requests=%d" % m.get("shadowproxy_requests_total", 0),
        "shadow_sent=%d" % m.get("shadowproxy_shadow_sent_total", 0),
        # chosen for comparison but still queued when the CPU was read
        "queued=%d" % m.get("shadowproxy_comparer_queue_depth", 0),
    ]
    cmd_row(path, pairs)


def compare_table(rows, main):
    """The comparer pool's rows: counts added up over the rounds, ratios of
    the sums."""
    groups = {}
    for r in rows:
        g = groups.setdefault(r.get("id"), {"label": r.get("label"), "rounds": 0})
        g["rounds"] += 1
        for k in ("offered", "sampled_out", "records_lost", "unlogged", "busy_s",
                  "compare_cpu_s", "requests", "shadow_sent", "queued"):
            g[k] = g.get(k, 0.0) + (num(r.get(k)) or 0.0)
    rps = {r.get("id"): num(r.get("rps")) for r in main}
    cpu = {r.get("id"): num(r.get("cpu_us_per_req")) for r in main}
    hdr = ["run", "req/s", "CPU us/req", "mirrored %", "offered", "compared %", "records lost",
           "comparer CPU us / compared", "comparer busy us / compared"]
    right = [False] + [True] * 8
    out_rows = []
    for sid, g in groups.items():
        chosen = g["offered"] - g["sampled_out"]
        g["share"] = 100.0 * chosen / g["offered"] if g["offered"] else None
        # Per exchange compared by the time the CPU was read: at saturation
        # thousands chosen are still queued then (they are compared at the
        # exit), and dividing by the chosen ones understated the cost 2-3x.
        compared = chosen - g["queued"]
        g["cpu_per"] = 1e6 * g["compare_cpu_s"] / compared if compared > 0 else None
        g["mirrored"] = 100.0 * g["shadow_sent"] / g["requests"] if g["requests"] else None
        out_rows.append([g["label"] or sid, fmt(rps.get(sid), ".0f"), fmt(cpu.get(sid), ".1f"),
                         fmt(g["mirrored"], ".1f"), fmt(g["offered"], ".0f"), fmt(g["share"], ".1f"),
                         fmt(g["records_lost"], ".0f"), fmt(g["cpu_per"], ".1f"),
                         fmt(1e6 * g["busy_s"] / compared if compared > 0 else None, ".1f")])
    return groups, table(hdr, out_rows, right)


def load(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt(v, spec, dash="-"):
    v = num(v)
    return dash if v is None else format(v, spec)


def table(headers, rows, right):
    widths = [len(h) for h in headers]
    for r in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, r)]

    def line(cells):
        out = []
        for i, c in enumerate(cells):
            out.append(c.rjust(widths[i]) if right[i] else c.ljust(widths[i]))
        return "| " + " | ".join(out) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if right[i] else ("-" * (w + 2))
                         for i, w in enumerate(widths)) + "|"
    return "\n".join([line(headers), sep] + [line(r) for r in rows])


def per_core(r):
    """Requests one fully busy core could serve: 1e6 / CPU us per request."""
    c = num(r.get("cpu_us_per_req"))
    return 1e6 / c if c else None


SUMMED = ("requests", "non2xx", "connect", "read", "write", "timeout")


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def merge_rounds(rows, summed=SUMMED):
    """One row per id, in first-seen order: each measured value is the median
    over the rounds (counts in `summed` are added up, wrk_ok must hold in
    every round, exit keeps the first failure); cpu_spread is the range of
    CPU us per request over the rounds, in % of its median."""
    groups = {}
    for r in rows:
        groups.setdefault(r.get("id"), []).append(r)
    merged = []
    for rs in groups.values():
        m = dict(rs[0])
        m["rounds"] = len(rs)
        for k in set().union(*rs):
            vals = [r.get(k) for r in rs]
            nums = [num(v) for v in vals]
            whole = all(x is not None for x in nums)
            if k == "wrk_ok":
                m[k] = "1" if all(v == "1" for v in vals) else "0"
            elif k == "exit":
                m[k] = next((v for v in vals if v != "0"), vals[0])
            elif k == "busy" and all(v and "/" in v for v in vals):
                parts = [[num(x) for x in v.split("/")] for v in vals]
                m[k] = "/".join("%.0f" % median([p[i] for p in parts])
                                for i in range(len(parts[0])))
            elif whole and k in summed:
                m[k] = sum(nums)
            elif whole and k not in ("id", "label"):
                m[k] = median(nums)
        cpu = [num(r.get("cpu_us_per_req")) for r in rs]
        if len(rs) > 1 and all(cpu):
            m["cpu_spread"] = 100.0 * (max(cpu) - min(cpu)) / median(cpu)
        merged.append(m)
    return merged


def errors_of(r):
    parts = []
    for k, label in (("non2xx", "non-2xx"), ("connect", "connect"),
                     ("read", "read"), ("write", "write"),
                     ("timeout", "timeout")):
        n = int(num(r.get(k)) or 0)
        if n:
            parts.append("%s %d" % (label, n))
    if r.get("wrk_ok") != "1":
        parts.append("wrk output unparsable")
    return ", ".join(parts) if parts else "0"


def render(outdir):
    meta = {}
    for r in load(os.path.join(outdir, "meta.jsonl")):
        meta.update(r)
    main = merge_rounds(load(os.path.join(outdir, "rows.jsonl")))
    low = merge_rounds(load(os.path.join(outdir, "lowload.jsonl")))
    sp = merge_rounds(load(os.path.join(outdir, "shadowproxy.jsonl")),
                      summed=("difflog_lines", "difflog_mib", "requests", "match",
                              "mismatch", "known", "shadow_error", "shadow_timeout",
                              "shadow_dropped", "skipped", "authoritative_error",
                              "records_written", "records_lost"))
    rounds = max([int(r.get("rounds", 1)) for r in main] or [1])
    problems = load(os.path.join(outdir, "problems.jsonl"))

    ref = None
    for r in main:
        if r.get("id") == "nginx-mirror":
            ref = num(r.get("rps"))
    out = []
    out.append("# shadowproxy benchmark")
    out.append("")
    out.append("- date: %s" % meta.get("date", "?"))
    out.append("- machine: %s core(s), %s, kernel %s" % (
        meta.get("nproc", "?"), meta.get("cpu", "?"), meta.get("kernel", "?")))
    out.append("- rounds: %d; every scenario runs once per round, rounds one after "
               "the other, so drift on the machine hits every row alike; each "
               "figure is the median over the rounds" % rounds)
    out.append("- load: `wrk -t1 -c32 -d%ss --latency` after a %ss warm-up; "
               "route `GET %s` (%s-byte JSON answer), legacy-profile stubs "
               "on both sides" % (meta.get("seconds", "?"),
                                  meta.get("warmup", "?"), meta.get("route", "?"),
                                  meta.get("body_bytes", "?")))
    out.append("- pinning: %s" % meta.get("pinning", "?"))
    out.append("- before the run: %s %s during 1 s, load average %s" % (
        meta.get("busy_label", "busy %"), meta.get("busy_before", "?"),
        meta.get("loadavg", "?")))
    busy = [num(x) for x in str(meta.get("busy_before", "")).split("/")]
    if any(b is not None and b >= 15 for b in busy):
        out.append("- **WARNING: the machine was already busy before the run; "
                   "other processes share the cores, so these numbers are "
                   "unreliable (check the busy column, rerun when idle)**")
    out.append("- versions: %s; %s; %s" % (meta.get("sp_version", "?"),
                                           meta.get("nginx_version", "?"),
                                           meta.get("wrk_version", "?")))
    out.append("")
    out.append("## Throughput at 32 connections (one worker per proxy)")
    out.append("")
    hdr = ["scenario", "req/s", "p50 ms", "p99 ms", "CPU us/req",
           "CPU spread %", "proxy core %", "req/s per core", "peak RSS MiB",
           "vs nginx+mirror", "connects/1k req", meta.get("busy_label", "busy %"), "errors"]
    right = [False] + [True] * 11 + [False]
    rows = []
    for r in main:
        rps = num(r.get("rps"))
        ratio = "-" if (rps is None or not ref) else "%.2fx" % (rps / ref)
        p50, p99 = num(r.get("p50_us")), num(r.get("p99_us"))
        rows.append([
            r.get("label", r.get("id", "?")),
            fmt(rps, ".0f"),
            fmt(None if p50 is None else p50 / 1e3, ".2f"),
            fmt(None if p99 is None else p99 / 1e3, ".2f"),
            fmt(r.get("cpu_us_per_req"), ".1f"),
            fmt(r.get("cpu_spread"), ".0f"),
            fmt(r.get("cpu_pct"), ".0f"),
            fmt(per_core(r), ".0f"),
            fmt(r.get("rss_mib"), ".1f"),
            ratio,
            fmt(r.get("conn_per_k"), ".0f"),
            r.get("busy") or "-",
            errors_of(r),
        ])
    out.append(table(hdr, rows, right))
    out.append("")

    # The project's targets, computed from the rows above.
    by = {r.get("id"): num(r.get("rps")) for r in main}
    pc = {r.get("id"): per_core(r) for r in main}
    checks = []
    # Like for like with nginx's mirror: row 3c mirrors every request (row 3
    # yields to the saturated worker and mirrors a small share).
    healthy = "sp-healthy-m100" if by.get("sp-healthy-m100") else "sp-healthy"
    if by.get(healthy) and by.get("nginx-mirror"):
        x = by[healthy] / by["nginx-mirror"]
        checks.append("%s vs nginx+mirror, measured req/s: %.2fx "
                      "(target >= 1.00x): %s" % (healthy, x, "met" if x >= 1.0 else "NOT met"))
    if pc.get(healthy) and pc.get("nginx-mirror"):
        x = pc[healthy] / pc["nginx-mirror"]
        checks.append("%s vs nginx+mirror, req/s per core "
                      "(1e6 / CPU us per request): %.2fx (target >= 1.00x): %s"
                      % (healthy, x, "met" if x >= 1.0 else "NOT met"))
    cmp_rows = load(os.path.join(outdir, "compare.jsonl"))
    cmp_groups, cmp_text = compare_table(cmp_rows, main) if cmp_rows else ({}, "")
    # Issue 14: a slow shadow costs at most 2%; a dead one at most 5%.
    for sid, name, limit in (("sp-slow", "slow shadow", 2.0),
                             ("sp-slow-m100", "slow shadow, mirror all", 2.0),
                             ("sp-down", "dead shadow", 5.0)):
        g = cmp_groups.get(sid) or {}
        share = "" if g.get("mirrored") is None else " (%.1f%% mirrored)" % g["mirrored"]
        if by.get(sid) and by.get("sp-off"):
            cost = 100.0 * (1.0 - by[sid] / by["sp-off"])
            checks.append("%s vs shadow off, measured req/s: %.1f%% "
                          "throughput cost (target <= %g%%)%s: %s"
                          % (name, cost, limit, share, "met" if cost <= limit else "NOT met"))
        if pc.get(sid) and pc.get("sp-off"):
            cost = 100.0 * (1.0 - pc[sid] / pc["sp-off"])
            checks.append("%s vs shadow off, req/s per core: %.1f%% cost "
                          "(target <= %g%%)%s: %s"
                          % (name, cost, limit, share, "met" if cost <= limit else "NOT met"))
    g1, g70 = cmp_groups.get("sp-noisy-1"), cmp_groups.get("sp-noisy-70")
    for sid in ("sp-noisy-1", "sp-noisy-2"):
        if by.get(sid) and by.get("sp-ident"):
            x = by[sid] / by["sp-ident"]
            checks.append("%s vs identical answers (row 9), req/s: %.2fx (target >= 0.90x): %s"
                          % (sid, x, "met" if x >= 0.9 else "NOT met"))
    for sid in ("sp-noisy-1", "sp-noisy-2"):
        g = cmp_groups.get(sid)
        if g:
            checks.append("%s at saturation: %.0f record(s) lost (target 0), %.1f%% compared "
                          "(chosen by request id): %s" % (
                              sid, g["records_lost"], g["share"] or 0,
                              "met" if g["records_lost"] == 0 else "NOT met"))
    if g70 and g1:
        x = (by.get("sp-noisy-70") or 0) / by["sp-noisy-1"] if by.get("sp-noisy-1") else 0
        ok = g70["records_lost"] == 0 and g70["share"] is not None and g70["share"] >= 100.0
        checks.append("noisy at %.0f%% of row 10's rate: %.1f%% compared, %.0f lost "
                      "(target 100%%, 0): %s" % (100 * x, g70["share"] or 0,
                                                 g70["records_lost"], "met" if ok else "NOT met"))
    if checks:
        out.append("Targets (medians of %d round(s); see bench/README.md):" % rounds)
        out.append("")
        for c in checks:
            out.append("- " + c)
        out.append("")

    if cmp_text:
        out.append("## The comparer pool (rows 9-12)")
        out.append("")
        out.append("Counts from each run's /metrics at its end (warm-up included), added "
                   "up over the rounds; compared % = 1 - sampled_out / offered. The per-compared "
                   "columns divide by the exchanges compared when the CPU was read (chosen "
                   "minus still queued: shadowproxy_comparer_queue_depth). Comparer "
                   "CPU is the sp-compare-* threads' time on a CPU (the scheduler's schedstat, not tick-sampled utime+stime); busy is their wall time "
                   "inside the comparison (shadowproxy_comparer_busy_seconds_total).")
        out.append("")
        out.append(cmp_text)
        out.append("")

    if low:
        out.append("## Added latency at low load (`wrk -t1 -c1 -d%ss`)" %
                   meta.get("seconds", "?"))
        out.append("")
        base = None
        for r in low:
            if r.get("id") == "direct":
                base = r
        hdr = ["path", "req/s", "p50 us", "p99 us", "p50 added us",
               "p99 added us", "errors"]
        right = [False, True, True, True, True, True, False]
        rows = []
        for r in low:
            p50, p99 = num(r.get("p50_us")), num(r.get("p99_us"))
            d50 = d99 = None
            if base is not None and r is not base:
                b50, b99 = num(base.get("p50_us")), num(base.get("p99_us"))
                if p50 is not None and b50 is not None:
                    d50 = p50 - b50
                if p99 is not None and b99 is not None:
                    d99 = p99 - b99
            rows.append([
                r.get("label", "?"), fmt(r.get("rps"), ".0f"),
                fmt(p50, ".0f"), fmt(p99, ".0f"),
                "-" if r is base else fmt(d50, "+.0f"),
                "-" if r is base else fmt(d99, "+.0f"),
                errors_of(r),
            ])
        out.append(table(hdr, rows, right))
        out.append("")

    if sp:
        out.append("## shadowproxy runs: exit status and diff log")
        out.append("")
        out.append("Counts are the proxy's own totals at exit, added up over "
                   "the rounds (warm-up and "
                   "readiness probes included). Diff-log lines and MiB are the "
                   "file's size after exit; the file is then deleted and its "
                   "first 20 lines kept in bench/out/diffs-*.sample.jsonl.")
        out.append("")
        keys = ["requests", "match", "mismatch", "shadow_error",
                "shadow_timeout", "shadow_dropped", "skipped",
                "authoritative_error", "records_written", "records_lost"]
        hdr = ["run", "exit", "diff-log lines", "diff-log MiB"] + keys
        right = [False, False, True, True] + [True] * len(keys)
        rows = []
        for r in sp:
            rows.append([r.get("label", "?"), r.get("exit", "?"),
                         fmt(r.get("difflog_lines"), ".0f", "?"),
                         fmt(r.get("difflog_mib"), ".1f", "?")] +
                        [fmt(r.get(k), ".0f", "?") for k in keys])
        out.append(table(hdr, rows, right))
        out.append("")

    if problems:
        out.append("## Problems seen")
        out.append("")
        for p in problems:
            out.append("- %s: %s" % (p.get("where", "?"), p.get("what", "?")))
        out.append("")

    text = "\n".join(out)
    with open(os.path.join(outdir, "results.md"), "w", encoding="utf-8") as f:
        f.write(text + "\n")
    print(text)


def main(argv):
    if len(argv) >= 2 and argv[0] == "wrk":
        cmd_wrk(argv[1])
    elif len(argv) >= 2 and argv[0] == "row":
        cmd_row(argv[1], argv[2:])
    elif len(argv) >= 3 and argv[0] == "compare-row":
        cmd_compare_row(argv[1], argv[2], argv[3:])
    elif len(argv) == 2 and argv[0] == "render":
        render(argv[1])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
