"""Where the driver finds the project, the backend, the secrets and the CLI (pure parts).

Invariants guarded:
- the backend is `--backend`, else PULUMI_BACKEND_URL, else the project's git-ignored
  `.state/backend`; only absolute file:// paths and s3:// URLs naming a bucket pass, and a
  rejected one is a usage error saying what to write;
- the passphrase provider gets the documented local passphrase on a file backend when none
  is set, never overrides one that is set, and on a shared backend asks for one; KMS URLs
  need no passphrase; an unknown provider is a usage error;
- a stack file's recorded secrets provider is read, so an existing KMS stack needs no
  passphrase;
- `bootstrap.py env` output is read with `$PATH` expanded;
- a failed CLI command is shown by its `error:` lines, and lock conflicts are recognised
  by type and by the file backend's message;
- the project is the nearest directory with a Pulumi.yaml, named by it;
- the CLI is found in any layout (a `bin/` folder or not, behind symbolic links): the
  Automation API runs the executable itself, checked to be at least the SDK's version
  (same major), and one that does not run or is too old is one line, exit 1;
- the CLI runs as the SDK runs it (`--non-interactive` once, its plugins first on PATH,
  each output line passed on, the SDK's error types); at a terminal in a session of its
  own with no terminal input, elsewhere in the driver's process group;
- every engine command runs with a temp dir of the driver's own under TMPDIR, removed when
  the driver exits (the kubernetes provider leaves kubeconfig copies in it);
- the pending operations of a stack are read from `pulumi stack export` without
  `--show-secrets` (no secret is decrypted for it), and a state that cannot be read is one
  error naming the stack;
- a rejected secrets provider or backend is never shown back with a secret in it;
- the pack's config checker is a verdict only when it gives one: a checker that crashes
  or is missing fails, its output unshown;
- a stack name has the stack-name form whoever checks it (`--base` too);
- a path the system will not look at (a name too long, a directory not to be searched)
  is said in words, a usage error naming its flag; config values Python's JSON does not
  read (nested past its recursion limit, 5000-digit numbers) are hidden without an error,
  and secret names are found at any depth.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import pytest
from pulumi import automation as auto
from pulumi.automation import CommandResult, ConcurrentUpdateError
from pulumi.automation.errors import CommandError

from go_platform import interrupt, paths, redact
from go_platform.exit_codes import DriverError, ExitCode
from go_platform.paths import PathKind, UnusablePathError, checked_kind, path_kind
from go_platform.redact import sensitive_values
from go_platform.workspace import (
    DEFAULT_LOCAL_PASSPHRASE,
    EMBEDDED_ENVIRONMENT,
    REPO,
    SKIP_CHECKPOINTS_ENV,
    Cli,
    PendingOperation,
    Session,
    StackState,
    Target,
    check_backend,
    check_secrets_provider,
    check_stack_name,
    command_error_lines,
    embedded_kubeconfig,
    find_project_dir,
    is_lock_conflict,
    kubeconfig_override,
    locate_cli,
    lock_error,
    pack_config_problems,
    parse_exports,
    passphrase_environment,
    project_name,
    pulumi_command,
    resolve_backend,
    stack_file,
    stack_secrets_provider,
    stack_state,
    update_env,
)
from go_platform_core.config import StackConfig

PROJECT = Path("/srv/go-platform")


def test_the_backend_option_wins_then_the_environment_then_local_state():
    env = {"PULUMI_BACKEND_URL": "s3://from-env?region=eu-west-1"}

    assert resolve_backend("file:///tmp/state", env, PROJECT) == "file:///tmp/state"
    assert resolve_backend(None, env, PROJECT) == "s3://from-env?region=eu-west-1"
    assert resolve_backend(None, {}, PROJECT) == "file:///srv/go-platform/.state/backend"


@pytest.mark.parametrize(
    "url",
    [
        "file:///var/lib/state",
        "file://~/.pulumi-state",
        "s3://state-bucket",
        "s3://state-bucket?region=eu-west-1&endpoint=127.0.0.1:9000&s3ForcePathStyle=true",
        "s3://state-bucket?region=eu-west-1&s3ForcePathStyle=1&profile=ci",
    ],
)
def test_supported_backends(url):
    assert check_backend(url) == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("file://relative/state", "absolute path"),
        ("s3://", "name the bucket"),
        ("s3://?region=eu-west-1", "name the bucket"),
        ("s3://bucket?region=", "region= is empty"),
        ("s3://bucket?region=eu-west-1&s3ForcePathStyle=maybe", "s3ForcePathStyle must be true"),
        ("gs://bucket", "is not supported"),
        ("https://api.example.com", "is not supported"),
        ("/plain/path", "is not supported"),
    ],
)
def test_rejected_backends_are_usage_errors_saying_what_to_write(url, says):
    with pytest.raises(DriverError) as raised:
        check_backend(url)

    assert raised.value.code == ExitCode.USAGE
    assert says in raised.value.lines[0]
    assert len(raised.value.lines) == 1


def test_the_local_passphrase_is_the_default_on_a_file_backend_only():
    assert passphrase_environment("passphrase", "file:///x", {}) == {
        "PULUMI_CONFIG_PASSPHRASE": DEFAULT_LOCAL_PASSPHRASE
    }
    assert (
        passphrase_environment("passphrase", "file:///x", {"PULUMI_CONFIG_PASSPHRASE": "mine"})
        == {}
    )
    assert (
        passphrase_environment("passphrase", "s3://b", {"PULUMI_CONFIG_PASSPHRASE_FILE": "/p"})
        == {}
    )
    assert passphrase_environment("awskms://alias/state", "s3://b", {}) == {}
    with pytest.raises(DriverError, match="PULUMI_CONFIG_PASSPHRASE") as raised:
        passphrase_environment("passphrase", "s3://b", {})
    assert raised.value.code == ExitCode.USAGE


def test_secrets_providers():
    assert check_secrets_provider("passphrase") == "passphrase"
    assert check_secrets_provider("awskms://alias/go-platform?region=eu-west-1")
    assert check_secrets_provider("hashivault://go-platform")
    with pytest.raises(DriverError, match="not supported"):
        check_secrets_provider("rot13")


def test_a_stack_file_tells_its_secrets_provider(tmp_path):
    (tmp_path / "Pulumi.kms.yaml").write_text(
        "secretsprovider: awskms://alias/x\nencryptedkey: abc\n"
    )
    (tmp_path / "Pulumi.pass.yaml").write_text("encryptionsalt: v1:abc\nconfig: {}\n")
    (tmp_path / "Pulumi.new.yaml").write_text("config: {}\n")

    assert stack_secrets_provider(tmp_path, "kms") == "awskms://alias/x"
    assert stack_secrets_provider(tmp_path, "pass") == "passphrase"
    assert stack_secrets_provider(tmp_path, "new") is None
    assert stack_secrets_provider(tmp_path, "missing") is None


def test_bootstrap_env_output_is_read_with_path_expanded():
    text = (
        'export PATH=/cache/pulumi-v3/bin:"$PATH"\n'
        "export PULUMI_HOME=/cache/home\n"
        "export PULUMI_SKIP_UPDATE_CHECK=true\n"
    )

    assert parse_exports(text, {"PATH": "/usr/bin"}) == {
        "PATH": "/cache/pulumi-v3/bin:/usr/bin",
        "PULUMI_HOME": "/cache/home",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }


def failure(stderr: str, kind: type[CommandError] = CommandError) -> CommandError:
    return kind(CommandResult(stdout="Updating (dev)\n", stderr=stderr, code=255))


def test_a_failed_command_shows_its_error_lines():
    error = failure("warning: something\nerror: update failed\nerror: 1 resource failed\n")

    assert command_error_lines(error) == ["error: update failed", "error: 1 resource failed"]
    assert command_error_lines(failure("just text\n"))[-1] == "just text"


def test_lock_conflicts_are_recognised():
    file_backend = failure(
        "error: the stack is currently locked by 1 lock(s). Either wait for the other "
        "process(es) to end or delete the lock file with `pulumi cancel`.\n"
    )

    assert is_lock_conflict(failure("", ConcurrentUpdateError))
    assert is_lock_conflict(file_backend)
    assert not is_lock_conflict(failure("error: boom\n"))
    locked = lock_error("dev", file_backend)
    assert locked.code == ExitCode.LOCKED
    assert "locked by another update" in locked.lines[0]
    assert "currently locked" in locked.lines[1]


def test_the_project_is_the_nearest_pulumi_yaml(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: go-platform\nruntime: python\n")
    nested = tmp_path / "services" / "greeter"
    nested.mkdir(parents=True)

    assert find_project_dir(nested) == tmp_path
    assert project_name(tmp_path) == "go-platform"
    with pytest.raises(DriverError, match="--project-dir"):
        find_project_dir(Path("/"))


def test_the_local_environment_always_uses_the_embedded_cluster():
    embedded = Path("/repo/.state/cluster/kubeconfig")

    def locate():
        return embedded

    assert kubeconfig_override("local", {}, locate) == embedded
    assert kubeconfig_override("local", {"kubernetes:kubeconfig": "/k"}, locate) is None
    assert kubeconfig_override("dev", {}, locate) is None
    assert kubeconfig_override("local", {}, lambda: None) is None


def test_the_embedded_kubeconfig_comes_from_the_cluster_tool(tmp_path):
    assert (
        embedded_kubeconfig(REPO, {"GO_PLATFORM_CLUSTER_DIR": str(tmp_path)})
        == tmp_path / "kubeconfig"
    )
    assert embedded_kubeconfig(tmp_path, {}) is None


def test_a_cluster_tool_that_fails_is_an_error_not_the_callers_kubeconfig(tmp_path):
    # KUBECONFIG may name any cluster (production's): the local stack never falls back to it.
    with pytest.raises(DriverError) as raised:
        embedded_kubeconfig(REPO, {"GO_PLATFORM_CLUSTER_DIR": "", "KUBECONFIG": "/prod"})
    assert raised.value.code == ExitCode.FAILED
    (line,) = raised.value.lines
    assert "the local stack deploys only to the embedded cluster" in line
    assert "GO_PLATFORM_CLUSTER_DIR is empty" in line


# --- the CLI, in any layout ------------------------------------------------------------

SDK_VERSION = metadata.version("pulumi")


def fake_pulumi(path: Path, version: str = f"v{SDK_VERSION}", exit_code: int = 0) -> Path:
    """An executable that answers `version` like the CLI and echoes anything else."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = version ]; then echo {version}; exit {exit_code}; fi\n'
        'echo "ran: $*"\n'
    )
    path.chmod(0o755)
    return path


