"""Expected failures: reported as a short message, never as a traceback; and the one line
an operating system error (no permission, a full disk, a certificate OpenSSL refuses) is
reported as."""

from __future__ import annotations

import errno
import os
import pwd
import re
import shlex
import ssl
from pathlib import Path


class ToolError(Exception):
    """An expected failure: reported as a short message, never as a traceback.

    Each tool raises a subclass of its own; the shared helpers raise ToolError itself, so
    whatever reports failures catches ToolError."""


class StepError(ToolError):
    """A command of a build step exited non-zero."""

    def __init__(self, step: str, command: str, log: Path | None, detail: str) -> None:
        self.step = step
        self.command = command
        self.log = log
        self.detail = detail
        super().__init__(f"step '{step}' failed: {detail}")

    def rerun_lines(self) -> list[str]:
        """Where the command's output is (if it was logged) and the line that reruns it."""
        logged = [f"  log:   {self.log}"] if self.log else []
        return [*logged, f"  rerun: {self.command}"]


def os_error_reason(error: OSError) -> str:
    """What went wrong, in the words of the system, without Python's decoration: `permission
    denied`, `no space left on device`; for a TLS error, OpenSSL's words without the
    source line (`[X509: KEY_VALUES_MISMATCH] key values mismatch`)."""
    if isinstance(error, ssl.SSLError):
        return re.sub(r"\s*\(_ssl\.c:\d+\)$", "", error.strerror or str(error))
    if error.strerror:
        return error.strerror[:1].lower() + error.strerror[1:]
    return str(error) or type(error).__name__


def os_error_message(error: OSError) -> str:
    """`<path>: <reason>; <hint>`, the path and the hint where there are any: the
    message of an operating system error a tool reports in one line."""
    reason = os_error_reason(error)
    path = error.filename
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, str):
        return reason
    # An SSLError's number is OpenSSL's, not the system's: it has no hint of ours.
    hint = None if isinstance(error, ssl.SSLError) else os_error_hint(error.errno, Path(path))
    return f"{path}: {reason}" + (f"; {hint}" if hint else "")


def os_error_hint(number: int | None, path: Path) -> str | None:
    """What to do about error `number` on `path`, when there is something to say."""
    if number in (errno.EACCES, errno.EPERM):
        found = _nearest_existing(path)
        if found is None:
            return None
        there, owner = found
        me = os.geteuid()
        if owner == me:
            return f"check its permissions: `ls -ld {shlex.quote(str(there))}`"
        user = _user_name(me)
        return (
            f"{there} is owned by {_user_name(owner)}, not {user} (made by a `sudo` run?);"
            f" give it back with `sudo chown -R {shlex.quote(user)} {shlex.quote(str(there))}`"
        )
    if number in (errno.ENOSPC, errno.EDQUOT):
        found = _nearest_existing(path.parent)
        where = shlex.quote(str(found[0] if found else path.parent))
        return f"the file system is full; free space there (`df -h {where}`)"
    if number == errno.EROFS:
        return "the file system is mounted read-only"
    return None


def _nearest_existing(path: Path) -> tuple[Path, int] | None:
    """`path` or the nearest of its parents that exists, with its owner's user id."""
    for candidate in (path, *path.parents):
        try:
            return candidate, candidate.lstat().st_uid
        except OSError:
            continue
    return None


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
