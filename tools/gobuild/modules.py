"""Go modules through the go command: fetching module versions, reading go.mod files, and
what the module proxy says when it refuses a version."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gobuild.commands import capture
from gobuild.errors import ToolError

# Settings for every build: static binaries, no workspace file from a parent directory, no
# silent toolchain download, wrapper go.mod files completed by the go command itself.
GO_BUILD_ENV = {
    "CGO_ENABLED": "0",
    "GOWORK": "off",
    "GOTOOLCHAIN": "local",
    "GOFLAGS": "-mod=mod -buildvcs=false",
}


def go_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """What `go env -json` reports (GOVERSION, GOMODCACHE, ...)."""
    result = capture("go env", ["go", "env", "-json"], Path.cwd(), env)
    return dict(json.loads(result.stdout))


def version_key(version: str) -> tuple[int, ...]:
    """The first three numbers of a Go or module version (`go1.26.8`, `v0.36.3`), to compare."""
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


# The commit time and hash ending every form of pseudo-version (`v4.0.0-20260115033456-f47bc2d6f199`,
# `v1.2.4-0.20260115033456-f47bc2d6f199`, `v1.2.3-pre.0.20260115033456-f47bc2d6f199`).
_PSEUDO_VERSION = re.compile(r"[.-](\d{14})-[0-9a-f]{12}$")


def is_pseudo_version(version: str) -> bool:
    """Whether `version` names an untagged commit rather than a release."""
    return _PSEUDO_VERSION.search(version) is not None


def releases_after(pinned: str, listed: Sequence[str]) -> list[str]:
    """The releases in `listed` (what `go list -m -versions` printed) newer than `pinned`,
    oldest first; pre-releases are left out."""
    newer = [
        version
        for version in listed
        if "-" not in version.partition("+")[0] and version_key(version) > version_key(pinned)
    ]
    return sorted(newer, key=version_key)


def commit_after(pinned: str, latest: str) -> bool:
    """Whether `latest` (the proxy's answer for `@latest`) is newer than the pseudo-version
    `pinned`: a later commit, or a release where there was none."""
    if not latest or latest == pinned:
        return False
    pinned_time, latest_time = _PSEUDO_VERSION.search(pinned), _PSEUDO_VERSION.search(latest)
    if pinned_time is None or latest_time is None:
        return latest_time is None
    return latest_time.group(1) > pinned_time.group(1)


# --- module versions -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Module:
    """A module version as `go mod download -json` reports it."""

    path: str
    version: str
    dir: Path
    go_mod: Path
    sum: str = ""
    go_mod_sum: str = ""
    info: Path | None = None

    @classmethod
    def from_json(cls, info: Mapping[str, Any]) -> Module:
        return cls(
            path=info["Path"],
            version=info["Version"],
            dir=Path(info["Dir"]),
            go_mod=Path(info["GoMod"]),
            sum=info.get("Sum", ""),
            go_mod_sum=info.get("GoModSum", ""),
            info=Path(info["Info"]) if info.get("Info") else None,
        )

    @property
    def time(self) -> str:
        """The commit time the proxy recorded for the version (its .info file), or ""."""
        if self.info is None:
            return ""
        try:
            return str(json.loads(self.info.read_text(encoding="utf-8")).get("Time", ""))
        except (OSError, json.JSONDecodeError):
            return ""


def download(
    wanted: Sequence[tuple[str, str]], cwd: Path, env: Mapping[str, str]
) -> dict[str, Module | str]:
    """Fetch module versions (path, version) into the module cache, or find them there, with
    one go command; each path maps to its Module or to the go command's error text."""
    queries = [f"{path}@{version}" for path, version in wanted]
    result = capture(
        f"download {' '.join(queries)}",
        ["go", "mod", "download", "-json", *queries],
        cwd,
        env,
        check=False,
    )
    return read_downloads(result.stdout, result.stderr, [path for path, _ in wanted])


def read_downloads(stdout: str, stderr: str, paths: Sequence[str]) -> dict[str, Module | str]:
    """The JSON objects `go mod download -json` printed, one a module, as Modules or error
    texts; a path it printed nothing for maps to its stderr."""
    found: dict[str, Module | str] = {}
    decoder = json.JSONDecoder()
    position = 0
    while True:
        while position < len(stdout) and stdout[position].isspace():
            position += 1
        if position >= len(stdout):
            break
        try:
            info, position = decoder.raw_decode(stdout, position)
        except json.JSONDecodeError:
            detail = " ".join((stderr or stdout).split())
            raise ToolError(f"go mod download gave no readable answer: {detail}") from None
        found[info["Path"]] = info["Error"] if info.get("Error") else Module.from_json(info)
    for path in paths:
        found.setdefault(path, stderr.strip() or "no answer from go mod download")
    return found


# --- go.mod files --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Replace:
    """A `replace` directive; without a new version, it points at a local directory."""

    old_path: str
    old_version: str
    new_path: str
    new_version: str

    @property
    def is_local(self) -> bool:
        return not self.new_version

    def directive(self) -> str:
        old = f"{self.old_path} {self.old_version}".strip()
        new = f"{self.new_path} {self.new_version}".strip()
        return f"{old} => {new}"


@dataclasses.dataclass(frozen=True)
class GoMod:
    """What a go.mod file says, as `go mod edit -json` reads it."""

    module: str
    go: str
    requires: dict[str, str]
    replaces: tuple[Replace, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GoMod:
        return cls(
            module=data["Module"]["Path"],
            go=data.get("Go", ""),
            requires={item["Path"]: item["Version"] for item in data.get("Require") or []},
            replaces=tuple(
                Replace(
                    old_path=item["Old"]["Path"],
                    old_version=item["Old"].get("Version", ""),
                    new_path=item["New"]["Path"],
                    new_version=item["New"].get("Version", ""),
                )
                for item in data.get("Replace") or []
            ),
        )

    @property
    def local_replaces(self) -> dict[str, str]:
        """Module path -> directory, for the replaces that point into the module's own
        repository."""
        return {r.old_path: r.new_path for r in self.replaces if r.is_local}


def read_go_mod(go_mod: Path) -> GoMod:
    result = capture(f"read {go_mod}", ["go", "mod", "edit", "-json", str(go_mod)], go_mod.parent)
    return GoMod.from_json(json.loads(result.stdout))


# --- what the proxy answered ---------------------------------------------------------------


_HTTP_STATUS = re.compile(r"\b(\d{3} [A-Za-z][A-Za-z ]*)")
_SERVER_RESPONSE = re.compile(r"server response:\s*(.+)", re.DOTALL)


@dataclasses.dataclass(frozen=True)
class ProxyAnswer:
    """What the go command's multi-line error for a module version says was answered."""

    statuses: tuple[str, ...]
    """HTTP status lines (`403 Forbidden`), in the order the error names them."""
    server_response: str
    """What follows `server response:` (the proxy's own explanation), as printed, or ""."""
    checksum: bool
    """The checksum database (not the proxy) had no record, or verification failed."""
    unknown_revision: bool

    @classmethod
    def read(cls, error: str) -> ProxyAnswer:
        response = _SERVER_RESPONSE.search(error)
        return cls(
            statuses=tuple(match.group(1).strip() for match in _HTTP_STATUS.finditer(error)),
            server_response=response.group(1) if response else "",
            checksum="sumdb" in error or "verifying" in error,
            unknown_revision="unknown revision" in error,
        )

    @property
    def status(self) -> str:
        """The first HTTP status, or ""."""
        return self.statuses[0] if self.statuses else ""

    @property
    def refusal(self) -> str:
        """The first 4xx status: the proxy has no such version (not a network fault), or ""."""
        return next((status for status in self.statuses if status.startswith("4")), "")

    @property
    def no_such_version(self) -> bool:
        return bool(self.refusal) or self.unknown_revision


def unavailable(path: str, version: str, error: str, reason: str) -> str:
    """One line for a module version the go command could not fetch: what the proxy answered
    (`reason`) if it answered, else the go command's error on one line."""
    if reason:
        return f"{path}@{version} is not available from GOPROXY ({reason})"
    return f"{path}@{version}: {' '.join(error.split())}"
