"""Reading the stack's config: all of it once, and secrets as Output secrets."""

from __future__ import annotations

import pulumi
from pulumi.runtime import config as runtime_config

from go_platform_core.config import ObjectStorageSettings, StackConfig, qualified_key


def read_stack_config() -> StackConfig:
    """Every config value the engine passed to this program, and which ones are secret."""
    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secrets = {k for k in values if runtime_config.is_config_secret(k)}
    secrets |= set(runtime_config.get_config_secret_keys_env())
    return StackConfig(values=values, secret_keys=frozenset(secrets))


def secret_value(key: str) -> pulumi.Output[str]:
    """A secret config value as an Output secret (`namespace:key`, or go-platform's `key`)."""
    namespace, _, name = qualified_key(key).partition(":")
    return pulumi.Config(namespace).require_secret(name)


def secret_values(named: dict[str, str | None]) -> dict[str, pulumi.Output[str]]:
    """`name -> secret config key` for the keys that are set, read as secrets."""
    return {name: secret_value(key) for name, key in named.items() if key}


def aws_keys(storage: ObjectStorageSettings | None) -> dict[str, pulumi.Output[str]]:
    if storage is None:
        return {}
    return secret_values(
        {
            "AWS_ACCESS_KEY_ID": storage.access_key_id_secret,
            "AWS_SECRET_ACCESS_KEY": storage.secret_access_key_secret,
        }
    )