def link(path: Path, target: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    return path


@pytest.mark.parametrize(
    ("layout", "on_path", "real"),
    [
        ("bin folder", "opt/pulumi/bin", "opt/pulumi/bin/pulumi"),
        ("release archive", "opt/pulumi", "opt/pulumi/pulumi"),
        ("flat tool directory", "tools", "tools/pulumi"),
        ("link to a release archive", "links", "opt/pulumi-3/pulumi"),
        ("relative link into a bin folder", "usr/bin", "Cellar/pulumi/3/bin/pulumi"),
    ],
)
def test_the_cli_is_found_and_run_in_any_layout(tmp_path, layout, on_path, real):
    executable = fake_pulumi(tmp_path / real)
    if not (tmp_path / on_path / "pulumi").exists():
        link(tmp_path / on_path / "pulumi", os.path.relpath(executable, tmp_path / on_path))
    env = {"PATH": str(tmp_path / on_path)}

    cli = locate_cli(env, tmp_path)
    command = pulumi_command(cli, env)

    assert cli.executable == executable
    assert command.command == str(executable)
    assert str(command.version) == SDK_VERSION
    ran = command.run(["stack", "ls"], cwd=str(tmp_path), additional_env=env)
    assert ran.stdout == "ran: --non-interactive stack ls"


def cli_script(tmp_path: Path, body: str) -> auto.PulumiCommand:
    """The CLI as the driver runs it, where anything but `version` runs `body` (sh)."""
    executable = tmp_path / "cli" / "pulumi"
    executable.parent.mkdir(parents=True)
    executable.write_text(
        f'#!/bin/sh\nif [ "$1" = version ]; then echo v{SDK_VERSION}; exit 0; fi\n{body}\n'
    )
    executable.chmod(0o755)
    return pulumi_command(Cli(executable=executable, env={}), {"PATH": os.defpath})


def test_the_cli_runs_as_the_sdk_runs_it_each_line_passed_on_as_it_comes(tmp_path):
    command = cli_script(
        tmp_path,
        'echo "args: $*"; echo "api: $PULUMI_AUTOMATION_API"; echo "path: $PATH"; '
        'echo "extra: $EXTRA"; echo "on stderr" >&2',
    )
    seen: list[str] = []
    errors: list[str] = []

    ran = command.run(
        ["--non-interactive", "stack", "ls", "--", "--non-interactive"],
        cwd=str(tmp_path),
        additional_env={"EXTRA": "given"},
        on_output=seen.append,
        on_error=errors.append,
    )

    assert seen == ran.stdout.splitlines()
    assert ran.stdout.splitlines()[:2] == [
        "args: --non-interactive stack ls -- --non-interactive",  # not added twice
        "api: true",
    ]
    assert ran.stdout.splitlines()[2].startswith(f"path: {tmp_path / 'cli'}{os.pathsep}")
    assert ran.stdout.splitlines()[3] == "extra: given"
    assert errors == ["on stderr"]
    assert (ran.stderr, ran.code) == ("on stderr", 0)
    after_separator = command.run(["config", "--", "x"], cwd=str(tmp_path), additional_env={})
    assert after_separator.stdout.startswith("args: --non-interactive config -- x")


def test_a_cli_command_that_fails_raises_the_sdks_own_error(tmp_path):
    command = cli_script(tmp_path, "echo \"error: no stack named 'dev' found\" >&2; exit 255")

    with pytest.raises(auto.StackNotFoundError) as raised:
        command.run(["stack", "select", "dev"], cwd=str(tmp_path), additional_env={})

    assert "code: 255" in str(raised.value)
    assert "no stack named 'dev' found" in str(raised.value)


def test_the_driver_waits_for_the_cli_at_a_second_signal_and_kills_it_at_a_third(
    tmp_path, monkeypatch
):
    """The CLI runs a command with no engine (nothing is passed on to it): the first
    SIGTERM lets it go on, the second stops the driver once the CLI has ended, the third
    kills it; each handled at once though the kernel gave it to a thread other than the
    main one."""
    monkeypatch.setattr("go_platform.interrupt.in_terminal_foreground", lambda: False)
    started = tmp_path / "started"
    command = cli_script(tmp_path, f"echo $$ > {started}; exec sleep 60")
    previous = signal.signal(signal.SIGTERM, interrupt.on_sigterm)

    def signal_the_driver() -> None:
        deadline = time.monotonic() + 60
        while not started.exists() or not started.read_text().strip():
            if time.monotonic() > deadline:
                return  # the CLI never ran: the test fails on its own
            time.sleep(0.05)
        for count in range(1, 4):
            # Delivered to this thread, not the main one, as the kernel may: its handler
            # must still run while the main thread waits for the CLI.
            signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
            # Each one handled before the next is sent: two pending at once count as one.
            while interrupt._signals < count and time.monotonic() < deadline:
                time.sleep(0.05)

    sender = threading.Thread(target=signal_the_driver)
    sender.start()
    began = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            command.run(["stack", "output"], cwd=str(tmp_path), additional_env={})
    finally:
        sender.join()
        signal.signal(signal.SIGTERM, previous)
        interrupt.reset()

    assert time.monotonic() - began < 30  # not the CLI's 60 s
    cli = int(started.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(cli, 0)


@pytest.mark.parametrize("at_a_terminal", [True, False], ids=["at-a-terminal", "in-ci"])
def test_at_a_terminal_the_cli_runs_in_a_session_of_its_own_away_from_its_ctrl_c(
    tmp_path, monkeypatch, at_a_terminal
):
    """A Ctrl-C at the terminal reaches only the driver, which passes it on when the engine
    listens (go_platform/interrupt.py); elsewhere the CLI stays in the driver's process
    group, which a CI runner may kill as a whole."""
    monkeypatch.setattr("go_platform.interrupt.in_terminal_foreground", lambda: at_a_terminal)
    command = cli_script(
        tmp_path,
        "ps -o sid= -o pgid= -p $$; readlink /proc/$$/fd/0",
    )

    ran = command.run(["up"], cwd=str(tmp_path), additional_env={})

    session, group = (int(field) for field in ran.stdout.splitlines()[0].split())
    stdin = ran.stdout.splitlines()[1]
    if at_a_terminal:
        assert session != os.getsid(0)
        assert group != os.getpgrp()
        assert stdin == "/dev/null"
    else:
        assert (session, group) == (os.getsid(0), os.getpgrp())
        assert stdin == os.readlink("/proc/self/fd/0")


@pytest.mark.parametrize(
    ("script", "timeout", "says"),
    [
        (
            "import sys; sys.exit('toolchain.toml: pulumi.version is not a version')",
            60,  # an interpreter that starts slowly on a busy machine still fails first
            "env` exited 1: toolchain.toml: pulumi.version is not a version",
        ),
        ("import time; time.sleep(30)", 1, "env` gave no answer in 1 s"),
    ],
    ids=["fails", "hangs"],
)
def test_a_toolchain_bootstrap_that_fails_is_named_in_the_cli_error(
    tmp_path, monkeypatch, script, timeout, says
):
    bootstrap = tmp_path / "tools" / "toolchain" / "bootstrap.py"
    bootstrap.parent.mkdir(parents=True)
    bootstrap.write_text(script + "\n")
    monkeypatch.setattr("go_platform.workspace.REPO", tmp_path)
    monkeypatch.setattr("go_platform.workspace.TOOL_TIMEOUT_SECONDS", timeout)

    with pytest.raises(DriverError) as raised:
        locate_cli({"PATH": str(tmp_path / "empty")}, tmp_path)

    assert raised.value.code == ExitCode.FAILED
    message = str(raised.value)
    assert message.startswith("the pulumi CLI was not found: put it on PATH")
    assert says in message
    assert "Traceback" not in message


@pytest.mark.parametrize(
    ("version", "exit_code", "says"),
    [
        ("v3.0.0", 0, "is version 3.0.0; the Automation API SDK needs"),
        ("v99.0.0", 0, "is version 99.0.0; the Automation API SDK needs"),
        ("garbage", 0, "cannot be read"),
        (f"v{SDK_VERSION}", 3, "does not run: `pulumi version` exited 3"),
    ],
)
def test_a_cli_that_is_too_old_or_does_not_run_is_one_line_exit_1(
    tmp_path, version, exit_code, says
):
    cli = Cli(executable=fake_pulumi(tmp_path / "pulumi", version, exit_code), env={})

    with pytest.raises(DriverError) as raised:
        pulumi_command(cli, {"PATH": os.defpath})

    assert raised.value.code == ExitCode.FAILED
    assert len(raised.value.lines) == 1
    assert says in raised.value.lines[0]
    assert str(tmp_path / "pulumi") in raised.value.lines[0]


def test_the_sdks_opt_out_of_the_version_check_is_honoured(tmp_path):
    cli = Cli(executable=fake_pulumi(tmp_path / "pulumi", "v3.0.0"), env={})

    command = pulumi_command(cli, {"PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true"})

    assert str(command.version) == "3.0.0"


# --- the stack's state ---------------------------------------------------------------

PENDING_STATE = {
    "version": 3,
    "deployment": {
        "resources": [],
        "pending_operations": [
            {"type": "creating", "resource": {"urn": "urn:pulumi:dev::p::random:RandomPet::pet"}}
        ],
    },
}


def exporting_pulumi(path: Path, state: str, exit_code: int = 0) -> Path:
    """A CLI that answers `version`, logs every other command's arguments to `<path>.log`
    and answers `stack export` with `state`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / "state.json").write_text(state)
    path.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = version ]; then echo v{SDK_VERSION}; exit 0; fi\n'
        f'echo "$*" >> "{path}.log"\n'
        f'cat "{path.parent / "state.json"}"; echo "error: no state" >&2; exit {exit_code}\n'
    )
    path.chmod(0o755)
    return path


def project_in(tmp_path: Path) -> Path:
    """A minimal Pulumi project at `tmp_path/project`."""
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    return tmp_path / "project"


def session_with(tmp_path: Path, cli: Path) -> Session:
    target = Target(project_in(tmp_path), "dev", f"file://{tmp_path / 'state'}")
    return Session(target, {"PATH": str(cli.parent), "PULUMI_CONFIG_PASSPHRASE": "x"})


def test_the_state_is_read_once_without_decrypting_secrets(tmp_path):
    cli = exporting_pulumi(tmp_path / "bin" / "pulumi", json.dumps(PENDING_STATE))

    state = session_with(tmp_path, cli).state(SimpleNamespace(name="dev"))

    assert state.pending == [
        PendingOperation("creating", "urn:pulumi:dev::p::random:RandomPet::pet")
    ]
    [command] = Path(f"{cli}.log").read_text().splitlines()
    assert command.split() == ["--non-interactive", "stack", "export", "--stack", "dev"]


def test_a_file_backend_that_does_not_exist_holds_no_stack_and_is_not_made(tmp_path):
    # A mistyped --backend on a command that only reads: no CLI run (its login would make
    # the directory and its .pulumi/meta.yaml), no directory.
    cli = exporting_pulumi(tmp_path / "bin" / "pulumi", "{}")
    session = session_with(tmp_path, cli)

    with pytest.raises(DriverError) as raised:
        session.select("dev")

    assert raised.value.code == ExitCode.USAGE
    assert raised.value.lines[0] == f"no stack named 'dev' in backend file://{tmp_path / 'state'}"
    assert not session.stack_exists("dev")
    assert not (tmp_path / "state").exists()
    assert not Path(f"{cli}.log").exists()


def test_creating_a_stack_makes_its_file_backends_directory(tmp_path):
    cli = exporting_pulumi(tmp_path / "bin" / "pulumi", "{}")

    session_with(tmp_path, cli).create("dev")

    assert (tmp_path / "state").is_dir()
    assert "stack init dev" in Path(f"{cli}.log").read_text()


def test_the_progress_total_is_every_resource_the_state_holds():
    deployment = {
        "resources": [
            {"urn": "urn:pulumi:dev::p::pulumi:pulumi:Stack::p-dev"},
            {"urn": "urn:pulumi:dev::p::pulumi:providers:random::default"},
            {"urn": "urn:pulumi:dev::p::random:RandomPet::pet"},
        ]
    }

    assert stack_state(deployment) == StackState(resources=3, pending=[])
    assert stack_state({}) == StackState(resources=0, pending=[])


def test_a_dry_run_skips_checkpoints_for_its_commands_only(tmp_path):
    cli = tmp_path / "bin" / "pulumi"
    cli.parent.mkdir()
    cli.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = version ]; then echo v{SDK_VERSION}; exit 0; fi\n'
        f'echo "$* skip=$PULUMI_SKIP_CHECKPOINTS" >> "{cli}.log"\n'
    )
    cli.chmod(0o755)
    session = session_with(tmp_path, cli)

    session.run_cli("up")
    with session.dry_run():
        session.run_cli("preview")
    session.run_cli("destroy")

    assert SKIP_CHECKPOINTS_ENV == {"PULUMI_SKIP_CHECKPOINTS": "true"}
    assert Path(f"{cli}.log").read_text().splitlines() == [
        "--non-interactive up skip=",
        "--non-interactive preview skip=true",
        "--non-interactive destroy skip=",
    ]


@pytest.mark.parametrize("environment", ["dev", "staging", "prod", "local"])
def test_only_updates_on_the_embedded_cluster_skip_checkpoints(environment):
    expected = SKIP_CHECKPOINTS_ENV if environment == EMBEDDED_ENVIRONMENT else {}

    assert update_env(environment) == expected


def make_recipe(target: str, stack: str) -> str:
    """The `pulumi <target>` command line `make <target>` would run for `stack` (`make -n`:
    nothing runs; never for a recipe that calls $(MAKE), which `-n` runs)."""
    done = subprocess.run(
        ["make", "-n", target, f"STACK={stack}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    [recipe] = [line for line in done.stdout.splitlines() if f"pulumi {target} " in line]
    return recipe


@pytest.mark.parametrize(
    ("target", "stack", "skips"),
    [
        ("preview", "dev", True),
        ("preview", "local", True),
        ("up", "dev", False),
        ("up", "local", True),
    ],
)
def test_the_makefile_skips_checkpoints_where_the_driver_does(target, stack, skips):
    """`make preview` writes no state; `make up` of the local stack runs as the driver runs
    an update on the embedded cluster (`update_env`); other stacks' updates keep their
    checkpoints."""
    skip = " ".join(f"{name}={value}" for name, value in SKIP_CHECKPOINTS_ENV.items())
    recipe = make_recipe(target, stack)

    assert (skip in recipe) is skips, recipe


MAKE_LINE = re.compile(r"make(\[\d+\])?: ")


def make_with_cli(
    tmp_path: Path, *args: str, exit_code: int = 0
) -> tuple[subprocess.CompletedProcess, list[str]]:
    """`make -s <args>` with a CLI that logs what it is asked (and fails with `exit_code`);
    returns the run and the CLI's logged commands."""
    cli = exporting_pulumi(tmp_path / "bin" / "pulumi", "{}", exit_code)
    done = subprocess.run(
        ["make", "-s", *args, f"PULUMI={cli}"],
        cwd=REPO,
        env={**os.environ, "PULUMI_BACKEND_URL": f"file://{tmp_path / 'backend'}"},
        capture_output=True,
        text=True,
        check=False,
    )
    log = Path(f"{cli}.log")
    return done, log.read_text().splitlines() if log.exists() else []


def test_make_cancel_removes_the_lock_of_the_stack_it_names(tmp_path):
    locks = tmp_path / "backend" / ".pulumi" / "locks" / "organization" / "go-platform"
    (locks / "dev").mkdir(parents=True)
    (locks / "dev" / "c0ffee.json").write_text("{}")

    done, asked = make_with_cli(tmp_path, "cancel", "STACK=dev")

    assert done.returncode == 0, done.stderr
    assert asked == ["cancel --yes --stack dev"]


def test_make_cancel_says_when_no_update_holds_the_lock(tmp_path):
    # Another stack's lock is not this stack's.
    other = tmp_path / "backend" / ".pulumi" / "locks" / "organization" / "go-platform" / "dev"
    other.mkdir(parents=True)
    (other / "c0ffee.json").write_text("{}")

    done, asked = make_with_cli(tmp_path, "cancel", "STACK=local")

    assert done.returncode == 0, done.stderr
    assert done.stdout == "stack local: no update holds its lock; nothing to cancel\n"
    assert asked == []


def test_an_existing_stack_is_selected_without_listing_the_backends_stacks(tmp_path):
    cli = exporting_pulumi(tmp_path / "bin" / "pulumi", "{}")
    (tmp_path / "state").mkdir()  # the backend that holds it

    stack = session_with(tmp_path, cli).select_or_create_declared()

    assert stack.name == "dev"
    commands = [line.split() for line in Path(f"{cli}.log").read_text().splitlines()]
    assert commands == [["--non-interactive", "stack", "select", "--stack", "dev"]]


def test_the_engine_gets_a_temp_dir_of_its_own_removed_when_the_driver_exits(tmp_path):
    cli = exporting_pulumi(tmp_path / "bin" / "pulumi", "{}")
    project = project_in(tmp_path)
    (tmp_path / "tmp").mkdir()
    driver = (
        "import os, pathlib, sys\n"
        "from go_platform.workspace import Session, Target\n"
        f"target = Target(pathlib.Path({str(project)!r}), 'dev', "
        f"'file://{tmp_path / 'state'}')\n"
        "session = Session(target, dict(os.environ))\n"
        "scratch = pathlib.Path(session.env_vars['TMPDIR'])\n"
        "(scratch / 'kubeconfig123').write_text('a copy')\n"
        "print(scratch)\n"
    )
    env = {**os.environ, "PATH": str(cli.parent), "TMPDIR": str(tmp_path / "tmp")}

    done = subprocess.run(
        [sys.executable, "-c", driver], env=env, capture_output=True, text=True, check=False
    )

    assert done.returncode == 0, done.stderr
    scratch = Path(done.stdout.strip())
    assert scratch.parent == tmp_path / "tmp"
    assert scratch.name.startswith("go-platform-")
    assert not scratch.exists()
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize(("state", "exit_code"), [("{}", 1), ("not json", 0)])
def test_a_state_that_cannot_be_read_is_one_error_naming_the_stack(tmp_path, state, exit_code):
    cli = exporting_pulumi(tmp_path / "bin" / "pulumi", state, exit_code)
    session = session_with(tmp_path, cli)

    with pytest.raises(DriverError) as raised:
        session.state(SimpleNamespace(name="dev"))

    assert raised.value.code == ExitCode.FAILED
    assert raised.value.lines[0].startswith("cannot read the state of stack 'dev'")


# --- nothing secret is shown back ----------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "says"),
    [
        ("correct horse battery staple", "--secrets-provider: it is not supported"),
        ("hunter2-passphrase", "--secrets-provider: it is not supported"),
        ("gs://hunter2-bucket", "--secrets-provider: the scheme gs:// is not supported"),
    ],
)
def test_a_rejected_secrets_provider_is_not_shown_back(provider, says):
    with pytest.raises(DriverError) as raised:
        check_secrets_provider(provider)

    assert raised.value.lines[0].startswith(says)
    assert provider not in raised.value.lines[0]
    assert "hunter2" not in raised.value.lines[0]


@pytest.mark.parametrize(
    "url", ["https://ci:hunter2@api.example.com", "file://ci:hunter2@relative/state"]
)
def test_a_rejected_backend_is_shown_without_its_credentials(url):
    with pytest.raises(DriverError) as raised:
        check_backend(url)

    assert "***@" in raised.value.lines[0]
    assert "hunter2" not in raised.value.lines[0]


def test_the_own_packs_config_checker_lists_every_problem(tmp_path):
    config = tmp_path / "policy.json"
    config.write_text('{"image-digest-pined": "mandatory", "pod-run-as-non-root": "loud"}')
    python = Path(sys.executable)

    problems = pack_config_problems(REPO / "policies", python, config)

    assert problems[0].startswith(f"invalid policy config {config} (2 problems)")
    assert any("did you mean 'image-digest-pinned'" in line for line in problems[1:])
    config.write_text('{"image-digest-pinned": "mandatory"}')
    assert pack_config_problems(REPO / "policies", python, config) == []


def test_a_checker_without_a_verdict_is_a_failure_never_a_pass(tmp_path):
    """A checker that crashes (exit 1, a traceback), is missing (an import error) or hangs
    has not found the file sound: a failure, its output unshown (it may quote a value)."""
    config = tmp_path / "policy.json"
    config.write_text("{}")
    pack = tmp_path / "pack"
    (pack / "go_platform_policies").mkdir(parents=True)
    (pack / "go_platform_policies" / "__init__.py").write_text("")
    (pack / "go_platform_policies" / "pack_config.py").write_text(
        "raise TypeError(\"unhashable: 'hunter2'\")\n"
    )

    for where in (pack, tmp_path):  # a checker that crashes; no checker at all
        with pytest.raises(DriverError) as raised:
            pack_config_problems(where, Path(sys.executable), config)

        assert raised.value.code == ExitCode.FAILED
        assert raised.value.lines[0] == (
            f"--policy-pack-config {config}: the policy pack's check of it failed (exit 1) "
            "without a verdict; nothing was run"
        )
        assert "hunter2" not in "\n".join(raised.value.lines)


@pytest.mark.parametrize("name", ["dev", "organization/dev", "organization/p/dev", "a.b"])
def test_a_stack_name_a_file_or_s3_backend_takes(name):
    assert check_stack_name(name, project="p") == name


@pytest.mark.parametrize(
    ("name", "says"),
    [
        (
            "org/p/dev",
            "--name 'org/p/dev': on a file or S3 backend a qualified stack name is "
            "organization/p/<stack>",
        ),
        ("organization/q/dev", "is organization/p/<stack>"),
        ("p/dev", "is organization/p/<stack>"),
        ("../../etc", "--name '../../etc': '.' and '..' are not stack names"),
        ("organization/p/..", "'.' and '..' are not stack names"),
        (".", "'.' and '..' are not stack names"),
        # The form of a stack name, whoever calls (`ephemeral up --base` too).
        ("", "--name '' is not a stack name (letters, digits, '-', '_', '.'; optionally"),
        ("a b", "--name 'a b' is not a stack name"),
        ("dév", "--name 'dév' is not a stack name"),
        ("a" * 300, "is not a stack name"),
        ("organization/p/", "--name 'organization/p/' is not a stack name"),
    ],
)
def test_a_stack_name_the_engine_would_refuse_names_its_flag(name, says):
    with pytest.raises(DriverError) as raised:
        check_stack_name(name, project="p", option="--name")

    assert raised.value.code == ExitCode.USAGE
    assert len(raised.value.lines) == 1
    assert says in raised.value.lines[0]


def test_a_qualified_stack_name_has_the_stack_file_of_its_own_name(tmp_path):
    assert stack_file(tmp_path, "organization/go-platform/local") == tmp_path / "Pulumi.local.yaml"
    assert stack_file(tmp_path, "local") == tmp_path / "Pulumi.local.yaml"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (
            b"name: go-platform\nruntime: [python\n",
            "not valid YAML (line 3: expected ',' or ']', but got '<stream end>')",
        ),
        (b"name: go-platform\nruntime: \xff\n", "is not UTF-8 text (byte 27: invalid start byte)"),
    ],
)
def test_a_pulumi_yaml_that_is_not_yaml_is_one_line_naming_the_file_and_line(
    tmp_path, content, says
):
    path = tmp_path / "Pulumi.yaml"
    path.write_bytes(content)

    with pytest.raises(DriverError) as raised:
        project_name(tmp_path)

    assert raised.value.code == ExitCode.USAGE
    assert raised.value.lines == [f"{path}: {says}"]


