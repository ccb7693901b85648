"""Background processes that outlive the command that started them, tracked by PID.

Each component runs in a process group of its own (so stopping it takes whatever it
spawned too). A PID is only trusted together with the start time the kernel recorded for
it, so a recycled PID is never mistaken for a component and never signalled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in {"Z", "X"}:
        return None
    return int(fields[19])


@dataclasses.dataclass(frozen=True)
class Tracked:
    """A component process as recorded in the cluster's state file."""

    component: str
    pid: int
    ticks: int
    command: tuple[str, ...]
    log: str

    def alive(self) -> bool:
        return start_ticks(self.pid) == self.ticks

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "command": list(self.command)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tracked:
        return cls(
            component=str(data["component"]),
            pid=int(data["pid"]),
            ticks=int(data["ticks"]),
            command=tuple(data["command"]),
            log=str(data["log"]),
        )


LOG_ROTATE_BYTES = 16 * 2**20
"""A component's log past this size at a start is kept as `<name>.log.1` (replacing the one
before) and begun anew: a cluster started every day for months fills no disk."""


def rotated(log: Path) -> None:
    """Move `log` to `<log>.1` when it has grown past LOG_ROTATE_BYTES."""
    try:
        if log.stat().st_size > LOG_ROTATE_BYTES:
            log.replace(log.with_name(log.name + ".1"))
    except FileNotFoundError:
        pass


def spawn(
    component: str,
    argv: Sequence[str],
    log: Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
) -> tuple[Tracked, subprocess.Popen[bytes]]:
    """Start `argv` detached from our terminal, its output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    rotated(log)
    with log.open("ab") as sink:
        sink.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S%z')} starting {component}\n".encode())
        sink.flush()
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ticks = start_ticks(process.pid)
    if ticks is None:  # died at once; report it through the caller's health wait
        ticks = -1
    return Tracked(component, process.pid, ticks, tuple(argv), str(log)), process


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        # Our components lead their own group; only then signal the group as a whole.
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.getpgid(int(entry.name)) == pgid and start_ticks(int(entry.name)) is not None:
                members.append(int(entry.name))
    return members


def terminate(processes: Iterable[Tracked], grace_seconds: float) -> list[Tracked]:
    """SIGTERM every live process group, SIGKILL what outlives the grace period.

    Returns the processes still alive afterwards (none, unless the kernel refused)."""
    live = [process for process in processes if process.alive()]
    for process in live:
        _signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and any(_lingers(process) for process in live):
        time.sleep(0.1)
    for process in live:
        if _lingers(process):
            _signal_group(process.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_lingers(process) for process in live):
        time.sleep(0.1)
    for process in live:
        _reap(process.pid)
    return [process for process in live if _lingers(process)]


def _reap(pid: int) -> None:
    """Collect `pid`'s exit status when it was our own child (a start that failed stops
    what it started itself), so no zombie of it outlives the stop in a process that goes
    on; for any other process, nothing."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _lingers(process: Tracked) -> bool:
    """The process itself, or anything left in its group."""
    return process.alive() or bool(_group_members(process.pid))


def strays(executables: Iterable[Path], marker: str) -> list[int]:
    """PIDs running one of `executables` with `marker` (the data directory) in their
    arguments: components an interrupted start or a lost state file left behind."""
    wanted = {str(path) for path in executables}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            executable = os.readlink(entry / "exe")
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        executable = executable.removesuffix(" (deleted)")
        if executable in wanted and any(marker.encode() in argument for argument in arguments):
            found.append(int(entry.name))
    return found


def kill_strays(pids: Iterable[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
