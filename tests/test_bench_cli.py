"""The benches' command lines (`bench/*.py`) on bad counts: one usage error naming the
option and what is wrong, exit 2, before anything is started or measured (zero runs has
no median, a traceback after minutes of set-up; zero services is no stack)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

CASES = [
    ("language_host_bench.py", ["--runs", "0"], "argument --runs: must be at least 1, got 0"),
    ("language_host_bench.py", ["--runs", "x"], "argument --runs: must be a whole number, got 'x'"),
    ("local_stack_bench.py", ["--runs", "-3"], "argument --runs: must be at least 1, got -3"),
    ("local_stack_bench.py", ["--scale", "20", "0"], "argument --scale: must be at least 1, got 0"),
    ("local_stack_bench.py", ["--scale"], "argument --scale: expected at least one argument"),
    ("policies_bench.py", ["--repeat", "0"], "argument --repeat: must be at least 1, got 0"),
    ("policies_bench.py", ["--startups", "-1"], "argument --startups: must be at least 1, got -1"),
]


@pytest.mark.parametrize(
    ("bench", "args", "says"), CASES, ids=[" ".join(c[:1] + tuple(c[1])) for c in CASES]
)
def test_a_bad_count_is_one_usage_error(bench, args, says):
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / bench), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.splitlines()[-1] == f"{bench}: error: {says}"
    assert "Traceback" not in done.stderr
