"""The `go-platform` command line without the engine: arguments, exit codes, human output
and the JSON summary, with the Session (the Automation API workspace) replaced by a fake
whose stacks replay engine events and raise the Automation API's own errors.

Invariants guarded:
- exit codes: 0 ok, 1 failure, 2 drift, 3 mandatory policy violation, 4 preflight
  failure, 5 canary rolled back, 6 stack locked, 7 pending operations left by an
  interrupted update, 64 bad arguments or invalid stack
  config (click's own usage errors too, never its 2);
- bad arguments and invalid stack config fail before any engine operation, with one line
  per problem (the ConfigError's lines with their key paths), never a traceback;
- a policy pack whose PulumiPolicy.yaml names a virtualenv that is missing (or has no
  `bin/python`) is one line naming that path and how to create it (`make policy-venv` for
  the project's own pack, `pulumi install` in any other), before any engine run, stack
  creation or config write; a PulumiPolicy.yaml that is not YAML is one line too;
- a mandatory violation is listed with policy, resource and message; advisory ones do not
  fail; a lock conflict says the stack is locked and that nothing changed;
- pending operations in the state stop `up`, `destroy` and the commands built on them with
  exit 7 before the engine runs, naming each resource and the ways to clear them;
  `refresh --clear-pending-creates` passes the flag to the engine;
- a preflight failure deploys nothing; `--skip-preflight` skips it;
- drift exits 2 and names each drifted resource;
- every command's `--json` summary satisfies the published schema, also on failure, and
  holds only masked outputs; `--json -` writes it to stdout and the human output to stderr;
- the canary commands write the weight, image and state keys through the config and
  deploy with the policy pack; a canary failing its checks exits 5;
- `canary promote` checks all its arguments (the Prometheus URL's shape, the policy pack,
  the service and its canary config) before it changes anything; a promotion that stops
  half-way (an `up` that fails, a lock, an error in the analysis) leaves its state
  recorded, the summary with that state, and the failure's exit code, never a traceback;
- `--json PATH` is checked before anything runs (a file where a directory belongs is
  named as such), and a summary that still cannot be written makes a success exit 1;
- an exception nobody expected is one line, exit 1, and the summary;
- no message and no summary shows a secret: a secret pasted where a key's name belongs,
  a secret config value, a `--config` pair, a rejected secrets provider;
- the console script and `python -m go_platform` run;
- a path with a name too long for the file system (`--json`, `--project-dir`, `--backend`,
  `--policy-pack`, `--policy-pack-config`) is a usage error naming its flag, also beside
  click's own usage errors, and a KUBECONFIG entry of that kind a failed preflight check;
- a config value nested too deeply to parse is a usage error naming its key, not a crash;
- a policy config checker that crashes fails the command (exit 1), never passes it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import pytest
from pulumi.automation import CommandResult, ConcurrentUpdateError, ConfigValue, EngineEvent
from pulumi.automation.errors import CommandError
from rich.console import Console

from go_platform import canary as canary_machine
from go_platform import driver as driver_module
from go_platform import interrupt
from go_platform.canary import Measurement, state_key
from go_platform.cli import main
from go_platform.driver import canary as canary_commands
from go_platform.driver import core as driver_core
from go_platform.exit_codes import ExitCode
from go_platform.summary import schema
from go_platform.workspace import SKIP_CHECKPOINTS_ENV, PendingOperation, StackState
from tests.conftest import REPO, service_config, stack_config

URN = "urn:pulumi:dev::go-platform::kubernetes:apps/v1:Deployment::greeter"
PET = "urn:pulumi:dev::go-platform::random:index/randomPet:RandomPet::pet"
STACK_URN = "urn:pulumi:dev::go-platform::pulumi:pulumi:Stack::go-platform-dev"


def engine_event(kind: str, body: dict) -> EngineEvent:
    return EngineEvent.from_json({"sequence": 0, "timestamp": 0, kind: body})


def step(urn: str, op: str, **extra: Any) -> list[EngineEvent]:
    meta = {"op": op, "urn": urn, "type": urn.split("::")[2], "provider": "", **extra}
    return [
        engine_event("resourcePreEvent", {"metadata": meta}),
        engine_event("resOutputsEvent", {"metadata": meta}),
    ]


def summary_event(**changes: int) -> EngineEvent:
    return engine_event(
        "summaryEvent", {"maybeCorrupt": False, "durationSeconds": 1, "resourceChanges": changes}
    )


def mandatory(message: str = "container `app` runs privileged") -> EngineEvent:
    return engine_event(
        "policyEvent",
        {
            "message": message,
            "color": "never",
            "policyName": "container-privileged-disallowed",
            "policyPackName": "go-platform",
            "policyPackVersion": "0.1.0",
            "policyPackVersionTag": "0.1.0",
            "enforcementLevel": "mandatory",
            "resourceUrn": URN,
        },
    )


def command_error(stderr: str, kind: type[CommandError] = CommandError) -> CommandError:
    return kind(CommandResult(stdout="", stderr=stderr, code=255))


@dataclass
class Script:
    """What a fake engine operation does: emit events, then maybe raise."""

    events: list[EngineEvent] = field(default_factory=list)
    error: Exception | None = None


@dataclass
class FakeStack:
    name: str
    config: dict[str, ConfigValue]
    scripts: dict[str, Script] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    config_writes: list[dict[str, str]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    pending: list[PendingOperation] = field(default_factory=list)
    resources: int = 1
    """Resources its state holds (`Session.state`)."""
    envs: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    """Each operation, with what `Session.running_with` added to the CLI's environment."""
    kubeconfigs: list[tuple[str, str | None]] = field(default_factory=list)
    """Each operation, with the KUBECONFIG `Session.set_env` gave the CLI (None: none)."""

    def _operate(self, operation: str, on_event, **kwargs: Any) -> None:
        self.calls.append((operation, kwargs))
        self.envs.append((operation, dict(FakeSession.extra_env)))
        self.kubeconfigs.append((operation, FakeSession.session_env.get("KUBECONFIG")))
        script = self.scripts.get(operation, Script([summary_event(same=1)]))
        for item in script.events:
            on_event(item)
        if script.error is not None:
            raise script.error

    def preview(self, on_event, **kwargs):
        self._operate("preview", on_event, **kwargs)

    def up(self, on_event, **kwargs):
        self._operate("up", on_event, **kwargs)

    def destroy(self, on_event, **kwargs):
        self._operate("destroy", on_event, **kwargs)

    def refresh(self, on_event, **kwargs):
        self._operate("refresh", on_event, **kwargs)

    def preview_refresh(self, on_event, **kwargs):
        self._operate("drift", on_event, **kwargs)

    def info(self, show_secrets=True):
        return None

    def outputs(self):
        return {}

    def set_all_config(self, values, path=False):
        self.config_writes.append({k: v.value for k, v in values.items()})
        for key, value in values.items():
            if not path or "[" not in key:
                self.config[key] = value

    def remove_config(self, key, path=False):
        self.removed.append(key)

    def remove_all_config(self, keys, path=False):
        self.removed += keys

    def set_tag(self, key, value):
        self.tags[key] = value

    def list_tags(self):
        return dict(self.tags)

    @property
    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]


