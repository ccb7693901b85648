"""`bootstrap.py doctor --registry` against a module proxy kept in a directory
(`GOPROXY=file://…`), asked through the real go command.

Invariants guarded:
- every pinned module version is asked for; one the proxy does not serve is a problem that
  names the module and version;
- beyond the pins a component is built from (the CLI's `pkg/v3`, the provider module,
  govulncheck, Athens) the report lists the later releases the proxy lists, pre-releases left out,
  and, for a pseudo-version pin, a later commit; the modules built beside them at the same
  release (`sdk/v3`, the provider's `sdk/v4`) are not looked beyond;
- nothing newer listed adds nothing to the line; `--json` carries the same lists;
- the report's columns line up in each section, the provider's 34-character pseudo-version
  included.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

BOOTSTRAP = REPO / "tools" / "toolchain" / "bootstrap.py"
sys.path.append(str(BOOTSTRAP.parent))

import bootstrap  # noqa: E402

PROVIDER_PIN = "v4.0.0-20260115033456-f47bc2d6f199"
PROVIDER_LATER = "v4.0.0-20260301120000-0123456789ab"
MANIFEST = f"""
[pulumi]
version = "3.276.0"

[plugins.kubernetes]
version = "4.25.0"
module_version = "{PROVIDER_PIN}"

[govulncheck]
version = "1.9.0"

[athens]
version = "0.18.0"
"""


def publish(proxy: Path, module: str, *versions: str, latest: str = "") -> None:
    """Lay out `module` at `versions` as the module proxy protocol has it: a list of its
    releases, and each version's info and go.mod; `latest` answers `@latest`."""
    where = proxy / module / "@v"
    where.mkdir(parents=True, exist_ok=True)
    releases = [v for v in versions if not bootstrap.is_pseudo_version(v)]
    (where / "list").write_text("".join(f"{v}\n" for v in releases), encoding="utf-8")
    for version in {*versions, *([latest] if latest else [])}:
        info = {"Version": version, "Time": "2026-01-15T03:34:56Z"}
        (where / f"{version}.info").write_text(json.dumps(info), encoding="utf-8")
        (where / f"{version}.mod").write_text(f"module {module}\n", encoding="utf-8")
    if latest:
        info = {"Version": latest, "Time": "2026-03-01T12:00:00Z"}
        (proxy / module / "@latest").write_text(json.dumps(info), encoding="utf-8")


