"""SIGTERM handled as Ctrl-C (`go_platform.interrupt`); the engine-level proof, a driver
signalled mid-`up` releasing its lock, is tests/integration/test_driver_state.py's.

Invariants guarded:
- the CLI gets a SIGINT only while its engine runs (from its first engine event to its
  summary), where it cancels; outside that it would die of one, lock held: a SIGTERM, or
  a SIGINT to the driver alone, that comes earlier is passed on at the engine's first
  event, and one that comes after the summary, or during a command that runs no engine, is
  not passed on; `raise_if_requested` then stops the driver;
- other children of the driver get their SIGINT at once;
- a Ctrl-C at a terminal is passed on the same way to a CLI in a session of its own; a CLI
  in the driver's process group got it from the terminal, and gets no second one;
- with nothing running the driver stops at once (KeyboardInterrupt); a second signal stops
  it at once too and gives a running engine its second SIGINT (the CLI's own "terminate
  immediately");
- a closed terminal (SIGHUP) cancels as Ctrl-C does, and the driver's printing to the
  terminal that is gone then fails nothing;
- a signal while a CLI is being started (its pid not known yet) signals nothing;
- running children are read from /proc, whatever the command names hold; zombies are not
  children that run.
"""

from __future__ import annotations

import fcntl
import os
import pty
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from go_platform import interrupt

COUNTS_SIGINTS = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGINT, lambda *_: open(sys.argv[1], 'a').write('SIGINT\\n'))\n"
    "open(sys.argv[2], 'w').write('ready')\n"
    "time.sleep(60)\n"
)


@pytest.fixture(autouse=True)
def no_sigterm_yet() -> Iterator[None]:
    interrupt.reset()
    yield
    interrupt.reset()


def wait_for(path: Path, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.05)
    return path.read_text()


class Child:
    """A child of this process that counts the SIGINTs it gets."""

    def __init__(self, tmp_path: Path, name: str) -> None:
        self.got = tmp_path / f"{name}-got"
        ready = tmp_path / f"{name}-ready"
        self.process = subprocess.Popen(
            [sys.executable, "-c", COUNTS_SIGINTS, str(self.got), str(ready)]
        )
        wait_for(ready)

    def sigints(self, expected: int) -> int:
        """The SIGINTs it has got: once `expected` have arrived (or 20 s have passed), and
        a moment later, so that one more sent would have arrived too."""
        deadline = time.monotonic() + 20
        while self._count() < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        return self._count()

    def _count(self) -> int:
        return self.got.read_text().count("SIGINT") if self.got.exists() else 0

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def child(tmp_path: Path) -> Iterator[Child]:
    started = Child(tmp_path, "child")
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Child]:
    started = Child(tmp_path, "cli")
    try:
        with interrupt.running_cli(shares_our_group=False) as cli_started:
            cli_started(started.process.pid)
            yield started
    finally:
        started.stop()


SIGNALS_TO_THE_DRIVER_ALONE = pytest.mark.parametrize(
    ("handler", "signum"),
    [(interrupt.on_sigterm, 15), (interrupt.on_sigint, 2)],
    ids=["sigterm", "sigint-to-the-driver-alone"],
)


@pytest.fixture
def not_at_a_terminal(monkeypatch):
    monkeypatch.setattr(interrupt, "in_terminal_foreground", lambda: False)


@SIGNALS_TO_THE_DRIVER_ALONE
def test_a_signal_while_the_engine_runs_gives_the_cli_its_sigint_at_once(
    cli, not_at_a_terminal, handler, signum
):
    interrupt.engine_event(running=True)

    handler(signum, None)  # returns: the CLI ends the operation

    assert cli.sigints(1) == 1
    assert interrupt.requested()
    with pytest.raises(KeyboardInterrupt):
        interrupt.raise_if_requested()
    interrupt.engine_event(running=True)  # more events: nothing more is sent
    assert cli.sigints(1) == 1


@SIGNALS_TO_THE_DRIVER_ALONE
def test_a_signal_before_the_engine_runs_is_passed_on_at_its_first_event(
    cli, not_at_a_terminal, handler, signum
):
    # The CLI has taken the stack's lock but not started its engine: a SIGINT now would
    # kill it, lock held.
    handler(signum, None)
    assert cli.sigints(0) == 0

    interrupt.engine_event(running=True)

    assert cli.sigints(1) == 1


@SIGNALS_TO_THE_DRIVER_ALONE
def test_a_signal_while_the_cli_is_being_started_signals_nothing_until_its_engine_runs(
    tmp_path, not_at_a_terminal, handler, signum
):
    # Between its fork and the driver learning its pid, the CLI is a child like any other:
    # it must not be signalled as one.
    with interrupt.running_cli(shares_our_group=False) as cli_started:
        cli = Child(tmp_path, "cli")
        try:
            handler(signum, None)  # returns: a CLI is starting
            assert cli.sigints(0) == 0

            cli_started(cli.process.pid)
            interrupt.engine_event(running=True)

            assert cli.sigints(1) == 1
        finally:
            cli.stop()


@SIGNALS_TO_THE_DRIVER_ALONE
def test_after_the_engines_summary_nothing_is_passed_on(cli, not_at_a_terminal, handler, signum):
    # The engine is done; the CLI saves the state and releases the lock, and a SIGINT would
    # kill it before it has.
    interrupt.engine_event(running=True)
    interrupt.engine_event(running=False)

    handler(signum, None)

    assert cli.sigints(0) == 0
    with pytest.raises(KeyboardInterrupt):
        interrupt.raise_if_requested()  # the driver stops once the CLI has ended


def test_a_command_without_an_engine_is_let_finish(cli, not_at_a_terminal):
    interrupt.on_sigterm(15, None)

    assert cli.sigints(0) == 0
    assert cli.process.poll() is None
    assert interrupt.requested()