class FakeSession:
    """Stands in for workspace.Session; the test sets `stacks` before running a command."""

    stacks: ClassVar[dict[str, FakeStack]] = {}
    outputs: ClassVar[dict[str, Any]] = {}
    extra_env: ClassVar[dict[str, str]] = {}
    session_env: ClassVar[dict[str, str]] = {}

    def __init__(self, target, env) -> None:
        self.target = target

    def set_env(self, name, value):
        FakeSession.session_env[name] = value

    @contextlib.contextmanager
    def running_with(self, env):
        before = FakeSession.extra_env
        FakeSession.extra_env = {**before, **env}
        try:
            yield
        finally:
            FakeSession.extra_env = before

    def dry_run(self):
        return self.running_with(SKIP_CHECKPOINTS_ENV)

    def stack_exists(self, name):
        return name in self.stacks

    def select(self, name=None):
        from go_platform.exit_codes import usage_error

        name = name or self.target.stack
        if name not in self.stacks:
            raise usage_error(f"no stack named {name!r} in backend {self.target.backend}")
        return self.stacks[name]

    def select_or_create_declared(self):
        return self.select()

    def create(self, name):
        self.stacks[name] = FakeStack(name, {})
        return self.stacks[name]

    def stack_config(self, stack):
        from go_platform_core.config import StackConfig

        return StackConfig(
            values={k: v.value for k, v in stack.config.items()},
            secret_keys=frozenset(k for k, v in stack.config.items() if v.secret),
            project_dir=self.target.project_dir,
        )

    def masked_outputs(self, stack):
        return dict(self.outputs)

    def state(self, stack):
        return StackState(resources=stack.resources, pending=list(stack.pending))

    def run_cli(self, *args):
        if args[:2] == ("config", "cp"):
            source = self.stacks[args[args.index("--stack") + 1]]
            self.stacks[args[args.index("--dest") + 1]].config.update(source.config)
        return CommandResult("", "", 0)

    def remove_stack(self, name):
        del self.stacks[name]


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A go-platform project directory with a policy pack, and the fake Session."""
    (tmp_path / "Pulumi.yaml").write_text("name: go-platform\nruntime: python\n")
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "PulumiPolicy.yaml").write_text("runtime: python\n")
    monkeypatch.setattr(driver_core, "Session", FakeSession)
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    FakeSession.stacks = {}
    FakeSession.outputs = {}
    FakeSession.session_env = {}
    return tmp_path


def valid_config(environment: str = "dev", **settings: Any) -> dict[str, ConfigValue]:
    """Stack config of a valid stack (dev unless told) whose cluster brings its own add-ons."""
    config = stack_config(environment=environment, domain="example.com", **settings)
    return {k: ConfigValue(v, secret=k in config.secret_keys) for k, v in config.values.items()}


def a_stack(name: str = "dev", **scripts: Script) -> FakeStack:
    stack = FakeStack(name, valid_config(), scripts=dict(scripts))
    FakeSession.stacks[name] = stack
    return stack


def run_cli(*argv: str, json_path: Path | None = None) -> tuple[int, dict[str, Any] | None]:
    args = list(argv) + (["--json", str(json_path)] if json_path else [])
    code = main(args)
    summary = json.loads(json_path.read_text()) if json_path and json_path.exists() else None
    if summary is not None:
        jsonschema.validate(summary, schema())
    return code, summary


# --- arguments -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["up"], "Missing option '--stack'"),
        (["up", "--stack", "dev", "--bogus"], "No such option"),
        (["frobnicate"], "No such command"),
        (["up", "--stack", "dev!"], "is not a stack name"),
        (["up", "--stack", "dev", "--backend", "gs://x"], "is not supported"),
        (["up", "--stack", "dev", "--secrets-provider", "rot13"], "is not supported"),
        (["destroy", "--stack", "dev"], "pass --yes"),
        (["ephemeral", "up", "--name", "PR_123"], "ephemeral stack name 'PR_123' is invalid"),
        (["ephemeral", "up", "--name", "prod"], "is an environment's stack"),
        (["ephemeral", "up", "--name", "pr-1", "--config", "novalue"], "write KEY=VALUE"),
        (["ephemeral", "down", "--name", "-x"], "is invalid"),
        (["ephemeral", "up", "--name", "PR 1"], "--name 'PR 1' is not a stack name"),
        (["ephemeral", "down", "--name", "PR 1"], "--name 'PR 1' is not a stack name"),
        (["ephemeral", "up", "--name", "pr-1", "--policy-pack", "nope"], "no policy pack"),
        (["up", "--stack", "dev", "--json", ""], "--json: give a file path"),
        (
            ["preview", "--stack", "org/go-platform/dev"],
            "--stack 'org/go-platform/dev': on a file or S3 backend a qualified stack name "
            "is organization/go-platform/<stack>",
        ),
        (["preview", "--stack", "organization/other/dev"], "is organization/go-platform/<stack>"),
        (["preview", "--stack", "go-platform/dev"], "is organization/go-platform/<stack>"),
        (["preview", "--stack", "../../etc"], "--stack '../../etc': '.' and '..' are not"),
        (["preview", "--stack", "organization/go-platform/.."], "'.' and '..' are not"),
        (["ephemeral", "up", "--name", "pr-1", "--base", "../dev"], "--base '../dev': '.'"),
        (["ephemeral", "up", "--name", "pr-1", "--base", ""], "--base '' is not a stack name"),
        (["ephemeral", "up", "--name", "pr-1", "--base", "a b"], "--base 'a b' is not a stack"),
        (["ephemeral", "up", "--name", "pr-1", "--base", "dév"], "--base 'dév' is not a stack"),
        (["ephemeral", "up", "--name", "pr-1", "--base", "d" * 300], "is not a stack name"),
        (
            ["ephemeral", "up", "--name", "pr-1", "--base", "organization/go-platform/"],
            "--base 'organization/go-platform/' is not a stack name",
        ),
        (["up", "--stack", "dev", "--backend", ""], "--backend: empty; give file://"),
        (["up", "--stack", "dev", "--secrets-provider", ""], "--secrets-provider: empty"),
    ],
)
def test_bad_arguments_exit_64_with_one_clear_line(project, capsys, argv, says):
    a_stack()

    code = main(argv)

    captured = capsys.readouterr()
    assert code == ExitCode.USAGE == 64
    assert says in captured.out + captured.err
    assert "Traceback" not in captured.out + captured.err
    assert list(FakeSession.stacks) == ["dev"]
    assert all(stack.calls == [] for stack in FakeSession.stacks.values())
    assert all(stack.config_writes == [] for stack in FakeSession.stacks.values())


LONG_NAME = "a" * 300
"""A file name longer than any file system takes: Python 3.11's `Path.is_dir()` raises."""


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--json", "{tmp}/{long}.json"),
        ("--json", "{tmp}/{long}/s.json"),
        ("--project-dir", "{tmp}/{long}"),
        ("--backend", "file://{tmp}/{long}"),
        ("--policy-pack", "{tmp}/{long}"),
        ("--policy-pack-config", "{tmp}/{long}.json"),
    ],
)
def test_a_path_with_a_name_too_long_is_a_usage_error_naming_its_flag(
    project, tmp_path, capsys, flag, value
):
    stack = a_stack()
    value = value.format(tmp=tmp_path, long=LONG_NAME)

    code = main(["up", "--stack", "dev", "--skip-preflight", flag, value])

    out = capsys.readouterr().out
    assert code == ExitCode.USAGE
    assert out.splitlines()[0] == f"error: {flag} {value}: file name too long"
    assert "Traceback" not in out
    assert "unexpected" not in out
    assert stack.calls == []


def test_a_usage_error_with_a_summary_path_too_long_is_one_line(project, tmp_path, capsys):
    """Click's usage errors check `--json PATH` too, outside any command."""
    code = main(["up", "--bogus", "--json", f"{tmp_path}/{LONG_NAME}.json"])

    captured = capsys.readouterr()
    assert code == ExitCode.USAGE
    assert captured.out.splitlines() == [
        "error: No such option: --bogus",
        "  see: go-platform up --help",
    ]
    assert "Traceback" not in captured.out + captured.err


def test_a_kubeconfig_path_too_long_is_a_failed_preflight_check(project, monkeypatch, capsys):
    a_stack()
    monkeypatch.setenv("KUBECONFIG", f"/tmp/{LONG_NAME}")

    code = main(["preflight", "--stack", "dev"])

    out = capsys.readouterr().out
    assert code == ExitCode.PREFLIGHT
    assert f"KUBECONFIG /tmp/{LONG_NAME}: file name too long" in out
    assert "unexpected" not in out


def test_a_file_backend_that_is_a_file_is_refused_up_front(project, tmp_path, capsys, monkeypatch):
    a_file = tmp_path / "state"
    a_file.write_text("")
    stack = a_stack()

    assert main(["preview", "--stack", "dev", "--backend", f"file://{a_file}"]) == 64
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{a_file}/below")
    assert main(["preview", "--stack", "dev"]) == 64

    assert capsys.readouterr().out.splitlines() == [
        f"error: --backend file://{a_file}: {a_file} is a file, not a directory",
        f"error: PULUMI_BACKEND_URL file://{a_file}/below: {a_file} is a file, not a directory",
    ]
    assert stack.calls == []


@pytest.mark.parametrize(
    ("argv", "command", "says"),
    [
        (["up", "--bogus"], "up", "No such option: --bogus"),
        (["canary", "plan", "--stack", "dev"], "canary plan", "Missing option '--service'"),
        (["frobnicate"], "", "No such command 'frobnicate'"),
    ],
)
def test_clicks_usage_errors_are_one_line_and_a_summary(
    project, capsys, tmp_path, argv, command, says
):
    code, summary = run_cli(*argv, json_path=tmp_path / "s.json")

    out = capsys.readouterr().out
    program = " ".join(["go-platform", command]).strip()
    assert code == ExitCode.USAGE
    assert out.splitlines() == [f"error: {says}", f"  see: {program} --help"]
    assert summary is not None
    assert (summary["command"], summary["result"]) == (command, "usage-error")
    assert summary["errors"] == [says]


def test_an_option_without_its_value_points_at_its_commands_help(project, capsys):
    assert main(["canary", "plan", "--stack"]) == ExitCode.USAGE

    assert capsys.readouterr().out.splitlines() == [
        "error: Option '--stack' requires an argument",
        "  see: go-platform canary plan --help",
    ]


def test_a_usage_errors_summary_names_the_stack_given(project, tmp_path):
    _, summary = run_cli("preview", "--stack", "dev", "--bogus", json_path=tmp_path / "s.json")

    assert summary is not None
    assert (summary["command"], summary["stack"]) == ("preview", "dev")


@pytest.mark.parametrize("group", [[], ["canary"], ["ephemeral"]])
def test_a_group_without_its_command_prints_its_help(project, capsys, group):
    assert main(group) == ExitCode.USAGE

    out = capsys.readouterr().out
    assert out.startswith(f"Usage: {' '.join(['go-platform', *group])} [OPTIONS] COMMAND")
    assert "error:" not in out


def test_a_usage_error_with_the_summary_on_stdout_keeps_stdout_for_it(project, capsys):
    assert main(["up", "--bogus", "--json", "-"]) == ExitCode.USAGE

    captured = capsys.readouterr()
    assert json.loads(captured.out)["result"] == "usage-error"
    assert "error: No such option: --bogus" in captured.err


def test_arguments_click_cannot_place_are_not_shown(project, capsys, tmp_path):
    # `--config TOKEN s3cret` (a space for the `=`) leaves the secret on its own.
    code, summary = run_cli(
        "ephemeral",
        "up",
        "--name",
        "pr-1",
        "--config",
        "TOKEN",
        "s3cret",
        json_path=tmp_path / "s.json",
    )

    out = capsys.readouterr().out
    assert code == ExitCode.USAGE
    assert "unexpected arguments that belong to no option" in out
    assert "s3cret" not in out
    assert summary is not None
    assert "s3cret" not in json.dumps(summary)