def config_reader(error: str | None = None) -> SimpleNamespace:
    """A stack whose `get_all_config` fails with the CLI's `error`, or reads nothing."""

    def get_all_config():
        if error is not None:
            raise CommandError(CommandResult(stdout="", stderr=error, code=255))
        return {}

    return SimpleNamespace(name="organization/p/dev", get_all_config=get_all_config)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "config:\n  p:a: 1\n  p:b: [\n",
            "not valid YAML (line 4: expected the node content, but found '<stream end>')",
        ),
        ("config: 5\n", "`config` must be a mapping of keys to values (got a number)"),
        ("- config\n", "must be a mapping of settings (got a list)"),
        ("config:\n  p:a: caf\xe9\n", "is not UTF-8 text (byte 18: invalid continuation byte)"),
    ],
)
def test_a_stack_file_that_is_no_stack_file_is_one_usage_line(tmp_path, text, says):
    cli = exporting_pulumi(tmp_path / "bin" / "pulumi", "{}")
    session = session_with(tmp_path, cli)
    path = tmp_path / "project" / "Pulumi.dev.yaml"
    path.write_bytes(text.encode("latin-1"))

    with pytest.raises(DriverError) as raised:
        session.stack_config(config_reader())

    assert raised.value.code == ExitCode.USAGE
    assert raised.value.lines == [f"{path}: {says}"]


