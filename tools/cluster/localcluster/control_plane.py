"""Start, stop and inspect the embedded control plane: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok, all on 127.0.0.1.

<data-dir>/ (default .state/cluster/ in the repository)
    kubeconfig          cluster-admin access for people, kubectl and Pulumi
    bin/kubectl         the kubectl built with the control plane (a link into the cache)
    cluster.json        what runs: versions, ports, PIDs, command lines
    etcd/               the database; kept by `stop`, removed by `stop --purge`
    pki/                the local CA, serving and client certificates, service-account keys
    config/             kubeconfigs and configuration files of the components
    logs/<component>.log
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime
import email.utils
import functools
import json
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from gobuild.cache import exclusive, symlink_atomically, utc_now, write_atomically, write_json
from gobuild.commands import LOG_TAIL_LINES

from localcluster.api import (
    CHECK_FAILURES,
    ApiClient,
    check_failure,
    condition_true,
    free_port,
    http_check,
    http_ok,
    not_ready,
    port_is_free,
)
from localcluster.base import Binaries, ClusterError, Progress, Versions, duration
from localcluster.pki import FRONT_PROXY_CLIENT, Pki
from localcluster.processes import Tracked, kill_strays, spawn, strays, terminate

LOOPBACK = "127.0.0.1"
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"  # the `kubernetes` Service: first address of SERVICE_CIDR
POD_CIDR = "10.244.0.0/16"
ISSUER = "https://kubernetes.default.svc.cluster.local"
CONTEXT = "go-platform-local"
# Nodes with this annotation are kwok's; it marks them Ready and plays their pods.
FAKE_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
NODE_LEASE_SECONDS = 40
NODE_CAPACITY = {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "100Gi"}

# In start order.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
PORTS = ("etcd", "etcd-peer", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")

# Cold first start bootstraps RBAC and priority levels; a warm one needs a few seconds.
APISERVER_TIMEOUT = 120.0
COMPONENT_TIMEOUT = 60.0
STOP_GRACE_SECONDS = 15.0


@dataclasses.dataclass(frozen=True)
class DataDir:
    root: Path

    @property
    def pki(self) -> Pki:
        return Pki(self.root / "pki")

    @property
    def etcd(self) -> Path:
        return self.root / "etcd"

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def kubectl(self) -> Path:
        return self.root / "bin" / "kubectl"

    @property
    def state_file(self) -> Path:
        return self.root / "cluster.json"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def component_kubeconfig(self, identity: str) -> Path:
        return self.config / f"{identity}.kubeconfig"

    def made(self) -> list[Path]:
        """What a start makes in the directory (the lock aside), as far as it exists."""
        paths = [self.state_file, self.pki.directory, self.etcd, self.config, self.logs]
        paths += [self.kubeconfig, self.kubectl.parent]
        return [path for path in paths if path.exists() or path.is_symlink()]

    def holds_a_cluster(self) -> bool:
        """Whether a start has used the directory: its state, certificates or etcd data."""
        return any(p.exists() for p in (self.state_file, self.pki.directory, self.etcd))

    @property
    def marker(self) -> str:
        """Appears in the arguments of every component process of this data directory."""
        return f"{self.root}/"


class ComponentError(ClusterError):
    """A component exited or never became healthy during `start`: with the last lines it
    logged then (before `start` stopped it, and the log filled with its shutdown)."""

    def __init__(self, component: str, reason: str, data: DataDir, command: Sequence[str]) -> None:
        self.component = component
        self.data_dir = data.root
        self.log = data.log(component)
        self.command = shlex.join(command)
        self.tail = run_tail(self.log)
        super().__init__(f"{component} {reason}")


RUN_START = re.compile(r"=== \S+ starting \S+$")  # what `spawn` writes before each run


def run_tail(log: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last lines of a component's log, of its last run only (each run appends to the
    log, after a `=== <time> starting <component>` line): none if it does not exist."""
    try:
        content = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    starts = [index for index, line in enumerate(content) if RUN_START.match(line)]
    if starts:
        content = content[starts[-1] + 1 :]
    return content[-lines:]


