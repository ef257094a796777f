#!/usr/bin/env python3
"""bench/soak.py: a bounded soak run of shadowproxy under faults.

Mixed Magento-like traffic at a steady rate through shadowproxy (the worked
rules file rules/examples/magento-erp.json, diff log in mode "all") while
the shadow is randomly slow, failing and restarted, the rules are reloaded
and the authority is flipped every few seconds. At the end (SIGTERM, drain)
it checks and prints:

- client errors not caused by the authoritative upstream: must be 0
  (a 5xx the authoritative upstream answered itself, or a 502/504 the proxy
  made because the authoritative upstream failed, is that upstream's doing);
- lost records: every request id sent must have exactly one record;
- RSS after warm-up: the slope of a least-squares line (KiB per minute),
  and the first/last/max values;
- open file descriptors: first and last after warm-up.

Usage: bench/soak.py [--seconds N] [--rate R] [--clients C] [--json FILE]
Exit status: 0 when every check passed, 1 when one failed, 2 on setup errors.
Everything runs on 127.0.0.1 and stops by itself.
"""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from benchlib import free_port, wait_port  # noqa: E402  (bench/ is on sys.path)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SP_BIN = os.environ.get("SP_BIN", os.path.join(ROOT, "shadowproxy"))
SP_STUB = os.environ.get("SP_STUB", os.path.join(ROOT, "build", "sp-stub"))
RULES = os.path.join(ROOT, "rules", "examples", "magento-erp.json")
SKUS = ["24-MB01", "24-MB04", "24-MB03", "24-UG06", "MH01-M-Black", "WT09-M-White"]


class Stub:
    def __init__(self, tmp, name, profile, port):
        self.tmp, self.name, self.profile, self.port = tmp, name, profile, port
        self.proc = None
        self.restarts = 0

    def start(self):
        err = open(os.path.join(self.tmp, f"stub-{self.name}.err"), "a")
        self.proc = subprocess.Popen(
            [SP_STUB, "--listen", f"127.0.0.1:{self.port}", "--name", self.name,
             "--profile", self.profile] + (["--noise"] if self.profile == "new" else []),
            stdout=subprocess.DEVNULL, stderr=err)
        err.close()
        if not wait_port(self.port):
            raise RuntimeError(f"stub {self.name} did not start")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def request_mix(rng):
    """One Magento-like request: (method, path, body, extra headers)."""
    r = rng.random()
    if r < 0.40:
        return "GET", f"/api/orders/{rng.randint(1, 5000)}", None
    if r < 0.55:
        return "GET", f"/api/customers/{rng.randint(1, 5000)}", None
    if r < 0.70:
        return "GET", f"/api/inventory/{rng.choice(SKUS)}", None
    if r < 0.80:
        return "GET", f"/api/invoices/{rng.randint(1, 5000)}", None
    if r < 0.88:
        return "GET", f"/api/orders?status=processing&page={rng.randint(1, 20)}", None
    doc = {"increment_id": str(rng.randint(100000, 999999)),
           "items": [{"sku": rng.choice(SKUS), "qty": rng.randint(1, 3)}]}
    if rng.random() < 0.8:
        doc["customer_email"] = f"c{rng.randint(1, 999)}@example.com"
    return "POST", "/api/orders", json.dumps(doc)