def test_the_help_shows_flags_without_a_value():
    result = subprocess.run(
        [sys.executable, "-m", "go_platform", "up", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        env={**os.environ, "COLUMNS": "100"},
    )

    assert result.returncode == 0, result.stderr
    flags = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert {"--refresh", "--skip-preflight", "--help"} <= set(flags)
    refresh = next(line for line in result.stdout.splitlines() if "--refresh" in line)
    assert refresh.split()[1] == "Read"  # its help, not a value's placeholder
    assert "<bool>" not in result.stdout


@pytest.mark.parametrize(
    ("endpoint", "shown"),
    [
        ("http://u:secretpw@127.0.0.1:1", "endpoint=http://***@127.0.0.1:1"),
        # Percent-encoded, as a query parameter's value should be written.
        ("http%3A%2F%2Fu%3Asecretpw%40127.0.0.1%3A1", "endpoint=http%3A%2F%2F***%40127.0.0.1"),
    ],
    ids=["plain", "percent-encoded"],
)
def test_a_url_password_the_cli_quotes_is_never_shown(
    project, capsys, tmp_path, monkeypatch, endpoint, shown
):
    # The CLI quotes a backend URL it cannot open in full, an S3 endpoint's credentials too;
    # the summary's own `backend` names it without them.
    url = f"s3://bucket?region=eu-west-1&endpoint={endpoint}&bogus=1"
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "x")
    a_stack(
        preview=Script(
            [
                engine_event(
                    "diagnosticEvent",
                    {
                        "message": f'unable to open bucket "{url}"\n',
                        "color": "never",
                        "severity": "error",
                    },
                )
            ],
            command_error(f'error: unable to open bucket "{url}": unknown parameter\n'),
        )
    )

    code, summary = run_cli(
        "preview", "--stack", "dev", "--backend", url, json_path=tmp_path / "s.json"
    )

    out = capsys.readouterr().out
    assert code == ExitCode.FAILED
    assert shown in out
    assert "secretpw" not in out
    assert summary is not None
    assert shown in summary["backend"]
    assert "secretpw" not in json.dumps(summary)


def test_a_closed_output_pipe_does_not_stop_the_command(project, tmp_path, monkeypatch):
    # `go-platform preview ... | head`: the reader goes away. Rich would exit from inside
    # the engine's event callback, leaving the CLI blocked and the stack locked.
    read, write = os.pipe()
    os.close(read)
    broken = os.fdopen(write, "w")
    monkeypatch.setattr(sys, "stdout", broken)
    stack = a_stack()

    code, summary = run_cli("preview", "--stack", "dev", json_path=tmp_path / "s.json")

    assert code == ExitCode.OK
    assert summary is not None
    assert summary["result"] == "succeeded"
    assert [call[0] for call in stack.calls] == ["preview"]


def test_an_invalid_stack_config_lists_its_problems_and_runs_nothing(project, capsys, tmp_path):
    stack = a_stack()
    stack.config["go-platform:services"] = ConfigValue(
        json.dumps([service_config(replicsa=2), service_config(name="Bad_Name")])
    )

    code, summary = run_cli("up", "--stack", "dev", json_path=tmp_path / "s.json")

    out = capsys.readouterr().out
    assert code == 64
    assert "invalid stack configuration (2 problems):" in out
    assert "go-platform:services[0].replicsa: unknown key (did you mean 'replicas'?)" in out
    assert "go-platform:services[1].name" in out
    assert stack.calls == []
    assert summary["result"] == "usage-error"
    assert any("replicsa" in line for line in summary["errors"])


DEEP_JSON = "[" * 100_000 + "]" * 100_000
"""JSON nested past the parser's recursion limit."""


@pytest.mark.parametrize("where", ["stack", "--config"])
def test_a_config_value_nested_too_deeply_is_a_usage_error_not_a_crash(
    project, capsys, tmp_path, where
):
    base = a_stack()
    if where == "stack":
        base.config["go-platform:services"] = ConfigValue(DEEP_JSON)
        argv = ["up", "--stack", "dev", "--skip-preflight"]
    else:
        argv = ["ephemeral", "up", "--name", "pr-1", "--config", f"services={DEEP_JSON}"]

    code, summary = run_cli(*argv, json_path=tmp_path / "s.json")

    out = capsys.readouterr().out
    assert code == ExitCode.USAGE
    assert "go-platform:services" in out
    assert "unexpected" not in out
    assert all(stack.calls == [] for stack in FakeSession.stacks.values())
    assert list(FakeSession.stacks) == ["dev"]
    assert summary["result"] == "usage-error"


def test_no_policy_pack_is_a_usage_error(project, capsys):
    shutil.rmtree(project / "policies")
    a_stack()

    assert main(["preview", "--stack", "dev"]) == 64
    assert "no policy pack" in capsys.readouterr().out


def pack_in_virtualenv(pack: Path, virtualenv: str) -> None:
    """Give `pack` a PulumiPolicy.yaml naming `virtualenv` (relative to the pack)."""
    pack.mkdir(exist_ok=True)
    (pack / "PulumiPolicy.yaml").write_text(
        f"runtime:\n  name: python\n  options:\n    virtualenv: {virtualenv}\n"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["preview", "--stack", "dev"],
        ["up", "--stack", "dev", "--skip-preflight"],
        ["ephemeral", "up", "--name", "pr-1"],
        ["canary", "rollback", "--stack", "dev", "--service", "greeter"],
    ],
    ids=" ".join,
)
@pytest.mark.parametrize(
    ("make", "found"), [(False, "does not exist"), (True, "has no bin/python")], ids=str
)
def test_a_pack_without_its_virtualenv_is_one_line_before_any_engine_run(
    project, capsys, argv, make, found
):
    pack_in_virtualenv(project / "policies", "venv")
    if make:
        (project / "policies" / "venv").mkdir()
    stack = canary_stack()

    code = main(argv)

    out = capsys.readouterr().out
    assert code == ExitCode.USAGE
    pack = project / "policies"
    assert (
        f"policy pack {pack}: its virtualenv {pack / 'venv'} {found}; create it with "
        "`make policy-venv`\n"
    ) in out
    assert "Traceback" not in out
    assert list(FakeSession.stacks) == ["dev"]
    assert stack.calls == []
    assert stack.config_writes == []


def test_another_pack_without_its_virtualenv_is_told_to_run_pulumi_install(project, capsys):
    bundle = project / "bundle"
    pack_in_virtualenv(bundle, "venv")
    a_stack()

    assert main(["preview", "--stack", "dev", "--policy-pack", str(bundle)]) == ExitCode.USAGE
    assert (
        f"policy pack {bundle}: its virtualenv {bundle / 'venv'} does not exist; create it with "
        f"`pulumi install` in {bundle}\n"
    ) in capsys.readouterr().out


def test_a_pack_with_its_virtualenv_runs_and_one_outside_is_named_as_it_resolves(project, capsys):
    shared = project / "venv"
    (shared / "bin").mkdir(parents=True)
    (shared / "bin" / "python").touch()
    pack_in_virtualenv(project / "policies", "../venv")
    stack = a_stack()

    assert main(["preview", "--stack", "dev"]) == 0
    assert stack.operations == ["preview"]

    shutil.rmtree(shared)
    assert main(["preview", "--stack", "dev"]) == ExitCode.USAGE
    assert f"its virtualenv {shared} does not exist" in capsys.readouterr().out


def test_a_pulumipolicy_yaml_that_is_not_yaml_is_one_line(project, capsys):
    (project / "policies" / "PulumiPolicy.yaml").write_text("runtime: [python\n")
    a_stack()

    assert main(["preview", "--stack", "dev"]) == ExitCode.USAGE
    assert (
        f"{project / 'policies' / 'PulumiPolicy.yaml'}: not valid YAML (line 2: expected ',' "
        "or ']', but got '<stream end>')\n"
    ) in capsys.readouterr().out


# --- engine outcomes -----------------------------------------------------------------


@pytest.mark.parametrize(("argv", "refresh"), [([], False), (["--refresh"], True)])
def test_up_refreshes_first_only_when_asked(project, argv, refresh):
    """`up --refresh` reads the resources first (drift planned back), as `make up` does;
    plain `up`, the no-op CI path, does not pay for the read."""
    stack = a_stack()

    assert main(["up", "--stack", "dev", "--skip-preflight", *argv]) == 0

    assert stack.calls[0][1]["refresh"] is refresh


def test_up_succeeds_with_the_pack_attached_and_a_valid_summary(project, tmp_path, capsys):
    stack = a_stack(
        up=Script([*step(PET, "create"), *step(URN, "create"), summary_event(create=2)])
    )
    FakeSession.outputs = {"environment": "dev", "gateway": {"dashboardPassword": "[secret]"}}

    code, summary = run_cli(
        "up", "--stack", "dev", "--skip-preflight", json_path=tmp_path / "s.json"
    )

    assert code == 0
    assert stack.operations == ["up"]
    assert stack.calls[0][1]["policy_packs"] == [str(project / "policies")]
    assert summary["result"] == "succeeded"
    assert summary["operations"] == {"create": 2}
    assert summary["resources"] == {"done": 2, "total": 2, "failed": []}
    assert summary["outputs"]["gateway"]["dashboardPassword"] == "[secret]"
    assert "[2/2] created" in capsys.readouterr().out


def test_the_progress_total_is_what_the_state_holds_before_the_operation(project, tmp_path):
    stack = a_stack(up=Script([*step(PET, "update"), summary_event(update=1, same=2)]))
    stack.resources = 3

    code, summary = run_cli(
        "up", "--stack", "dev", "--skip-preflight", json_path=tmp_path / "s.json"
    )

    assert code == 0
    assert summary["resources"] == {"done": 1, "total": 3, "failed": []}


def own_pack_with_its_checker(project: Path) -> None:
    """The project's pack as go-platform's own: a virtualenv whose Python is this one, and
    the pack's package beside it, so the driver can run the pack's config checker."""
    pack = project / "policies"
    pack_in_virtualenv(pack, "venv")
    (pack / "venv" / "bin").mkdir(parents=True)
    python = pack / "venv" / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')  # this virtualenv's
    python.chmod(0o755)
    (pack / "go_platform_policies").symlink_to(REPO / "policies" / "go_platform_policies")


