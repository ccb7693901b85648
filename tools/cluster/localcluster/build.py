"""Build etcd, the Kubernetes control plane and kwok from Go modules, once, into the cache.

The three come from one generated wrapper module. `k8s.io/kubernetes` is not meant to be
required by other modules: its go.mod requires every staging module `k8s.io/<name>` at
v0.0.0 and replaces it with a directory of its own repository. The wrapper replaces each
with the published v0.<minor>.<patch> of the same release instead (or, for the few that
were never published, an empty local module: nothing we build imports them). The binaries
are named in `tool` directives, so `go mod tidy` completes the module graph, and one
`go build` compiles all of them, sharing every package they have in common.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

from gobuild.cache import (
    cache_selection,
    exclusive,
    fresh_directory,
    install,
    read_stamp,
    stamp_status,
    write_last_build,
    write_stamp,
)
from gobuild.commands import Count, capture, run_logged, shell_command
from gobuild.modules import (
    GO_BUILD_ENV,
    Module,
    ProxyAnswer,
    download,
    go_env,
    read_go_mod,
    unavailable,
    version_key,
)
from gobuild.sums import ChecksumDatabase, GoSum, ModuleHashes

from localcluster.base import (
    VERSIONS_FILE,
    Binaries,
    Cache,
    ClusterError,
    Progress,
    Versions,
    duration,
)

# Bump when the recipe changes how binaries are built: older stamps then count as stale.
RECIPE_REVISION = 2

KUBERNETES_MODULE = "k8s.io/kubernetes"
ETCD_MODULE = "go.etcd.io/etcd/server/v3"
KWOK_MODULE = "sigs.k8s.io/kwok"
# Where `/version` and `kube-apiserver --version` read the release from (as upstream's
# hack/lib/version.sh stamps it).
KUBERNETES_VERSION_PACKAGES = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
# kwok's stage definitions (node initialisation, heartbeat with lease, pod lifecycle), shipped
# in its module; kwok has no built-in stages and kwokctl normally supplies exactly these.
KWOK_STAGE_FILES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)


# --- go ------------------------------------------------------------------------------------


def _module_error(path: str, version: str, error: str) -> ClusterError:
    return ClusterError(unavailable(path, version, error, ProxyAnswer.read(error).refusal))


def require_module(found: Mapping[str, Module | str], path: str, version: str) -> Module:
    module = found[path]
    if isinstance(module, str):
        raise _module_error(path, version, module)
    return module


# --- components ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Component:
    """One versioned cache directory: the binaries of one upstream release."""

    name: str
    version: str
    module: str
    # binary name -> Go package path
    packages: Mapping[str, str]
    # what `<binary> <version_args>` must print
    version_text: str
    # kwok stage definitions installed from the module as they are (paths in the module)
    stage_files: tuple[str, ...] = ()
    version_args: tuple[str, ...] = ("--version",)

    def directory(self, cache: Cache) -> Path:
        return cache.component_dir(self.name, self.version)

    def binary(self, cache: Cache, name: str) -> Path:
        return self.directory(cache) / "bin" / name

    def stage_file(self, cache: Cache, relative: str) -> Path:
        return self.directory(cache) / "stages" / Path(relative).name

    def outputs(self, cache: Cache) -> list[Path]:
        binaries = [self.binary(cache, name) for name in self.packages]
        return binaries + [self.stage_file(cache, relative) for relative in self.stage_files]

    def stamp(self, cache: Cache) -> Path:
        return self.directory(cache) / "stamp.json"

    def pins(self) -> dict[str, str]:
        return {self.module: f"v{self.version}"}

    def status(self, cache: Cache) -> str:
        """`present`, `missing`, or `stale` (built by an older recipe or for other pins)."""
        return stamp_status(
            read_stamp(self.stamp(cache)),
            recipe=RECIPE_REVISION,
            pins=self.pins(),
            outputs=self.outputs(cache),
        )


def components(versions: Versions) -> list[Component]:
    kubernetes = f"v{versions.kubernetes}"
    return [
        Component(
            name="etcd",
            version=versions.etcd,
            module=ETCD_MODULE,
            packages={"etcd": ETCD_MODULE},
            version_text=f"etcd Version: {versions.etcd}",
        ),
        Component(
            name="kubernetes",
            version=versions.kubernetes,
            module=KUBERNETES_MODULE,
            packages={
                name: f"{KUBERNETES_MODULE}/cmd/{name}"
                for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
            },
            version_text=f"Kubernetes {kubernetes}",
        ),
        Component(
            name="kubectl",
            version=versions.kubernetes,
            module=KUBERNETES_MODULE,
            packages={"kubectl": f"{KUBERNETES_MODULE}/cmd/kubectl"},
            version_text=f"Client Version: {kubernetes}",
            version_args=("version", "--client"),
        ),
        Component(
            name="kwok",
            version=versions.kwok,
            module=KWOK_MODULE,
            packages={"kwok": f"{KWOK_MODULE}/cmd/kwok"},
            version_text=versions.kwok,
            stage_files=KWOK_STAGE_FILES,
        ),
    ]


# --- the wrapper module --------------------------------------------------------------------


@dataclasses.dataclass
class Wrapper:
    """The generated main module that requires the three releases and names their binaries.

    Its go.sum starts with the hashes of the downloaded modules (checked against
    versions.toml) and the lines of their own go.sum files, so that `go mod tidy` and `go
    build` verify every dependency those modules recorded against their records, with or
    without the checksum database; `-mod=mod` adds what they did not record."""

    directory: Path
    go: str
    requires: dict[str, str]
    tools: list[str]
    replaces: dict[str, str]  # module path -> "path version" or "./local/dir"
    stubs: list[str] = dataclasses.field(default_factory=list)
    sums: GoSum = dataclasses.field(default_factory=GoSum)

    def write(self) -> None:
        lines = [
            "// Generated by tools/cluster/cluster.py build. Do not edit.",
            "module go-platform.invalid/cluster",
            "",
            f"go {self.go}",
            "",
            "require (",
            *(f"\t{path} {version}" for path, version in sorted(self.requires.items())),
            ")",
            "",
            "tool (",
            *(f"\t{package}" for package in self.tools),
            ")",
            "",
            "replace (",
            *(f"\t{path} => {target}" for path, target in sorted(self.replaces.items())),
            ")",
            "",
        ]
        for path in self.stubs:
            stub = self.directory / "stubs" / path
            stub.mkdir(parents=True, exist_ok=True)
            (stub / "go.mod").write_text(f"module {path}\n", encoding="utf-8")
        (self.directory / "go.mod").write_text("\n".join(lines), encoding="utf-8")
        self.sums.write(self.directory)


def _go_env() -> dict[str, str]:
    """What `go env` says (GOVERSION, GOSUMDB, ...), with the build's settings."""
    if shutil.which("go") is None:
        raise ClusterError("the go command is not on PATH; install Go to build the control plane")
    return go_env(GO_BUILD_ENV)


