"""The driver on an embedded cluster of the module's own (`test_cluster.cluster`), with the
real CLI, language host and kubernetes provider: an ephemeral stack of the fixture program,
and canary promotion of the REAL local stack program (`Pulumi.local.yaml`, copied into a
tmp dir with the project's policy pack) analysed by a real Prometheus scraping a
Traefik-style exporter on 127.0.0.1 (`test_driver_canary.exporter`/`prometheus`).

Invariants guarded:
- `ephemeral up` creates a stack from its base's config, runs preflight against the cluster
  and deploys: its ConfigMap is on the API server; `ephemeral down` deletes it from the API
  server and removes the stack;
- a promotion killed (SIGKILL) after its second weight's `up` leaves its state recorded;
  the next `canary promote` resumes at that step, walks the remaining steps with healthy
  metrics, promotes the canary's image to stable and sends weight 0 to the canary: the
  TraefikService `greeter-weighted` in `apps` gives stable 100 and the stable Deployment
  runs the promoted image;
- an unhealthy canary is rolled back after `threshold` failed checks (exit 5), and the
  TraefikService on the cluster gives stable 100 again;
- `up` with the kubeconfig named by the stack's `kubernetes:kubeconfig` passes preflight
  against the cluster and deploys; `drift` exits 0 while the cluster matches the state,
  and 2 after an out-of-band edit, naming the edited resource and the changed field (the
  JSON summary says the same); `up --refresh` then puts the edited field back, and `drift`
  exits 0 again;
- the kubernetes provider's copies of that kubeconfig (it writes one into the temp dir on
  every run and never removes it) go with the driver's own temp dir: none is left, in the
  test's TMPDIR or in the machine's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from go_platform.kube import KubeClient, cluster_access
from tests.integration.test_cluster import cluster  # noqa: F401 (fixture)
from tests.integration.test_driver_canary import (  # noqa: F401 (fixtures)
    CANARY,
    Behaviour,
    exporter,
    prometheus,
)
from tests.integration.test_driver_engine import GO_PLATFORM, STACK, drive, must, pulumi
from tests.integration.test_local_stack import copy_program

if TYPE_CHECKING:
    from tests.integration.conftest import Engine, Toolchain
    from tests.integration.test_cluster import Cluster

LOCAL = "local"
WEIGHTED = "/apis/traefik.io/v1alpha1/namespaces/apps/traefikservices/greeter-weighted"
STABLE_DEPLOYMENT = "/apis/apps/v1/namespaces/apps/deployments/greeter"
CANARY_IMAGE = "ghcr.io/go-platform/greeter:0.2.0"


@pytest.fixture
def kube_engine(toolchain: Toolchain, engine: Engine, request: pytest.FixtureRequest) -> Engine:
    toolchain.require("cli", "language-python", "random", "kubernetes")
    request.getfixturevalue("cluster")
    engine.env["PYTHONUNBUFFERED"] = "1"
    return engine


def kubeconfig_of(embedded: Cluster) -> Path:
    return embedded.data_dir / "kubeconfig"


def context_of(embedded: Cluster) -> str:
    return str(yaml.safe_load(kubeconfig_of(embedded).read_text())["current-context"])


# --- ephemeral stacks ------------------------------------------------------------------


def test_an_ephemeral_stack_deploys_to_the_cluster_and_down_removes_it(kube_engine, cluster):  # noqa: F811
    engine = kube_engine
    program = engine.project("driver/program")
    policy = engine.project("driver/policy")
    name = f"pr-{uuid.uuid4().hex[:6]}"
    config_map = f"/api/v1/namespaces/default/configmaps/{name}-settings"
    must(drive(engine, program, "preview", "--stack", "dev", "--policy-pack", str(policy)))
    for key, value in (
        ("kubernetes:kubeconfig", str(kubeconfig_of(cluster))),
        ("fixture:kubernetesNamespace", "default"),
    ):
        pulumi(engine, program, "config", "set", key, value, "--stack", "dev")

    up = must(
        drive(
            engine,
            program,
            "ephemeral",
            "up",
            "--name",
            name,
            "--base",
            "dev",
            "--config",
            f"fixture:configMapName={name}-settings",
            # The fixture's one object is its own ConfigMap: the base's cluster, named on
            # purpose (without it, go-platform's program refuses its base's cluster).
            "--config",
            f"kubernetes:context={context_of(cluster)}",
            "--policy-pack",
            str(policy),
        )
    )

    cluster_check = up.summary["preflight"][0]
    assert (cluster_check["check"], cluster_check["ok"]) == ("cluster", True)
    found = cluster.api.get(config_map)
    assert found.ok, found.body
    assert found.body["data"] == {"LOG_LEVEL": "info"}

    down = must(drive(engine, program, "ephemeral", "down", "--name", name))

    assert down.summary["operations"].get("delete", 0) >= 2
    gone = cluster.api.get(config_map)
    assert gone.status == 404, gone.body
    stacks = json.loads(pulumi(engine, program, "stack", "ls", "--json"))
    assert name not in [s["name"] for s in stacks]


def system_kubeconfig_copies() -> set[str]:
    """What the kubernetes provider would leave in the machine's temp dir."""
    return {path.name for path in Path(tempfile.gettempdir()).glob("kubeconfig*")}