def test_a_policy_config_our_pack_would_refuse_is_a_usage_error(project, tmp_path, capsys):
    """Checked by the pack's own checker before any engine run: one usage error naming each
    problem, instead of an 'invalid policy config' violation on every resource."""
    own_pack_with_its_checker(project)
    stack = a_stack()
    config = tmp_path / "policy.json"
    config.write_text('{"image-digest-pined": "mandatory"}')

    assert main(["preview", "--stack", "dev", "--policy-pack-config", str(config)]) == 64

    out = capsys.readouterr().out
    assert "--policy-pack-config: invalid policy config" in out
    assert (
        "image-digest-pined: no such policy in the pack (did you mean 'image-digest-pinned'?)"
        in out
    )
    assert stack.operations == []
    config.write_text('{"image-digest-pinned": "mandatory"}')
    assert main(["preview", "--stack", "dev", "--policy-pack-config", str(config)]) == 0
    assert stack.calls[0][1]["policy_pack_configs"] == [str(config)]


def test_a_given_policy_config_is_passed_and_a_missing_one_refused(project, tmp_path):
    stack = a_stack()
    config = tmp_path / "policy.json"
    config.write_text("{}")

    assert main(["preview", "--stack", "dev", "--policy-pack-config", str(config)]) == 0
    assert stack.calls[0][1]["policy_pack_configs"] == [str(config)]
    assert main(["preview", "--stack", "dev", "--policy-pack-config", "nope.json"]) == 64


def test_a_policy_config_that_is_a_directory_is_named_so(project, tmp_path, capsys):
    stack = a_stack()

    assert main(["preview", "--stack", "dev", "--policy-pack-config", str(tmp_path)]) == 64

    out = capsys.readouterr().out
    assert out == f"error: --policy-pack-config {tmp_path}: is a directory, not a file\n"
    assert stack.calls == []


def test_a_policy_config_the_checker_once_crashed_on_is_a_usage_error(project, tmp_path, capsys):
    own_pack_with_its_checker(project)
    stack = a_stack()
    config = tmp_path / "policy.json"
    config.write_text('{"image-registry-allowed": {"enforcementLevel": ["mandatory"]}}')

    assert main(["preview", "--stack", "dev", "--policy-pack-config", str(config)]) == 64

    out = capsys.readouterr().out
    assert (
        "image-registry-allowed.enforcementLevel: must be one of advisory, mandatory, "
        "remediate, disabled (got ['mandatory'])" in out
    )
    assert stack.operations == []


def test_a_policy_config_checker_that_crashes_fails_the_command(project, tmp_path, capsys):
    """No verdict is no pass: the engine would otherwise run with a file never checked."""
    own_pack_with_its_checker(project)
    package = project / "policies" / "go_platform_policies"
    package.unlink()
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "pack_config.py").write_text("raise TypeError(\"unhashable: 'hunter2'\")\n")
    stack = a_stack()
    config = tmp_path / "policy.json"
    config.write_text("{}")

    code, summary = run_cli(
        "preview", "--stack", "dev", "--policy-pack-config", str(config),
        json_path=tmp_path / "s.json",
    )  # fmt: skip

    out = capsys.readouterr().out
    assert code == ExitCode.FAILED
    assert f"--policy-pack-config {config}: the policy pack's check of it failed (exit 1)" in out
    assert "hunter2" not in out + json.dumps(summary)
    assert stack.operations == []


@pytest.mark.parametrize("command", ["preview", "up"])
def test_a_bad_policy_config_is_refused_before_the_stack_is_selected_or_made(
    project, tmp_path, capsys, command
):
    # No stack yet: a real session would create the declared one before reading the config.
    assert main([command, "--stack", "dev", "--policy-pack-config", str(tmp_path)]) == 64

    out = capsys.readouterr().out
    assert out == f"error: --policy-pack-config {tmp_path}: is a directory, not a file\n"
    assert "dev" not in FakeSession.stacks


def test_a_mandatory_violation_exits_3_and_lists_policy_resource_and_message(
    project, tmp_path, capsys
):
    a_stack(
        preview=Script([mandatory(), summary_event()], command_error("error: preview failed\n"))
    )

    code, summary = run_cli("preview", "--stack", "dev", json_path=tmp_path / "s.json")

    out = capsys.readouterr().out
    assert code == ExitCode.POLICY == 3
    assert (
        "mandatory: container-privileged-disallowed on Deployment greeter: container `app` "
        "runs privileged" in out
    )
    assert summary["result"] == "policy-violation"
    assert summary["policyViolations"] == [
        {
            "policy": "container-privileged-disallowed",
            "pack": "go-platform",
            "enforcementLevel": "mandatory",
            "resource": URN,
            "message": "container `app` runs privileged",
        }
    ]


def test_advisory_violations_are_shown_but_do_not_fail(project, capsys):
    advisory = mandatory("no readiness probe")
    advisory.policy_event.enforcement_level = "advisory"
    a_stack(preview=Script([advisory, summary_event(same=3)]))

    assert main(["preview", "--stack", "dev"]) == 0
    assert "advisory: container-privileged-disallowed" in capsys.readouterr().out


def test_a_locked_stack_exits_6_saying_nothing_changed(project, tmp_path, capsys):
    locked = command_error(
        "error: the stack is currently locked by 1 lock(s). Either wait for the other "
        "process(es) to end or delete the lock file with `pulumi cancel`.\n",
        ConcurrentUpdateError,
    )
    a_stack(up=Script([], locked))

    code, summary = run_cli(
        "up", "--stack", "dev", "--skip-preflight", json_path=tmp_path / "s.json"
    )

    out = capsys.readouterr().out
    assert code == ExitCode.LOCKED == 6
    assert "stack 'dev' is locked by another update; no resource was changed" in out
    assert summary["result"] == "locked"


PENDING_CREATE = PendingOperation(
    kind="creating",
    urn="urn:pulumi:dev::go-platform::go-platform:index:Service$kubernetes:apps/v1:Deployment::greeter",
)


@pytest.mark.parametrize(
    "argv",
    [
        ["up", "--stack", "dev", "--skip-preflight"],
        ["destroy", "--stack", "dev", "--yes"],
        ["ephemeral", "down", "--name", "pr-7", "--force"],
    ],
)
def test_pending_operations_exit_7_naming_them_and_change_nothing(project, tmp_path, capsys, argv):
    stack = a_stack(argv[argv.index("--name") + 1] if "--name" in argv else "dev")
    stack.pending = [PENDING_CREATE]

    code, summary = run_cli(*argv, json_path=tmp_path / "s.json")

    out = " ".join(capsys.readouterr().out.split())
    assert code == ExitCode.PENDING == 7
    assert summary["result"] == "pending-operations"
    assert "1 pending operation(s) left by an update that was interrupted" in out
    assert f"creating kubernetes:apps/v1:Deployment greeter ({PENDING_CREATE.urn})" in out
    assert "--clear-pending-creates" in out
    assert "pulumi stack import" in out
    assert "pulumi cancel" in out
    assert "An update of this stack that is running now" in out  # not always a dead one
    assert stack.operations == []


def test_refresh_clear_pending_creates_passes_the_flag_to_the_engine(project):
    stack = a_stack()
    stack.pending = [PENDING_CREATE]

    assert main(["refresh", "--stack", "dev", "--clear-pending-creates"]) == 0
    assert main(["refresh", "--stack", "dev"]) == 0

    assert [kwargs["clear_pending_creates"] for _, kwargs in stack.calls] == [True, False]


def test_an_engine_failure_exits_1_with_the_engines_errors(project, tmp_path, capsys):
    diagnostic = engine_event(
        "diagnosticEvent",
        {"message": "error: quota exceeded\n", "color": "never", "severity": "error", "urn": URN},
    )
    a_stack(up=Script([diagnostic, summary_event()], command_error("error: update failed\n")))

    code, summary = run_cli(
        "up", "--stack", "dev", "--skip-preflight", json_path=tmp_path / "s.json"
    )

    assert code == 1
    assert "Deployment greeter: error: quota exceeded" in capsys.readouterr().out
    assert "Deployment greeter: error: quota exceeded" in summary["errors"]


def test_a_pack_that_cannot_start_is_failed_with_what_it_wrote(project, tmp_path, capsys):
    """The engine's own error says only that the pack did not start; the pack's line on its
    standard error (relayed as `info#err`) says why, and comes first."""
    said = (
        "go-platform policy pack: invalid policy config policies/config/dev.json: "
        "image-digest-pined: no such policy in the pack (did you mean 'image-digest-pinned'?)"
    )
    stderr = engine_event(
        "diagnosticEvent",
        {"message": f"{said}\n", "color": "never", "severity": "info#err", "urn": STACK_URN},
    )
    not_started = engine_event(
        "diagnosticEvent",
        {
            "message": "error: policy pack not started: could not read policy pack port\n",
            "color": "never",
            "severity": "error",
        },
    )
    a_stack(
        preview=Script([stderr, not_started, summary_event()], command_error("error: failed\n"))
    )

    code, summary = run_cli("preview", "--stack", "dev", json_path=tmp_path / "s.json")

    assert code == 1
    assert said in summary["errors"]
    out = capsys.readouterr().out
    lines = [line.strip() for line in out.splitlines()]
    failed = lines.index("error: preview of stack 'dev' failed:")
    assert lines[failed + 1 : failed + 3] == [
        said,
        "error: policy pack not started: could not read policy pack port",
    ]


@pytest.mark.parametrize("own_kubeconfig", [False, True])
def test_a_stopped_embedded_cluster_is_told_how_to_start(project, tmp_path, capsys, own_kubeconfig):
    """The hint to start the embedded cluster is for a local stack that uses it; one whose
    config names a kubeconfig of its own is told only what failed."""
    embedded_cluster_tool(project)  # its kubeconfig is not written: the cluster never ran
    stack = a_local_stack()
    if own_kubeconfig:
        stack.config["kubernetes:kubeconfig"] = ConfigValue(str(tmp_path / "elsewhere"))

    assert main(["up", "--stack", "local"]) == ExitCode.PREFLIGHT

    out = capsys.readouterr().out
    assert "preflight failed" in out
    assert ("start it with `make cluster-start`" in out) is not own_kubeconfig
    assert stack.calls == []


