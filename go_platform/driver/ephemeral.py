"""`ephemeral up` and `ephemeral down`: a short-lived stack made from a base stack's config
(the naming rules and the config it gets are `go_platform.ephemeral`'s), deployed and
destroyed by the stack commands.
"""

from __future__ import annotations

from pulumi import automation as auto

from go_platform import ephemeral, interrupt
from go_platform.driver import stack as stack_commands
from go_platform.driver.core import Driver
from go_platform.exit_codes import usage_error
from go_platform.redact import sensitive_values
from go_platform.workspace import check_stack_name, stack_short_name
from go_platform_core.config import StackConfig


def up(driver: Driver, *, base: str, overrides: dict[str, str], skip_preflight: bool) -> None:
    """Create (or update) the ephemeral stack from `base` and deploy it. The config it would
    have is validated first: nothing is created, tagged or written for a bad base config or
    a bad `--config` (which would otherwise stay in the stack and fail every rerun)."""
    check_stack_name(base, project=driver.project, option="--base")
    # `organization/go-platform/dev` is the stack `dev`: its name picks the environment.
    base_name = stack_short_name(base)
    name = ephemeral.check_name(driver.options.stack, base=base_name)
    driver.policy_args()  # a bad --policy-pack is refused before the stack is created
    session = driver.session
    base_stack = session.select(base)
    base_config = session.stack_config(base_stack)
    existing = session.select(name) if session.stack_exists(name) else None
    tags = existing.list_tags() if existing is not None else {}
    if existing is not None and tags.get(ephemeral.BASE_TAG) is None:
        raise usage_error(
            f"stack {name!r} exists and is not an ephemeral stack; choose another name"
        )
    if driver.is_go_platform:
        current = session.stack_config(existing) if existing is not None else None
        planned = ephemeral.planned_config(base_config, base_name, overrides, current)
        driver.validated(planned, stack=name, hidden=override_values(overrides))
        shared = ephemeral.shared_cluster_problem(base_config.values, planned.values, name)
        if shared:
            raise usage_error(shared)
    if existing is not None:
        stack = existing
        driver.console.print(f"ephemeral: updating {name!r} (from {tags[ephemeral.BASE_TAG]})")
    else:
        interrupt.raise_if_requested()  # a cancelled job creates no stack
        stack = session.create(name)
        stack.set_tag(ephemeral.BASE_TAG, base)
        driver.console.print(f"ephemeral: created {name!r} from {base!r}")
    # `config cp` re-encrypts secrets for the new stack; none travel on a command line.
    session.run_cli("config", "cp", "--stack", base_stack.name, "--dest", name)
    canary_keys = ephemeral.promotion_keys(base_config.values)
    if canary_keys:
        stack.remove_all_config(canary_keys)
    plain = ephemeral.plain_config(base_config.values, base_name, overrides)
    if plain:
        secrets = ephemeral.secret_overrides(base_config, overrides)
        stack.set_all_config(
            {k: auto.ConfigValue(v, secret=k in secrets) for k, v in plain.items()}
        )
    stack_commands.up(driver, skip_preflight=skip_preflight, stack=stack)


def override_values(overrides: dict[str, str]) -> frozenset[str]:
    """The `--config` values (and their JSON leaves) no message may show: any may be a
    secret, as `redact.sensitive_values` takes a secret key's."""
    return sensitive_values(StackConfig(values=overrides, secret_keys=frozenset(overrides)))


def down(driver: Driver, *, force: bool) -> None:
    name = ephemeral.check_name(driver.options.stack, base="")
    session = driver.session
    if not session.stack_exists(name):
        driver.console.print(f"ephemeral: no stack {name!r}; nothing to destroy")
        return
    stack = session.select(name)
    if stack.list_tags().get(ephemeral.BASE_TAG) is None and not force:
        raise usage_error(
            f"stack {name!r} has no {ephemeral.BASE_TAG} tag: it was not created by "
            "`ephemeral up`; pass --force to destroy it anyway"
        )
    stack_commands.destroy(driver, stack=stack)
    session.remove_stack(name)
    driver.console.print(f"ephemeral: stack {name!r} destroyed and removed")
