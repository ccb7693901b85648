"""The commands of a build step: short ones captured, long ones logged with a heartbeat.

A command that fails is a StepError naming the step and the shell line that reruns it as
the step ran it; a command that is not installed is a one-line ToolError.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from gobuild.errors import StepError, ToolError
from gobuild.progress import Progress

HEARTBEAT_SECONDS = 30.0
LOG_TAIL_LINES = 25
# How long an interrupted command's group has between SIGTERM and SIGKILL.
KILL_GRACE_SECONDS = 10.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

Count = Callable[[int, int], str]
"""What a heartbeat says of a logged command's output, given how many lines its log has now
and had when the command started."""


def lines_written(now: int, start: int) -> str:
    """The default heartbeat count: the lines the command has added to its log."""
    return f"{now - start} log lines"


def shell_command(argv: Sequence[str], env: Mapping[str, str]) -> str:
    """The shell words that run `argv` with `env` added: `VAR=value ... argv`, quoted."""
    assignments = "".join(f"{key}={shlex.quote(value)} " for key, value in env.items())
    return f"{assignments}{shlex.join(argv)}"


def command_line(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> str:
    """The shell line that reruns `argv` as a step ran it: `cd DIR && VAR=value ... argv`."""
    return f"cd {shlex.quote(str(cwd))} && {shell_command(argv, env)}"


def _not_found(step: str, argv: Sequence[str]) -> ToolError:
    return ToolError(f"step '{step}': command not found: {argv[0]}")


def capture(
    step: str,
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    *,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a short command (`env` added to ours) and return what it printed; with `check`,
    a non-zero exit is a StepError with the last line the command printed."""
    extra = dict(env or {})
    try:
        result = subprocess.run(
            list(argv),
            cwd=cwd,
            env={**os.environ, **extra},
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise _not_found(step, argv) from None
    if check and result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        detail = lines[-1] if lines else f"exit status {result.returncode}"
        raise StepError(step, command_line(argv, cwd, extra), None, detail)
    return result


def run_logged(
    step: str,
    argv: Sequence[str],
    cwd: Path,
    log: Path,
    progress: Progress,
    env: Mapping[str, str] | None = None,
    *,
    count: Count = lines_written,
) -> None:
    """Run a long command with its output appended to `log` and a heartbeat on stderr every
    HEARTBEAT_SECONDS; when it fails, show the last lines of the log and raise StepError.

    The command leads a process group of its own: when we are interrupted (Ctrl-C, or
    SIGTERM and SIGHUP, which the tools' exit_status raises as Terminated), we take the
    whole group (go runs compilers) with us. Should we die without a word (SIGKILL), the
    kernel sends the command SIGTERM (on Linux)."""
    extra = dict(env or {})
    command = command_line(argv, cwd, extra)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as sink:
        sink.write(f"\n$ {command}\n")
        sink.flush()
        first_line = count_lines(log)
        started = time.monotonic()
        try:
            process = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env={**os.environ, **extra},
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_dies_with_parent(),
            )
        except FileNotFoundError:
            raise _not_found(step, argv) from None
        try:
            while True:
                try:
                    returncode = process.wait(timeout=HEARTBEAT_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    progress.say(
                        f"      still running: {step}"
                        f" ({progress.duration(time.monotonic() - started)},"
                        f" {count(count_lines(log), first_line)})"
                    )
        except BaseException:
            _kill_group(process)
            raise
    if returncode != 0:
        lines = tail(log)
        if lines:
            progress.say(f"      last lines of {log}:")
            for line in lines:
                progress.say(f"      | {line}")
        raise StepError(step, command, log, f"exit status {returncode}")


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group `process` leads, SIGKILL it if it outlives the grace."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=KILL_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _dies_with_parent() -> Callable[[], None] | None:
    """For Popen's preexec_fn, on Linux: the child gets SIGTERM when we die, whatever
    kills us. None elsewhere, or when the C library cannot be loaded."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    parent = os.getpid()

    def arrange() -> None:  # in the child, between fork and exec
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # we died before the line above: nobody would tell it
            os.kill(os.getpid(), signal.SIGTERM)

    return arrange


def count_lines(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            return sum(1 for _ in handle)
    except FileNotFoundError:
        return 0


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last lines of a log; none if it does not exist."""
    try:
        content = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    return content[-lines:]
