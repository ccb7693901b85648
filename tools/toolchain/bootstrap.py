#!/usr/bin/env python3
"""Build the Pulumi toolchain go-platform runs against, from Go modules.

The Pulumi CLI, the Python language host and the resource plugins are Go programs. This
script builds them with the local Go toolchain from modules fetched through GOPROXY (the
language host and the random provider from this repository's own modules), at the versions
pinned in toolchain.toml and those modules' go.mod, into a versioned cache outside the
repository:

    ${GO_PLATFORM_CACHE:-${XDG_CACHE_HOME:-~/.cache}/go-platform}/toolchain/
        pulumi-v<version>/bin/      pulumi, the dynamic-provider script, and a link to the
                                    language host in use
        pulumi-v<version>/libexec/  our pulumi-language-python and its executor script
        providers/<name>-v<version>/ pulumi-resource-<name> as built, with its build stamp
        home/                       PULUMI_HOME: the plugins, installed with `pulumi plugin install --file`
        work/<component>-v<version>/ generated wrapper module, build.log
        last-build.json             timings of the last `build`

Subcommands:
    build [--only NAMES]   build what is missing (seconds when everything is present)
    doctor [--registry]    what is present, at which version, what is missing; with --registry,
                           what GOPROXY serves of the pins and lists beyond them
    env [--format sh|json] the environment that points Pulumi at this toolchain
    run -- COMMAND...      run COMMAND in that environment

Expected failures (a module the proxy refuses, a failing go command, a missing pin) are
reported as one line naming the step, with the log and the command to rerun; exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shlex
import shutil
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/, for gobuild
from gobuild.cache import (
    REPO_ROOT,
    ToolCache,
    cache_selection,
    exclusive,
    fresh_directory,
    install,
    read_stamp,
    sha256,
    stamp_status,
    symlink_atomically,
    write_last_build,
    write_stamp,
)
from gobuild.cli import exit_status
from gobuild.commands import capture, run_logged, shell_command
from gobuild.errors import StepError, ToolError
from gobuild.modules import (
    GO_BUILD_ENV,
    GoMod,
    Module,
    ProxyAnswer,
    Replace,
    commit_after,
    download,
    go_env,
    is_pseudo_version,
    read_go_mod,
    releases_after,
    unavailable,
    version_key,
)
from gobuild.pins import is_release, read_toml
from gobuild.progress import Progress, duration
from gobuild.sums import ChecksumDatabase, GoSum, ModuleHashes

TOOLCHAIN_DIR = Path(__file__).resolve().parent
DEFAULT_MANIFEST = TOOLCHAIN_DIR / "toolchain.toml"
MANIFEST_VARIABLE = "GO_PLATFORM_TOOLCHAIN_MANIFEST"
MODULES_DIR = TOOLCHAIN_DIR / "modules"
HASHES_DOCS = "docs/toolchain.md#module-hashes"

# Bump when a recipe changes how a component is built: stamps from older recipes then no
# longer count as present and the component is rebuilt.
RECIPE_REVISION = 2

PULUMI_PKG = "github.com/pulumi/pulumi/pkg/v3"
PULUMI_SDK = "github.com/pulumi/pulumi/sdk/v3"
PULUMI_CLI_PACKAGE = f"{PULUMI_PKG}/cmd/pulumi"
# The manifest table that pins pkg/v3 and sdk/v3, and holds their go.sum lines.
PULUMI_TABLE = "pulumi"
# Our own language host's Go module (Pulumi's is published nowhere reachable).
LANGUAGE_HOST_MODULE = REPO_ROOT / "tools" / "language-python"
PULUMI_VERSION_VARIABLE = f"{PULUMI_SDK}/go/common/version.Version"
# The build tags upstream's release builds use (pure-Go os/user; grpc without x/net/trace).
PULUMI_BUILD_TAGS = "osusergo,grpcnotrace"
# The SDK's executor script, which the language host expects beside itself (libexec/).
PYTHON_EXECUTOR_SCRIPT = "python/cmd/pulumi-language-python-exec"
# The SDK's dynamic-provider plugin, which the engine looks for beside the CLI (bin/).
PYTHON_DYNAMIC_PROVIDER = "python/dist/pulumi-resource-pulumi-python"

# Environment that points the Pulumi CLI at this toolchain and keeps it off the network:
# a missing plugin must fail loudly, not try (and hang) to download one.
PULUMI_OFFLINE_ENV = {
    "PULUMI_SKIP_UPDATE_CHECK": "true",
    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
}

# Modules of this repository build from their committed go.sum, which must not change.
LOCAL_MODULE_ENV = {**GO_BUILD_ENV, "GOFLAGS": "-mod=readonly -buildvcs=false"}

# Go settings for module queries (builds use GO_BUILD_ENV).
GO_MODULE_ENV = {"GOWORK": "off", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}


# --- errors --------------------------------------------------------------------------------


class ToolchainError(ToolError):
    """An expected failure of the bootstrap: reported as a short message, never a traceback."""


class ModuleUnavailableError(ToolchainError):
    """The module proxy (or the checksum database) has no copy of a module version."""


# --- manifest --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PluginPin:
    """One resource plugin: its release version and the provider module's pseudo-version."""

    name: str
    version: str
    module_version: str


@dataclasses.dataclass(frozen=True)
class Manifest:
    """The versions to build, as read from toolchain.toml."""

    path: Path
    pulumi_version: str
    plugins: tuple[PluginPin, ...]
    govulncheck_version: str = ""
    """golang.org/x/vuln's release for govulncheck; "" when the manifest pins none."""
    athens_version: str = ""
    """github.com/gomods/athens's release, for the tests; "" when the manifest pins none."""
    hashes: ModuleHashes = dataclasses.field(
        default_factory=lambda: ModuleHashes(DEFAULT_MANIFEST, HASHES_DOCS)
    )
    """The go.sum lines each table's `go_sum` commits for the modules it pins: the builds
    check every pinned module they download against them."""

    @classmethod
    def load(cls, path: Path) -> Manifest:
        data = read_toml(
            path,
            missing="toolchain manifest not found: {path}",
            unreadable="toolchain manifest {path} cannot be read: {reason}",
            invalid="toolchain manifest {path} is not valid TOML: {error}",
        )

        def text(table: Mapping[str, Any], key: str, where: str) -> str:
            value = table.get(key)
            if not isinstance(value, str):
                raise ToolchainError(f"{path}: [{where}].{key} must be a string")
            return value.strip()

        pulumi = data.get("pulumi")
        if not isinstance(pulumi, dict):
            raise ToolchainError(f"{path}: missing [pulumi] table")
        plugins_table = data.get("plugins", {})
        if not isinstance(plugins_table, dict):
            raise ToolchainError(f"{path}: [plugins] must be a table of tables")
        plugins = []
        for name, table in plugins_table.items():
            if name not in PROVIDER_RECIPES and name not in LOCAL_PLUGIN_RECIPES:
                known = ", ".join(sorted([*PROVIDER_RECIPES, *LOCAL_PLUGIN_RECIPES]))
                raise ToolchainError(
                    f"{path}: no build recipe for plugin '{name}' (known: {known})"
                )
            where = f"plugins.{name}"
            from_module = name in PROVIDER_RECIPES
            plugins.append(
                PluginPin(
                    name=name,
                    version=_plain_version(text(table, "version", where), f"{path}: [{where}]"),
                    module_version=text(table, "module_version", where) if from_module else "",
                )
            )

        def tool_version(name: str) -> str:
            """A `[<name>] version` pin of a single program; "" without the table."""
            table = data.get(name, {})
            if not isinstance(table, dict):
                raise ToolchainError(f"{path}: [{name}] must be a table")
            if not table:
                return ""
            return _plain_version(text(table, "version", name), f"{path}: [{name}]")

        tables = {
            "pulumi": pulumi,
            **{f"plugins.{name}": table for name, table in plugins_table.items()},
            "govulncheck": data.get("govulncheck"),
            "athens": data.get("athens"),
        }
        try:
            hashes = ModuleHashes.read(path, tables, HASHES_DOCS)
        except ToolError as error:
            raise ToolchainError(str(error)) from None
        return cls(
            path=path,
            pulumi_version=_plain_version(text(pulumi, "version", "pulumi"), f"{path}: [pulumi]"),
            plugins=tuple(plugins),
            govulncheck_version=tool_version("govulncheck"),
            athens_version=tool_version("athens"),
            hashes=hashes,
        )


def _plain_version(value: str, where: str) -> str:
    if not is_release(value):
        raise ToolchainError(f"{where}: version must look like 1.2.3, got '{value}'")
    return value


