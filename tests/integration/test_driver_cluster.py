"""The driver against the embedded control plane (`make cluster-start`), with the real
CLI and kubernetes provider: `up` runs its preflight against the cluster and deploys a
ConfigMap; an out-of-band change to it makes `drift` exit 2 and name it.

Skips, with one reason, when the toolchain is not built or the cluster does not run.

Invariants guarded:
- preflight passes against a reachable cluster, reached with the kubeconfig named by the
  stack's `kubernetes:kubeconfig`, and `up` deploys;
- `drift` exits 0 while the cluster matches the state, and 2 after an out-of-band edit,
  naming the edited resource and the changed field; the JSON summary says the same.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest
import yaml

from go_platform.kube import KubeClient, cluster_access
from tests.integration.test_driver_engine import STACK, drive, must, pulumi
from tests.integration.test_driver_preflight import embedded_kubeconfig  # noqa: F401 (fixture)

if TYPE_CHECKING:
    from tests.integration.conftest import Engine, Toolchain


@pytest.fixture
def cluster_engine(toolchain: Toolchain, engine: Engine) -> Engine:
    toolchain.require("cli", "language-python", "random", "kubernetes")
    engine.env["PYTHONUNBUFFERED"] = "1"
    return engine


def test_an_out_of_band_change_is_drift_naming_the_resource(cluster_engine, request):
    engine = cluster_engine
    kubeconfig = request.getfixturevalue("embedded_kubeconfig")
    program = engine.project("driver/program")
    policy = engine.project("driver/policy")
    name = f"driver-drift-{uuid.uuid4().hex[:8]}"
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
    finally:
        drive(engine, program, "destroy", "--stack", STACK, "--yes")
