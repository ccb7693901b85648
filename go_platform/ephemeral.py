"""Short-lived stacks, one per pull request: created from a base stack's config, destroyed
and removed after.

Names are checked before anything happens: lower-case letters, digits and `-`, starting
with a letter (they become Kubernetes names), and never an environment's name, so
`ephemeral down` can never reach `prod`. The stack is tagged with its base; `down`
refuses a stack without that tag.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from go_platform.exit_codes import usage_error
from go_platform_core.config import (
    CANARY_STATE_NAMESPACE,
    CONFIG_NAMESPACE,
    ENVIRONMENTS,
    StackConfig,
)

NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
MAX_NAME = 40
BASE_TAG = "go-platform:ephemeral-base"
"""Stack tag naming the base stack an ephemeral stack was created from."""
ENVIRONMENT_KEY = f"{CONFIG_NAMESPACE}:environment"


def check_name(name: str, *, base: str) -> str:
    """`name` when it can name an ephemeral stack; else one usage error saying why."""
    rule = (
        "lower-case letters, digits and '-', starting with a letter and ending with a "
        f"letter or digit, at most {MAX_NAME} characters (e.g. pr-123)"
    )
    if not NAME.fullmatch(name) or len(name) > MAX_NAME:
        raise usage_error(f"ephemeral stack name {name!r} is invalid: use {rule}")
    if name in ENVIRONMENTS:
        raise usage_error(
            f"ephemeral stack name {name!r} is an environment's stack; give the ephemeral "
            "stack a name of its own (e.g. pr-123)"
        )
    if name == base:
        raise usage_error(f"ephemeral stack name {name!r} is the base stack's name")
    return name


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """`--config key=value` options as a mapping; keys without a namespace are go-platform's.

    A bad one is named by its position, never shown: its value may be a secret."""
    overrides = {}
    for number, pair in enumerate(pairs, start=1):
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            what = "has no '='" if not equals else "has no key before '='"
            raise usage_error(
                f"--config (the {_ordinal(number)} one) {what}: write KEY=VALUE "
                "(e.g. go-platform:namespace=pr-123)"
            )
        key = key.strip()
        overrides[key if ":" in key else f"{CONFIG_NAMESPACE}:{key}"] = value
    return overrides


def added_config(base_config: Mapping[str, object], base: str) -> dict[str, str]:
    """Plain keys an ephemeral stack needs beyond a copy of the base's config: the base's
    environment, which a stack named after its environment leaves implicit."""
    if ENVIRONMENT_KEY in base_config or base not in ENVIRONMENTS:
        return {}
    return {ENVIRONMENT_KEY: base}


def promotion_keys(base_config: Mapping[str, object]) -> list[str]:
    """The base's canary promotion state, which the copy leaves out: a promotion in progress
    on the base is the base's, not the ephemeral stack's."""
    return [key for key in base_config if key.startswith(f"{CANARY_STATE_NAMESPACE}:")]


def plain_config(
    base_config: Mapping[str, object], base: str, overrides: Mapping[str, str]
) -> dict[str, str]:
    """What `ephemeral up` sets in plain text after the copy: `added_config`, then the
    `--config` overrides, which win."""
    return {**added_config(base_config, base), **overrides}


def secret_overrides(base_config: StackConfig, overrides: Mapping[str, str]) -> frozenset[str]:
    """The `--config` keys the base holds as secrets: written as secrets too, so an
    override never turns a secret of the base into plain text in the new stack's file."""
    return frozenset(overrides) & base_config.secret_keys


def planned_config(
    base_config: StackConfig,
    base: str,
    overrides: Mapping[str, str],
    current: StackConfig | None = None,
) -> StackConfig:
    """The config the ephemeral stack will have once `ephemeral up` has written it: its own
    (`current`, on a rerun), the base's copied over it without the base's promotion state,
    then `plain_config`. Validated before anything is created or written, so a bad base or
    a bad `--config` leaves no stack, no stack file, and no value behind."""
    values = dict(current.values) if current is not None else {}
    secret = set(current.secret_keys) if current is not None else set()
    values.update(base_config.values)
    secret = (secret - base_config.values.keys()) | base_config.secret_keys
    for key in promotion_keys(base_config.values):
        values.pop(key, None)
        secret.discard(key)
    plain = plain_config(base_config.values, base, overrides)
    values.update(plain)
    return StackConfig(
        values=values,
        secret_keys=frozenset(secret - plain.keys()) | secret_overrides(base_config, overrides),
        project_dir=base_config.project_dir,
    )


CLUSTER_KEYS = ("kubernetes:context", "kubernetes:kubeconfig", "kubernetes:cluster")
"""The kubernetes provider's settings that pick the cluster a stack deploys to."""


def shared_cluster_problem(
    base_config: Mapping[str, object], planned: Mapping[str, object], name: str
) -> str | None:
    """Why `name` may not deploy where its base does, or None when it goes elsewhere.

    go-platform's program creates objects every stack of it on a cluster shares by name:
    the definitions, the ClusterIssuers, the gateway's, module proxy's and observability's
    namespaces and what is in them. An ephemeral stack on its base's cluster would take
    them over, and `ephemeral down` would delete them under the base. A stack that sets
    none of CLUSTER_KEYS differently from its base goes to the base's cluster."""
    if any(planned.get(key) != base_config.get(key) for key in CLUSTER_KEYS):
        return None
    return (
        f"ephemeral stack {name!r} would deploy to its base's cluster (it sets none of "
        f"{', '.join(CLUSTER_KEYS)} otherwise), where the definitions, the ClusterIssuers "
        "and the gateway's, module proxy's and observability's namespaces are the base's "
        "own objects: `ephemeral down` would delete them. Give it a cluster of its own, "
        "e.g. --config kubernetes:context=pr-clusters"
    )


def _ordinal(number: int) -> str:
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"