def manifest_path() -> Path:
    override = os.environ.get(MANIFEST_VARIABLE)
    return Path(override).resolve() if override else DEFAULT_MANIFEST


# --- layout --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Layout(ToolCache):
    """Where everything lives in the cache. Versions are part of every path."""

    subdirectory = "toolchain"
    description = "toolchain cache"

    def pulumi_prefix(self, version: str) -> Path:
        return self.root / f"pulumi-v{version}"

    def bin_dir(self, version: str) -> Path:
        return self.pulumi_prefix(version) / "bin"

    def provider_dir(self, name: str, version: str) -> Path:
        return self.root / "providers" / f"{name}-v{version}"

    def tool_dir(self, name: str, version: str) -> Path:
        return self.root / "tools" / f"{name}-v{version}"

    @property
    def pulumi_home(self) -> Path:
        return self.root / "home"

    def work_dir(self, component: str, version: str) -> Path:
        return self.root / "work" / f"{component}-v{version}"


def toolchain_env(layout: Layout) -> dict[str, str]:
    """The variables (besides PATH) that point the Pulumi CLI at this toolchain."""
    return {"PULUMI_HOME": str(layout.pulumi_home), **PULUMI_OFFLINE_ENV}


def environment_with_toolchain(manifest: Manifest, layout: Layout) -> dict[str, str]:
    env = dict(os.environ)
    env.update(toolchain_env(layout))
    env["PATH"] = os.pathsep.join(
        [str(layout.bin_dir(manifest.pulumi_version)), env.get("PATH", "")]
    )
    return env


# --- go ------------------------------------------------------------------------------------


def _module_error(path: str, version: str, error: str) -> ModuleUnavailableError:
    """One line out of the go command's multi-line download error."""
    answer = ProxyAnswer.read(error)
    reason = answer.status
    if answer.server_response:
        response = answer.server_response
        reason = f"{reason}: {' '.join(response.split())}" if reason else response
    if answer.checksum:
        return ModuleUnavailableError(
            f"{path}@{version}: the checksum database has no record of it"
            f" ({reason or 'verification failed'}); see docs/toolchain.md#checksums"
        )
    return ModuleUnavailableError(unavailable(path, version, error, reason))


class Go:
    """The go command, as used by the recipes."""

    def __init__(self) -> None:
        self._env_cache: dict[str, str] | None = None

    def env(self) -> dict[str, str]:
        if self._env_cache is None:
            self._env_cache = go_env()
        return self._env_cache

    def version(self) -> str:
        return self.env().get("GOVERSION", "unknown")

    def download(self, path: str, version: str, cwd: Path) -> Module:
        """Fetch a module version into the module cache (or find it there)."""
        answer = download([(path, version)], cwd, GO_MODULE_ENV)[path]
        if isinstance(answer, str):
            raise _module_error(path, version, answer)
        return answer

    def newer_than(self, path: str, pinned: str, cwd: Path) -> list[str]:
        """What GOPROXY lists of `path` beyond `pinned`: the later releases of a release pin,
        the newest commit of a pseudo-version pin. Empty when it lists nothing newer, or when
        it cannot be asked (the pin's own query reports why)."""
        pseudo = is_pseudo_version(pinned)
        if pseudo:
            argv = ["go", "list", "-m", "-json", f"{path}@latest"]
        else:
            argv = ["go", "list", "-m", "-versions", "-json", path]
        result = capture(f"list versions of {path}", argv, cwd, GO_MODULE_ENV, check=False)
        if result.returncode != 0:
            return []
        try:
            answer = json.loads(result.stdout)
        except json.JSONDecodeError:
            return []
        if pseudo:
            latest = str(answer.get("Version", ""))
            return [latest] if commit_after(pinned, latest) else []
        return releases_after(pinned, [str(v) for v in answer.get("Versions") or []])

    def selected_versions(self, work: Path, paths: Sequence[str]) -> dict[str, str]:
        """The versions minimal version selection picked for `paths` in the wrapper module."""
        result = capture(
            "list selected modules",
            ["go", "list", "-m", "-f", "{{.Path}} {{.Version}}", *paths],
            work,
            GO_BUILD_ENV,
        )
        selected = {}
        for line in result.stdout.splitlines():
            path, _, version = line.partition(" ")
            selected[path] = version
        return selected


# --- wrapper modules -----------------------------------------------------------------------


@dataclasses.dataclass
class WrapperModule:
    """A throwaway main module that requires what a component is built from.

    Upstream modules carry `replace` directives, which the go command ignores in
    dependencies, so `go install module@version` refuses them. The wrapper requires the
    modules at the released versions instead, repeats the replaces that point at other
    modules, and satisfies the ones that point at local directories with the sibling modules
    of the same release (or, where upstream never published one, a shim from this repo).

    There is no `go mod tidy`: it would also resolve the test dependencies of every
    dependency, which a build does not need and a partial mirror may not have. Builds run
    with `-mod=mod`, so the go command records in go.mod and go.sum just what they use.
    """

    name: str
    directory: Path
    go: str = "1.21"
    requires: dict[str, str] = dataclasses.field(default_factory=dict)
    replaces: dict[str, Replace] = dataclasses.field(default_factory=dict)
    sums: GoSum = dataclasses.field(default_factory=GoSum)

    def require(self, module: Module) -> None:
        """Require `module` (checked against the manifest's hashes: download_pinned) and seed
        go.sum with its hashes and its own go.sum, so that its dependencies are verified
        against what upstream recorded, with or without the checksum database."""
        self.requires[module.path] = module.version
        self.sums.add_module(module)

    def raise_go(self, version: str) -> None:
        if version and version_key(version) > version_key(self.go):
            self.go = version

    def adopt(self, go_mod: GoMod, origin: str) -> None:
        """Build with what `origin`'s go.mod needs: its Go version and its replaces that point
        at other modules (those that point at local directories are the recipe's business)."""
        self.raise_go(go_mod.go)
        for replace in go_mod.replaces:
            if not replace.is_local:
                self.carry_replace(replace, origin)

    def carry_replace(self, replace: Replace, origin: str) -> None:
        existing = self.replaces.get(replace.old_path)
        if existing is not None and existing != replace:
            raise ToolchainError(
                f"{origin} replaces {replace.old_path} with {replace.new_path}"
                f" {replace.new_version}, which conflicts with {existing.directive()}"
            )
        self.replaces[replace.old_path] = replace

    def write(self) -> None:
        lines = [
            f"// Generated by tools/toolchain/bootstrap.py to build {self.name}. Do not edit.",
            f"module go-platform.invalid/toolchain/{self.name}",
            "",
            f"go {self.go}",
            "",
        ]
        if self.requires:
            lines.append("require (")
            lines.extend(f"\t{path} {version}" for path, version in sorted(self.requires.items()))
            lines.extend([")", ""])
        if self.replaces:
            lines.append("replace (")
            lines.extend(f"\t{r.directive()}" for _, r in sorted(self.replaces.items()))
            lines.extend([")", ""])
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "go.mod").write_text("\n".join(lines), encoding="utf-8")
        self.sums.write(self.directory)


# --- components ----------------------------------------------------------------------------


@dataclasses.dataclass
class BuildContext:
    manifest: Manifest
    layout: Layout
    go: Go
    progress: Progress

    def download_pinned(self, path: str, version: str, cwd: Path, table: str) -> Module:
        """Fetch a pinned module version (or find it in the module cache), and fail unless it
        is what the manifest's `[<table>] go_sum` commits: before anything is built from it."""
        module = self.go.download(path, version, cwd)
        self.check_pinned([(module, table)])
        return module

    def check_pinned(self, modules: Sequence[tuple[Module, str]]) -> None:
        """Fail unless each downloaded module (with the table that pins it) is what the
        manifest commits; one error naming every one that is not."""
        self.manifest.hashes.check(modules, ChecksumDatabase.of(self.go.env()))