@pytest.fixture
def proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A proxy serving every pin, with newer versions of some; the go command reads only it."""
    root = tmp_path / "proxy"
    publish(root, bootstrap.PULUMI_PKG, "v3.275.0", "v3.276.0", "v3.277.0", "v3.278.0-rc.1")
    publish(root, bootstrap.PULUMI_SDK, "v3.276.0", "v3.277.0")
    publish(
        root, "github.com/pulumi/pulumi-kubernetes/provider/v4", PROVIDER_PIN, latest=PROVIDER_LATER
    )
    publish(root, "github.com/pulumi/pulumi-kubernetes/sdk/v4", "v4.25.0", "v4.32.0")
    publish(root, bootstrap.GOVULNCHECK_MODULE, "v1.8.0", "v1.9.0")
    publish(root, bootstrap.ATHENS_MODULE, "v0.17.0", "v0.18.0")
    env = {
        "GOPROXY": f"file://{root}",
        "GOSUMDB": "off",
        "GOPRIVATE": "",
        "GONOPROXY": "",
        "GOMODCACHE": str(tmp_path / "modcache"),
        "GO_PLATFORM_TOOLCHAIN_MANIFEST": str(tmp_path / "toolchain.toml"),
        "GO_PLATFORM_CACHE": str(tmp_path / "cache"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "toolchain.toml").write_text(MANIFEST, encoding="utf-8")
    return root


def registry_rows(tmp_path: Path) -> dict[str, bootstrap.Finding]:
    manifest = bootstrap.Manifest.load(tmp_path / "toolchain.toml")
    findings = bootstrap._registry_findings(manifest, bootstrap.Go(), tmp_path)
    return {f.detail.split()[0]: f for f in findings}


def test_newer_releases_and_commits_are_listed_beyond_the_pins_built_from(
    proxy: Path, tmp_path: Path
):
    rows = registry_rows(tmp_path)

    assert {path: (f.status, f.newer) for path, f in rows.items()} == {
        bootstrap.PULUMI_PKG: ("available", ["v3.277.0"]),
        bootstrap.PULUMI_SDK: ("available", []),
        "github.com/pulumi/pulumi-kubernetes/provider/v4": ("available", [PROVIDER_LATER]),
        "github.com/pulumi/pulumi-kubernetes/sdk/v4": ("available", []),
        bootstrap.GOVULNCHECK_MODULE: ("available", []),
        bootstrap.ATHENS_MODULE: ("available", []),
    }


def test_a_pin_the_proxy_does_not_serve_is_a_problem_naming_it(proxy: Path, tmp_path: Path):
    (proxy / bootstrap.PULUMI_SDK / "@v" / "v3.276.0.info").unlink()
    (proxy / bootstrap.PULUMI_SDK / "@v" / "v3.276.0.mod").unlink()

    row = registry_rows(tmp_path)[f"{bootstrap.PULUMI_SDK}@v3.276.0:"]

    assert (row.status, row.version, row.newer) == ("unavailable", "v3.276.0", [])
    assert row.detail.count("\n") == 0


def doctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BOOTSTRAP), "doctor", "--registry", *args],
        capture_output=True,
        text=True,
        env=os.environ,
        check=False,
    )


def test_the_doctor_prints_what_is_listed_beyond_each_pin(proxy: Path, tmp_path: Path):
    ran = doctor()

    listed = [line.split() for line in ran.stdout.splitlines() if "newer listed" in line]
    assert listed == [
        ["cli", "v3.276.0", "available", bootstrap.PULUMI_PKG, "(newer", "listed:", "v3.277.0)"],
        [
            "kubernetes",
            PROVIDER_PIN,
            "available",
            "github.com/pulumi/pulumi-kubernetes/provider/v4",
            "(newer",
            "listed:",
            f"{PROVIDER_LATER})",
        ],
    ]
    assert ran.returncode == 1  # the cache is empty: every component is missing
    assert "Traceback" not in ran.stderr

    report = json.loads(doctor("--json").stdout)
    newer = {f["detail"]: f["newer"] for f in report["findings"] if f["section"] == "registry"}
    assert newer == {
        bootstrap.PULUMI_PKG: ["v3.277.0"],
        bootstrap.PULUMI_SDK: [],
        "github.com/pulumi/pulumi-kubernetes/provider/v4": [PROVIDER_LATER],
        "github.com/pulumi/pulumi-kubernetes/sdk/v4": [],
        bootstrap.GOVULNCHECK_MODULE: [],
        bootstrap.ATHENS_MODULE: [],
    }


def test_the_registry_columns_line_up_with_a_pseudo_version(proxy: Path):
    lines = doctor().stdout.splitlines()
    section = lines[lines.index("GOPROXY (pinned module versions):") + 1 :]
    rows = [line for line in section if line.startswith("  ")]

    assert any(PROVIDER_PIN in row for row in rows)
    assert len({row.index(" available ") for row in rows}) == 1, "\n".join(rows)


def test_finding_lines_widen_the_version_column_to_the_longest():
    rows = [
        bootstrap.Finding("registry", "cli", "v3.276.0", "available", "pkg"),
        bootstrap.Finding("registry", "kubernetes", PROVIDER_PIN, "available", "provider"),
    ]
    narrow = [bootstrap.Finding("toolchain", "cli", "3.276.0", "present", "pulumi")]

    assert bootstrap.finding_lines(rows) == [
        f"  cli              {'v3.276.0':<34} available     pkg",
        f"  kubernetes       {PROVIDER_PIN} available     provider",
    ]
    assert bootstrap.finding_lines(narrow) == [
        "  cli              v3.276.0     present       pulumi"
    ]