def test_the_passphrase_is_suspected_only_when_decryption_failed(tmp_path):
    session = session_with(tmp_path, exporting_pulumi(tmp_path / "bin" / "pulumi", "{}"))
    (tmp_path / "project" / "Pulumi.dev.yaml").write_text("config: {}\n")
    assert session.stack_config(config_reader()).values == {}

    with pytest.raises(DriverError) as raised:
        session.stack_config(config_reader("error: some other failure\n"))
    assert raised.value.lines == [
        "cannot read the config of stack 'organization/p/dev'",
        "error: some other failure",
    ]

    with pytest.raises(DriverError) as raised:
        session.stack_config(config_reader("error: incorrect passphrase\n"))
    assert raised.value.lines[0] == (
        "cannot read the config of stack 'organization/p/dev' (is the passphrase or KMS key right?)"
    )


def test_a_declared_stack_whose_file_the_cli_cannot_read_is_not_created(tmp_path):
    cli = exporting_pulumi(tmp_path / "bin" / "pulumi", "{}")
    session = session_with(tmp_path, cli)
    (tmp_path / "project" / "Pulumi.dev.yaml").write_text("config: [\n")

    with pytest.raises(DriverError) as raised:
        session.select_or_create_declared()

    assert raised.value.code == ExitCode.USAGE
    assert "Pulumi.dev.yaml: not valid YAML (line 2" in raised.value.lines[0]
    assert not (tmp_path / "state").exists()
    assert not Path(f"{cli}.log").exists()


