"""What every part of the control plane tooling shares: errors, progress, versions, paths."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import gobuild.progress
from gobuild.cache import REPO_ROOT, ToolCache
from gobuild.errors import ToolError
from gobuild.pins import is_release, read_toml
from gobuild.sums import ModuleHashes

CLUSTER_TOOL_DIR = Path(__file__).resolve().parents[1]
VERSIONS_FILE = CLUSTER_TOOL_DIR / "versions.toml"
CLUSTER_SCRIPT = CLUSTER_TOOL_DIR / "cluster.py"
DEFAULT_DATA_DIR = REPO_ROOT / ".state" / "cluster"
HASHES_DOCS = "docs/cluster.md#module-hashes"


class ClusterError(ToolError):
    """An expected failure of the cluster tooling: a short message, never a traceback."""


# --- progress ------------------------------------------------------------------------------


class Progress(gobuild.progress.Progress):
    """Progress on stderr. The control plane's steps take seconds: durations keep a tenth
    below ten seconds."""

    tenths_below = 10.0


def duration(seconds: float) -> str:
    return gobuild.progress.duration(seconds, tenths_below=Progress.tenths_below)


# --- versions ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Versions:
    """The releases to build and run, as read from versions.toml (plain 1.2.3 strings)."""

    kubernetes: str
    etcd: str
    kwok: str

    @classmethod
    def load(cls, path: Path = VERSIONS_FILE) -> Versions:
        data = read_toml(
            path,
            missing="version file not found: {path}",
            invalid="{path} is not valid TOML: {error}",
        )
        found = {}
        for name in ("kubernetes", "etcd", "kwok"):
            value = data.get(name, {}).get("version") if isinstance(data.get(name), dict) else None
            if not is_release(value):
                raise ClusterError(f"{path}: [{name}].version must look like 1.2.3, got {value!r}")
            found[name] = value
        return cls(**found)

    @staticmethod
    def hashes(path: Path = VERSIONS_FILE) -> ModuleHashes:
        """The go.sum lines the file commits for the modules its tables pin (each table's
        `go_sum`): what the build checks the downloaded modules against. Read apart from the
        versions, which are what a running cluster and the build stamps compare."""
        data = read_toml(
            path,
            missing="version file not found: {path}",
            invalid="{path} is not valid TOML: {error}",
        )
        try:
            return ModuleHashes.read(
                path, {name: data.get(name) for name in ("kubernetes", "etcd", "kwok")}, HASHES_DOCS
            )
        except ToolError as error:
            raise ClusterError(str(error)) from None

    @property
    def staging(self) -> str:
        """The version of the k8s.io/<name> staging modules of this Kubernetes release."""
        _, minor, patch = self.kubernetes.split(".")
        return f"v0.{minor}.{patch}"


# --- the binary cache ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Cache(ToolCache):
    """Where built binaries live: one versioned directory per component, outside the repo.

    ${GO_PLATFORM_CACHE:-${XDG_CACHE_HOME:-~/.cache}/go-platform}/cluster/
        kubernetes-v<version>/bin/   kube-apiserver, kube-controller-manager, kube-scheduler
        etcd-v<version>/bin/etcd
        kwok-v<version>/bin/kwok, kwok-v<version>/stages/  (kwok's own stage definitions)
        work/<build>/                the generated wrapper module, build.log
        last-build.json              what the last `build` did and how long it took
    """

    subdirectory = "cluster"
    description = "binary cache"

    def component_dir(self, component: str, version: str) -> Path:
        return self.root / f"{component}-v{version}"

    def work_dir(self, name: str) -> Path:
        return self.root / "work" / name


@dataclasses.dataclass(frozen=True)
class Binaries:
    """The executables one set of versions runs with."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kwok: Path
    kwok_stages: Path
    kubectl: Path
    """Not run by the control plane: built with it for people (`<data-dir>/bin/kubectl`)."""

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
            kubectl=cache.component_dir("kubectl", versions.kubernetes) / "bin" / "kubectl",
        )

    def executables(self) -> list[Path]:
        """The programs the control plane runs (what `stop` looks for)."""
        return [
            self.etcd,
            self.kube_apiserver,
            self.kube_controller_manager,
            self.kube_scheduler,
            self.kwok,
        ]

    def missing(self) -> list[Path]:
        built = [*self.executables(), self.kubectl]
        absent = [path for path in built if not os.access(path, os.X_OK)]
        if not any(self.kwok_stages.glob("*.yaml")):
            absent.append(self.kwok_stages)
        return absent
