"""Runs the Python SDK's executor script for go-platform's language host (embedded in it).

    python -u -c RUNNER run  RECORD EXECUTOR [ARGS...]   run the executor now
    python -u -c RUNNER warm RECORD EXECUTOR             import, then wait for the run

`warm` is the host's warm start: the host starts it when a policy pack starts (most of a
second before the engine asks for the run, which waits for the pack), and it imports the
installed packages the program's last run imported, from RECORD, until the run arrives: one
JSON line on standard input, {"dir": ..., "env": {...}, "args": [...]}. It takes that working
directory, environment and arguments, and runs the executor as `run` would; the program
imports whatever was not preloaded yet. Nothing of the program's own is imported before its
environment is in place: only modules from the interpreter's site-packages are recorded, and
the Pulumi SDK reads its configuration from the environment when asked, not at import.

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
import threading
import time


def preload(record: str, run_arrived: threading.Event) -> None:
    """Import the modules RECORD names, in the order the last run loaded them, until the
    run arrives (the program then imports the rest itself); one that fails now is left for
    the program to meet.

    A module is imported only if running its packages did not import it. Pulumi's SDKs load
    subpackages lazily (a `_LazyModule`, run at its first attribute access) and bind names
    like their submodules' (`from .CustomResource import *` binds the class
    `CustomResource`). A submodule imported by name into a lazy package not yet run is set
    on the package as an attribute, and when the package does run, the lazy module puts
    that attribute back over the class. So each lazy package is run first, as the program's
    own attribute access did.
    """
    try:
        with open(record, encoding="utf-8") as f:
            names = json.load(f)
    except (OSError, ValueError):
        return
    for name in names if isinstance(names, list) else ():
        if run_arrived.is_set():
            return
        if not isinstance(name, str) or name in sys.modules:
            continue
        parts = name.split(".")
        for depth in range(1, len(parts)):  # outermost first
            package = sys.modules.get(".".join(parts[:depth]))
            if type(package).__name__ == "_LazyModule":
                with contextlib.suppress(Exception):
                    getattr(package, "__go_platform_warm_start__", None)  # runs it
        if name not in sys.modules:
            with contextlib.suppress(Exception):  # the program's own import reports it
                importlib.import_module(name)


class RunRequest:
    """The one line the host sends, read on a thread of its own, so that preloading can stop
    the moment it arrives."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self._line = b""
        threading.Thread(target=self._read, name="warm-start-run", daemon=True).start()

    def _read(self) -> None:
        self._line = sys.stdin.buffer.readline()
        self.arrived.set()

    def wait(self) -> dict | None:
        """The run, or None when the host closed the pipe without one."""
        self.arrived.wait()
        if not self._line:
            return None
        # The program reads nothing from the host: its standard input is empty, as when cold.
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        return json.loads(self._line)


RECORD_LIFETIME = 14 * 24 * 3600
"""A record not rewritten for this long (its program not run) is deleted by the next run that
writes one: programs in temporary directories (tests) leave records behind."""


def remember(record: str) -> None:
    """Write the names of the modules imported from site-packages, in import order, and
    delete the records of programs not run for RECORD_LIFETIME."""
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
        stale = time.time() - RECORD_LIFETIME
        for entry in os.scandir(os.path.dirname(record)):
            if entry.name.endswith(".json") and entry.stat().st_mtime < stale:
                os.remove(entry.path)


def main(argv: list[str]) -> None:
    mode, record, executor = argv[:3]
    sys.path[0] = os.path.dirname(executor)  # as if the executor were run as a script
    args = argv[3:]
    if mode == "warm":
        sys.argv = [executor]  # what modules that look at it see, until the run's arguments
        request = RunRequest()
        if record:
            preload(record, request.arrived)
        run = request.wait()
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
