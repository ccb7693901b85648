"""SIGTERM, as CI sends it to cancel a job, handled as Ctrl-C is on a terminal; and Ctrl-C.

Ctrl-C reaches the whole process group: the Pulumi CLI the driver runs gets its SIGINT too,
cancels gracefully (the steps in flight finish, the state is saved, the stack's lock is
released) and exits. A SIGTERM sent to the driver alone reaches only the driver. Raising
KeyboardInterrupt there at once would unwind the Automation API's call while the CLI still
runs: the SDK closes the CLI's output pipes under it (its reader threads print tracebacks),
and the CLI, writing to a closed pipe, dies holding the lock.

So the first SIGTERM passes a SIGINT on to the driver's own child processes and lets the
operation end the way the CLI ends it; the driver then stops as it does on Ctrl-C
(`raise_if_requested`, after each engine operation and before the next one starts). With
no child running, or at a second SIGTERM, it stops at once.

Ctrl-C at a terminal is handled the same way, less the passing on: the terminal has sent
its SIGINT to the whole foreground process group, the children included, and a second
SIGINT makes the Pulumi CLI stop at once, lock held. A SIGINT sent to the driver alone
(`kill -INT`, `timeout -s INT`, a container's stop signal) reached no child, and is passed
on as a SIGTERM's is. Python's default, a KeyboardInterrupt in the middle of the
Automation API's call, is what the paragraph above describes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path

_requested = threading.Event()


def on_sigterm(signum: int, frame: object) -> None:
    """The SIGTERM handler (see the module docstring)."""
    children = [] if _requested.is_set() else child_pids(os.getpid())
    _requested.set()
    if not children:
        raise KeyboardInterrupt
    for pid in children:
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.kill(pid, signal.SIGINT)


def on_sigint(signum: int, frame: object) -> None:
    """The SIGINT handler (see the module docstring): at a terminal, as on_sigterm without
    signalling the children again; sent to the driver alone, as on_sigterm."""
    if not in_terminal_foreground():
        on_sigterm(signum, frame)
        return
    running = not _requested.is_set() and bool(child_pids(os.getpid()))
    _requested.set()
    if not running:
        raise KeyboardInterrupt


def in_terminal_foreground() -> bool:
    """Whether the driver runs in the foreground process group of its terminal, where a
    Ctrl-C reaches every process of that group."""
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            if os.isatty(fd):
                return os.tcgetpgrp(fd) == os.getpgrp()
    return False


def requested() -> bool:
    """Whether a SIGTERM or a Ctrl-C arrived."""
    return _requested.is_set()


def raise_if_requested() -> None:
    """After an operation that a passed-on SIGINT ended, or before the next one starts:
    stop as on Ctrl-C."""
    if _requested.is_set():
        raise KeyboardInterrupt


def reset() -> None:
    """Forget a SIGTERM or Ctrl-C (for a process that runs more than one command, as tests
    do)."""
    _requested.clear()


def child_pids(parent: int, proc: Path = Path("/proc")) -> list[int]:
    """The processes whose parent is `parent`, read from /proc (none where there is none)."""
    children = []
    try:
        entries = list(proc.iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it ended meanwhile
            continue
        # pid (comm) state ppid ...: the command name may hold spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[1] == str(parent):
            children.append(int(entry.name))
    return sorted(children)
