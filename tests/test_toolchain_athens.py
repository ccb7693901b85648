"""The toolchain's Athens component, which only the tests run, without building it
(tests/integration/test_athens.py runs the binary `make test-deps` built).

Invariants guarded:
- `[athens] version` in toolchain.toml pins the release ModuleProxy deploys, as a plain
  release; a manifest without the table leaves it unpinned, saying why;
- a build that names no component (`make toolchain`, and so `make up`) leaves it out; a
  build that names it (`make test-deps`) builds it;
- the doctor reports it as tests-only when it is not built, which is not a problem: the
  toolchain `make up` needs is complete without it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from go_platform_core.config import load_settings
from tests.conftest import REPO, stack_config
from tests.test_toolchain_cli import bootstrap as run_bootstrap
from tests.test_toolchain_govulncheck import PULUMI, manifest

sys.path.append(str(REPO / "tools" / "toolchain"))

import bootstrap

ATHENS_GO_SUM = '''go_sum = """
github.com/gomods/athens v0.18.0 h1:jooBLf8xIwDOFlLxxo1JZh+JNuDbhHU1GavrEOhoc8U=
github.com/gomods/athens v0.18.0/go.mod h1:ll5AuWw2zGSx+9xobL4vjy6YQMpI8OO8hICgKGPXv7A=
"""
'''


def test_the_committed_manifest_pins_the_release_module_proxy_deploys():
    pinned = bootstrap.Manifest.load(bootstrap.DEFAULT_MANIFEST).athens_version
    image = load_settings(stack_config(domain="example.com"), stack="dev").module_proxy.image
    assert image == f"gomods/athens:v{pinned}"


def test_a_manifest_without_it_leaves_it_unpinned(tmp_path: Path):
    loaded = manifest(tmp_path, PULUMI)
    component = bootstrap.Athens(loaded, bootstrap.Layout(tmp_path / "cache"))
    assert loaded.athens_version == ""
    assert component.unpinned() == (
        f"the manifest {tmp_path / 'toolchain.toml'} pins no version for it"
        " (add `version` to its [athens] table; docs/toolchain.md#pins-and-why)"
    )


def test_only_a_build_that_names_it_builds_it(tmp_path: Path):
    loaded = manifest(tmp_path, PULUMI + '[athens]\nversion = "0.18.0"\n')
    everything = bootstrap.components(loaded, bootstrap.Layout(tmp_path / "cache"))
    assert "athens" not in [c.name for c in bootstrap._select(everything, None)]
    assert [c.name for c in bootstrap._select(everything, "athens")] == ["athens"]


def test_the_doctor_calls_it_tests_only_and_no_problem_when_it_is_not_built(tmp_path: Path):
    """A toolchain with nothing built: every other component is missing, Athens tests-only
    (its module's hashes committed, as in the real manifest: without them, that is a problem)."""
    text = PULUMI + '[athens]\nversion = "0.18.0"\n' + ATHENS_GO_SUM
    (tmp_path / "toolchain.toml").write_text(text, encoding="utf-8")
    result = run_bootstrap(
        "doctor",
        "--json",
        GO_PLATFORM_TOOLCHAIN_MANIFEST=str(tmp_path / "toolchain.toml"),
        GO_PLATFORM_CACHE=str(tmp_path / "cache"),
    )
    report = json.loads(result.stdout)
    athens = [f for f in report["findings"] if f["component"] == "athens"]
    assert [f["status"] for f in athens] == ["tests-only"]
    assert "make test-deps" in athens[0]["detail"]
    assert "athens" not in report["missing"]
