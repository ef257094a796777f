"""A short run of bench/soak.py (the soak benchmark) as a test: mixed
traffic while the shadow is slowed, failed and restarted and the rules and
authority change under it. Every request id must have exactly one record,
no client error may come from the proxy, the proxy drains and exits 0, and
(under ASan) reports nothing. The minutes-long run is `make soak`."""
import json
import os
import subprocess
import sys

from conftest import SANITIZED, SLOW, SP_BIN, SP_STUB

SOAK = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "soak.py")


def test_short_soak(tmp):
    out = os.path.join(tmp, "soak.json")
    env = dict(os.environ, SP_BIN=SP_BIN, SP_STUB=SP_STUB)
    r = subprocess.run([sys.executable, SOAK, "--seconds", "10", "--rate", "60" if SANITIZED else "120",
                        "--json", out], env=env, capture_output=True, text=True,
                       timeout=120 * SLOW)
    assert os.path.exists(out), r.stdout + r.stderr
    res = json.load(open(out))
    assert res["requests"] >= 400, res
    assert res["lost_records"] == 0 and res["duplicate_records"] == 0, res
    assert res["proxy_faults"] == 0, res["proxy_fault_samples"]
    assert res["exit_code"] == 0 and res["torn_lines"] == 0, res
    assert res["sanitizer_reports"] == 0, res
    assert sum(res["events"].values()) >= 3, res["events"]  # faults were injected
    assert r.returncode == (0 if res["pass"] else 1)
