"""The order test modules start in: the longest first.

Loaded by pytest through `addopts = -p tests.schedule` (pyproject.toml). `make test` runs
the modules on several workers (`--dist loadfile`: a module runs whole on one worker, since
its cluster, stack and backend are its own) and hands them out in collection order
(`--no-loadscope-reorder`). The modules below take minutes each, the rest seconds, so
starting them first lets the short ones fill in around them. xdist's own order (the modules
with most tests first) started the three-test `test_driver_local.py` near the end, and the
run then ended with that module nearly alone, the cores 30-70% busy for its last two
minutes (docs/PERFORMANCE.md).

The order is a measured one (`pytest --durations=0`, summed per module); a module missing
from it only starts later, it is not left out.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
LONGEST_FIRST = (
    "integration/test_local_stack.py",
    "integration/test_driver_local.py",
    "integration/test_driver_engine.py",
    "integration/test_go_suites.py",
    "integration/test_driver_state.py",
    "integration/test_policy_pack_standalone.py",
    "integration/test_vulncheck_gate.py",
    "integration/test_driver_canary.py",
    "integration/test_cluster.py",
    "integration/test_language_host.py",
    "integration/test_toolchain.py",
)


def start_rank(path: Path) -> int:
    """Where a module's tests start: its place in LONGEST_FIRST, after them if not there."""
    try:
        return LONGEST_FIRST.index(path.resolve().relative_to(TESTS).as_posix())
    except ValueError:
        return len(LONGEST_FIRST)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A stable sort: the tests of a module keep their order, as do the modules not listed.
    items.sort(key=lambda item: start_rank(item.path))
