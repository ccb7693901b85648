"""The policy pack as a package of its own: `policies/requirements.txt` and its imports.

Invariants guarded:
- the pack's requirements name what it imports and nothing else (no test tools, no
  `-r ../requirements.txt`), each pinned as the project's virtualenv pins it, so the pack
  runs the same versions in the project and on its own;
- it names the core package at the version `core/pyproject.toml` declares;
- the pack reaches the program's helpers through that package only: no module of the pack
  imports `components`, `wiring` or `go_platform`, or changes `sys.path`.
"""

from __future__ import annotations

import re
import tomllib

from tests.conftest import REPO

PACK = REPO / "policies"
PACK_REQUIREMENTS = {"pulumi", "pulumi-policy", "pydantic", "cryptography", "go-platform-core"}


def pins(path):
    """`name -> version` of the `name==version` lines of a requirements file."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, equals, version = line.partition("==")
            assert equals, f"{path.name}: {line!r} is not pinned with =="
            found[name.strip()] = version.strip()
    return found


def test_the_pack_requires_what_it_imports_and_nothing_else():
    assert set(pins(PACK / "requirements.txt")) == PACK_REQUIREMENTS


def test_the_packs_pins_are_the_projects():
    project = {
        name: version
        for name, version in (
            line.split("#", 1)[0].strip().partition("==")[::2]
            for line in (REPO / "requirements.txt").read_text().splitlines()
        )
        if version
    }
    pack = pins(PACK / "requirements.txt")
    core = tomllib.loads((REPO / "core" / "pyproject.toml").read_text())["project"]
    assert pack.pop("go-platform-core") == core["version"]
    assert pack == {name: project[name] for name in pack}


def test_the_pack_reaches_the_program_only_through_the_core_package():
    for source in sorted(PACK.rglob("*.py")):
        text = source.read_text()
        assert not re.search(
            r"^\s*(from|import) (components|wiring|go_platform)\b", text, re.MULTILINE
        ), source
        assert "sys.path" not in text, source
