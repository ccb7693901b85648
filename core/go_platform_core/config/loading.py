"""Loading: a stack's config -> validated settings, or one ConfigError listing every problem.

1. pick the environment (the `environment` key, else the stack name) and its profile;
2. lay the profile's defaults under what the stack file says (the stack file wins);
3. validate shapes and types (pydantic), with the rules on which keys are set
   (`presence_problems`); then the rules on values (`rules.rule_problems`).
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterable, Iterator, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ValidationError

from go_platform_core.config.base import (
    CONFIG_NAMESPACE,
    ENVIRONMENTS,
    PROGRAM_NAMESPACES,
    StackConfig,
    field_aliases,
    qualified_key,
)
from go_platform_core.config.errors import (
    ConfigError,
    Problem,
    did_you_mean,
    shorten,
    unknown_key,
    validation_problem,
)
from go_platform_core.config.profiles import PROFILES, with_profile
from go_platform_core.config.root import PlatformSettings
from go_platform_core.config.rules import rule_problems
from go_platform_core.config.services import presence_problems
from go_platform_core.config.types import CONFIG_KEY_FORMAT


def declared_environment(config: StackConfig, *, stack: str) -> str:
    """The environment the config names (`go-platform:environment`), else the stack's name,
    as `load_settings` reads it, but unvalidated: it may name no profile."""
    return config.namespace(CONFIG_NAMESPACE).get("environment", stack)


def load_settings(config: StackConfig, *, stack: str) -> PlatformSettings:
    """Validated settings for `stack`, or a ConfigError listing every problem."""
    ours = config.namespace(CONFIG_NAMESPACE)
    secret_names = {k for k in ours if qualified_key(k) in config.secret_keys}
    settings_keys = set(field_aliases(PlatformSettings))
    problems = [
        Problem(
            key, "holds a secret: keep secrets in keys of their own and name them from `secretEnv`"
        )
        for key in sorted(secret_names & settings_keys)
    ]
    decoded = {k: _decode(v) for k, v in ours.items() if k not in secret_names}
    # Keys the settings name (`secretEnv`, `...Secret`) hold values, not settings, even when
    # (wrongly) set in plain text: that mistake is reported against the name, not as an
    # unknown key.
    named = {qualified_key(k) for k in _config_keys_named(PlatformSettings, decoded)}
    # A secret key of ours is a value only when a setting names it; any other is a mistake
    # (a misspelt setting set with --secret), said as a plain one would be, value unshown.
    unnamed_secrets = [
        Problem(
            key,
            unknown_key(
                key,
                field_aliases(PlatformSettings),
                "a secret key must be named by a setting, as `secretEnv` names secrets",
            ),
        )
        for key in sorted(secret_names - settings_keys)
        if qualified_key(key) not in named
    ]
    raw = {k: v for k, v in decoded.items() if qualified_key(k) not in named or k in settings_keys}
    own = raw.get("configNamespaces")
    extra = {n for n in own if isinstance(n, str)} if isinstance(own, list) else set()
    namespaced = _namespace_problems(config.values, named, extra)
    # Which keys the settings name is known only once they have their shapes: `secretEnv` as
    # a list, `services` as a mapping or `gateway.tls` as text name nothing, and the secret
    # they were meant to name is no unknown key. So a secret key no setting names is reported
    # only when the shapes validate; until then, the shape problems are.
    secret_unread = [p for p in namespaced if f"{p.namespace}:{p.path}" in config.secret_keys]
    once_shaped = [*problems, *unnamed_secrets, *namespaced]
    problems += [p for p in namespaced if p not in secret_unread]

    environment = raw.get("environment", stack)
    if not isinstance(environment, str) or environment not in PROFILES:
        allowed = ", ".join(ENVIRONMENTS)
        if "environment" in raw:
            reason = f"must be one of {allowed} (got {shorten(environment)})"
        else:
            reason = (
                f"is not set, and the stack name {stack!r} is none of {allowed}; "
                "set `go-platform:environment`"
            )
        raise ConfigError([*problems, Problem("environment", reason)])
    raw["environment"] = environment
    profile = PROFILES[environment]

    merged = with_profile(raw, profile)
    presence = presence_problems(merged)
    try:
        settings = PlatformSettings.model_validate(merged)
    except ValidationError as err:
        raise ConfigError(
            [*problems, *presence, *(validation_problem(e, PlatformSettings) for e in err.errors())]
        ) from None
    problems = [*once_shaped, *presence, *rule_problems(settings, profile, config)]
    if problems:
        raise ConfigError(problems)
    return settings


def _config_keys_named(annotation: Any, value: Any) -> Iterator[str]:
    """The config keys `value` names where `annotation` takes a `ConfigKey`.

    `value` is not validated yet: whatever has another shape than `annotation` is passed over.
    """
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        if CONFIG_KEY_FORMAT not in args[1:]:
            yield from _config_keys_named(args[0], value)
        elif isinstance(value, str):
            yield value
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if isinstance(value, Mapping):
            for name, field_info in annotation.model_fields.items():
                alias = field_info.alias or name
                if alias in value:
                    yield from _config_keys_named(field_info.rebuild_annotation(), value[alias])
    elif origin is list:
        for item in value if isinstance(value, list) else []:
            yield from _config_keys_named(args[0], item)
    elif origin is dict:
        for item in value.values() if isinstance(value, Mapping) else []:
            yield from _config_keys_named(args[1], item)
    else:  # a union, or a plain type that names no key
        for arg in args:
            yield from _config_keys_named(arg, value)


def _namespace_problems(
    keys: Iterable[str], named: set[str], extra: set[str] = frozenset()
) -> list[Problem]:
    """Keys under a namespace nothing of the program reads, which would be ignored: most
    often a misspelt `go-platform`. `extra`: the stack's own `configNamespaces`."""
    problems = []
    for key in sorted(keys):
        namespace, colon, name = key.partition(":")
        if colon and namespace not in (*PROGRAM_NAMESPACES, *extra) and key not in named:
            hint = did_you_mean(
                namespace,
                (*PROGRAM_NAMESPACES, *sorted(extra)),
                f"the program reads {', '.join(PROGRAM_NAMESPACES)}; a key elsewhere must be "
                "named by a setting, as `secretEnv` names secrets, or its namespace listed in "
                "`go-platform:configNamespaces`",
            )
            problems.append(
                Problem(name, f"unknown namespace {namespace!r} ({hint})", namespace=namespace)
            )
    return problems


def _decode(text: str) -> Any:
    """Pulumi passes objects and lists as JSON text and scalars as plain text. Text that does
    not decode stays text, and its key is reported as holding text where a list or mapping
    belongs: malformed JSON, a number Python will not read (more than 4,300 digits), or
    brackets nested deeper than the interpreter's recursion limit."""
    if isinstance(text, str) and text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
            return text
    return text
