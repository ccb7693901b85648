"""The embedded control plane (`tools/cluster`), started for real in a tmp data directory.

Invariants guarded:
- `cluster.py start` brings up etcd, kube-apiserver, kube-controller-manager, kube-scheduler
  and kwok on 127.0.0.1 only, writes a kubeconfig that works, and `status --json` reports
  every component running and healthy; a second `start` is a no-op;
- `/version` reports the Kubernetes release of tools/cluster/versions.toml (the stamp);
- the kubectl of that release, built with it, is linked in the data directory and reaches
  the cluster with the kubeconfig;
- the fake node is Ready, and a Deployment's pods are scheduled onto it, Running and Ready,
  with pod IPs: controller manager, scheduler and kwok all do their part;
- admission is a real cluster's: a namespace labelled `enforce: restricted` refuses a
  privileged pod (PodSecurity) and accepts the restricted Deployment;
- an upstream CRD vendored in upstream/crds/traefik is accepted and served, a valid
  IngressRoute is stored, an invalid one is rejected by server-side schema validation;
- `stop` leaves no process of the data directory behind and frees every port; a warm
  `start` over the same data comes back with the objects still there;
- `start --port P` on a running cluster restarts it with the API server on P; component
  processes its state file does not track (the file lost) make `status` degraded, and
  `stop` ends them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

CLUSTER_TOOL = REPO / "tools" / "cluster"
sys.path.append(str(CLUSTER_TOOL))  # for `localcluster`, the tool's own package
sys.path.append(str(CLUSTER_TOOL.parent))  # for `gobuild`, which it shares with the toolchain

from localcluster.api import ApiClient, condition_true, free_port, port_is_free  # noqa: E402
from localcluster.base import Binaries, Cache, Versions  # noqa: E402
from localcluster.processes import Tracked, strays  # noqa: E402

TRAEFIK_CRDS = REPO / "upstream" / "crds" / "traefik"
NAMESPACE = "cluster-test"
START_TIMEOUT = 240.0

VERSIONS = Versions.load()
BINARIES = Binaries.of(Cache.from_environment(), VERSIONS)


def cluster_cli(
    *args: str, data_dir: Path, timeout: float = START_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    # The developer's own cluster settings (port, node count) must not leak into the test's.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO_PLATFORM_CLUSTER_")}
    return subprocess.run(
        [sys.executable, str(CLUSTER_TOOL / "cluster.py"), *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def must(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args} exited {result.returncode}\n{result.stderr}"
    return result


def eventually(
    check: Callable[[], Any], timeout: float = 60.0, what: str = "", interval: float = 0.5
) -> Any:
    """Poll every `interval` seconds until `check()` returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what or check}")
        time.sleep(interval)


@dataclass
class Cluster:
    data_dir: Path
    api: ApiClient

    def status(self) -> dict[str, Any]:
        return json.loads(cluster_cli("status", "--json", data_dir=self.data_dir).stdout)


def client_from(kubeconfig: Path, scratch: Path) -> ApiClient:
    """A client with nothing but what the kubeconfig holds: server, CA and credentials.

    The cluster tool's own stdlib client (`localcluster.api`), since these tests check the
    tool as it runs before any virtualenv exists; the driver's access through the official
    client is tested in `test_driver_preflight.py`."""
    config = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
    context = next(
        c["context"] for c in config["contexts"] if c["name"] == config["current-context"]
    )
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
    files = {
        "ca.crt": cluster["certificate-authority-data"],
        "client.crt": user["client-certificate-data"],
        "client.key": user["client-key-data"],
    }
    scratch.mkdir(exist_ok=True)
    for name, data in files.items():
        (scratch / name).write_bytes(base64.b64decode(data))
    host, port = cluster["server"].removeprefix("https://").rsplit(":", 1)
    return ApiClient(
        host, int(port), scratch / "ca.crt", scratch / "client.crt", scratch / "client.key"
    )


@contextlib.contextmanager
def running_cluster(data_dir: Path) -> Iterator[Path]:
    """An embedded control plane of the tests' own in `data_dir`, stopped on exit; its
    kubeconfig."""
    if BINARIES.missing():
        pytest.skip("control plane binaries not built; run `make cluster-build`")
    result = must(cluster_cli("start", data_dir=data_dir))
    kubeconfig = Path(result.stdout.strip())
    assert kubeconfig == data_dir / "kubeconfig"
    try:
        yield kubeconfig
    finally:
        cluster_cli("stop", data_dir=data_dir, timeout=60)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    data_dir = tmp_path_factory.mktemp("cluster")
    with running_cluster(data_dir) as kubeconfig:
        yield Cluster(data_dir, client_from(kubeconfig, tmp_path_factory.mktemp("kubeconfig")))


