"""The `go-platform` command line (also `python -m go_platform`): argument parsing, the
human output and the JSON summary around each command of `driver.py`.

Exit codes are `exit_codes.ExitCode`: 0 ok, 1 engine/operation failure, 2 drift,
3 mandatory policy violation, 4 preflight failure, 5 canary rolled back, 6 stack locked,
64 bad arguments or invalid stack config. Click's own usage errors (exit 2 by default,
which would read as drift) are mapped to 64.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import typer
from pulumi.automation import CommandError
from rich.console import Console
from rich.markup import escape

# typer vendors click (typer._click) and raises its exceptions, not click's.
from typer._click.exceptions import ClickException
from typer.rich_utils import rich_format_error

from go_platform.driver import Driver, StackOptions, outputs_text
from go_platform.ephemeral import parse_overrides
from go_platform.exit_codes import MEANINGS, DriverError, ExitCode, unexpected, usage_error
from go_platform.summary import RunSummary, summary_path_problem, write_problem, write_summary
from go_platform.workspace import command_error_lines

STACK_NAME = re.compile(r"([A-Za-z0-9_.-]+/){0,2}[A-Za-z0-9_.-]{1,100}")
EPILOG = "Exit codes: " + "; ".join(f"{int(code)} {meaning}" for code, meaning in MEANINGS.items())

app = typer.Typer(
    name="go-platform",
    help="Run go-platform stacks from CI: preview, up, drift, ephemeral stacks, canary promotion.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
ephemeral_app = typer.Typer(
    help="Short-lived stacks (one per pull request) created from a base stack's config.",
    no_args_is_help=True,
)
canary_app = typer.Typer(help="Metric-gated canary promotion of one service.", no_args_is_help=True)
app.add_typer(ephemeral_app, name="ephemeral")
app.add_typer(canary_app, name="canary")

# --- options every stack command shares ------------------------------------------------

StackOption = Annotated[str, typer.Option("--stack", "-s", help="Stack name.", show_default=False)]
BackendOption = Annotated[
    str | None,
    typer.Option(
        help="State backend: file://<absolute path> or s3://<bucket>?region=..&endpoint=..&"
        "s3ForcePathStyle=true. Default: PULUMI_BACKEND_URL, else <project>/.state/backend.",
        show_default=False,
    ),
]
SecretsOption = Annotated[
    str | None,
    typer.Option(
        "--secrets-provider",
        help="For stacks this command creates: passphrase (PULUMI_CONFIG_PASSPHRASE) or a "
        "KMS URL (awskms://...). Existing stacks keep theirs.",
        show_default=False,
    ),
]
ProjectOption = Annotated[
    Path | None,
    typer.Option(
        "--project-dir",
        help="Directory of Pulumi.yaml. Default: the nearest one at or above the current directory.",
        show_default=False,
    ),
]
PolicyPackOption = Annotated[
    Path | None,
    typer.Option(
        "--policy-pack",
        help="Policy pack directory, always attached. Default: <project>/policies.",
        show_default=False,
    ),
]
PolicyConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--policy-pack-config",
        help="Policy config file; default: the pack picks its environment's own.",
        show_default=False,
    ),
]
JsonOption = Annotated[
    str | None,
    typer.Option(
        "--json",
        help="Write the machine summary (JSON) to this path; `-` for stdout, human output "
        "then goes to stderr.",
        show_default=False,
    ),
]
SkipPreflightOption = Annotated[
    bool, typer.Option("--skip-preflight", help="Do not run the preflight checks first.")
]
ServiceOption = Annotated[
    str,
    typer.Option("--service", help="Service (go-platform:services[].name).", show_default=False),
]


def _options(
    stack: str,
    backend: str | None,
    secrets_provider: str | None,
    project_dir: Path | None,
    policy_pack: Path | None = None,
    policy_pack_config: Path | None = None,
    *,
    option: str = "--stack",
) -> StackOptions:
    """The options of a stack command; `option` is the flag that named the stack."""
    if not STACK_NAME.fullmatch(stack):
        raise usage_error(
            f"{option} {stack!r} is not a stack name (letters, digits, '-', '_', '.'; "
            "optionally org/project/stack)"
        )
    return StackOptions(
        stack=stack,
        backend=backend,
        secrets_provider=secrets_provider,
        project_dir=project_dir,
        policy_pack=policy_pack,
        policy_pack_config=policy_pack_config,
    )


def run(
    command: str,
    json_path: str | None,
    options: Callable[[], StackOptions],
    action: Callable[[Driver], None],
) -> None:
    """Run one command: human output, the exit code, and the JSON summary when asked."""
    to_stdout = json_path == "-"
    console = Console(stderr=to_stdout, highlight=False, soft_wrap=True)
    # Where the summary goes is checked first: every other outcome is reported there, and
    # nothing is deployed when it could not be.
    problem = json_path_problem(json_path)
    if problem is not None:
        _print_error(console, usage_error(problem, "nothing was run"))
        raise typer.Exit(int(ExitCode.USAGE))
    summary = RunSummary(command=command)
    started = time.monotonic()
    code = ExitCode.OK
    try:
        try:
            action(Driver(options(), console, summary))
        except CommandError as failure:
            # A CLI call outside an engine operation (config, tags, stack removal) failed.
            raise DriverError(
                ExitCode.FAILED, "pulumi failed:", *command_error_lines(failure)
            ) from None
    except DriverError as error:
        code = error.code
        _print_error(console, error)
        summary.errors += [line for line in error.lines if line not in summary.errors]
    except KeyboardInterrupt:
        code = ExitCode.FAILED
        console.print("[red]interrupted[/red]")
        summary.errors.append("interrupted")
    except Exception as error:  # a bug: still one line, the summary and an exit code
        code = ExitCode.FAILED
        line = unexpected(error)
        _print_error(console, DriverError(code, line))
        summary.errors.append(line)
    summary.exit_code = code
    summary.duration_seconds = time.monotonic() - started
    written = _write_json(summary, json_path, console, command, code) if json_path else True
    if not written and code == ExitCode.OK:
        # CI reads the summary: a success without it is a failure. A failed command keeps
        # its own code, which says more.
        code = ExitCode.FAILED
    raise typer.Exit(int(code))


def json_path_problem(json_path: str | None) -> str | None:
    """What is wrong with `--json PATH`, as the line to print; None when it can be written."""
    if json_path is None or json_path == "-":
        return None
    if not json_path.strip():
        return "--json: give a file path, or - for stdout"
    problem = summary_path_problem(Path(json_path))
    return f"--json {json_path}: {problem}" if problem else None


def _print_error(console: Console, error: DriverError) -> None:
    first, *rest = error.lines or [str(error)]
    console.print(f"[red]error:[/red] {escape(first)}")
    for line in rest:
        console.print(f"  {escape(line)}")


def _write_json(
    summary: RunSummary, json_path: str, console: Console, command: str, code: ExitCode
) -> bool:
    """Write the summary; False (and the reason printed) when it could not be written."""
    if json_path == "-":
        sys.stdout.write(json.dumps(summary.as_json(), indent=2) + "\n")
        sys.stdout.flush()
        return True
    path = Path(json_path)
    try:
        write_summary(summary, path)
    except OSError as error:
        done = f"{command} succeeded, but " if code == ExitCode.OK else ""
        _print_error(
            console,
            DriverError(
                ExitCode.FAILED,
                f"{done}the summary cannot be written to {json_path}: {write_problem(path, error)}",
            ),
        )
        return False
    return True


# --- stack commands --------------------------------------------------------------------


@app.command()
def preview(
    stack: StackOption,
    backend: BackendOption = None,
    secrets_provider: SecretsOption = None,
    project_dir: ProjectOption = None,
    policy_pack: PolicyPackOption = None,
    policy_pack_config: PolicyConfigOption = None,
    json_path: JsonOption = None,
) -> None:
    """Preview the stack's changes with the policy pack attached."""
    run(
        "preview",
        json_path,
        lambda: _options(
            stack, backend, secrets_provider, project_dir, policy_pack, policy_pack_config
        ),
        lambda driver: driver.preview(),
    )


