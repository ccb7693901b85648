"""In CI a skipped test is a failure: what is tested must not depend on the machine.

Loaded by pytest through `addopts = -p tests.ci_skips` (pyproject.toml). Outside CI a skip
is shown with its reason (`-ra`); with `CI=true` every skip is listed again and the session
fails, so a missing install step cannot hide behind a green run.
"""

from __future__ import annotations

import os

import pytest

_skipped: list[str] = []


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"true", "1", "yes"}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _skipped.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if in_ci() and _skipped and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int) -> None:
    if in_ci() and _skipped:
        terminalreporter.section("skipped tests fail CI (CI=true)", sep="=", red=True)
        for line in _skipped:
            terminalreporter.write_line(line)
