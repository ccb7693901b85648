"""The `local` stack under the real engine (`pulumi up --policy-pack policies`, as `make up`
runs it), deployed to an embedded cluster of its own.

The program's tracked files are copied into a tmp dir, so nothing is written into the
repository. The deployed stack is `Pulumi.local.yaml` plus one service, `worker`, that the
checks below need and the local stack lacks: it is autoscaled (its replica count the
autoscaler's) and has a `secretEnv` value set with `pulumi config set --secret`.

Invariants guarded:
- `up` of the local stack succeeds and every Deployment it declares is Available on the API
  server; the policy pack's advisory findings (image digest, signature) are only warnings;
- a second `up` changes nothing, and `preview --expect-no-changes` passes;
- the generated passwords (gateway dashboard, module proxy) and every `secretEnv` value are
  stored only encrypted: `stack export` holds them as ciphertext, and no file of the state
  backend or of the stack config, and no output of `up`, holds them in clear or in base64;
- out-of-band changes (a `kubectl scale` of greeter through the scale subresource, an edited
  label, a deleted ConfigMap) are found by `refresh`; `up --refresh` plans exactly their
  repair in its preview (what `preview --refresh` shows) and makes it: replicas back to the
  declared value with the platform owning the field again (patch force), the label back, the
  ConfigMap recreated;
- a replica count the platform does not declare (an autoscaled service) is never fought: after
  an out-of-band scale, the refreshing preview plans nothing for it and `up` leaves it alone;
- a running service moved to autoscaling keeps its pod count through the update (the
  autoscaler then takes over), never dropping to the API server's default of 1;
- a new env var on greeter rolls its Deployments (a new ReplicaSet whose pods read the new
  value) and the update touches only greeter's env ConfigMaps and Deployments; a canary weight
  change updates the TraefikService and nothing else;
- a stack config that breaks a mandatory policy of its environment fails `up` in its preview,
  naming the policy and the resource, and creates nothing: the stack stays empty and the API
  server unchanged;
- a stack config error fails `preview` with the one-line keyed message and no traceback;
- `destroy` removes every object of the stack from the API server (its namespaces included,
  once their deletion completes) except the namespaces the program marks as the cluster's
  (retainOnDelete);
- an `up` of the local stack saves its state once, when it ends (as `make up` and the driver
  run it: `workspace.update_env`): killed (SIGKILL) half-way from empty, it leaves the state
  empty and the objects it made on the API server; once `pulumi cancel` lifts its lock, the
  next `up` takes those objects over and deploys the stack, and a preview then expects no
  changes;
- the CI driver's `up`, `drift`, `refresh` and `destroy` of the local stack reach the
  embedded cluster even when KUBECONFIG names none (the stack's environment picks its
  kubeconfig); its no-op `up` reports every resource done, and its `destroy` deletes the
  stack's objects from the API server.

Tests run in the order written: one module-scoped deployment serves the tests from the first
`up` to `destroy`; the policy and config-error cases use stacks of their own and deploy
nothing. The first and the no-op `up` run with the policy pack, as `make up` does; the later
ones, about other behaviours, without it (it adds about 10 s to every engine command).
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from go_platform.workspace import update_env
from go_platform_core.config import LOCAL_CRD_SOURCES
from tests.conftest import REPO
from tests.integration.conftest import (
    Engine,
    Toolchain,
    kill_with_plugins,
    new_engine,
    run_in_virtualenv,
)
from tests.integration.test_cluster import (  # noqa: F401 (fixture)
    Cluster,
    cluster,
    condition_true,
    eventually,
)
from tests.integration.test_driver_engine import drive, must
from tests.integration.test_local_manifests import Applier

# Everything `__main__.py` and the policy pack read, relative to the project directory, and
# the cluster tool through which the driver finds the embedded cluster's kubeconfig.
PROGRAM_PATHS = (
    "Pulumi.yaml",
    "Pulumi.local.yaml",
    "__main__.py",
    "components",
    "core",
    "wiring",
    "policies",
    "upstream",
    "tools/cluster",
    "tools/gobuild",
)
CONTEXT = "go-platform-local"
"""The kubeconfig context Pulumi.local.yaml names, as the embedded cluster writes it."""
STACK = "local"
SECRET_MARKER = "4dabf18193072939515e22adb298388d"
"""The key Pulumi's state marks a secret value with."""
WORKER_TOKEN_KEY = "go-platform:workerApiToken"
SCALED = 3
"""Replicas set out of band; within the worker's autoscaling range, so the HPA keeps it."""
DEPLOY_TIMEOUT = 120.0


