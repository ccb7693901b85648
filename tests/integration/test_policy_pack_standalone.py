"""The pack on its own: a copy of `policies/` with only its own requirements installed.

A fresh virtualenv outside the project gets `go-platform-core` (as a wheel built from
`core/`, which is how it reaches a machine without this repository) and then
`policies/requirements.txt`, nothing else: no test tools, no project on `sys.path`. The
pack is started from the copy the way the language host starts it
(`python -u -m pulumi.policy <engine address> .`).

Invariants guarded:
- the copy starts with its own requirements alone and describes every policy;
- the helpers it shares with the program come from the installed core package, not from
  the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import empty_pb2

from tests.integration.test_policy_analyzer import pack_env, serve

# isort: split
from go_platform_policies import POLICIES

REPO = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 300


def run(*command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


NOT_OUTSIDE = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
"""What would let the copy see this repository or the project's virtualenv."""


def outside_the_project() -> dict[str, str]:
    """The environment of a machine where only the pack and its virtualenv exist."""
    return {k: v for k, v in os.environ.items() if k not in NOT_OUTSIDE}


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the copy of `policies/`, the python of its own virtualenv)."""
    root = tmp_path_factory.mktemp("standalone-pack")
    copy = root / "policies"
    shutil.copytree(REPO / "policies", copy, ignore=shutil.ignore_patterns("__pycache__"))
    # Built from a copy: building writes build/ and egg-info beside the sources.
    core = root / "core"
    shutil.copytree(REPO / "core", core, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    env = outside_the_project()
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", root / "wheels",
        core, env=env)  # fmt: skip
    run(sys.executable, "-m", "venv", root / "venv", env=env)
    python = root / "venv" / "bin" / "python"
    [wheel] = (root / "wheels").glob("go_platform_core-*.whl")
    run(python, "-m", "pip", "install", "--quiet", "--no-deps", wheel, env=env)
    run(python, "-m", "pip", "install", "--quiet", "-r", "requirements.txt", cwd=copy, env=env)
    return copy, python


def test_the_copy_imports_the_core_from_its_own_virtualenv(standalone):
    copy, python = standalone
    found = run(
        python,
        "-c",
        "import go_platform_core, go_platform_policies.shared as s; "
        "print(go_platform_core.__file__); print(s.__file__)",
        cwd=copy,
        env=outside_the_project(),
    ).split()
    assert Path(found[0]).is_relative_to(python.parents[1])
    assert Path(found[1]).is_relative_to(copy)


def test_the_copy_starts_with_its_own_requirements_and_describes_every_policy(standalone):
    copy, python = standalone
    env = {k: v for k, v in pack_env("staging").items() if k not in NOT_OUTSIDE}
    pack = serve(directory=copy, env=env, python=python)
    try:
        info = pack.stub.GetAnalyzerInfo(empty_pb2.Empty())
    finally:
        pack.stop()
    assert info.name == "go-platform"
    assert [p.name for p in info.policies] == [p.name for p in POLICIES]
