"""SIGTERM handled as Ctrl-C (`go_platform.interrupt`); the engine-level proof, a driver
signalled mid-`up` releasing its lock, is tests/integration/test_driver_state.py's.

Invariants guarded:
- the first SIGTERM passes a SIGINT to the driver's child processes and returns, so the
  CLI can cancel as on Ctrl-C; `raise_if_requested` then stops the driver;
- with no child, or at a second SIGTERM, the driver stops at once (KeyboardInterrupt);
- Ctrl-C at a terminal (SIGINT, which the terminal sends the children too) is recorded the
  same way while a child runs, without signalling the children again; with none, or the
  second time, it stops at once; a SIGINT sent to the driver alone is passed on as a
  SIGTERM is;
- children are read from /proc, whatever the command names hold.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from go_platform import interrupt

WAITS_FOR_SIGINT = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGINT, lambda *_: (open(sys.argv[1], 'w').write('SIGINT'), "
    "sys.exit(0)))\n"
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


@pytest.fixture
def waiting_child(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A child of this process, ready, that writes `SIGINT` to the path it comes with and
    exits 0 when it gets one."""
    got, ready = tmp_path / "got", tmp_path / "ready"
    child = subprocess.Popen([sys.executable, "-c", WAITS_FOR_SIGINT, str(got), str(ready)])
    try:
        wait_for(ready)
        yield child, got
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize(
    ("handler", "signum"),
    [(interrupt.on_sigterm, 15), (interrupt.on_sigint, 2)],
    ids=["sigterm", "sigint-to-the-driver-alone"],
)
def test_the_first_signal_to_the_driver_alone_passes_a_sigint_to_the_children_and_returns(
    waiting_child, monkeypatch, handler, signum
):
    # CI's SIGTERM; `kill -INT`, `timeout -s INT`, a container's stop signal: no child got it.
    monkeypatch.setattr(interrupt, "in_terminal_foreground", lambda: False)
    child, got = waiting_child

    handler(signum, None)  # returns: the child ends the operation

    assert wait_for(got) == "SIGINT"
    assert child.wait(timeout=20) == 0
    assert interrupt.requested()
    with pytest.raises(KeyboardInterrupt):
        interrupt.raise_if_requested()
    with pytest.raises(KeyboardInterrupt):  # a second signal: stop now
        handler(signum, None)


def test_ctrl_c_with_a_child_running_returns_and_signals_nothing_again(waiting_child, monkeypatch):
    # The terminal sent its SIGINT to the whole process group: a second one would make
    # the Pulumi CLI stop at once, lock held. So the handler only records it.
    monkeypatch.setattr(interrupt, "in_terminal_foreground", lambda: True)
    child, got = waiting_child

    interrupt.on_sigint(2, None)  # returns: the child has its own SIGINT to act on

    time.sleep(0.3)
    assert child.poll() is None
    assert not got.exists() or not got.read_text()
    assert interrupt.requested()
    with pytest.raises(KeyboardInterrupt):
        interrupt.raise_if_requested()  # the next operation does not start
    with pytest.raises(KeyboardInterrupt):  # a second Ctrl-C: stop now
        interrupt.on_sigint(2, None)


def test_ctrl_c_with_no_child_stops_at_once(monkeypatch):
    monkeypatch.setattr(interrupt, "in_terminal_foreground", lambda: True)
    with pytest.raises(KeyboardInterrupt):
        interrupt.on_sigint(2, None)


def test_with_no_child_a_sigterm_stops_at_once():
    with pytest.raises(KeyboardInterrupt):
        interrupt.on_sigterm(15, None)
    assert interrupt.requested()


def test_without_a_sigterm_nothing_is_raised():
    interrupt.raise_if_requested()
    assert not interrupt.requested()


def test_children_are_read_from_proc_whatever_their_names(tmp_path):
    stats = {
        "101": "101 (pulumi) S 7 101 101 0",
        "102": "102 (odd) name (x)) S 7 102 102 0",
        "103": "103 (other) S 8 103 103 0",
        "self": "7 (driver) S 1 7 7 0",
    }
    for pid, stat in stats.items():
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "stat").write_text(stat)
    (tmp_path / "104").mkdir()  # ended before its stat was read

    assert interrupt.child_pids(7, tmp_path) == [101, 102]
    assert interrupt.child_pids(7, tmp_path / "absent") == []
