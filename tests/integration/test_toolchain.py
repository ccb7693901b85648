"""The real Pulumi engine, as `make toolchain` builds it from Go modules.

Invariants guarded:
- the toolchain manifest pins the Pulumi, Kubernetes and random versions requirements.txt
  pins, and the virtualenv has exactly those Python packages;
- `pulumi version` is that release, and the Automation API accepts the CLI with its version
  check on: it creates a stack on a file backend and round-trips a passphrase-encrypted
  config secret that never reaches the stack file in plaintext;
- a Python program runs through the real language host and the real kubernetes plugin:
  pointed at a kubeconfig that does not exist, preview fails on the kubeconfig;
- with automatic plugin acquisition off, a missing plugin fails fast and names the plugin
  and version instead of reaching for the network;
- a RandomPassword created by `pulumi up` is stored encrypted: its plaintext is in no state
  file and not in `pulumi stack export`, a ciphertext is;
- `--policy-pack` runs a Python policy pack for real: a fixture pack's advisory violation
  is reported for the program's resource, and the project's own pack (policies/) loads and
  is listed in the preview summary;
- the bootstrap's contract with the Makefile and these tests: `env` selects the same bin dir
  `doctor` reports and turns plugin acquisition off; a component that cannot be built is a
  one-line error naming it and the manifest key (exit 1, no traceback); the cache never
  lives inside the repository.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pulumi import automation as auto
from semver import VersionInfo

from tests.conftest import REPO

if TYPE_CHECKING:
    from tests.integration.conftest import Engine, Toolchain

BOOTSTRAP = REPO / "tools" / "toolchain" / "bootstrap.py"
MANIFEST = REPO / "tools" / "toolchain" / "toolchain.toml"
STACK = "itest"
# The tag the engine puts on every secret value in state.
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"
FIXTURE_POLICY_MARKER = "go-platform fixture policy saw"
MISSING_PLUGIN_TIMEOUT = 120


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s#;]+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def output_of(result: subprocess.CompletedProcess[str]) -> str:
    return f"{result.stdout}\n{result.stderr}"


def init_stack(engine: Engine, project: Path) -> None:
    engine.run("stack", "init", STACK, "--secrets-provider", "passphrase", cwd=project)


# --- versions -------------------------------------------------------------------------------


def test_manifest_pins_the_python_package_versions():
    manifest = tomllib.loads(MANIFEST.read_text(encoding="utf-8"))
    plugins = {f"pulumi-{name}": plugin["version"] for name, plugin in manifest["plugins"].items()}
    pins = requirement_pins()

    # Provider SDKs equal their plugins, in requirements.txt and in the virtualenv.
    assert {name: pins.get(name) for name in plugins} == plugins
    assert {name: metadata.version(name) for name in plugins} == plugins
    # The Python SDK is the newest on PyPI, never newer than the CLI it runs under.
    assert metadata.version("pulumi") == pins["pulumi"]
    assert VersionInfo.parse(pins["pulumi"]) <= VersionInfo.parse(manifest["pulumi"]["version"])


def test_language_host_builds_against_the_cli_release():
    manifest = tomllib.loads(MANIFEST.read_text(encoding="utf-8"))
    go_mod = (REPO / "tools" / "language-python" / "go.mod").read_text(encoding="utf-8")

    required = re.search(r"github\.com/pulumi/pulumi/sdk/v3 (v\S+)", go_mod)

    assert required is not None, go_mod
    assert required.group(1) == f"v{manifest['pulumi']['version']}"


def test_cli_reports_the_pinned_release(toolchain: Toolchain, engine: Engine):
    toolchain.require("cli")

    result = engine.run("version", cwd=engine.root)

    assert result.stdout.strip() == f"v{toolchain.pulumi_version}"


def test_automation_api_accepts_the_cli(
    toolchain: Toolchain, engine: Engine, monkeypatch: pytest.MonkeyPatch
):
    toolchain.require("cli")
    monkeypatch.delenv("PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK", raising=False)

    command = auto.PulumiCommand(root=str(toolchain.bin_dir.parent))
    # The CLI may be newer than the SDK (the supported combination), never older.
    assert command.version == VersionInfo.parse(toolchain.pulumi_version)
    assert command.version >= VersionInfo.parse(metadata.version("pulumi"))

    work_dir = engine.root / "automation"
    work_dir.mkdir()
    workspace = auto.LocalWorkspace(
        work_dir=str(work_dir),
        pulumi_home=engine.env["PULUMI_HOME"],
        pulumi_command=command,
        env_vars={
            key: engine.env[key]
            for key in (
                "PULUMI_BACKEND_URL",
                "PULUMI_CONFIG_PASSPHRASE",
                "PULUMI_SKIP_UPDATE_CHECK",
                "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION",
            )
        },
        secrets_provider="passphrase",
        project_settings=auto.ProjectSettings(name="toolchain-check", runtime="python"),
    )
    workspace.create_stack(STACK)
    workspace.set_config(STACK, "token", auto.ConfigValue("plaintext-token-value", secret=True))

    assert workspace.get_config(STACK, "token").value == "plaintext-token-value"
    assert STACK in [summary.name for summary in workspace.list_stacks()]
    stack_file = (work_dir / f"Pulumi.{STACK}.yaml").read_text(encoding="utf-8")
    assert "secure:" in stack_file
    assert "plaintext-token-value" not in stack_file


# --- language host and kubernetes plugin ----------------------------------------------------


def test_preview_runs_the_program_and_fails_on_the_missing_kubeconfig(
    toolchain: Toolchain, engine: Engine
):
    toolchain.require("cli", "language-python", "kubernetes")
    project = engine.project("kubernetes-program")
    init_stack(engine, project)

    result = engine.run("preview", "--stack", STACK, "--non-interactive", cwd=project, check=False)

    output = output_of(result)
    assert result.returncode != 0, output
    # Only the kubernetes provider says this, and only once the language host ran the
    # program and asked it to construct the ConfigGroup.
    assert "configured Kubernetes cluster is unreachable" in output, output
    assert "unable to load Kubernetes client configuration from kubeconfig file" in output, output
    assert "not installed" not in output, output
    assert "no resource plugin" not in output.lower(), output


def test_missing_plugin_fails_fast_and_names_it(toolchain: Toolchain, engine: Engine):
    toolchain.require("cli", "language-python")
    project = engine.project("kubernetes-program")
    engine.without_plugins()
    init_stack(engine, project)

    result = engine.run(
        "preview",
        "--stack",
        STACK,
        "--non-interactive",
        cwd=project,
        check=False,
        timeout=MISSING_PLUGIN_TIMEOUT,
    )

    output = output_of(result)
    assert result.returncode != 0, output
    assert "kubernetes" in output, output
    assert toolchain.plugins["kubernetes"] in output, output
    assert "download" not in output.lower(), output


# --- secrets --------------------------------------------------------------------------------


def test_random_password_is_stored_only_encrypted(toolchain: Toolchain, engine: Engine):
    toolchain.require("cli", "language-python", "random")
    project = engine.project("random-program")
    init_stack(engine, project)

    engine.run("up", "--yes", "--stack", STACK, "--non-interactive", cwd=project)
    shown = engine.run(
        "stack", "output", "password", "--show-secrets", "--stack", STACK, cwd=project
    )
    masked = engine.run("stack", "output", "password", "--stack", STACK, cwd=project)
    exported = engine.run("stack", "export", "--stack", STACK, cwd=project)

    password = shown.stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9]{32}", password), password
    assert masked.stdout.strip() == "[secret]"
    assert password not in exported.stdout
    deployment = json.loads(exported.stdout)["deployment"]
    (resource,) = [
        r
        for r in deployment["resources"]
        if r["type"] == "random:index/randomPassword:RandomPassword"
    ]
    result = resource["outputs"]["result"]
    assert result[SECRET_SIGNATURE] == "1b47061264138c4ac30d75fd1eb44270"
    assert result["ciphertext"]
    leaking = [
        str(path.relative_to(engine.state))
        for path in engine.state.rglob("*")
        if path.is_file() and password.encode() in path.read_bytes()
    ]
    assert leaking == []
    assert "encryptionsalt:" in (project / f"Pulumi.{STACK}.yaml").read_text(encoding="utf-8")


# --- policy packs ---------------------------------------------------------------------------


def test_policy_pack_runs_and_reports_its_violation(toolchain: Toolchain, engine: Engine):
    toolchain.require("cli", "language-python", "random")
    project = engine.project("random-program")
    pack = engine.project("policy-pack")
    init_stack(engine, project)

    result = engine.run(
        "preview", "--stack", STACK, "--non-interactive", "--policy-pack", str(pack), cwd=project
    )

    output = output_of(result)
    assert f"{FIXTURE_POLICY_MARKER} random:index/randomPassword:RandomPassword" in output, output
    assert re.search(r"go-platform-fixture@v\S* \(local: ", output), output


def test_project_policy_pack_loads(toolchain: Toolchain, engine: Engine):
    toolchain.require("cli", "language-python", "random")
    policies = REPO / "policies"
    if not (policies / "PulumiPolicy.yaml").is_file():
        pytest.fail("policies/PulumiPolicy.yaml is missing: the project's policy pack is gone")
    project = engine.project("random-program")
    init_stack(engine, project)

    result = engine.run(
        "preview",
        "--stack",
        STACK,
        "--non-interactive",
        "--policy-pack",
        str(policies),
        cwd=project,
    )

    output = output_of(result)
    assert re.search(rf"@v\S* \(local: {re.escape(str(policies))}\)", output), output


# --- the bootstrap's contract ---------------------------------------------------------------


def bootstrap(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BOOTSTRAP), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )


def test_env_selects_the_toolchain_doctor_reports(tmp_path: Path):
    cache = str(tmp_path / "cache")

    env = json.loads(bootstrap("env", "--format", "json", GO_PLATFORM_CACHE=cache).stdout)
    report = json.loads(bootstrap("doctor", "--json", GO_PLATFORM_CACHE=cache).stdout)

    assert env["path"] == [report["bin_dir"]]
    assert env["variables"]["PULUMI_HOME"] == report["pulumi_home"]
    assert env["variables"]["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert env["variables"]["PULUMI_SKIP_UPDATE_CHECK"] == "true"
    assert Path(report["bin_dir"]).is_relative_to(tmp_path / "cache")
    assert report["bin_dir"].endswith(f"pulumi-v{report['pulumi_version']}/bin")


def test_unbuildable_component_is_a_one_line_error(tmp_path: Path):
    manifest = tmp_path / "toolchain.toml"
    # A CLI release the language host's go.mod does not build against.
    manifest.write_text('[pulumi]\nversion = "3.200.0"\n', encoding="utf-8")

    result = bootstrap(
        "build",
        "--only",
        "language-python",
        GO_PLATFORM_CACHE=str(tmp_path / "cache"),
        GO_PLATFORM_TOOLCHAIN_MANIFEST=str(manifest),
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    skipped = [
        line for line in result.stderr.splitlines() if "language-python v3.200.0: skipped" in line
    ]
    assert len(skipped) == 1, result.stderr
    assert "tools/language-python/go.mod requires github.com/pulumi/pulumi/sdk/v3" in skipped[0]
    assert "but the CLI is v3.200.0" in skipped[0]
    errors = [line for line in result.stderr.splitlines() if line.startswith("toolchain: error:")]
    assert errors == ["toolchain: error: 1 of 1 components not built (language-python); see above"]


def test_cache_inside_the_repository_is_refused():
    result = bootstrap("env", GO_PLATFORM_CACHE=str(REPO / ".cache"))

    assert result.returncode == 1
    assert result.stdout == ""
    assert "inside the repository" in result.stderr
    assert "Traceback" not in result.stderr
