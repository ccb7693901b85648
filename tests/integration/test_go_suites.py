"""The Go suites `make test` runs, as tests of the Python run: each Go service's own `make
test` (go vet, go test -race), `make go-test` (gofmt, go vet and go test of the toolchain's
Go modules) and `make conformance` (Pulumi's language conformance suite against our language
host).

They are here rather than make steps before pytest so that they run beside the Python
tests: on its own, the conformance suite kept the cores about 90% busy and the Go modules'
tests, which mostly link large test binaries, about half, for two minutes before the first
Python test started (docs/PERFORMANCE.md). `make go-test` and `make conformance` still run
them on their own, with their output as it comes.

Invariants guarded: every target exits 0 (a failure shows its output); the conformance
suite reports no failed test. Each runs through the harness's `run_command`, in a process
group killed when it ends or runs out of time (which fails the test), so no test binary or
engine outlives it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, Toolchain, run_command

SERVICES = sorted(path.parent for path in (REPO / "services").glob("*/Makefile"))
SUITE_TIMEOUT = 1200


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return run_command(
        ["make", "--no-print-directory", *args],
        cwd=REPO,
        env=dict(os.environ),
        check=False,
        timeout=SUITE_TIMEOUT,
    )


@pytest.mark.parametrize("service", SERVICES, ids=lambda path: path.name)
def test_the_services_go_tests_pass(service: Path) -> None:
    result = make("-C", str(service.relative_to(REPO)), "test")

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_toolchains_go_modules_are_gofmt_clean_and_pass_vet_and_test() -> None:
    result = make("go-test")

    assert result.returncode == 0, result.stdout + result.stderr


def test_our_language_host_passes_the_conformance_suite(toolchain: Toolchain) -> None:
    toolchain.require("cli", "language-python")

    result = make("conformance")

    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 failed" in result.stdout, result.stdout