@app.command()
def up(
    stack: StackOption,
    skip_preflight: SkipPreflightOption = False,
    backend: BackendOption = None,
    secrets_provider: SecretsOption = None,
    project_dir: ProjectOption = None,
    policy_pack: PolicyPackOption = None,
    policy_pack_config: PolicyConfigOption = None,
    json_path: JsonOption = None,
) -> None:
    """Preflight, then deploy the stack with the policy pack attached."""
    run(
        "up",
        json_path,
        lambda: _options(
            stack, backend, secrets_provider, project_dir, policy_pack, policy_pack_config
        ),
        lambda driver: driver.up(skip_preflight=skip_preflight),
    )


@app.command()
def destroy(
    stack: StackOption,
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: delete every resource of the stack.")
    ] = False,
    backend: BackendOption = None,
    secrets_provider: SecretsOption = None,
    project_dir: ProjectOption = None,
    json_path: JsonOption = None,
) -> None:
    """Delete every resource of the stack (the stack and its history stay)."""

    def action(driver: Driver) -> None:
        if not yes:
            raise usage_error(f"destroy deletes every resource of stack {stack!r}; pass --yes")
        driver.destroy()

    run(
        "destroy",
        json_path,
        lambda: _options(stack, backend, secrets_provider, project_dir),
        action,
    )


