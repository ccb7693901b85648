"""The language host's warm start (tools/language-python/runner.py) with the SDKs it preloads.

Invariants guarded:
- preloading the modules a Pulumi program imported leaves the kubernetes SDK's names as the
  program's own imports do: `k8s.apiextensions.CustomResource` is the resource class, not
  the submodule of the same name (which a lazily loaded package would otherwise put back
  over the class when it runs);
- the recorded modules are those of site-packages, none of the program's; a run deletes the
  records of programs not run for two weeks, and no other file;
- an interrupted run (SIGINT from the engine to the host's process group, then from the host
  as it stops its children) ends by SIGINT with no traceback, its cleanup not cut short by
  the second interrupt; a warm process interrupted before its run arrives ends the same way;
  a program that fails of its own keeps its traceback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO

RUNNER = (REPO / "tools" / "language-python" / "runner.py").read_text(encoding="utf-8")

PROGRAM = """\
import sys
import pulumi_kubernetes as k8s
import wiring.context  # one of the program's own modules: never recorded
with open(sys.argv[1], "w") as f:
    f.write(repr((type(k8s.apiextensions.CustomResource).__name__,
                  "pulumi_kubernetes.apiextensions.CustomResource" in sys.modules)))
"""


def warm_run(tmp_path: Path, record: Path) -> str:
    executor, out = tmp_path / "executor", tmp_path / "out"
    executor.write_text(PROGRAM)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = {"dir": str(REPO), "env": env, "args": [str(out)]}
    subprocess.run(
        [sys.executable, "-u", "-c", RUNNER, "warm", str(record), str(executor)],
        input=json.dumps(run) + "\n",
        text=True,
        cwd=REPO,
        env=env,
        check=True,
    )
    return out.read_text()


def test_a_warm_start_keeps_the_kubernetes_sdks_names(tmp_path: Path):
    record = tmp_path / "record.json"
    record.write_text(
        json.dumps(
            [
                "pulumi_kubernetes",
                "pulumi_kubernetes.apiextensions",
                "pulumi_kubernetes.apiextensions.CustomResource",
            ]
        )
    )

    assert warm_run(tmp_path, record) == repr(("type", True))


def test_a_run_records_the_site_packages_modules_it_imported(tmp_path: Path):
    record = tmp_path / "record.json"  # none yet: a cold start of the warm process

    warm_run(tmp_path, record)

    recorded = json.loads(record.read_text())
    assert {"pulumi", "pulumi_kubernetes", "pulumi_kubernetes.apiextensions.CustomResource"} <= set(
        recorded
    )
    assert not [name for name in recorded if name.startswith(("wiring", "components", "__main__"))]


def test_a_run_deletes_the_records_of_programs_long_not_run(tmp_path: Path):
    records = tmp_path / "records"
    records.mkdir()
    stale, recent, other = records / "old.json", records / "recent.json", records / "notes.txt"
    for path in (stale, recent, other):
        path.write_text("[]")
    month_ago = time.time() - 30 * 24 * 3600
    os.utime(stale, (month_ago, month_ago))
    os.utime(other, (month_ago, month_ago))

    warm_run(tmp_path, records / "this.json")

    assert sorted(p.name for p in records.iterdir()) == ["notes.txt", "recent.json", "this.json"]


# Like the SDK's executor: the program runs in `try`, and its `finally` (the executor's
# shutdown) takes a moment, which the host's own interrupt lands in.
INTERRUPTIBLE = """\
import sys, time
marker = sys.argv[1]
open(marker, "w").write("running")
try:
    time.sleep(60)
finally:
    time.sleep(0.5)
    open(marker, "w").write("cleaned up")
"""


def await_text(path: Path, text: str) -> None:
    deadline = time.monotonic() + 20
    while not (path.exists() and path.read_text() == text):
        assert time.monotonic() < deadline, f"{path} never read {text!r}"
        time.sleep(0.02)


def start_runner(*args: str, stdin: int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-u", "-c", RUNNER, *args],
        stdin=stdin,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_an_interrupted_run_ends_quietly_after_its_cleanup(tmp_path: Path):
    executor, marker = tmp_path / "executor", tmp_path / "marker"
    executor.write_text(INTERRUPTIBLE)
    run = start_runner("run", "", str(executor), str(marker))
    await_text(marker, "running")

    run.send_signal(signal.SIGINT)  # the engine, to the host's process group
    time.sleep(0.1)
    run.send_signal(signal.SIGINT)  # the host, stopping what it started
    _, stderr = run.communicate(timeout=20)

    assert (run.returncode, stderr) == (-signal.SIGINT, "")
    assert marker.read_text() == "cleaned up"


def test_a_warm_process_interrupted_before_its_run_ends_quietly(tmp_path: Path):
    # The record names a module that says when the warm process is preloading.
    (tmp_path / "preloaded.py").write_text(f"open({str(tmp_path / 'marker')!r}, 'w').write('up')")
    record = tmp_path / "record.json"
    record.write_text(json.dumps(["preloaded"]))
    executor = tmp_path / "executor"
    executor.write_text("raise SystemExit('never run')")
    env_path = f"{tmp_path}{os.pathsep}{REPO}"
    warm = subprocess.Popen(
        [sys.executable, "-u", "-c", RUNNER, "warm", str(record), str(executor)],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": env_path},
    )
    await_text(tmp_path / "marker", "up")

    warm.send_signal(signal.SIGINT)
    _, stderr = warm.communicate(timeout=20)

    assert (warm.returncode, stderr) == (-signal.SIGINT, "")


def test_a_failing_program_keeps_its_traceback(tmp_path: Path):
    executor = tmp_path / "executor"
    executor.write_text("def main():\n    raise ValueError('broken on purpose')\nmain()\n")
    run = start_runner("run", "", str(executor))
    _, stderr = run.communicate(timeout=20)

    assert run.returncode == 1
    assert stderr.startswith("Traceback (most recent call last):")
    assert stderr.rstrip().endswith("ValueError: broken on purpose")
