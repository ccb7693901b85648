"""Module hashes, as go.sum records them (`<module> <version> h1:<zip hash>` and `<module>
<version>/go.mod h1:<go.mod hash>`).

- ModuleHashes: the go.sum lines a pins file commits for the module versions it pins
  (each pin table's `go_sum`), and the check that what the go command downloaded is
  exactly that, before anything is built. Whatever the user's Go settings, this is what
  ties a pin to its content: the checksum database may be off (GOSUMDB=off) or skipped for
  a module (GONOSUMDB, GOPRIVATE), and a generated wrapper module has no committed go.sum.
- GoSum: the go.sum a wrapper module is written with, seeded with the downloaded modules'
  own hashes and their go.sum files, so that the go command verifies their dependencies
  against what the pinned modules recorded, with or without the checksum database.
- ChecksumDatabase: whether the go command consults the checksum database for a module, as
  `go env` says (the go command's own rule: GOSUMDB, and GONOSUMDB, which defaults to
  GOPRIVATE).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from gobuild.errors import ToolError
from gobuild.modules import Module

GO_SUM_KEY = "go_sum"
"""The key of a pin table that holds the go.sum lines of the modules it pins."""

_HASH = re.compile(r"h1:[A-Za-z0-9+/]{43}=")
_GO_MOD_SUFFIX = "/go.mod"


class ModuleHashError(ToolError):
    """A downloaded module is not what the pins file commits, or it commits no hash for it."""


def go_sum_lines(path: str, version: str, zip_hash: str, go_mod_hash: str) -> list[str]:
    """The two go.sum lines of a module version."""
    return [f"{path} {version} {zip_hash}", f"{path} {version}{_GO_MOD_SUFFIX} {go_mod_hash}"]


def _split(line: str) -> tuple[str, str, str] | None:
    """(module, version or version/go.mod, hash) of a go.sum line, or None if it is none."""
    fields = line.split()
    if len(fields) != 3 or not fields[1].startswith("v"):
        return None
    path, version, digest = fields
    return path, version, digest


# --- the hashes a pins file commits --------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ModuleHashes:
    """The go.sum lines a pins file (toolchain.toml, versions.toml) commits, keyed by
    (module, version) and (module, version/go.mod)."""

    file: Path
    docs: str
    """Where the docs say how the hashes are checked and updated (`docs/cluster.md#...`)."""
    hashes: Mapping[tuple[str, str], str] = dataclasses.field(default_factory=dict)

    @classmethod
    def read(cls, file: Path, tables: Mapping[str, object], docs: str) -> ModuleHashes:
        """The `go_sum` of each pin table: `tables` maps a table's name ("kubernetes",
        "plugins.kubernetes") to the table as read (a table without `go_sum` commits none).
        A malformed line, or two lines that disagree, is a ToolError naming the file."""
        hashes: dict[tuple[str, str], str] = {}
        seen_in: dict[tuple[str, str], str] = {}
        for name, table in tables.items():
            if not isinstance(table, Mapping) or GO_SUM_KEY not in table:
                continue
            text = table[GO_SUM_KEY]
            if not isinstance(text, str):
                raise ToolError(f"{file}: [{name}].{GO_SUM_KEY} must be a string of go.sum lines")
            for number, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                fields = _split(line)
                if fields is None or not _HASH.fullmatch(fields[2]):
                    raise ToolError(
                        f"{file}: line {number} of [{name}].{GO_SUM_KEY} is not a go.sum line"
                        f" (`<module> <version>[/go.mod] h1:<hash>`): {line.strip()!r}"
                    )
                path, version, digest = fields
                key = (path, version)
                if key in hashes and hashes[key] != digest:
                    raise ToolError(
                        f"{file}: {path} {version} is committed twice with different hashes"
                        f" ({hashes[key]} in [{seen_in[key]}], {digest} in [{name}])"
                    )
                hashes[key] = digest
                seen_in[key] = name
        return cls(file=file, docs=docs, hashes=hashes)

    def expected(self, path: str, version: str) -> tuple[str, str]:
        """The committed zip and go.mod hashes of a module version ("" where none)."""
        return (
            self.hashes.get((path, version), ""),
            self.hashes.get((path, version + _GO_MOD_SUFFIX), ""),
        )

    def unhashed(self, pins: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """The (module, version) pins for which the file commits no zip or no go.mod hash."""
        return [pin for pin in pins if not all(self.expected(*pin))]

    def check(self, downloaded: Sequence[tuple[Module, str]], database: ChecksumDatabase) -> None:
        """Fail unless every downloaded module is what the file commits, zip and go.mod:
        one ModuleHashError naming each module that is not (or has no committed hash), with
        the hashes expected and got and what to do. `downloaded` pairs each module with the
        table its hashes belong in ("kubernetes", "plugins.kubernetes")."""
        problems = [
            problem
            for module, table in downloaded
            if (problem := self._problem(module, table, database)) is not None
        ]
        if problems:
            raise ModuleHashError("\n".join(problems))

    def _problem(self, module: Module, table: str, database: ChecksumDatabase) -> str | None:
        name = f"{module.path}@{module.version}"
        where = f"[{table}] {GO_SUM_KEY} in {self.file}"
        zip_expected, go_mod_expected = self.expected(module.path, module.version)
        got = go_sum_lines(
            module.path, module.version, module.sum or "(none)", module.go_mod_sum or "(none)"
        )
        if not zip_expected or not go_mod_expected:
            off = database.off_for(module.path)
            if off:
                trust = (
                    f"the checksum database is off for it ({off}), so compare them with its"
                    " record first"
                )
            else:
                trust = "the go command checked them against the checksum database (GOSUMDB)"
            others = sorted(
                version
                for path, version in self.hashes
                if path == module.path and not version.endswith(_GO_MOD_SUFFIX)
            )
            instead = f" in place of those of {', '.join(others)}" if others else ""
            return (
                f"{name}: {where} commits no hash of it. If you changed the pin on purpose, add"
                f" these lines there{instead} ({self.docs}); {trust}:\n"
                + "\n".join(f"    {line}" for line in got)
            )
        differences = [
            f"{what} hash {actual or '(none)'}, expected {wanted}"
            for what, actual, wanted in (
                ("zip", module.sum, zip_expected),
                ("go.mod", module.go_mod_sum, go_mod_expected),
            )
            if actual != wanted
        ]
        if not differences:
            return None
        return (
            f"{name} is not the module version pinned: downloaded {' and '.join(differences)}"
            f" ({where}). If you changed the pin or its lines on purpose, commit the go.sum"
            f" lines of the release you mean ({self.docs}); if not, GOPROXY served other"
            " content than the release pinned: build nothing from it, and find out why (a"
            " mirror that rebuilt or altered the module, something between you and the proxy)"
        )


# --- the go.sum of a wrapper module --------------------------------------------------------


class GoSum:
    """The go.sum a wrapper module is written with: the downloaded modules' own hashes
    (checked against ModuleHashes first) and every line of their go.sum files. The go
    command then verifies each dependency it downloads or finds in the module cache against
    what the pinned modules recorded: with the checksum database off, that is the only
    check there is. Two sources that disagree on a hash are an error, not a go.sum the go
    command would reject later with less to say."""

    def __init__(self) -> None:
        self._hashes: dict[tuple[str, str], str] = {}
        self._sources: dict[tuple[str, str], str] = {}

    def add_module(self, module: Module) -> None:
        source = f"{module.path}@{module.version}"
        if module.sum:
            self.add(module.path, module.version, module.sum, source)
        if module.go_mod_sum:
            self.add(module.path, module.version + _GO_MOD_SUFFIX, module.go_mod_sum, source)
        go_sum = module.dir / "go.sum"
        if go_sum.is_file():
            for line in go_sum.read_text(encoding="utf-8").splitlines():
                fields = _split(line)
                if fields is not None:  # as the go command, which skips what is not a line
                    self.add(*fields, f"the go.sum of {source}")

    def add(self, path: str, version: str, digest: str, source: str) -> None:
        key = (path, version)
        known = self._hashes.get(key)
        if known is not None and known != digest:
            raise ToolError(
                f"{path} {version}: {self._sources[key]} records {known}, {source} {digest};"
                " one of the two modules is not as published"
            )
        self._hashes.setdefault(key, digest)
        self._sources.setdefault(key, source)

    def lines(self) -> list[str]:
        return sorted(
            f"{path} {version} {digest}" for (path, version), digest in self._hashes.items()
        )

    def write(self, directory: Path) -> None:
        (directory / "go.sum").write_text(
            "".join(f"{line}\n" for line in self.lines()), encoding="utf-8"
        )


# --- the checksum database -----------------------------------------------------------------


def matches_prefix_patterns(patterns: str, path: str) -> str:
    """The first of the comma-separated glob `patterns` that matches a leading part of the
    module `path` with as many elements as it has (`k8s.io` matches `k8s.io/api`, `*.corp`
    matches `git.corp/x`): the rule of GONOSUMDB, GONOPROXY and GOPRIVATE. "" if none."""
    elements = path.split("/")
    for pattern in patterns.split(","):
        pattern = pattern.strip().rstrip("/")
        if not pattern:
            continue
        count = pattern.count("/") + 1
        if count > len(elements):
            continue
        if fnmatch.fnmatchcase("/".join(elements[:count]), pattern):
            return pattern
    return ""


@dataclasses.dataclass(frozen=True)
class ChecksumDatabase:
    """The go command's checksum database settings, as `go env` reports them."""

    gosumdb: str
    gonosumdb: str
    """As `go env` reports it: GOPRIVATE's patterns unless GONOSUMDB is set."""
    goprivate: str

    @classmethod
    def of(cls, go_env: Mapping[str, str]) -> ChecksumDatabase:
        return cls(
            gosumdb=go_env.get("GOSUMDB", ""),
            gonosumdb=go_env.get("GONOSUMDB", ""),
            goprivate=go_env.get("GOPRIVATE", ""),
        )

    def off_for(self, path: str) -> str:
        """Why the go command does not check the module `path` against the checksum
        database (`GOSUMDB=off`, `GOPRIVATE pattern *`), or "" if it does."""
        if self.gosumdb.strip() == "off":
            return "GOSUMDB=off"
        pattern = matches_prefix_patterns(self.gonosumdb, path)
        if not pattern:
            return ""
        variable = "GOPRIVATE" if self.gonosumdb == self.goprivate else "GONOSUMDB"
        return f"{variable} pattern {pattern}"

    def off_for_any(self, paths: Iterable[str]) -> dict[str, str]:
        """The modules of `paths` the checksum database is off for, and why."""
        return {path: why for path in dict.fromkeys(paths) if (why := self.off_for(path))}

    def note(self, paths: Iterable[str], file: Path) -> str:
        """One line for a build's progress when the checksum database is off for some of the
        pinned modules `paths` (what then verifies them), else ""."""
        off = self.off_for_any(paths)
        if not off:
            return ""
        reasons = sorted(set(off.values()))
        return (
            f"the checksum database is off for {len(off)} pinned module(s) ({'; '.join(reasons)}):"
            f" they are verified against the hashes committed in {file}, their dependencies"
            " against those modules' own go.sum"
        )