def test_every_component_runs_on_loopback(cluster: Cluster) -> None:
    report = cluster.status()
    assert report["status"] == "running"
    assert set(report["components"]) == {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
    }
    assert all(c["running"] and c["healthy"] for c in report["components"].values())
    assert report["server"].startswith("https://127.0.0.1:")
    for component in report["components"].values():
        listening = _listening_addresses(component["pid"])
        assert listening, f"{component} listens nowhere"
        assert all(address.startswith("127.0.0.1:") for address in listening), listening


def test_second_start_is_a_no_op(cluster: Cluster) -> None:
    before = {name: c["pid"] for name, c in cluster.status()["components"].items()}
    result = must(cluster_cli("start", data_dir=cluster.data_dir))
    assert "already running" in result.stderr
    assert {name: c["pid"] for name, c in cluster.status()["components"].items()} == before


def test_version_is_the_stamped_release(cluster: Cluster) -> None:
    version = cluster.api.get("/version").body
    major, minor, _ = VERSIONS.kubernetes.split(".")
    assert version["gitVersion"] == f"v{VERSIONS.kubernetes}"
    assert (version["major"], version["minor"]) == (major, minor)


def test_the_kubectl_built_with_it_reaches_it(cluster: Cluster) -> None:
    """`<data-dir>/bin/kubectl` with the kubeconfig, as `make up`'s summary suggests it."""
    kubectl = cluster.data_dir / "bin" / "kubectl"
    env = {**os.environ, "KUBECONFIG": str(cluster.data_dir / "kubeconfig")}

    def run(*args: str) -> str:
        result = subprocess.run(
            [str(kubectl), *args], capture_output=True, text=True, env=env, timeout=60
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert f"Client Version: v{VERSIONS.kubernetes}" in run("version", "--client")
    assert run("get", "nodes", "--output", "name").split() == ["node/kwok-node-0"]
    assert cluster.status()["kubectl"] == str(kubectl)


def test_the_fake_node_is_ready(cluster: Cluster) -> None:
    nodes = cluster.api.get("/api/v1/nodes").body["items"]
    assert [node["metadata"]["name"] for node in nodes] == ["kwok-node-0"]
    conditions = {c["type"]: c["status"] for c in nodes[0]["status"]["conditions"]}
    assert conditions["Ready"] == "True"
    assert nodes[0]["status"]["nodeInfo"]["kubeletVersion"] == f"v{VERSIONS.kubernetes}"


def restricted_pod_spec() -> dict[str, Any]:
    return {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "app",
                "image": "registry.example/go-platform/greeter:1.0.0",
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                    "runAsUser": 65532,
                },
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
            }
        ],
    }


@pytest.fixture(scope="module")
def restricted_namespace(cluster: Cluster) -> str:
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": NAMESPACE,
            "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
        },
    }
    assert cluster.api.create("/api/v1/namespaces", namespace).status == 201
    return NAMESPACE


def test_restricted_namespace_refuses_a_privileged_pod(
    cluster: Cluster, restricted_namespace: str
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "privileged"},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example/anything:1",
                    "securityContext": {"privileged": True},
                }
            ]
        },
    }
    response = cluster.api.create(f"/api/v1/namespaces/{restricted_namespace}/pods", pod)
    assert response.status == 403
    assert 'violates PodSecurity "restricted:latest"' in response.message


def test_deployment_pods_become_running_and_ready(
    cluster: Cluster, restricted_namespace: str
) -> None:
    labels = {"app": "greeter"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "greeter"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": restricted_pod_spec()},
        },
    }
    base = f"/apis/apps/v1/namespaces/{restricted_namespace}/deployments"
    created = cluster.api.create(base, deployment)
    assert created.status == 201, created.message

    def available() -> bool:
        status = cluster.api.get(f"{base}/greeter").body.get("status", {})
        return status.get("availableReplicas") == 2

    eventually(available, what="the Deployment to have 2 available replicas")
    pods = cluster.api.get(f"/api/v1/namespaces/{restricted_namespace}/pods").body["items"]
    assert len(pods) == 2
    for pod in pods:
        conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert pod["spec"]["nodeName"] == "kwok-node-0"
        assert pod["status"]["phase"] == "Running"
        assert conditions["Ready"] == "True"
        assert pod["status"]["podIP"].startswith("10.244.")


def ingress_route(name: str, **route: Any) -> dict[str, Any]:
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "IngressRoute",
        "metadata": {"name": name},
        "spec": {
            "entryPoints": ["websecure"],
            "routes": [
                {
                    "match": "Host(`greeter.local.example`)",
                    "kind": "Rule",
                    "services": [{"name": "greeter", "port": 8080}],
                    **route,
                }
            ],
        },
    }