@dataclasses.dataclass
class State:
    """The contents of cluster.json."""

    versions: dict[str, str] = dataclasses.field(default_factory=dict)
    ports: dict[str, int] = dataclasses.field(default_factory=dict)
    processes: dict[str, Tracked] = dataclasses.field(default_factory=dict)
    nodes: list[str] = dataclasses.field(default_factory=list)
    started_at: str = ""

    @classmethod
    def load(cls, data: DataDir) -> State:
        try:
            raw = json.loads(data.state_file.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            # Without a readable record, `stop` still finds the processes by their arguments.
            return cls()
        return cls(
            versions=dict(raw.get("versions", {})),
            ports={key: int(value) for key, value in raw.get("ports", {}).items()},
            processes={
                name: Tracked.from_json(item) for name, item in raw.get("processes", {}).items()
            },
            nodes=list(raw.get("nodes", [])),
            started_at=str(raw.get("started_at", "")),
        )

    def save(self, data: DataDir) -> None:
        record = {
            "versions": self.versions,
            "ports": self.ports,
            "processes": {name: p.to_json() for name, p in self.processes.items()},
            "nodes": self.nodes,
            "started_at": self.started_at,
        }
        write_json(data.state_file, record)

    def running(self) -> dict[str, Tracked]:
        return {name: p for name, p in self.processes.items() if p.alive()}


@dataclasses.dataclass(frozen=True)
class Settings:
    data: DataDir
    versions: Versions
    binaries: Binaries
    nodes: int | None = None
    """How many fake nodes; None keeps the count of the last start (or 1)."""
    port: int | None = None
    """The API server's port; None keeps the one of the last start (or picks a free one)."""


def admin_client(data: DataDir, port: int, timeout: float = 10.0) -> ApiClient:
    pki = data.pki
    return ApiClient(
        LOOPBACK,
        port,
        pki.ca_cert,
        pki.client_cert("admin"),
        pki.client_key("admin"),
        timeout=timeout,
    )


# --- start ---------------------------------------------------------------------------------


def start(settings: Settings, progress: Progress) -> State:
    """Start whatever is not running; return the state of a healthy control plane."""
    data = settings.data
    try:
        data.root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ClusterError(
            f"cannot create the data directory {data.root}: {error.strerror}"
        ) from None
    with exclusive(data.lock_file, progress, tool="cluster", what="start or stop"):
        symlink_atomically(data.kubectl, settings.binaries.kubectl)  # this release's
        state = State.load(data)
        running = state.running()
        wanted = dataclasses.asdict(settings.versions)
        port = state.ports.get("kube-apiserver")
        if running and state.versions != wanted:
            progress.say(f"cluster: restarting with new versions {wanted} (was {state.versions})")
        elif running and settings.port is not None and settings.port != port:
            progress.say(f"cluster: restarting with the API server on port {settings.port}")
        elif set(running) == set(COMPONENTS) and _healthy(data, state):
            progress.say(f"cluster: already running, API server {_server(state)}")
            if settings.nodes is not None and len(state.nodes) != settings.nodes:
                _scale_nodes(settings.nodes, settings, state, progress)
            return state
        elif running:
            progress.say(
                f"cluster: restarting a partly running control plane ({', '.join(running)})"
            )
        _stop_processes(data, state, settings.binaries, progress)
        state = State(
            versions=wanted,
            ports=_choose_ports(state.ports, settings.port, progress),
            nodes=_node_names(settings.nodes or len(state.nodes) or 1),
            started_at=utc_now(),
        )
        try:
            _start_all(settings, state, progress)
        except BaseException:
            progress.say("cluster: start failed; stopping the components started so far")
            _stop_processes(data, state, settings.binaries, progress)
            raise
        return state


def _choose_ports(
    previous: dict[str, int], requested: int | None, progress: Progress
) -> dict[str, int]:
    """Keep last start's ports (stable URLs) where they are still free; pick others if not."""
    ports: dict[str, int] = {}
    if requested is not None:
        if not port_is_free(requested):
            raise ClusterError(
                f"port {requested} on {LOOPBACK} is in use; free it or pick another with --port"
            )
        ports["kube-apiserver"] = requested
    for name in PORTS:
        if name in ports:
            continue
        old = previous.get(name)
        if old and old not in ports.values() and port_is_free(old):
            ports[name] = old
            continue
        ports[name] = free_port(avoid=set(ports.values()))
        if old:
            progress.say(f"cluster: port {old} ({name}) is in use now; using {ports[name]}")
    return ports


class _Launcher:
    """Starts components of one `start` and waits for them, failing fast when one exits."""

    def __init__(self, settings: Settings, state: State) -> None:
        self.data = settings.data
        self.state = state
        self.commands = _commands(settings, state.ports)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def launch(self, component: str, env: dict[str, str] | None = None) -> None:
        tracked, process = spawn(
            component, self.commands[component], self.data.log(component), self.data.root, env
        )
        self.state.processes[component] = tracked
        self.processes[component] = process
        self.state.save(self.data)  # recorded at once, so `stop` finds it whatever happens

    def wait(
        self,
        component: str,
        ready: Callable[[], bool | None],
        timeout: float | None = None,
        failure: str = "did not become healthy",
    ) -> None:
        """Poll `ready` until it returns (True or None) or holds; fail early if any launched
        component exits. `ready` may raise one of CHECK_FAILURES to say why not: the last
        one is named when it times out (COMPONENT_TIMEOUT unless told)."""
        timeout = COMPONENT_TIMEOUT if timeout is None else timeout
        deadline = time.monotonic() + timeout
        last: BaseException | None = None
        while True:
            for name, process in self.processes.items():
                code = process.poll()
                if code is not None:
                    raise self._failed(name, f"exited with status {code}")
            try:
                if ready() is not False:
                    return
            except CHECK_FAILURES as error:
                last = error
            if time.monotonic() > deadline:
                why = f" (last check: {check_failure(last)})" if last is not None else ""
                raise self._failed(component, f"{failure} within {duration(timeout)}{why}")
            time.sleep(0.25)

    def _failed(self, component: str, reason: str) -> ComponentError:
        return ComponentError(component, reason, self.data, self.commands[component])


def _start_all(settings: Settings, state: State, progress: Progress) -> None:
    data, ports, versions = settings.data, state.ports, settings.versions
    started = time.monotonic()
    with progress.step("certificates and kubeconfigs"):
        remade = {
            name: why for name, why in data.pki.ensure(SERVICE_IP).items() if why != "missing"
        }
        for name, why in remade.items():
            progress.say(f"      remade {name}: {why}")
        data.config.mkdir(parents=True, exist_ok=True)
        for identity in ("controller-manager", "scheduler", "kwok"):
            path = data.component_kubeconfig(identity)
            write_kubeconfig(data, identity, ports["kube-apiserver"], path)
        _write_scheduler_config(data)
    launcher = _Launcher(settings, state)
    with progress.step(f"etcd v{versions.etcd} on {LOOPBACK}:{ports['etcd']}"):
        launcher.launch("etcd")
        launcher.wait("etcd", lambda: http_check(LOOPBACK, ports["etcd"], "/health", tls=False))
    client = admin_client(data, ports["kube-apiserver"], timeout=5.0)
    with progress.step(f"kube-apiserver v{versions.kubernetes} on {client.server}"):
        launcher.launch("kube-apiserver")
        launcher.wait("kube-apiserver", lambda: _check(client, "/readyz"), APISERVER_TIMEOUT)
    with progress.step("kube-controller-manager, kube-scheduler, kwok"):
        _release_node_leases(client, state.nodes)
        launcher.launch("kube-controller-manager")
        launcher.launch("kube-scheduler")
        launcher.launch("kwok", {"HOME": str(data.config / "kwok-home")})
        for component, tls in (
            ("kube-controller-manager", True),
            ("kube-scheduler", True),
            ("kwok", False),
        ):
            launcher.wait(
                component,
                functools.partial(http_check, LOOPBACK, ports[component], "/healthz", tls=tls),
            )
    with progress.step(f"{len(state.nodes)} fake node(s) Ready, default service account"):
        since = _server_time(client)
        _ensure_nodes(client, state.nodes, versions)
        launcher.wait(
            "kwok",
            lambda: all(_node_ready(client, name, since) for name in state.nodes),
            failure="did not mark the node(s) Ready",
        )
        launcher.wait(
            "kube-controller-manager",
            lambda: _check(client, "/api/v1/namespaces/default/serviceaccounts/default"),
            failure="did not create the default ServiceAccount",
        )
    write_kubeconfig(data, "admin", ports["kube-apiserver"], data.kubeconfig)
    state.save(data)
    progress.say(
        f"cluster: ready in {duration(time.monotonic() - started)}: API server {client.server},"
        f" kubeconfig {data.kubeconfig}"
    )


def _commands(settings: Settings, ports: dict[str, int]) -> dict[str, list[str]]:
    data, binaries, pki = settings.data, settings.binaries, settings.data.pki
    etcd_url = f"http://{LOOPBACK}:{ports['etcd']}"
    peer_url = f"http://{LOOPBACK}:{ports['etcd-peer']}"
    controller_manager = str(data.component_kubeconfig("controller-manager"))
    scheduler = str(data.component_kubeconfig("scheduler"))
    stages = sorted(str(path) for path in binaries.kwok_stages.glob("*.yaml"))
    return {
        "etcd": [
            str(binaries.etcd),
            "--name=go-platform",
            f"--data-dir={data.etcd}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=go-platform={peer_url}",
            "--log-level=warn",
        ],
        "kube-apiserver": [
            str(binaries.kube_apiserver),
            f"--etcd-servers={etcd_url}",
            f"--bind-address={LOOPBACK}",
            f"--advertise-address={LOOPBACK}",
            # The `kubernetes` Service cannot point at a loopback address, and nothing in the
            # cluster could reach the API server through it: keep it without endpoints.
            "--endpoint-reconciler-type=none",
            f"--secure-port={ports['kube-apiserver']}",
            f"--cert-dir={pki.directory / 'kube-apiserver'}",
            f"--tls-cert-file={pki.apiserver_cert}",
            f"--tls-private-key-file={pki.apiserver_key}",
            f"--client-ca-file={pki.ca_cert}",
            # The aggregation layer, as on a kubeadm cluster (components read these to
            # authenticate requests the API server proxies to them).
            f"--requestheader-client-ca-file={pki.front_proxy_ca_cert}",
            f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={pki.front_proxy_client_cert}",
            f"--proxy-client-key-file={pki.front_proxy_client_key}",
            f"--service-account-issuer={ISSUER}",
            f"--service-account-key-file={pki.service_account_pub}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            # The default admission plugins (PodSecurity among them) plus NodeRestriction,
            # as kubeadm configures a production control plane.
            "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true",
            "--profiling=false",
        ],
        "kube-controller-manager": [
            str(binaries.kube_controller_manager),
            f"--kubeconfig={controller_manager}",
            f"--authentication-kubeconfig={controller_manager}",
            f"--authorization-kubeconfig={controller_manager}",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={ports['kube-controller-manager']}",
            f"--cert-dir={pki.directory / 'kube-controller-manager'}",
            # One instance: waiting for the previous run's lease to expire only slows restarts.
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki.service_account_key}",
            f"--root-ca-file={pki.ca_cert}",
            f"--cluster-signing-cert-file={pki.ca_cert}",
            f"--cluster-signing-key-file={pki.ca_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--profiling=false",
        ],
        "kube-scheduler": [
            str(binaries.kube_scheduler),
            f"--config={data.config / 'kube-scheduler.yaml'}",
            f"--authentication-kubeconfig={scheduler}",
            f"--authorization-kubeconfig={scheduler}",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={ports['kube-scheduler']}",
            f"--cert-dir={pki.directory / 'kube-scheduler'}",
        ],
        "kwok": [
            str(binaries.kwok),
            f"--kubeconfig={data.component_kubeconfig('kwok')}",
            f"--config={','.join(stages)}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={'='.join(FAKE_NODE_ANNOTATION)}",
            f"--cidr={POD_CIDR}",
            # The nodes' InternalIP: anything the API server tries to reach there (logs,
            # exec, port-forward) fails at once instead of hanging on an unroutable address.
            f"--node-ip={LOOPBACK}",
            f"--node-lease-duration-seconds={NODE_LEASE_SECONDS}",
            f"--server-address={LOOPBACK}:{ports['kwok']}",
        ],
    }


