"""Shared test harness: one mocks recorder for every unit test, and stack-config factories.

`pulumi_program` runs a function (or `__main__.py`) under Pulumi's mocks, with a given
stack name and config, and returns a `Recording` of every resource registered: type,
logical name, inputs (secrets unwrapped, their paths listed), parent. Tests query it
("the Deployment child of greeter") instead of writing mocks of their own.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

from go_platform_core.config import (
    CONFIG_NAMESPACE,
    ServiceSettings,
    StackConfig,
    load_settings,
    merge_defaults,
)

REPO = Path(__file__).resolve().parents[1]
# Schema-only copies of the upstream CRDs and values schemas (tools/upstream/vendor.py).
UPSTREAM = REPO / "upstream"
STACK_FILES = sorted(REPO.glob("Pulumi.*.yaml"))


def pytest_configure(config: pytest.Config) -> None:
    """Tests of signal handling start processes that must meet SIGINT, SIGHUP and SIGQUIT
    at their defaults, and a child inherits them ignored: a run under `nohup`, or as a
    background job of a script, would fail those tests. So this process (each worker)
    takes the defaults back."""
    defaults = {
        signal.SIGINT: signal.default_int_handler,
        signal.SIGHUP: signal.SIG_DFL,
        signal.SIGQUIT: signal.SIG_DFL,
    }
    for signum, default in defaults.items():
        if signal.getsignal(signum) is signal.SIG_IGN:
            signal.signal(signum, default)


@dataclass(frozen=True)
class Registration:
    """One resource the program registered."""

    type: str
    name: str
    urn: str
    parent: str
    inputs: dict[str, Any]
    secret_paths: frozenset[str]
    hooks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Resource hooks bound to it, by kind (`before_create`): the hooks' names."""
    dependencies: frozenset[str] = frozenset()
    """URNs this resource waits for (explicit `depends_on`, components expanded)."""
    accepts_resources: bool = True
    """Whether the registration asked for resource references in its outputs (a component's
    children as resources rather than URNs)."""

    def has_secret(self, prefix: str) -> bool:
        """True when the input at `prefix` (dotted path) or anything under it is secret."""
        return any(p == prefix or p.startswith(f"{prefix}.") for p in self.secret_paths)

    @property
    def kind(self) -> str:
        """`Deployment`, `IngressRoute`, `GoServiceStack`: the last part of the type token
        (custom resources register as `kubernetes:<apiVersion>:<kind>`)."""
        return self.type.rsplit(":", 1)[-1]


@dataclass
class Recording:
    """Every resource registered during one program run, in order."""

    resources: list[Registration] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Registration]:
        return [r for r in self.resources if r.kind == kind]

    def one(self, kind: str, *, parent: str | None = None, name: str | None = None) -> Registration:
        """The single resource of `kind` (under the component named `parent`, or named `name`)."""
        found = [
            r
            for r in self.of_kind(kind)
            if (parent is None or self.parent_name(r) == parent)
            and (name is None or r.name == name)
        ]
        assert len(found) == 1, (
            f"expected one {kind} (parent={parent}, name={name}), found {[r.name for r in found]}"
        )
        return found[0]

    def parent_name(self, resource: Registration) -> str:
        return resource.parent.rsplit("::", 1)[-1] if resource.parent else ""

    def top_level(self, kind: str) -> list[Registration]:
        """Resources of `kind` the program created directly, not inside a component."""
        return [r for r in self.of_kind(kind) if "::pulumi:pulumi:Stack::" in r.parent]

    def children(self, component: str) -> list[Registration]:
        return [r for r in self.resources if self.parent_name(r) == component]

    def by_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_token]


def _unwrap_secrets(value: Any, path: str, secrets: set[str]) -> Any:
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            secrets.add(path)
            return _unwrap_secrets(value.get("value"), path, secrets)
        return {
            k: _unwrap_secrets(v, f"{path}.{k}" if path else k, secrets) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_unwrap_secrets(v, f"{path}[{i}]", secrets) for i, v in enumerate(value)]
    return value


