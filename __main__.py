"""go-platform: read the stack's config once, build the components, export their outputs.

Invalid config stops the program here, with every problem listed, before any resource
is registered.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
from pulumi.runtime import config as runtime_config

from components import kube
from components.config import (
    ConfigError,
    PlatformSettings,
    StackConfig,
    load_settings,
    qualified_key,
)
from components.go_service import (
    GatewayBinding,
    GoServiceStack,
    GoServiceStackArgs,
    ObservabilityBinding,
)


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
    gateway = GatewayBinding(
        namespace=settings.gateway.namespace,
        entry_point=settings.gateway.entry_point,
        cluster_issuer=settings.gateway.cluster_issuer,
    )
    observability = ObservabilityBinding(
        namespace=settings.observability.namespace,
        service_monitor=settings.observability.enabled,
        otlp_endpoint=settings.observability.otlp_endpoint,
    )

    exported: dict[str, dict[str, pulumi.Input[str]]] = {}
    for service in settings.services:
        stack = GoServiceStack(
            service.name,
            GoServiceStackArgs(
                service=service,
                namespace=namespace.metadata.name,
                environment=settings.environment,
                secret_env={env: secret_value(key) for env, key in service.secret_env.items()},
                gateway=gateway,
                observability=observability,
                module_proxy_url=settings.module_proxy.url,
                callers=settings.callers(service.name),
            ),
        )
        outputs: dict[str, pulumi.Input[str]] = {
            "url": stack.url,
            "deployment": stack.deployment_name,
            "image": stack.image,
        }
        if service.route:
            outputs["route"] = f"https://{service.route.host}{service.route.path_prefix}"
        exported[service.name] = outputs

    pulumi.export("environment", settings.environment)
    pulumi.export("namespace", namespace.metadata.name)
    pulumi.export("services", exported)


try:
    SETTINGS = load_settings(read_stack_config(), stack=pulumi.get_stack())
except ConfigError as error:
    raise pulumi.RunError(str(error)) from None
build(SETTINGS)