def test_preflight_messages_never_show_a_urls_credentials(project, tmp_path, capsys, monkeypatch):
    # A kubeconfig whose server carries a user and password: the check quotes the server.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://kubeadmin:Cl0sterPw@127.0.0.1:1'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
        "users: [{name: u, user: {token: abc}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    a_stack()

    code, summary = run_cli("preflight", "--stack", "dev", json_path=tmp_path / "s.json")

    out = capsys.readouterr().out
    assert code == ExitCode.PREFLIGHT
    assert "127.0.0.1:1" in summary["preflight"][0]["message"]
    assert "Cl0sterPw" not in out + json.dumps(summary)


def test_a_failed_preflight_exits_4_and_deploys_nothing(project, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    stack = a_stack()

    code, summary = run_cli("up", "--stack", "dev", json_path=tmp_path / "s.json")

    out = capsys.readouterr().out
    assert code == ExitCode.PREFLIGHT == 4
    assert "preflight failed (1 problem(s)); nothing was deployed:" in out
    assert "cluster: KUBECONFIG names no file that exists" in out
    assert stack.calls == []
    assert summary["preflight"][0] == {
        "check": "cluster",
        "ok": False,
        "message": f"cluster: KUBECONFIG names no file that exists ({tmp_path / 'missing-kubeconfig'})",
    }


def test_drift_exits_2_and_names_each_drifted_resource(project, tmp_path, capsys):
    drifted = step(URN, "update", diffs=["spec"])
    a_stack(
        drift=Script([*drifted, summary_event(update=1, same=4)], command_error("error: changes\n"))
    )

    code, summary = run_cli("drift", "--stack", "dev", json_path=tmp_path / "s.json")

    out = capsys.readouterr().out
    assert code == ExitCode.DRIFT == 2
    assert "~ Deployment greeter: spec changed outside Pulumi" in out
    assert summary["drift"] == [
        {
            "urn": URN,
            "type": "kubernetes:apps/v1:Deployment",
            "name": "greeter",
            "change": "update",
            "paths": ["spec"],
        }
    ]


def test_no_drift_exits_0(project):
    stack = a_stack(drift=Script([*step(URN, "refresh"), summary_event(same=5)]))

    assert main(["drift", "--stack", "dev"]) == 0
    assert stack.calls[0][1]["expect_no_changes"] is True


@pytest.mark.parametrize(
    ("environment", "argv", "skips"),
    [
        ("dev", ["preview"], True),
        ("dev", ["drift"], True),
        ("dev", ["up", "--skip-preflight"], False),
        ("dev", ["refresh"], False),
        ("dev", ["destroy", "--yes"], False),
        ("local", ["preview"], True),
        ("local", ["up", "--skip-preflight"], True),
        ("local", ["refresh"], False),
        ("local", ["destroy", "--yes"], False),
    ],
)
def test_which_commands_skip_checkpoints(project, environment, argv, skips):
    """preview and drift write no state and skip the per-step checkpoint; so does `up` of a
    stack on the embedded cluster (`workspace.update_env`); every other update, refresh and
    destroy keeps its checkpoints, the record of what an interrupted one did."""
    stack = a_stack(environment)
    # (the definitions are left out: the test's project has none to install)
    stack.config = valid_config(environment=environment, crds={"install": False})

    assert main([*argv, "--stack", environment]) == 0

    assert stack.operations
    for _, env in stack.envs:
        assert (env == SKIP_CHECKPOINTS_ENV) is skips, env


def embedded_cluster_tool(project: Path) -> Path:
    """A `tools/cluster/cluster.py` in the project that prints where the embedded cluster's
    kubeconfig is, as the real one does (`workspace.embedded_kubeconfig` runs it)."""
    kubeconfig = project / ".state" / "cluster" / "kubeconfig"
    tool = project / "tools" / "cluster" / "cluster.py"
    tool.parent.mkdir(parents=True)
    tool.write_text(
        f"import sys\nassert sys.argv[1:] == ['kubeconfig']\nprint({str(kubeconfig)!r})\n"
    )
    return kubeconfig


def a_local_stack(**settings: Any) -> FakeStack:
    stack = a_stack("local")
    # (the definitions are left out: the test's project has none to install)
    stack.config = valid_config(environment="local", crds={"install": False}, **settings)
    return stack


@pytest.mark.parametrize(
    "argv",
    [["preview"], ["up", "--skip-preflight"], ["refresh"], ["drift"], ["destroy", "--yes"]],
)
def test_every_operation_on_a_local_stack_reaches_the_embedded_cluster(project, monkeypatch, argv):
    """Whatever KUBECONFIG says, the engine gets the embedded cluster's kubeconfig for a
    stack of the `local` environment, in the commands that run the program and in those
    that work on the state alone."""
    embedded = embedded_cluster_tool(project)
    monkeypatch.setenv("KUBECONFIG", str(project / "another-clusters-kubeconfig"))
    stack = a_local_stack()

    assert main([*argv, "--stack", "local"]) == 0

    assert stack.kubeconfigs == [(operation, str(embedded)) for operation in stack.operations]


@pytest.mark.parametrize(
    "argv", [["preview"], ["up", "--skip-preflight"], ["drift"], ["destroy", "--yes"]]
)
def test_a_local_stack_whose_cluster_tool_fails_runs_nothing_on_another_cluster(
    project, monkeypatch, capsys, argv
):
    tool = project / "tools" / "cluster" / "cluster.py"
    tool.parent.mkdir(parents=True)
    tool.write_text("import sys\nsys.exit('cluster: error: GO_PLATFORM_CLUSTER_DIR is empty')\n")
    monkeypatch.setenv("KUBECONFIG", str(project / "production-kubeconfig"))
    stack = a_local_stack()

    assert main([*argv, "--stack", "local"]) == ExitCode.FAILED

    out = capsys.readouterr().out
    assert "deploys only to the embedded cluster" in out
    assert "GO_PLATFORM_CLUSTER_DIR is empty" in out
    assert stack.operations == []


def test_a_stack_that_names_its_kubeconfig_keeps_it(project, monkeypatch):
    embedded_cluster_tool(project)
    stack = a_local_stack()
    stack.config["kubernetes:kubeconfig"] = ConfigValue("/etc/go-platform/kubeconfig")

    assert main(["drift", "--stack", "local"]) == 0

    assert stack.kubeconfigs == [("drift", None)]


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["preview"], 64),
        (["up", "--skip-preflight"], 64),
        (["refresh"], 0),
        (["drift"], 0),
        (["destroy", "--yes"], 0),
        (["outputs"], 0),
    ],
)
def test_only_the_commands_that_run_the_program_refuse_an_invalid_config(
    project, capsys, argv, code
):
    """A config the program would refuse stops preview and up (exit 64, nothing run); the
    commands on the state alone still inspect or tear the stack down, on its cluster."""
    embedded = embedded_cluster_tool(project)
    stack = a_local_stack()
    stack.config["go-platform:replicsa"] = ConfigValue("3")

    assert main([*argv, "--stack", "local"]) == code

    if code:
        assert "go-platform:replicsa: unknown key" in capsys.readouterr().out
        assert stack.operations == []
    else:
        assert stack.kubeconfigs == [(operation, str(embedded)) for operation in stack.operations]


@pytest.mark.parametrize(
    "argv", [["up", "--skip-preflight"], ["refresh"], ["drift"], ["destroy", "--yes"]]
)
def test_no_operation_decrypts_the_state_for_a_summary_it_does_not_read(project, argv):
    stack = a_stack()

    assert main([*argv, "--stack", "dev"]) == 0

    [(_, kwargs)] = stack.calls
    assert kwargs["show_secrets"] is False


def test_a_missing_stack_is_a_usage_error(project, capsys):
    assert main(["refresh", "--stack", "qa"]) == 64
    assert "no stack named 'qa'" in capsys.readouterr().out


def test_json_to_stdout_sends_human_output_to_stderr(project, capsys):
    a_stack(preview=Script([*step(PET, "create"), summary_event(create=1)]))

    assert main(["preview", "--stack", "dev", "--json", "-"]) == 0

    captured = capsys.readouterr()
    document = json.loads(captured.out)
    jsonschema.validate(document, schema())
    assert document["command"] == "preview"
    assert "preview dev" in captured.err


def test_outputs_prints_masked_json(project, capsys):
    a_stack()
    FakeSession.outputs = {"moduleProxy": {"password": "[secret]", "user": "go"}}

    assert main(["outputs", "--stack", "dev"]) == 0
    assert json.loads(capsys.readouterr().out) == FakeSession.outputs


def test_outputs_with_the_summary_on_stdout_print_the_outputs_on_stderr(project, capsys):
    a_stack()
    FakeSession.outputs = {"moduleProxy": {"password": "[secret]", "user": "go"}}

    assert main(["outputs", "--stack", "dev", "--json", "-"]) == 0

    captured = capsys.readouterr()
    assert json.loads(captured.out)["outputs"] == FakeSession.outputs
    assert json.loads(captured.err[captured.err.index("{") :]) == FakeSession.outputs


# --- ephemeral -----------------------------------------------------------------------


def test_ephemeral_up_on_its_bases_cluster_is_refused_before_anything_is_made(
    project, capsys, tmp_path
):
    base = a_stack("dev")
    base.config["kubernetes:context"] = ConfigValue("shared")

    code, summary = run_cli(
        "ephemeral", "up", "--name", "pr-7", "--config", "namespace=pr-7",
        "--skip-preflight", json_path=tmp_path / "up.json",
    )  # fmt: skip

    out = capsys.readouterr().out
    assert code == ExitCode.USAGE
    assert "ephemeral stack 'pr-7' would deploy to its base's cluster" in out
    assert "`ephemeral down` would delete them" in out
    assert list(FakeSession.stacks) == ["dev"]
    assert base.calls == []
    assert summary["result"] == "usage-error"


