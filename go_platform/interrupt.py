"""SIGTERM, as CI sends it to cancel a job, handled as Ctrl-C is on a terminal; and Ctrl-C.

The Pulumi CLI cancels gracefully on a SIGINT (the steps in flight finish, the state is
saved, the stack's lock is released) only while its engine runs: it listens for SIGINT from
just before the engine's first event to just after its summary. Outside those bounds Go's
default applies and a SIGINT kills it on the spot. That is harmless before it takes the
stack's lock, and not after: between taking the lock and starting the engine, and between
the engine's end and saving the state and releasing the lock, a SIGINT leaves the stack
locked (and, in the second gap, the update's last save unwritten, which on the embedded
cluster, whose updates skip checkpoints, is the only one). So the driver is the only one
to signal the CLI, and only while it listens:

- A SIGTERM, or a SIGINT sent to the driver alone (`kill -INT`, `timeout -s INT`, a
  container's stop signal), reaches the driver only. Raising KeyboardInterrupt at once
  would unwind the Automation API's call while the CLI runs: the CLI, writing to pipes
  nobody reads, would die holding the lock. Instead the first one passes a SIGINT on to the
  CLI: at once when its engine runs, else at the engine's first event (`engine_event`);
  a CLI that ends before, a helper command, is let finish. Other children of the driver get
  theirs at once. The driver then stops as on Ctrl-C (`raise_if_requested`, after each
  engine operation and before the next one starts). With nothing running it stops at once.
- A Ctrl-C at a terminal signals the terminal's whole foreground process group. The CLI is
  therefore started in a session of its own there (`ExecutableCommand.run`), out of the
  terminal's reach, and the Ctrl-C is passed on like a SIGTERM. What the terminal did
  signal (the driver's other children; a CLI started while the driver was not in the
  foreground) gets no second SIGINT.
- A closed terminal (SIGHUP to its foreground process group: a dropped SSH session)
  cancels the same way (`hangup_handler`); what the driver prints afterwards goes to
  /dev/null instead of failing on the terminal that is gone.
- A second signal stops the driver at once (KeyboardInterrupt) and gives a running engine
  its second SIGINT, after which the CLI stops without waiting for the steps in flight, as
  on a second Ctrl-C at its own terminal; the driver waits for it to end, and a third
  signal kills it (`ExecutableCommand.run` in workspace.py).

One CLI runs at a time (the Automation API's calls are sequential); `running_cli` records
it while it runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

_state_lock = threading.RLock()
"""Held by the signal handlers (the main thread) and `engine_event` (the event stream's
thread); reentrant, since a handler may run in the main thread while it holds it."""


@dataclass
class _Cli:
    shares_our_group: bool
    """Started in the driver's process group, where a Ctrl-C at the terminal reaches it."""
    listening: bool = False
    """Its engine runs: it has sent an event, and not yet its summary."""
    sigints: int = 0
    """How many SIGINTs it has been given (or, in the driver's group, got from the terminal)."""
    pid: int | None = None
    """None while it is being started."""


_cli: _Cli | None = None
_signals = 0
"""How many SIGTERMs, SIGINTs and SIGHUPs arrived while the command ran."""


def on_sigterm(signum: int, frame: object) -> None:
    """The SIGTERM handler (see the module docstring)."""
    _cancel(terminal_signalled_our_group=False)


def on_sigint(signum: int, frame: object) -> None:
    """The SIGINT handler: as on_sigterm, except that a Ctrl-C at the terminal has reached
    the children in the driver's process group itself (a CLI among them only when the
    driver was not at its terminal's foreground as it started the CLI)."""
    _cancel(terminal_signalled_our_group=in_terminal_foreground())


def hangup_handler() -> Callable[[int, object], None]:
    """The SIGHUP handler: a closed terminal (a dropped SSH session) cancels as Ctrl-C does.
    The hangup reached the terminal's foreground process group; the CLI, in a session of
    its own, did not, and is passed a SIGINT as on_sigterm passes it. What the driver then
    prints to the terminal, now gone, goes to /dev/null instead of failing: the terminals
    are the ones its output went to as the handler was made."""
    terminals = [fd for fd in (1, 2) if os.isatty(fd)]

    def on_sighup(signum: int, frame: object) -> None:
        if terminals:
            nowhere = os.open(os.devnull, os.O_WRONLY)
            for fd in terminals:
                os.dup2(nowhere, fd)
            os.close(nowhere)
        _cancel(terminal_signalled_our_group=True)

    return on_sighup


def _cancel(*, terminal_signalled_our_group: bool) -> None:
    global _signals
    with _state_lock:
        _signals += 1
        if _cli is not None and _cli.shares_our_group and terminal_signalled_our_group:
            _cli.sigints += 1
        if _signals > 1:
            _give_the_engine_a_sigint(2)
            raise KeyboardInterrupt
        # A CLI being started is a child whose pid is not known yet: with it, nothing else
        # runs, and nothing is signalled before its engine runs.
        starting = _cli is not None and _cli.pid is None
        others = [] if starting else [pid for pid in child_pids(os.getpid()) if not _is_cli(pid)]
        if _cli is None and not others:
            raise KeyboardInterrupt
        for pid in [] if terminal_signalled_our_group else others:
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.kill(pid, signal.SIGINT)
        _give_the_engine_a_sigint(1)


def _is_cli(pid: int) -> bool:
    return _cli is not None and _cli.pid == pid


def _give_the_engine_a_sigint(count: int) -> None:
    """Bring the CLI's SIGINTs up to `count` while its engine runs; otherwise
    `engine_event` does it at the engine's first event."""
    if _cli is None or _cli.pid is None or not _cli.listening:
        return
    while _cli.sigints < count:
        _cli.sigints += 1
        with contextlib.suppress(ProcessLookupError):
            os.kill(_cli.pid, signal.SIGINT)


def engine_event(running: bool) -> None:
    """An engine event of the running CLI arrived: `running` unless it is the summary (or
    the last event). A cancel that came before the engine ran is passed on now."""
    with _state_lock:
        if _cli is None:
            return
        _cli.listening = running
        if _signals:
            _give_the_engine_a_sigint(min(_signals, 2))


@contextlib.contextmanager
def running_cli(*, shares_our_group: bool) -> Iterator[Callable[[int], None]]:
    """Record a CLI from before it is started (a signal may come while it starts) to its
    end; the caller gives its pid, once started, to the function this yields."""
    global _cli
    cli = _Cli(shares_our_group)
    with _state_lock:
        _cli = cli

    def started(pid: int) -> None:
        with _state_lock:
            cli.pid = pid

    try:
        yield started
    finally:
        with _state_lock:
            _cli = None


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
    return _signals > 0


def raise_if_requested() -> None:
    """After an operation that a passed-on SIGINT ended, or before the next one starts:
    stop as on Ctrl-C."""
    if requested():
        raise KeyboardInterrupt


def reset() -> None:
    """Forget a SIGTERM or Ctrl-C (for a process that runs more than one command, as tests
    do)."""
    global _signals
    with _state_lock:
        _signals = 0


def child_pids(parent: int, proc: Path = Path("/proc")) -> list[int]:
    """The running processes whose parent is `parent`, read from /proc (none where there
    is none); not the zombies, which have ended and wait to be reaped."""
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
        if len(fields) > 1 and fields[1] == str(parent) and fields[0] != "Z":
            children.append(int(entry.name))
    return sorted(children)