@pytest.mark.parametrize("target", ["preview", "up", "stack", "status", "env", "credentials"])
def test_make_refuses_a_stack_the_project_does_not_declare(tmp_path, target):
    done, asked = make_with_cli(tmp_path, target, "STACK=nosuch")

    declared = sorted(path.name.split(".")[1] for path in REPO.glob("Pulumi.*.yaml"))
    assert done.returncode != 0
    assert done.stdout == ""
    assert done.stderr.splitlines()[0] == (
        "error: STACK=nosuch: the project has no Pulumi.nosuch.yaml declaring it; its stacks: "
        + ", ".join(declared)
    )
    assert asked == []
    assert not (REPO / "Pulumi.nosuch.yaml").exists()
    assert not (tmp_path / "backend").exists()


@pytest.mark.parametrize(
    ("target", "code", "says"),
    [
        ("status", 0, "stack dev: not created yet (make up STACK=dev)"),
        ("down", 0, "stack dev: not created; nothing to destroy"),
        ("credentials", 2, "error: stack dev: not created yet, so it has generated none"),
    ],
)
def test_make_on_a_stack_not_created_says_so_without_the_cli(tmp_path, target, code, says):
    # No backend directory yet, as on a fresh clone: the CLI would only say it cannot open it.
    done, asked = make_with_cli(tmp_path, target, "STACK=dev")

    assert done.returncode == code, done.stderr
    assert (done.stdout + done.stderr).splitlines()[0].startswith(says)
    assert asked == []


