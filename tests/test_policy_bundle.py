"""tools/policy_bundle.py: the policy pack as `pulumi policy publish` takes it.

Invariants guarded:
- the core version is read from the pack's `go-platform-core==` pin and from
  `core/pyproject.toml`; a missing or unpinned requirement, another project or no static
  version is one line naming the file, and a pin the core does not declare stops the
  build naming both versions;
- the bundle's requirements are the pack's, unchanged, after a `--find-links wheels` line
  that comes before any requirement;
- a bundle is written only outside the pack, and replaces only an earlier bundle or an
  empty directory;
- the bundle holds the pack without its virtualenv or bytecode, the wheel in `wheels/`,
  those requirements and a .gitignore that keeps a virtualenv made there out of
  `pulumi policy publish`'s archive; a failed build leaves the earlier bundle as it was;
- a bundle git ignores (which `pulumi policy publish` would archive empty) is not offered
  for publishing: the tool says to build one elsewhere;
- bad arguments and bad inputs are one line on stderr, never a traceback.
(The real wheel build and an install from the bundle: tests/integration/
test_policy_pack_standalone.py.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

sys.path.append(str(REPO / "tools"))  # the tool is a script, as tools/gobuild's users do
import policy_bundle
from policy_bundle import (
    BundleError,
    build_wheel,
    bundle_requirements,
    check_core_pin,
    declared_version,
    output_problem,
    pinned_version,
)

PYPROJECT = '[project]\nname = "go-platform-core"\nversion = "{version}"\n'


# --- versions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requirements", "version"),
    [
        ("pulumi==3.272.0\ngo-platform-core==0.1.0\n", "0.1.0"),
        ("go_platform_core == 1.2.3  # the core\n", "1.2.3"),
        ("Go.Platform-Core==2.0.0rc1\n", "2.0.0rc1"),
        ("# go-platform-core==9.9.9\ngo-platform-core==0.1.0\n", "0.1.0"),
    ],
)
def test_the_pin_is_read_whatever_the_names_spelling(requirements, version):
    assert pinned_version(requirements) == version


@pytest.mark.parametrize(
    ("read", "text", "says"),
    [
        (pinned_version, "pulumi==3.272.0\n", "does not name go-platform-core"),
        (pinned_version, "go-platform-corex==0.1.0\n", "does not name go-platform-core"),
        (
            pinned_version,
            "go-platform-core>=0.1",
            "names go-platform-core as 'go-platform-core>=0.1'",
        ),
        (pinned_version, "go-platform-core\n", "pin it with ==<version>"),
        (
            declared_version,
            '[project]\nname = "other"\nversion = "1"\n',
            "declares project 'other'",
        ),
        (
            declared_version,
            '[project]\nname = "go-platform-core"\ndynamic = ["version"]\n',
            "no static",
        ),
        (declared_version, "[project\n", "is not valid TOML"),
    ],
    ids=["other-only", "other-name", "range", "unpinned", "other-project", "dynamic", "toml"],
)
def test_no_usable_core_version_is_one_line(read, text, says):
    with pytest.raises(BundleError) as raised:
        read(text)
    assert says in str(raised.value)
    assert "\n" not in str(raised.value)


def test_the_repositorys_core_declares_the_version_the_pack_pins():
    declared = declared_version((REPO / "core" / "pyproject.toml").read_text())
    check_core_pin(pinned_version((REPO / "policies" / "requirements.txt").read_text()), declared)


def test_a_pin_the_core_does_not_declare_names_both_versions():
    with pytest.raises(BundleError) as raised:
        check_core_pin("0.1.0", "0.2.0")
    assert str(raised.value) == (
        "the pack pins go-platform-core==0.1.0 but the core package declares version 0.2.0; "
        "make policies/requirements.txt and core/pyproject.toml agree"
    )


# --- requirements and output ---------------------------------------------------------------


def test_the_bundles_requirements_find_the_wheel_first_and_keep_every_pin():
    source = "# pins\npulumi==3.272.0\ngo-platform-core==0.1.0\n"

    bundled = bundle_requirements(source)

    lines = [line for line in bundled.splitlines() if line and not line.startswith("#")]
    assert lines == ["--find-links wheels", "pulumi==3.272.0", "go-platform-core==0.1.0"]
    assert bundled.endswith(source)


def make_output(root: Path, kind: str) -> Path:
    """An output directory of `kind` under `root`, where the pack is `root/pack`."""
    if kind == "inside":
        return root / "pack" / "dist"
    if kind == "the-pack":
        return root / "pack"
    if kind == "containing":
        return root
    if kind == "under-a-file":
        (root / "afile").write_text("x")
        return root / "afile" / "dist" / "policy-pack"
    target = root / kind
    if kind == "file":
        target.write_text("x")
    elif kind in ("empty", "not-a-bundle", "old"):
        target.mkdir()
        if kind == "not-a-bundle":
            (target / "notes.txt").touch()
        if kind == "old":
            (target / "wheels").mkdir()
            (target / "PulumiPolicy.yaml").write_text("runtime: python\n")
    return target


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("inside", "must lie outside the pack"),
        ("the-pack", "must lie outside the pack"),
        ("containing", "and not contain it"),
        ("file", "is a file, not a directory"),
        ("under-a-file", "afile is a file, not a directory"),
        ("not-a-bundle", "exists and is not a policy bundle"),
        ("new", None),
        ("empty", None),
        ("old", None),
    ],
)
def test_a_bundle_replaces_only_an_earlier_bundle_outside_the_pack(tmp_path, kind, says):
    pack = tmp_path / "pack"
    pack.mkdir()

    problem = output_problem(make_output(tmp_path, kind), pack)

    if says is None:
        assert problem is None
    else:
        assert problem is not None
        assert says in problem


# --- the tool --------------------------------------------------------------------------


@pytest.fixture
def sources(tmp_path: Path) -> tuple[Path, Path]:
    """(a copy of policies/ with a virtualenv and bytecode in it, a core at its pin)."""
    pack = tmp_path / "policies"
    shutil.copytree(REPO / "policies", pack, ignore=shutil.ignore_patterns("venv", "__pycache__"))
    (pack / "venv" / "bin").mkdir(parents=True)
    (pack / "go_platform_policies" / "__pycache__").mkdir()
    (pack / "go_platform_policies" / "__pycache__" / "core.cpython-311.pyc").touch()
    core = tmp_path / "core"
    core.mkdir()
    (core / "pyproject.toml").write_text(PYPROJECT.format(version="0.1.0"))
    return pack, core


@pytest.fixture
def fake_wheel(monkeypatch):
    """`build_wheel` writing an empty wheel file (the real build is the integration test's)."""

    def build(core: Path, into: Path, scratch: Path) -> Path:
        into.mkdir(parents=True)
        wheel = into / "go_platform_core-0.1.0-py3-none-any.whl"
        wheel.touch()
        return wheel

    monkeypatch.setattr(policy_bundle, "build_wheel", build)


def bundle(pack: Path, core: Path, output: Path) -> int:
    return policy_bundle.main(["--pack", str(pack), "--core", str(core), "--output", str(output)])


def test_the_bundle_is_the_pack_without_its_virtualenv_with_the_wheel(
    sources, fake_wheel, tmp_path, capsys
):
    pack, core = sources
    output = tmp_path / "dist" / "policy-pack"

    assert bundle(pack, core, output) == 0

    files = {str(p.relative_to(output)) for p in output.rglob("*") if p.is_file()}
    expected = {
        str(p.relative_to(pack))
        for p in pack.rglob("*")
        if p.is_file() and not {"venv", "__pycache__"} & set(p.relative_to(pack).parts)
    }
    assert files == expected | {"wheels/go_platform_core-0.1.0-py3-none-any.whl", ".gitignore"}
    assert (output / ".gitignore").read_text().splitlines() == ["venv", "__pycache__", "*.pyc"]
    assert (output / "requirements.txt").read_text() == bundle_requirements(
        (pack / "requirements.txt").read_text()
    )
    assert (
        f"publish it: cd {output} && pulumi install && pulumi policy publish <org>"
        in capsys.readouterr().out
    )
    assert [p.name for p in output.parent.iterdir()] == ["policy-pack"]


def test_by_default_the_bundle_goes_to_the_cache_outside_the_repository(
    sources, fake_wheel, tmp_path, monkeypatch, capsys
):
    pack, core = sources
    monkeypatch.setenv("GO_PLATFORM_CACHE", str(tmp_path / "cache"))

    assert policy_bundle.main(["--pack", str(pack), "--core", str(core)]) == 0

    output = tmp_path / "cache" / "policy-pack"
    assert (output / "PulumiPolicy.yaml").is_file()
    assert f"publish it: cd {output} && " in capsys.readouterr().out


def test_an_output_that_cannot_be_written_is_one_line(sources, fake_wheel, tmp_path, capsys):
    pack, core = sources
    parent = tmp_path / "read-only"
    parent.mkdir()
    parent.chmod(0o555)
    if os.access(parent, os.W_OK):  # root writes anywhere; /proc refuses even root
        parent = Path("/proc")

    assert bundle(pack, core, parent / "policy-pack") == 1

    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(
        f"policy_bundle.py: --output {parent / 'policy-pack'}: cannot write the bundle ("
    )
    assert not (parent / "policy-pack").exists()


def test_a_cache_inside_the_repository_is_one_line(sources, fake_wheel, monkeypatch, capsys):
    pack, core = sources
    monkeypatch.setenv("GO_PLATFORM_CACHE", str(policy_bundle.REPO / "cache"))

    assert policy_bundle.main(["--pack", str(pack), "--core", str(core)]) == 1

    [line] = capsys.readouterr().err.splitlines()
    assert "is inside the repository; point GO_PLATFORM_CACHE somewhere else" in line
    assert not (policy_bundle.REPO / "cache").exists()


def test_a_bundle_git_ignores_is_not_offered_for_publishing(sources, fake_wheel, tmp_path, capsys):
    pack, core = sources
    subprocess.run(["git", "init", "--quiet", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("/dist/\n")
    output = tmp_path / "dist" / "policy-pack"

    assert bundle(pack, core, output) == 0

    out = capsys.readouterr().out
    assert "publish it" not in out
    assert (
        f"{output} is ignored by git, so `pulumi policy publish` would archive none of it"
    ) in out


def test_a_failed_build_leaves_the_earlier_bundle(sources, fake_wheel, tmp_path, monkeypatch):
    pack, core = sources
    output = tmp_path / "dist" / "policy-pack"
    assert bundle(pack, core, output) == 0
    before = sorted(p.relative_to(output) for p in output.rglob("*"))

    def fails(core: Path, into: Path, scratch: Path) -> Path:
        raise BundleError(f"pip wheel {core} failed: no network")

    monkeypatch.setattr(policy_bundle, "build_wheel", fails)

    assert bundle(pack, core, output) == 1
    assert sorted(p.relative_to(output) for p in output.rglob("*")) == before
    assert [p.name for p in output.parent.iterdir()] == ["policy-pack"]


def test_a_build_that_cannot_get_its_build_requirements_says_which(tmp_path, monkeypatch):
    # No index and an empty --find-links: pip cannot install the build backend, and ends
    # its output with a note about subprocesses; the cause is in its ERROR lines.
    (tmp_path / "links").mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "links"))
    core = REPO / "core"

    with pytest.raises(BundleError) as raised:
        build_wheel(core, tmp_path / "wheels", tmp_path)

    message = str(raised.value)
    assert message.startswith(f"pip wheel {core} failed: ")
    assert "No matching distribution found for setuptools" in message
    assert "\n" not in message


def exit_code(argv: list[str]) -> int | str | None:
    """What `main(argv)` exits with: its return value, or argparse's `SystemExit` code."""
    try:
        return policy_bundle.main(argv)
    except SystemExit as exited:
        return exited.code


@pytest.mark.parametrize(
    ("argv", "code", "says"),
    [
        (["--bogus"], 2, "policy_bundle.py: unrecognized arguments: --bogus (see --help)"),
        (["--output"], 2, "policy_bundle.py: argument --output: expected one argument"),
        (["--pack", "{tmp}/nowhere"], 1, "--pack {tmp}/nowhere: no PulumiPolicy.yaml there"),
        (["--core", "{tmp}/nowhere"], 1, "--core {tmp}/nowhere: no readable pyproject.toml"),
        (
            ["--core", "{tmp}/core-0.2.0"],
            1,
            "policy_bundle.py: the pack pins go-platform-core==0.1.0 but the core package "
            "declares version 0.2.0",
        ),
    ],
    ids=["unknown", "no-value", "no-pack", "no-core", "version"],
)
def test_bad_arguments_are_one_line(sources, fake_wheel, tmp_path, capsys, argv, code, says):
    pack, core = sources
    (tmp_path / "core-0.2.0").mkdir()
    (tmp_path / "core-0.2.0" / "pyproject.toml").write_text(PYPROJECT.format(version="0.2.0"))
    output = tmp_path / "out"
    defaults = ["--pack", str(pack), "--core", str(core), "--output", str(output)]

    exited = exit_code(defaults + [part.replace("{tmp}", str(tmp_path)) for part in argv])

    captured = capsys.readouterr()
    assert exited == code
    [line] = captured.err.splitlines()
    assert says.replace("{tmp}", str(tmp_path)) in line
    assert captured.out == ""
    assert not output.exists()