def _write_scheduler_config(data: DataDir) -> None:
    path = data.config / "kube-scheduler.yaml"
    path.write_text(
        "apiVersion: kubescheduler.config.k8s.io/v1\n"
        "kind: KubeSchedulerConfiguration\n"
        "clientConnection:\n"
        f"  kubeconfig: {json.dumps(str(data.component_kubeconfig('scheduler')))}\n"
        "leaderElection:\n"
        "  leaderElect: false\n"
        "enableProfiling: false\n",
        encoding="utf-8",
    )


def _check(client: ApiClient, path: str) -> None:
    """Return when GET answers 200; else raise why not (one of CHECK_FAILURES)."""
    response = client.get(path)
    if response.status != 200:
        raise not_ready(path, response.status, response.body)


def _answers(client: ApiClient, path: str) -> bool:
    try:
        _check(client, path)
    except CHECK_FAILURES:
        return False
    return True


def _ensure_nodes(client: ApiClient, names: Sequence[str], versions: Versions) -> None:
    """Create the wanted fake nodes; delete fake nodes of an earlier, larger start."""
    key, value = FAKE_NODE_ANNOTATION
    for name in names:
        response = client.create("/api/v1/nodes", _node(name, versions))
        if not response.ok and response.status != 409:
            raise ClusterError(
                f"could not create node {name}: {response.status} {response.message}"
            )
    listed = client.get("/api/v1/nodes")
    for node in listed.body.get("items", []) if listed.ok else []:
        metadata = node["metadata"]
        ours = (metadata.get("annotations") or {}).get(key) == value
        if ours and metadata["name"].startswith("kwok-node-") and metadata["name"] not in names:
            client.delete(f"/api/v1/nodes/{metadata['name']}")


