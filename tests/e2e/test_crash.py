"""kill -9 during heavy logging: the diff log holds whole lines up to the
moment of death (at most the last one torn), and `shadowproxy report`
reads everything before it."""
import json
import os
import signal
import subprocess
import threading
import time

from conftest import SLOW, SP_BIN


def test_kill_9_while_logging(stubs, proxy, tmp):
    legacy, new = stubs("legacy"), stubs("new")
    # Bodies big enough that one batch is many pages: a write cut by the kill
    # would show as a torn line.
    p = proxy(legacy.url, new.url, args=("--diff-log-mode", "all"),
              config={"diff_log": {"max_body_bytes": 200000}})
    p.expected_rc = None  # killed on purpose
    stop = threading.Event()
    sent = [0]

    def client(k):
        conn = p.conn(timeout=5)
        i = 0
        while not stop.is_set():
            try:
                conn.request("POST", f"/echo/{k}/{i}", body=b'{"pad":"' + b"x" * 60000 + b'"}',
                             headers={"Content-Type": "application/json"})
                conn.getresponse().read()
                sent[0] += 1
            except OSError:
                return
            i += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10 * SLOW
    while time.monotonic() < deadline and (
            not os.path.exists(p.diff_log) or os.path.getsize(p.diff_log) < 8 << 20):
        time.sleep(0.05)
    p.proc.send_signal(signal.SIGKILL)  # in the middle of the flood
    p.proc.wait(10)
    stop.set()
    for t in threads:
        t.join(10)
    with open(p.diff_log, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    whole = lines[:-1]
    assert len(whole) > 50, f"only {len(whole)} records before the kill ({sent[0]} sent)"
    # every newline-terminated line is whole JSON; overload summaries (the
    # comparers fell behind, as under sanitizers) are records of no exchange
    recs = [json.loads(raw) for raw in whole]
    exchanges = sum(1 for r in recs if r.get("type") != "overload")
    torn = 1 if lines[-1] else 0
    r = subprocess.run([SP_BIN, "report", "--format", "json", p.diff_log],
                       capture_output=True, text=True, timeout=60 * SLOW)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    inp = doc["inputs"][0]
    assert inp["records"] == len(whole) and inp["torn"] == torn and inp["invalid"] == 0
    assert sum(rt["exchanges"] for rt in doc["routes"]) == exchanges
