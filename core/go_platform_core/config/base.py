"""What every part of the config shares: the namespaces the program reads, the environments,
the rules stated above the config reference, the base model, and the stack's config as the
program receives it."""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

CONFIG_NAMESPACE = "go-platform"
PROVIDER_NAMESPACES = ("kubernetes", "docker", "random")
"""Config namespaces of the provider packages the program uses (their own settings)."""
CANARY_STATE_NAMESPACE = "go-platform-canary"
"""Where the CI driver records canary promotions (`go_platform.canary.STATE_NAMESPACE`)."""
PROGRAM_NAMESPACES = (CONFIG_NAMESPACE, CANARY_STATE_NAMESPACE, "pulumi", *PROVIDER_NAMESPACES)
"""Every namespace something of the project reads; a key under another is a mistake
unless a setting names it (a secret for `secretEnv`)."""
ENVIRONMENTS = ("local", "dev", "staging", "prod")
Environment = Literal["local", "dev", "staging", "prod"]


INT32_MAX = 2**31 - 1
"""The largest whole number the Kubernetes API takes: its integers are int32."""


RULES = (
    "Keys are camelCase. An unknown key is an error that names the closest known one, set "
    "in plain text or as a secret: a secret key under `go-platform` must be one a setting "
    "names, as `secretEnv` names secrets.",
    "A key under a namespace nothing of go-platform reads is an error (it reads "
    f"{', '.join(f'`{n}`' for n in PROGRAM_NAMESPACES)}), unless a setting names it as a "
    "config key, as `secretEnv` names secrets.",
    "Integers are written as numbers: `true` and `false` are refused, not read as 1 and 0. "
    f"None may exceed {INT32_MAX}, the Kubernetes API's limit; the type column gives "
    "each key's range.",
    'Text is quoted where YAML would read a number or a boolean (`"1.10"`, `"true"`): '
    "a number or boolean where text belongs is refused, never converted. Quantities are the "
    "exception, as in a Kubernetes manifest: `cpu: 2` is the quantity `2`. An unquoted date "
    "in `env`, a build's `args` or `tag` is refused too: YAML reads `2024-01-01` as a "
    "timestamp, which reaches the program as `2024-01-01 00:00:00 +0000 UTC`.",
    "A URL or endpoint carrying a user or password (`https://user:password@host`) is refused "
    "without showing it: settings are stored and deployed in plain text. Where a setting "
    "takes a secret config key for the credential, the error names it.",
    "The formats the type column names are defined below the table.",
)
"""Rules for every key; the config reference states them above its table."""


class CamelModel(BaseModel):
    """Stack YAML keys (and policy config keys) are camelCase; unknown keys are errors,
    never ignored."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
    )


@dataclass(frozen=True)
class StackConfig:
    """A stack's config as the program receives it: `namespace:key` -> text."""

    values: Mapping[str, str]
    secret_keys: frozenset[str] = frozenset()
    project_dir: Path = field(default_factory=Path.cwd)
    """Where relative paths in the config start (the directory of Pulumi.yaml)."""

    def namespace(self, namespace: str) -> dict[str, str]:
        prefix = f"{namespace}:"
        return {k.removeprefix(prefix): v for k, v in self.values.items() if k.startswith(prefix)}


def qualified_key(key: str) -> str:
    """`key` with the go-platform namespace when it names none."""
    return key if ":" in key else f"{CONFIG_NAMESPACE}:{key}"


def within_domain(host: str, domain: str) -> bool:
    """Whether `host` is `domain` or a name below it."""
    return host == domain or host.endswith(f".{domain}")


def model_in(annotation: Any) -> Any:
    """The pydantic model inside `X | None`, `list[X]` or `dict[str, X]`, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = model_in(arg)
        if found is not None:
            return found
    return None


def field_aliases(model: type[BaseModel]) -> list[str]:
    """The camelCase keys a stack file uses for `model`'s fields."""
    return [f.alias or name for name, f in model.model_fields.items()]
