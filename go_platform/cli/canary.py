"""`canary plan`, `canary promote` and `canary rollback` of one service."""

from __future__ import annotations

from typing import Annotated

import typer

from go_platform.cli.options import (
    BackendOption,
    JsonOption,
    PolicyConfigOption,
    PolicyPackOption,
    ProjectOption,
    SecretsOption,
    ServiceOption,
    SkipPreflightOption,
    StackOption,
    stack_options,
)
from go_platform.cli.root import app, run
from go_platform.driver import canary as commands

canary_app = typer.Typer(
    help="Metric-gated canary promotion of one service.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(canary_app, name="canary")


@canary_app.command("plan", short_help="Print a service's promotion plan and progress.")
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
        lambda: stack_options(stack, backend, secrets_provider, project_dir),
        lambda driver: commands.plan(driver, service),
    )


@canary_app.command("promote", short_help="Move traffic to the canary step by step.")
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
        lambda: stack_options(
            stack, backend, secrets_provider, project_dir, policy_pack, policy_pack_config
        ),
        lambda driver: commands.promote(
            driver,
            service,
            prometheus_url=prometheus_url,
            dry_run=dry_run,
            restart=restart,
            skip_preflight=skip_preflight,
        ),
    )


@canary_app.command("rollback", short_help="Send every request back to stable.")
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
        lambda: stack_options(
            stack, backend, secrets_provider, project_dir, policy_pack, policy_pack_config
        ),
        lambda driver: commands.rollback(driver, service),
    )