class Component(ABC):
    """One thing the toolchain provides, built by a recipe into a versioned directory."""

    name: str
    version: str
    requires_cli = False
    for_tests = False
    """Built only when named (`build --only`, as `make test-deps` does): the tests run it,
    `make toolchain` and `make up` need it not."""

    @abstractmethod
    def outputs(self) -> list[Path]:
        """Files that must exist for the component to count as present."""

    @abstractmethod
    def pins(self) -> dict[str, str]:
        """What the build depends on; a change makes the component stale."""

    @property
    @abstractmethod
    def stamp(self) -> Path:
        """The build record, written last."""

    @abstractmethod
    def build(self, ctx: BuildContext) -> dict[str, str]:
        """Build and install; return the module versions the build used."""

    def unpinned(self) -> str | None:
        """Why the component cannot be built from the manifest as it stands, if it cannot."""
        return None

    def read_stamp(self) -> dict[str, Any] | None:
        return read_stamp(self.stamp)

    def status(self) -> str:
        """`present`, `missing` or `stale` (built from other pins or an older recipe)."""
        return stamp_status(
            self.read_stamp(), recipe=RECIPE_REVISION, pins=self.pins(), outputs=self.outputs()
        )

    def built_binary_is_current(self, binary: Path) -> bool:
        """The stamp was written by this recipe from these pins and records `binary` as it is
        on disk, so installing it again needs no compile."""
        record = self.read_stamp()
        return (
            record is not None
            and record.get("recipe") == RECIPE_REVISION
            and record.get("pins") == self.pins()
            and binary.is_file()
            and record.get("files", {}).get(str(binary)) == sha256(binary)
        )

    def write_stamp(self, ctx: BuildContext, modules: dict[str, str], seconds: float) -> None:
        write_stamp(
            self.stamp,
            component=self.name,
            version=self.version,
            recipe=RECIPE_REVISION,
            pins=self.pins(),
            modules=modules,
            go=ctx.go.version(),
            seconds=seconds,
            outputs=self.outputs(),
        )


def _check_selected(ctx: BuildContext, work: Path, expected: Mapping[str, str]) -> dict[str, str]:
    """Fail if minimal version selection moved a pinned module off its release."""
    selected = ctx.go.selected_versions(work, list(expected))
    for path, version in expected.items():
        if selected.get(path) != version:
            raise ToolchainError(
                f"{path}: the build selected {selected.get(path)} instead of the pinned {version};"
                f" another requirement in {work / 'go.mod'} needs a newer version"
            )
    return selected


def _no_recipe(origin: str, replace: Replace) -> ToolchainError:
    return ToolchainError(
        f"{origin} replaces {replace.old_path} with the local directory {replace.new_path};"
        " the bootstrap has no recipe for that module"
    )


def _local_replaces_outside(go_mod: GoMod, origin: str, provided: Sequence[str]) -> None:
    for replace in go_mod.replaces:
        if replace.is_local and replace.old_path not in provided:
            raise _no_recipe(origin, replace)


def _whole_log(now: int, start: int) -> str:
    """A heartbeat's count: every line of the component's build log so far."""
    return f"{now} log lines"


def go_build(
    ctx: BuildContext,
    executable: str,
    package: str,
    *,
    cwd: Path,
    work: Path,
    stamp: Mapping[str, str],
    env: Mapping[str, str],
    tags: str = "",
    label: str = "",
    release: str = "",
) -> Path:
    """`go build` one program as release builds are made (`-trimpath`, stripped), with the
    `-X` variables of `stamp` set; logged to work/build.log; returns the binary.

    With `release`, the program is installed from its own module at that version instead
    (`go install package@release` into work/out), for a module without replace directives:
    the binary's build info then names the release, as upstream's own install would."""
    out = work / "out" / executable
    ldflags = " ".join(["-s -w", *(f"-X {name}={value}" for name, value in stamp.items())])
    flags = ["-v", "-trimpath", *(["-tags", tags] if tags else []), "-ldflags", ldflags]
    if release:
        argv = ["go", "install", *flags, f"{package}@{release}"]
        env = {**env, "GOBIN": str(out.parent)}
    else:
        argv = ["go", "build", *flags, "-o", str(out), package]
    verb = argv[1]
    with ctx.progress.step(f"go {verb} {label or package}"):
        run_logged(
            f"go {verb} {executable}",
            argv,
            cwd,
            work / "build.log",
            ctx.progress,
            env,
            count=_whole_log,
        )
    return out


class PulumiProgram(Component):
    """A program of the pulumi release (the CLI, the language host), installed into the
    release's bin directory with its stamp beside it."""

    executable: str

    def __init__(self, manifest: Manifest, layout: Layout) -> None:
        self.version = manifest.pulumi_version
        self.layout = layout

    @property
    def binary(self) -> Path:
        return self.layout.bin_dir(self.version) / self.executable

    def pins(self) -> dict[str, str]:
        return {PULUMI_PKG: f"v{self.version}", PULUMI_SDK: f"v{self.version}"}

    @property
    def stamp(self) -> Path:
        return self.layout.pulumi_prefix(self.version) / f"{self.name}.stamp.json"

    def go_build(self, ctx: BuildContext, work: Path, package: str, release: str) -> Path:
        """`go build` the program as upstream's release builds do, with the release stamped
        in; return the binary."""
        return go_build(
            ctx,
            self.executable,
            package,
            cwd=work,
            work=work,
            stamp={PULUMI_VERSION_VARIABLE: release},
            env=GO_BUILD_ENV,
            tags=PULUMI_BUILD_TAGS,
        )


class PulumiCli(PulumiProgram):
    """The `pulumi` CLI from github.com/pulumi/pulumi/pkg/v3, version stamped."""

    name = "cli"
    executable = "pulumi"

    def outputs(self) -> list[Path]:
        return [self.binary]

    def build(self, ctx: BuildContext) -> dict[str, str]:
        release = f"v{self.version}"
        work = fresh_directory(ctx.layout.work_dir(self.name, self.version))
        wrapper = WrapperModule(self.name, work)
        with ctx.progress.step(f"resolve {PULUMI_PKG}@{release} and {PULUMI_SDK}@{release}"):
            pkg = ctx.go.download(PULUMI_PKG, release, work)
            sdk = ctx.go.download(PULUMI_SDK, release, work)
            ctx.check_pinned([(pkg, PULUMI_TABLE), (sdk, PULUMI_TABLE)])
            pkg_mod = read_go_mod(pkg.go_mod)
            _local_replaces_outside(pkg_mod, f"{PULUMI_PKG}@{release}", [PULUMI_SDK])
            wrapper.require(pkg)
            wrapper.require(sdk)
            wrapper.adopt(pkg_mod, f"{PULUMI_PKG}@{release}")
            wrapper.write()
            selected = _check_selected(ctx, work, {PULUMI_PKG: release, PULUMI_SDK: release})
        built = self.go_build(ctx, work, PULUMI_CLI_PACKAGE, release)
        reported = capture("pulumi version", [str(built), "version"], work, PULUMI_OFFLINE_ENV)
        if reported.stdout.strip() != release:
            raise ToolchainError(
                f"the built CLI reports {reported.stdout.strip()!r}, expected {release}"
            )
        install(built, self.binary, move=True)
        return selected


GO_EMBED = re.compile(r"^//go:embed\s+(.+)$", re.MULTILINE)


def embedded_files(go_file: Path) -> set[Path]:
    """The files a Go source embeds (`//go:embed` patterns, relative to its directory)."""
    found: set[Path] = set()
    for patterns in GO_EMBED.findall(go_file.read_text(encoding="utf-8")):
        for pattern in patterns.split():
            found.update(p for p in go_file.parent.glob(pattern) if p.is_file())
    return found


def source_digest(directory: Path) -> str:
    """SHA-256 over a Go module's build inputs (go.mod, go.sum, non-test .go files and the
    files they embed; of the modules nested in it, only those its go.mod replaces into the
    build), so that editing the source makes a component built from it stale."""
    digest = hashlib.sha256()
    replaced = {
        (directory / r.new_path).resolve()
        for r in read_go_mod(directory / "go.mod").replaces
        if r.is_local
    }
    nested = [
        go_mod.parent
        for go_mod in directory.rglob("go.mod")
        if go_mod.parent != directory and go_mod.parent.resolve() not in replaced
    ]
    paths = [
        path
        for path in sorted(directory.rglob("*"))
        if not any(module in path.parents for module in nested)  # those build apart
    ]
    sources = [p for p in paths if p.suffix == ".go" and not p.name.endswith("_test.go")]
    embedded = set().union(*(embedded_files(p) for p in sources if p.is_file()))
    for path in paths:
        relative = path.relative_to(directory).as_posix()
        wanted = path.name in {"go.mod", "go.sum"} or path in sources or path in embedded
        if path.is_file() and wanted:
            digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


LANGUAGE_HOST_VARIABLE = "GO_PLATFORM_LANGUAGE_HOST"
LANGUAGE_HOST_CHOICES = ("auto", "go-platform", "official")
"""auto: the user's official host where there is one, else ours; go-platform: ours;
official: theirs, or an error."""