def _node(name: str, versions: Versions) -> dict[str, Any]:
    key, value = FAKE_NODE_ANNOTATION
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {key: value, "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "kubernetes.io/hostname": name,
                "node.kubernetes.io/instance-type": "kwok",
                "topology.kubernetes.io/zone": "local",
                "type": "kwok",
            },
        },
        "status": {
            "allocatable": NODE_CAPACITY,
            "capacity": NODE_CAPACITY,
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": f"v{versions.kubernetes}",
            },
        },
    }


def _scale_nodes(count: int, settings: Settings, state: State, progress: Progress) -> None:
    """Add or remove fake nodes of a running cluster (kwok picks new ones up by itself)."""
    client = admin_client(settings.data, state.ports["kube-apiserver"])
    state.nodes = _node_names(count)
    with progress.step(f"{count} fake node(s) Ready"):
        since = _server_time(client)
        _ensure_nodes(client, state.nodes, settings.versions)
        deadline = time.monotonic() + COMPONENT_TIMEOUT
        while not all(_node_ready(client, name, since) for name in state.nodes):
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"kwok did not mark the nodes Ready; see {settings.data.log('kwok')}"
                )
            time.sleep(0.25)
    state.save(settings.data)


def _node_names(count: int) -> list[str]:
    return [f"kwok-node-{index}" for index in range(count)]


