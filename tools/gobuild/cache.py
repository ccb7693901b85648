"""The versioned build cache outside the repository: its root, one build at a time, files
put in place atomically, the build stamp of each component and the record of the last build.

A component's stamp is written last: it counts as present only when the stamp names the
recipe revision and pins wanted now and every file it must have is there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

from gobuild.errors import ToolError
from gobuild.progress import Progress

REPO_ROOT = Path(__file__).resolve().parents[2]


CACHE_VARIABLE = "GO_PLATFORM_CACHE"


def cache_base(environ: Mapping[str, str], home: Path) -> Path:
    """${GO_PLATFORM_CACHE:-${XDG_CACHE_HOME:-~/.cache}/go-platform}, absolute, for the
    environment `environ` and the home directory `home`."""
    base = environ.get(CACHE_VARIABLE)
    if base:
        cache = Path(base)
    else:
        xdg = environ.get("XDG_CACHE_HOME")
        cache = (Path(xdg) if xdg else home / ".cache") / "go-platform"
    return cache.expanduser().resolve()


def cache_selection(environ: Mapping[str, str], home: Path) -> dict[str, str]:
    """What another command needs in its environment to use the cache a command run with
    `environ` uses: {GO_PLATFORM_CACHE: its absolute path} when that is not the default (set
    by GO_PLATFORM_CACHE or XDG_CACHE_HOME), else nothing. For the commands a failure's
    hint prints, which the user may run from another shell."""
    base = cache_base(environ, home)
    return {} if base == cache_base({}, home) else {CACHE_VARIABLE: str(base)}


def cache_root(name: str, what: str) -> Path:
    """${GO_PLATFORM_CACHE:-${XDG_CACHE_HOME:-~/.cache}/go-platform}/<name>, which must not
    be inside the repository (`what` names it in that error)."""
    root = cache_base(os.environ, Path.home()) / name
    if root == REPO_ROOT or REPO_ROOT in root.parents:
        raise ToolError(
            f"the {what} {root} is inside the repository; point GO_PLATFORM_CACHE somewhere else"
        )
    return root


@dataclasses.dataclass(frozen=True)
class ToolCache:
    """One tool's directory in the cache: what it built, and beside that the record of its
    last build and the lock that keeps builds one at a time."""

    root: Path

    subdirectory: ClassVar[str]
    """The tool's directory under the cache root."""
    description: ClassVar[str]
    """What the tool calls it in errors (`the toolchain cache`)."""

    @classmethod
    def from_environment(cls) -> Self:
        return cls(cache_root(cls.subdirectory, cls.description))

    @property
    def last_build(self) -> Path:
        return self.root / "last-build.json"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"


@contextlib.contextmanager
def exclusive(lock_file: Path, progress: Progress, *, tool: str, what: str) -> Iterator[None]:
    """Hold an exclusive lock on `lock_file` (one `what` at a time, say one build per cache:
    CI and a developer may share a machine); say so while another process holds it."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress.say(f"{tool}: waiting for another {what} to release {lock_file}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def not_a_directory(path: Path) -> str | None:
    """Why `path` cannot be a directory, in words: the first of its parents, or itself,
    that exists as something else. None when every part of it that exists is one."""
    for part in [*reversed(path.parents), path]:
        if part.is_dir():
            continue
        if part.is_file():
            return f"{part} is a file, not a directory"
        if part.is_symlink():
            return f"{part} is a broken symbolic link"
        if part.exists():
            return f"{part} is not a directory"
        return None
    return None


def fresh_directory(path: Path) -> Path:
    """`path` as a new empty directory (whatever was there is deleted)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def install(source: Path, destination: Path, *, mode: int = 0o755, move: bool = False) -> None:
    """Put a file in place atomically, with `mode`; copied, or moved (build outputs)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = destination.with_name(f".{destination.name}.partial")
    if move:
        shutil.move(source, staging)
    else:
        shutil.copyfile(source, staging)
    staging.chmod(mode)
    os.replace(staging, destination)


def symlink_atomically(link: Path, target: Path) -> None:
    """Point `link` at `target`, replacing whatever `link` was in one step."""
    link.parent.mkdir(parents=True, exist_ok=True)
    staging = link.with_name(f".{link.name}.partial")
    staging.unlink(missing_ok=True)
    staging.symlink_to(target)
    os.replace(staging, link)


def write_atomically(path: Path, text: str, *, mode: int | None = None) -> None:
    """Write a file through `.<name>.partial` beside it, so readers never see half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.partial")
    staging.write_text(text, encoding="utf-8")
    if mode is not None:
        staging.chmod(mode)
    os.replace(staging, path)


def write_json(path: Path, data: Any) -> None:
    write_atomically(path, json.dumps(data, indent=2) + "\n")


# --- build stamps --------------------------------------------------------------------------


def read_stamp(stamp: Path) -> dict[str, Any] | None:
    try:
        record: dict[str, Any] = json.loads(stamp.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return record


def stamp_status(
    record: Mapping[str, Any] | None,
    *,
    recipe: int,
    pins: Mapping[str, str],
    outputs: Iterable[Path],
) -> str:
    """`present`, `missing`, or `stale` (built by another recipe revision or from other pins)."""
    if record is None:
        return "missing"
    if record.get("recipe") != recipe or record.get("pins") != pins:
        return "stale"
    if not all(path.is_file() for path in outputs):
        return "missing"
    return "present"


def write_stamp(
    stamp: Path,
    *,
    component: str,
    version: str,
    recipe: int,
    pins: Mapping[str, str],
    modules: Mapping[str, str],
    go: str,
    seconds: float,
    outputs: Iterable[Path],
) -> None:
    """The build record of a component, with the hash of every output file."""
    write_json(
        stamp,
        {
            "component": component,
            "version": version,
            "recipe": recipe,
            "pins": dict(pins),
            "modules": dict(modules),
            "go": go,
            "build_seconds": round(seconds, 1),
            "built_at": utc_now(),
            "files": {str(path): sha256(path) for path in outputs if path.is_file()},
        },
    )


def write_last_build(
    path: Path, *, seconds: float, go: str, components: list[dict[str, Any]], **extra: Any
) -> None:
    """last-build.json: when the last `build` finished, what it did and how long it took."""
    write_json(
        path,
        {
            "finished_at": utc_now(),
            "total_seconds": round(seconds, 1),
            "go": go,
            "cpus": os.cpu_count(),
            "components": components,
            **extra,
        },
    )