def language_host_choice(environ: Mapping[str, str]) -> str:
    """Which language host GO_PLATFORM_LANGUAGE_HOST asks for (unset or empty: auto); any
    other value is an error naming the accepted ones."""
    value = environ.get(LANGUAGE_HOST_VARIABLE, "")
    if value == "":
        return "auto"
    if value not in LANGUAGE_HOST_CHOICES:
        raise ToolchainError(
            f"{LANGUAGE_HOST_VARIABLE} must be one of {', '.join(LANGUAGE_HOST_CHOICES)}"
            f" (or unset), got {value!r}"
        )
    return value


def official_language_host(layout: Layout, path: str | None = None) -> Path | None:
    """Pulumi's own Python language host, if the user has an official install: on PATH
    (outside this toolchain) or in ~/.pulumi/bin, where Pulumi's installer puts it."""
    directories = [Path(d) for d in (path or os.environ.get("PATH", "")).split(os.pathsep) if d]
    directories.append(Path.home() / ".pulumi" / "bin")
    for directory in directories:
        candidate = directory / PythonLanguageHost.executable
        resolved = candidate.resolve() if candidate.exists() else None
        if resolved is None or layout.root in resolved.parents or not os.access(resolved, os.X_OK):
            continue
        if (resolved.parent / Path(PYTHON_EXECUTOR_SCRIPT).name).is_file():
            return resolved  # a complete host: the executor script sits beside it
    return None


class PythonLanguageHost(PulumiProgram):
    """go-platform's own `pulumi-language-python` (tools/language-python), built from this
    repository against the SDK's packages, with the SDK's executor scripts beside it.

    It is installed under `libexec/`; `bin/pulumi-language-python` links to the host in use:
    the user's official one where present (see `official_language_host`), else ours. The
    engine finds the host beside the CLI, so no PATH warning is printed either way.
    """

    name = "language-python"
    executable = "pulumi-language-python"

    def __init__(self, manifest: Manifest, layout: Layout) -> None:
        super().__init__(manifest, layout)
        self.module_dir = LANGUAGE_HOST_MODULE

    @property
    def libexec(self) -> Path:
        return self.layout.pulumi_prefix(self.version) / "libexec"

    @property
    def built(self) -> Path:
        return self.libexec / self.executable

    @property
    def link(self) -> Path:
        return self.layout.bin_dir(self.version) / self.executable

    def outputs(self) -> list[Path]:
        return [self.built, *self.scripts().values()]

    def scripts(self) -> dict[str, Path]:
        """The SDK's scripts (as they sit in sdk/v3) and where they are installed."""
        return {
            PYTHON_EXECUTOR_SCRIPT: self.libexec / Path(PYTHON_EXECUTOR_SCRIPT).name,
            PYTHON_DYNAMIC_PROVIDER: self.link.parent / Path(PYTHON_DYNAMIC_PROVIDER).name,
        }

    def sdk_version(self) -> str:
        """The sdk/v3 version the host's go.mod requires (must be the CLI's)."""
        return read_go_mod(self.module_dir / "go.mod").requires.get(PULUMI_SDK, "")

    def pins(self) -> dict[str, str]:
        return {PULUMI_SDK: self.sdk_version(), "source": source_digest(self.module_dir)}

    def unpinned(self) -> str | None:
        if self.sdk_version() == f"v{self.version}":
            return None
        return (
            f"{self.module_dir / 'go.mod'} requires {PULUMI_SDK} {self.sdk_version() or '(none)'},"
            f" but the CLI is v{self.version}: they must match (docs/toolchain.md#language-host)"
        )

    def build(self, ctx: BuildContext) -> dict[str, str]:
        release = self.sdk_version()
        work = fresh_directory(ctx.layout.work_dir(self.name, self.version))
        with ctx.progress.step(f"resolve {PULUMI_SDK}@{release} (the executor scripts)"):
            sdk = ctx.download_pinned(PULUMI_SDK, release, work, PULUMI_TABLE)
        out = go_build(
            ctx,
            self.executable,
            ".",
            cwd=self.module_dir,
            work=work,
            stamp={"main.version": f"{self.version}+go-platform"},
            env=LOCAL_MODULE_ENV,
            label=str(self.module_dir.relative_to(REPO_ROOT)),
        )
        for script, destination in self.scripts().items():
            source = sdk.dir / script
            if not source.is_file():
                raise ToolchainError(
                    f"{PULUMI_SDK}@{release} has no {script}; the language host needs it"
                )
            install(source, destination)
        install(out, self.built, move=True)
        self.select(ctx.progress)
        return {PULUMI_SDK: release}

    def in_use(self) -> tuple[str, Path]:
        """Which host the engine will run: ("official", path) or ("go-platform", path)."""
        choice = language_host_choice(os.environ)
        official = official_language_host(self.layout) if choice != "go-platform" else None
        if choice == "official" and official is None:
            raise ToolchainError(
                "GO_PLATFORM_LANGUAGE_HOST=official, but no official pulumi-language-python was"
                " found on PATH or in ~/.pulumi/bin"
            )
        return ("official", official) if official else ("go-platform", self.built)

    def select(self, progress: Progress) -> None:
        """Point bin/pulumi-language-python at the host in use."""
        kind, target = self.in_use()
        if self.link.is_symlink() and self.link.resolve() == target.resolve():
            return
        symlink_atomically(self.link, target)
        progress.say(f"    language host: {kind} ({target})")


@dataclasses.dataclass(frozen=True)
class ProviderRecipe:
    """How one provider module is laid out upstream."""

    module: str
    version_variable: str
    # Local replaces satisfied by the tagged sibling module of the same release.
    siblings: tuple[str, ...] = ()


PROVIDER_RECIPES: dict[str, ProviderRecipe] = {
    "kubernetes": ProviderRecipe(
        module="github.com/pulumi/pulumi-kubernetes/provider/v4",
        version_variable="github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version",
        siblings=("github.com/pulumi/pulumi-kubernetes/sdk/v4",),
    ),
}


