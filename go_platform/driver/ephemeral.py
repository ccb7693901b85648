"""`ephemeral up` and `ephemeral down`: a short-lived stack made from a base stack's config
(the naming rules and the config it gets are `go_platform.ephemeral`'s), deployed and
destroyed by the stack commands.
"""

from __future__ import annotations

from pulumi import automation as auto

from go_platform import canary as canary_machine
from go_platform import ephemeral
from go_platform.driver import stack as stack_commands
from go_platform.driver.core import Driver
from go_platform.exit_codes import usage_error
from go_platform.workspace import check_stack_name


def up(driver: Driver, *, base: str, overrides: dict[str, str], skip_preflight: bool) -> None:
    name = ephemeral.check_name(driver.options.stack, base=base)
    check_stack_name(base, project=driver.project, option="--base")
    driver.policy_args()  # a bad --policy-pack is refused before the stack is created
    session = driver.session
    base_stack = session.select(base)
    if session.stack_exists(name):
        stack = session.select(name)
        tags = stack.list_tags()
        if tags.get(ephemeral.BASE_TAG) is None:
            raise usage_error(
                f"stack {name!r} exists and is not an ephemeral stack; choose another name"
            )
        driver.console.print(f"ephemeral: updating {name!r} (from {tags[ephemeral.BASE_TAG]})")
    else:
        stack = session.create(name)
        stack.set_tag(ephemeral.BASE_TAG, base)
        driver.console.print(f"ephemeral: created {name!r} from {base!r}")
    # `config cp` re-encrypts secrets for the new stack; none travel on a command line.
    session.run_cli("config", "cp", "--stack", base_stack.name, "--dest", name)
    base_config = session.stack_config(base_stack).values
    # A promotion in progress on the base is the base's, not the copy's.
    canary_keys = [k for k in base_config if k.startswith(f"{canary_machine.STATE_NAMESPACE}:")]
    if canary_keys:
        stack.remove_all_config(canary_keys)
    plain = {**ephemeral.added_config(base_config, base), **overrides}
    if plain:
        stack.set_all_config({k: auto.ConfigValue(v) for k, v in plain.items()})
    stack_commands.up(driver, skip_preflight=skip_preflight, stack=stack)


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
