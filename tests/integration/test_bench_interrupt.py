"""A bench stopped by SIGTERM (`timeout`, a cancelled CI job) stops what it started.

`bench/local_stack_bench.py` starts an embedded cluster in a scratch directory and runs the
real engine against it. Stopped while the cluster starts, or while the first `up` runs, it
goes through its cleanup as on Ctrl-C: no process that names its scratch directory is left
(control plane, CLI, plugins), the directory is gone, and it says so in one line, exit 130,
without a traceback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.test_cluster import START_TIMEOUT, eventually

pytestmark = [pytest.mark.integration, pytest.mark.engine]

BENCH = REPO / "bench" / "local_stack_bench.py"


def processes_naming(path: Path) -> list[str]:
    """The command lines of the running processes that mention `path`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        line = " ".join(part.decode(errors="replace") for part in argv if part)
        if str(path) in line:
            found.append(f"{entry.name}: {line[:200]}")
    return found


@pytest.mark.parametrize(
    "moment",
    [
        pytest.param("cluster/logs/kube-scheduler.log", id="while-the-cluster-starts"),
        pytest.param("state/.pulumi", id="while-the-first-up-runs"),
    ],
)
def test_sigterm_stops_what_the_bench_started(tmp_path: Path, moment: str) -> None:
    bench = subprocess.Popen(
        [sys.executable, str(BENCH), "--runs", "1"],
        env={**os.environ, "TMPDIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        eventually(
            lambda: list(tmp_path.glob(f"local-stack-bench-*/{moment}")),
            timeout=START_TIMEOUT + 60,  # a cold cluster start, then the first up's beginning
            interval=0.05,
            what=f"the bench to reach {moment}",
        )
        bench.send_signal(signal.SIGTERM)
        _, stderr = bench.communicate(timeout=120)
    finally:
        if bench.poll() is None:  # the bench never got there: stop it the same way
            bench.terminate()
            bench.communicate(timeout=120)

    assert bench.returncode == 130, stderr
    assert stderr.splitlines()[-1] == (
        "local_stack_bench.py: interrupted; what it started is stopped"
    ), stderr
    assert "Traceback" not in stderr
    # The plugins the CLI started outlive its process group by moments (the CLI's own way).
    eventually(lambda: not processes_naming(tmp_path), timeout=30, what="no process left")
    assert list(tmp_path.iterdir()) == []
