"""The toolchain's govulncheck component, without building it (the build gate's integration
tests run the binary `make toolchain` built and check its version).

Invariants guarded:
- `[govulncheck] version` in toolchain.toml pins it, as a plain release; a manifest without
  the table leaves it unpinned (skipped, saying why), a malformed one is one error line;
- it counts as present only when its stamp matches, the binary is there and the CLI's bin
  directory links to that very binary: a new CLI release, or a link elsewhere, relinks;
- the committed manifest pins the release the proxy serves that the docs name.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

sys.path.append(str(REPO / "tools" / "toolchain"))

import bootstrap

PULUMI = '[pulumi]\nversion = "3.276.0"\n'


def manifest(tmp_path: Path, text: str) -> bootstrap.Manifest:
    path = tmp_path / "toolchain.toml"
    path.write_text(text, encoding="utf-8")
    return bootstrap.Manifest.load(path)


def test_the_committed_manifest_pins_govulncheck():
    assert bootstrap.Manifest.load(bootstrap.DEFAULT_MANIFEST).govulncheck_version == "1.10.0"


def test_a_manifest_without_it_leaves_it_unpinned(tmp_path: Path):
    loaded = manifest(tmp_path, PULUMI)
    component = bootstrap.Govulncheck(loaded, bootstrap.Layout(tmp_path / "cache"))

    assert loaded.govulncheck_version == ""
    assert component.unpinned() == (
        f"the manifest {tmp_path / 'toolchain.toml'} pins no version for it"
        " (add `version` to its [govulncheck] table; docs/toolchain.md#pins-and-why)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            PULUMI + '[govulncheck]\nversion = "v1.9.0"\n',
            "version must look like 1.2.3, got 'v1.9.0'",
        ),
        ("govulncheck = 1\n" + PULUMI, "[govulncheck] must be a table"),
        (PULUMI + "[govulncheck]\nversion = 190\n", "[govulncheck].version must be a string"),
    ],
)
def test_a_malformed_pin_is_one_error(tmp_path: Path, text: str, message: str):
    with pytest.raises(bootstrap.ToolchainError, match=message.replace("[", r"\[")):
        manifest(tmp_path, text)


def test_present_only_when_the_cli_bin_links_to_the_built_binary(tmp_path: Path):
    loaded = manifest(tmp_path, PULUMI + '[govulncheck]\nversion = "1.9.0"\n')
    layout = bootstrap.Layout(tmp_path / "cache")
    component = bootstrap.Govulncheck(loaded, layout)
    component.built.parent.mkdir(parents=True)
    component.built.write_text("#!/bin/sh\n", encoding="utf-8")
    bootstrap.write_stamp(
        component.stamp,
        component="govulncheck",
        version="1.9.0",
        recipe=bootstrap.RECIPE_REVISION,
        pins=component.pins(),
        modules={},
        go="go1.26.8",
        seconds=1.0,
        outputs=[component.built],
    )

    assert component.status() == "missing"  # no link beside the CLI yet
    assert component.built_binary_is_current(component.built)  # so a build only relinks

    bootstrap.symlink_atomically(component.link, component.built)
    assert component.status() == "present"
    assert component.link.parent == layout.bin_dir("3.276.0")

    elsewhere = tmp_path / "other" / "govulncheck"
    elsewhere.parent.mkdir()
    elsewhere.write_text("#!/bin/sh\n", encoding="utf-8")
    bootstrap.symlink_atomically(component.link, elsewhere)
    assert component.status() == "missing"

    component.built.write_text("#!/bin/sh\n# changed\n", encoding="utf-8")
    assert not component.built_binary_is_current(component.built)
