"""The foundation layer: namespaces, the upstream CRDs, and the stack transformations."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.crds import UpstreamCrds, UpstreamCrdsArgs, custom_resources_wait_for
from components.resources import owned_fields_transformation
from go_platform_core import kube, telemetry
from go_platform_core.config import PlatformSettings
from wiring.context import Platform


def setup_foundation(settings: PlatformSettings) -> Platform:
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
        pulumi.runtime.register_stack_transformation(custom_resources_wait_for(crds.definitions))
    return Platform(
        settings=settings,
        namespaces=namespaces,
        first=pulumi.ResourceOptions(depends_on=list(namespaces.values())),
        endpoints=telemetry.endpoints(observing),
    )
