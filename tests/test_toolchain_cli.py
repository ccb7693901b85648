"""`bootstrap.py`'s subcommands as a user runs them, on a manifest and cache of the test's own.

Invariants guarded:
- a manifest path that cannot be read (a directory, say) is one line naming it and why, for
  every subcommand that reads it, never a traceback;
- a failed build's `or:` line (a failed step) or `once fixed, rerun:` line (any other
  failure, such as a module that cannot be fetched) builds the component again into the same
  cache from the same manifest, from any shell: it carries GO_PLATFORM_CACHE and
  GO_PLATFORM_TOOLCHAIN_MANIFEST (absolute, quoted) where they are not the defaults, and
  nothing where they are;
- GO_PLATFORM_LANGUAGE_HOST is auto, go-platform or official (unset or empty: auto); any
  other value is one line naming the variable, the accepted values and the value given,
  before `doctor` reports or `build` builds anything;
- the doctor suggests `make toolchain` (with the cache and manifest it used) only for what a
  build can build; a component the manifest pins no version of is named with the manifest and
  its table, and no build is suggested for it;
- docs/toolchain.md's layout puts each of the SDK's scripts in the directory the bootstrap
  installs it in.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

BOOTSTRAP = REPO / "tools" / "toolchain" / "bootstrap.py"
sys.path.append(str(BOOTSTRAP.parent))

import bootstrap as toolchain  # noqa: E402

MANIFEST = '[pulumi]\nversion = "3.276.0"\n\n[govulncheck]\nversion = "1.9.0"\n'


def bootstrap(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BOOTSTRAP), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )


@pytest.mark.parametrize("command", [["doctor"], ["env"], ["build", "--only", "cli"]])
def test_a_directory_as_the_manifest_is_one_line(tmp_path: Path, command: list[str]):
    ran = bootstrap(
        *command,
        GO_PLATFORM_TOOLCHAIN_MANIFEST=str(tmp_path),
        GO_PLATFORM_CACHE=str(tmp_path / "cache"),
    )

    assert (ran.returncode, ran.stdout) == (1, "")
    assert ran.stderr == (
        f"toolchain: error: toolchain manifest {tmp_path} cannot be read: it is a directory\n"
    )


def test_the_build_command_names_only_what_is_not_the_default(tmp_path: Path):
    home = tmp_path / "home"
    script = shlex.quote(str(BOOTSTRAP))
    plain = f"{shlex.quote(sys.executable)} {script} build --only cli"

    assert toolchain.build_command("cli", toolchain.DEFAULT_MANIFEST, {}, home) == plain
    chosen = toolchain.build_command(
        "cli",
        tmp_path / "my toolchain.toml",
        {"GO_PLATFORM_CACHE": str(tmp_path / "cache")},
        home,
    )
    assert chosen == (
        f"GO_PLATFORM_CACHE={shlex.quote(str(tmp_path / 'cache'))}"
        f" GO_PLATFORM_TOOLCHAIN_MANIFEST={shlex.quote(str(tmp_path / 'my toolchain.toml'))}"
        f" {plain}"
    )


def test_a_failed_builds_hint_builds_into_the_same_cache_from_any_shell(tmp_path: Path):
    manifest = tmp_path / "toolchain.toml"
    manifest.write_text(MANIFEST, encoding="utf-8")
    # No module can be fetched, so govulncheck fails at once, offline, resolving its module.
    offline = {"GOPROXY": "off", "GOMODCACHE": str(tmp_path / "modcache")}
    chosen = {
        "GO_PLATFORM_CACHE": str(tmp_path / "cache"),
        "GO_PLATFORM_TOOLCHAIN_MANIFEST": str(manifest),
    }

    failed = bootstrap("build", "--only", "govulncheck", **offline, **chosen)

    assert failed.returncode == 1
    prefix = "  once fixed, rerun:"
    hint = next(line for line in failed.stderr.splitlines() if line.startswith(prefix))
    rebuild = hint.removeprefix(prefix).strip()
    assert rebuild == toolchain.build_command("govulncheck", manifest, chosen, Path.home())
    # Another shell, whose defaults (were the hint to fall back on them) are not the user's.
    shell = {k: v for k, v in os.environ.items() if k not in {*chosen, "XDG_CACHE_HOME"}}
    shell.update(offline, HOME=str(tmp_path / "home"))
    again = subprocess.run(["sh", "-c", rebuild], capture_output=True, text=True, env=shell)
    first = again.stderr.splitlines()[0]
    assert first.startswith(f"toolchain: {tmp_path / 'cache' / 'toolchain'} (")
    assert first.endswith(f", manifest {manifest})")


@pytest.mark.parametrize(
    ("value", "choice"),
    [(None, "auto"), ("", "auto"), ("auto", "auto"), ("go-platform", "go-platform"),
     ("official", "official")],
)  # fmt: skip
def test_the_language_host_choices(value: str | None, choice: str):
    environ = {} if value is None else {"GO_PLATFORM_LANGUAGE_HOST": value}

    assert toolchain.language_host_choice(environ) == choice


BAD_HOST = (
    "toolchain: error: GO_PLATFORM_LANGUAGE_HOST must be one of auto, go-platform, official"
    " (or unset), got {value!r}\n"
)


@pytest.mark.parametrize("value", ["bogus", "Official", "go_platform", " auto"])
@pytest.mark.parametrize("command", [["doctor"], ["build", "--only", "govulncheck"]])
def test_an_unknown_language_host_is_one_line(tmp_path: Path, command: list[str], value: str):
    manifest = tmp_path / "toolchain.toml"
    manifest.write_text(MANIFEST, encoding="utf-8")

    ran = bootstrap(
        *command,
        GO_PLATFORM_LANGUAGE_HOST=value,
        GO_PLATFORM_CACHE=str(tmp_path / "cache"),
        GO_PLATFORM_TOOLCHAIN_MANIFEST=str(manifest),
        GOPROXY="off",
    )

    assert (ran.returncode, ran.stdout, ran.stderr) == (1, "", BAD_HOST.format(value=value))
    assert not (tmp_path / "cache").exists()  # nothing built, nothing reported


@pytest.mark.parametrize(
    ("missing", "blocked", "expected"),
    [
        ([], {}, []),
        (["cli", "random"], {}, ["missing: cli, random; run `make toolchain`"]),
        (["govulncheck"], {"govulncheck": "no pin"}, ["unpinned: govulncheck, which a build skips: no pin"]),
        (
            ["cli", "govulncheck", "kubernetes"],
            {"govulncheck": "no pin", "kubernetes": "no module_version"},
            [
                "missing: cli; run `make toolchain`",
                "unpinned: govulncheck, which a build skips: no pin",
                "unpinned: kubernetes, which a build skips: no module_version",
            ],
        ),
    ],
)  # fmt: skip
def test_the_doctor_suggests_a_build_only_for_what_it_builds(
    missing: list[str], blocked: dict[str, str], expected: list[str]
):
    assert toolchain.missing_summary(missing, blocked, "make toolchain") == expected


def test_the_doctor_names_a_component_the_manifest_pins_no_version_of(tmp_path: Path):
    manifest = tmp_path / "toolchain.toml"
    manifest.write_text('[pulumi]\nversion = "3.276.0"\n', encoding="utf-8")
    cache = tmp_path / "cache"

    ran = bootstrap(
        "doctor", GO_PLATFORM_CACHE=str(cache), GO_PLATFORM_TOOLCHAIN_MANIFEST=str(manifest)
    )

    assert ran.returncode == 1
    assert ran.stdout.splitlines()[-2:] == [
        f"missing: cli, language-python; run `GO_PLATFORM_CACHE={cache}"
        f" GO_PLATFORM_TOOLCHAIN_MANIFEST={manifest} make toolchain`",
        f"unpinned: govulncheck, which a build skips: the manifest {manifest} pins no version"
        " for it (add `version` to its [govulncheck] table; docs/toolchain.md#pins-and-why)",
    ]


def layout_entries(doc: str) -> dict[str, str]:
    """The cache layout block of docs/toolchain.md: each directory's description, its
    continuation lines joined."""
    block = doc.split("\n## Where things go\n", 1)[1].split("```\n", 2)[1]
    entries: dict[str, str] = {}
    current = ""
    for line in block.splitlines():
        if line and not line.startswith(" "):
            current, _, text = line.partition(" ")
            entries[current] = text
        else:
            entries[current] += line
    return entries


def test_the_docs_put_the_sdk_scripts_where_the_bootstrap_installs_them(tmp_path: Path):
    manifest = toolchain.Manifest.load(toolchain.DEFAULT_MANIFEST)
    layout = toolchain.Layout(tmp_path / "toolchain")
    host = toolchain.PythonLanguageHost(manifest, layout)
    entries = layout_entries((REPO / "docs" / "toolchain.md").read_text(encoding="utf-8"))
    directories = {
        f"{directory.relative_to(layout.root)}/"
        for directory in (layout.bin_dir(manifest.pulumi_version), host.libexec)
    }

    for installed in host.scripts().values():
        here = f"{installed.parent.relative_to(layout.root)}/"
        assert here in directories
        assert installed.name in entries[here], f"{installed.name} not listed under {here}"
        for elsewhere in directories - {here}:
            assert installed.name not in entries[elsewhere], f"{installed.name} under {elsewhere}"