def test_ephemeral_up_copies_the_base_then_deploys_and_down_removes(project, tmp_path):
    base = a_stack("dev")
    base.config[state_key("greeter")] = ConfigValue("{}")

    code, summary = run_cli(
        "ephemeral",
        "up",
        "--name",
        "pr-7",
        "--config",
        "namespace=pr-7",
        "--config",
        "kubernetes:context=pr-clusters",
        "--skip-preflight",
        json_path=tmp_path / "up.json",
    )

    pr = FakeSession.stacks["pr-7"]
    assert code == 0, summary["errors"]
    assert pr.tags == {"go-platform:ephemeral-base": "dev"}
    assert pr.removed == [state_key("greeter")]
    assert {"go-platform:namespace": "pr-7", "kubernetes:context": "pr-clusters"} in (
        pr.config_writes
    )
    assert pr.operations == ["up"]
    assert base.calls == []

    code, summary = run_cli("ephemeral", "down", "--name", "pr-7", json_path=tmp_path / "down.json")

    assert code == 0, summary["errors"]
    assert pr.operations == ["up", "destroy"]
    assert "pr-7" not in FakeSession.stacks


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], "awskms://alias/go-platform-dev?region=eu-west-1"),
        (["--secrets-provider", "passphrase"], "passphrase"),
    ],
    ids=["the-bases", "given"],
)
def test_an_ephemeral_stack_takes_its_bases_secrets_provider(project, monkeypatch, argv, expected):
    # The base's secrets are copied into the new stack: under the default passphrase (on
    # a file backend, a published one) anyone with its stack file could read them.
    (project / "Pulumi.dev.yaml").write_text(
        "secretsprovider: awskms://alias/go-platform-dev?region=eu-west-1\nconfig: {}\n"
    )
    a_stack("dev")
    providers = []
    original = FakeSession.__init__

    def recording(self, target, env):
        providers.append(target.secrets_provider)
        original(self, target, env)

    monkeypatch.setattr(FakeSession, "__init__", recording)

    main(["ephemeral", "up", "--name", "pr-7", "--skip-preflight", *argv])

    assert providers == [expected]


def test_an_ephemeral_override_of_a_bases_secret_stays_secret(project):
    # A kubeconfig carrying a client key: the base holds it as a secret.
    base = a_stack("dev")
    base.config["kubernetes:kubeconfig"] = ConfigValue("client-key-data: BASE", secret=True)

    code = main(
        [
            "ephemeral", "up", "--name", "pr-7", "--skip-preflight",
            "--config", "kubernetes:kubeconfig=client-key-data: PR7",
            "--config", "namespace=pr-7",
        ]
    )  # fmt: skip

    pr = FakeSession.stacks["pr-7"]
    assert code == 0
    assert pr.config["kubernetes:kubeconfig"].secret is True
    assert pr.config["kubernetes:kubeconfig"].value == "client-key-data: PR7"
    assert pr.config["go-platform:namespace"].secret is False


def test_a_base_named_with_its_organization_and_project_is_the_same_base(project, monkeypatch):
    # `organization/go-platform/dev` is the stack `dev`, whose name is its environment.
    base = a_stack("dev")
    del base.config["go-platform:environment"]  # implicit: the stack's name
    FakeSession.stacks["organization/go-platform/dev"] = base

    code = main(
        ["ephemeral", "up", "--name", "pr-7", "--base", "organization/go-platform/dev",
         "--config", "kubernetes:context=pr-clusters", "--skip-preflight"]
    )  # fmt: skip

    pr = FakeSession.stacks["pr-7"]
    assert code == 0
    assert pr.config["go-platform:environment"].value == "dev"
    assert pr.tags == {"go-platform:ephemeral-base": "organization/go-platform/dev"}


def test_ephemeral_up_of_an_invalid_base_creates_nothing(project, capsys, tmp_path):
    base = a_stack("dev")
    base.config["go-platform:services"] = ConfigValue(json.dumps([service_config(replicas="abc")]))

    code, summary = run_cli("ephemeral", "up", "--name", "pr-8", json_path=tmp_path / "s.json")

    out = capsys.readouterr().out
    assert code == ExitCode.USAGE
    assert "go-platform:services[0].replicas: must be a whole number" in out
    assert "created" not in out
    assert list(FakeSession.stacks) == ["dev"]
    assert base.calls == []
    assert summary["result"] == "usage-error"


@pytest.mark.parametrize("rerun", [False, True], ids=["new", "rerun"])
def test_ephemeral_up_with_a_bad_config_value_writes_nothing_and_shows_no_value(
    project, capsys, tmp_path, rerun
):
    a_stack("dev")
    if rerun:
        pr = a_stack("pr-8")
        pr.tags = {"go-platform:ephemeral-base": "dev"}
        before = dict(pr.config)

    code, summary = run_cli(
        "ephemeral",
        "up",
        "--name",
        "pr-8",
        "--config",
        "domain=Sup3rS3cret!",
        json_path=tmp_path / "s.json",
    )

    out = capsys.readouterr().out
    assert code == ExitCode.USAGE
    assert "go-platform:domain:" in out
    assert "Sup3rS3cret" not in out + json.dumps(summary)
    if rerun:
        assert (pr.config, pr.config_writes, pr.removed, pr.calls) == (before, [], [], [])
    else:
        assert list(FakeSession.stacks) == ["dev"]


def test_ephemeral_down_refuses_a_stack_it_did_not_create(project, capsys):
    a_stack("qa-1")

    assert main(["ephemeral", "down", "--name", "qa-1"]) == 64
    assert "--force" in capsys.readouterr().out


def test_ephemeral_down_of_a_missing_stack_does_nothing(project, capsys):
    assert main(["ephemeral", "down", "--name", "pr-404"]) == 0
    assert "nothing to destroy" in capsys.readouterr().out


# --- canary --------------------------------------------------------------------------


class InstantClock:
    def __init__(self) -> None:
        from datetime import UTC, datetime

        self.moment = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self):
        return self.moment

    def sleep(self, seconds):
        from datetime import timedelta

        self.moment += timedelta(seconds=seconds)


class Constant:
    def __init__(self, measurement: Measurement) -> None:
        self.measurement = measurement

    def measure(self, window_seconds: int) -> Measurement:
        return self.measurement


def canary_stack(canary_overrides: dict[str, Any] | None = None, **service: Any) -> FakeStack:
    canary = {
        "image": "ghcr.io/acme/greeter:v2.0.0",
        "steps": [20, 50],
        "maxWeight": 50,
        "interval": "30s",
        "threshold": 1,
        **(canary_overrides or {}),
    }
    stack = FakeStack(
        "dev",
        valid_config(
            gateway={"install": False},
            services=[
                service_config(route={"host": "greeter.example.com"}, canary=canary, **service)
            ],
        ),
    )
    FakeSession.stacks["dev"] = stack
    return stack


def promote(project: Path, measurement: Measurement, tmp_path: Path):
    from go_platform.summary import RunSummary

    driver = driver_module.Driver(
        driver_module.StackOptions(stack="dev"),
        console=Console(file=io.StringIO()),
        summary=RunSummary(command="canary promote"),
    )
    return driver, lambda: canary_commands.promote(
        driver,
        "greeter",
        prometheus_url="http://127.0.0.1:9",
        dry_run=False,
        restart=False,
        skip_preflight=True,
        clock=InstantClock(),
        metrics=Constant(measurement),
    )


def test_a_healthy_promotion_writes_weights_image_and_state_then_deploys(project, tmp_path):
    stack = canary_stack(
        build={"context": "services/greeter", "repository": "registry.example.com/greeter"},
        image=None,
    )
    driver, run = promote(project, Measurement(100.0, 50.0), tmp_path)

    run()

    weights = [w.get("go-platform:services[0].canary.weight") for w in stack.config_writes]
    assert [w for w in weights if w is not None] == ["20", "50", "0"]
    assert {"go-platform:services[0].image": "ghcr.io/acme/greeter:v2.0.0"}.items() <= next(
        w for w in stack.config_writes if "go-platform:services[0].image" in w
    ).items()
    assert stack.removed == ["go-platform:services[0].build"]
    assert all(state_key("greeter") in write for write in stack.config_writes)
    assert stack.operations == ["up", "up", "up", "up"]
    assert all(call[1]["policy_packs"] for call in stack.calls)
    assert json.loads(stack.config[state_key("greeter")].value)["phase"] == "promoted"
    canary = driver.summary.as_json()["canary"]
    jsonschema.validate(driver.summary.as_json(), schema())
    assert canary["decision"] == "promoted"
    assert [c["decision"] for c in canary["checks"]] == ["advance", "promote"]


def test_an_unhealthy_canary_exits_5_after_rolling_back(project, tmp_path):
    from go_platform.exit_codes import DriverError

    stack = canary_stack()
    driver, run = promote(project, Measurement(80.0, 50.0), tmp_path)

    with pytest.raises(DriverError) as raised:
        run()

    assert raised.value.code == ExitCode.ROLLED_BACK == 5
    weights = [
        w["go-platform:services[0].canary.weight"]
        for w in stack.config_writes
        if "go-platform:services[0].canary.weight" in w
    ]
    assert weights == ["20", "0"]
    assert driver.summary.canary["decision"] == "rolled-back"
    assert driver.summary.canary["checks"][0]["reasons"] == ["success rate 80.00% is below 99%"]


def test_canary_plan_and_dry_run_change_nothing(project, capsys, tmp_path):
    stack = canary_stack()

    code, summary = run_cli(
        "canary", "plan", "--stack", "dev", "--service", "greeter", json_path=tmp_path / "p.json"
    )
    assert code == 0
    assert summary["canary"]["plan"]["steps"][0] == {
        "step": 1,
        "weight": 20,
        "analysisAfter": "30s",
    }
    code, summary = run_cli(
        "canary",
        "promote",
        "--stack",
        "dev",
        "--service",
        "greeter",
        "--dry-run",
        "--prometheus-url",
        "http://127.0.0.1:9",
        json_path=tmp_path / "d.json",
    )
    assert code == 0
    assert summary["canary"]["dryRun"] is True
    assert stack.calls == []
    assert stack.config_writes == []
    assert "dry run: would start at step 1" in capsys.readouterr().out


