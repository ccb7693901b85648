"""go-platform's own Python language host (tools/language-python) under the real engine.

Invariants guarded:
- the toolchain links `pulumi-language-python` beside the CLI to the host in use, and
  `doctor` names it;
- `pulumi preview` and `pulumi up` run a Python program through the host in the virtualenv
  the project's runtime options name, with the stack's config and secrets, the stack and
  project names, and the dry-run flag of each phase;
- a program's exit status reaches the engine: a failure fails the update naming the code;
- a program's run records what it imported from site-packages, and its next run starts in a
  process started ahead of it, which imports those meanwhile: the first run of a preview or
  update in the one the CLI's `About` host started (the early start), a later one in the
  one a policy pack's start began (the warm start); what they import is proven in
  tests/test_language_host_runner.py and the host's Go tests. A second run without a pack,
  and every run with `GO_PLATFORM_PYTHON_WARM_START=false`, starts cold; with `=pack`, only
  the warm start is left. No early process outlives its command (the host's Go tests prove
  which commands start one);
- a Python policy pack started by the host knows the stack, project, dry-run flag and config
  it analyses; the project's own pack stops a preview with a mandatory violation, naming
  the policy; a policy at the `remediate` level changes the planned resource, one at
  another level does not (the host answers remediation calls itself while none remediates);
- Ctrl-C during `pulumi up` stops the program, and no process of the run is left behind;
- where the user has Pulumi's own host installed, the toolchain links that one and `doctor`
  says so; `GO_PLATFORM_LANGUAGE_HOST` forces either, and asking for an official host that
  is not there is one line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import REPO

if TYPE_CHECKING:
    from tests.integration.conftest import Engine, Toolchain

BOOTSTRAP = REPO / "tools" / "toolchain" / "bootstrap.py"
STACK = "itest"
CONTEXT_MARKER = "go-platform context policy:"
INTERRUPT_TIMEOUT = 60


def new_stack(engine: Engine, fixture: str) -> Path:
    project = engine.project(fixture)
    engine.run("stack", "init", STACK, "--secrets-provider", "passphrase", cwd=project)
    return project


def set_config(engine: Engine, project: Path, key: str, value: str, *, secret=False) -> None:
    flags = ["--secret"] if secret else []
    engine.run("config", "set", key, value, *flags, "--stack", STACK, cwd=project)


def outputs(engine: Engine, project: Path) -> dict[str, object]:
    shown = engine.run("stack", "output", "--json", "--show-secrets", "--stack", STACK, cwd=project)
    return json.loads(shown.stdout)


def test_doctor_names_the_host_in_use(toolchain: Toolchain):
    toolchain.require("language-python")
    report = subprocess.run(
        [sys.executable, str(BOOTSTRAP), "doctor", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    (finding,) = [
        f for f in json.loads(report.stdout)["findings"] if f["component"] == "host in use"
    ]
    link = toolchain.bin_dir / "pulumi-language-python"
    assert finding["status"] == "present", finding
    assert Path(finding["detail"]) == link.resolve()
    if finding["version"] == "go-platform":
        assert link.resolve().parent.name == "libexec"
        assert (link.resolve().parent / "pulumi-language-python-exec").is_file()


def test_preview_and_up_run_the_program_with_config_and_secrets(
    toolchain: Toolchain, engine: Engine
):
    toolchain.require("cli", "language-python")
    project = new_stack(engine, "python-program")
    set_config(engine, project, "greeting", "hello")
    set_config(engine, project, "token", "s3cr3t-token-value", secret=True)

    preview = engine.run("preview", "--stack", STACK, "--non-interactive", cwd=project)
    assert "error" not in preview.stderr.lower(), preview.stderr
    engine.run("up", "--yes", "--stack", STACK, "--non-interactive", cwd=project)

    values = outputs(engine, project)
    assert values["greeting"] == "hello"
    assert values["token"] == "s3cr3t-token-value"
    assert values["stack"] == STACK
    assert values["project"] == "toolchain-python-fixture"
    assert values["dryRunSeen"] is False  # the update phase, not the preview
    assert Path(str(values["interpreter"])).resolve() == engine.virtualenv.resolve()
    masked = engine.run("stack", "output", "token", "--stack", STACK, cwd=project)
    assert masked.stdout.strip() == "[secret]"
    exported = engine.run("stack", "export", "--stack", STACK, cwd=project)
    assert "s3cr3t-token-value" not in exported.stdout


def early_processes(cache: Path) -> list[str]:
    """Runners in early mode whose record lies under the cache directory `cache`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue  # ended meanwhile
        if "early" in args[3:5] and any(arg.startswith(str(cache)) for arg in args):
            found.append(" ".join(args[:2] + args[4:]))
    return found


