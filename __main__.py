"""go-platform: read the stack's config once, build the components, export their outputs.

Invalid config stops the program here, with every problem listed, before any resource
is registered.

Order: namespaces and CRDs (only custom resources wait for the definitions); the
gateway (it needs the OTLP endpoint, which follows from config alone); the observability
stack (Grafana routes through the gateway); the module proxy; then every service, each
wired to all three.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi.runtime import config as runtime_config

from components import kube, telemetry
from components.canary_route import CanaryRoute, CanaryRouteArgs, canary_service
from components.config import (
    ConfigError,
    ObjectStorageSettings,
    PlatformSettings,
    StackConfig,
    load_settings,
    qualified_key,
)
from components.crds import UpstreamCrds, UpstreamCrdsArgs, custom_resources_wait_for
from components.go_service import GoServiceStack, GoServiceStackArgs, ObservabilityBinding
from components.module_proxy import AUTH_USER, ModuleProxy, ModuleProxyArgs
from components.observability import GRAFANA_USER, ObservabilityStack, ObservabilityStackArgs
from components.resources import owned_fields_transformation
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


def build(settings: PlatformSettings) -> None:
    # The platform owns the fields it declares: drift made by hand is repaired, not a conflict.
    pulumi.runtime.register_stack_transformation(owned_fields_transformation)
    environment = settings.environment
    observing, proxy_settings = settings.observability, settings.module_proxy

    def namespace(name: str, enforce: str = "restricted") -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name, labels=kube.namespace_labels(environment, enforce)
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
    first = pulumi.ResourceOptions(depends_on=list(namespaces.values()))
    found = telemetry.endpoints(observing)

    dns01 = settings.gateway.tls.dns01
    gateway = TraefikGateway(
        "gateway",
        TraefikGatewayArgs(
            gateway=settings.gateway,
            environment=environment,
            dashboard_host=settings.dashboard_host,
            routes_namespaces={name: ns.metadata.name for name, ns in namespaces.items()},
            otlp_endpoint=found.otlp_grpc,
            service_monitor=observing.enabled,
            monitor_labels=observing.monitor_labels,
            dns01_token=secret_value(dns01.api_token_secret)
            if dns01 and dns01.api_token_secret
            else None,
        ),
        opts=first,
    )

    observability = ObservabilityStack(
        "observability",
        ObservabilityStackArgs(
            settings=observing,
            environment=environment,
            namespace=namespaces[observing.namespace].metadata.name
            if observing.install
            else observing.namespace,
            grafana_host=settings.grafana_host,
            gateway=gateway.binding(observing.namespace) if observing.install else None,
            s3_credentials=aws_keys(observing.storage.s3)
            if observing.install and observing.storage.type == "s3"
            else {},
        ),
        opts=first,
    )
    watched = (
        ObservabilityBinding(
            namespace=observing.namespace,
            otlp_endpoint=found.otlp_grpc,
            availability_slo=observing.availability_slo,
            monitor_labels=observing.monitor_labels,
        )
        if observing.enabled
        else None
    )
    # Where charts bring the definitions (and the operators), what follows waits for the
    # platform. Otherwise nothing waits for the gateway's or observability's objects: custom
    # resources wait for the definitions, and a Deployment waits for nothing.
    after_platform = pulumi.ResourceOptions(
        depends_on=[gateway, observability] if settings.installs_charts else []
    )

    proxy = None
    build_goproxy: pulumi.Input[str] | None = proxy_settings.url
    if proxy_settings.enabled:
        credentials = proxy_settings.credentials
        proxy = ModuleProxy(
            "module-proxy",
            ModuleProxyArgs(
                settings=proxy_settings,
                environment=environment,
                namespace=namespaces[proxy_settings.namespace].metadata.name,
                host=settings.module_proxy_host,
                gateway=gateway.binding(proxy_settings.namespace),
                observability=watched,
                credentials=secret_values(
                    {"netrc": credentials.netrc_secret, "ssh-key": credentials.ssh_key_secret}
                ),
                secret_env={
                    **(
                        aws_keys(proxy_settings.storage.s3)
                        if proxy_settings.storage.type == "s3"
                        else {}
                    ),
                    **secret_values(
                        {"ATHENS_REDIS_PASSWORD": proxy_settings.single_flight.password_secret}
                    ),
                },
            ),
            opts=after_platform,
        )
        build_goproxy = proxy.internal_url

    services_namespace = namespaces[settings.namespace].metadata.name
    binding = gateway.binding(settings.namespace)
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
                    namespace=services_namespace,
                    environment=environment,
                    secret_env={env: secret_value(key) for env, key in spec.secret_env.items()},
                    gateway=binding,
                    observability=watched,
                    module_proxy_url=build_goproxy,
                    vulnerability_gate=settings.vulnerability_gate.gate(),
                    callers=settings.callers(service.name),
                    track=track,
                    create_route=service.canary is None,
                ),
                opts=after_platform,
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
                    environment=environment,
                    namespace=services_namespace,
                    stable_service=stable.service_name,
                    canary_service=stacks["canary"].service_name,
                    gateway=binding,
                ),
                opts=after_platform,
            )
            outputs["canary"] = {
                "image": stacks["canary"].image,
                "weight": canary.weight,
                "plan": canary.plan,
                "traefikService": canary.traefik_service,
            }
        exported[service.name] = outputs

    pulumi.export("environment", environment)
    pulumi.export("namespace", services_namespace)
    pulumi.export(
        "gateway",
        {
            "clusterIssuer": gateway.cluster_issuer,
            "dashboardUrl": gateway.dashboard_url,
            "dashboardUser": DASHBOARD_USER if gateway.dashboard_url else None,
            "dashboardPassword": gateway.dashboard_password,
        },
    )
    pulumi.export(
        "observability",
        {
            "otlpEndpoint": observability.otlp_endpoint,
            "prometheusUrl": observability.prometheus_url,
            "grafanaUrl": observability.grafana_url,
            "grafanaUser": GRAFANA_USER if observability.grafana_password else None,
            "grafanaPassword": observability.grafana_password,
        },
    )
    if proxy is not None:
        pulumi.export(
            "moduleProxy",
            {
                "internalUrl": proxy.internal_url,
                "externalUrl": proxy.external_url,
                "clientEnv": proxy.client_env,
                "user": AUTH_USER,
                "password": proxy.password,
            },
        )
    pulumi.export("services", exported)


try:
    SETTINGS = load_settings(read_stack_config(), stack=pulumi.get_stack())
except ConfigError as error:
    raise pulumi.RunError(str(error)) from None
build(SETTINGS)