def test_canary_of_an_unknown_service_or_one_without_canary_is_a_usage_error(project, capsys):
    a_stack()
    FakeSession.stacks["dev"].config["go-platform:services"] = ConfigValue(
        json.dumps([service_config()])
    )

    assert main(["canary", "plan", "--stack", "dev", "--service", "nope"]) == 64
    assert main(["canary", "plan", "--stack", "dev", "--service", "greeter"]) == 64
    out = capsys.readouterr().out
    assert "no service 'nope'" in out
    assert "has no canary block" in out


# --- entry points --------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [[str(Path(sys.executable).parent / "go-platform")], [sys.executable, "-m", "go_platform"]],
)
def test_the_console_script_and_the_module_run(command):
    result = subprocess.run(
        [*command, "--help"], capture_output=True, text=True, cwd=REPO, check=False
    )

    assert result.returncode == 0, result.stderr
    assert "canary" in result.stdout
    assert "64 bad arguments" in " ".join(result.stdout.split())


def test_the_exit_codes_are_a_stable_interface():
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0,
        "FAILED": 1,
        "DRIFT": 2,
        "POLICY": 3,
        "PREFLIGHT": 4,
        "ROLLED_BACK": 5,
        "LOCKED": 6,
        "PENDING": 7,
        "USAGE": 64,
    }


def test_a_drift_check_that_fails_for_another_reason_exits_1(project, capsys):
    diagnostic = engine_event(
        "diagnosticEvent",
        {"message": "error: cluster unreachable\n", "color": "never", "severity": "error"},
    )
    a_stack(drift=Script([diagnostic], command_error("error: refresh failed\n")))

    assert main(["drift", "--stack", "dev"]) == 1
    out = capsys.readouterr().out
    assert "drift check failed:" in out
    assert "error: cluster unreachable" in out
    assert "drift: none" not in out


def test_a_drift_check_that_found_drift_but_failed_on_another_resource_exits_1(
    project, tmp_path, capsys
):
    # Exit 2 would tell CI the stack was read in full and differs; part of it was not read.
    drifted = step(URN, "update", diffs=["spec"])
    diagnostic = engine_event(
        "diagnosticEvent",
        {"message": "error: cluster unreachable\n", "color": "never", "severity": "error"},
    )
    a_stack(drift=Script([*drifted, diagnostic], command_error("error: refresh failed\n")))

    code, summary = run_cli("drift", "--stack", "dev", json_path=tmp_path / "s.json")

    out = capsys.readouterr().out
    assert code == ExitCode.FAILED == 1
    assert "drift check failed:" in out
    assert "error: cluster unreachable" in out
    assert "~ Deployment greeter: spec changed outside Pulumi" in out
    assert summary["drift"][0]["urn"] == URN


@pytest.mark.parametrize(
    "argv",
    [
        ["up", "--stack", "dev", "--skip-preflight"],
        ["ephemeral", "up", "--name", "pr-7", "--base", "dev"],
    ],
)
def test_a_cancel_that_ended_a_helper_starts_no_engine_operation(
    project, capsys, monkeypatch, argv
):
    # A SIGTERM passed on as SIGINT to a helper (the cluster tool, the pack's config
    # checker) whose failure is tolerated: the driver must not go on to create or deploy.
    stack = a_stack("dev")
    monkeypatch.setattr(interrupt, "_signals", 1)  # a cancel has arrived
    code = main(argv)  # which forgets it as it ends

    assert code == ExitCode.FAILED
    assert "interrupted" in capsys.readouterr().out
    assert stack.operations == []
    assert "pr-7" not in FakeSession.stacks


def test_a_failed_cli_call_outside_an_operation_is_exit_1_not_a_traceback(
    project, capsys, monkeypatch
):
    a_stack("dev")

    def refuse(self, key, value):
        raise command_error("error: tags are not supported by this backend\n")

    monkeypatch.setattr(FakeStack, "set_tag", refuse)

    code = main(
        ["ephemeral", "up", "--name", "pr-9", "--config", "kubernetes:context=ci",
         "--skip-preflight"]
    )  # fmt: skip

    out = capsys.readouterr().out
    assert code == 1
    assert "error: pulumi failed:" in out
    assert "tags are not supported by this backend" in out
    assert "Traceback" not in out


# --- checked up front ------------------------------------------------------------------

PROMOTE = ["canary", "promote", "--stack", "dev", "--service", "greeter", "--skip-preflight"]
PROMETHEUS = ["--prometheus-url", "http://127.0.0.1:9"]


@pytest.fixture
def no_waiting(monkeypatch):
    """The promotion's intervals pass at once."""
    monkeypatch.setattr(canary_machine.SystemClock, "sleep", lambda self, seconds: None)


@pytest.mark.parametrize(
    ("args", "canary", "outputs", "says"),
    [
        (["--prometheus-url", "not-a-url"], {}, {}, "--prometheus-url is not an http://"),
        (["--prometheus-url", "ftp://prom:9090"], {}, {}, "--prometheus-url is not an http://"),
        (["--prometheus-url", "http://:9090"], {}, {}, "--prometheus-url names no valid host"),
        (
            ["--prometheus-url", "http://prom:90x"],
            {},
            {},
            "--prometheus-url has a port that is not a number from 1 to 65535",
        ),
        (["--prometheus-url", "http://prom:9090/?q=up"], {}, {}, "--prometheus-url has a query"),
        (
            ["--prometheus-url", "http://admin:hunter2@prom:9090"],
            {},
            {},
            "--prometheus-url holds credentials",
        ),
        (
            [],
            {},
            {"observability": {"prometheusUrl": "prometheus.monitoring"}},
            "the stack output observability.prometheusUrl is not an http://",
        ),
        ([], {}, {}, "the stack exports no observability.prometheusUrl"),
        ([*PROMETHEUS, "--policy-pack", "nope"], {}, {}, "no policy pack"),
        ([*PROMETHEUS, "--policy-pack-config", "nope.json"], {}, {}, "nope.json: no such file"),
        ([*PROMETHEUS, "--service", "nope"], {}, {}, "no service 'nope'"),
        ([*PROMETHEUS, "--dry-run", "--policy-pack", "nope"], {}, {}, "no policy pack"),
        (PROMETHEUS, {"interval": "0s"}, {}, "go-platform:services[0].canary.interval"),
        (PROMETHEUS, {"threshold": 0}, {}, "go-platform:services[0].canary.threshold"),
        (PROMETHEUS, {"steps": [50, 20]}, {}, "go-platform:services[0].canary.steps"),
    ],
)
def test_canary_promote_checks_every_argument_before_changing_anything(
    project, tmp_path, capsys, no_waiting, args, canary, outputs, says
):
    stack = canary_stack(canary)
    FakeSession.outputs = outputs

    code, summary = run_cli(*PROMOTE, *args, json_path=tmp_path / "s.json")

    out = capsys.readouterr().out
    assert code == ExitCode.USAGE
    assert says in out
    assert "Traceback" not in out
    assert stack.calls == []
    assert stack.config_writes == []
    assert summary["result"] == "usage-error"
    assert "hunter2" not in out + json.dumps(summary)


def test_canary_rollback_checks_the_policy_pack_before_writing(project, capsys):
    stack = canary_stack()

    code = main(
        ["canary", "rollback", "--stack", "dev", "--service", "greeter", "--policy-pack", "x"]
    )

    assert code == ExitCode.USAGE
    assert "no policy pack" in capsys.readouterr().out
    assert stack.config_writes == []


@pytest.mark.parametrize("phase", ["promoting", "promoted"])
def test_a_rollback_once_stable_took_the_canary_image_is_refused_changing_nothing(
    project, capsys, phase
):
    stack = canary_stack()
    recorded = {
        "service": "greeter",
        "canaryImage": "ghcr.io/acme/greeter:v2.0.0",
        "phase": phase,
        "step": 2,
        "weight": 50 if phase == "promoting" else 0,
        "stableImage": "ghcr.io/acme/greeter:v1.2.3",
    }
    stack.config[state_key("greeter")] = ConfigValue(json.dumps(recorded))

    code = main(["canary", "rollback", "--stack", "dev", "--service", "greeter"])

    out = capsys.readouterr().out
    assert code == ExitCode.USAGE
    assert "setting the canary's weight to 0 would not undo that" in out
    assert "set the service's `image` to `ghcr.io/acme/greeter:v1.2.3`" in out
    assert stack.config_writes == []
    assert "up" not in stack.operations


# --- a promotion that stops half-way ---------------------------------------------------


def failing_up(on: int, error: Exception):
    """FakeStack.up raising `error` on its `on`-th call."""
    original = FakeStack.up

    def up(self, on_event, **kwargs):
        if self.operations.count("up") + 1 == on:
            self.calls.append(("up", kwargs))
            raise error
        original(self, on_event, **kwargs)

    return up


def failing_write(on: int, error: Exception):
    """FakeStack.set_all_config raising `error` on its `on`-th call."""
    original = FakeStack.set_all_config

    def set_all_config(self, values, path=False):
        if len(self.config_writes) + 1 == on:
            self.config_writes.append({})
            raise error
        original(self, values, path=path)

    return set_all_config


def raising_query(error: Exception):
    def query(self, promql):
        raise error

    return query


def answering(value: float):
    def query(self, promql):
        return value

    return query


HEALTHY = (canary_commands.Prometheus, "query", answering(99.9))
RESUME = "`go-platform canary promote --stack dev --service greeter` resumes from there"
FINISH = "`go-platform canary rollback --stack dev --service greeter` finishes it"


