"""The language host's warm start (tools/language-python/runner.py) with the SDKs it preloads.

Invariants guarded:
- preloading the modules a Pulumi program imported leaves the kubernetes SDK's names as the
  program's own imports do: `k8s.apiextensions.CustomResource` is the resource class, not
  the submodule of the same name (which a lazily loaded package would otherwise put back
  over the class when it runs);
- the recorded modules are those of site-packages, none of the program's; a run deletes the
  records of programs not run for two weeks, and no other file.
"""

from __future__ import annotations

import json
import os
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
