"""A subcommand's exit status, as both tools' main() report it."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType

from gobuild.errors import ToolError, os_error_message

# Signals that end a tool the way Ctrl-C does: `kill`, a CI job cancelled, a terminal closed.
TERMINATING = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the tool is, as Ctrl-C raises KeyboardInterrupt: so
    that what runs on an interrupt (a build's process group killed, the components of a
    failed start stopped) runs on these too. Python's default for them ends the process at
    once, and leaves the go compiler or the components running."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(self.name)


@contextlib.contextmanager
def terminations_raised() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise Terminated (the first of them: the cleanup it
    starts runs to its end, whatever follows). A signal ignored when we started (`nohup`)
    stays ignored. Outside the main thread signals cannot be handled: nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def terminate(signum: int, frame: FrameType | None) -> None:
        nonlocal raised
        if not raised:
            raised = True
            raise Terminated(signum)

    previous = {}
    for signum in TERMINATING:
        if signal.getsignal(signum) != signal.SIG_IGN:
            previous[signum] = signal.signal(signum, terminate)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def exit_status(
    tool: str,
    command: Callable[[], int],
    describe: Callable[[ToolError], list[str]] | None = None,
) -> int:
    """Run `command` (the chosen subcommand) and return the status to exit with: its own;
    1 for an expected failure, reported on stderr as `<tool>: error: <message>` (or as the
    lines `describe` makes of it), and for an operating system error (no permission, a full
    disk, a certificate OpenSSL refuses) as `<tool>: error: <path>: <reason>; <hint>`; 130
    for an interrupt, 128 + the signal's number for SIGTERM or SIGHUP. Never a traceback
    for any of them."""
    try:
        with terminations_raised():
            return int(command())
    except ToolError as error:
        _tell(*(describe(error) if describe else [f"{tool}: error: {error}"]))
        return 1
    except Terminated as terminated:
        _tell(f"{tool}: terminated ({terminated.name})")
        return 128 + terminated.signum
    except KeyboardInterrupt:
        _tell(f"{tool}: interrupted")
        return 130
    except OSError as error:
        _tell(f"{tool}: error: {os_error_message(error)}")
        return 1


def _tell(*lines: str) -> None:
    """Lines on stderr, if anyone reads it still (a closed terminal, a reader gone)."""
    with contextlib.suppress(OSError):
        for line in lines:
            print(line, file=sys.stderr, flush=True)
