"""One core's speed as the test suite and the engine's Python processes use it: the seconds
10M steps of a Python loop take. The same machine kind does not always run at the same
speed, so `.ci/run` and the benchmarks record it beside their figures.

    python3 tools/core_speed.py      # == one core: 10M Python loop steps in 1.32s
"""

from __future__ import annotations

import argparse
import time

STEPS = 10_000_000


def loop_seconds(steps: int = STEPS) -> float:
    """Wall seconds for `steps` additions in a Python loop, on one core."""
    started, total = time.perf_counter(), 0
    for step in range(steps):
        total += step
    return time.perf_counter() - started


if __name__ == "__main__":
    argparse.ArgumentParser(
        description="Print the seconds 10M steps of a Python loop take on one core."
    ).parse_args()
    print(f"== one core: 10M Python loop steps in {loop_seconds():.2f}s")
