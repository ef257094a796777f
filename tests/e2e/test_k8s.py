"""deploy/k8s/: every manifest parses, the pieces fit together (selectors,
ports, probes, preStop against the grace period, every file the config and
the rules name is in a mounted Secret or ConfigMap that holds it), and the
config and the rules load with `shadowproxy check`, paths made local."""
import json
import os
import subprocess

import pytest
import yaml

from conftest import SP_BIN

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
K8S = os.path.join(ROOT, "deploy", "k8s")
STORE = "etcd://etcd:2379/shadowproxy"


def manifests():
    out = {}
    for name in sorted(os.listdir(K8S)):
        if name.endswith(".yaml") and name != "kustomization.yaml":
            with open(os.path.join(K8S, name)) as f:
                for doc in yaml.safe_load_all(f):
                    key = (doc["kind"], doc["metadata"]["name"])
                    assert key not in out, key
                    out[key] = doc
    return out


@pytest.fixture(scope="module")
def by():
    return manifests()


def pod_of(by):
    dep = by[("Deployment", "shadowproxy")]
    return dep, dep["spec"]["template"], dep["spec"]["template"]["spec"]["containers"][0]


def config_of(by):
    return json.loads(by[("ConfigMap", "shadowproxy-config")]["data"]["config.json"])


def test_kustomization_lists_every_manifest():
    kust = yaml.safe_load(open(os.path.join(K8S, "kustomization.yaml")))
    files = sorted(n for n in os.listdir(K8S) if n.endswith(".yaml") and n != "kustomization.yaml")
    assert sorted(kust["resources"]) == files


def test_the_pieces_fit(by):
    assert set(by) == {("Secret", "shadowproxy-tokens"), ("ConfigMap", "shadowproxy-config"),
                       ("ConfigMap", "shadowproxy-rules"), ("Deployment", "shadowproxy"),
                       ("Service", "shadowproxy"), ("PodDisruptionBudget", "shadowproxy")}
    dep, pod, c = pod_of(by)
    cfg = config_of(by)
    labels = pod["metadata"]["labels"]
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert by[("Service", "shadowproxy")]["spec"]["selector"].items() <= labels.items()
    pdb = by[("PodDisruptionBudget", "shadowproxy")]["spec"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    # one replica may go for a drain, never both
    assert pdb.get("maxUnavailable") == 1 or 0 < pdb.get("minAvailable", 0) < 2

    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    admin_port = int(cfg["admin"]["listen"].rsplit(":", 1)[1])
    assert ports == {"traffic": int(cfg["listen"].rsplit(":", 1)[1]), "admin": admin_port}
    svc_ports = by[("Service", "shadowproxy")]["spec"]["ports"]
    assert [p["targetPort"] for p in svc_ports] == ["traffic"]  # the admin API is not exposed
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(admin_port)

    # probes: both tokenless endpoints on the admin port; /readyz may take 1 s
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert c["readinessProbe"].get("timeoutSeconds", 1) > 1
    # stopping: preStop + drain + shadow grace fit in the grace period
    cmd = c["lifecycle"]["preStop"]["exec"]["command"]
    assert cmd[0] == "sleep"
    need_ms = int(cmd[1]) * 1000 + cfg["limits"]["drain_timeout_ms"] + cfg["shadow"]["grace_ms"]
    assert pod["spec"]["terminationGracePeriodSeconds"] * 1000 > need_ms
    # the image's user, never root, read-only root
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    # workers as many as the CPU limit
    assert cfg["workers"] == int(c["resources"]["limits"]["cpu"])
    assert cfg["diff_log"]["path"] == "/dev/stdout"


def test_decisions_live_in_etcd(by):
    cfg = config_of(by)
    assert cfg.get("decisions", {}).get("store") == STORE, cfg


def mounted_files(by):
    """{path inside the pod: its content} for every file a volume puts
    there (ConfigMap data, Secret stringData), and the mounts themselves."""
    _, pod, c = pod_of(by)
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    files = {}
    for m in c["volumeMounts"]:
        assert "subPath" not in m, m  # a subPath mount never sees an update
        v = volumes[m["name"]]
        if "configMap" in v:
            data = by[("ConfigMap", v["configMap"]["name"])]["data"]
        else:
            data = by[("Secret", v["secret"]["secretName"])]["stringData"]
        for key, text in data.items():
            files[f"{m['mountPath']}/{key}"] = text
    return files


def test_config_and_rules_load_with_shadowproxy_check(by, tmp_path):
    _, pod, c = pod_of(by)
    files = mounted_files(by)
    assert c["args"] == ["serve", "--config", "/etc/shadowproxy/config/config.json"]
    cfg = config_of(by)
    rules_text = files[cfg["rules"]]
    rules = json.loads(rules_text)
    # every file the config and the rules read is one a volume provides
    named = [cfg["rules"], cfg["admin"]["token_file"]]
    named += [src["file"] for src in rules["defaults"]["shadow_rewrite"]["set_headers"].values()
              if "file" in src]
    for path in named:
        assert path in files, f"{path} is in no mounted ConfigMap or Secret"
    # the same files on disk, under tmp_path, and the paths rewritten to them
    local = {}
    for path, text in files.items():
        dest = tmp_path / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)
        local[path] = str(dest)

    def relocate(text):
        for path, dest in local.items():
            text = text.replace(path, dest)
        return text

    with open(local[cfg["rules"]], "w") as f:
        f.write(relocate(rules_text))
    config_path = local["/etc/shadowproxy/config/config.json"]
    with open(config_path, "w") as f:
        f.write(relocate(files["/etc/shadowproxy/config/config.json"]))
    r = subprocess.run([SP_BIN, "check", "--config", config_path], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([SP_BIN, "check", "--rules", local[cfg["rules"]]], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    # and a broken rules file is caught the same way (the check can fail)
    with open(local[cfg["rules"]], "w") as f:
        f.write(relocate(rules_text).replace('"version": 1', '"version": 7'))
    r = subprocess.run([SP_BIN, "check", "--config", config_path], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0, r.stdout


def test_prometheus_job_in_deploy_md_sends_the_token():
    import re
    text = open(os.path.join(ROOT, "docs", "deploy.md")).read()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    job = next(yaml.safe_load(b) for b in blocks if "kubernetes_sd_configs" in b)[0]
    assert job["job_name"] == "shadowproxy"  # the alerts' job="shadowproxy"
    assert job["authorization"]["credentials_file"].endswith("/admin-token")
    assert "deploy/k8s" in text and "kind: Deployment" not in text
