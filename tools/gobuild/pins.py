"""The TOML files that pin what a tool builds, and the plain release versions they pin."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, TypeGuard

from gobuild.errors import ToolError


def read_toml(path: Path, *, missing: str, invalid: str) -> dict[str, Any]:
    """The TOML file at `path`. A missing or malformed file is a ToolError worded by the
    tool's templates: `missing` with {path}, `invalid` with {path} and {error}."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ToolError(missing.format(path=path)) from None
    except tomllib.TOMLDecodeError as error:
        raise ToolError(invalid.format(path=path, error=error)) from None


def is_release(version: object) -> TypeGuard[str]:
    """A plain release version: 1.2.3 (no `v`, no pre-release)."""
    return isinstance(version, str) and re.fullmatch(r"\d+\.\d+\.\d+", version) is not None
