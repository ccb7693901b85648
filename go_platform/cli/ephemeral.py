"""`ephemeral up` and `ephemeral down`: short-lived stacks made from a base stack's config."""

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
    SkipPreflightOption,
    stack_options,
)
from go_platform.cli.root import app, run
from go_platform.driver import Driver
from go_platform.driver import ephemeral as commands
from go_platform.ephemeral import parse_overrides

ephemeral_app = typer.Typer(
    help="Short-lived stacks (one per pull request) created from a base stack's config.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(
    ephemeral_app, name="ephemeral", short_help="Short-lived stacks, one per pull request."
)


NameOption = Annotated[
    str, typer.Option("--name", help="Ephemeral stack name, e.g. pr-123.", show_default=False)
]


@ephemeral_app.command(
    "up", short_help="Create or update stack NAME from BASE's config; deploy it."
)
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
        commands.up(
            driver,
            base=base,
            overrides=parse_overrides(config or []),
            skip_preflight=skip_preflight,
        )

    run(
        "ephemeral up",
        json_path,
        lambda: stack_options(
            name,
            backend,
            secrets_provider,
            project_dir,
            policy_pack,
            policy_pack_config,
            option="--name",
            secrets_like=base,
        ),
        action,
    )


@ephemeral_app.command("down", short_help="Destroy and remove stack NAME.")
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
        lambda: stack_options(name, backend, secrets_provider, project_dir, option="--name"),
        lambda driver: commands.down(driver, force=force),
    )