# --- the program, the engine, the stack --------------------------------------------------


def copy_program(target: Path, virtualenv: Path) -> Path:
    """The program's tracked files, its Pulumi(Policy).yaml running in `virtualenv`, and the
    local stack file without its encryption salt (the tests use their own passphrase)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--", *PROGRAM_PATHS],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for relative in filter(None, listed.split("\0")):
        source = REPO / relative
        if source.is_file():  # a tracked file deleted in the work tree is not copied
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / relative)
    for project_file in (target / "Pulumi.yaml", target / "policies" / "PulumiPolicy.yaml"):
        run_in_virtualenv(project_file, virtualenv)
    stack_file = target / f"Pulumi.{STACK}.yaml"
    document = yaml.safe_load(stack_file.read_text(encoding="utf-8"))
    document.pop("encryptionsalt", None)
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return target


def json_documents(text: str) -> list[dict[str, Any]]:
    """The JSON values `pulumi ... --json` printed one after another."""
    decoder, documents, at = json.JSONDecoder(), [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return documents
        document, at = decoder.raw_decode(text, at)
        documents.append(document)


def resource_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


UNCHANGED = frozenset({"same", "refresh", "read"})


@dataclass
class EngineRun:
    """What one `preview`/`up`/`refresh --json` reported: the steps it planned, the steps it
    took (update events), the summary counts and the policy findings."""

    process: subprocess.CompletedProcess[str]
    planned: dict[str, str] = field(default_factory=dict)
    """Resource name -> planned operation, for every step that changes something."""
    paths: dict[str, set[str]] = field(default_factory=dict)
    """Resource name -> the property paths its planned step changes."""
    done: dict[str, set[str]] = field(default_factory=dict)
    """Resource name -> operations the update performed (a replace is several)."""
    changes: dict[str, int] = field(default_factory=dict)
    policy: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def parse(cls, process: subprocess.CompletedProcess[str]) -> EngineRun:
        run = cls(process)
        for document in json_documents(process.stdout):
            for step in document.get("steps", ()):
                if step["op"] not in UNCHANGED:
                    name = resource_name(step["urn"])
                    run.planned[name] = step["op"]
                    run.paths[name] = set(step.get("detailedDiff") or {})
            if "changeSummary" in document:
                run.changes = dict(document["changeSummary"])
            if "resOutputsEvent" in document:
                metadata = document["resOutputsEvent"]["metadata"]
                if metadata["op"] not in UNCHANGED:
                    run.done.setdefault(resource_name(metadata["urn"]), set()).add(metadata["op"])
            if "summaryEvent" in document:
                run.changes = dict(document["summaryEvent"]["resourceChanges"])
            if "policyEvent" in document:
                run.policy.append(document["policyEvent"])
        return run


@dataclass
class Stack:
    """One stack of the copied program, driven through the engine's CLI."""

    engine: Engine
    project: Path
    name: str

    @property
    def stack_file(self) -> Path:
        return self.project / f"Pulumi.{self.name}.yaml"

    @property
    def update_env(self) -> dict[str, str]:
        """What `make up` and the driver run an update of this stack with."""
        return update_env(self.config()["go-platform:environment"])

    def pulumi(
        self, *args: str, check: bool = True, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.engine.run(
            *args, "--stack", self.name, cwd=self.project, check=check, extra_env=extra_env
        )

    def up(self, *args: str, policy_pack: bool = True) -> EngineRun:
        """`up`, reported as JSON, run as `make up` runs it; with the policy pack, or without it
        (and its ~10 s start under the engine) where the pack is not what a test is about."""
        pack = ("--policy-pack", "policies") if policy_pack else ()
        return EngineRun.parse(
            self.pulumi("up", "--yes", "--json", *pack, *args, extra_env=self.update_env)
        )

    def export(self) -> dict[str, Any]:
        return json.loads(self.pulumi("stack", "export").stdout)

    def resources(self) -> list[dict[str, Any]]:
        return self.export()["deployment"].get("resources") or []

    def config(self) -> dict[str, Any]:
        return yaml.safe_load(self.stack_file.read_text(encoding="utf-8"))["config"]

    def write_config(self, config: dict[str, Any]) -> None:
        """Replace the stack file's config, keeping its encryption salt."""
        document = yaml.safe_load(self.stack_file.read_text(encoding="utf-8")) or {}
        document["config"] = config
        self.stack_file.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def new_stack(engine: Engine, project: Path, name: str, config: dict[str, Any]) -> Stack:
    stack = Stack(engine, project, name)
    stack.stack_file.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    engine.run("stack", "init", name, cwd=project)
    return stack


def local_config() -> dict[str, Any]:
    """The config of the repository's Pulumi.local.yaml."""
    return yaml.safe_load((REPO / f"Pulumi.{STACK}.yaml").read_text(encoding="utf-8"))["config"]


def with_value(config: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `config` with `value` at `path` (`go-platform:services[0].replicas`), as
    `pulumi config set --path` would set it."""
    result = copy.deepcopy(config)
    key, _, rest = path.partition(".")
    key, *indexes = re.split(r"\[(\d+)\]", key)
    parts: list[str | int] = [key, *(int(i) for i in indexes if i)]
    for segment in rest.split(".") if rest else ():
        name, *indexes = re.split(r"\[(\d+)\]", segment)
        parts += [name, *(int(i) for i in indexes if i)]
    node: Any = result
    for part in parts[:-1]:
        node = node[part] if isinstance(part, int) else node.setdefault(part, {})
    node[parts[-1]] = value
    return result


# --- the cluster -----------------------------------------------------------------------


def deployment_path(namespace: str, name: str) -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"


def is_available(cluster: Cluster, namespace: str, name: str) -> bool:  # noqa: F811
    return condition_true(cluster.api.get(deployment_path(namespace, name)).body, "Available")


def replicas_owners(deployment: dict[str, Any]) -> set[str]:
    """Field managers that own `spec.replicas` of a Deployment."""
    return {
        entry["manager"]
        for entry in deployment["metadata"].get("managedFields", [])
        if "f:replicas" in (entry.get("fieldsV1") or {}).get("f:spec", {})
    }


def kubernetes_objects(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The state's resources that are objects on the API server."""
    return [
        r
        for r in resources
        if r["type"].startswith("kubernetes:")
        and r.get("custom")
        and not r["type"].startswith(("kubernetes:yaml/", "kubernetes:helm.sh/"))
    ]


def deployments(resources: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(namespace, name) of every Deployment in the state."""
    return {
        (r["outputs"]["metadata"]["namespace"], r["outputs"]["metadata"]["name"])
        for r in resources
        if r["type"] == "kubernetes:apps/v1:Deployment"
    }


def named(resources: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [resource] = [r for r in resources if resource_name(r["urn"]) == name]
    return resource


SNAPSHOT = (
    "/api/v1/namespaces",
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    "/apis/apps/v1/deployments",
    "/api/v1/configmaps",
    "/api/v1/secrets",
    "/api/v1/services",
    "/api/v1/serviceaccounts",
    "/apis/networking.k8s.io/v1/networkpolicies",
)


# What the controller manager puts into every namespace, whenever it gets to it (a new
# namespace, which the snapshot would show, is the evidence of creation instead).
CONTROLLER_MADE = {
    ("/api/v1/configmaps", "kube-root-ca.crt"),
    ("/api/v1/serviceaccounts", "default"),
}


def api_objects(cluster: Cluster) -> set[tuple[str, str, str, str]]:  # noqa: F811
    """(list, namespace, name, uid) of the kinds the program declares, cluster-wide."""
    found = set()
    for path in SNAPSHOT:
        response = cluster.api.get(path)
        assert response.ok, f"{path}: {response.message}"
        for item in response.body["items"]:
            meta = item["metadata"]
            if (path, meta["name"]) not in CONTROLLER_MADE:
                found.add((path, meta.get("namespace", ""), meta["name"], meta["uid"]))
    return found


# --- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack_engine(
    toolchain: Toolchain,
    virtualenv: Path,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Engine:
    """The engine of conftest's `engine`, for the whole module, pointed at a cluster of its
    own (started after the toolchain is known to be there)."""
    toolchain.require("cli", "language-python", "kubernetes", "random")
    embedded: Cluster = request.getfixturevalue("cluster")
    kubeconfig = embedded.data_dir / "kubeconfig"
    contexts = {c["name"] for c in yaml.safe_load(kubeconfig.read_text())["contexts"]}
    assert CONTEXT in contexts, f"Pulumi.local.yaml names {CONTEXT}; the cluster has {contexts}"
    return new_engine(toolchain, virtualenv, tmp_path_factory.mktemp("local-stack"), kubeconfig)


@pytest.fixture(scope="module")
def project(stack_engine: Engine) -> Path:
    target = stack_engine.root / "project"
    target.mkdir()
    return copy_program(target, stack_engine.virtualenv)


@pytest.fixture(scope="module")
def worker_token() -> str:
    return f"worker-token-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def local_stack(stack_engine: Engine, project: Path, worker_token: str) -> Stack:
    """The local stack plus the autoscaled `worker`, whose API_TOKEN is a secret."""
    stack = Stack(stack_engine, project, STACK)
    stack_engine.run("stack", "init", STACK, cwd=project)
    config = stack.config()
    config["go-platform:services"].append(
        {
            "name": "worker",
            "image": "ghcr.io/go-platform/worker:0.1.0",
            "autoscaling": {"minReplicas": 1, "maxReplicas": 4},
            "secretEnv": {"API_TOKEN": WORKER_TOKEN_KEY.split(":", 1)[1]},
        }
    )
    stack.write_config(config)
    stack.pulumi("config", "set", "--secret", WORKER_TOKEN_KEY, worker_token)
    return stack


@pytest.fixture(scope="module")
def deployed(local_stack: Stack) -> EngineRun:
    return local_stack.up()


# --- a stack that breaks a mandatory policy; config errors ------------------------------


def staging_config() -> dict[str, Any]:
    """A staging stack the program accepts (add-ons not installed, CRDs from the project)
    whose image is not pinned by digest, which staging's policy config makes mandatory."""
    return {
        "kubernetes:context": CONTEXT,
        "go-platform:environment": "staging",
        "go-platform:domain": "staging.example.com",
        "go-platform:crds": {"install": True, "sources": list(LOCAL_CRD_SOURCES)},
        "go-platform:gateway": {
            "install": False,
            "tls": {"acmeEmail": "platform-team@example.com"},
        },
        "go-platform:observability": {"enabled": False, "install": False},
        "go-platform:moduleProxy": {"enabled": False},
        "go-platform:services": [
            {
                "name": "greeter",
                "image": "registry.example.com/go-platform/greeter:1.0.0",
                "route": {"host": "greeter.staging.example.com"},
            }
        ],
    }


def test_a_mandatory_policy_violation_fails_up_and_creates_nothing(
    stack_engine: Engine,
    project: Path,
    cluster: Cluster,  # noqa: F811
) -> None:
    before = api_objects(cluster)
    stack = new_stack(stack_engine, project, "policy-staging", staging_config())

    result = stack.pulumi("up", "--yes", "--policy-pack", "policies", check=False)

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert re.search(
        r"\[mandatory\].*image-digest-pinned\s+\(kubernetes:apps/v1:Deployment: "
        r"greeter-deployment\)",
        output,
    ), output
    assert "Updating (" not in output, "the update started after a failed preview"
    assert stack.resources() == []
    assert api_objects(cluster) == before


CONFIG_ERRORS = [
    pytest.param(
        "go-platform:services[0].replicas",
        0,
        "go-platform:services[0].replicas: must be at least 1 (got 0)",
        id="replicas-zero",
    ),
    pytest.param(
        "go-platform:services[0].canary.weight",
        30,
        "go-platform:services[0].canary.weight: must be 0 or one of the steps "
        "[10, 25, 50] (got 30)",
        id="canary-weight-off-the-steps",
    ),
    pytest.param(
        "go-platform:services[0].env.PORT",
        "9000",
        "go-platform:services[0].env.PORT: is set by go-platform; remove it",
        id="reserved-env",
    ),
    pytest.param(
        "go-platform:servics",
        [],
        "go-platform:servics: unknown key (did you mean 'services'?)",
        id="misspelt-key",
    ),
]


@pytest.fixture(scope="module")
def config_error_stack(stack_engine: Engine, project: Path) -> Stack:
    return new_stack(stack_engine, project, "config-error", local_config())


@pytest.mark.parametrize(("path", "value", "message"), CONFIG_ERRORS)
def test_a_config_error_fails_preview_with_one_keyed_line(
    config_error_stack: Stack, path: str, value: Any, message: str
) -> None:
    config_error_stack.write_config(with_value(local_config(), path, value))

    result = config_error_stack.pulumi("preview", check=False)

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    lines = [line.strip() for line in output.splitlines()]
    assert f"error: invalid stack configuration: {message}" in lines, output
    assert "Traceback" not in output
    # The program said it reported its error: the engine adds no generic line of its own.
    assert "unhandled error" not in output, output


# --- the deployed local stack -----------------------------------------------------------


def test_up_succeeds_and_every_deployment_becomes_available(
    deployed: EngineRun,
    local_stack: Stack,
    cluster: Cluster,  # noqa: F811
) -> None:
    assert set(deployed.changes) == {"create"}, deployed.changes
    found = deployments(local_stack.resources())
    assert {name for _, name in found} == {"greeter", "greeter-canary", "athens", "worker"}
    for namespace, name in found:
        eventually(
            lambda ns=namespace, n=name: is_available(cluster, ns, n),
            timeout=DEPLOY_TIMEOUT,
            what=f"Deployment {namespace}/{name} Available",
        )


def test_advisory_policies_only_warn(deployed: EngineRun) -> None:
    findings = {
        (p["policyName"], resource_name(p["resourceUrn"]), p["enforcementLevel"])
        for p in deployed.policy
    }
    assert ("image-digest-pinned", "greeter-deployment", "advisory") in findings
    assert ("image-signature-verified", "greeter-deployment", "advisory") in findings
    assert {level for _, _, level in findings} == {"advisory"}


def test_a_second_up_changes_nothing(deployed: EngineRun, local_stack: Stack) -> None:
    again = local_stack.up()

    assert set(again.changes) == {"same"}, again.changes
    assert again.planned == {}
    assert again.done == {}


def test_preview_expects_no_changes(deployed: EngineRun, local_stack: Stack) -> None:
    result = local_stack.pulumi("preview", "--expect-no-changes", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _stored_files(*roots: Path) -> Iterator[tuple[Path, bytes]]:
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            data = path.read_bytes()
            yield path, gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def test_secrets_are_stored_only_encrypted(
    deployed: EngineRun, local_stack: Stack, worker_token: str
) -> None:
    outputs = json.loads(local_stack.pulumi("stack", "output", "--json", "--show-secrets").stdout)
    passwords = [outputs["gateway"]["dashboardPassword"], outputs["moduleProxy"]["password"]]
    assert all(isinstance(p, str) and len(p) >= 16 for p in passwords), "no generated passwords"
    secrets = [*passwords, worker_token]
    forms = {s: (s.encode(), base64.b64encode(s.encode())) for s in secrets}

    exported = local_stack.pulumi("stack", "export").stdout
    stack_outputs = next(
        r["outputs"]
        for r in json.loads(exported)["deployment"]["resources"]
        if r["type"] == "pulumi:pulumi:Stack"
    )
    for value in (
        stack_outputs["gateway"]["dashboardPassword"],
        stack_outputs["moduleProxy"]["password"],
    ):
        assert SECRET_MARKER in value, value
        assert value["ciphertext"], value
    assert local_stack.config()[WORKER_TOKEN_KEY].keys() == {"secure"}

    haystacks = {
        "stack export": exported.encode(),
        "up's output": (deployed.process.stdout + deployed.process.stderr).encode(),
        **{str(path): data for path, data in _stored_files(local_stack.engine.state)},
        **{str(p): p.read_bytes() for p in local_stack.project.glob("Pulumi*.yaml")},
    }
    leaks = [
        f"{where}: {'base64 of ' if form is encoded else ''}secret #{secrets.index(secret)}"
        for secret, (plain, encoded) in forms.items()
        for form in (plain, encoded)
        for where, data in haystacks.items()
        if form in data
    ]
    assert not leaks, leaks


@dataclass
class Drift:
    """Out-of-band changes made to the deployed stack, and what the engine said of them."""

    declared_replicas: int
    refreshed: EngineRun
    """`refresh --preview-only`: what changed on the API server."""
    repaired: EngineRun
    """`up --refresh`: its preview (the plan `preview --refresh` shows), then the update."""


@pytest.fixture(scope="module")
def drift(deployed: EngineRun, local_stack: Stack, cluster: Cluster) -> Drift:  # noqa: F811
    resources = local_stack.resources()
    declared = named(resources, "greeter-deployment")["inputs"]["spec"]["replicas"]
    assert declared != SCALED
    greeter, worker = deployment_path("apps", "greeter"), deployment_path("apps", "worker")
    api = cluster.api
    for path in (greeter, worker):  # as `kubectl scale` does it
        scaled = api.request(
            "PATCH",
            f"{path}/scale?fieldManager=kubectl",
            {"spec": {"replicas": SCALED}},
            "application/merge-patch+json",
        )
        assert scaled.ok, scaled.message
    labelled = api.request(
        "PATCH",
        f"{greeter}?fieldManager=kubectl",
        {"metadata": {"labels": {"go-platform/environment": "tampered"}}},
        "application/merge-patch+json",
    )
    assert labelled.ok, labelled.message
    assert api.delete("/api/v1/namespaces/apps/configmaps/greeter-dashboard").ok
    return Drift(
        declared_replicas=declared,
        refreshed=EngineRun.parse(local_stack.pulumi("refresh", "--preview-only", "--json")),
        repaired=local_stack.up("--refresh", policy_pack=False),
    )


def test_refresh_finds_the_out_of_band_changes(drift: Drift) -> None:
    found = drift.refreshed
    assert found.planned.get("greeter-deployment") == "update", found.planned
    assert {"spec.replicas", "metadata.labels.go-platform/environment"} <= found.paths[
        "greeter-deployment"
    ]
    assert found.planned.get("greeter-dashboard") == "delete", found.planned


def test_a_refreshing_preview_plans_exactly_the_repair(drift: Drift) -> None:
    assert drift.repaired.planned == {
        "greeter-deployment": "update",
        "greeter-dashboard": "create",
    }
    assert drift.repaired.paths["greeter-deployment"] == {
        "spec.replicas",
        "metadata.labels.go-platform/environment",
    }


def test_up_repairs_the_drift_and_takes_back_the_fields(
    drift: Drift,
    cluster: Cluster,  # noqa: F811
) -> None:
    assert drift.repaired.done == {
        "greeter-deployment": {"update"},
        "greeter-dashboard": {"create"},
    }
    greeter = cluster.api.get(deployment_path("apps", "greeter")).body
    assert greeter["spec"]["replicas"] == drift.declared_replicas
    assert greeter["metadata"]["labels"]["go-platform/environment"] == "local"
    owners = replicas_owners(greeter)
    assert owners, "nobody owns spec.replicas"
    assert all(o.startswith("pulumi-kubernetes") for o in owners), owners
    assert cluster.api.get("/api/v1/namespaces/apps/configmaps/greeter-dashboard").ok


def test_an_autoscaled_replica_count_is_never_fought(
    drift: Drift,
    cluster: Cluster,  # noqa: F811
) -> None:
    assert "worker-deployment" not in drift.repaired.planned
    assert "worker-deployment" not in drift.repaired.done
    worker = cluster.api.get(deployment_path("apps", "worker")).body
    assert worker["spec"]["replicas"] == SCALED
    assert not any(o.startswith("pulumi-kubernetes") for o in replicas_owners(worker))


@dataclass
class Rollout:
    replica_sets_before: set[str]
    update: EngineRun


def greeter_replica_sets(cluster: Cluster) -> set[str]:  # noqa: F811
    items = cluster.api.get("/apis/apps/v1/namespaces/apps/replicasets").body["items"]
    return {
        rs["metadata"]["name"]
        for rs in items
        if any(
            o["kind"] == "Deployment" and o["name"] == "greeter"
            for o in rs["metadata"].get("ownerReferences", [])
        )
    }


@pytest.fixture(scope="module")
def env_change(drift: Drift, local_stack: Stack, cluster: Cluster) -> Rollout:  # noqa: F811
    before = greeter_replica_sets(cluster)
    local_stack.pulumi("config", "set", "--path", "go-platform:services[0].env.GREETING", "hi")
    return Rollout(before, local_stack.up(policy_pack=False))


def test_a_new_env_var_rolls_the_deployment(
    env_change: Rollout,
    cluster: Cluster,  # noqa: F811
) -> None:
    new = greeter_replica_sets(cluster) - env_change.replica_sets_before
    assert len(new) == 1, new
    eventually(
        lambda: is_available(cluster, "apps", "greeter"),
        timeout=DEPLOY_TIMEOUT,
        what="greeter Available after the rollout",
    )
    [replica_set] = new
    template = cluster.api.get(f"/apis/apps/v1/namespaces/apps/replicasets/{replica_set}").body
    [source] = template["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    config_map = source["configMapRef"]["name"]
    data = cluster.api.get(f"/api/v1/namespaces/apps/configmaps/{config_map}").body["data"]
    assert data["GREETING"] == "hi"


def test_the_env_change_touches_only_greeters_config_and_deployments(
    env_change: Rollout,
) -> None:
    # The canary track runs the service's config with the next image: it rolls too.
    assert env_change.update.planned == {
        "greeter-env": "replace",
        "greeter-canary-env": "replace",
        "greeter-deployment": "update",
        "greeter-canary-deployment": "update",
    }
    assert env_change.update.done == {
        "greeter-env": {"create-replacement", "replace", "delete-replaced"},
        "greeter-canary-env": {"create-replacement", "replace", "delete-replaced"},
        "greeter-deployment": {"update"},
        "greeter-canary-deployment": {"update"},
    }


def test_a_canary_weight_change_updates_only_the_traefik_service(
    env_change: Rollout,
    local_stack: Stack,
    cluster: Cluster,  # noqa: F811
) -> None:
    local_stack.pulumi("config", "set", "--path", "go-platform:services[0].canary.weight", "25")

    update = local_stack.up("--skip-preview", policy_pack=False)

    assert update.done == {"greeter-route-weighted": {"update"}}
    assert set(update.changes) == {"same", "update"}
    assert update.changes["update"] == 1
    weighted = cluster.api.get(
        "/apis/traefik.io/v1alpha1/namespaces/apps/traefikservices/greeter-weighted"
    ).body
    assert sorted(s["weight"] for s in weighted["spec"]["weighted"]["services"]) == [25, 75]


def replicas_seen_during(cluster: Cluster, name: str, action: Any) -> tuple[Any, list[int]]:  # noqa: F811
    """`action()`'s result, and every `spec.replicas` the Deployment `name` of `apps` had
    while it ran (read every 50 ms, and once after it)."""
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.append(cluster.api.get(deployment_path("apps", name)).body["spec"]["replicas"])
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = action()
    finally:
        done.set()
        watcher.join()
    seen.append(cluster.api.get(deployment_path("apps", name)).body["spec"]["replicas"])
    return result, seen


def test_moving_a_running_service_to_autoscaling_keeps_its_pods(
    env_change: Rollout,
    local_stack: Stack,
    cluster: Cluster,  # noqa: F811
) -> None:
    """Dropping `replicas` from what Pulumi applies would make the API server default the
    running Deployment to 1 pod until the autoscaler, created in the same update, scaled it
    back: the Deployment keeps its count, and the autoscaler takes it from there."""
    path = "go-platform:services[0]"
    local_stack.pulumi("config", "set", "--path", f"{path}.replicas", "3")
    local_stack.up("--skip-preview", policy_pack=False)
    eventually(
        lambda: cluster.api.get(deployment_path("apps", "greeter")).body["spec"]["replicas"] == 3,
        what="greeter at 3 replicas",
    )
    local_stack.pulumi("config", "rm", "--path", f"{path}.replicas")
    local_stack.pulumi("config", "set", "--path", f"{path}.autoscaling.minReplicas", "2")
    local_stack.pulumi("config", "set", "--path", f"{path}.autoscaling.maxReplicas", "4")
    try:
        update, seen = replicas_seen_during(
            cluster, "greeter", lambda: local_stack.up("--skip-preview", policy_pack=False)
        )
        assert "greeter-hpa" in update.done
        assert min(seen) == 3, seen
    finally:  # the later tests deploy the local stack as it is declared
        local_stack.pulumi("config", "rm", "--path", f"{path}.autoscaling")


@dataclass
class Destroyed:
    removed: dict[str, dict[str, Any]]
    """API path -> the state's resource, for every object destroy must delete."""
    retained: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def destroyed(deployed: EngineRun, local_stack: Stack, cluster: Cluster) -> Destroyed:  # noqa: F811
    applier = Applier(cluster.api)  # paths resolved while every CRD is still served
    removed, retained = {}, {}
    for resource in kubernetes_objects(local_stack.resources()):
        path = applier.path(resource["outputs"])
        (retained if resource.get("retainOnDelete") else removed)[path] = resource
    local_stack.pulumi("destroy", "--yes")
    return Destroyed(removed, retained)


def test_destroy_removes_every_object_of_the_stack(
    destroyed: Destroyed,
    local_stack: Stack,
    cluster: Cluster,  # noqa: F811
) -> None:
    assert local_stack.resources() == []
    namespaces = {
        path for path, r in destroyed.removed.items() if r["type"] == "kubernetes:core/v1:Namespace"
    }
    assert {p.rsplit("/", 1)[-1] for p in namespaces} == {"apps", "module-proxy"}
    eventually(
        lambda: all(cluster.api.get(path).status == 404 for path in destroyed.removed),
        timeout=DEPLOY_TIMEOUT,
        what="every object of the stack deleted (namespaces finalized)",
    )
    # Only namespaces the program says are the cluster's outlive the stack.
    assert {r["type"] for r in destroyed.retained.values()} <= {"kubernetes:core/v1:Namespace"}


@dataclass
class Interrupted:
    resources: list[dict[str, Any]]
    """The stack's state once the killed update was gone."""
    made: bool
    """Greeter's Deployment, made by the killed update, is on the API server."""


@pytest.fixture(scope="module")
def interrupted(
    destroyed: Destroyed,
    local_stack: Stack,
    project: Path,
    cluster: Cluster,  # noqa: F811
) -> Interrupted:
    """An `up` from empty, run as `make up` runs it, killed (SIGKILL: its process group and
    its plugins) once it has made greeter's Deployment; then its lock lifted."""
    greeter = deployment_path("apps", "greeter")
    update = subprocess.Popen(
        ["pulumi", "up", "--yes", "--skip-preview", "--stack", STACK],
        cwd=project,
        env={**local_stack.engine.env, **local_stack.update_env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + DEPLOY_TIMEOUT
        while cluster.api.get(greeter).status != 200:
            assert update.poll() is None, f"the up ended ({update.returncode}) before the kill"
            assert time.monotonic() < deadline, "the up never made greeter's Deployment"
            time.sleep(0.1)
    finally:
        kill_with_plugins(update, project)
    assert update.returncode == -signal.SIGKILL, "the up finished before it was killed"
    resources = local_stack.resources()
    made = cluster.api.get(greeter).status == 200
    local_stack.pulumi("cancel", "--yes")
    return Interrupted(resources, made)


def test_an_interrupted_up_of_the_local_stack_leaves_its_state_as_it_was(
    interrupted: Interrupted,
) -> None:
    """No checkpoint was saved before the kill: the state is still the empty one destroy
    left, while the objects the update made are on the API server."""
    assert interrupted.resources == []
    assert interrupted.made


def test_up_takes_over_what_an_interrupted_up_made_and_deploys_again(
    interrupted: Interrupted,
    local_stack: Stack,
    cluster: Cluster,  # noqa: F811
) -> None:
    again = local_stack.up("--skip-preview", policy_pack=False)

    assert set(again.changes) == {"create"}, again.changes
    for namespace, name in deployments(local_stack.resources()):
        eventually(
            lambda ns=namespace, n=name: is_available(cluster, ns, n),
            timeout=DEPLOY_TIMEOUT,
            what=f"Deployment {namespace}/{name} Available",
        )
    local_stack.pulumi("preview", "--expect-no-changes")


def test_the_drivers_state_commands_reach_the_embedded_cluster_whatever_kubeconfig_says(
    interrupted: Interrupted,
    local_stack: Stack,
    project: Path,
    cluster: Cluster,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The CI driver's `up`, `drift`, `refresh` and `destroy` of the deployed local stack,
    run with a KUBECONFIG that knows no cluster (as in a shell where nobody exported the
    embedded one): each reaches the embedded cluster, as `make up` does; the no-op `up`
    counts every resource done, and destroy deletes the stack's objects from it."""
    objects = kubernetes_objects(local_stack.resources())
    assert objects, "runs after the up that takes over the interrupted one"
    elsewhere = tmp_path / "kubeconfig"
    elsewhere.write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "clusters": [], "contexts": []})
    )
    env = {"KUBECONFIG": str(elsewhere), "GO_PLATFORM_CLUSTER_DIR": str(cluster.data_dir)}
    engine = local_stack.engine

    up = must(drive(engine, project, "up", "--stack", STACK, env=env))
    assert up.summary is not None
    assert set(up.summary["operations"]) == {"same"}
    # Every resource is counted done, the ConfigGroup component among them.
    resources = up.summary["resources"]
    assert resources["done"] == resources["total"] == len(local_stack.resources())
    drift = must(drive(engine, project, "drift", "--stack", STACK, env=env))
    assert "drift: none" in drift.output
    must(drive(engine, project, "refresh", "--stack", STACK, env=env))
    destroy = must(drive(engine, project, "destroy", "--stack", STACK, "--yes", env=env))

    assert destroy.summary is not None
    assert destroy.summary["operations"]["delete"] >= len(objects)
    assert local_stack.resources() == []
    greeter = deployment_path("apps", "greeter")
    eventually(
        lambda: cluster.api.get(greeter).status == 404,
        timeout=DEPLOY_TIMEOUT,
        what="greeter's Deployment deleted",
    )


def test_the_module_leaves_no_engine_process(stack_engine: Engine) -> None:
    """Every command ran in a process group killed when it ended; nothing of this module's
    PULUMI_HOME is still running."""
    home = str(stack_engine.env["PULUMI_HOME"])

    def running() -> list[str]:
        found = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    environ = (proc / "environ").read_bytes()
                except OSError:
                    continue
                if f"PULUMI_HOME={home}".encode() in environ.split(b"\0"):
                    found.append(proc.name)
        return found

    # Killed processes, and those ending on noticing their parent gone, take a moment to
    # exit: longer on a loaded machine.
    deadline = time.monotonic() + 30
    while (lingering := running()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert lingering == [], f"processes of this module still running: {lingering}"