@pytest.mark.parametrize(
    ("patches", "code", "decision", "state", "says"),
    [
        (
            [],  # nothing listens on 127.0.0.1:9: the check fails, threshold 1
            ExitCode.ROLLED_BACK,
            "rolled-back",
            ("rolled-back", 1, 0),
            ["success rate: cannot reach http://127.0.0.1:9", "was rolled back to weight 0"],
        ),
        (
            [(canary_commands.Prometheus, "query", raising_query(RuntimeError("hunter2")))],
            ExitCode.FAILED,
            "interrupted",
            ("progressing", 1, 20),
            ["canary promotion of greeter stopped: unexpected RuntimeError", RESUME],
        ),
        (
            [HEALTHY, (FakeStack, "up", failing_up(2, command_error("error: quota exceeded\n")))],
            ExitCode.FAILED,
            "interrupted",
            ("progressing", 2, 50),
            ["error: quota exceeded", RESUME],
        ),
        (
            [(FakeStack, "up", failing_up(2, command_error("error: quota exceeded\n")))],
            ExitCode.FAILED,
            "interrupted",
            ("rolling-back", 1, 0),
            ["error: quota exceeded", FINISH],
        ),
        (
            [
                HEALTHY,
                (FakeStack, "set_all_config", failing_write(2, command_error("error: no disk\n"))),
            ],
            ExitCode.FAILED,
            "interrupted",
            ("progressing", 1, 20),
            ["pulumi failed:", "error: no disk", RESUME],
        ),
        (
            [
                (
                    FakeStack,
                    "up",
                    failing_up(
                        1, command_error("error: currently locked\n", ConcurrentUpdateError)
                    ),
                )
            ],
            ExitCode.LOCKED,
            "interrupted",
            ("progressing", 1, 20),
            ["is locked by another update", RESUME],
        ),
        (
            # The up that gives stable the canary's image fails: only promote finishes it;
            # a rollback (a weight) cannot undo it, so the way back is told instead.
            [
                HEALTHY,
                (FakeStack, "up", failing_up(3, command_error("error: rollout failed\n"))),
            ],
            ExitCode.FAILED,
            "interrupted",
            ("promoting", 2, 50),
            [
                "error: rollout failed",
                "`go-platform canary promote --stack dev --service greeter` finishes it",
                "to go back: set the service's `image` to `ghcr.io/acme/greeter:v1.2.3` (and "
                "restore its `build` block, if it had one), then `go-platform up`",
            ],
        ),
        (
            # Ctrl-C (or CI's SIGTERM) during the second step's up: the way on is told too.
            [HEALTHY, (FakeStack, "up", failing_up(2, KeyboardInterrupt()))],
            ExitCode.FAILED,
            "interrupted",
            ("progressing", 2, 50),
            ["interrupted", RESUME],
        ),
    ],
)
def test_a_promotion_that_stops_leaves_its_state_a_summary_and_an_exit_code(
    project, tmp_path, capsys, monkeypatch, no_waiting, patches, code, decision, state, says
):
    stack = canary_stack()
    for patch in patches:
        monkeypatch.setattr(*patch)

    exit_code, summary = run_cli(*PROMOTE, *PROMETHEUS, json_path=tmp_path / "s.json")

    out = capsys.readouterr().out
    recorded = json.loads(stack.config[state_key("greeter")].value)
    assert exit_code == code
    assert all(line in out for line in says)
    assert "Traceback" not in out
    assert "hunter2" not in out + json.dumps(summary)
    assert summary["exitCode"] == code
    assert summary["canary"]["decision"] == decision
    assert summary["canary"]["state"] == recorded
    assert (recorded["phase"], recorded["step"], recorded["weight"]) == state
    assert says[-1] in "\n".join(summary["errors"])


# --- the JSON summary's path -----------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "says"),
    [
        ("a-file/summary.json", "{tmp}/a-file is a file, not a directory"),
        ("a-file/deeper/summary.json", "{tmp}/a-file is a file, not a directory"),
        ("a-dir", "{tmp}/a-dir is a directory"),
        ("a-broken-link/summary.json", "{tmp}/a-broken-link is a broken symbolic link"),
    ],
)
def test_a_summary_path_that_cannot_be_written_is_refused_before_anything_runs(
    project, tmp_path, capsys, where, says
):
    (tmp_path / "a-file").write_text("not a directory")
    (tmp_path / "a-dir").mkdir()
    (tmp_path / "a-broken-link").symlink_to(tmp_path / "nowhere")
    stack = a_stack()

    code = main(["up", "--stack", "dev", "--skip-preflight", "--json", str(tmp_path / where)])

    out = capsys.readouterr().out
    assert code == ExitCode.USAGE
    assert f"--json {tmp_path / where}: {says.format(tmp=tmp_path)}" in out
    assert "File exists" not in out
    assert stack.calls == []


def test_a_missing_summary_directory_is_created(project, tmp_path):
    a_stack()

    code, summary = run_cli(
        "up", "--stack", "dev", "--skip-preflight", json_path=tmp_path / "new" / "s.json"
    )

    assert code == 0
    assert summary["result"] == "succeeded"


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["up", "--stack", "dev", "--skip-preflight"], ExitCode.FAILED),
        (["drift", "--stack", "dev"], ExitCode.DRIFT),
    ],
)
def test_a_summary_that_cannot_be_written_after_the_work_fails_a_success(
    project, tmp_path, capsys, monkeypatch, argv, code
):
    from go_platform.cli import root as cli

    drifted = step(URN, "update", diffs=["spec"])
    a_stack(drift=Script([*drifted, summary_event(update=1)], command_error("error: changes\n")))
    target = tmp_path / "out" / "s.json"
    real_write = cli.write_summary

    def write_after_the_directory_became_a_file(summary, path):
        path.parent.rmdir()
        path.parent.write_text("something else wrote here meanwhile")
        real_write(summary, path)

    monkeypatch.setattr(cli, "write_summary", write_after_the_directory_became_a_file)

    assert main([*argv, "--json", str(target)]) == code
    out = capsys.readouterr().out
    assert f"the summary cannot be written to {target}: {target.parent} is a file, not a" in out
    assert ("up succeeded, but" in out) == (argv[0] == "up")


def test_an_unexpected_error_is_one_line_exit_1_and_the_summary(
    project, tmp_path, capsys, monkeypatch
):
    a_stack()

    def broken(self, name=None):
        raise RuntimeError("hunter2 in an exception's message")

    monkeypatch.setattr(FakeSession, "select", broken)

    code, summary = run_cli("refresh", "--stack", "dev", json_path=tmp_path / "s.json")

    out = capsys.readouterr().out
    assert code == ExitCode.FAILED
    assert "error: unexpected RuntimeError at test_driver_cli.py:" in out
    assert "Traceback" not in out
    assert "hunter2" not in out + json.dumps(summary)
    assert summary["result"] == "failed"


# --- secrets are never shown back ------------------------------------------------------

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def s3_proxy(**s3: str) -> dict[str, Any]:
    return {"moduleProxy": {"enabled": True, "storage": {"type": "s3", "s3": s3}}}


@pytest.mark.parametrize(
    ("settings", "secrets", "plain", "argv", "secret", "names"),
    [
        (
            s3_proxy(accessKeyIdSecret=ACCESS_KEY, secretAccessKeySecret="s3Secret"),
            {"s3Secret": "x"},
            {},
            ["up", "--stack", "dev", "--skip-preflight"],
            ACCESS_KEY,
            "go-platform:moduleProxy.storage.s3.accessKeyIdSecret",
        ),
        (
            s3_proxy(accessKeyIdSecret="s3Id", secretAccessKeySecret=SECRET_KEY),
            {"s3Id": "x"},
            {},
            ["up", "--stack", "dev", "--skip-preflight"],
            SECRET_KEY,
            "go-platform:moduleProxy.storage.s3.secretAccessKeySecret",
        ),
        (
            {"services": [service_config(secretEnv={"DATABASE_URL": "postgres://a:pw@db/app"})]},
            {},
            {},
            ["preview", "--stack", "dev"],
            "postgres://a:pw@db/app",
            "go-platform:services[0].secretEnv.DATABASE_URL",
        ),
        (
            {},
            {"kubernetes:kubeconfig": "apiVersion: v1\nusers:\n- user: {token: s3kr1t-t0ken}\n"},
            {},
            ["up", "--stack", "dev"],
            "s3kr1t-t0ken",
            "stack config kubernetes:kubeconfig",
        ),
        (
            {},
            {},
            {"kubernetes:kubeconfig": "eyJhbGciOiJSUzI1NiJ9.s3kr1t"},
            ["preflight", "--stack", "dev"],
            "eyJhbGciOiJSUzI1NiJ9.s3kr1t",
            "stack config kubernetes:kubeconfig",
        ),
        (
            {},
            {},
            {state_key("greeter"): '{"phase": "hunter2-pasted-here"}'},
            ["canary", "plan", "--stack", "dev", "--service", "greeter"],
            "hunter2",
            "go-platform-canary:greeter",
        ),
        (
            {},
            {},
            {},
            ["ephemeral", "up", "--name", "pr-1", "--config", "moduleProxy.password:hunter2"],
            "hunter2",
            "--config (the 1st one) has no '='",
        ),
        (
            {},
            {},
            {},
            ["up", "--stack", "dev", "--secrets-provider", "hunter2-passphrase"],
            "hunter2",
            "--secrets-provider: it is not supported",
        ),
    ],
)
def test_no_message_or_summary_shows_a_value_that_may_be_a_secret(
    project, tmp_path, capsys, settings, secrets, plain, argv, secret, names
):
    if "canary" in argv:
        stack = canary_stack()
    else:
        config = stack_config(environment="dev", domain="example.com", secrets=secrets, **settings)
        stack = FakeStack(
            "dev",
            {k: ConfigValue(v, secret=k in config.secret_keys) for k, v in config.values.items()},
        )
        FakeSession.stacks["dev"] = stack
    stack.config.update({k: ConfigValue(v) for k, v in plain.items()})

    code, summary = run_cli(*argv, json_path=tmp_path / "s.json")

    captured = capsys.readouterr()
    shown = captured.out + captured.err + json.dumps(summary)
    assert code != 0
    assert names in captured.out
    assert secret not in shown
    assert "Traceback" not in shown
