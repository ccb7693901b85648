"""The pack's config files: enforcement level and settings of each policy per environment.

`policies/config/<env>.json` has the format of `pulumi preview --policy-pack-config`:
policy name -> an enforcement level (`"mandatory"`), or an object with an optional
`enforcementLevel` and the policy's settings (camelCase). The pack also loads the file of
the stack's environment by itself, as its initial config: the engine passes the stack's
config to the pack (`PULUMI_CONFIG`), whose `go-platform:environment` (else the stack name)
picks the file. A stack of no known environment gets `prod`, the strictest.

A config file is checked whole before use; every problem names its key path
(`image-registry-allowed.allowedRegistries[0]`). `python -m go_platform_policies.pack_config
FILE...` runs the same check from a shell, for CI and before committing a change.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi_policy import EnforcementLevel, Policy, ResourceValidationPolicy

from go_platform_policies import POLICIES
from go_platform_policies.core import SETTINGS_MODELS
from go_platform_policies.settings import SettingsProblem, json_word, settings_problems
from go_platform_policies.shared import ENVIRONMENTS

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"
STRICTEST_ENVIRONMENT = "prod"
LEVELS = {level.value: level for level in EnforcementLevel}
ALL_POLICIES = "all"


@dataclass
class PolicyConfigError(Exception):
    """A config file is unusable; `problems` says where and why."""

    source: str
    problems: list[SettingsProblem] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{p}" if p.path else p.message for p in self.problems]
        if len(lines) == 1:
            return f"invalid policy config {self.source}: {lines[0]}"
        listed = "\n".join(f"  - {line}" for line in lines)
        return f"invalid policy config {self.source} ({len(lines)} problems):\n{listed}"


def config_problems(document: Any, policies: Sequence[Policy] = POLICIES) -> list[SettingsProblem]:
    """Every problem of a config document, each with its key path."""
    if not isinstance(document, Mapping):
        return [
            SettingsProblem(
                "", "must be a JSON object: policy name -> enforcement level or settings"
            )
        ]
    by_name = {p.name: p for p in policies}
    problems: list[SettingsProblem] = []
    for name, value in document.items():
        if name != ALL_POLICIES and name not in by_name:
            close = difflib.get_close_matches(name, list(by_name), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "see docs/policies.md"
            problems.append(SettingsProblem(name, f"no such policy in the pack ({hint})"))
            continue
        policy = by_name.get(name)
        if isinstance(value, str):
            problems += _level_problems(name, value, policy)
        elif isinstance(value, Mapping):
            settings = dict(value)
            if "enforcementLevel" in settings:
                problems += _level_problems(
                    f"{name}.enforcementLevel", settings.pop("enforcementLevel"), policy
                )
            if policy is None:
                problems += [
                    SettingsProblem(f"{name}.{key}", "`all` takes only enforcementLevel")
                    for key in settings
                ]
            else:
                problems += [
                    SettingsProblem(f"{name}.{p.path}" if p.path else name, p.message)
                    for p in settings_problems(SETTINGS_MODELS[name], settings)
                ]
        else:
            problems.append(
                SettingsProblem(
                    name, f"must be an enforcement level or an object (got {json_word(value)})"
                )
            )
    return problems


def _level_problems(path: str, level: Any, policy: Policy | None) -> list[SettingsProblem]:
    # Text first: a list or an object is no level, and `in` would fail on it (unhashable).
    if not isinstance(level, str) or level not in LEVELS:
        return [
            SettingsProblem(path, f"must be one of {', '.join(LEVELS)} (got {json_word(level)})")
        ]
    can_remediate = isinstance(policy, ResourceValidationPolicy) and policy.has_remediation()
    if level == EnforcementLevel.REMEDIATE.value and policy is not None and not can_remediate:
        return [SettingsProblem(path, "this policy has no remediation; use mandatory")]
    return []


def load_config(path: Path) -> dict[str, Any]:
    """The config document in `path`, checked; PolicyConfigError lists every problem."""
    document = _parse(path, _read(path))
    problems = config_problems(document)
    if problems:
        raise PolicyConfigError(str(path), problems)
    return document


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise PolicyConfigError(
            str(path), [SettingsProblem("", f"cannot be read ({err.strerror})")]
        ) from None
    except UnicodeDecodeError as err:
        problem = SettingsProblem("", f"is not UTF-8 text (byte {err.start}: {err.reason})")
        raise PolicyConfigError(str(path), [problem]) from None


def _parse(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        message = f"is not JSON (line {err.lineno}, column {err.colno}: {err.msg})"
    except ValueError:
        # JSON that Python does not read: an integer longer than its conversion limit.
        digits = sys.get_int_max_str_digits()
        message = f"is not JSON the pack can read (a number of more than {digits} digits)"
    except RecursionError:
        message = "is not JSON the pack can read (arrays or objects nested too deeply)"
    raise PolicyConfigError(str(path), [SettingsProblem("", message)])


def environment_of(environ: Mapping[str, str]) -> str:
    """The environment whose config applies: the stack's `go-platform:environment`, else its
    name, else the strictest."""
    try:
        config = json.loads(environ.get("PULUMI_CONFIG") or "{}")
    except (ValueError, RecursionError):  # not JSON, or JSON Python does not read
        config = {}
    for candidate in (
        config.get("go-platform:environment") if isinstance(config, dict) else None,
        environ.get("PULUMI_STACK"),
    ):
        if candidate in ENVIRONMENTS:
            return candidate
    return STRICTEST_ENVIRONMENT


def config_path(environment: str) -> Path:
    return CONFIG_DIR / f"{environment}.json"


def initial_config(environ: Mapping[str, str]) -> dict[str, EnforcementLevel | dict[str, Any]]:
    """The pack's initial config for the environment of the stack being run, in the form
    `PolicyPack(initial_config=...)` takes (enforcement levels as enums)."""
    document = load_config(config_path(environment_of(environ)))
    result: dict[str, EnforcementLevel | dict[str, Any]] = {}
    for name, value in document.items():
        if isinstance(value, str):
            result[name] = LEVELS[value]
        else:
            entry = dict(value)
            if "enforcementLevel" in entry:
                entry["enforcementLevel"] = LEVELS[entry["enforcementLevel"]]
            result[name] = entry
    return result


INVALID = 65
"""Exit status when a file has problems (sysexits' EX_DATAERR): a crash exits 1, so a caller
(the driver's `--policy-pack-config` check) tells a verdict from a checker that did not run."""


def main(argv: Sequence[str]) -> int:
    """Check config files; print one line per file (or per problem). Exit `INVALID` on any
    problem."""
    parser = argparse.ArgumentParser(
        prog="python -m go_platform_policies.pack_config",
        description="Check policy config files (default: the pack's own, policies/config/).",
    )
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE")
    paths = parser.parse_args(argv).files or sorted(CONFIG_DIR.glob("*.json"))
    failed = False
    for path in paths:
        try:
            load_config(path)
        except PolicyConfigError as error:
            print(error, file=sys.stderr)
            failed = True
        else:
            print(f"{path}: ok")
    return INVALID if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