def test_make_status_shows_the_clis_answer_and_its_errors(tmp_path):
    stacks = tmp_path / "backend" / ".pulumi" / "stacks" / "go-platform"
    stacks.mkdir(parents=True)
    (stacks / "dev.json").write_text("{}")

    done, asked = make_with_cli(tmp_path, "status", "STACK=dev", exit_code=255)

    assert done.returncode != 0
    assert "error: no state" in done.stderr  # not hidden behind "not created yet"
    assert "not created yet" not in done.stdout
    assert asked == ["stack --stack dev"]


def test_make_checks_a_declared_stack_first_and_lets_it_pass():
    done = subprocess.run(
        ["make", "-s", "stack-declared", "STACK=dev"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )

    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    # First of the prerequisites: refused before anything is built or started.
    assert re.search(r"^stack: stack-declared ", (REPO / "Makefile").read_text(), re.M)


def test_make_credentials_of_a_stack_the_cli_cannot_read_is_its_error_alone(tmp_path):
    stacks = tmp_path / "backend" / ".pulumi" / "stacks" / "go-platform"
    stacks.mkdir(parents=True)
    (stacks / "dev.json").write_text("{}")

    done, asked = make_with_cli(tmp_path, "credentials", "STACK=dev", exit_code=255)

    # make's own closing line: `make:`, or `make[1]:` under a make (as `make test` runs it).
    errors = [line for line in done.stderr.splitlines() if not MAKE_LINE.match(line)]
    assert done.returncode != 0
    assert errors == ["error: no state"]
    assert done.stdout == ""
    assert asked == ["stack output --json --show-secrets --stack dev"]


# --- paths and values the system will not read -----------------------------------------

LONG_NAME = "a" * 300
"""A file name longer than any file system takes (ENAMETOOLONG from stat)."""


def test_a_path_the_system_will_not_look_at_is_said_in_words_not_raised(tmp_path, monkeypatch):
    """Python 3.11's `Path.is_dir()` raises ENAMETOOLONG and EACCES: every check of a
    path a person gave goes through `path_kind`, which says them in words."""
    (tmp_path / "file").write_text("")
    (tmp_path / "broken").symlink_to(tmp_path / "nowhere")

    assert path_kind(tmp_path) is PathKind.DIRECTORY
    assert path_kind(tmp_path / "file") is PathKind.FILE
    assert path_kind(tmp_path / "broken") is PathKind.BROKEN_LINK
    assert path_kind(tmp_path / "nowhere") is PathKind.MISSING
    assert path_kind(tmp_path / "file" / "below") is PathKind.MISSING
    with pytest.raises(UnusablePathError, match=r"^file name too long$"):
        path_kind(tmp_path / LONG_NAME)
    with pytest.raises(DriverError) as raised:
        checked_kind(tmp_path / LONG_NAME / "x.json", "--json PATH")
    assert (raised.value.code, raised.value.lines) == (
        ExitCode.USAGE,
        ["--json PATH: file name too long"],
    )

    def denied(path, *args, **kwargs):  # a directory that may not be searched (not root)
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(paths, "os", SimpleNamespace(stat=denied, lstat=denied))
    with pytest.raises(UnusablePathError, match=r"^permission denied$"):
        path_kind(tmp_path / "file")


@pytest.mark.parametrize("where", [f"/tmp/{LONG_NAME}", f"/tmp/{LONG_NAME}/state"])
def test_a_file_backend_with_a_name_too_long_is_a_usage_error(where):
    with pytest.raises(DriverError) as raised:
        resolve_backend(f"file://{where}", {}, PROJECT)

    assert raised.value.code == ExitCode.USAGE
    assert raised.value.lines == [f"--backend file://{where}: file name too long"]


def test_a_project_found_from_a_directory_the_system_will_not_look_at_is_a_usage_error(
    tmp_path,
):
    with pytest.raises(DriverError) as raised:
        find_project_dir(tmp_path / LONG_NAME)

    assert raised.value.code == ExitCode.USAGE
    assert raised.value.lines[0].endswith(": file name too long")


def nested(depth: int, leaf: object) -> object:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,  # past the JSON parser's recursion limit
        "9" * 5_000,  # past Python's integer conversion limit
    ],
)
def test_config_values_python_does_not_read_are_hidden_without_an_error(text):
    config = StackConfig(
        values={"go-platform:token": text, "go-platform:services": text},
        secret_keys=frozenset({"go-platform:token"}),
    )

    assert sensitive_values(config) == {text}


def test_secret_names_are_found_at_any_depth_without_recursion(monkeypatch):
    # Walked with a stack of its own: the value's depth is not the interpreter's.
    monkeypatch.setattr(redact, "_json", lambda text: nested(5_000, {"secretEnv": {"A": text}}))
    config = StackConfig(values={"go-platform:services": "hunter2-name"})

    assert sensitive_values(config) == {"hunter2-name"}
