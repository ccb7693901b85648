"""The TOML files that pin what a tool builds, and the plain release versions they pin."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, TypeGuard

from gobuild.errors import ToolError

UNREADABLE = "cannot read {path}: {reason}"
"""How read_toml words a file that exists but cannot be read, unless the tool words it."""


def read_toml(
    path: Path, *, missing: str, invalid: str, unreadable: str = UNREADABLE
) -> dict[str, Any]:
    """The TOML file at `path`. A file that is missing, cannot be read (a directory, no
    permission, not UTF-8) or is malformed is a ToolError worded by the tool's templates:
    `missing` with {path}, `unreadable` with {path} and {reason}, `invalid` with {path} and
    {error}."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ToolError(missing.format(path=path)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ToolError(unreadable.format(path=path, reason=unreadable_reason(error))) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ToolError(invalid.format(path=path, error=error)) from None


def unreadable_reason(error: OSError | UnicodeDecodeError) -> str:
    """Why a file could not be read, in a few words (`it is a directory`)."""
    if isinstance(error, UnicodeDecodeError):
        return f"it is not UTF-8 text (byte {error.start})"
    if isinstance(error, IsADirectoryError):
        return "it is a directory"
    if isinstance(error, PermissionError):
        return "permission denied"
    if isinstance(error, NotADirectoryError):
        return "a directory in its path is a file"
    return (error.strerror or type(error).__name__).lower()


def is_release(version: object) -> TypeGuard[str]:
    """A plain release version: 1.2.3 (no `v`, no pre-release)."""
    return isinstance(version, str) and re.fullmatch(r"\d+\.\d+\.\d+", version) is not None
