"""Harness for the integration tests: the real Pulumi engine that `make toolchain` builds.

The toolchain is found through `tools/toolchain/bootstrap.py doctor --json`, so tests use
exactly the paths and versions the bootstrap uses. A test that needs a component which was
not built is skipped with one reason naming it; nothing else skips.

Every test gets an `Engine`: its own PULUMI_HOME (sharing the toolchain's installed plugins),
a file backend, a passphrase and a TMPDIR in a tmp dir, a KUBECONFIG that does not exist,
and automatic plugin acquisition off. Programs and policy packs are copied from
`fixtures/` into the tmp dir, so nothing is written into the repository, and every command
runs in its own process group that is killed if it outlives its timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

BOOTSTRAP = REPO / "tools" / "toolchain" / "bootstrap.py"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

PASSPHRASE = "go-platform-integration-tests"
COMMAND_TIMEOUT = 300


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration needs `make test`'s set-up (`-m "not integration"`
    leaves it out); the tests that run the real Pulumi engine also carry `engine`."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)
            if {"engine", "toolchain"} & set(getattr(item, "fixturenames", ())):
                item.add_marker(pytest.mark.engine)


@dataclass(frozen=True)
class Toolchain:
    """What `bootstrap.py doctor --json` reports."""

    bin_dir: Path
    pulumi_home: Path
    pulumi_version: str
    plugins: dict[str, str]
    components: dict[str, str]

    def require(self, *names: str) -> None:
        """Skip the calling test unless every named component was built."""
        missing = [name for name in names if self.components.get(name) != "present"]
        if missing:
            pytest.skip(
                f"toolchain not built (missing: {', '.join(missing)}); run `make toolchain`"
            )


@pytest.fixture(scope="session")
def toolchain() -> Toolchain:
    result = subprocess.run(
        [sys.executable, str(BOOTSTRAP), "doctor", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"bootstrap.py doctor --json gave no report: {result.stderr.strip()}")
    return Toolchain(
        bin_dir=Path(report["bin_dir"]),
        pulumi_home=Path(report["pulumi_home"]),
        pulumi_version=report["pulumi_version"],
        plugins=dict(report["plugins"]),
        components=dict(report["components"]),
    )


@pytest.fixture(scope="session")
def virtualenv() -> Path:
    """The virtualenv running the tests; programs and policy packs run in it too."""
    if sys.prefix == sys.base_prefix:
        pytest.fail("run the integration tests from the project virtualenv (`make venv`)")
    return Path(sys.prefix)


def run_in_virtualenv(project_file: Path, virtualenv: Path) -> None:
    """Point a Pulumi.yaml or PulumiPolicy.yaml's runtime at `virtualenv`."""
    settings = yaml.safe_load(project_file.read_text(encoding="utf-8"))
    settings["runtime"].setdefault("options", {})["virtualenv"] = str(virtualenv)
    project_file.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")


@dataclass
class Engine:
    """The Pulumi CLI with state, home and secrets confined to one tmp dir."""

    toolchain: Toolchain
    root: Path
    env: dict[str, str]
    virtualenv: Path

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def kubeconfig(self) -> Path:
        return Path(self.env["KUBECONFIG"])

    def project(self, fixture: str) -> Path:
        """A copy of `fixtures/<fixture>` whose Pulumi(Policy).yaml uses the test virtualenv."""
        target = self.root / "projects" / fixture
        shutil.copytree(FIXTURES / fixture, target)
        for name in ("Pulumi.yaml", "PulumiPolicy.yaml"):
            if (target / name).exists():
                run_in_virtualenv(target / name, self.virtualenv)
        return target

    def without_plugins(self) -> None:
        """Point PULUMI_HOME at an empty directory: no plugin is installed."""
        empty = self.root / "empty-home"
        empty.mkdir(exist_ok=True)
        self.env["PULUMI_HOME"] = str(empty)

    def run(
        self,
        *args: str,
        cwd: Path,
        check: bool = True,
        timeout: float = COMMAND_TIMEOUT,
        extra_env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `pulumi <args>` (with `extra_env` on top of the engine's); output is returned,
        and shown in the failure when `check` fails."""
        env = {**self.env, **(extra_env or {})}
        return run_command(["pulumi", *args], cwd=cwd, env=env, check=check, timeout=timeout)


def processes_working_in(root: Path) -> list[int]:
    """Processes whose working directory is `root` or below it: the plugins of a Pulumi run
    in a test's directory (each in a process group of its own, so killing the CLI's group
    does not reach them)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cwd = Path(os.readlink(proc / "cwd"))
        except OSError:
            continue
        if cwd == root or root in cwd.parents:
            found.append(int(proc.name))
    return found


def kill_with_plugins(process: subprocess.Popen[bytes], root: Path) -> None:
    """SIGKILL `process`'s group (it was started with `start_new_session`) and wait for it,
    then every process working in `root`: what a SIGKILL leaves running, the plugins, each in
    a process group of its own."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    for pid in processes_working_in(root):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def run_in_group(
    argv: Sequence[str], *, cwd: Path, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run a command in its own process group, which is killed when the command ends (the
    plugins it started must not outlive it) or runs out of time: then `TimeoutExpired` is
    raised with what the command printed."""
    process = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise subprocess.TimeoutExpired(list(argv), timeout, stdout, stderr) from None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(list(argv), process.returncode, stdout, stderr)


def run_command(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str],
    check: bool,
    timeout: float,
) -> subprocess.CompletedProcess[str]:
    """`run_in_group`, failing the test on a timeout, and on a non-zero exit when `check`."""
    try:
        result = run_in_group(argv, cwd=cwd, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as expired:
        pytest.fail(
            f"`{' '.join(argv)}` did not finish within {timeout:.0f}s\n"
            f"{expired.output}\n{expired.stderr}"
        )
    if check and result.returncode != 0:
        pytest.fail(
            f"`{' '.join(argv)}` exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def new_engine(toolchain: Toolchain, virtualenv: Path, root: Path, kubeconfig: Path) -> Engine:
    """An Engine confined to `root`: its own PULUMI_HOME (sharing the toolchain's installed
    plugins), a file backend, a passphrase, a temp dir, and `kubeconfig` as KUBECONFIG."""
    home = root / "pulumi-home"
    home.mkdir()
    # The toolchain's plugins, read-only in spirit; credentials and workspaces stay per test.
    (home / "plugins").symlink_to(toolchain.pulumi_home / "plugins", target_is_directory=True)
    state = root / "state"
    state.mkdir()
    # The kubernetes provider writes a copy of a stack's `kubernetes:kubeconfig` into the
    # temp dir on every run and never removes it: the test's own, not the machine's /tmp.
    scratch = root / "tmp"
    scratch.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PULUMI_", "KUBERNETES_")) and key != "KUBECONFIG"
    }
    env.update(
        {
            "PATH": os.pathsep.join([str(toolchain.bin_dir), env.get("PATH", "")]),
            "PULUMI_HOME": str(home),
            "PULUMI_BACKEND_URL": f"file://{state}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "KUBECONFIG": str(kubeconfig),
            "PYTHONDONTWRITEBYTECODE": "1",
            "TMPDIR": str(scratch),
        }
    )
    return Engine(toolchain=toolchain, root=root, env=env, virtualenv=virtualenv)


@pytest.fixture
def engine(toolchain: Toolchain, virtualenv: Path, tmp_path: Path) -> Engine:
    """An Engine per test, with a KUBECONFIG that does not exist."""
    return new_engine(toolchain, virtualenv, tmp_path, tmp_path / "no-such-dir" / "kubeconfig")