def _release_node_leases(client: ApiClient, nodes: Sequence[str]) -> None:
    """Delete the leases a previous kwok held: every kwok process has an identity of its
    own and would otherwise wait for them to expire (40 s) before managing the nodes."""
    for name in nodes:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"
        response = client.delete(path)
        if not response.ok and response.status != 404:
            raise ClusterError(f"could not release the lease of node {name}: {response.message}")


def _server_time(client: ApiClient) -> datetime.datetime:
    """Now, by the API server's clock (the one lease renewals are stamped with)."""
    try:
        date = client.get("/version").headers.get("Date", "")
        return email.utils.parsedate_to_datetime(date)
    except (OSError, TypeError, ValueError):
        return datetime.datetime.now(datetime.UTC)


def _node_ready(client: ApiClient, name: str, since: datetime.datetime | None = None) -> bool:
    """Ready, and (with `since`) its lease renewed since then: a node keeps the Ready
    condition of its last life, only a fresh lease shows kwok manages it now."""
    try:
        node = client.get(f"/api/v1/nodes/{name}")
        lease = client.get(f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}")
    except OSError:
        return False
    if not node.ok:
        return False
    if not condition_true(node.body, "Ready"):
        return False
    if since is None:
        return True
    renewed = lease.body.get("spec", {}).get("renewTime") if lease.ok else None
    if not renewed:
        return False
    return datetime.datetime.fromisoformat(renewed.replace("Z", "+00:00")) >= since.replace(
        microsecond=0
    )


