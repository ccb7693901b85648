"""Problems with the stack config and how they read: one key path and one reason each, and
pydantic's errors turned into the same shape. Values that may be secrets are never shown."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from go_platform_core.config.base import CONFIG_NAMESPACE, INT32_MAX, field_aliases, model_in


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the stack config: where, and what."""

    path: str
    message: str
    namespace: str = CONFIG_NAMESPACE

    def __str__(self) -> str:
        return f"{self.namespace}:{self.path}: {self.message}" if self.path else self.message


@dataclass
class ConfigError(Exception):
    """The stack config is invalid; `problems` says where and why."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return f"invalid stack configuration: {self.problems[0]}"
        lines = "\n".join(f"  - {p}" for p in self.problems)
        return f"invalid stack configuration ({len(self.problems)} problems):\n{lines}"


def key_path(loc: tuple[str | int, ...]) -> str:
    """`("services", 0, "resources")` -> `services[0].resources`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part != "[key]":
            path += f".{part}" if path else str(part)
    return path


def validation_problem(error: Mapping[str, Any], root: type[BaseModel]) -> Problem:
    """One of pydantic's errors validating `root`, as a Problem."""
    loc = tuple(error["loc"])
    return Problem(key_path(loc), _message(error, loc, root))


def _message(error: Mapping[str, Any], loc: tuple[str | int, ...], root: type[BaseModel]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = shorten(error.get("input"))
    if kind == "extra_forbidden":
        return unknown_key(str(loc[-1]), _known_keys(loc[:-1], root))
    if kind == "string_type":
        return _not_text(error.get("input"))
    kind_of = value_kind(error.get("input"))
    at_most = f"must be at most {ctx.get('le')}"
    if ctx.get("le") == INT32_MAX:
        at_most += ", the largest number the Kubernetes API takes"
    messages = {
        "missing": "is required",
        "value_error": str(ctx.get("error")),
        "greater_than_equal": f"must be at least {ctx.get('ge')} (got {got})",
        "less_than_equal": f"{at_most} (got {got})",
        "less_than": f"must be below {ctx.get('lt')} (got {got})",
        "greater_than": f"must be above {ctx.get('gt')} (got {got})",
        "literal_error": f"must be one of {ctx.get('expected')} (got {got})",
        "int_parsing": f"must be a whole number (got {got})",
        "int_type": f"must be a whole number (got {got})",
        "int_from_float": f"must be a whole number (got {got})",
        "bool_parsing": f"must be true or false (got {got})",
        "bool_type": f"must be true or false (got {got})",
        "list_type": f"must be a list (got {kind_of})",
        "dict_type": f"must be a mapping of keys to values (got {kind_of})",
        "model_type": f"must be a mapping of keys to values (got {kind_of})",
        "model_attributes_type": f"must be a mapping of keys to values (got {kind_of})",
        "string_too_long": f"must be at most {ctx.get('max_length')} characters (got {got})",
        "string_pattern_mismatch": f"must match {ctx.get('pattern')} (got {got})",
        "too_short": f"must have at least {ctx.get('min_length')} item(s) (got {got})",
        "float_parsing": f"must be a number (got {got})",
        "float_type": f"must be a number (got {got})",
        "finite_number": f"must be a finite number (got {got})",
    }
    return messages.get(kind, error["msg"])


def unknown_key(key: str, known: Sequence[str], otherwise: str = "") -> str:
    """The reason for a key no setting has: the closest of `known`, else `otherwise`, else
    the known keys. Plain or secret, it is said the same way."""
    hint = did_you_mean(key, known, otherwise or "known keys: " + ", ".join(known))
    return f"unknown key ({hint})"


def did_you_mean(word: str, known: Sequence[str], otherwise: str) -> str:
    """`did you mean ...?` with the closest of `known`, else `otherwise`."""
    close = difflib.get_close_matches(word, known, n=1)
    return f"did you mean {close[0]!r}?" if close else otherwise


def value_kind(value: Any) -> str:
    """What YAML or JSON made of a value, without showing it: it may be a secret."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        if value[:1] not in ("[", "{"):
            return "text"
        try:
            json.loads(value)
        except json.JSONDecodeError:
            return "text that is not JSON"
        except (ValueError, RecursionError):
            return "JSON too large to read: a number of over 4,300 digits, or nested too deep"
        # `pulumi config set --path KEY '[10, 50]'` stores the JSON as text, not a list.
        return (
            "JSON in quotes (`pulumi config set --path` stores a value as text): set each "
            "item at its own path, this key's `[0]`, `[1]`, ..., with `--type int` for numbers"
        )
    return "a list" if isinstance(value, list) else "a mapping"


def _not_text(value: Any) -> str:
    """YAML reads `1.10` and `true` as a number and a boolean; turning them back into text
    would not give what the user wrote (`1.1`), so they are refused instead."""
    example = {"a boolean": '`"true"`', "a number": '`"1.10"`, not `1.10`, which YAML reads as 1.1'}
    kind = value_kind(value)
    if kind in example:
        return f"must be text, not {kind}; quote it so YAML keeps it as written ({example[kind]})"
    return f"must be text, not {kind}"


def shorten(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _known_keys(loc: tuple[str | int, ...], root: type[BaseModel]) -> list[str]:
    """The camelCase keys of the model at `loc`, for "did you mean" hints."""
    model: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        fields = {f.alias or name: f for name, f in model.model_fields.items()}
        if part not in fields:
            return []
        model = model_in(fields[part].annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return field_aliases(model)
    return []
