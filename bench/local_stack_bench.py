"""What deploying the `local` stack through the engine costs, beside the floor: the same
objects applied by server-side apply. Measured side by side in one run, on one fresh
embedded cluster (started in a tmp dir and stopped at the end).

    venv/bin/python bench/local_stack_bench.py              # a table
    venv/bin/python bench/local_stack_bench.py --json       # the same figures, for tooling
    venv/bin/python bench/local_stack_bench.py --scale 20 100   # also N generated services

Needs `make toolchain` and `make cluster-build`. Measured:

- engine: the first `up` of the local stack (`pulumi up --yes --policy-pack policies`, as
  `make up` runs it), then the no-op `preview` and no-op `up`, each with the policy pack
  (as `make preview`/`make up`) and without it, and the no-op update alone with the pack
  (`up --skip-preview`, as the driver's Automation API runs it), `--runs` times (median
  reported); previews and updates run as the project runs them (checkpoints skipped:
  `SKIP_CHECKPOINTS_ENV`, `update_env`); beside them, the
  preview and the update with the pack with the language host's warm start off (without a
  pack there is none), the previews and the update with its early start off, a preview
  and the update with resource references accepted (the
  program declines them: wiring/foundation.py), and a preview and the update with the
  Python SDK's debug messages kept (the program drops them: the same file); at the end,
  after a `destroy`, the first `up` again as the driver runs it (no preview), `--runs` times,
  alternated with the floor and with the same update saving a checkpoint after every step
  (the CLI's default, which the local stack's updates skip: go_platform/workspace.py);
- floor: what the program declares (run under mocks, as
  tests/integration/test_local_manifests.py does), applied by its server-side apply helper
  to the same cluster, each time after a `destroy`: the definitions the program installs
  (its ConfigGroup's files) until Established, every object, then every Deployment
  Available (what `up` awaits), polling every 50 ms; then all of it deleted again;
- where the time of a no-op goes: CLI start (`pulumi version`), backend and state
  (`pulumi stack output`), Python start with the program's imports, the program itself under
  mocks, the kubernetes provider's start, the policy pack's cost inside the engine (no-op
  preview with the pack minus without), and the CRDs' share (preview of a new stack with
  `crds.install` as committed and `false`);
- the first `up`'s timeline from its events: preview phase, update phase, the CRDs, the
  longest Service await;
- the policy pack outside the engine: `Analyze` round trips to the running pack for the
  stack's objects and for the CRDs it installs;
- with `--crd-choice`: which definitions the local stack installs, side by side on one
  cluster (after the local stack is destroyed): first `up` (with the pack) and `destroy` of
  the local config with the definitions it installs (`LOCAL_CRD_SOURCES`) and with every
  vendored one, alternated `--runs` times, and the size of each stack's checkpoint;
- with `--scale N [N ...]`: for each N, a stack of N generated services (after the local
  stack is destroyed, as their objects would share names): `preview` with and without the
  pack (nothing deployed), and with the pack as the CLI runs a preview by default (the
  whole state serialised after every step; the project's previews skip that:
  `SKIP_CHECKPOINTS_ENV`), then `up` with the pack and `destroy`; resources per second.

Targets: no-op preview <= 4 s, no-op up <= 5 s, first up <= 2x the floor.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import runpy
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# The tests' helpers, the pack's package, the tools' scripts (core_speed).
for entry in (str(REPO), str(REPO / "policies"), str(REPO / "tools")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import yaml  # noqa: E402
from arguments import count, run  # noqa: E402
from core_speed import loop_seconds  # noqa: E402

from go_platform.workspace import EMBEDDED_ENVIRONMENT, SKIP_CHECKPOINTS_ENV, update_env  # noqa: E402
from go_platform_core.config import LOCAL_CRD_SOURCES  # noqa: E402
from tests.conftest import run_under_mocks, stack_file_config  # noqa: E402
from tests.integration.conftest import run_in_group  # noqa: E402
from tests.integration.test_cluster import (  # noqa: E402
    client_from,
    cluster_cli,
    condition_true,
)
from tests.integration.test_local_manifests import (  # noqa: E402
    Applier,
    declared_manifests,
    definition_files,
    definition_names,
    install_crds,
)
from tests.integration.test_local_stack import copy_program, json_documents  # noqa: E402
from tests.integration.test_policy_analyzer import analyze_request, serve  # noqa: E402
from tests.policy_fixtures import Resource  # noqa: E402

BOOTSTRAP = REPO / "tools" / "toolchain" / "bootstrap.py"
PASSPHRASE = "go-platform-bench"
STACK = "local"
TARGETS = {"noop_preview_s": 4.0, "noop_up_s": 5.0, "first_up_vs_floor": 2.0}
COMMAND_TIMEOUT = 600.0
SCALE_TIMEOUT_PER_SERVICE = 30.0
"""A generated stack's `up` or `destroy` may take this long per service (100: 50 minutes)."""
AVAILABLE_TIMEOUT = 180.0


