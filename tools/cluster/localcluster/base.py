"""What every part of the control plane tooling shares: errors, progress, versions, paths."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import re
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

CLUSTER_TOOL_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = CLUSTER_TOOL_DIR.parents[1]
VERSIONS_FILE = CLUSTER_TOOL_DIR / "versions.toml"
CLUSTER_SCRIPT = CLUSTER_TOOL_DIR / "cluster.py"
DEFAULT_DATA_DIR = REPO_ROOT / ".state" / "cluster"

LOG_TAIL_LINES = 25


class ClusterError(Exception):
    """An expected failure: reported as a short message, never as a traceback."""


# --- progress ------------------------------------------------------------------------------


def duration(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{whole}s"
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m{rest:02d}s"


class Progress:
    """Human progress on stderr, so stdout stays for what scripts read (paths, JSON)."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.started = time.monotonic()

    def say(self, message: str) -> None:
        print(message, file=self.stream, flush=True)

    @contextlib.contextmanager
    def step(self, description: str) -> Iterator[None]:
        self.say(f"    {description} ...")
        started = time.monotonic()
        yield
        self.say(f"    {description}: done in {duration(time.monotonic() - started)}")

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    try:
        content = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    return content[-lines:]


# --- versions ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Versions:
    """The releases to build and run, as read from versions.toml (plain 1.2.3 strings)."""

    kubernetes: str
    etcd: str
    kwok: str

    @classmethod
    def load(cls, path: Path = VERSIONS_FILE) -> Versions:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ClusterError(f"version file not found: {path}") from None
        except tomllib.TOMLDecodeError as error:
            raise ClusterError(f"{path} is not valid TOML: {error}") from None
        found = {}
        for name in ("kubernetes", "etcd", "kwok"):
            value = data.get(name, {}).get("version") if isinstance(data.get(name), dict) else None
            if not isinstance(value, str) or not re.fullmatch(r"\d+\.\d+\.\d+", value):
                raise ClusterError(f"{path}: [{name}].version must look like 1.2.3, got {value!r}")
            found[name] = value
        return cls(**found)

    @property
    def staging(self) -> str:
        """The version of the k8s.io/<name> staging modules of this Kubernetes release."""
        _, minor, patch = self.kubernetes.split(".")
        return f"v0.{minor}.{patch}"


# --- the binary cache ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Cache:
    """Where built binaries live: one versioned directory per component, outside the repo.

    ${GO_PLATFORM_CACHE:-${XDG_CACHE_HOME:-~/.cache}/go-platform}/cluster/
        kubernetes-v<version>/bin/   kube-apiserver, kube-controller-manager, kube-scheduler
        etcd-v<version>/bin/etcd
        kwok-v<version>/bin/kwok, kwok-v<version>/stages/  (kwok's own stage definitions)
        work/<build>/                the generated wrapper module, build.log
        last-build.json              what the last `build` did and how long it took
    """

    root: Path

    @classmethod
    def from_environment(cls) -> Cache:
        base = os.environ.get("GO_PLATFORM_CACHE")
        if base:
            cache = Path(base)
        else:
            xdg = os.environ.get("XDG_CACHE_HOME")
            cache = (Path(xdg) if xdg else Path.home() / ".cache") / "go-platform"
        root = cache.expanduser().resolve() / "cluster"
        if root == REPO_ROOT or REPO_ROOT in root.parents:
            raise ClusterError(
                f"the binary cache {root} is inside the repository; "
                "point GO_PLATFORM_CACHE somewhere else"
            )
        return cls(root)

    def component_dir(self, component: str, version: str) -> Path:
        return self.root / f"{component}-v{version}"

    def work_dir(self, name: str) -> Path:
        return self.root / "work" / name

    @property
    def last_build(self) -> Path:
        return self.root / "last-build.json"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"


@dataclasses.dataclass(frozen=True)
class Binaries:
    """The executables one set of versions runs with."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kwok: Path
    kwok_stages: Path

    @classmethod
    def of(cls, cache: Cache, versions: Versions) -> Binaries:
        kubernetes = cache.component_dir("kubernetes", versions.kubernetes) / "bin"
        kwok = cache.component_dir("kwok", versions.kwok)
        return cls(
            etcd=cache.component_dir("etcd", versions.etcd) / "bin" / "etcd",
            kube_apiserver=kubernetes / "kube-apiserver",
            kube_controller_manager=kubernetes / "kube-controller-manager",
            kube_scheduler=kubernetes / "kube-scheduler",
            kwok=kwok / "bin" / "kwok",
            kwok_stages=kwok / "stages",
        )

    def executables(self) -> list[Path]:
        return [
            self.etcd,
            self.kube_apiserver,
            self.kube_controller_manager,
            self.kube_scheduler,
            self.kwok,
        ]

    def missing(self) -> list[Path]:
        absent = [path for path in self.executables() if not os.access(path, os.X_OK)]
        if not any(self.kwok_stages.glob("*.yaml")):
            absent.append(self.kwok_stages)
        return absent


@contextlib.contextmanager
def exclusive(lock_file: Path, what: str, progress: Progress) -> Iterator[None]:
    """Hold an exclusive lock on `lock_file`; say so when another process holds it."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress.say(f"cluster: waiting for another {what} to release {lock_file}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
