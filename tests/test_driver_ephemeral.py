"""Ephemeral stack names and config, before any stack is touched.

Invariants guarded:
- a name is lower-case letters, digits and '-', starts with a letter, ends with a letter
  or digit, at most 40 characters; anything else is one usage error giving the rule;
- an environment's name or the base's name is refused, so `ephemeral down` cannot reach
  a long-lived stack;
- `--config KEY=VALUE` keys without a namespace are go-platform's; a pair without `=` is
  one usage error;
- the base's environment is written down when the base leaves it implicit (its name);
- the config an ephemeral stack will have (validated before anything is written) is its
  own on a rerun, the base's over it without the base's promotion state, then the
  overrides, in plain text unless the base holds the key as a secret.
"""

from __future__ import annotations

import pytest

from go_platform.ephemeral import added_config, check_name, parse_overrides, planned_config
from go_platform.exit_codes import DriverError, ExitCode
from go_platform_core.config import StackConfig


@pytest.mark.parametrize("name", ["pr-123", "feature-x", "p1", "a" * 40])
def test_good_names(name):
    assert check_name(name, base="dev") == name


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("PR-123", "is invalid"),
        ("pr_123", "is invalid"),
        ("123", "is invalid"),
        ("pr-", "is invalid"),
        ("-pr", "is invalid"),
        ("", "is invalid"),
        ("a" * 41, "is invalid"),
        ("pr.1", "is invalid"),
        ("prod", "is an environment's stack"),
        ("local", "is an environment's stack"),
        ("review", "is the base stack's name"),
    ],
)
def test_bad_names_are_one_usage_error(name, says):
    with pytest.raises(DriverError) as raised:
        check_name(name, base="review")

    assert raised.value.code == ExitCode.USAGE
    assert len(raised.value.lines) == 1
    assert says in raised.value.lines[0]


def test_the_rule_is_in_the_message():
    with pytest.raises(DriverError, match="lower-case letters, digits and '-'"):
        check_name("PR_1", base="dev")


def test_overrides():
    assert parse_overrides(["namespace=pr-1", "kubernetes:context=ci", "domain=a=b"]) == {
        "go-platform:namespace": "pr-1",
        "kubernetes:context": "ci",
        "go-platform:domain": "a=b",
    }
    for bad in ("novalue", "=x"):
        with pytest.raises(DriverError, match="KEY=VALUE"):
            parse_overrides([bad])


def test_the_base_environment_is_written_down_when_implicit():
    assert added_config({}, "dev") == {"go-platform:environment": "dev"}
    assert added_config({"go-platform:environment": "staging"}, "qa") == {}
    assert added_config({}, "team-a") == {}


def test_the_planned_config_is_what_up_will_write():
    base = StackConfig(
        values={
            "go-platform:domain": "dev.example.com",
            "go-platform:dbUrl": "postgres://",
            "go-platform:token": "t",
            "go-platform-canary:greeter": "{}",
        },
        secret_keys=frozenset({"go-platform:dbUrl", "go-platform:token"}),
    )
    current = StackConfig(
        values={"go-platform:namespace": "pr-1", "go-platform:domain": "old", "x:k": "s"},
        secret_keys=frozenset({"x:k", "go-platform:domain"}),
    )

    planned = planned_config(base, "dev", {"go-platform:token": "plain"}, current)

    assert planned.values == {
        "go-platform:namespace": "pr-1",
        "go-platform:domain": "dev.example.com",
        "go-platform:dbUrl": "postgres://",
        "go-platform:token": "plain",
        "x:k": "s",
        "go-platform:environment": "dev",
    }
    # An override of a key the base holds as a secret is written as a secret too.
    assert planned.secret_keys == {"go-platform:dbUrl", "go-platform:token", "x:k"}
    assert planned_config(base, "qa", {}).values.keys() == {
        "go-platform:domain",
        "go-platform:dbUrl",
        "go-platform:token",
    }
