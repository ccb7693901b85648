"""go-platform: read the stack's config once, build the components, export their outputs.

Invalid config stops the program here, with every problem listed, before any resource
is registered.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi.runtime import config as runtime_config

from components import kube
from components.canary_route import CanaryRoute, CanaryRouteArgs, canary_service
from components.config import (
    ConfigError,
    PlatformSettings,
    StackConfig,
    load_settings,
    qualified_key,
)
from components.crds import UpstreamCrds, UpstreamCrdsArgs
from components.go_service import GoServiceStack, GoServiceStackArgs, ObservabilityBinding
from components.traefik_gateway import DASHBOARD_USER, TraefikGateway, TraefikGatewayArgs


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


def build(settings: PlatformSettings) -> None:
    namespace = k8s.core.v1.Namespace(
        "services-namespace",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=settings.namespace, labels=kube.namespace_labels(settings.environment)
        ),
    )
    observability = ObservabilityBinding(
        namespace=settings.observability.namespace,
        service_monitor=settings.observability.enabled,
        otlp_endpoint=settings.observability.otlp_endpoint,
    )
    # Custom resources wait for their definitions: the upstream CRDs where the program
    # installs them, else the charts the gateway installs.
    crds = (
        [UpstreamCrds("crds", UpstreamCrdsArgs(sources=settings.crds.sources))]
        if settings.crds.install
        else []
    )
    dns01 = settings.gateway.tls.dns01
    gateway = TraefikGateway(
        "gateway",
        TraefikGatewayArgs(
            gateway=settings.gateway,
            environment=settings.environment,
            dashboard_host=settings.dashboard_host,
            routes_namespace=namespace.metadata.name,
            otlp_endpoint=settings.observability.otlp_endpoint,
            service_monitor=settings.observability.enabled,
            dns01_token=secret_value(dns01.api_token_secret)
            if dns01 and dns01.api_token_secret
            else None,
        ),
        opts=pulumi.ResourceOptions(depends_on=[namespace, *crds]),
    )
    binding = gateway.binding()
    after_gateway = pulumi.ResourceOptions(depends_on=[gateway])

    exported: dict[str, dict[str, pulumi.Input[Any]]] = {}
    for service in settings.services:
        tracks = {"stable": service}
        if service.canary:
            tracks["canary"] = canary_service(service)
        stacks = {
            track: GoServiceStack(
                kube.workload_name(service.name, track),
                GoServiceStackArgs(
                    service=spec,
                    namespace=namespace.metadata.name,
                    environment=settings.environment,
                    secret_env={env: secret_value(key) for env, key in spec.secret_env.items()},
                    gateway=binding,
                    observability=observability,
                    module_proxy_url=settings.module_proxy.url,
                    callers=settings.callers(service.name),
                    track=track,
                    create_route=service.canary is None,
                ),
                opts=after_gateway,
            )
            for track, spec in tracks.items()
        }
        stable = stacks["stable"]
        outputs: dict[str, pulumi.Input[Any]] = {
            "url": stable.url,
            "deployment": stable.deployment_name,
            "image": stable.image,
        }
        if service.route:
            outputs["route"] = f"https://{service.route.host}{service.route.path_prefix}"
        if service.canary:
            canary = CanaryRoute(
                f"{service.name}-route",
                CanaryRouteArgs(
                    service=service,
                    environment=settings.environment,
                    namespace=namespace.metadata.name,
                    stable_service=stable.service_name,
                    canary_service=stacks["canary"].service_name,
                    gateway=binding,
                ),
                opts=after_gateway,
            )
            outputs["canary"] = {
                "image": stacks["canary"].image,
                "weight": canary.weight,
                "plan": canary.plan,
                "traefikService": canary.traefik_service,
            }
        exported[service.name] = outputs

    pulumi.export("environment", settings.environment)
    pulumi.export("namespace", namespace.metadata.name)
    pulumi.export(
        "gateway",
        {
            "clusterIssuer": gateway.cluster_issuer,
            "dashboardUrl": gateway.dashboard_url,
            "dashboardUser": DASHBOARD_USER if gateway.dashboard_url else None,
            "dashboardPassword": gateway.dashboard_password,
        },
    )
    pulumi.export("services", exported)


try:
    SETTINGS = load_settings(read_stack_config(), stack=pulumi.get_stack())
except ConfigError as error:
    raise pulumi.RunError(str(error)) from None
build(SETTINGS)
