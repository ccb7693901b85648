"""Runs the Python SDK's executor script for go-platform's language host (embedded in it).

    python -u -c RUNNER run  RECORD EXECUTOR [ARGS...]   run the executor now
    python -u -c RUNNER warm RECORD EXECUTOR             import, then wait for the run

`warm` is the host's warm start: the host starts it as soon as the engine names the program
(GetRequiredPackages, a second before the engine asks for the run), and it imports the
installed packages the program's last run imported, from RECORD. Then it reads one JSON line
on standard input, {"dir": ..., "env": {...}, "args": [...]}, takes that working directory,
environment and arguments, and runs the executor as `run` would. Nothing of the program's
own is imported before its environment is in place: only modules from the interpreter's
site-packages are recorded, and the Pulumi SDK reads its configuration from the environment
when asked, not at import.

Both modes, when the executor is done: record what this run imported from site-packages, for
the next warm start, and freeze the garbage collector's objects, so that the interpreter's
exit skips its final collection over them (about 0.25 s for a program that loaded the
kubernetes SDK; the engine waits for that exit). The rest of the exit is as usual:
non-daemon threads are joined and atexit handlers run. docs/PERFORMANCE.md (eighth round)
has the figures.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import runpy
import sys
import sysconfig


def preload(record: str) -> None:
    """Import the modules RECORD names; one that fails now is left for the program to meet."""
    try:
        with open(record, encoding="utf-8") as f:
            names = json.load(f)
    except (OSError, ValueError):
        return
    for name in names if isinstance(names, list) else ():
        if isinstance(name, str) and name not in sys.modules:
            with contextlib.suppress(Exception):  # the program's own import reports it
                importlib.import_module(name)


def await_run() -> dict | None:
    """The run the host sends, or None when the host closes the pipe without one."""
    line = sys.stdin.readline()
    if not line:
        return None
    # The program reads nothing from the host: its standard input is empty, as in a cold run.
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return json.loads(line)


def remember(record: str) -> None:
    """Write the names of the modules imported from site-packages, in import order."""
    roots = tuple(
        os.path.join(path, "")
        for path in {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    )
    names = [
        name
        for name, module in list(sys.modules.items())
        if (getattr(module, "__file__", None) or "").startswith(roots)
    ]
    partial = f"{record}.{os.getpid()}"
    with contextlib.suppress(OSError):  # a read-only cache costs the next run its warm start
        os.makedirs(os.path.dirname(record), exist_ok=True)
        with open(partial, "w", encoding="utf-8") as f:
            json.dump(names, f)
        os.replace(partial, record)


def main(argv: list[str]) -> None:
    mode, record, executor = argv[:3]
    sys.path[0] = os.path.dirname(executor)  # as if the executor were run as a script
    args = argv[3:]
    if mode == "warm":
        if record:
            preload(record)
        run = await_run()
        if run is None:
            return
        os.chdir(run["dir"])
        os.environ.clear()
        os.environ.update(run["env"])
        args = run["args"]
    sys.argv = [executor, *args]
    try:
        runpy.run_path(executor, run_name="__main__")
    finally:
        if record:
            remember(record)
        gc.freeze()


main(sys.argv[1:])