def write_kubeconfig(data: DataDir, identity: str, port: int, path: Path) -> None:
    """A kubeconfig with the CA and the identity's credentials embedded (self-contained)."""
    pki = data.pki

    def embedded(file: Path) -> str:
        return base64.b64encode(file.read_bytes()).decode()

    user = "go-platform-admin" if identity == "admin" else identity
    text = (
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        f"- name: {CONTEXT}\n"
        "  cluster:\n"
        f"    server: https://{LOOPBACK}:{port}\n"
        f"    certificate-authority-data: {embedded(pki.ca_cert)}\n"
        "users:\n"
        f"- name: {user}\n"
        "  user:\n"
        f"    client-certificate-data: {embedded(pki.client_cert(identity))}\n"
        f"    client-key-data: {embedded(pki.client_key(identity))}\n"
        "contexts:\n"
        f"- name: {CONTEXT}\n"
        "  context:\n"
        f"    cluster: {CONTEXT}\n"
        f"    user: {user}\n"
        f"current-context: {CONTEXT}\n"
    )
    write_atomically(path, text, mode=0o600)


# --- stop ----------------------------------------------------------------------------------


def stop(data: DataDir, binaries: Binaries, progress: Progress, *, purge: bool) -> int:
    """Stop every component of `data`; return how many processes were stopped."""
    if not data.root.exists():
        progress.say(f"cluster: nothing to stop ({data.root} does not exist)")
        return 0
    if not data.holds_a_cluster():
        # Nothing of a cluster's to stop or delete; no lock file is left in it either.
        if purge:
            raise ClusterError(
                f"{data.root} holds no cluster's data (no {data.state_file.name}, "
                f"{data.pki.directory.name}/ or {data.etcd.name}/); deleted nothing"
            )
        progress.say(f"cluster: nothing to stop ({data.root} holds no cluster's data)")
        return 0
    with exclusive(data.lock_file, progress, tool="cluster", what="start or stop"):
        state = State.load(data)
        stopped = _stop_processes(data, state, binaries, progress)
        if not stopped:
            progress.say("cluster: not running")
        if purge:
            _purge(data, progress)
    return stopped


def _purge(data: DataDir, progress: Progress) -> None:
    """Delete what a start made in the data directory, and nothing else (`stop` leaves a
    directory that never held a cluster, a mistyped --data-dir or a home, as it is)."""
    for path in data.made():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    progress.say(f"cluster: removed the data in {data.root}")
    others = sorted(p.name for p in data.root.iterdir() if p != data.lock_file)
    if others:
        progress.say(f"cluster: left what it did not make there: {', '.join(others)}")


def _stop_processes(data: DataDir, state: State, binaries: Binaries, progress: Progress) -> int:
    """Stop tracked processes, etcd last, then anything else of this data directory."""
    tracked = [state.processes[name] for name in reversed(COMPONENTS) if name in state.processes]
    live = [process for process in tracked if process.alive()]
    # etcd goes last: the API server shuts down in a second with its storage there, and
    # hangs retrying it without.
    survivors = terminate([p for p in live if p.component != "etcd"], STOP_GRACE_SECONDS)
    survivors += terminate([p for p in live if p.component == "etcd"], STOP_GRACE_SECONDS)
    executables = [*binaries.executables(), *(Path(p.command[0]) for p in state.processes.values())]
    leftovers = strays(executables, data.marker)
    if leftovers:
        progress.say(f"cluster: killing untracked component processes {leftovers}")
        kill_strays(leftovers)
        time.sleep(0.5)
        leftovers = strays(executables, data.marker)
    if survivors or leftovers:
        pids = sorted({p.pid for p in survivors} | set(leftovers))
        raise ClusterError(f"processes {pids} survived SIGKILL; check them with `ps -p`")
    if live:
        names = ", ".join(f"{p.component} ({p.pid})" for p in live)
        progress.say(f"cluster: stopped {names}")
    state.processes = {}
    if data.state_file.exists():
        state.save(data)
    return len(live)