@app.command()
def refresh(
    stack: StackOption,
    backend: BackendOption = None,
    secrets_provider: SecretsOption = None,
    project_dir: ProjectOption = None,
    json_path: JsonOption = None,
    clear_pending_creates: Annotated[
        bool,
        typer.Option(
            "--clear-pending-creates",
            help="Forget the creates an interrupted update left pending (exit 7 names them).",
        ),
    ] = False,
) -> None:
    """Update the state from the resources as they are."""
    run(
        "refresh",
        json_path,
        lambda: _options(stack, backend, secrets_provider, project_dir),
        lambda driver: driver.refresh(clear_pending_creates=clear_pending_creates),
    )


@app.command()
def drift(
    stack: StackOption,
    backend: BackendOption = None,
    secrets_provider: SecretsOption = None,
    project_dir: ProjectOption = None,
    json_path: JsonOption = None,
) -> None:
    """Refresh in preview mode expecting no changes: exit 2 and name each drifted resource."""
    run(
        "drift",
        json_path,
        lambda: _options(stack, backend, secrets_provider, project_dir),
        lambda driver: driver.drift(),
    )


@app.command()
def outputs(
    stack: StackOption,
    show_secrets: Annotated[
        bool, typer.Option("--show-secrets", help="Print secret values.")
    ] = False,
    backend: BackendOption = None,
    secrets_provider: SecretsOption = None,
    project_dir: ProjectOption = None,
    json_path: JsonOption = None,
) -> None:
    """Print the stack's outputs as JSON (secrets masked unless --show-secrets)."""

    def action(driver: Driver) -> None:
        values = driver.outputs(show_secrets=show_secrets)
        if json_path == "-":
            return
        sys.stdout.write(outputs_text(values) + "\n")

    run(
        "outputs",
        json_path,
        lambda: _options(stack, backend, secrets_provider, project_dir),
        action,
    )


@app.command("preflight")
def preflight_command(
    stack: StackOption,
    backend: BackendOption = None,
    secrets_provider: SecretsOption = None,
    project_dir: ProjectOption = None,
    json_path: JsonOption = None,
) -> None:
    """Check the cluster, API groups, S3 buckets and secrets the stack needs; deploy nothing."""
    run(
        "preflight",
        json_path,
        lambda: _options(stack, backend, secrets_provider, project_dir),
        lambda driver: driver.run_preflight_only(),
    )


# --- ephemeral stacks ------------------------------------------------------------------

NameOption = Annotated[
    str, typer.Option("--name", help="Ephemeral stack name, e.g. pr-123.", show_default=False)
]


@ephemeral_app.command("up")
def ephemeral_up(
    name: NameOption,
    base: Annotated[str, typer.Option("--base", help="Stack whose config is copied.")] = "dev",
    config: Annotated[
        list[str] | None,
        typer.Option("--config", "-c", help="KEY=VALUE set after the copy (repeatable)."),
    ] = None,
    skip_preflight: SkipPreflightOption = False,
    backend: BackendOption = None,
    secrets_provider: SecretsOption = None,
    project_dir: ProjectOption = None,
    policy_pack: PolicyPackOption = None,
    policy_pack_config: PolicyConfigOption = None,
    json_path: JsonOption = None,
) -> None:
    """Create (or update) stack NAME from BASE's config and deploy it."""

    def action(driver: Driver) -> None:
        driver.ephemeral_up(
            base=base, overrides=parse_overrides(config or []), skip_preflight=skip_preflight
        )

    run(
        "ephemeral up",
        json_path,
        lambda: _options(
            name,
            backend,
            secrets_provider,
            project_dir,
            policy_pack,
            policy_pack_config,
            option="--name",
        ),
        action,
    )