# --- plumbing --------------------------------------------------------------------------


@dataclass
class Engine:
    """The toolchain's CLI with its own home, file backend and passphrase."""

    env: dict[str, str]
    project: Path
    bin_dir: Path

    def run(
        self,
        *args: str,
        stack: str = STACK,
        timeout: float = COMMAND_TIMEOUT,
        checkpoints: bool = False,
        extra_env: dict[str, str] | None = None,
    ) -> tuple[float, str]:
        """Seconds `pulumi <args> --stack <stack>` took, and its stdout; fails loudly. A
        preview and an update run as the project runs them (checkpoints skipped: every stack
        here is of the embedded cluster's environment) unless `checkpoints`."""
        env = {**self.env, **(extra_env or {})}
        if not checkpoints:
            if args[0] == "preview":
                env = {**env, **SKIP_CHECKPOINTS_ENV}
            elif args[0] == "up":
                env = {**env, **update_env(EMBEDDED_ENVIRONMENT)}
        return timed_command(
            ["pulumi", *args, "--stack", stack], cwd=self.project, env=env, timeout=timeout
        )


def timed_command(
    argv: Sequence[str], *, cwd: Path, env: dict[str, str], timeout: float = COMMAND_TIMEOUT
) -> tuple[float, str]:
    """Seconds the command took and its stdout (the tests' `run_in_group`: no plugin
    outlives it); a failure or timeout ends the bench with what the command printed."""
    started = time.perf_counter()
    try:
        result = run_in_group(argv, cwd=cwd, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as expired:
        sys.exit(f"`{' '.join(argv)}` did not finish within {timeout:.0f}s\n{expired.stderr}")
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(
            f"`{' '.join(argv)}` exited {result.returncode}\n{result.stdout[-3000:]}\n"
            f"{result.stderr}"
        )
    return elapsed, result.stdout


def toolchain() -> dict[str, Any]:
    report = json.loads(
        subprocess.run(
            [sys.executable, str(BOOTSTRAP), "doctor", "--json"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    )
    absent = [name for name, status in report["components"].items() if status == "missing"]
    if absent:
        sys.exit(f"toolchain components missing: {', '.join(absent)}; run `make toolchain`")
    return report


@contextlib.contextmanager
def fresh_cluster(scratch: Path) -> Iterator[Path]:
    """A cluster started in `scratch`; its kubeconfig; stopped on the way out, also when the
    bench is interrupted while it starts (`stop` ends components a start left untracked)."""
    data_dir = scratch / "cluster"
    try:
        started = cluster_cli("start", data_dir=data_dir)
        if started.returncode != 0:
            sys.exit(f"the embedded cluster did not start:\n{started.stderr}")
        yield Path(started.stdout.strip())
    finally:
        cluster_cli("stop", data_dir=data_dir, timeout=60)


def wait_for(
    check: Callable[[], bool],
    what: str,
    timeout: float = AVAILABLE_TIMEOUT,
    interval: float = 0.2,
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            sys.exit(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


# --- the floor: server-side apply of the same objects -----------------------------------


@dataclass(frozen=True)
class Declared:
    """What the program declares, run under mocks (as tests/integration/
    test_local_manifests.py runs it)."""

    program_s: float
    """Seconds the program takes under mocks, its imports done."""
    objects: list[dict[str, Any]]
    """The Kubernetes objects it declares, namespaces first."""
    definitions: list[Path]
    """The files of the definitions it installs (its ConfigGroup's)."""


def declared() -> Declared:
    config = stack_file_config(REPO / f"Pulumi.{STACK}.yaml")
    main = REPO / "__main__.py"
    run_under_mocks(
        lambda: runpy.run_path(str(main), run_name="__main__"), stack=STACK, config=config
    )
    started = time.perf_counter()
    recording = run_under_mocks(
        lambda: runpy.run_path(str(main), run_name="__main__"), stack=STACK, config=config
    )
    elapsed = time.perf_counter() - started
    return Declared(elapsed, declared_manifests(recording), definition_files(recording))


def is_available(api: Any, path: str) -> bool:
    return condition_true(api.get(path).body, "Available")


FLOOR_POLL_S = 0.05
"""How often the floor polls for a condition: it sees one within a twentieth of a second of
the API server, about as soon as `kubectl wait` (a watch) would."""


def floor_sample(applier: Applier, program: Declared) -> dict[str, float]:
    """One floor: the program's definitions applied until Established, then every object it
    declares, then every Deployment Available (what `up` awaits); seconds of each phase."""
    started = time.perf_counter()
    install_crds(applier, program.definitions, interval=FLOOR_POLL_S)
    crds = time.perf_counter()
    for body in program.objects:
        response = applier.apply(body)
        if not response.ok:
            sys.exit(f"{body['kind']} {body['metadata']['name']}: {response.message}")
    applied = time.perf_counter()
    for body in program.objects:
        if body["kind"] == "Deployment":
            path = applier.path(body)
            wait_for(
                lambda p=path: is_available(applier.api, p),
                f"{path} Available",
                interval=FLOOR_POLL_S,
            )
    available = time.perf_counter()
    return {
        "crds_s": crds - started,
        "objects_s": applied - crds,
        "available_s": available - applied,
        "total_s": available - started,
    }


def remove_floor(applier: Applier, program: Declared) -> None:
    """Delete what a floor applied and wait until all of it is gone, so the cluster is as a
    `destroy` leaves it: the cluster-scoped objects (the namespaces take what is in them),
    then the definitions (they take their custom resources)."""
    paths = [applier.path(body) for body in program.objects]
    definitions = [
        f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
        for name in definition_names(program.definitions)
    ]
    for body, path in zip(program.objects, paths, strict=True):
        if not body["metadata"].get("namespace"):
            applier.api.delete(path)
    for path in definitions:
        applier.api.delete(path)
    for path in (*paths, *definitions):
        wait_for(lambda p=path: applier.api.get(p).status == 404, f"{path} deleted")


def floor_figures(samples: Sequence[dict[str, float]], program: Declared) -> dict[str, Any]:
    """Each phase's median over the samples (the total's median, not the phases' sum)."""
    return {
        **{phase: median([s[phase] for s in samples]) for phase in samples[0]},
        "samples_s": [s["total_s"] for s in samples],
        "objects": len(program.objects),
        "definitions": len(definition_names(program.definitions)),
    }


# --- the engine ---------------------------------------------------------------------------


def engine_for(report: dict[str, Any], scratch: Path, kubeconfig: Path) -> Engine:
    home, state = scratch / "pulumi-home", scratch / "state"
    home.mkdir()
    state.mkdir()
    (home / "plugins").symlink_to(Path(report["pulumi_home"]) / "plugins")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PULUMI_", "KUBERNETES_")) and k != "KUBECONFIG"
    }
    env.update(
        {
            "PATH": os.pathsep.join([report["bin_dir"], env.get("PATH", "")]),
            "PULUMI_HOME": str(home),
            "PULUMI_BACKEND_URL": f"file://{state}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "KUBECONFIG": str(kubeconfig),
        }
    )
    project = scratch / "project"
    project.mkdir()
    copy_program(project, Path(sys.prefix))
    return Engine(env=env, project=project, bin_dir=Path(report["bin_dir"]))


def timeline(stdout: str, total: float) -> dict[str, float]:
    """Where a first `up` spends its time, from its update's events (whole seconds: the
    engine stamps events to the second)."""
    started: dict[str, int] = {}
    ended: dict[str, int] = {}
    summary = 0
    for event in json_documents(stdout):
        if "resourcePreEvent" in event:
            started[event["resourcePreEvent"]["metadata"]["urn"]] = event["timestamp"]
        elif "resOutputsEvent" in event:
            ended[event["resOutputsEvent"]["metadata"]["urn"]] = event["timestamp"]
        elif "summaryEvent" in event:
            summary = event["summaryEvent"]["durationSeconds"]
    crds = [u for u in started if ":CustomResourceDefinition::" in u]
    services = [u for u in started if "kubernetes:core/v1:Service::" in u and u in ended]
    first = min(started.values())
    return {
        "preview phase (before the update)": total - summary,
        "update phase": summary,
        "CRDs, first created to last Established": max(ended[u] for u in crds)
        - min(started[u] for u in crds),
        "update start until the last CRD is done": max(ended[u] for u in crds) - first,
        "longest Service await (endpoints)": max(ended[u] - started[u] for u in services),
    }


def resources_in(stdout: str) -> int:
    for document in json_documents(stdout):
        if "changeSummary" in document:
            return sum(document["changeSummary"].values())
    return 0


@dataclass
class EngineFigures:
    first_up_s: float = 0.0
    first_update_s: float = 0.0
    """The first `up` as the driver runs it (Automation API: no preview), from empty again."""
    first_updates: dict[str, list[float]] = field(default_factory=dict)
    """That update's samples, and beside them the same with a checkpoint after every step."""
    floors: list[dict[str, float]] = field(default_factory=list)
    """The floor's samples, taken on the same cluster, alternated with the first updates."""
    resources: int = 0
    first_up_timeline: dict[str, float] = field(default_factory=dict)
    noop: dict[str, list[float]] = field(default_factory=dict)
    breakdown: dict[str, float] = field(default_factory=dict)
    scale: list[dict[str, Any]] = field(default_factory=list)
    crd_choice: dict[str, float] = field(default_factory=dict)


PACK = ("--policy-pack", "policies")
COLD = "warm start off"
WARM_START_OFF = {"GO_PLATFORM_PYTHON_WARM_START": "false"}
"""The language host's warm start off (docs/toolchain.md#language-host), measured beside it."""
LATE = "early start off"
EARLY_START_OFF = {"GO_PLATFORM_PYTHON_WARM_START": "pack"}
"""The language host's early start off, its warm start begun by a policy pack's start only
(docs/toolchain.md#language-host), measured beside it."""
REFERENCES = "resource references accepted"
REFERENCES_ACCEPTED = {"PULUMI_DISABLE_RESOURCE_REFERENCES": "false"}
"""The program's resource references accepted (wiring/foundation.py says why it declines
them), measured beside it."""
SDK_DEBUG = "SDK debug messages kept"
SDK_DEBUG_KEPT = {"GO_PLATFORM_SDK_DEBUG": "true"}
"""The Python SDK's own debug messages kept (wiring/foundation.py says why the program drops
them), measured beside it."""
FIRST_UPDATE = "first up (pack), update only as the driver runs it"
FIRST_UPDATE_PER_STEP = f"{FIRST_UPDATE}, checkpoint per step"
"""The CLI's default, which the local stack's updates skip (go_platform/workspace.py)."""
BESIDE = (COLD, LATE, REFERENCES, SDK_DEBUG)
"""The names of the measures taken beside a default: references for it, not targets."""


def bench_engine(
    report: dict[str, Any],
    scratch: Path,
    program: Declared,
    runs: int,
    scale: Sequence[int],
    crd_choice: bool,
) -> EngineFigures:
    figures = EngineFigures()
    with fresh_cluster(scratch) as kubeconfig:
        engine = engine_for(report, scratch, kubeconfig)
        timed_command(["pulumi", "stack", "init", STACK], cwd=engine.project, env=engine.env)
        figures.first_up_s, stdout = engine.run("up", "--yes", "--json", *PACK)
        figures.resources = resources_in(stdout)
        figures.first_up_timeline = timeline(stdout, figures.first_up_s)
        preview, update = ("preview", "--expect-no-changes"), ("up", "--yes", "--skip-preview")
        commands: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
            "preview (pack)": ((*preview, *PACK), {}),
            "preview": (preview, {}),
            "up (pack)": (("up", "--yes", *PACK), {}),
            "up": (("up", "--yes"), {}),
            "up (pack), update only as the driver runs it": ((*update, *PACK), {}),
            f"preview (pack), {COLD}": ((*preview, *PACK), WARM_START_OFF),
            f"up (pack), update only, {COLD}": ((*update, *PACK), WARM_START_OFF),
            f"preview (pack), {LATE}": ((*preview, *PACK), EARLY_START_OFF),
            f"preview, {LATE}": (preview, EARLY_START_OFF),
            f"up (pack), update only, {LATE}": ((*update, *PACK), EARLY_START_OFF),
            f"preview, {REFERENCES}": (preview, REFERENCES_ACCEPTED),
            f"up (pack), update only, {REFERENCES}": ((*update, *PACK), REFERENCES_ACCEPTED),
            f"preview, {SDK_DEBUG}": (preview, SDK_DEBUG_KEPT),
            f"up (pack), update only, {SDK_DEBUG}": ((*update, *PACK), SDK_DEBUG_KEPT),
        }
        for _ in range(runs):  # interleaved, so load changes hit every command alike
            for name, (args, extra_env) in commands.items():
                figures.noop.setdefault(name, []).append(engine.run(*args, extra_env=extra_env)[0])
        figures.breakdown = {**breakdown(engine, runs), **crd_share(engine, runs)}
        applier = Applier(client_from(kubeconfig, scratch / "client"))
        for _ in range(runs):  # alternated, so load changes hit all three alike
            engine.run("destroy", "--yes")
            figures.floors.append(floor_sample(applier, program))
            remove_floor(applier, program)
            for name, checkpoints in ((FIRST_UPDATE, False), (FIRST_UPDATE_PER_STEP, True)):
                if name != FIRST_UPDATE:
                    engine.run("destroy", "--yes")
                seconds, _ = engine.run(*update, *PACK, checkpoints=checkpoints)
                figures.first_updates.setdefault(name, []).append(seconds)
        figures.first_update_s = median(figures.first_updates[FIRST_UPDATE])
        if scale or crd_choice:
            engine.run("destroy", "--yes")
        figures.scale = [bench_scale(engine, count) for count in scale]
        if crd_choice:
            figures.crd_choice = bench_crd_choice(engine, runs)
    return figures


def breakdown(engine: Engine, runs: int) -> dict[str, float]:
    """Medians of the parts a no-op preview is made of, each measured on its own."""
    python = str(Path(sys.prefix) / "bin" / "python")
    program_imports = (
        "import pulumi, pulumi_kubernetes, pulumi_random, pydantic, yaml; "
        "import go_platform_core.config, components.go_service, components.traefik_gateway, "
        "components.observability, components.module_proxy, components.canary_route, "
        "components.crds, go_platform_core.telemetry"
    )
    parts: dict[str, Callable[[], float]] = {
        "cli start (pulumi version)": lambda: timed_command(
            ["pulumi", "version"], cwd=engine.project, env=engine.env
        )[0],
        "backend + state (stack output)": lambda: engine.run("stack", "output", "--json")[0],
        "python start": lambda: timed_command(
            [python, "-c", "pass"], cwd=engine.project, env=engine.env
        )[0],
        "python start + program imports": lambda: timed_command(
            [python, "-c", program_imports], cwd=engine.project, env=engine.env
        )[0],
        "policy pack imports": lambda: timed_command(
            [python, "-c", "import pulumi_policy, go_platform_policies"],
            cwd=engine.project / "policies",
            env=engine.env,
        )[0],
        "kubernetes provider start": lambda: provider_start(engine, "kubernetes"),
    }
    return {name: median([measure() for _ in range(runs)]) for name, measure in parts.items()}


def provider_start(engine: Engine, name: str) -> float:
    """Seconds from spawning the provider plugin until it prints its port (what the engine
    waits for); a loopback port nobody answers on stands in for the engine."""
    plugins = Path(engine.env["PULUMI_HOME"]) / "plugins"
    [binary] = plugins.glob(f"resource-{name}-v*/pulumi-resource-{name}")
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(binary), "127.0.0.1:1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        process.stdout.readline()
        return time.perf_counter() - started
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def new_stack(engine: Engine, name: str, config: dict[str, Any]) -> None:
    stack_file = engine.project / f"Pulumi.{name}.yaml"
    stack_file.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    timed_command(["pulumi", "stack", "init", name], cwd=engine.project, env=engine.env)


def crd_share(engine: Engine, runs: int) -> dict[str, float]:
    """What installing the CRDs from the program (a ConfigGroup every other resource waits
    for) adds to a preview: new stacks (nothing deployed) of the local config, with
    `crds.install` as committed and with `false` (the CRDs are already on the cluster)."""
    local = yaml.safe_load((engine.project / f"Pulumi.{STACK}.yaml").read_text())["config"]
    variants = {
        "preview of a new stack: local config": local,
        "preview of a new stack: local config, crds.install false": {
            **local,
            "go-platform:crds": {"install": False},
        },
    }
    figures = {}
    for index, (name, config) in enumerate(variants.items()):
        new_stack(engine, f"crds-{index}", config)
        figures[name] = median(
            [engine.run("preview", stack=f"crds-{index}")[0] for _ in range(runs)]
        )
    return figures


def bench_scale(engine: Engine, count: int) -> dict[str, Any]:
    """A stack of `count` services like greeter, without canary: preview (nothing
    deployed) with the pack and without it, then up with the pack, then destroy."""
    name = f"scale-{count}"
    services = [
        {
            "name": f"svc-{i:02d}",
            "image": f"ghcr.io/go-platform/svc-{i:02d}:0.1.0",
            "env": {"LOG_LEVEL": "info"},
            "route": {"host": f"svc-{i:02d}.go-platform.localhost"},
        }
        for i in range(1, count + 1)
    ]
    local = yaml.safe_load((engine.project / f"Pulumi.{STACK}.yaml").read_text())["config"]
    new_stack(engine, name, {**local, "go-platform:services": services})
    with_pack, stdout = engine.run("preview", "--json", *PACK, stack=name)
    without, _ = engine.run("preview", "--json", stack=name)
    per_step, _ = engine.run("preview", "--json", *PACK, stack=name, checkpoints=True)
    long = max(COMMAND_TIMEOUT, count * SCALE_TIMEOUT_PER_SERVICE)
    up, up_stdout = engine.run("up", "--yes", "--json", *PACK, stack=name, timeout=long)
    destroy, _ = engine.run("destroy", "--yes", stack=name, timeout=long)
    resources = resources_in(stdout)
    return {
        "services": count,
        "resources": resources,
        "preview (pack) s": with_pack,
        "preview s": without,
        "preview (pack), checkpoint per step s": per_step,
        "up (pack) s": up,
        "destroy s": destroy,
        "created": resources_in(up_stdout),
        "preview resources/s": resources / with_pack,
        "up resources/s": resources / up,
    }


ALL_VENDORED_CRDS = "upstream/crds/*/*.yaml"


def bench_crd_choice(engine: Engine, runs: int) -> dict[str, float]:
    """The local config's first `up` and `destroy` with the definitions the profile
    installs and with every vendored one, alternated; medians, and each checkpoint's size."""
    local = yaml.safe_load((engine.project / f"Pulumi.{STACK}.yaml").read_text())["config"]
    variants = {
        f"the {len(LOCAL_CRD_SOURCES)} the program's kinds need": list(LOCAL_CRD_SOURCES),
        f"all {len(list(REPO.glob(ALL_VENDORED_CRDS)))} vendored": [ALL_VENDORED_CRDS],
    }
    samples: dict[str, list[float]] = {}
    figures: dict[str, float] = {}
    for index, sources in enumerate(variants.values()):
        config = {**local, "go-platform:crds": {"install": True, "sources": sources}}
        new_stack(engine, f"crds-choice-{index}", config)
    for _ in range(runs):  # alternated, so load changes hit both alike
        for index, name in enumerate(variants):
            stack = f"crds-choice-{index}"
            up, _ = engine.run("up", "--yes", *PACK, stack=stack)
            _, exported = engine.run("stack", "export", stack=stack)
            destroy, _ = engine.run("destroy", "--yes", stack=stack)
            samples.setdefault(f"first up (pack), {name}", []).append(up)
            samples.setdefault(f"destroy, {name}", []).append(destroy)
            compact = json.dumps(json.loads(exported), separators=(",", ":"))  # as the CLI saves it
            figures[f"checkpoint KiB, {name}"] = len(compact.encode()) / 1024
    return {**{name: median(values) for name, values in samples.items()}, **figures}


# --- the policy pack, outside the engine ------------------------------------------------


def type_token(body: dict[str, Any]) -> str:
    group, _, version = body["apiVersion"].rpartition("/")
    return f"kubernetes:{group or 'core'}/{version}:{body['kind']}"


def pack_costs(objects: list[dict[str, Any]], runs: int) -> dict[str, float]:
    """`Analyze` round trips to the running pack (local config), as the engine makes one per
    resource: the stack's objects and the CRDs it installs, summed, and the largest CRD."""
    crds = [
        document
        for pattern in LOCAL_CRD_SOURCES
        for path in sorted(REPO.glob(pattern))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]
    pack = serve(STACK)
    try:

        def seconds(bodies: list[dict[str, Any]]) -> float:
            requests = [
                analyze_request(Resource(type_token(b), b, b["metadata"]["name"])) for b in bodies
            ]
            samples = []
            for _ in range(runs):
                started = time.perf_counter()
                for request in requests:
                    pack.stub.Analyze(request)
                samples.append(time.perf_counter() - started)
            return median(samples)

        largest = max(crds, key=lambda c: len(json.dumps(c)))
        greeter = next(o for o in objects if o["kind"] == "Deployment")
        return {
            f"Analyze of the {len(objects)} objects, summed": seconds(objects),
            f"Analyze of the {len(crds)} CRDs, summed": seconds(crds),
            f"Analyze of the largest CRD ({len(json.dumps(largest)) // 1024} KiB)": seconds(
                [largest]
            ),
            "Analyze of the greeter Deployment": seconds([greeter]),
        }
    finally:
        pack.stop()


# --- report -------------------------------------------------------------------------------


def results(runs: int, scale: Sequence[int], crd_choice: bool) -> dict[str, Any]:
    report = toolchain()
    load_before, loop_before = os.getloadavg(), loop_seconds()
    with tempfile.TemporaryDirectory(prefix="local-stack-bench-") as tmp:
        scratch = Path(tmp)
        program = declared()
        engine = bench_engine(report, scratch, program, runs, scale, crd_choice)
        pack = pack_costs(program.objects, runs)
    noop = {name: median(samples) for name, samples in engine.noop.items()}
    floor = floor_figures(engine.floors, program)
    return {
        "machine": {
            "cores": os.cpu_count(),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
            "core_loop_s": [round(loop_before, 2), round(loop_seconds(), 2)],
            "pulumi": report["pulumi_version"],
            "plugins": report["plugins"],
        },
        "runs": runs,
        "first_up_s": engine.first_up_s,
        "first_up_resources": engine.resources,
        "floor": floor,
        "first_up_vs_floor": engine.first_up_s / floor["total_s"],
        "first_update_s": engine.first_update_s,
        "first_update_vs_floor": engine.first_update_s / floor["total_s"],
        "first_update_samples_s": engine.first_updates,
        "noop_median_s": noop,
        "noop_samples_s": engine.noop,
        "breakdown_median_s": {
            **engine.breakdown,
            "program under mocks (imports done)": program.program_s,
            "policy pack inside the engine (preview with - without)": noop["preview (pack)"]
            - noop["preview"],
        },
        "first_up_timeline_s": engine.first_up_timeline,
        "policy_pack_s": pack,
        "scale": engine.scale,
        "crd_choice": engine.crd_choice,
        "targets": TARGETS,
    }


def verdict(value: float, target: float) -> str:
    return "ok" if value <= target else "MISSED"


def table(figures: dict[str, Any]) -> str:
    noop, floor_figures = figures["noop_median_s"], figures["floor"]
    lines = [
        f"local stack: {figures['first_up_resources']} resources; "
        f"{floor_figures['definitions']} definitions and {floor_figures['objects']} "
        "Kubernetes objects applied for the floor; "
        f"floor, first update and no-op figures are medians of {figures['runs']} runs",
        f"machine: {figures['machine']['cores']} cores, load "
        f"{figures['machine']['load_before']} -> {figures['machine']['load_after']}; "
        "one core, 10M Python loop steps (tools/core_speed.py): "
        f"{' s -> '.join(map(str, figures['machine']['core_loop_s']))} s",
        "",
        f"| {'measure':58} | {'seconds':>8} | {'target':>12} |",
        f"|{'-' * 60}|{'-' * 10}|{'-' * 14}|",
    ]

    def row(name: str, value: float, target: str = "") -> None:
        lines.append(f"| {name:58} | {value:8.2f} | {target:>12} |")

    floor_total = floor_figures["total_s"]
    ratio = figures["first_up_vs_floor"]
    row(
        "first up (pack)",
        figures["first_up_s"],
        f"<= {2 * floor_total:.1f} {verdict(ratio, TARGETS['first_up_vs_floor'])}",
    )
    row(
        FIRST_UPDATE,
        figures["first_update_s"],
        f"<= {2 * floor_total:.1f} "
        f"{verdict(figures['first_update_vs_floor'], TARGETS['first_up_vs_floor'])}",
    )
    row(FIRST_UPDATE_PER_STEP, median(figures["first_update_samples_s"][FIRST_UPDATE_PER_STEP]))
    row("floor: server-side apply, until Deployments Available", floor_total)
    row("  floor: CRDs until Established", floor_figures["crds_s"])
    row("  floor: every object applied", floor_figures["objects_s"])
    row("  floor: Deployments Available", floor_figures["available_s"])
    for name, value in noop.items():
        if name.endswith(BESIDE):
            row(f"no-op {name}", value)
            continue
        target = TARGETS["noop_preview_s" if name.startswith("preview") else "noop_up_s"]
        row(f"no-op {name}", value, f"<= {target:.0f} {verdict(value, target)}")
    lines.append("")
    lines.append(f"| {'where a no-op goes (each measured alone)':58} | {'seconds':>8} |")
    lines.append(f"|{'-' * 60}|{'-' * 10}|")
    for name, value in figures["breakdown_median_s"].items():
        lines.append(f"| {name:58} | {value:8.2f} |")
    for title, key in (
        ("first up, from its events (whole seconds)", "first_up_timeline_s"),
        ("policy pack, outside the engine (medians)", "policy_pack_s"),
        ("definitions the local stack installs (medians; KiB where named)", "crd_choice"),
    ):
        if not figures[key]:
            continue
        lines.append("")
        lines.append(f"| {title:58} | {'seconds':>8} |")
        lines.append(f"|{'-' * 60}|{'-' * 10}|")
        for name, value in figures[key].items():
            lines.append(f"| {name:58} | {value:8.2f} |")
    if figures["scale"]:
        lines.append("")
        lines.append(
            "| services | resources | preview (pack) s | preview s "
            "| preview (pack), checkpoint per step s | up (pack) s | destroy s "
            "| preview res/s | up res/s |"
        )
        lines.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for scale in figures["scale"]:
            lines.append(
                f"| {scale['services']} | {scale['resources']} | {scale['preview (pack) s']:.1f} "
                f"| {scale['preview s']:.1f} "
                f"| {scale['preview (pack), checkpoint per step s']:.1f} "
                f"| {scale['up (pack) s']:.1f} "
                f"| {scale['destroy s']:.1f} | {scale['preview resources/s']:.1f} "
                f"| {scale['up resources/s']:.1f} |"
            )
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--runs", type=count, default=3, help="runs of each no-op command")
    parser.add_argument(
        "--scale", type=count, nargs="+", default=[], help="also N generated services (each N)"
    )
    parser.add_argument(
        "--crd-choice",
        action="store_true",
        help="also the first up with the profile's definitions against every vendored one",
    )
    args = parser.parse_args(argv)
    figures = results(args.runs, args.scale, args.crd_choice)
    print(json.dumps(figures, indent=2) if args.json else table(figures))
    return 0


if __name__ == "__main__":
    run(main)
