"""What is at a path a person gave the driver (`--json`, `--project-dir`, `--backend`,
`--policy-pack`, `--policy-pack-config`, KUBECONFIG), without a traceback.

`Path.is_dir()`, `is_file()` and `exists()` answer False for a path that is missing, but
raise for one the system will not look at: a name longer than the file system takes
(ENAMETOOLONG), a directory on the way that may not be searched (EACCES). Every check of
such a path goes through `path_kind`, which says those in words, or `checked_kind`, which
makes them a usage error naming the flag.
"""

from __future__ import annotations

import errno
import os
import stat
from enum import Enum
from pathlib import Path

from go_platform.exit_codes import usage_error


class PathKind(Enum):
    MISSING = "missing"
    FILE = "file"
    DIRECTORY = "directory"
    BROKEN_LINK = "broken symbolic link"
    """A symbolic link to nothing, or to a loop of links."""
    OTHER = "other"
    """A device, a socket, a pipe."""

    @property
    def exists(self) -> bool:
        """As `Path.exists()` answers: something is there, a broken link is not."""
        return self not in (PathKind.MISSING, PathKind.BROKEN_LINK)


_ABSENT = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EBADF})
"""What `Path.exists()` answers False for: the path does not lead to anything."""


class UnusablePathError(Exception):
    """The system will not say what is at a path; the message says why in a few words
    (`file name too long`, `permission denied`)."""


def path_kind(path: Path) -> PathKind:
    """What is at `path` (symbolic links followed); UnusablePathError when the system will
    not say."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        if error.errno not in _ABSENT:
            raise UnusablePathError(_reason(error)) from None
        return PathKind.BROKEN_LINK if _is_link(path) else PathKind.MISSING
    except ValueError:  # an embedded NUL: as pathlib, nothing is there
        return PathKind.MISSING
    if stat.S_ISDIR(mode):
        return PathKind.DIRECTORY
    return PathKind.FILE if stat.S_ISREG(mode) else PathKind.OTHER


def checked_kind(path: Path, name: str) -> PathKind:
    """`path_kind(path)`; when the system will not say, a usage error `<name>: <why>`, where
    `name` says who gave the path (`--project-dir /srv/x`)."""
    try:
        return path_kind(path)
    except UnusablePathError as error:
        raise usage_error(f"{name}: {error}") from None


def _is_link(path: Path) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError as error:
        if error.errno not in _ABSENT:
            raise UnusablePathError(_reason(error)) from None
        return False


def _reason(error: OSError) -> str:
    """`File name too long` as the end of a sentence: `file name too long`."""
    said = error.strerror or error.__class__.__name__
    return said[:1].lower() + said[1:]