# The versions.toml table that pins each release module, and holds its go.sum lines (those of
# the staging modules are in [kubernetes] too).
RELEASE_TABLES = {KUBERNETES_MODULE: "kubernetes", ETCD_MODULE: "etcd", KWOK_MODULE: "kwok"}


def _prepare_wrapper(
    versions: Versions,
    work: Path,
    go_version: str,
    progress: Progress,
    hashes: ModuleHashes,
    database: ChecksumDatabase,
) -> tuple[Wrapper, dict[str, Module]]:
    """Download the releases and the published staging modules, check each against the
    hashes versions.toml commits (before anything is built) and write the wrapper module."""
    releases = [
        (KUBERNETES_MODULE, f"v{versions.kubernetes}"),
        (ETCD_MODULE, f"v{versions.etcd}"),
        (KWOK_MODULE, f"v{versions.kwok}"),
    ]
    with progress.step("resolve " + ", ".join(f"{path}@{version}" for path, version in releases)):
        found = download(releases, work, GO_BUILD_ENV)
        modules = {path: require_module(found, path, version) for path, version in releases}
        hashes.check([(module, RELEASE_TABLES[path]) for path, module in modules.items()], database)
        kubernetes_mod = read_go_mod(modules[KUBERNETES_MODULE].go_mod)
    if version_key(go_version) < version_key(kubernetes_mod.go):
        raise ClusterError(
            f"Kubernetes v{versions.kubernetes} needs Go {kubernetes_mod.go} or newer;"
            f" this machine has {go_version}"
        )
    staging = sorted(
        path
        for path, directory in kubernetes_mod.local_replaces.items()
        if directory.startswith("./staging/")
    )
    replaces: dict[str, str] = {}
    stubs: list[str] = []
    served: list[Module] = []
    with progress.step(f"resolve {len(staging)} staging modules at {versions.staging}"):
        published = download([(path, versions.staging) for path in staging], work, GO_BUILD_ENV)
        for path in staging:
            answer = published[path]
            if isinstance(answer, Module):
                replaces[path] = f"{path} {versions.staging}"
                served.append(answer)
            elif ProxyAnswer.read(answer).no_such_version:
                replaces[path] = f"./stubs/{path}"
                stubs.append(path)
            else:
                raise _module_error(path, versions.staging, answer)
        hashes.check([(module, RELEASE_TABLES[KUBERNETES_MODULE]) for module in served], database)
    if stubs:
        progress.say(
            f"    not served by the proxy, replaced by an empty module (the build fails if a"
            f" binary imports one): {', '.join(stubs)}"
        )
    packages = [
        package for component in components(versions) for package in component.packages.values()
    ]
    wrapper = Wrapper(
        directory=work,
        go=kubernetes_mod.go,
        requires={path: version for path, version in releases},
        tools=packages,
        replaces=replaces,
        stubs=stubs,
    )
    for module in [*modules.values(), *served]:
        wrapper.sums.add_module(module)
    note = database.note([*modules, *(module.path for module in served)], hashes.file)
    if note:
        progress.say(f"    {note}")
    wrapper.write()
    return wrapper, modules