def test_upstream_crd_validates_custom_resources(cluster: Cluster) -> None:
    crd = yaml.safe_load((TRAEFIK_CRDS / "traefik.io_ingressroutes.yaml").read_text())
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    response = cluster.api.create(crds, crd)
    assert response.status == 201, response.message

    def established() -> bool:
        return condition_true(
            cluster.api.get(f"{crds}/{crd['metadata']['name']}").body, "Established"
        )

    eventually(established, what="the IngressRoute CRD to be established")
    routes = "/apis/traefik.io/v1alpha1/namespaces/default/ingressroutes"
    # A new CRD's endpoint takes a moment to be served after Established.
    eventually(lambda: cluster.api.get(routes).status == 200, what="ingressroutes to be served")
    accepted = cluster.api.create(routes, ingress_route("valid"))
    assert accepted.status == 201, accepted.message
    rejected = cluster.api.create(routes, ingress_route("invalid", kind="Redirect"))
    assert rejected.status == 422
    assert "spec.routes[0].kind" in rejected.message
    assert 'supported values: "Rule"' in rejected.message
    assert cluster.api.get(f"{routes}/invalid").status == 404


def test_stop_leaves_nothing_and_warm_start_keeps_the_objects(cluster: Cluster) -> None:
    before = cluster.status()
    ports = [c["port"] for c in before["components"].values()]
    recorded = json.loads((cluster.data_dir / "cluster.json").read_text())["processes"]
    processes = [Tracked.from_json(item) for item in recorded.values()]
    assert len(processes) == 5

    must(cluster_cli("stop", data_dir=cluster.data_dir, timeout=60))
    assert strays(BINARIES.executables(), f"{cluster.data_dir}/") == []
    # Exited (at most a zombie until init reaps it), and not just the PID recycled.
    assert [p.component for p in processes if p.alive()] == []
    assert [port for port in ports if not port_is_free(port)] == []
    stopped = cluster_cli("status", "--json", data_dir=cluster.data_dir)
    assert stopped.returncode == 3
    assert json.loads(stopped.stdout)["status"] == "stopped"

    must(cluster_cli("start", data_dir=cluster.data_dir))
    assert cluster.status()["server"] == before["server"], "the API server moved"
    deployment = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/greeter"
    # A loaded API server may still turn a first read away (429, 5xx); a lost object stays 404.
    eventually(
        lambda: cluster.api.get(deployment).status == 200,
        timeout=10,
        what="the Deployment kept over the restart",
    )

    must(cluster_cli("stop", data_dir=cluster.data_dir, timeout=60))
    assert strays(BINARIES.executables(), f"{cluster.data_dir}/") == []


def test_a_new_port_restarts_it_and_untracked_processes_are_reported(cluster: Cluster) -> None:
    must(cluster_cli("start", data_dir=cluster.data_dir))
    running = cluster.status()["components"]
    port = free_port(avoid={c["port"] for c in running.values()})

    moved = must(cluster_cli("start", "--port", str(port), data_dir=cluster.data_dir))

    assert f"restarting with the API server on port {port}" in moved.stderr
    report = cluster.status()
    assert (report["status"], report["server"]) == ("running", f"https://127.0.0.1:{port}")

    # Its state file lost while it runs: every component is a process it does not track.
    state = cluster.data_dir / "cluster.json"
    state.rename(cluster.data_dir / "cluster.json.lost")
    lost = cluster_cli("status", data_dir=cluster.data_dir)
    assert lost.returncode == 1
    assert lost.stdout.startswith("cluster: degraded")
    assert "component processes its state does not track" in lost.stdout
    assert (
        len(
            json.loads(cluster_cli("status", "--json", data_dir=cluster.data_dir).stdout)[
                "untracked_pids"
            ]
        )
        == 5
    )

    must(cluster_cli("stop", data_dir=cluster.data_dir, timeout=60))
    assert strays(BINARIES.executables(), f"{cluster.data_dir}/") == []
    assert cluster_cli("status", data_dir=cluster.data_dir).returncode == 3


def _listening_addresses(pid: int) -> list[str]:
    """host:port of the TCP sockets `pid` listens on (from /proc/net/tcp{,6})."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    addresses = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                addresses.append(_decode_address(local))
    return addresses


def _decode_address(encoded: str) -> str:
    host, port = encoded.split(":")
    if len(host) == 8:
        octets = [str(int(host[i : i + 2], 16)) for i in range(6, -1, -2)]
        return f"{'.'.join(octets)}:{int(port, 16)}"
    return f"[{host}]:{int(port, 16)}"
