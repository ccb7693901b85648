"""The driver (`python -m go_platform`) with the real Pulumi CLI, language host and random
provider, on a local file backend. The program is `fixtures/driver/program` (named
go-platform, so its stack config is validated and preflight applies); the pack is
`fixtures/driver/policy` (one mandatory policy), except where the project's own `policies/`
pack is attached. The S3 backend, locks and an update that dies: `test_driver_state.py`.

Invariants guarded:
- preview, up, outputs and destroy work, every `--json` summary satisfies the published
  schema, counts what the engine did and masks every secret output, nested ones too;
- exit codes: 0 success, 3 a mandatory policy violation (listed; nothing created),
  2 drift (naming the resource), 4 preflight failure (nothing deployed), 64 bad
  arguments and invalid stack config (the key path named, nothing deployed);
- the project's own policy pack runs for real and is named in the summary;
- an ephemeral stack is created from its base's config (secrets re-encrypted, tagged),
  deployed, then destroyed and removed, also from a checkout without its stack file;
- a canary is promoted step by step through real `up`s, reading Prometheus from the
  stack's output, and ends with stable on the canary's image and weight 0 (rollback
  through real `up`s: `test_driver_local.py`, on the local stack).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest

from go_platform.summary import schema
from tests.conftest import REPO
from tests.integration.conftest import run_command
from tests.integration.test_driver_canary import (  # noqa: F401 (fixtures)
    CANARY,
    Behaviour,
    exporter,
    prometheus,
)

if TYPE_CHECKING:
    from tests.integration.conftest import Engine, Toolchain

GO_PLATFORM = [sys.executable, "-m", "go_platform"]
STACK = "dev"
DRIVER_TIMEOUT = 300


@dataclass
class DriverRun:
    code: int
    stdout: str
    stderr: str
    summary: dict[str, Any] | None

    @property
    def output(self) -> str:
        return f"{self.stdout}\n{self.stderr}"


@pytest.fixture
def cli_engine(toolchain: Toolchain, engine: Engine) -> Engine:
    """The engine for commands that never run the program (stack, config, locks).

    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK passes through, so the suite can be pointed at
    another CLI on purpose (GO_PLATFORM_TOOLCHAIN_MANIFEST, docs/toolchain.md)."""
    toolchain.require("cli")
    engine.env["PYTHONUNBUFFERED"] = "1"
    skip = os.environ.get("PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK")
    if skip:
        engine.env["PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK"] = skip
    return engine


@pytest.fixture
def driver_engine(toolchain: Toolchain, cli_engine: Engine) -> Engine:
    """The engine for commands that run the Python program and the policy pack."""
    toolchain.require("cli", "language-python", "random")
    return cli_engine


@pytest.fixture
def program(cli_engine: Engine) -> Path:
    return cli_engine.project("driver/program")


@pytest.fixture
def policy(cli_engine: Engine) -> Path:
    return cli_engine.project("driver/policy")


def drive(
    engine: Engine,
    project: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = DRIVER_TIMEOUT,
) -> DriverRun:
    """Run the driver with a `--json` summary, checked against the schema."""
    summary_path = engine.root / f"summary-{uuid.uuid4().hex}.json"
    result = run_command(
        [*GO_PLATFORM, *args, "--project-dir", str(project), "--json", str(summary_path)],
        cwd=project,
        env={**engine.env, **(env or {})},
        check=False,
        timeout=timeout,
    )
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    if summary is not None:
        jsonschema.validate(summary, schema())
    return DriverRun(result.returncode, result.stdout, result.stderr, summary)


def must(run: DriverRun, code: int = 0) -> DriverRun:
    assert run.code == code, f"exit {run.code}, expected {code}\n{run.output}"
    return run


def stack_resources(
    engine: Engine, project: Path, stack: str = STACK, env: dict[str, str] | None = None
) -> list[str]:
    """URNs in the stack's state, read with the CLI itself."""
    result = run_command(
        ["pulumi", "stack", "export", "--stack", stack],
        cwd=project,
        env={**engine.env, **(env or {})},
        check=True,
        timeout=120,
    )
    return [r["urn"] for r in json.loads(result.stdout)["deployment"].get("resources") or []]