@ephemeral_app.command("down")
def ephemeral_down(
    name: NameOption,
    force: Annotated[
        bool, typer.Option("--force", help="Also destroy a stack `ephemeral up` did not create.")
    ] = False,
    backend: BackendOption = None,
    secrets_provider: SecretsOption = None,
    project_dir: ProjectOption = None,
    json_path: JsonOption = None,
) -> None:
    """Destroy stack NAME and remove it (nothing to do when it does not exist)."""
    run(
        "ephemeral down",
        json_path,
        lambda: _options(name, backend, secrets_provider, project_dir, option="--name"),
        lambda driver: driver.ephemeral_down(force=force),
    )


# --- canary ----------------------------------------------------------------------------


@canary_app.command("plan")
def canary_plan(
    stack: StackOption,
    service: ServiceOption,
    backend: BackendOption = None,
    secrets_provider: SecretsOption = None,
    project_dir: ProjectOption = None,
    json_path: JsonOption = None,
) -> None:
    """Print the service's promotion plan, its timings and any recorded progress."""
    run(
        "canary plan",
        json_path,
        lambda: _options(stack, backend, secrets_provider, project_dir),
        lambda driver: driver.canary_plan(service),
    )


@canary_app.command("promote")
def canary_promote(
    stack: StackOption,
    service: ServiceOption,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and timings; change nothing.")
    ] = False,
    restart: Annotated[
        bool,
        typer.Option("--restart", help="Start over from step 1 instead of resuming."),
    ] = False,
    prometheus_url: Annotated[
        str | None,
        typer.Option(
            "--prometheus-url",
            help="Prometheus to query. Default: the stack output observability.prometheusUrl.",
            show_default=False,
        ),
    ] = None,
    skip_preflight: SkipPreflightOption = False,
    backend: BackendOption = None,
    secrets_provider: SecretsOption = None,
    project_dir: ProjectOption = None,
    policy_pack: PolicyPackOption = None,
    policy_pack_config: PolicyConfigOption = None,
    json_path: JsonOption = None,
) -> None:
    """Move traffic to the canary step by step while it stays healthy; promote or roll back."""
    run(
        "canary promote",
        json_path,
        lambda: _options(
            stack, backend, secrets_provider, project_dir, policy_pack, policy_pack_config
        ),
        lambda driver: driver.canary_promote(
            service,
            prometheus_url=prometheus_url,
            dry_run=dry_run,
            restart=restart,
            skip_preflight=skip_preflight,
        ),
    )


@canary_app.command("rollback")
def canary_rollback(
    stack: StackOption,
    service: ServiceOption,
    backend: BackendOption = None,
    secrets_provider: SecretsOption = None,
    project_dir: ProjectOption = None,
    policy_pack: PolicyPackOption = None,
    policy_pack_config: PolicyConfigOption = None,
    json_path: JsonOption = None,
) -> None:
    """Send every request back to stable (canary weight 0) and record the rollback."""
    run(
        "canary rollback",
        json_path,
        lambda: _options(
            stack, backend, secrets_provider, project_dir, policy_pack, policy_pack_config
        ),
        lambda driver: driver.canary_rollback(service),
    )


# --- entry point -----------------------------------------------------------------------


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: returns the exit code instead of raising SystemExit."""
    # CI cancels a job with SIGTERM: end like Ctrl-C, so the summary is still written.
    signal.signal(signal.SIGTERM, _interrupt)
    command = typer.main.get_command(app)
    try:
        result = command.main(
            args=list(sys.argv[1:] if argv is None else argv),
            prog_name="go-platform",
            standalone_mode=False,
        )
    except ClickException as error:
        # Click's usage errors exit 2, which CI would read as drift.
        rich_format_error(error)
        return int(ExitCode.USAGE)
    except typer.Abort:
        return int(ExitCode.FAILED)
    return int(result) if isinstance(result, int) else int(ExitCode.OK)
