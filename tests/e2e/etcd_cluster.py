"""Real etcd servers (Debian's etcd-server) on free loopback ports for the
decision-store tests: one member, or a cluster. Data dirs live in the
test's tmp; startup waits are bounded; every member is killed at teardown."""
import base64
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.request
import uuid

from conftest import SLOW, free_port

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


def b64(s):
    return base64.b64encode(s.encode()).decode()


def etcd_post(url, path, body, timeout=2.0, context=None):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
        return json.loads(r.read())


class Member:
    def __init__(self, tmp, name, client_port, peer_port, cluster, token, tls=None):
        """tls: {"cert", "key", "ca", "client_cert", "client_key"}: clients
        speak HTTPS and must show a certificate the CA signed."""
        self.name = name
        self.client_port = client_port
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{client_port}"
        self.context = None
        if tls:
            self.context = ssl.create_default_context(cafile=tls["ca"])
            self.context.load_cert_chain(tls["client_cert"], tls["client_key"])
        self.log_path = os.path.join(tmp, f"etcd-{name}.log")
        self.cmd = [
            ETCD, "--name", name, "--data-dir", os.path.join(tmp, f"etcd-{name}.data"),
            "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
            "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-cluster", cluster, "--initial-cluster-token", token,
            "--initial-cluster-state", "new",
            # quick elections: a lost member is replaced in well under a second
            "--heartbeat-interval", "50", "--election-timeout", "500"]
        if tls:
            self.cmd += ["--cert-file", tls["cert"], "--key-file", tls["key"],
                         "--trusted-ca-file", tls["ca"], "--client-cert-auth"]
        self.proc = None
        self.start()

    def start(self):
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=self.log,
                                     env={**os.environ, "ETCD_UNSUPPORTED_ARCH": ""})

    def ready(self):
        """A linearizable read answered: the member has a leader."""
        try:
            etcd_post(self.url, "/v3/kv/range", {"key": b64("ready-probe")}, timeout=0.5,
                      context=self.context)
            return True
        except OSError:
            return False

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()


class Cluster:
    def __init__(self, tmp, n=1, tls=None):
        token = "sp-test-" + uuid.uuid4().hex[:8]
        ports = [(free_port(), free_port()) for _ in range(n)]
        cluster = ",".join(f"m{i}=http://127.0.0.1:{p}" for i, (_, p) in enumerate(ports))
        self.tls = tls
        self.members = [Member(tmp, f"m{i}", c, p, cluster, token, tls)
                        for i, (c, p) in enumerate(ports)]
        self.wait_ready()

    def wait_ready(self, members=None, timeout=20.0):
        deadline = time.monotonic() + timeout * SLOW
        for m in members or self.members:
            while not m.ready():
                if m.proc.poll() is not None or time.monotonic() > deadline:
                    with open(m.log_path) as f:
                        raise RuntimeError(f"etcd {m.name} did not start:\n{f.read()[-3000:]}")
                time.sleep(0.05)

    def endpoints(self, order=None):
        order = order or range(len(self.members))
        return ",".join(f"127.0.0.1:{self.members[i].client_port}" for i in order)

    def store(self, prefix="/shadowproxy", order=None):
        return f"{'etcds' if self.tls else 'etcd'}://{self.endpoints(order)}{prefix}"

    def get(self, key):
        """The value at key (a string), from any live member."""
        for m in self.members:
            if m.proc.poll() is None:
                r = etcd_post(m.url, "/v3/kv/range", {"key": b64(key)}, context=m.context)
                kvs = r.get("kvs") or []
                return base64.b64decode(kvs[0]["value"]).decode() if kvs else None
        raise RuntimeError("no live etcd member")

    def stop(self):
        for m in self.members:
            m.stop(signal.SIGKILL)