def pulumi(engine: Engine, project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return run_command(
        ["pulumi", *args], cwd=project, env={**engine.env, **(env or {})}, check=True, timeout=120
    ).stdout


# --- lifecycles ----------------------------------------------------------------------


def lifecycle(
    engine: Engine, program: Path, policy: Path, env: dict[str, str] | None = None
) -> None:
    """preview, up, outputs, preview again (the state untouched), destroy; the backend is
    env's or the engine's."""
    pack = ("--policy-pack", str(policy))
    backend = ("--backend", env["PULUMI_BACKEND_URL"]) if env else ()

    preview = must(drive(engine, program, "preview", "--stack", STACK, *pack, *backend, env=env))
    assert preview.summary["operations"].get("create", 0) >= 2
    assert preview.summary["result"] == "succeeded"
    assert preview.summary["backend"] == (env or engine.env)["PULUMI_BACKEND_URL"]

    up = must(
        drive(engine, program, "up", "--stack", STACK, "--skip-preflight", *pack, *backend, env=env)
    )
    outputs = up.summary["outputs"]
    assert up.summary["operations"]["create"] >= 2
    assert up.summary["resources"]["done"] == up.summary["resources"]["total"] >= 2
    assert up.summary["policyPacks"].keys() == {"driver-fixture"}
    assert outputs["token"] == "[secret]"
    assert outputs["gateway"] == {"dashboardUser": "admin", "dashboardPassword": "[secret]"}
    assert outputs["services"]["greeter"]["canary"]["weight"] == 0
    assert "fixture-secret-token" not in up.output + json.dumps(up.summary)
    assert "nested-secret" not in up.output + json.dumps(up.summary)

    printed = must(drive(engine, program, "outputs", "--stack", STACK, *backend, env=env))
    assert json.loads(printed.stdout)["token"] == "[secret]"

    state = pulumi(engine, program, "stack", "export", "--stack", STACK, env=env)
    again = must(drive(engine, program, "preview", "--stack", STACK, *pack, *backend, env=env))
    assert set(again.summary["operations"]) == {"same"}
    # A preview, run with checkpoints skipped (workspace.DRY_RUN_ENV), writes no state.
    assert pulumi(engine, program, "stack", "export", "--stack", STACK, env=env) == state

    gone = must(drive(engine, program, "destroy", "--stack", STACK, "--yes", *backend, env=env))
    assert gone.summary["operations"].get("delete", 0) >= 2
    assert stack_resources(engine, program, env=env) == []


def test_lifecycle_on_the_local_file_backend(driver_engine, program, policy):
    lifecycle(driver_engine, program, policy)


# --- exit codes ----------------------------------------------------------------------


def test_a_mandatory_violation_exits_3_lists_it_and_creates_nothing(driver_engine, program, policy):
    engine = driver_engine
    must(drive(engine, program, "preview", "--stack", STACK, "--policy-pack", str(policy)))
    pulumi(engine, program, "config", "set", "fixture:violate", "true", "--stack", STACK)

    preview = must(
        drive(engine, program, "preview", "--stack", STACK, "--policy-pack", str(policy)), 3
    )
    up = must(
        drive(
            engine,
            program,
            "up",
            "--stack",
            STACK,
            "--skip-preflight",
            "--policy-pack",
            str(policy),
        ),
        3,
    )

    for run in (preview, up):
        # The violation's own words, not the policy's description the engine sends first.
        assert (
            "mandatory: no-forbidden-resources on RandomString forbidden: "
            "random:index/randomString:RandomString `forbidden` is not allowed here"
        ) in run.output
        [violation] = run.summary["policyViolations"]
        assert violation["policy"] == "no-forbidden-resources"
        assert violation["enforcementLevel"] == "mandatory"
        assert violation["resource"].endswith("::forbidden")
        assert run.summary["result"] == "policy-violation"
    assert not [urn for urn in stack_resources(engine, program) if urn.endswith("::forbidden")]


def test_the_projects_own_pack_runs(driver_engine, program):
    run = must(
        drive(
            driver_engine,
            program,
            "preview",
            "--stack",
            STACK,
            "--policy-pack",
            str(REPO / "policies"),
        )
    )

    assert "go-platform" in run.summary["policyPacks"]


def test_drift_exits_2_naming_the_resource(driver_engine, program, policy):
    engine = driver_engine
    marker = engine.root / "marker.txt"
    must(drive(engine, program, "preview", "--stack", STACK, "--policy-pack", str(policy)))
    pulumi(engine, program, "config", "set", "fixture:markerPath", str(marker), "--stack", STACK)
    must(
        drive(
            engine,
            program,
            "up",
            "--stack",
            STACK,
            "--skip-preflight",
            "--policy-pack",
            str(policy),
        )
    )
    must(drive(engine, program, "drift", "--stack", STACK))

    marker.write_text("changed by hand")
    drifted = must(drive(engine, program, "drift", "--stack", STACK), 2)

    assert "changed outside Pulumi" in drifted.output
    assert [d["name"] for d in drifted.summary["drift"]] == ["marker"]
    assert drifted.summary["result"] == "drift"


def test_preflight_failure_exits_4_and_deploys_nothing(cli_engine, program, policy):
    run = must(drive(cli_engine, program, "up", "--stack", STACK, "--policy-pack", str(policy)), 4)

    assert "preflight failed" in run.output
    assert "cluster: KUBECONFIG names no file that exists" in run.output
    assert run.summary["preflight"][0]["check"] == "cluster"
    assert stack_resources(cli_engine, program) == []


def test_bad_arguments_and_invalid_config_exit_64_and_deploy_nothing(cli_engine, program, policy):
    engine = cli_engine
    unknown = must(drive(engine, program, "refresh", "--stack", "nosuch"), 64)
    assert "no stack named 'nosuch'" in unknown.output
    undeclared = must(
        drive(engine, program, "up", "--stack", "qa", "--policy-pack", str(policy)), 64
    )
    assert "no Pulumi.qa.yaml declaring it" in undeclared.output
    pulumi(engine, program, "stack", "init", STACK)
    pulumi(
        engine,
        program,
        "config",
        "set",
        "--path",
        "go-platform:services[0].replicsa",
        "2",
        "--stack",
        STACK,
    )

    invalid = must(
        drive(
            engine,
            program,
            "up",
            "--stack",
            STACK,
            "--skip-preflight",
            "--policy-pack",
            str(policy),
        ),
        64,
    )

    assert (
        "go-platform:services[0].replicsa: unknown key (did you mean 'replicas'?)" in invalid.output
    )
    assert invalid.summary["result"] == "usage-error"
    assert "Traceback" not in invalid.output
    assert stack_resources(engine, program) == []


# --- ephemeral stacks ----------------------------------------------------------------


def test_ephemeral_stack_from_a_base_then_down_without_its_stack_file(
    driver_engine, program, policy
):
    engine = driver_engine
    must(drive(engine, program, "preview", "--stack", STACK, "--policy-pack", str(policy)))
    pulumi(
        engine,
        program,
        "config",
        "set",
        "--secret",
        # A key of the fixture's own namespace: a secret of go-platform's that no setting
        # names is an invalid config.
        "fixture:greeterDb",
        "postgres://secret",
        "--stack",
        STACK,
    )

    up = must(
        drive(
            engine,
            program,
            "ephemeral",
            "up",
            "--name",
            "pr-123",
            "--base",
            STACK,
            "--config",
            "fixture:markerContent=pr",
            "--config",
            "kubernetes:context=pr-clusters",  # the fixture deploys nothing to a cluster
            "--skip-preflight",
            "--policy-pack",
            str(policy),
        )
    )

    assert up.summary["stack"] == "pr-123"
    assert (
        pulumi(engine, program, "config", "get", "fixture:greeterDb", "--stack", "pr-123").strip()
        == "postgres://secret"
    )
    assert "postgres://secret" not in (program / "Pulumi.pr-123.yaml").read_text()
    tags = json.loads(pulumi(engine, program, "stack", "tag", "ls", "--json", "--stack", "pr-123"))
    assert tags["go-platform:ephemeral-base"] == STACK
    assert any("RandomPet::pet" in urn for urn in stack_resources(engine, program, "pr-123"))

    (program / "Pulumi.pr-123.yaml").unlink()  # a later CI job's fresh checkout
    must(drive(engine, program, "ephemeral", "down", "--name", "pr-123"))

    stacks = json.loads(pulumi(engine, program, "stack", "ls", "--json"))
    assert "pr-123" not in [s["name"] for s in stacks]
    assert must(drive(engine, program, "ephemeral", "down", "--name", "pr-123")).code == 0


# --- canary through the engine -------------------------------------------------------


def config_value(engine: Engine, project: Path, key: str, *, path: bool = False) -> str:
    args = ["config", "get", key, "--stack", STACK] + (["--path"] if path else [])
    return pulumi(engine, project, *args).strip()


def test_canary_promotion_through_real_ups(driver_engine, program, policy, request):
    engine = driver_engine
    metrics, _ = request.getfixturevalue("exporter")
    prometheus_url = request.getfixturevalue("prometheus")
    with metrics.lock:
        metrics.behaviours[CANARY] = Behaviour(ok=20, seconds=0.05)
    must(drive(engine, program, "preview", "--stack", STACK, "--policy-pack", str(policy)))
    pulumi(
        engine, program, "config", "set", "fixture:prometheusUrl", prometheus_url, "--stack", STACK
    )
    must(
        drive(
            engine,
            program,
            "up",
            "--stack",
            STACK,
            "--skip-preflight",
            "--policy-pack",
            str(policy),
        )
    )

    promoted = must(
        drive(
            engine,
            program,
            "canary",
            "promote",
            "--stack",
            STACK,
            "--service",
            "greeter",
            "--skip-preflight",
            "--policy-pack",
            str(policy),
        )
    )

    canary = promoted.summary["canary"]
    assert canary["decision"] == "promoted"
    assert [(c["weight"], c["decision"]) for c in canary["checks"]] == [
        (20, "advance"),
        (50, "promote"),
    ]
    assert [s["operation"] for s in promoted.summary["steps"]] == [
        "up (canary weight 20%)",
        "up (canary weight 50%)",
        "up (promote canary image)",
        "up (canary weight 0%)",
    ]
    outputs = json.loads(must(drive(engine, program, "outputs", "--stack", STACK)).stdout)
    assert outputs["services"]["greeter"]["image"] == "ghcr.io/go-platform/greeter:0.2.0"
    assert outputs["services"]["greeter"]["canary"]["weight"] == 0
    state = json.loads(config_value(engine, program, "go-platform-canary:greeter"))
    assert state["phase"] == "promoted"


def test_the_cli_is_the_toolchains(driver_engine):
    found = subprocess.run(
        ["which", "pulumi"], env=driver_engine.env, capture_output=True, text=True, check=False
    )

    assert found.stdout.strip() == str(driver_engine.toolchain.bin_dir / "pulumi")
