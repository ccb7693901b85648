"""The Go build gate runs the real govulncheck (`make toolchain` builds it) against a
vulnerability database and Go modules the tests write (`tests/vulndb.py`): nothing is
fetched from the network.

Invariants guarded:
- a module that calls a vulnerable symbol fails the build; the report names the
  vulnerability's ID and the call path from the module's code to the symbol, and the
  command exits 1;
- a vulnerability in a package the module imports but whose vulnerable symbol it never
  calls passes (listed as not called), as does a module calling only safe code;
- severity decides: a finding below `failOn` passes, at or above fails; CVSS v3 vectors,
  then `database_specific.severity` labels, rate an entry; an unrated finding counts as
  `unknownSeverity` (critical by default, so it fails);
- the gate fails closed: a database that is not there is exit 2 with govulncheck's reason,
  never a pass;
- GoServiceStack's image build hook runs the same gate: it raises with the report when the
  build context calls vulnerable code, and lets a clean one build;
- the greeter's build step (`make -C services/greeter vulncheck`) runs the gate on the
  greeter's own code: a database entry for a standard-library symbol it calls fails it,
  naming the call path; an empty database passes it;
- the govulncheck in use is the pinned release built from its module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pulumi
import pytest

from components.go_service import VulnerabilityGateError, vulnerability_hook
from go_platform_core.severity import Severity
from go_platform_core.vulncheck import Audit, GateSettings, audit, main
from tests.conftest import REPO
from tests.vulndb import (
    CALLED,
    MEDIUM_VECTOR,
    NOT_CALLED,
    GoModules,
    fakedep_database,
    osv_entry,
    write_database,
)

BOOTSTRAP = REPO / "tools" / "toolchain" / "bootstrap.py"
CALL_PATH = ("example.com/app.main (main.go:6:28)", "example.com/fakedep.Vulnerable")


@pytest.fixture(scope="session")
def toolchain_path() -> str:
    """PATH with the toolchain's bin directory first, where `make toolchain` links
    govulncheck."""
    result = subprocess.run(
        [sys.executable, str(BOOTSTRAP), "env", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    bin_dir = json.loads(result.stdout)["path"][0]
    if not (Path(bin_dir) / "govulncheck").is_file():
        pytest.skip("govulncheck is not built; run `make toolchain`")
    return os.pathsep.join([bin_dir, os.environ.get("PATH", "")])


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory, toolchain_path: str) -> GoModules:
    world = GoModules(tmp_path_factory.mktemp("go"))
    world.env["PATH"] = toolchain_path
    return world


@pytest.fixture(scope="module")
def calling_app(modules: GoModules) -> Path:
    """A module whose main calls fakedep.Vulnerable."""
    return modules.app("app", calls="Vulnerable")


@pytest.fixture(scope="module")
def safe_app(modules: GoModules) -> Path:
    """A module that imports fakedep and calls only its safe function."""
    return modules.app("safe", calls="Safe")


def run_gate(modules: GoModules, app: Path, database: Path, **settings: Severity) -> Audit:
    return audit(app, GateSettings(database=str(database), **settings), environ=modules.env)


def test_a_called_vulnerable_symbol_fails_the_build_naming_id_and_call_path(
    modules: GoModules, calling_app: Path, tmp_path: Path
):
    result = run_gate(modules, calling_app, fakedep_database(tmp_path / "db"))

    assert [f.id for f in result.failing] == [CALLED]
    [finding] = result.failing
    assert finding.call_path == CALL_PATH
    assert finding.module == "example.com/fakedep@v1.0.0"
    assert finding.fixed_version == "v1.0.1"
    assert finding.severity == Severity.CRITICAL
    assert result.not_called == (NOT_CALLED,)
    assert result.scanner == "govulncheck@v1.10.0"
    assert result.report()[1] == (
        f"  FAIL {CALLED} (critical) in example.com/fakedep@v1.0.0, fixed in v1.0.1: "
        f"{CALL_PATH[0]} -> {CALL_PATH[1]}"
    )


def test_the_command_exits_1_and_prints_the_finding(
    modules: GoModules,
    calling_app: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
):
    database = fakedep_database(tmp_path / "db")
    for name, value in modules.env.items():
        monkeypatch.setenv(name, value)

    assert main(["--db", str(database), str(calling_app)]) == 1

    err = capsys.readouterr().err
    assert "1 reachable finding(s) at or above high" in err
    assert f"FAIL {CALLED} (critical)" in err
    assert " -> ".join(CALL_PATH) in err


def test_vulnerable_code_that_is_not_called_passes(
    modules: GoModules, safe_app: Path, tmp_path: Path
):
    result = run_gate(modules, safe_app, fakedep_database(tmp_path / "db"))

    assert result.passed
    assert result.reachable == ()
    assert result.not_called == (CALLED, NOT_CALLED)
    assert result.report()[0].endswith("no reachable finding at or above high")


def test_the_one_called_passes_when_only_the_other_is_in_the_database(
    modules: GoModules, calling_app: Path, tmp_path: Path
):
    database = write_database(tmp_path / "db", [osv_entry(NOT_CALLED, "Dormant")])

    result = run_gate(modules, calling_app, database)

    assert result.passed
    assert result.not_called == (NOT_CALLED,)


@pytest.mark.parametrize(
    ("rating", "unknown", "expected", "passes"),
    [
        ({"cvss": MEDIUM_VECTOR}, Severity.CRITICAL, Severity.MEDIUM, True),
        ({"cvss": None, "label": "HIGH"}, Severity.CRITICAL, Severity.HIGH, False),
        ({"cvss": None}, Severity.CRITICAL, None, False),
        ({"cvss": None}, Severity.LOW, None, True),
    ],
    ids=["medium-vector-passes", "high-label-fails", "unrated-fails", "unrated-as-low-passes"],
)
def test_severity_from_the_database_decides_at_fail_on_high(
    modules: GoModules,
    calling_app: Path,
    tmp_path: Path,
    rating: dict[str, str | None],
    unknown: Severity,
    expected: Severity | None,
    passes: bool,
):
    database = fakedep_database(tmp_path / "db", **rating)

    result = run_gate(modules, calling_app, database, unknown_severity=unknown)

    [finding] = result.reachable
    assert finding.severity == expected
    assert result.passed is passes
    shown = expected.label if expected else f"unknown (counted as {unknown.label})"
    assert f"{CALLED} ({shown})" in "\n".join(result.report())


def test_a_missing_database_fails_closed(
    modules: GoModules,
    safe_app: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
):
    for name, value in modules.env.items():
        monkeypatch.setenv(name, value)

    assert main(["--db", str(tmp_path / "nowhere"), str(safe_app)]) == 2

    err = capsys.readouterr().err
    assert f"govulncheck failed on {safe_app} (exit status 1)" in err
    assert "nowhere: no such file or directory" in err


def test_the_image_build_hook_runs_the_gate(
    modules: GoModules,
    calling_app: Path,
    safe_app: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    for name, value in modules.env.items():
        monkeypatch.setenv(name, value)
    # Where pulumi.log goes depends on what the process ran before (an engine, mocks): the
    # hook's passing report is taken at the call.
    logged: list[str] = []
    monkeypatch.setattr(pulumi.log, "info", lambda message, *_, **__: logged.append(message))
    settings = GateSettings(database=str(fakedep_database(tmp_path / "db")))
    args = pulumi.ResourceHookArgs(urn="urn", id="", name="app-image", type="docker")

    with pytest.raises(VulnerabilityGateError) as failed:
        vulnerability_hook(calling_app, settings)(args)
    vulnerability_hook(safe_app, settings)(args)

    assert f"FAIL {CALLED} (critical)" in str(failed.value)
    assert " -> ".join(CALL_PATH) in str(failed.value)
    assert any("no reachable finding at or above high" in message for message in logged)


# --- the greeter's build step --------------------------------------------------------------


def greeter_gate(database: Path, toolchain_path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", "services/greeter", "vulncheck",
         f"GOVULNDB={database}", f"PYTHON={sys.executable}"],
        cwd=REPO,
        env={**os.environ, "PATH": toolchain_path},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip


def test_the_greeter_build_step_fails_on_a_symbol_it_calls(tmp_path: Path, toolchain_path: str):
    # net.Listen, which the greeter's main calls to open its API and admin ports.
    entry = osv_entry(
        "GO-2026-0100", "Listen", module="stdlib", package="net", fixed="1.99.0", cvss=None
    )
    result = greeter_gate(write_database(tmp_path / "db", [entry]), toolchain_path)

    assert result.returncode != 0, result.stdout
    failing = [line for line in result.stderr.splitlines() if "FAIL GO-2026-0100" in line]
    assert len(failing) == 1, result.stderr
    assert "(unknown (counted as critical)) in stdlib@v1.26" in failing[0]
    assert (
        "github.com/go-platform/go-platform/services/greeter.listenAndServe (main.go:64:"
        in failing[0]
    )
    assert failing[0].endswith("-> net.Listen")


def test_the_greeter_build_step_passes_an_empty_database(tmp_path: Path, toolchain_path: str):
    result = greeter_gate(write_database(tmp_path / "db", []), toolchain_path)

    assert result.returncode == 0, result.stderr
    assert "no reachable finding at or above high" in result.stdout