class ResourcePlugin(Component):
    """A resource provider built from its provider module and installed into PULUMI_HOME.

    Provider repositories commit `cmd/pulumi-resource-<name>/schema.json` but not the
    `schema-embed.json` the binary embeds: upstream generates it with the `go:generate`
    program beside main.go, which stamps the release version into the schema. The recipe
    copies that package out of the module, runs the same generator, then builds it.
    """

    requires_cli = True

    def __init__(self, pin: PluginPin, manifest: Manifest, layout: Layout) -> None:
        self.name = pin.name
        self.version = pin.version
        self.module_version = pin.module_version
        self.recipe = PROVIDER_RECIPES[pin.name]
        self.manifest = manifest
        self.layout = layout

    @property
    def executable(self) -> str:
        return f"pulumi-resource-{self.name}"

    @property
    def table(self) -> str:
        """The manifest table that pins it (and holds the go.sum lines of its modules)."""
        return f"plugins.{self.name}"

    @property
    def built(self) -> Path:
        return self.layout.provider_dir(self.name, self.version) / self.executable

    @property
    def installed(self) -> Path:
        return (
            self.layout.pulumi_home
            / "plugins"
            / f"resource-{self.name}-v{self.version}"
            / self.executable
        )

    def outputs(self) -> list[Path]:
        return [self.built, self.installed]

    def pins(self) -> dict[str, str]:
        return {self.recipe.module: self.module_version, "version": self.version}

    @property
    def stamp(self) -> Path:
        return self.layout.provider_dir(self.name, self.version) / "stamp.json"

    def status(self) -> str:
        status = super().status()
        partial = self.installed.parent.with_name(self.installed.parent.name + ".partial")
        return "missing" if status == "present" and partial.exists() else status

    def unpinned(self) -> str | None:
        if self.module_version:
            return None
        return (
            f"[plugins.{self.name}].module_version is empty in {self.manifest.path}: pin the"
            f" pseudo-version of {self.recipe.module} at the commit tagged v{self.version}"
            " (docs/toolchain.md#pinning)"
        )

    def build(self, ctx: BuildContext) -> dict[str, str]:
        record = self.read_stamp()
        current = record is not None and self.built_binary_is_current(self.built)
        modules = record.get("modules", {}) if record and current else self._compile(ctx)
        with ctx.progress.step(f"install into {self.layout.pulumi_home}"):
            self._install_plugin(ctx)
        return modules

    def _compile(self, ctx: BuildContext) -> dict[str, str]:
        recipe = self.recipe
        work = fresh_directory(ctx.layout.work_dir(self.name, self.version))
        log = work / "build.log"
        wrapper = WrapperModule(self.name, work)
        origin = f"{recipe.module}@{self.module_version}"
        expected = {recipe.module: self.module_version}
        with ctx.progress.step(f"resolve {origin}"):
            provider = ctx.download_pinned(recipe.module, self.module_version, work, self.table)
            provider_mod = read_go_mod(provider.go_mod)
            wrapper.require(provider)
            wrapper.raise_go(provider_mod.go)
            for replace in provider_mod.replaces:
                if not replace.is_local:
                    wrapper.carry_replace(replace, origin)
                elif replace.old_path in recipe.siblings:
                    sibling = ctx.download_pinned(
                        replace.old_path, f"v{self.version}", work, self.table
                    )
                    wrapper.require(sibling)
                    expected[sibling.path] = sibling.version
                else:
                    raise _no_recipe(origin, replace)
            wrapper.write()
        package_dir = Path("cmd") / self.executable
        with ctx.progress.step(f"copy {package_dir} out of the module"):
            target = work / package_dir
            target.mkdir(parents=True)
            for source in sorted((provider.dir / package_dir).iterdir()):
                if source.is_file():
                    shutil.copyfile(source, target / source.name)
            selected = _check_selected(ctx, work, expected)
        with ctx.progress.step(f"generate the schema embed files (VERSION={self.version})"):
            run_logged(
                "go generate",
                ["go", "generate", f"./{package_dir.as_posix()}"],
                work,
                log,
                ctx.progress,
                {**GO_BUILD_ENV, "VERSION": self.version},
                count=_whole_log,
            )
        out = go_build(
            ctx,
            self.executable,
            f"./{package_dir.as_posix()}",
            cwd=work,
            work=work,
            stamp={recipe.version_variable: self.version},
            env=GO_BUILD_ENV,
            label=f"{recipe.module}/{package_dir.as_posix()}",
        )
        install(out, self.built, move=True)
        # Record the binary now, so that reinstalling into a wiped PULUMI_HOME needs no rebuild.
        self.write_stamp(ctx, selected, 0.0)
        return selected

    def _install_plugin(self, ctx: BuildContext) -> None:
        cli = ctx.layout.bin_dir(ctx.manifest.pulumi_version) / "pulumi"
        env = toolchain_env(ctx.layout)
        capture(
            f"install plugin {self.name}",
            [
                str(cli), "plugin", "install", "resource", self.name, self.version,
                "--file", str(self.built), "--reinstall",
            ],
            self.layout.root,
            env,
        )  # fmt: skip
        listed = capture(
            "pulumi plugin ls", [str(cli), "plugin", "ls", "--json"], self.layout.root, env
        )
        if not any(
            p.get("name") == self.name
            and p.get("kind") == "resource"
            and p.get("version") == self.version
            for p in json.loads(listed.stdout or "[]")
        ):
            raise ToolchainError(
                f"`pulumi plugin ls` does not list resource plugin {self.name} {self.version}"
            )


@dataclasses.dataclass(frozen=True)
class LocalPluginRecipe:
    """A resource plugin whose Go module lives in this repository: a generator writes the
    files the plugin embeds (schema, metadata), then the plugin is built, both with the
    release version."""

    directory: Path
    generator: str
    generated: str
    package: str
    version_variable: str


RANDOM_PROVIDER_MODULE = (
    "github.com/go-platform/go-platform/tools/toolchain/modules/random-provider"
)
LOCAL_PLUGIN_RECIPES: dict[str, LocalPluginRecipe] = {
    # The Terraform random provider through the Pulumi Terraform bridge, with our own mapping
    # onto the tokens the pulumi-random Python SDK sends (tools/toolchain/modules/random-provider).
    "random": LocalPluginRecipe(
        directory=MODULES_DIR / "random-provider",
        generator="./cmd/generate",
        generated="cmd/pulumi-resource-random/generated",
        package="./cmd/pulumi-resource-random",
        version_variable=f"{RANDOM_PROVIDER_MODULE}/version.Version",
    ),
}


class LocalResourcePlugin(ResourcePlugin):
    """A resource plugin built from a Go module of this repository (LOCAL_PLUGIN_RECIPES).

    The module is copied into the work directory first, so the generated files never land in
    the repository; it builds from its committed go.sum (`-mod=readonly`).
    """

    def __init__(self, pin: PluginPin, manifest: Manifest, layout: Layout) -> None:
        self.name = pin.name
        self.version = pin.version
        self.module_version = ""
        self.local = LOCAL_PLUGIN_RECIPES[pin.name]
        self.manifest = manifest
        self.layout = layout

    def pins(self) -> dict[str, str]:
        return {"source": source_digest(self.local.directory), "version": self.version}

    def unpinned(self) -> str | None:
        if (self.local.directory / "go.mod").is_file():
            return None
        return f"{self.local.directory} has no go.mod: the {self.name} plugin's module is missing"

    def _compile(self, ctx: BuildContext) -> dict[str, str]:
        recipe = self.local
        work = fresh_directory(ctx.layout.work_dir(self.name, self.version))
        source = work / "src"
        log = work / "build.log"
        with ctx.progress.step(f"copy {recipe.directory.relative_to(REPO_ROOT)}"):
            # Build output a developer may have left in the module is not source.
            leftovers = {"bin", self.executable}
            shutil.copytree(
                recipe.directory,
                source,
                ignore=lambda directory, names: [
                    n for n in names if n in leftovers and Path(directory) == recipe.directory
                ],
            )
        env = {**LOCAL_MODULE_ENV}
        with ctx.progress.step(f"generate the schema and bridge metadata (version {self.version})"):
            run_logged(
                "go run generate",
                [
                    "go", "run", "-trimpath", recipe.generator,
                    "-version", self.version, "-out", recipe.generated,
                ],
                source, log, ctx.progress, env, count=_whole_log,
            )  # fmt: skip
        out = go_build(
            ctx,
            self.executable,
            recipe.package,
            cwd=source,
            work=work,
            stamp={recipe.version_variable: self.version},
            env=env,
        )
        modules = read_go_mod(source / "go.mod").requires
        install(out, self.built, move=True)
        self.write_stamp(ctx, modules, 0.0)
        return dict(modules)


class ToolComponent(Component):
    """A single program of a Go module, pinned by `version` in its own table of the manifest
    (`[<name>]`), installed into `tools/<name>-v<version>/`."""

    executable: str
    module: str

    def __init__(self, manifest: Manifest, layout: Layout, version: str) -> None:
        self.version = version
        self.manifest = manifest
        self.layout = layout

    @property
    def built(self) -> Path:
        return self.layout.tool_dir(self.name, self.version) / self.executable

    def outputs(self) -> list[Path]:
        return [self.built]

    def pins(self) -> dict[str, str]:
        return {self.module: f"v{self.version}"}

    @property
    def stamp(self) -> Path:
        return self.layout.tool_dir(self.name, self.version) / "stamp.json"

    def unpinned(self) -> str | None:
        if self.version:
            return None
        return (
            f"the manifest {self.manifest.path} pins no version for it (add `version` to its"
            f" [{self.name}] table; docs/toolchain.md#pins-and-why)"
        )


GOVULNCHECK_MODULE = "golang.org/x/vuln"
GOVULNCHECK_PACKAGE = f"{GOVULNCHECK_MODULE}/cmd/govulncheck"


def verify_dependencies(module: Module, package: str, directory: Path) -> None:
    """Have the go command check every module `package` (a main package of `module`) is
    built from against `module`'s own go.sum, at the versions `go install package@version`
    selects (the module's own requirements).

    `go install package@version` reads no go.sum: it checks what it downloads against the
    checksum database only, so with that off (GOSUMDB=off, GONOSUMDB, GOPRIVATE) nothing
    would check the dependencies. Loading the package once in a wrapper module seeded with
    the module's go.sum does: the go command compares each module it downloads, or finds in
    the module cache, with those lines, and the install then builds from the module cache."""
    origin = f"{module.path}@{module.version}"
    wrapper = WrapperModule(f"{Path(package).name}-dependencies", directory)
    wrapper.require(module)
    wrapper.adopt(read_go_mod(module.go_mod), origin)
    wrapper.write()
    result = capture(
        f"verify the dependencies of {origin}",
        ["go", "list", "-deps", package],
        directory,
        GO_BUILD_ENV,
        check=False,
    )
    if result.returncode != 0:
        said = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        raise ToolchainError(
            f"{origin}: the modules {package} is built from do not verify against its go.sum"
            f" ({'; '.join(said[:3]) or f'exit status {result.returncode}'}); see {directory}"
        )