# --- status --------------------------------------------------------------------------------


def _server(state: State) -> str:
    return f"https://{LOOPBACK}:{state.ports.get('kube-apiserver')}"


def _healthy(data: DataDir, state: State) -> bool:
    return all(health(data, state).values())


def health(data: DataDir, state: State) -> dict[str, bool]:
    """Each component's health endpoint, answered or not."""
    ports = state.ports
    checks: dict[str, bool] = {
        "etcd": http_ok(LOOPBACK, ports.get("etcd", 0), "/health", tls=False),
        "kube-controller-manager": http_ok(
            LOOPBACK, ports.get("kube-controller-manager", 0), "/healthz", tls=True
        ),
        "kube-scheduler": http_ok(LOOPBACK, ports.get("kube-scheduler", 0), "/healthz", tls=True),
        "kwok": http_ok(LOOPBACK, ports.get("kwok", 0), "/healthz", tls=False),
    }
    try:
        checks["kube-apiserver"] = _answers(
            admin_client(data, ports.get("kube-apiserver", 0), timeout=3.0), "/readyz"
        )
    except (OSError, ValueError, ClusterError):  # its certificates unusable
        checks["kube-apiserver"] = False
    return checks


def status(data: DataDir, binaries: Binaries) -> dict[str, Any]:
    """What runs, where, and whether it answers: the data behind `cluster.py status`.
    Component processes of the directory that its state does not track (its cluster.json
    lost or rewritten while they ran) make it degraded: `stop` ends them."""
    state = State.load(data)
    running = state.running()
    tracked_pids = {process.pid for process in state.processes.values()}
    untracked = sorted(
        pid for pid in strays(binaries.executables(), data.marker) if pid not in tracked_pids
    )
    healthy = health(data, state) if running else {}
    components = {}
    for name in COMPONENTS:
        tracked = state.processes.get(name)
        alive = name in running
        components[name] = {
            "running": alive,
            "healthy": bool(healthy.get(name)) if alive else False,
            "pid": tracked.pid if tracked and alive else None,
            "port": state.ports.get(name),
            "log": str(data.log(name)),
        }
    nodes: dict[str, bool] = {}
    if healthy.get("kube-apiserver"):
        client = admin_client(data, state.ports["kube-apiserver"], timeout=3.0)
        nodes = {name: _node_ready(client, name) for name in state.nodes}
    if untracked:
        overall = "degraded"
    elif not running:
        overall = "stopped"
    elif len(running) == len(COMPONENTS) and all(c["healthy"] for c in components.values()):
        overall = "running"
    else:
        overall = "degraded"
    return {
        "status": overall,
        "data_dir": str(data.root),
        "kubeconfig": str(data.kubeconfig),
        "kubectl": str(data.kubectl),
        "server": _server(state) if running else None,
        "versions": state.versions,
        "started_at": state.started_at,
        "components": components,
        "nodes": nodes,
        "untracked_pids": untracked,
    }


@contextlib.contextmanager
def reported_failure(progress: Progress) -> Iterator[None]:
    """Turn a ComponentError into the tail of its log (as it was when the component failed,
    before `start` stopped the others) and the command to rerun."""
    try:
        yield
    except ComponentError as failure:
        lines = failure.tail
        if lines:
            progress.say(f"cluster: last lines of {failure.log}:")
            for line in lines:
                progress.say(f"  | {line}")
        progress.say(f"cluster: to run {failure.component} in the foreground: {failure.command}")
        raise