def _selected(work: Path) -> dict[str, str]:
    """The version minimal version selection picked for every module of the build graph
    (after replacement)."""
    template = "{{.Path}} {{.Version}}{{with .Replace}} {{.Version}}{{end}}"
    result = capture(
        "list selected modules", ["go", "list", "-m", "-f", template, "all"], work, GO_BUILD_ENV
    )
    selected = {}
    for line in result.stdout.splitlines():
        fields = line.split()
        if len(fields) > 1:
            selected[fields[0]] = fields[-1]
    return selected


def _check_pins(work: Path, versions: Versions, wrapper: Wrapper) -> dict[str, str]:
    """Every module version of the build graph, once none of the releases and published
    staging modules moved off its pin (staging modules nothing imports are not in the graph)."""
    releases = {
        KUBERNETES_MODULE: f"v{versions.kubernetes}",
        ETCD_MODULE: f"v{versions.etcd}",
        KWOK_MODULE: f"v{versions.kwok}",
    }
    selected = _selected(work)
    expected = dict(releases)
    expected.update(
        {
            path: versions.staging
            for path in wrapper.replaces
            if path in selected and path not in wrapper.stubs
        }
    )
    for path, version in expected.items():
        if selected.get(path) != version:
            raise ClusterError(
                f"{path}: the build selected {selected.get(path)} instead of {version}; another"
                f" requirement in {work / 'go.mod'} needs a newer one (choose releases that agree"
                " in tools/cluster/versions.toml)"
            )
    return selected


def _ldflags(versions: Versions, kubernetes: Module) -> str:
    major, minor, _ = versions.kubernetes.split(".")
    stamped = {
        "gitVersion": f"v{versions.kubernetes}",
        "gitMajor": major,
        "gitMinor": minor,
        # The release's commit time, so that two builds of one release are identical.
        "buildDate": kubernetes.time or "1970-01-01T00:00:00Z",
        # Modules carry no commit; an empty value beats upstream's "$Format:%H$" placeholder.
        "gitCommit": "",
    }
    flags = ["-s", "-w"]
    for package in KUBERNETES_VERSION_PACKAGES:
        flags.extend(f"-X {package}.{key}={value}" for key, value in stamped.items())
    return " ".join(flags)