class Govulncheck(ToolComponent):
    """govulncheck from golang.org/x/vuln, which the Go services' vulnerability gate runs
    (`core/go_platform_core/vulncheck.py`). Installed from its module at the pinned release (x/vuln has
    no replace directives, so `go install` takes it as published and its build info names
    the release, as `govulncheck -version` and its JSON output report it) into
    `tools/govulncheck-v<version>/`, and linked into the CLI's bin directory, so `env` and
    `run` put it on PATH with the CLI. A new CLI release only needs a new link."""

    name = "govulncheck"
    executable = "govulncheck"
    module = GOVULNCHECK_MODULE

    def __init__(self, manifest: Manifest, layout: Layout) -> None:
        super().__init__(manifest, layout, manifest.govulncheck_version)

    @property
    def link(self) -> Path:
        return self.layout.bin_dir(self.manifest.pulumi_version) / self.executable

    def outputs(self) -> list[Path]:
        return [self.built, self.link]

    def status(self) -> str:
        status = super().status()
        linked = self.link.is_symlink() and self.link.resolve() == self.built.resolve()
        return "missing" if status == "present" and not linked else status

    def build(self, ctx: BuildContext) -> dict[str, str]:
        release = f"v{self.version}"
        if not self.built_binary_is_current(self.built):
            work = fresh_directory(ctx.layout.work_dir(self.name, self.version))
            with ctx.progress.step(f"resolve {GOVULNCHECK_MODULE}@{release} and its dependencies"):
                vuln = ctx.download_pinned(GOVULNCHECK_MODULE, release, work, self.name)
                verify_dependencies(vuln, GOVULNCHECK_PACKAGE, work / "dependencies")
            out = go_build(
                ctx,
                self.executable,
                GOVULNCHECK_PACKAGE,
                cwd=work,
                work=work,
                stamp={},
                env=GO_BUILD_ENV,
                release=release,
            )
            reported = capture("govulncheck -version", [str(out), "-version"], work)
            if f"govulncheck@{release}" not in reported.stdout:
                raise ToolchainError(
                    f"the built govulncheck reports {reported.stdout.strip()!r}, expected {release}"
                )
            install(out, self.built, move=True)
        with ctx.progress.step(f"link {self.link}"):
            symlink_atomically(self.link, self.built)
        return {GOVULNCHECK_MODULE: release}


TESTS_ONLY = "tests-only"
"""The doctor's status of a component only the tests run that is not built (or stale)."""

ATHENS_MODULE = "github.com/gomods/athens"
ATHENS_PACKAGE = f"{ATHENS_MODULE}/cmd/proxy"


class Athens(ToolComponent):
    """The Athens module proxy at the release ModuleProxy deploys, for the tests that run it
    with the configuration ModuleProxy generates (tests/integration/test_athens.py).

    The module proxy serves the release but not the module's version list, which `go
    install module@version` asks for, so it is built in a wrapper module that requires the
    release; the release is stamped into its build information as upstream's own builds do.
    Installed into `tools/athens-v<version>/`, on nobody's PATH.
    """

    name = "athens"
    executable = "athens"
    module = ATHENS_MODULE
    for_tests = True

    def __init__(self, manifest: Manifest, layout: Layout) -> None:
        super().__init__(manifest, layout, manifest.athens_version)

    def build(self, ctx: BuildContext) -> dict[str, str]:
        release = f"v{self.version}"
        work = fresh_directory(ctx.layout.work_dir(self.name, self.version))
        wrapper = WrapperModule(self.name, work)
        with ctx.progress.step(f"resolve {ATHENS_MODULE}@{release}"):
            athens = ctx.download_pinned(ATHENS_MODULE, release, work, self.name)
            wrapper.require(athens)
            wrapper.adopt(read_go_mod(athens.go_mod), f"{ATHENS_MODULE}@{release}")
            wrapper.write()
            # Before the build, as for the plugins: a pin moved off its release builds nothing.
            selected = _check_selected(ctx, work, {ATHENS_MODULE: release})
        out = go_build(
            ctx,
            self.executable,
            ATHENS_PACKAGE,
            cwd=work,
            work=work,
            stamp={f"{ATHENS_MODULE}/pkg/build.version": release},
            env=GO_BUILD_ENV,
        )
        reported = capture("athens -version", [str(out), "-version"], work)
        if release not in reported.stdout:
            raise ToolchainError(
                f"the built athens reports {reported.stdout.strip()!r}, expected {release}"
            )
        install(out, self.built, move=True)
        return selected


def components(manifest: Manifest, layout: Layout) -> list[Component]:
    """Every component, in build order (plugins are installed with the CLI)."""
    found: list[Component] = [PulumiCli(manifest, layout), PythonLanguageHost(manifest, layout)]
    found.extend(
        LocalResourcePlugin(pin, manifest, layout)
        if pin.name in LOCAL_PLUGIN_RECIPES
        else ResourcePlugin(pin, manifest, layout)
        for pin in manifest.plugins
    )
    found.append(Govulncheck(manifest, layout))
    found.append(Athens(manifest, layout))
    return found


# --- subcommands ---------------------------------------------------------------------------


def _select(all_components: list[Component], only: str | None) -> list[Component]:
    if not only:
        return [c for c in all_components if not c.for_tests]
    names = [name.strip() for name in only.split(",") if name.strip()]
    known = {c.name: c for c in all_components}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ToolchainError(
            f"unknown component(s) {', '.join(unknown)}; known: {', '.join(known)}"
        )
    chosen = set(names)
    if any(known[name].requires_cli for name in names):
        chosen.add(PulumiCli.name)  # plugins are installed with the CLI
    return [c for c in all_components if c.name in chosen]


def command_build(args: argparse.Namespace) -> int:
    manifest = Manifest.load(manifest_path())
    language_host_choice(os.environ)  # a wrong choice fails now, not after the builds
    layout = Layout.from_environment()
    progress = Progress()
    go = Go()
    ctx = BuildContext(manifest, layout, go, progress)
    selected = _select(components(manifest, layout), args.only)
    progress.say(f"toolchain: {layout.root} ({go.version()}, manifest {manifest.path})")
    note = ChecksumDatabase.of(go.env()).note(
        [pin.path for pin in pinned_modules(manifest) if pin.version], manifest.path
    )
    if note:
        progress.say(f"toolchain: {note}")
    report: list[dict[str, Any]] = []
    failures: list[str] = []
    with exclusive(layout.lock_file, progress, tool="toolchain", what="build"):
        for component in selected:
            outcome = _build_one(ctx, component, cli_failed=PulumiCli.name in failures)
            report.append(outcome)
            if outcome["status"] in {"failed", "skipped"}:
                failures.append(component.name)
            elif isinstance(component, PythonLanguageHost):
                component.select(progress)  # an official host may have appeared or gone
        total = progress.elapsed()
        write_last_build(layout.last_build, seconds=total, go=go.version(), components=report)
    progress.say(f"toolchain: finished in {duration(total)}")
    for line in report:
        took = f" in {duration(line['seconds'])}" if "seconds" in line else ""
        reason = f": {line['reason']}" if "reason" in line else ""
        version = _version_label(line["version"])
        progress.say(f"  {line['component']:<16} {version:<11} {line['status']}{took}{reason}")
    if failures:
        raise ToolchainError(
            f"{len(failures)} of {len(selected)} components not built ({', '.join(failures)}); "
            "see above"
        )
    return 0


def _version_label(version: str) -> str:
    """`v1.2.3`, or `(unpinned)` for a component the manifest pins no version of."""
    return f"v{version}" if version else "(unpinned)"


def _build_one(ctx: BuildContext, component: Component, *, cli_failed: bool) -> dict[str, Any]:
    """Build one component if it is not present; never raises for expected failures."""
    progress = ctx.progress
    label = f"{component.name} {_version_label(component.version)}"
    outcome: dict[str, Any] = {"component": component.name, "version": component.version}
    status = component.status()
    if status == "present":
        progress.say(f"==> {label}: present")
        record = component.read_stamp() or {}
        built = {key: record[key] for key in ("build_seconds", "built_at") if key in record}
        return {**outcome, "status": "present", **built}
    reason = component.unpinned()
    if reason is None and component.requires_cli and cli_failed:
        reason = "needs the pulumi CLI, which was not built"
    if reason:
        progress.say(f"==> {label}: skipped: {reason}")
        return {**outcome, "status": "skipped", "reason": reason}
    progress.say(f"==> {label}: {status}, building (elapsed {duration(progress.elapsed())})")
    started = time.monotonic()
    try:
        modules = component.build(ctx)
    except StepError as failure:
        _report_failure(ctx, label, component, failure)
        return {**outcome, "status": "failed", "reason": str(failure)}
    except ToolError as error:
        progress.say(f"<== {label}: failed: {error}")
        rebuild = build_command(component.name, ctx.manifest.path, os.environ, Path.home())
        progress.say(f"  once fixed, rerun: {rebuild}")
        return {**outcome, "status": "failed", "reason": str(error)}
    seconds = time.monotonic() - started
    component.write_stamp(ctx, modules, seconds)
    progress.say(f"<== {label}: built in {duration(seconds)}")
    return {**outcome, "status": "built", "seconds": round(seconds, 1)}


