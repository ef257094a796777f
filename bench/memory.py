#!/usr/bin/env python3
"""bench/memory.py: memory per in-flight exchange, and RSS with 10,000 slow
shadow requests in flight.

A legacy stub answers at once, a shadow stub after --delay-ms (default
20 s), so every mirrored request stays in flight. curl sends N requests
(default 10,000; 64 at a time), the proxy's RSS and its
shadowproxy_shadow_in_flight gauge are sampled every 100 ms, and the table
gives RSS before the load, at the peak of the in-flight count, and the
bytes per in-flight exchange ((RSS at peak - RSS before) / in flight).
Four runs: shadow.max_in_flight = N (everything may wait) with the shadow
on curl (shadow.client "curl", what every shadow used before the lean
client) and shadow.recv_buffer 16384 (curl's receive buffer, held by every
waiting shadow: the size before "auto"), the same with recv_buffer "auto"
(0: sized from the route's answers, 1 KiB for these 512-byte ones), the
same with the default shadow.client "auto" (the lean client: no receive
buffer per transfer), and the default cap 1000 (the cap holds the memory;
the rest is dropped and counted).

Usage: bench/memory.py [--requests N] [--delay-ms MS]
Everything runs on 127.0.0.1 and stops by itself.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from benchlib import free_port, wait_port  # noqa: E402  (bench/ is on sys.path)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SP_BIN = os.environ.get("SP_BIN", os.path.join(ROOT, "shadowproxy"))
SP_STUB = os.environ.get("SP_STUB", os.path.join(ROOT, "build", "sp-stub"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


def gauge(admin, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def run(tmp, requests, delay_ms, cap, recv_buffer=0, client="auto"):
    procs = []
    try:
        lp, np_, pp, ap = free_port(), free_port(), free_port(), free_port()
        for port, name, extra in ((lp, "legacy", []), (np_, "new", ["--delay-ms", str(delay_ms)])):
            procs.append(subprocess.Popen([SP_STUB, "--listen", f"127.0.0.1:{port}", "--name", name,
                                           "--profile", "plain", *extra],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            if not wait_port(port):
                raise RuntimeError(f"stub {name} did not start")
        # busy_min_percent 100: every request is mirrored even while a
        # worker is saturated (sending as fast as curl can, it is).
        cfg = {"shadow": {"max_in_flight": cap, "timeout_ms": delay_ms + 10000,
                          "recv_buffer": recv_buffer, "busy_min_percent": 100,
                          "client": client},
               "admin": {"listen": f"127.0.0.1:{ap}"},
               "state_file": os.path.join(tmp, f"state-{cap}-{recv_buffer}-{client}.json")}
        cfg_path = os.path.join(tmp, f"config-{cap}-{recv_buffer}-{client}.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        proxy = subprocess.Popen([SP_BIN, "serve", "--config", cfg_path, "--listen", f"127.0.0.1:{pp}",
                                  "--legacy", f"http://127.0.0.1:{lp}", "--new", f"http://127.0.0.1:{np_}",
                                  "--diff-log", os.path.join(tmp, f"diffs-{cap}-{recv_buffer}-{client}.jsonl"), "--workers", "2"],
                                 stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, f"proxy-{cap}-{recv_buffer}-{client}.err"), "w"))
        procs.append(proxy)
        if not wait_port(pp) or not wait_port(ap):
            raise RuntimeError("shadowproxy did not start")
        time.sleep(0.5)
        base = rss_kib(proxy.pid)
        samples = []
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                try:
                    samples.append((gauge(ap, "shadowproxy_shadow_in_flight"), rss_kib(proxy.pid)))
                except (OSError, StopIteration, ValueError):
                    pass
                time.sleep(0.1)

        t = threading.Thread(target=sample)
        t.start()
        t0 = time.monotonic()
        load = subprocess.run(["curl", "-s", "--parallel", "--parallel-max", "64", "-o", "/dev/null",
                               "-w", "%{http_code}\\n", f"http://127.0.0.1:{pp}/bytes/512?n=[1-{requests}]"],
                              capture_output=True, text=True, timeout=300)
        sent = time.monotonic() - t0
        time.sleep(1.0)  # the last mirrors go out
        stop.set()
        t.join()
        codes = load.stdout.split()
        peak = max(samples) if samples else (0.0, base)
        dropped = gauge(ap, "shadowproxy_shadow_dropped_total")
        proxy.send_signal(signal.SIGKILL)  # no need to wait out the slow shadows
        return {"cap": cap, "recv_buffer": recv_buffer, "client": client, "requests": requests, "ok": codes.count("200"), "seconds": round(sent, 1),
                "rss_before_kib": base, "peak_in_flight": int(peak[0]), "rss_at_peak_kib": peak[1],
                "rss_max_kib": max(s[1] for s in samples) if samples else base,
                "bytes_per_in_flight": int((peak[1] - base) * 1024 / peak[0]) if peak[0] else None,
                "dropped": int(dropped)}
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=10000)
    ap.add_argument("--delay-ms", type=int, default=20000)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sp-mem-")
    rows = []
    try:
        for cap, recv_buffer, client in ((a.requests, 16384, "curl"), (a.requests, 0, "curl"),
                                         (a.requests, 0, "auto"), (1000, 0, "auto")):
            rows.append(run(tmp, a.requests, a.delay_ms, cap, recv_buffer, client))
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"memory: {e}", file=sys.stderr)
        return 2
    print("| shadow.client | shadow.max_in_flight | shadow.recv_buffer | requests (200 OK) | sent in | peak shadows in flight | RSS before | RSS at peak | RSS max | bytes per in-flight exchange | shadow_dropped |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['client']} | {r['cap']} | {r['recv_buffer'] or 'auto'} | {r['requests']} ({r['ok']}) | {r['seconds']} s | {r['peak_in_flight']} | "
              f"{r['rss_before_kib'] / 1024:.1f} MiB | {r['rss_at_peak_kib'] / 1024:.1f} MiB | "
              f"{r['rss_max_kib'] / 1024:.1f} MiB | {r['bytes_per_in_flight']} | {r['dropped']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
