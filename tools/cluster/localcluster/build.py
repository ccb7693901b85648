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

import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from localcluster.base import (
    Binaries,
    Cache,
    ClusterError,
    Progress,
    Versions,
    duration,
    exclusive,
    tail,
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

# Static binaries, no workspace from a parent directory, no silent toolchain download.
GO_ENV = {
    "CGO_ENABLED": "0",
    "GOWORK": "off",
    "GOTOOLCHAIN": "local",
    "GOFLAGS": "-mod=mod -buildvcs=false",
}
HEARTBEAT_SECONDS = 30.0


# --- running commands ----------------------------------------------------------------------


class StepError(ClusterError):
    """A command of the build exited non-zero."""

    def __init__(self, step: str, command: str, log: Path | None, detail: str) -> None:
        self.step = step
        self.command = command
        self.log = log
        super().__init__(f"step '{step}' failed: {detail}")


def command_line(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> str:
    assignments = "".join(f"{key}={shlex.quote(value)} " for key, value in env.items())
    return f"cd {shlex.quote(str(cwd))} && {assignments}{shlex.join(argv)}"


def capture(step: str, argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> str:
    """Run a short command; return its stdout or raise StepError with its last error line."""
    extra = dict(env or {})
    try:
        result = subprocess.run(
            list(argv),
            cwd=cwd,
            env={**os.environ, **extra},
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise ClusterError(f"step '{step}': command not found: {argv[0]}") from None
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        detail = lines[-1] if lines else f"exit status {result.returncode}"
        raise StepError(step, command_line(argv, cwd, extra), None, detail)
    return result.stdout


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            return sum(1 for _ in handle)
    except FileNotFoundError:
        return 0


def run_logged(
    step: str,
    argv: Sequence[str],
    cwd: Path,
    log: Path,
    progress: Progress,
    env: Mapping[str, str],
    expected_lines: int = 0,
) -> None:
    """Run a long command with its output appended to `log` and a heartbeat on stderr."""
    command = command_line(argv, cwd, env)
    with log.open("a", encoding="utf-8") as sink:
        sink.write(f"\n$ {command}\n")
        sink.flush()
        first_line = _count_lines(log)
        started = time.monotonic()
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env={**os.environ, **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            while True:
                try:
                    returncode = process.wait(timeout=HEARTBEAT_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    done = _count_lines(log) - first_line
                    count = (
                        f"{done} of at most {expected_lines} packages compiled"
                        if expected_lines
                        else f"{done} log lines"
                    )
                    progress.say(
                        f"      still running: {step}"
                        f" ({duration(time.monotonic() - started)}, {count})"
                    )
        except BaseException:
            # Interrupted: take the whole process group (go runs compilers) with us.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            process.wait()
            raise
    if returncode != 0:
        progress.say(f"      last lines of {log}:")
        for line in tail(log):
            progress.say(f"      | {line}")
        raise StepError(step, command, log, f"exit status {returncode}")


# --- go ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Module:
    """A module version as `go mod download -json` reports it."""

    path: str
    version: str
    dir: Path
    go_mod: Path
    time: str


_HTTP_STATUS = re.compile(r"\b(4\d\d [A-Za-z][A-Za-z ]*)")


def _unavailable(error: str) -> bool:
    """True when the proxy answered that it has no such module version (not a network fault)."""
    return bool(_HTTP_STATUS.search(error)) or "unknown revision" in error


def _module_error(path: str, version: str, error: str) -> ClusterError:
    status = _HTTP_STATUS.search(error)
    if status:
        return ClusterError(
            f"{path}@{version} is not available from GOPROXY ({status.group(1).strip()})"
        )
    return ClusterError(f"{path}@{version}: {' '.join(error.split())}")


def download(wanted: Sequence[tuple[str, str]], cwd: Path) -> dict[str, Module | str]:
    """Fetch module versions in one go command; each maps to a Module or its error text."""
    argv = ["go", "mod", "download", "-json", *(f"{path}@{version}" for path, version in wanted)]
    result = subprocess.run(
        argv,
        cwd=cwd,
        env={**os.environ, **GO_ENV},
        capture_output=True,
        text=True,
        check=False,
    )
    found: dict[str, Module | str] = {}
    decoder = json.JSONDecoder()
    text, position = result.stdout, 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            break
        try:
            info, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            detail = " ".join((result.stderr or text).split())
            raise ClusterError(f"go mod download gave no readable answer: {detail}") from None
        if info.get("Error"):
            found[info["Path"]] = info["Error"]
        else:
            found[info["Path"]] = Module(
                path=info["Path"],
                version=info["Version"],
                dir=Path(info["Dir"]),
                go_mod=Path(info["GoMod"]),
                time=_release_time(Path(info["Info"])) if info.get("Info") else "",
            )
    for path, _ in wanted:
        found.setdefault(path, result.stderr.strip() or "no answer from go mod download")
    return found


def _release_time(info_file: Path) -> str:
    """The commit time the proxy recorded for a module version (its .info file)."""
    try:
        return str(json.loads(info_file.read_text(encoding="utf-8")).get("Time", ""))
    except (OSError, json.JSONDecodeError):
        return ""


def require_module(found: Mapping[str, Module | str], path: str, version: str) -> Module:
    module = found[path]
    if isinstance(module, str):
        raise _module_error(path, version, module)
    return module


@dataclasses.dataclass(frozen=True)
class GoModFile:
    go: str
    local_replaces: dict[str, str]
    """module path -> directory, for replaces that point into the module's own repository."""


def read_go_mod(go_mod: Path) -> GoModFile:
    data = json.loads(
        capture(f"read {go_mod}", ["go", "mod", "edit", "-json", str(go_mod)], go_mod.parent)
    )
    local = {
        item["Old"]["Path"]: item["New"]["Path"]
        for item in data.get("Replace") or []
        if not item["New"].get("Version")
    }
    return GoModFile(go=data.get("Go", ""), local_replaces=local)


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


# --- components ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Component:
    """One versioned cache directory: the binaries of one upstream release."""

    name: str
    version: str
    module: str
    # binary name -> Go package path
    packages: Mapping[str, str]
    # what `<binary> --version` must print
    version_text: str
    # kwok stage definitions installed from the module as they are (paths in the module)
    stage_files: tuple[str, ...] = ()

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
        try:
            record = json.loads(self.stamp(cache).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return "missing"
        if record.get("recipe") != RECIPE_REVISION or record.get("pins") != self.pins():
            return "stale"
        if not all(path.is_file() for path in self.outputs(cache)):
            return "missing"
        return "present"


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
            name="kwok",
            version=versions.kwok,
            module=KWOK_MODULE,
            packages={"kwok": f"{KWOK_MODULE}/cmd/kwok"},
            version_text=versions.kwok,
            stage_files=KWOK_STAGE_FILES,
        ),
    ]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _install(source: Path, destination: Path, mode: int = 0o755) -> None:
    """Put a file in place atomically."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = destination.with_name(f".{destination.name}.partial")
    shutil.copyfile(source, staging)
    staging.chmod(mode)
    os.replace(staging, destination)


# --- the wrapper module --------------------------------------------------------------------


@dataclasses.dataclass
class Wrapper:
    """The generated main module that requires the three releases and names their binaries."""

    directory: Path
    go: str
    requires: dict[str, str]
    tools: list[str]
    replaces: dict[str, str]  # module path -> "path version" or "./local/dir"
    stubs: list[str] = dataclasses.field(default_factory=list)

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
        (self.directory / "go.sum").write_text("", encoding="utf-8")


def _go_version() -> str:
    if shutil.which("go") is None:
        raise ClusterError("the go command is not on PATH; install Go to build the control plane")
    env = json.loads(capture("go env", ["go", "env", "-json"], Path.cwd(), GO_ENV))
    return str(env.get("GOVERSION", "unknown"))


def _prepare_wrapper(
    versions: Versions, work: Path, go_version: str, progress: Progress
) -> tuple[Wrapper, dict[str, Module]]:
    releases = [
        (KUBERNETES_MODULE, f"v{versions.kubernetes}"),
        (ETCD_MODULE, f"v{versions.etcd}"),
        (KWOK_MODULE, f"v{versions.kwok}"),
    ]
    with progress.step("resolve " + ", ".join(f"{path}@{version}" for path, version in releases)):
        found = download(releases, work)
        modules = {path: require_module(found, path, version) for path, version in releases}
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
    with progress.step(f"resolve {len(staging)} staging modules at {versions.staging}"):
        published = download([(path, versions.staging) for path in staging], work)
        for path in staging:
            answer = published[path]
            if isinstance(answer, Module):
                replaces[path] = f"{path} {versions.staging}"
            elif _unavailable(answer):
                replaces[path] = f"./stubs/{path}"
                stubs.append(path)
            else:
                raise _module_error(path, versions.staging, answer)
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
    wrapper.write()
    return wrapper, modules


def _selected(work: Path) -> dict[str, str]:
    """The version minimal version selection picked for every module of the build graph
    (after replacement)."""
    template = "{{.Path}} {{.Version}}{{with .Replace}} {{.Version}}{{end}}"
    output = capture(
        "list selected modules", ["go", "list", "-m", "-f", template, "all"], work, GO_ENV
    )
    selected = {}
    for line in output.splitlines():
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


def build(versions: Versions, cache: Cache, progress: Progress) -> None:
    """Build every component that is not present; seconds when all are."""
    with exclusive(cache.lock_file, "build", progress):
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
        go_version = _go_version()
        names = ", ".join(f"{c.name} v{c.version} ({c.status(cache)})" for c in wanted)
        progress.say(f"cluster: building {names} with {go_version} into {cache.root}")
        started = time.monotonic()
        build_name = "+".join(f"{c.name}-v{c.version}" for c in components(versions))
        work = cache.work_dir(build_name)
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        log = work / "build.log"
        wrapper, modules = _prepare_wrapper(versions, work, go_version, progress)
        with progress.step("complete the wrapper module (go mod tidy)"):
            run_logged("go mod tidy", ["go", "mod", "tidy"], work, log, progress, GO_ENV)
            selected = _check_pins(work, versions, wrapper)
        packages = [package for c in wanted for package in c.packages.values()]
        out = work / "out"
        expected = len(
            capture("list packages", ["go", "list", "-deps", *packages], work, GO_ENV).splitlines()
        )
        argv = [
            "go", "build", "-v", "-trimpath",
            "-ldflags", _ldflags(versions, modules[KUBERNETES_MODULE]),
            "-o", f"{out}/", *packages,
        ]  # fmt: skip
        with progress.step(f"go build {len(packages)} binaries ({expected} packages)"):
            run_logged("go build", argv, work, log, progress, GO_ENV, expected)
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
        summary = {
            "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "total_seconds": round(progress.elapsed(), 1),
            "go": go_version,
            "cpus": os.cpu_count(),
            "components": report,
            "stubbed_modules": wrapper.stubs,
        }
        cache.last_build.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        progress.say(f"cluster: built in {duration(seconds)}; binaries in {cache.root}")


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
        reported = capture(f"{name} --version", [str(built), "--version"], out)
        if component.version_text not in reported:
            raise ClusterError(
                f"the built {name} reports {reported.strip()!r}, expected {component.version_text!r}"
            )
        _install(built, component.binary(cache, name))
    for relative in component.stage_files:
        source = modules[component.module].dir / relative
        if not source.is_file():
            raise ClusterError(f"{component.module}@v{component.version} has no {relative}")
        _install(source, component.stage_file(cache, relative), mode=0o644)
    record = {
        "component": component.name,
        "version": component.version,
        "recipe": RECIPE_REVISION,
        "pins": component.pins(),
        "modules": dict(selected),
        "go": go_version,
        "build_seconds": round(seconds, 1),
        "built_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "files": {str(path): _sha256(path) for path in component.outputs(cache)},
    }
    stamp = component.stamp(cache)
    staging = stamp.with_name(f".{stamp.name}.partial")
    staging.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(staging, stamp)


def binaries_or_hint(versions: Versions, cache: Cache) -> Binaries:
    """The binaries to run, or an error that says how to build them."""
    binaries = Binaries.of(cache, versions)
    missing = binaries.missing()
    if missing:
        raise ClusterError(
            f"control plane binaries missing ({', '.join(p.name for p in missing)} under"
            f" {cache.root}); run `make cluster-build`"
        )
    return binaries