def _report_failure(
    ctx: BuildContext, label: str, component: Component, failure: StepError
) -> None:
    progress = ctx.progress
    progress.say(f"toolchain: {label}: step '{failure.step}' failed ({failure.detail})")
    for line in failure.rerun_lines():
        progress.say(line)
    rebuild = build_command(component.name, ctx.manifest.path, os.environ, Path.home())
    progress.say(f"  or:    {rebuild}")


def toolchain_selection(manifest: Path, environ: Mapping[str, str], home: Path) -> dict[str, str]:
    """The variables a command this one suggests needs to use the same cache and manifest
    from any shell: GO_PLATFORM_CACHE and GO_PLATFORM_TOOLCHAIN_MANIFEST, as absolute paths,
    where they are not the defaults (`environ` is this run's environment)."""
    selection = cache_selection(environ, home)
    if manifest != DEFAULT_MANIFEST:
        selection[MANIFEST_VARIABLE] = str(manifest)
    return selection


def build_command(component: str, manifest: Path, environ: Mapping[str, str], home: Path) -> str:
    """The shell line that builds `component` again as this run did (toolchain_selection).
    The step's own `rerun:` line needs no such variables: its directories are absolute."""
    script = str(Path(__file__).resolve())
    return shell_command(
        [sys.executable, script, "build", "--only", component],
        toolchain_selection(manifest, environ, home),
    )


@dataclasses.dataclass
class Finding:
    """One line of the doctor's report."""

    section: str  # "toolchain", "consistency", "checksums" or "registry"
    component: str
    version: str
    status: str
    detail: str
    newer: list[str] = dataclasses.field(default_factory=list)  # "registry": listed beyond the pin


def _requirements_pins(path: Path) -> dict[str, str]:
    pins = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.match(r"^\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s#;]+)", line)
            if match:
                pins[match.group(1).lower()] = match.group(2)
    return pins


def _manifest_mismatches(manifest: Manifest) -> list[str]:
    """Differences between the toolchain versions and requirements.txt's Python pins.

    Provider SDKs must equal their plugins. The Python SDK may be older than the CLI (the
    engine serves older SDKs; that is the normal, supported combination) but never newer.
    """
    pins = _requirements_pins(REPO_ROOT / "requirements.txt")
    if not pins:
        return []
    problems = [
        f"pulumi-{plugin.name}: toolchain {plugin.version}, requirements.txt {pins[f'pulumi-{plugin.name}']}"
        for plugin in manifest.plugins
        if pins.get(f"pulumi-{plugin.name}", plugin.version) != plugin.version
    ]
    sdk = pins.get("pulumi")
    if sdk and version_key(sdk) > version_key(manifest.pulumi_version):
        problems.append(
            f"pulumi: requirements.txt {sdk} is newer than the CLI {manifest.pulumi_version};"
            " an SDK needs a CLI at least as new"
        )
    return problems


def _directory_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(root) / name).lstat().st_size
    return total


@dataclasses.dataclass(frozen=True)
class PinnedModule:
    """A module version the manifest pins, which a build downloads."""

    component: str
    path: str
    version: str
    """The version required; "" when the manifest pins none."""
    table: str
    """The manifest table that pins it, whose `go_sum` holds its hashes."""
    built_from: bool
    """The module a component is built from (not a sibling of the same release): the
    registry report looks beyond its pin."""


def pinned_modules(manifest: Manifest) -> list[PinnedModule]:
    """Every module version of the manifest a build downloads: the CLI's pkg/v3 and sdk/v3
    (the language host's executor scripts come from that sdk/v3 too), each provider module
    and the siblings its local replaces name, govulncheck's and Athens's modules."""
    release = f"v{manifest.pulumi_version}"
    pinned = [
        PinnedModule(PulumiCli.name, PULUMI_PKG, release, PULUMI_TABLE, True),
        PinnedModule(PulumiCli.name, PULUMI_SDK, release, PULUMI_TABLE, False),
    ]
    for plugin in manifest.plugins:
        if plugin.name not in PROVIDER_RECIPES:
            continue  # built from this repository; its go.sum pins what it downloads
        recipe = PROVIDER_RECIPES[plugin.name]
        table = f"plugins.{plugin.name}"
        pinned.append(PinnedModule(plugin.name, recipe.module, plugin.module_version, table, True))
        pinned.extend(
            PinnedModule(plugin.name, sibling, f"v{plugin.version}", table, False)
            for sibling in recipe.siblings
        )
    for name, module, version in (
        (Govulncheck.name, GOVULNCHECK_MODULE, manifest.govulncheck_version),
        (Athens.name, ATHENS_MODULE, manifest.athens_version),
    ):
        pinned.append(PinnedModule(name, module, f"v{version}" if version else "", name, True))
    return pinned


def _registry_findings(manifest: Manifest, go: Go, cwd: Path) -> list[Finding]:
    """Ask GOPROXY for every pinned module version (metadata only, no build), and what it
    lists beyond the pins a component is built from (not their siblings of the same release),
    so that a newer release is seen when it is served."""
    findings = []
    for pin in pinned_modules(manifest):
        component, path, version = pin.component, pin.path, pin.version
        if not version:
            findings.append(
                Finding("registry", component, "", "unpinned", f"{path}: no version pinned")
            )
            continue
        result = capture(
            f"query {path}@{version}",
            ["go", "list", "-m", "-json", f"{path}@{version}"],
            cwd,
            GO_MODULE_ENV,
            check=False,
        )
        if result.returncode == 0:
            newer = go.newer_than(path, version, cwd) if pin.built_from else []
            findings.append(Finding("registry", component, version, "available", path, newer))
        else:
            error = _module_error(path, version, result.stderr or result.stdout)
            findings.append(Finding("registry", component, version, "unavailable", str(error)))
    return findings


SUMDB_ON, SUMDB_OFF = "on", "off"
"""The doctor's status of the checksum database for the pinned modules: either is fine, the
committed hashes check the pinned modules whatever it is."""


def _hash_findings(manifest: Manifest, go_env: Mapping[str, str] | None) -> list[Finding]:
    """A pinned module version the manifest commits no hashes of (a build refuses it), and
    whether the go command consults the checksum database for the pinned modules (`go_env`:
    what `go env` says; None without a go command)."""
    pinned = [pin for pin in pinned_modules(manifest) if pin.version]
    findings = [
        Finding(
            "consistency",
            pin.component,
            pin.version,
            "no-hash",
            f"{pin.path}: [{pin.table}] go_sum in {manifest.path} has no hash of {pin.version};"
            f" a build refuses the module until it does ({HASHES_DOCS})",
        )
        for pin in pinned
        if not all(manifest.hashes.expected(pin.path, pin.version))
    ]
    if go_env is None:
        return findings
    off = ChecksumDatabase.of(go_env).off_for_any(pin.path for pin in pinned)
    paths = list(dict.fromkeys(pin.path for pin in pinned))
    if off:
        which = (
            f"all {len(paths)} pinned modules" if len(off) == len(paths) else ", ".join(sorted(off))
        )
        status = SUMDB_OFF
        detail = (
            f"for {which} ({'; '.join(sorted(set(off.values())))}): the hashes committed in"
            f" {manifest.path} are what verifies them, and their own go.sum their dependencies"
        )
    else:
        status = SUMDB_ON
        detail = (
            f"GOSUMDB checks the {len(paths)} pinned modules and their dependencies; the hashes"
            f" committed in {manifest.path} check the pinned modules whatever the Go settings"
        )
    if os.environ.get("GONOSUMCHECK"):
        detail += " (GONOSUMCHECK is set, but the go command reads no such variable)"
    findings.append(Finding("checksums", "checksum db", "", status, detail))
    return findings


