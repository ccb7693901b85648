"""The foundation layer: namespaces, the upstream CRDs, the stack transformations, how the
program takes resources back from the engine, and which of the SDK's messages it sends."""

from __future__ import annotations

import os

import pulumi
import pulumi_kubernetes as k8s

from components.crds import UpstreamCrds, UpstreamCrdsArgs, custom_resources_wait_for
from components.resources import owned_fields_transformation
from go_platform_core import kube, telemetry
from go_platform_core.config import PlatformSettings
from wiring.context import Platform

RESOURCE_REFERENCES_ENV = "PULUMI_DISABLE_RESOURCE_REFERENCES"
"""The Python SDK's switch, read at each registration: "true" declines resource references."""


def decline_resource_references() -> None:
    """Have a component's children (a ConfigGroup's or a Chart's `resources`) come back as
    URNs, unless the environment says otherwise ("false").

    The program reads none of them. Accepted as references, the SDK fetches and decodes the
    whole state of each child before the component's dependents can register: for the local
    stack's definitions, about a fifth of a second of every command (docs/PERFORMANCE.md,
    ninth round); a chart's children in the other stacks.
    """
    os.environ.setdefault(RESOURCE_REFERENCES_ENV, "true")


SDK_DEBUG_ENV = "GO_PLATFORM_SDK_DEBUG"
"""Set to "true" to keep the Python SDK's own debug messages (shown by `pulumi up --debug`)."""


_SDK_DEBUG = pulumi.log.debug
"""The SDK's own `pulumi.log.debug`, put back when the environment asks to keep them."""


def _dropped(*_args: object, **_kwargs: object) -> None:
    """`pulumi.log.debug` while the SDK's debug messages are dropped."""


def quiet_sdk_debug_messages() -> None:
    """Drop the Python SDK's own debug messages, unless GO_PLATFORM_SDK_DEBUG is "true".

    The SDK sends four for every resource it registers ("registering resource", "prepared",
    "beginning rpc", "successful"), each a call to the engine that the program waits for, and
    the CLI shows them only with `--debug`: they cost 0.2 to 0.4 s of every preview and update
    of the local stack (docs/PERFORMANCE.md, tenth round). The engine's and the providers'
    debug output, and every message at info level and above, are unaffected; so is the
    top-level `pulumi.debug`. Only `pulumi.log.debug`, which the SDK's modules call, is
    replaced; each run of the program sets it as the environment says, so a process that
    runs it again (tests, an inline program) follows the environment of each run.
    """
    keep = os.environ.get(SDK_DEBUG_ENV, "").lower() == "true"
    pulumi.log.debug = _SDK_DEBUG if keep else _dropped


def setup_foundation(settings: PlatformSettings) -> Platform:
    decline_resource_references()
    quiet_sdk_debug_messages()
    # The platform owns the fields it declares: drift made by hand is repaired, not a conflict.
    pulumi.runtime.register_stack_transformation(owned_fields_transformation)
    observing, proxy_settings = settings.observability, settings.module_proxy

    def namespace(name: str, enforce: str = "restricted") -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name, labels=kube.namespace_labels(settings.environment, enforce)
            ),
        )

    namespaces = {settings.namespace: namespace(settings.namespace)}
    if proxy_settings.enabled:
        namespaces[proxy_settings.namespace] = namespace(proxy_settings.namespace)
    if observing.install:
        # Third-party charts meet the baseline standard; warnings still report restricted.
        namespaces[observing.namespace] = namespace(observing.namespace, enforce="baseline")
    if settings.crds.install:
        crds = UpstreamCrds("crds", UpstreamCrdsArgs(sources=settings.crds.sources))
        installed = (crds.definitions,)
        pulumi.runtime.register_stack_transformation(
            custom_resources_wait_for(lambda _group: installed)
        )
    return Platform(
        settings=settings,
        namespaces=namespaces,
        first=pulumi.ResourceOptions(depends_on=list(namespaces.values())),
        endpoints=telemetry.endpoints(observing),
    )
