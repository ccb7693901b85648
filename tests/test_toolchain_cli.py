"""`bootstrap.py`'s subcommands as a user runs them, on a manifest and cache of the test's own.

Invariants guarded:
- a manifest path that cannot be read (a directory, say) is one line naming it and why, for
  every subcommand that reads it, never a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

BOOTSTRAP = REPO / "tools" / "toolchain" / "bootstrap.py"


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