def test_an_out_of_band_change_is_drift_naming_the_resource(kube_engine, cluster):  # noqa: F811
    engine = kube_engine
    kubeconfig = kubeconfig_of(cluster)
    program = engine.project("driver/program")
    policy = engine.project("driver/policy")
    name = f"driver-drift-{uuid.uuid4().hex[:8]}"
    leftovers = system_kubeconfig_copies()
    must(drive(engine, program, "preview", "--stack", STACK, "--policy-pack", str(policy)))
    for key, value in (
        ("kubernetes:kubeconfig", str(kubeconfig)),
        ("fixture:kubernetesNamespace", "default"),
        ("fixture:configMapName", name),
    ):
        pulumi(engine, program, "config", "set", key, value, "--stack", STACK)
    try:
        up = must(drive(engine, program, "up", "--stack", STACK, "--policy-pack", str(policy)))
        assert up.summary["preflight"][0]["check"] == "cluster"
        assert up.summary["preflight"][0]["ok"]
        must(drive(engine, program, "drift", "--stack", STACK))

        access = cluster_access(yaml.safe_load(kubeconfig.read_text()), context=None, source="test")
        KubeClient(access).request(
            "PATCH",
            f"/api/v1/namespaces/default/configmaps/{name}",
            {"data": {"LOG_LEVEL": "debug"}},
            content_type="application/merge-patch+json",
        )
        drifted = must(drive(engine, program, "drift", "--stack", STACK), 2)

        assert "ConfigMap settings" in drifted.output
        [resource] = drifted.summary["drift"]
        assert (resource["name"], resource["change"]) == ("settings", "update")
        assert any(path.startswith("data") for path in resource["paths"]), resource

        # `up --refresh` reads the ConfigMap first, so it plans the edit back and makes it.
        repaired = must(
            drive(
                engine, program, "up", "--stack", STACK, "--refresh", "--policy-pack", str(policy)
            )
        )
        # (a ConfigMap's data is replaced, not updated in place, by the kubernetes provider)
        changed = {op for op in repaired.summary["operations"] if op != "same"}
        assert changed in ({"update"}, {"replace"}), repaired.summary["operations"]
        live = KubeClient(access).request("GET", f"/api/v1/namespaces/default/configmaps/{name}")
        assert live["data"]["LOG_LEVEL"] != "debug", live["data"]
        must(drive(engine, program, "drift", "--stack", STACK))
    finally:
        drive(engine, program, "destroy", "--stack", STACK, "--yes")
    assert list((engine.root / "tmp").rglob("*")) == []
    assert system_kubeconfig_copies() <= leftovers


# --- canary promotion of the local stack -------------------------------------------------


def copy_local_program(engine: Engine, kubeconfig: Path) -> Path:
    """The program's tracked files in a tmp dir, running in the test virtualenv; the local
    stack file with the cluster's kubeconfig, short canary timings and no encryption salt."""
    target = copy_program(engine.root / "local-program", engine.virtualenv)
    stack_file = target / f"Pulumi.{LOCAL}.yaml"
    document = yaml.safe_load(stack_file.read_text(encoding="utf-8"))
    config = document["config"]
    config["kubernetes:kubeconfig"] = str(kubeconfig)
    [greeter] = [s for s in config["go-platform:services"] if s["name"] == "greeter"]
    assert greeter["canary"]["image"] == CANARY_IMAGE
    assert (greeter["canary"]["steps"], greeter["canary"]["threshold"]) == ([10, 25, 50], 2)
    greeter["canary"]["interval"] = "3s"
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return target