class _Mocks(pulumi.runtime.Mocks):
    """Outputs echo inputs, plus what the API server or a provider would fill in."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        outputs = dict(args.inputs)
        if args.typ.startswith("kubernetes:"):
            metadata = dict(outputs.get("metadata") or {})
            metadata.setdefault("name", f"{args.name}-0a1b2c3d")
            metadata.setdefault("namespace", "default")
            outputs["metadata"] = metadata
        if args.typ == "docker:index/image:Image":
            outputs["repoDigest"] = f"{args.inputs['imageName'].split(':')[0]}@sha256:{'ab' * 32}"
        if args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = "p" * int(args.inputs.get("length", 16))
            outputs["bcryptHash"] = "$2a$10$" + "h" * 53
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        return {}, None


class _RecordingMonitor(MockMonitor):
    def __init__(self, recording: Recording) -> None:
        super().__init__(_Mocks())
        self.recording = recording

    def RegisterResource(self, request):  # noqa: N802 (the gRPC method name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            secrets: set[str] = set()
            inputs = _unwrap_secrets(rpc.deserialize_properties(request.object), "", secrets)
            self.recording.resources.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    inputs=inputs,
                    hooks={kind.name: tuple(names) for kind, names in request.hooks.ListFields()},
                    secret_paths=frozenset(secrets),
                    dependencies=frozenset(request.dependencies),
                    accepts_resources=request.acceptResources,
                )
            )
        return response


def set_stack_config(config: StackConfig) -> None:
    pulumi.runtime.set_all_config(dict(config.values), sorted(config.secret_keys))


def run_under_mocks(fn: Callable[[], Any], *, stack: str, config: StackConfig) -> Recording:
    """Run `fn` as a Pulumi program under mocks; return what it registered.

    The program sets the SDK's switch for resource references in the process environment;
    afterwards the environment has it as before, so that no later run, test or process it
    starts inherits it."""
    from wiring.foundation import RESOURCE_REFERENCES_ENV

    saved = os.environ.get(RESOURCE_REFERENCES_ENV)
    try:
        return _run_under_mocks(fn, stack=stack, config=config)
    finally:
        os.environ.pop(RESOURCE_REFERENCES_ENV, None)
        if saved is not None:
            os.environ[RESOURCE_REFERENCES_ENV] = saved


def _run_under_mocks(fn: Callable[[], Any], *, stack: str, config: StackConfig) -> Recording:
    recording = Recording()
    pulumi.runtime.settings.reset_options(project="go-platform", stack=stack)
    set_stack_config(config)
    pulumi.runtime.set_mocks(
        _Mocks(),
        project="go-platform",
        stack=stack,
        preview=False,
        monitor=_RecordingMonitor(recording),
    )
    # A root stack of its own for each run, as the SDK's executor makes one, so that the
    # program's entrypoint (`pulumi.run`) is awaited: set_mocks keeps the process's first
    # root, already finished.
    pulumi.runtime.settings.set_root_resource(None)
    sdk_debug = pulumi.log.debug  # the program replaces it (quiet_sdk_debug_messages)
    try:
        _sync_await(run_in_stack(fn))
    finally:
        pulumi.log.debug = sdk_debug
    return recording


@pytest.fixture
def pulumi_program() -> Iterator[Callable[..., Recording]]:
    yield run_under_mocks
    set_stack_config(StackConfig({}))


# --- stack config factories -------------------------------------------------------------


OMIT: Any = object()
"""An override value that removes the key (None sets the key to null)."""


def service_config(**overrides: Any) -> dict[str, Any]:
    """A valid service entry (camelCase, as in a stack file); overrides replace keys."""
    base: dict[str, Any] = {"name": "greeter", "image": "ghcr.io/acme/greeter:v1.2.3"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not OMIT}


BASE_SETTINGS: dict[str, Any] = {
    "gateway": {"tls": {"acmeEmail": "platform@example.com"}},
    "moduleProxy": {
        "storage": {"s3": {"bucket": "go-modules", "region": "eu-west-1"}},
        "singleFlight": {"type": "redis", "endpoint": "redis.module-proxy:6379"},
    },
    "observability": {
        "storage": {
            "s3": {
                "region": "eu-west-1",
                "lokiChunksBucket": "logs-chunks",
                "lokiRulerBucket": "logs-ruler",
                "tempoBucket": "traces",
            }
        }
    },
}
"""Under every factory config, so that each environment's profile validates."""


def stack_config(secrets: Mapping[str, str] | None = None, **settings: Any) -> StackConfig:
    """A StackConfig from go-platform settings (camelCase keys) and secret values."""
    settings = merge_defaults(BASE_SETTINGS, settings)
    values = {
        f"{CONFIG_NAMESPACE}:{key}": value if isinstance(value, str) else json.dumps(value)
        for key, value in settings.items()
    }
    secret_keys = set()
    for key, value in (secrets or {}).items():
        qualified = key if ":" in key else f"{CONFIG_NAMESPACE}:{key}"
        values[qualified] = value
        secret_keys.add(qualified)
    return StackConfig(values=values, secret_keys=frozenset(secret_keys))


def canary_service_settings(**canary: Any) -> ServiceSettings:
    """A validated dev service with a route and a canary (camelCase canary overrides)."""
    settings = {
        "image": "ghcr.io/acme/greeter:v1.3.0",
        "steps": [10, 25, 50],
        "maxWeight": 50,
        "interval": "1m",
        "threshold": 2,
        "analysis": {"successRate": 99, "maxLatencyMs": 500},
        **canary,
    }
    config = stack_config(
        environment="dev",
        domain="example.com",
        services=[service_config(route={"host": "greeter.example.com"}, canary=settings)],
    )
    return load_settings(config, stack="dev").services[0]


def stack_file_config(path: Path) -> StackConfig:
    """The config of a `Pulumi.<stack>.yaml` as the engine would pass it to the program.

    `secure:` values cannot be decrypted here; each is replaced by a stand-in and marked
    secret, as the engine marks decrypted secrets.
    """
    document = yaml.safe_load(path.read_text()) or {}
    values: dict[str, str] = {}
    secret_keys: set[str] = set()
    for key, value in (document.get("config") or {}).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[key] = f"stand-in-for-{key}"
            secret_keys.add(key)
        elif isinstance(value, dict | list):
            text = json.dumps(value)
            if '"secure"' in text:
                secret_keys.add(key)
            values[key] = text
        else:
            values[key] = "true" if value is True else "false" if value is False else str(value)
    return StackConfig(values=values, secret_keys=frozenset(secret_keys))
