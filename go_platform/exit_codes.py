"""The driver's exit codes, and the error that carries one to the command line.

CI branches on these numbers (a drift job alerts on 2, a canary job on 5), so they are a
public interface: docs/driver.md and the README list them, and tests pin them.
"""

from __future__ import annotations

import traceback
from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    """The engine or an operation failed (resource errors, a program error, no CLI)."""
    DRIFT = 2
    """`drift`: the stack's resources differ from the state."""
    POLICY = 3
    """A mandatory policy of the pack was violated; nothing (more) was changed."""
    PREFLIGHT = 4
    """A preflight check failed; nothing was deployed."""
    ROLLED_BACK = 5
    """`canary promote`: the canary failed its analysis and was rolled back."""
    LOCKED = 6
    """Another update holds the stack's lock."""
    PENDING = 7
    """The state holds operations an interrupted update left pending; nothing was changed."""
    USAGE = 64
    """Bad arguments, or an invalid stack configuration (EX_USAGE of sysexits.h)."""


RESULTS: dict[ExitCode, str] = {
    ExitCode.OK: "succeeded",
    ExitCode.FAILED: "failed",
    ExitCode.DRIFT: "drift",
    ExitCode.POLICY: "policy-violation",
    ExitCode.PREFLIGHT: "preflight-failed",
    ExitCode.ROLLED_BACK: "rolled-back",
    ExitCode.LOCKED: "locked",
    ExitCode.PENDING: "pending-operations",
    ExitCode.USAGE: "usage-error",
}
"""The `result` word of the JSON summary for each exit code."""

MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.FAILED: "the engine or an operation failed",
    ExitCode.DRIFT: "drift: resources differ from the state",
    ExitCode.POLICY: "a mandatory policy was violated",
    ExitCode.PREFLIGHT: "a preflight check failed; nothing was deployed",
    ExitCode.ROLLED_BACK: "the canary failed its analysis and was rolled back",
    ExitCode.LOCKED: "the stack is locked by another update",
    ExitCode.PENDING: "an interrupted update left pending operations; nothing was changed",
    ExitCode.USAGE: "bad arguments or an invalid stack configuration",
}


class DriverError(Exception):
    """A failure the driver explains in a few lines and ends with `code`; never a traceback."""

    def __init__(self, code: ExitCode, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.code = code
        self.lines = list(lines)


def usage_error(*lines: str) -> DriverError:
    return DriverError(ExitCode.USAGE, *lines)


def unexpected(error: BaseException) -> str:
    """One line for an exception the driver did not expect (a bug): its type and where it
    was raised. Not its message, which may quote any value, a secret too."""
    frames = traceback.extract_tb(error.__traceback__) if error.__traceback__ else []
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    detail = f" ({error.strerror})" if isinstance(error, OSError) and error.strerror else ""
    return f"unexpected {error.__class__.__name__}{detail}{where}; please report this bug"
