"""The stack commands: preview, up, destroy, refresh, drift, outputs, preflight."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from go_platform.cli.options import (
    BackendOption,
    JsonOption,
    PolicyConfigOption,
    PolicyPackOption,
    ProjectOption,
    RefreshOption,
    SecretsOption,
    SkipPreflightOption,
    StackOption,
    stack_options,
)
from go_platform.cli.root import app, run
from go_platform.driver import Driver
from go_platform.driver import stack as commands
from go_platform.exit_codes import usage_error


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
        lambda: stack_options(
            stack, backend, secrets_provider, project_dir, policy_pack, policy_pack_config
        ),
        commands.preview,
    )


@app.command()
def up(
    stack: StackOption,
    skip_preflight: SkipPreflightOption = False,
    refresh: RefreshOption = False,
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
        lambda: stack_options(
            stack, backend, secrets_provider, project_dir, policy_pack, policy_pack_config
        ),
        lambda driver: commands.up(driver, skip_preflight=skip_preflight, refresh=refresh),
    )


@app.command(short_help="Delete every resource of the stack.")
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
        commands.destroy(driver)

    run(
        "destroy",
        json_path,
        lambda: stack_options(stack, backend, secrets_provider, project_dir),
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
        lambda: stack_options(stack, backend, secrets_provider, project_dir),
        lambda driver: commands.refresh(driver, clear_pending_creates=clear_pending_creates),
    )


@app.command(short_help="Exit 2 and name each resource changed outside Pulumi.")
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
        lambda: stack_options(stack, backend, secrets_provider, project_dir),
        commands.drift,
    )


@app.command(short_help="Print the stack's outputs as JSON.")
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
        values = commands.outputs(driver, show_secrets=show_secrets)
        # With `--json -` the summary has standard output, and the human output goes to
        # standard error, as in every command.
        human = sys.stderr if json_path == "-" else sys.stdout
        human.write(commands.outputs_text(values) + "\n")

    run(
        "outputs",
        json_path,
        lambda: stack_options(stack, backend, secrets_provider, project_dir),
        action,
    )


@app.command("preflight", short_help="Check what the stack needs; deploy nothing.")
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
        lambda: stack_options(stack, backend, secrets_provider, project_dir),
        commands.preflight,
    )