def test_the_next_run_of_a_program_starts_ahead_of_it(
    toolchain: Toolchain, engine: Engine, tmp_path: Path
):
    toolchain.require("cli", "language-python")
    engine.env["XDG_CACHE_HOME"] = str(tmp_path)
    project = new_stack(engine, "python-program")
    pack = ("--policy-pack", str(engine.project("policy-pack")))

    def up(greeting: str, *flags: str, global_flags: tuple[str, ...] = ()) -> str:
        set_config(engine, project, "greeting", greeting)  # an update with something to do
        engine.run(
            *global_flags, "up", "--yes", "--stack", STACK, "--non-interactive", *flags, cwd=project
        )
        # Early processes end after the command, on noticing it gone: later on a loaded machine.
        deadline = time.monotonic() + 10
        while (left := early_processes(tmp_path)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert left == []
        return str(outputs(engine, project)["start"])

    up("first", *pack)
    [record] = (tmp_path / "go-platform" / "python-warm-start").glob("*.json")
    recorded = json.loads(record.read_text())
    assert {"pulumi", "pulumi.runtime", "grpc", "yaml"} <= set(recorded)
    assert "__main__" not in recorded

    # The update's run is the command's first: the About host's process takes it.
    assert up("the update alone", "--skip-preview") == "early"
    # Global flags with values before the command (`pulumi --cwd DIR -v 1 up`) are read past.
    global_flags = ("--cwd", str(project), "-v", "1")
    assert up("after global flags", "--skip-preview", global_flags=global_flags) == "early"
    # The preview took that one; the update's run takes the one the pack's start began.
    assert up("with the pack", *pack) == "warm"
    assert up("without a pack") == "cold"  # nothing begun for the second run
    engine.env["GO_PLATFORM_PYTHON_WARM_START"] = "pack"
    assert up("the update alone, warm starts only with a pack", "--skip-preview") == "cold"
    assert up("with the pack, warm starts only with a pack", *pack) == "warm"
    engine.env["GO_PLATFORM_PYTHON_WARM_START"] = "false"
    assert up("turned off", *pack) == "cold"
    assert up("turned off, the update alone", "--skip-preview") == "cold"


def test_a_failing_program_fails_the_update_with_its_exit_code(
    toolchain: Toolchain, engine: Engine
):
    toolchain.require("cli", "language-python")
    project = new_stack(engine, "python-program")
    set_config(engine, project, "exitWith", "3")

    result = engine.run(
        "up", "--yes", "--stack", STACK, "--non-interactive", cwd=project, check=False
    )

    assert result.returncode != 0
    assert "program exited with non-zero exit code: 3" in result.stdout + result.stderr


def test_policy_pack_knows_the_stack_it_analyses(toolchain: Toolchain, engine: Engine):
    toolchain.require("cli", "language-python")
    project = new_stack(engine, "python-program")
    pack = engine.project("context-policy-pack")
    set_config(engine, project, "greeting", "bonjour")

    result = engine.run(
        "preview", "--stack", STACK, "--non-interactive", "--policy-pack", str(pack), cwd=project
    )

    output = result.stdout + result.stderr
    expected = (
        f"{CONTEXT_MARKER} stack={STACK} project=toolchain-python-fixture"
        " dry_run=True greeting=bonjour"
    )
    assert expected in output, output


def test_project_pack_stops_a_mandatory_violation(
    toolchain: Toolchain, engine: Engine, tmp_path: Path
):
    toolchain.require("cli", "language-python", "kubernetes")
    # The provider takes KUBECONFIG as its kubeconfig, which render mode refuses.
    del engine.env["KUBECONFIG"]
    project = new_stack(engine, "violating-program")
    set_config(engine, project, "go-platform:environment", "prod")
    set_config(engine, project, "renderDirectory", str(tmp_path / "rendered"))

    result = engine.run(
        "preview",
        "--stack",
        STACK,
        "--non-interactive",
        "--policy-pack",
        str(REPO / "policies"),
        cwd=project,
        check=False,
    )

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "image-tag-not-latest" in output, output
    assert "mandatory" in output, output


@pytest.mark.parametrize(
    ("seccomp_level", "planned_seccomp"),
    [("remediate", {"seccompProfile": {"type": "RuntimeDefault"}}), ("advisory", None)],
)
def test_a_policy_remediates_what_is_planned_only_at_the_remediate_level(
    toolchain: Toolchain, engine: Engine, tmp_path: Path, seccomp_level, planned_seccomp
):
    """The host answers the engine's remediation calls itself while no policy remediates
    (tools/language-python/policy.go); a policy configured to remediate still changes the
    planned resource, and one that only advises leaves it as the program wrote it."""
    toolchain.require("cli", "language-python", "kubernetes")
    del engine.env["KUBECONFIG"]  # render mode (see the test above)
    project = new_stack(engine, "violating-program")
    set_config(engine, project, "go-platform:environment", "dev")
    set_config(engine, project, "renderDirectory", str(tmp_path / "rendered"))
    policy_config = tmp_path / "policy-config.json"
    policy_config.write_text(
        json.dumps({"all": "advisory", "pod-seccomp-profile-required": seccomp_level})
    )

    result = engine.run(
        "preview",
        "--json",
        "--stack",
        STACK,
        "--non-interactive",
        "--policy-pack",
        str(REPO / "policies"),
        "--policy-pack-config",
        str(policy_config),
        cwd=project,
    )

    (deployment,) = [
        step["newState"]["inputs"]
        for step in json.loads(result.stdout)["steps"]
        if step["newState"]["type"] == "kubernetes:apps/v1:Deployment"
    ]
    assert deployment["spec"]["template"]["spec"].get("securityContext") == planned_seccomp


def stat_fields(process: Path) -> list[str] | None:
    """The fields of `/proc/<pid>/stat` after the command name (state, ppid, pgrp, session,
    ...), or None for a process gone meanwhile."""
    try:
        return (process / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def session_processes(session: int) -> list[str]:
    """Command lines of the processes still in `session` (the run's own session)."""
    found = []
    for process in Path("/proc").glob("[0-9]*"):
        fields = stat_fields(process)
        if fields is None or int(fields[3]) != session or fields[0] == "Z":
            continue
        try:
            cmdline = (process / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # ended meanwhile
        found.append(cmdline.strip())
    return found


def running(pid: int) -> bool:
    """Whether process `pid` still runs: an exited one that no one has reaped yet does not
    (the program's process started early is init's to reap once it ends)."""
    fields = stat_fields(Path(f"/proc/{pid}"))
    return fields is not None and fields[0] != "Z"


def test_ctrl_c_during_up_leaves_no_process_behind(
    toolchain: Toolchain, engine: Engine, tmp_path: Path
):
    toolchain.require("cli", "language-python")
    project = new_stack(engine, "python-program")
    pid_file = tmp_path / "program.pid"
    set_config(engine, project, "sleepSeconds", "300")
    set_config(engine, project, "pidFile", str(pid_file))

    run = subprocess.Popen(
        ["pulumi", "up", "--yes", "--skip-preview", "--stack", STACK, "--non-interactive"],
        cwd=project,
        env=engine.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + INTERRUPT_TIMEOUT
        # Created, then written: wait for the number, not just the file.
        while not (pid_file.exists() and pid_file.read_text()):
            if run.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the program never started:\n{run.communicate()[0]}")
            time.sleep(0.2)
        program_pid = int(pid_file.read_text())
        # Ctrl-C in a terminal signals the whole foreground process group.
        os.killpg(run.pid, signal.SIGINT)
        output, _ = run.communicate(timeout=INTERRUPT_TIMEOUT)
        # The run's processes (and the early one, in a session of its own, the program may run
        # in) end after the CLI, on noticing it gone: later on a loaded machine.
        deadline = time.monotonic() + 30
        while (left := session_processes(run.pid)) or running(program_pid):
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.communicate()

    assert run.returncode != 0, output
    assert not running(program_pid), f"the program is still running:\n{output}"
    assert left == [], f"processes left behind: {left}\n{output}"


def fake_official_install(directory: Path) -> Path:
    """A stand-in for Pulumi's own install: a host with its executor script beside it."""
    directory.mkdir(parents=True)
    for name in ("pulumi-language-python", "pulumi-language-python-exec"):
        script = directory / name
        script.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
        script.chmod(0o755)
    return directory / "pulumi-language-python"


def test_a_users_official_host_is_used_where_installed(tmp_path: Path):
    official = fake_official_install(tmp_path / "pulumi-install" / "bin")
    cache = tmp_path / "cache"
    env = {
        **os.environ,
        "GO_PLATFORM_CACHE": str(cache),
        "PATH": os.pathsep.join([str(official.parent), os.environ["PATH"]]),
    }

    def bootstrap(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(BOOTSTRAP), *args],
            capture_output=True,
            text=True,
            check=False,
            env={**env, **extra},
        )

    def host_in_use(**extra: str) -> dict[str, object]:
        report = json.loads(bootstrap("doctor", "--json", **extra).stdout)
        (finding,) = [f for f in report["findings"] if f["component"] == "host in use"]
        return finding

    built = bootstrap("build", "--only", "language-python")
    assert built.returncode == 0, built.stderr
    assert f"language host: official ({official})" in built.stderr

    assert host_in_use() == {
        "section": "toolchain",
        "component": "host in use",
        "version": "official",
        "status": "present",
        "detail": str(official),
        "newer": [],  # every finding has the field; only --registry's fill it
    }
    ours = bootstrap("build", "--only", "language-python", GO_PLATFORM_LANGUAGE_HOST="go-platform")
    assert "language host: go-platform" in ours.stderr, ours.stderr
    assert host_in_use(GO_PLATFORM_LANGUAGE_HOST="go-platform")["version"] == "go-platform"
    refused = bootstrap(
        "build",
        "--only",
        "language-python",
        GO_PLATFORM_LANGUAGE_HOST="official",
        PATH=os.environ["PATH"],  # without the install above
        HOME=str(tmp_path),  # and no ~/.pulumi/bin
    )
    assert refused.returncode == 1
    assert "no official pulumi-language-python was found" in refused.stderr
    assert "Traceback" not in refused.stderr