@SIGNALS_TO_THE_DRIVER_ALONE
def test_a_second_signal_stops_at_once_and_gives_the_engine_its_second_sigint(
    cli, not_at_a_terminal, handler, signum
):
    interrupt.engine_event(running=True)
    handler(signum, None)
    assert cli.sigints(1) == 1

    with pytest.raises(KeyboardInterrupt):
        handler(signum, None)

    assert cli.sigints(2) == 2


def test_a_second_signal_before_the_engine_runs_gives_it_both_at_its_first_event(
    cli, not_at_a_terminal
):
    interrupt.on_sigterm(15, None)
    with pytest.raises(KeyboardInterrupt):
        interrupt.on_sigterm(15, None)
    assert cli.sigints(0) == 0

    interrupt.engine_event(running=True)

    assert cli.sigints(1) >= 1  # two signals sent at once may arrive as one


@SIGNALS_TO_THE_DRIVER_ALONE
def test_other_children_get_their_sigint_at_once(child, not_at_a_terminal, handler, signum):
    handler(signum, None)  # returns: the child ends what it was doing

    assert child.sigints(1) == 1
    with pytest.raises(KeyboardInterrupt):  # a second signal: stop now
        handler(signum, None)


def test_ctrl_c_at_a_terminal_is_passed_on_to_a_cli_in_a_session_of_its_own(cli, monkeypatch):
    monkeypatch.setattr(interrupt, "in_terminal_foreground", lambda: True)
    interrupt.engine_event(running=True)

    interrupt.on_sigint(2, None)

    assert cli.sigints(1) == 1


def test_ctrl_c_at_a_terminal_is_not_repeated_to_what_the_terminal_signalled(tmp_path, monkeypatch):
    # A CLI started in the driver's process group (the driver was not in the terminal's
    # foreground then) and the driver's other children got the terminal's SIGINT
    # themselves: a second one would make the CLI stop at once.
    monkeypatch.setattr(interrupt, "in_terminal_foreground", lambda: True)
    shared, other = Child(tmp_path, "cli"), Child(tmp_path, "other")
    try:
        with interrupt.running_cli(shares_our_group=True) as cli_started:
            cli_started(shared.process.pid)
            interrupt.engine_event(running=True)

            interrupt.on_sigint(2, None)

            assert shared.sigints(0) == 0
            assert other.sigints(0) == 0
            with pytest.raises(KeyboardInterrupt):  # a second Ctrl-C: stop now
                interrupt.on_sigint(2, None)
            assert shared.sigints(0) == 0
    finally:
        shared.stop()
        other.stop()


@pytest.mark.parametrize("terminal", [True, False], ids=["ctrl-c", "sigint-to-the-driver"])
def test_with_nothing_running_a_sigint_stops_at_once(monkeypatch, terminal):
    monkeypatch.setattr(interrupt, "in_terminal_foreground", lambda: terminal)
    with pytest.raises(KeyboardInterrupt):
        interrupt.on_sigint(2, None)
    assert interrupt.requested()


def test_with_nothing_running_a_sigterm_stops_at_once():
    with pytest.raises(KeyboardInterrupt):
        interrupt.on_sigterm(15, None)
    assert interrupt.requested()


def test_without_a_sigterm_nothing_is_raised():
    interrupt.raise_if_requested()
    assert not interrupt.requested()


def test_a_cli_is_forgotten_once_it_has_ended(tmp_path, not_at_a_terminal):
    ended = Child(tmp_path, "ended")
    with interrupt.running_cli(shares_our_group=False) as cli_started:
        cli_started(ended.process.pid)
        interrupt.engine_event(running=True)
    ended.stop()

    with pytest.raises(KeyboardInterrupt):  # nothing runs any more
        interrupt.on_sigterm(15, None)


HANGS_UP = (
    "import signal, sys, time\n"
    "from go_platform import interrupt\n"
    "signal.signal(signal.SIGHUP, interrupt.hangup_handler())\n"
    "try:\n"
    "    print('ready', flush=True)\n"
    "    time.sleep(60)\n"
    "except KeyboardInterrupt:\n"  # nothing ran: the hangup stopped it at once
    "    for _ in range(1000):\n"
    "        print('interrupted: written to a terminal that is gone', flush=True)\n"
    "    open(sys.argv[1], 'w').write('carried on')\n"
)


def test_a_closed_terminal_stops_the_driver_whose_output_then_goes_nowhere(tmp_path):
    terminal, its_side = pty.openpty()
    written = tmp_path / "written"
    driver = subprocess.Popen(
        [sys.executable, "-c", HANGS_UP, str(written)],
        stdin=its_side,
        stdout=its_side,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    os.close(its_side)
    try:
        assert os.read(terminal, 100).startswith(b"ready")
    finally:
        os.close(terminal)  # the terminal hangs up: SIGHUP to its foreground group

    _, errors = driver.communicate(timeout=30)

    assert driver.returncode == 0, errors.decode()
    assert written.read_text() == "carried on"


def test_running_children_are_read_from_proc_whatever_their_names(tmp_path):
    stats = {
        "101": "101 (pulumi) S 7 101 101 0",
        "102": "102 (odd) name (x)) S 7 102 102 0",
        "103": "103 (other) S 8 103 103 0",
        "105": "105 (ended) Z 7 105 105 0",  # a zombie: nothing left to signal
        "self": "7 (driver) S 1 7 7 0",
    }
    for pid, stat in stats.items():
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "stat").write_text(stat)
    (tmp_path / "104").mkdir()  # ended before its stat was read

    assert interrupt.child_pids(7, tmp_path) == [101, 102]
    assert interrupt.child_pids(7, tmp_path / "absent") == []