def weights(embedded: Cluster) -> dict[str, int]:
    """The TraefikService's weight per track (`stable`/`canary`), read from the API server."""
    found = embedded.api.get(WEIGHTED)
    assert found.ok, found.body
    return {
        ("canary" if "canary" in backend["name"] else "stable"): int(backend.get("weight", 0))
        for backend in found.body["spec"]["weighted"]["services"]
    }


def canary_state(project: Path) -> dict[str, Any]:
    document = yaml.safe_load((project / f"Pulumi.{LOCAL}.yaml").read_text(encoding="utf-8"))
    return json.loads(document["config"]["go-platform-canary:greeter"])


def test_canary_promotion_of_the_local_stack_resumes_promotes_and_rolls_back(
    kube_engine,
    cluster,  # noqa: F811
    request,
):
    engine = kube_engine
    metrics, _ = request.getfixturevalue("exporter")
    prometheus_url = request.getfixturevalue("prometheus")
    project = copy_local_program(engine, kubeconfig_of(cluster))
    pack = ("--policy-pack", str(project / "policies"))
    promote = (
        "canary",
        "promote",
        "--stack",
        LOCAL,
        "--service",
        "greeter",
        "--prometheus-url",
        prometheus_url,
        "--skip-preflight",
        *pack,
    )
    with metrics.lock:
        metrics.behaviours[CANARY] = Behaviour(ok=20, seconds=0.05)
    must(drive(engine, project, "up", "--stack", LOCAL, *pack))
    assert weights(cluster) == {"stable": 90, "canary": 10}

    # A promotion killed once its second weight is deployed, while it waits to analyse.
    killed = subprocess.Popen(
        [*GO_PLATFORM, *promote, "--project-dir", str(project)],
        cwd=project,
        env=engine.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen: list[str] = []
    try:
        assert killed.stdout is not None
        for line in killed.stdout:
            seen.append(line)
            if line.startswith("up (canary weight 25%):"):
                break
        else:
            pytest.fail("the promotion ended before its first up:\n" + "".join(seen))
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()
    recorded = canary_state(project)
    assert (recorded["phase"], recorded["step"], recorded["weight"]) == ("progressing", 2, 25)
    assert weights(cluster) == {"stable": 75, "canary": 25}

    resumed = must(drive(engine, project, *promote))

    canary = resumed.summary["canary"]
    assert canary["decision"] == "promoted"
    assert [(c["step"], c["weight"], c["decision"]) for c in canary["checks"]] == [
        (2, 25, "advance"),
        (3, 50, "promote"),
    ]
    assert [s["operation"] for s in resumed.summary["steps"]] == [
        "up (canary weight 25%)",
        "up (canary weight 50%)",
        "up (promote canary image)",
        "up (canary weight 0%)",
    ]
    assert canary_state(project)["phase"] == "promoted"
    assert weights(cluster) == {"stable": 100, "canary": 0}
    stable = cluster.api.get(STABLE_DEPLOYMENT)
    assert stable.ok, stable.body
    images = [c["image"] for c in stable.body["spec"]["template"]["spec"]["containers"]]
    assert CANARY_IMAGE in images

    # The next release is unhealthy: rolled back after `threshold` (2) failed checks.
    with metrics.lock:
        metrics.behaviours[CANARY] = Behaviour(ok=10, errors=10)
    pulumi(
        engine,
        project,
        "config",
        "set",
        "--path",
        "go-platform:services[0].canary.image",
        "ghcr.io/go-platform/greeter:0.3.0",
        "--stack",
        LOCAL,
    )
    time.sleep(3.5)  # the window holds only the unhealthy behaviour

    rolled_back = must(drive(engine, project, *promote), 5)

    canary = rolled_back.summary["canary"]
    assert canary["decision"] == "rolled-back"
    assert [c["decision"] for c in canary["checks"]] == ["hold", "rollback"]
    assert all(not c["passed"] for c in canary["checks"])
    assert weights(cluster) == {"stable": 100, "canary": 0}
    assert canary_state(project)["phase"] == "rolled-back"
