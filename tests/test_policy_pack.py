"""The policy pack as a package of its own: `policies/requirements.txt` and its imports.

Invariants guarded:
- the pack's requirements name what it imports and nothing else (no test tools, no
  `-r ../requirements.txt`), each pinned as the project's virtualenv pins it, so the pack
  runs the same versions in the project and on its own;
- it names the core package at the version `core/pyproject.toml` declares;
- the pack reaches the program's helpers through that package only: no module of the pack
  imports `components`, `wiring` or `go_platform`, or changes `sys.path`;
- the virtualenv `PulumiPolicy.yaml` names is the pack's own, inside the pack directory
  (`policies/venv`, which `make policy-venv` creates), ignored by git and left out of a
  bundle (tools/policy_bundle.py), so a published pack makes its own.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

sys.path.append(str(REPO / "tools"))  # the bundle tool is a script
from policy_bundle import LEFT_OUT, normalized

PACK = REPO / "policies"
CORE = "go-platform-core"
PACK_REQUIREMENTS = {"pulumi", "pulumi-policy", "pydantic", "cryptography", CORE}


def pins(path):
    """`name -> version` of the requirement lines of a requirements or constraints file,
    each of which must be `name==version` (with a platform marker or not); options such as
    `-c` are not requirements."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        if line and not line.startswith("-"):
            name, equals, version = line.partition("==")
            assert equals, f"{path.name}: {line!r} is not pinned with =="
            found[normalized(name.strip())] = version.strip()
    return found


def installed(python: Path) -> dict[str, str]:
    """`name -> version` of every distribution the interpreter's environment holds."""
    listed = subprocess.run(
        [str(python), "-c",
         "import importlib.metadata as m\n"
         "for d in m.distributions(): print(d.metadata['Name'], d.version)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {normalized(n): v for n, v in (line.split() for line in listed.stdout.splitlines())}


def test_the_pack_requires_what_it_imports_and_nothing_else():
    assert set(pins(PACK / "requirements.txt")) == PACK_REQUIREMENTS


def pins_of_project() -> dict[str, str]:
    """The project's `name==version` pins (its requirements.txt also names editables)."""
    return {
        normalized(name): version
        for name, version in (
            line.split("#", 1)[0].strip().partition("==")[::2]
            for line in (REPO / "requirements.txt").read_text().splitlines()
        )
        if version
    }


def test_the_packs_pins_are_the_projects():
    project = pins_of_project()
    pack = pins(PACK / "requirements.txt")
    core = tomllib.loads((REPO / "core" / "pyproject.toml").read_text())["project"]
    assert pack.pop(CORE) == core["version"]
    assert pack == {name: project[name] for name in pack}


def test_the_packs_requirements_apply_its_constraints():
    lines = [line.strip() for line in (PACK / "requirements.txt").read_text().splitlines()]
    assert "-c constraints.txt" in lines


def test_the_packs_virtualenv_holds_every_constraint_at_its_version():
    environment = installed(PACK / "venv" / "bin" / "python")
    constraints = pins(PACK / "constraints.txt")
    assert len(constraints) > 20
    assert {name: environment.get(name) for name in constraints} == constraints
    core = tomllib.loads((REPO / "core" / "pyproject.toml").read_text())["project"]
    assert environment[CORE] == core["version"]


def test_the_constraints_agree_with_the_projects_pins():
    project = pins_of_project()
    constraints = pins(PACK / "constraints.txt")
    shared = set(project) & set(constraints)
    assert {"pyyaml", "pydantic", "pulumi", "cryptography"} <= shared
    assert {name: constraints[name] for name in shared} == {name: project[name] for name in shared}


@pytest.mark.parametrize("args", [["--help"], ["--check"]])
def test_the_constraints_writer_writes_only_when_asked_to(args):
    constraints = PACK / "constraints.txt"
    before = constraints.stat().st_mtime_ns

    done = subprocess.run(
        [sys.executable, str(REPO / "tools" / "policy_constraints.py"), *args],
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == (0 if args == ["--help"] else 2), done.stderr
    assert "wrote" not in done.stdout
    assert constraints.stat().st_mtime_ns == before


def test_the_pack_reaches_the_program_only_through_the_core_package():
    for source in sorted(p for p in PACK.rglob("*.py") if not p.is_relative_to(PACK / "venv")):
        text = source.read_text()
        assert not re.search(
            r"^\s*(from|import) (components|wiring|go_platform)\b", text, re.MULTILINE
        ), source
        assert "sys.path" not in text, source


def test_the_packs_virtualenv_is_its_own_inside_the_pack():
    manifest = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
    virtualenv = manifest["runtime"]["options"]["virtualenv"]
    resolved = (PACK / virtualenv).resolve()
    assert resolved.parent == PACK.resolve(), virtualenv
    assert resolved.name in LEFT_OUT
    ignored = subprocess.run(
        ["git", "check-ignore", "--quiet", f"policies/{virtualenv}/bin/python"],
        cwd=REPO,
        check=False,
    )
    assert ignored.returncode == 0, f"policies/{virtualenv} is not ignored by git"