def build(
    versions: Versions, cache: Cache, progress: Progress, versions_file: Path = VERSIONS_FILE
) -> None:
    """Build every component that is not present; seconds when all are. The downloaded
    modules are checked against the hashes `versions_file` commits before anything is built."""
    with exclusive(cache.lock_file, progress, tool="cluster", what="build"):
        wanted = [c for c in components(versions) if c.status(cache) != "present"]
        report: list[dict[str, str | float]] = [
            {"component": c.name, "version": c.version, "status": "present"}
            for c in components(versions)
            if c not in wanted
        ]
        if not wanted:
            for line in report:
                progress.say(f"cluster: {line['component']} v{line['version']}: present")
            return
        go = _go_env()
        go_version = str(go.get("GOVERSION", "unknown"))
        hashes = Versions.hashes(versions_file)
        names = ", ".join(f"{c.name} v{c.version} ({c.status(cache)})" for c in wanted)
        progress.say(f"cluster: building {names} with {go_version} into {cache.root}")
        started = time.monotonic()
        build_name = "+".join(f"{c.name}-v{c.version}" for c in components(versions))
        work = fresh_directory(cache.work_dir(build_name))
        log = work / "build.log"
        wrapper, modules = _prepare_wrapper(
            versions, work, go_version, progress, hashes, ChecksumDatabase.of(go)
        )
        with progress.step("complete the wrapper module (go mod tidy)"):
            run_logged("go mod tidy", ["go", "mod", "tidy"], work, log, progress, GO_BUILD_ENV)
            selected = _check_pins(work, versions, wrapper)
        packages = [package for c in wanted for package in c.packages.values()]
        out = work / "out"
        listed = capture("list packages", ["go", "list", "-deps", *packages], work, GO_BUILD_ENV)
        expected = len(listed.stdout.splitlines())
        argv = [
            "go", "build", "-v", "-trimpath",
            "-ldflags", _ldflags(versions, modules[KUBERNETES_MODULE]),
            "-o", f"{out}/", *packages,
        ]  # fmt: skip
        binaries = "1 binary" if len(packages) == 1 else f"{len(packages)} binaries"
        with progress.step(f"go build {binaries} ({expected} packages)"):
            run_logged(
                "go build", argv, work, log, progress, GO_BUILD_ENV, count=_compiled(expected)
            )
        seconds = time.monotonic() - started
        for component in wanted:
            _install_component(component, cache, out, modules, selected, go_version, seconds)
        shutil.rmtree(out)  # installed copies only; the wrapper module and log stay for reruns
        for component in wanted:
            progress.say(f"cluster: {component.name} v{component.version}: built")
            report.append(
                {
                    "component": component.name,
                    "version": component.version,
                    "status": "built",
                    "seconds": round(seconds, 1),
                }
            )
        write_last_build(
            cache.last_build,
            seconds=progress.elapsed(),
            go=go_version,
            components=report,
            stubbed_modules=wrapper.stubs,
        )
        progress.say(f"cluster: built in {duration(seconds)}; binaries in {cache.root}")


def _compiled(expected: int) -> Count:
    """A heartbeat's count for `go build -v`, which logs each package it compiles."""

    def count(now: int, start: int) -> str:
        return f"{now - start} of at most {expected} packages compiled"

    return count


def _built_name(package: str) -> str:
    """The file name `go build -o dir/` gives a main package (a /vN suffix is skipped)."""
    parts = package.split("/")
    if re.fullmatch(r"v\d+", parts[-1]) and len(parts) > 1:
        return parts[-2]
    return parts[-1]


def _install_component(
    component: Component,
    cache: Cache,
    out: Path,
    modules: Mapping[str, Module],
    selected: Mapping[str, str],
    go_version: str,
    seconds: float,
) -> None:
    for name, package in component.packages.items():
        built = out / _built_name(package)
        asked = [str(built), *component.version_args]
        reported = capture(" ".join([name, *component.version_args]), asked, out).stdout
        if component.version_text not in reported:
            raise ClusterError(
                f"the built {name} reports {reported.strip()!r}, expected {component.version_text!r}"
            )
        install(built, component.binary(cache, name))
    for relative in component.stage_files:
        source = modules[component.module].dir / relative
        if not source.is_file():
            raise ClusterError(f"{component.module}@v{component.version} has no {relative}")
        install(source, component.stage_file(cache, relative), mode=0o644)
    write_stamp(
        component.stamp(cache),
        component=component.name,
        version=component.version,
        recipe=RECIPE_REVISION,
        pins=component.pins(),
        modules=selected,
        go=go_version,
        seconds=seconds,
        outputs=component.outputs(cache),
    )


def binaries_or_hint(versions: Versions, cache: Cache) -> Binaries:
    """The binaries to run, or an error that says how to build them."""
    binaries = Binaries.of(cache, versions)
    missing = binaries.missing()
    if missing:
        build_it = shell_command(
            ["make", "cluster-build"], cache_selection(os.environ, Path.home())
        )
        raise ClusterError(
            f"control plane binaries missing ({', '.join(p.name for p in missing)} under"
            f" {cache.root}); run `{build_it}`"
        )
    return binaries
