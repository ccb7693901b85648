"""The stack commands: preview, up, destroy, refresh, drift, outputs and preflight, each a
function of the `Driver` (`core.py`) of one stack. `ephemeral.py` builds on `up` and
`destroy`.

Every operation passes the SDK `show_secrets=False`: after it, the SDK reads the update's
summary (`stack history`), which the driver does not use, and would otherwise decrypt the
stack's secrets for it (a passphrase key derivation, about 0.3 s of CPU, per command).
"""

from __future__ import annotations

import json
from typing import Any

from pulumi import automation as auto

from go_platform.drift import drifted_resources
from go_platform.driver.core import Driver
from go_platform.exit_codes import DriverError, ExitCode
from go_platform.workspace import command_error_lines, is_lock_conflict, lock_error


def preview(driver: Driver) -> None:
    policies = driver.policy_args()  # a bad pack or pack config: refused before the stack is made
    stack = driver.session.select_or_create_declared()
    driver.settings(stack)
    expected = driver.session.state(stack).resources
    with driver.session.dry_run():
        driver.engine(
            "preview",
            stack,
            lambda on_event: stack.preview(
                on_event=on_event, color="never", diff=False, **policies
            ),
            expected=expected,
        )


def up(
    driver: Driver,
    *,
    skip_preflight: bool = False,
    refresh: bool = False,
    stack: auto.Stack | None = None,
) -> None:
    policies = driver.policy_args()  # a bad pack or pack config: refused before the stack is made
    stack = stack or driver.session.select_or_create_declared()
    settings, config = driver.settings(stack)
    if skip_preflight:
        driver.console.print("preflight: skipped (--skip-preflight)")
    else:
        driver.preflight(settings, config)
    driver.deploy(stack, "up", policies, refresh=refresh)
    outputs = driver.record_outputs(stack)
    if outputs:
        driver.console.print(f"outputs: {', '.join(sorted(outputs))}")


def destroy(driver: Driver, *, stack: auto.Stack | None = None) -> None:
    stack = stack or driver.session.select()
    driver.target_cluster(stack)
    state = driver.refuse_pending(stack)
    driver.engine(
        "destroy",
        stack,
        lambda on_event: stack.destroy(on_event=on_event, color="never", show_secrets=False),
        expected=state.resources,
    )


def refresh(driver: Driver, *, clear_pending_creates: bool = False) -> None:
    stack = driver.session.select()
    driver.target_cluster(stack)
    driver.engine(
        "refresh",
        stack,
        lambda on_event: stack.refresh(
            on_event=on_event,
            color="never",
            clear_pending_creates=clear_pending_creates,
            show_secrets=False,
        ),
        expected=driver.session.state(stack).resources,
    )


def drift(driver: Driver) -> None:
    """A refresh in preview mode that expects no changes; DRIFT naming what changed."""
    stack = driver.session.select()
    driver.target_cluster(stack)
    expected = driver.session.state(stack).resources
    with driver.session.dry_run():
        tracker, error = driver.run_operation(
            "drift",
            stack,
            lambda on_event: stack.preview_refresh(
                on_event=on_event, color="never", expect_no_changes=True, show_secrets=False
            ),
            expected=expected,
        )
    if error is not None and is_lock_conflict(error):
        raise lock_error(stack.name, error)
    drifted = drifted_resources(tracker.finished_steps)
    driver.summary.drift = [resource.as_json() for resource in drifted]
    changed = sum((tracker.operations or {}).get(op, 0) for op in ("update", "delete"))
    if tracker.errors:
        # The check did not finish: exit 2 would tell CI the stack was read and differs.
        # The engine reports expected changes on its stderr, never as an error diagnostic.
        found = (
            [f"before that, it found drift in {len(drifted)} resource(s):"]
            + [resource.line() for resource in drifted]
            if drifted
            else []
        )
        raise DriverError(ExitCode.FAILED, "drift check failed:", *tracker.errors, *found)
    if drifted:
        raise DriverError(
            ExitCode.DRIFT,
            f"drift: {len(drifted)} resource(s) of stack {stack.name!r} changed outside Pulumi:",
            *[resource.line() for resource in drifted],
        )
    if changed:
        raise DriverError(
            ExitCode.DRIFT,
            f"drift: {changed} resource(s) of stack {stack.name!r} changed outside Pulumi "
            "(the engine did not name them; run `go-platform refresh` to see the diff)",
        )
    if error is not None:
        raise DriverError(
            ExitCode.FAILED,
            "drift check failed:",
            *(tracker.errors or command_error_lines(error)),
        )
    driver.console.print(f"drift: none; stack {stack.name!r} matches its resources")


def outputs(driver: Driver, *, show_secrets: bool = False) -> dict[str, Any]:
    stack = driver.session.select()
    masked = driver.record_outputs(stack)
    if not show_secrets:
        return masked
    return {key: value.value for key, value in stack.outputs().items()}


def preflight(driver: Driver) -> None:
    stack = driver.session.select_or_create_declared()
    settings, config = driver.settings(stack)
    driver.preflight(settings, config)


def outputs_text(outputs: dict[str, Any]) -> str:
    return json.dumps(outputs, indent=2, sort_keys=True)
