"""The options the commands share, and the `StackOptions` they make."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from go_platform.driver import StackOptions
from go_platform.workspace import check_stack_name_form

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
RefreshOption = Annotated[
    bool,
    typer.Option(
        "--refresh",
        help="Read the resources first, so what was changed outside Pulumi (drift) is put "
        "back to what the program declares, as `make up` does.",
    ),
]
ServiceOption = Annotated[
    str,
    typer.Option("--service", help="Service (go-platform:services[].name).", show_default=False),
]


def stack_options(
    stack: str,
    backend: str | None,
    secrets_provider: str | None,
    project_dir: Path | None,
    policy_pack: Path | None = None,
    policy_pack_config: Path | None = None,
    *,
    option: str = "--stack",
    secrets_like: str | None = None,
) -> StackOptions:
    """The options of a stack command; `option` is the flag that named the stack,
    `secrets_like` the stack whose secrets provider a stack it creates takes."""
    check_stack_name_form(stack, option=option)
    return StackOptions(
        stack=stack,
        backend=backend,
        secrets_provider=secrets_provider,
        project_dir=project_dir,
        policy_pack=policy_pack,
        policy_pack_config=policy_pack_config,
        stack_option=option,
        secrets_like=secrets_like,
    )