class Soak:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="sp-soak-")
        self.sent = {}           # id -> (status, body head)
        self.transport_errors = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.events = {"slow_shadow": 0, "failing_shadow": 0, "shadow_restarts": 0,
                       "reloads": 0, "flips": 0}
        self.samples = []        # (t, rss_kib, fds)
        self.shadow_mode = None  # directive for the new stub, or None

    # -- processes ------------------------------------------------------------
    def start(self):
        self.legacy = Stub(self.tmp, "legacy", "legacy", free_port())
        self.new = Stub(self.tmp, "new", "new", free_port())
        self.legacy.start()
        self.new.start()
        self.port, self.admin = free_port(), free_port()
        self.diff_log = os.path.join(self.tmp, "diffs.jsonl")
        cfg = {"admin": {"listen": f"127.0.0.1:{self.admin}"},
               "state_file": os.path.join(self.tmp, "state.json"),
               "shadow": {"timeout_ms": 400}}
        cfg_path = os.path.join(self.tmp, "config.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        env = dict(os.environ, NEW_ERP_AUTH="Bearer soak-new-erp")
        self.err = open(os.path.join(self.tmp, "proxy.err"), "w")
        self.proxy = subprocess.Popen(
            [SP_BIN, "serve", "--config", cfg_path, "--rules", RULES,
             "--listen", f"127.0.0.1:{self.port}",
             "--legacy", f"http://127.0.0.1:{self.legacy.port}",
             "--new", f"http://127.0.0.1:{self.new.port}",
             "--diff-log", self.diff_log, "--diff-log-mode", "all", "--workers", "2"],
            stdout=subprocess.DEVNULL, stderr=self.err, env=env)
        if not wait_port(self.port) or not wait_port(self.admin):
            raise RuntimeError("shadowproxy did not start")

    def admin_post(self, path, doc):
        c = http.client.HTTPConnection("127.0.0.1", self.admin, timeout=10)
        try:
            c.request("POST", path, body=json.dumps(doc), headers={"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            return r.status
        finally:
            c.close()

    # -- load -------------------------------------------------------------------
    def client(self, idx, interval):
        rng = random.Random(1000 + idx)
        conn = None
        next_t = time.monotonic()
        while not self.stop.is_set():
            next_t += interval
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            method, path, body = request_mix(rng)
            rid = f"soak-{idx}-{uuid.uuid4().hex[:12]}"
            headers = {"X-Request-Id": rid, "Accept-Encoding": "gzip"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            mode = self.shadow_mode
            if mode:
                headers["X-Stub-Ctl-new"] = mode
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
                conn.request(method, path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                with self.lock:
                    self.sent[rid] = (r.status, data[:300])
            except (OSError, http.client.HTTPException) as e:
                with self.lock:
                    self.sent[rid] = (None, b"")
                    self.transport_errors.append(f"{rid}: {e!r}")
                if conn:
                    conn.close()
                conn = None
        if conn:
            conn.close()

    def chaos(self):
        rng = random.Random(7)
        side = "legacy"
        while not self.stop.wait(rng.uniform(1.0, 3.0)):
            action = rng.choice(["slow", "fail", "restart", "reload", "flip", "calm"])
            if action == "slow":
                self.shadow_mode = f"delay={rng.choice([200, 600, 1500])}"
                self.events["slow_shadow"] += 1
            elif action == "fail":
                self.shadow_mode = rng.choice(["status=500", "close", "reset", "garbage"])
                self.events["failing_shadow"] += 1
            elif action == "calm":
                self.shadow_mode = None
            elif action == "restart":
                # The shadow is the side not in authority; a flip may make the new
                # stub authoritative, so restart whichever stub is the shadow now.
                stub = self.new if side == "legacy" else self.legacy
                stub.stop(rng.choice([signal.SIGTERM, signal.SIGKILL]))
                time.sleep(rng.uniform(0.2, 1.0))
                stub.start()
                self.events["shadow_restarts"] += 1
            elif action == "reload":
                if self.admin_post("/reload", {}) == 200:
                    self.events["reloads"] += 1
            elif action == "flip":
                side = "new" if side == "legacy" else "legacy"
                if self.admin_post("/authority", {"side": side}) == 200:
                    self.events["flips"] += 1
                    if side == "new":
                        self.shadow_mode = None  # directives would then hit the client's side

    def sampler(self):
        while not self.stop.wait(1.0):
            try:
                with open(f"/proc/{self.proxy.pid}/status") as f:
                    rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
                fds = len(os.listdir(f"/proc/{self.proxy.pid}/fd"))
            except (OSError, StopIteration):
                continue
            self.samples.append((time.monotonic(), rss, fds))

    # -- the run ----------------------------------------------------------------
    def run(self):
        a = self.args
        self.start()
        t0 = time.monotonic()
        interval = a.clients / a.rate
        threads = [threading.Thread(target=self.client, args=(i, interval)) for i in range(a.clients)]
        threads += [threading.Thread(target=self.chaos), threading.Thread(target=self.sampler)]
        for t in threads:
            t.start()
        try:
            while time.monotonic() - t0 < a.seconds:
                time.sleep(0.2)
        finally:
            self.stop.set()
            for t in threads:
                t.join(60)
        elapsed = time.monotonic() - t0
        self.proxy.send_signal(signal.SIGTERM)
        try:
            rc = self.proxy.wait(60)
        except subprocess.TimeoutExpired:
            self.proxy.kill()
            rc = "killed after 60 s"
        self.err.close()
        self.legacy.stop()
        self.new.stop()
        return self.check(elapsed, rc)

    def check(self, elapsed, rc):
        records = {}
        torn = 0
        with open(self.diff_log, "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        if lines and lines[-1]:
            torn = 1
        for raw in lines[:-1]:
            rec = json.loads(raw)
            records.setdefault(rec["id"], []).append(rec)
        ids = set(self.sent)
        lost = sorted(ids - set(records))
        dup = sorted(i for i, r in records.items() if len(r) > 1 and i in ids)
        proxy_faults = []
        authoritative = 0
        for rid, (status, body) in self.sent.items():
            if status is None:
                proxy_faults.append(f"{rid}: transport error")
                continue
            if status < 500:
                continue
            rec = records.get(rid, [None])[0]
            if rec is None:
                proxy_faults.append(f"{rid}: {status} without a record")
                continue
            leg = rec[rec["authority"]]
            if rec["verdict"] == "authoritative_error" or leg.get("status") == status:
                authoritative += 1  # the authoritative upstream's own answer or failure
            else:
                proxy_faults.append(f"{rid}: {status} ({rec['verdict']})")
        verdicts = {}
        for recs in records.values():
            v = recs[0]["verdict"]
            verdicts[v] = verdicts.get(v, 0) + 1
        warm = [s for s in self.samples if s[0] - self.samples[0][0] >= elapsed * 0.2] \
            if self.samples else []
        half = len(warm) // 2
        early, late = warm[:half], warm[half:]

        def slope(col):  # least squares, per minute
            if len(warm) < 3:
                return 0.0
            ts = [x[0] for x in warm]
            mt = sum(ts) / len(ts)
            mv = sum(x[col] for x in warm) / len(warm)
            den = sum((t - mt) ** 2 for t in ts)
            return sum((x[0] - mt) * (x[col] - mv) for x in warm) / den * 60 if den else 0.0

        def flat(col, rel, extra):
            # A leak keeps climbing: the late half's peak stays within the
            # early half's peak (plus noise); in-flight churn does not count.
            if not early or not late:
                return True
            return max(x[col] for x in late) <= max(x[col] for x in early) * rel + extra

        def summary(col):
            if not warm:
                return {"first": None, "last": None, "max": None, "slope_per_min": 0.0}
            return {"first": warm[0][col], "last": warm[-1][col],
                    "max": max(x[col] for x in warm), "slope_per_min": round(slope(col), 1)}

        err_text = open(os.path.join(self.tmp, "proxy.err")).read()
        result = {
            "seconds": round(elapsed, 1), "requests": len(self.sent),
            "rate": round(len(self.sent) / elapsed, 1), "events": self.events,
            "verdicts": verdicts, "authoritative_5xx": authoritative,
            "proxy_faults": len(proxy_faults), "proxy_fault_samples": proxy_faults[:5],
            "lost_records": len(lost), "lost_samples": lost[:5], "duplicate_records": len(dup),
            "torn_lines": torn, "exit_code": rc,
            "rss_kib": summary(1), "rss_flat": flat(1, 1.10, 4096),
            "fds": summary(2), "fds_flat": flat(2, 1.0, 64),
            "error_lines": sum(1 for l in err_text.splitlines() if "level=error" in l),
            "sanitizer_reports": sum(err_text.count(w) for w in
                                     ("AddressSanitizer", "LeakSanitizer", "runtime error")),
            "workdir": self.tmp,
        }
        result["pass"] = (not proxy_faults and not lost and not dup and torn == 0 and rc == 0
                          and result["sanitizer_reports"] == 0
                          and result["rss_flat"] and result["fds_flat"])
        return result


def print_table(r):
    rows = [
        ("duration", f"{r['seconds']} s"), ("requests", f"{r['requests']} ({r['rate']}/s)"),
        ("faults injected", ", ".join(f"{k} {v}" for k, v in r["events"].items())),
        ("verdicts", ", ".join(f"{k} {v}" for k, v in sorted(r["verdicts"].items()))),
        ("5xx from the authoritative upstream", str(r["authoritative_5xx"])),
        ("client errors caused by the proxy", str(r["proxy_faults"])),
        ("lost / duplicate records", f"{r['lost_records']} / {r['duplicate_records']}"),
        ("torn lines", str(r["torn_lines"])),
        ("RSS after warm-up (KiB)", "first {first}, last {last}, max {max}, slope {slope_per_min}/min".format(**r["rss_kib"])
         + ("" if r["rss_flat"] else " GROWING")),
        ("fds after warm-up", "first {first}, last {last}, max {max}, slope {slope_per_min}/min".format(**r["fds"])
         + ("" if r["fds_flat"] else " GROWING")),
        ("exit code on SIGTERM", str(r["exit_code"])), ("error log lines", str(r["error_lines"])),
        ("sanitizer reports", str(r["sanitizer_reports"])),
        ("result", "PASS" if r["pass"] else "FAIL"),
    ]
    w = max(len(k) for k, _ in rows)
    print(f"| {'soak'.ljust(w)} | value |\n|{'-' * (w + 2)}|-------|")
    for k, v in rows:
        print(f"| {k.ljust(w)} | {v} |")
    for s in r["proxy_fault_samples"] + r["lost_samples"]:
        print(f"  e.g. {s}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 180)))
    p.add_argument("--rate", type=float, default=float(os.environ.get("SOAK_RATE", 200)))
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--json", help="also write the result as JSON to this file")
    p.add_argument("--keep", action="store_true", help="keep the work directory even on success")
    a = p.parse_args()
    if not (os.access(SP_BIN, os.X_OK) and os.access(SP_STUB, os.X_OK)):
        print(f"soak: build first ({SP_BIN}, {SP_STUB})", file=sys.stderr)
        return 2
    s = Soak(a)
    try:
        r = s.run()
    except RuntimeError as e:
        print(f"soak: {e}", file=sys.stderr)
        return 2
    finally:
        for st in (getattr(s, "legacy", None), getattr(s, "new", None)):
            if st:
                st.stop()
        if getattr(s, "proxy", None) and s.proxy.poll() is None:
            s.proxy.kill()
    print_table(r)
    if r["pass"] and not a.keep:
        shutil.rmtree(s.tmp, ignore_errors=True)
        r["workdir"] = None
    else:
        print(f"work directory (logs, diff log): {s.tmp}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=2)
    return 0 if r["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