def command_doctor(args: argparse.Namespace) -> int:
    manifest = Manifest.load(manifest_path())
    language_host_choice(os.environ)  # a wrong choice is the error, not a missing host
    layout = Layout.from_environment()
    go = Go()
    findings: list[Finding] = []

    go_path = shutil.which("go")
    if go_path is None:
        findings.append(Finding("toolchain", "go", "", "missing", "the go command is not on PATH"))
    else:
        env = go.env()
        findings.append(
            Finding(
                "toolchain",
                "go",
                env.get("GOVERSION", ""),
                "present",
                f"{go_path}; GOMODCACHE={env.get('GOMODCACHE')} GOCACHE={env.get('GOCACHE')}",
            )
        )

    all_components = components(manifest, layout)
    for component in all_components:
        status = component.status()
        if status != "present" and component.unpinned():
            status = "unpinned"
        absent = [path for path in component.outputs() if not path.exists()]
        detail = str(absent[0] if absent and status == "missing" else component.outputs()[0])
        if status == "unpinned":
            detail = component.unpinned() or detail
        elif component.for_tests and status != "present":
            status, detail = (
                TESTS_ONLY,
                f"{detail} ({status}: only the tests run it; make test-deps)",
            )
        findings.append(Finding("toolchain", component.name, component.version, status, detail))

    host = next(c for c in all_components if isinstance(c, PythonLanguageHost))
    try:
        kind, target = host.in_use()
        linked = host.link.resolve() if host.link.is_symlink() else None
        detail = (
            f"{target}"
            if linked == target.resolve()
            else f"{target} (run `make toolchain` to link it)"
        )
        findings.append(
            Finding(
                "toolchain",
                "host in use",
                kind,
                "present" if linked == target.resolve() else "not-linked",
                detail,
            )
        )
    except ToolchainError as error:
        findings.append(Finding("toolchain", "host in use", "", "missing", str(error)))

    cli = layout.bin_dir(manifest.pulumi_version) / "pulumi"
    env = toolchain_env(layout)
    if cli.is_file():
        reported = capture("pulumi version", [str(cli), "version"], layout.root, env, check=False)
        version = reported.stdout.strip()
        if version != f"v{manifest.pulumi_version}":
            findings.append(
                Finding(
                    "consistency", "cli", version, "wrong-version", f"{cli} reports {version!r}"
                )
            )
        listed = capture(
            "pulumi plugin ls", [str(cli), "plugin", "ls", "--json"], layout.root, env, check=False
        )
        if listed.returncode == 0:
            seen = {(p.get("name"), p.get("version")) for p in json.loads(listed.stdout or "[]")}
            for plugin in manifest.plugins:
                if (plugin.name, plugin.version) not in seen:
                    findings.append(
                        Finding(
                            "consistency",
                            plugin.name,
                            plugin.version,
                            "not-installed",
                            f"not listed by `pulumi plugin ls` (PULUMI_HOME={layout.pulumi_home})",
                        )
                    )

    for mismatch in _manifest_mismatches(manifest):
        findings.append(Finding("consistency", "requirements", "", "mismatch", mismatch))
    findings.extend(_hash_findings(manifest, go.env() if go_path is not None else None))

    if args.registry and go_path is not None:
        findings.extend(
            _registry_findings(manifest, go, layout.root if layout.root.is_dir() else Path.cwd())
        )

    missing = [c.name for c in all_components if c.status() != "present" and not c.for_tests]
    fine = {"present", "available", TESTS_ONLY, SUMDB_ON, SUMDB_OFF}
    problems = [f for f in findings if f.status not in fine]
    disk = _directory_bytes(layout.root) if layout.root.is_dir() else 0
    if args.json:
        print(
            json.dumps(
                {
                    "manifest": str(manifest.path),
                    "root": str(layout.root),
                    "bin_dir": str(layout.bin_dir(manifest.pulumi_version)),
                    "pulumi_home": str(layout.pulumi_home),
                    "pulumi_version": manifest.pulumi_version,
                    "plugins": {p.name: p.version for p in manifest.plugins},
                    "components": {c.name: c.status() for c in all_components},
                    "missing": missing,
                    "disk_bytes": disk,
                    "findings": [dataclasses.asdict(f) for f in findings],
                },
                indent=2,
            )
        )
    else:
        print(f"toolchain {layout.root} ({disk / 1e6:.0f} MB), manifest {manifest.path}")
        headings = {
            "toolchain": "components:",
            "consistency": "consistency:",
            "checksums": "checksums:",
            "registry": "GOPROXY (pinned module versions):",
        }
        for section, heading in headings.items():
            rows = [f for f in findings if f.section == section]
            if rows:
                print(heading)
            for line in finding_lines(rows):
                print(line)
        make_toolchain = shell_command(
            ["make", "toolchain"], toolchain_selection(manifest.path, os.environ, Path.home())
        )
        blocked = {c.name: reason for c in all_components if (reason := c.unpinned())}
        for line in missing_summary(missing, blocked, make_toolchain):
            print(line)
        if not missing and not problems:
            print("all components present")
    return 1 if problems else 0


def finding_lines(findings: Sequence[Finding]) -> list[str]:
    """One section of the doctor's report as aligned columns: component, version, status,
    detail. The version column is as wide as the section's longest version (a provider's
    pseudo-version is 34 characters), 12 at least."""

    def shown(version: str) -> str:
        return f"v{version}" if version[:1].isdigit() else version

    width = max([12, *(len(shown(f.version)) for f in findings)])
    lines = []
    for finding in findings:
        detail = finding.detail
        if finding.newer:
            detail += f" (newer listed: {', '.join(finding.newer)})"
        version = shown(finding.version)
        lines.append(f"  {finding.component:<16} {version:<{width}} {finding.status:<13} {detail}")
    return lines


def missing_summary(missing: Sequence[str], blocked: Mapping[str, str], build: str) -> list[str]:
    """The doctor's last lines for the components not present: those `build` (the command that
    builds the toolchain) can build, and, one a line, those it cannot until the manifest or
    the repository changes (`blocked`: component -> why, such as a table without a version):
    never a build suggested for a component it would only skip."""
    buildable = [name for name in missing if name not in blocked]
    lines = [f"missing: {', '.join(buildable)}; run `{build}`"] if buildable else []
    lines.extend(
        f"unpinned: {name}, which a build skips: {blocked[name]}"
        for name in missing
        if name in blocked
    )
    return lines


def command_env(args: argparse.Namespace) -> int:
    manifest = Manifest.load(manifest_path())
    layout = Layout.from_environment()
    variables = toolchain_env(layout)
    bin_dir = str(layout.bin_dir(manifest.pulumi_version))
    if args.format == "json":
        print(json.dumps({"path": [bin_dir], "variables": variables}, indent=2))
    else:
        print(f'export PATH={shlex.quote(bin_dir)}:"$PATH"')
        for key, value in variables.items():
            print(f"export {key}={shlex.quote(value)}")
    return 0


def command_run(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise ToolchainError("run needs a command: bootstrap.py run -- pulumi version")
    manifest = Manifest.load(manifest_path())
    layout = Layout.from_environment()
    env = environment_with_toolchain(manifest, layout)
    executable = shutil.which(command[0], path=env["PATH"])
    if executable is None:
        raise ToolchainError(
            f"command not found: {command[0]} (toolchain bin {layout.bin_dir(manifest.pulumi_version)};"
            " run `make toolchain`)"
        )
    os.execve(executable, command, env)
    return 0  # not reached


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bootstrap.py", description="Build and inspect go-platform's Pulumi toolchain."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build every missing component")
    build.add_argument(
        "--only",
        help="comma-separated components (cli, language-python, kubernetes, random, govulncheck)",
    )
    build.set_defaults(handler=command_build)
    doctor = commands.add_parser(
        "doctor", help="report what is present, at which version, what is missing"
    )
    doctor.add_argument("--json", action="store_true", help="machine-readable report")
    doctor.add_argument(
        "--registry",
        action="store_true",
        help="also ask GOPROXY for every pinned module, and what it lists beyond the pins",
    )
    doctor.set_defaults(handler=command_doctor)
    env = commands.add_parser("env", help="print the environment that selects this toolchain")
    env.add_argument("--format", choices=["sh", "json"], default="sh")
    env.set_defaults(handler=command_env)
    run = commands.add_parser("run", help="run a command with the toolchain environment")
    run.add_argument("command", nargs=argparse.REMAINDER)
    run.set_defaults(handler=command_run)

    args = parser.parse_args(argv)
    return exit_status("toolchain", lambda: args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
