"""The services layer: a GoServiceStack per service and track, a CanaryRoute per canary."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pulumi

from components.canary_route import CanaryRoute, CanaryRouteArgs
from components.go_service import GoServiceStack, GoServiceStackArgs
from go_platform_core import kube
from go_platform_core.canary import canary_service
from go_platform_core.config import ServiceSettings
from wiring.context import Platform
from wiring.secrets import secret_value


def setup_services(platform: Platform) -> Platform:
    exported = {service.name: _service(platform, service) for service in platform.settings.services}
    return replace(platform, services=exported)


def _service(platform: Platform, service: ServiceSettings) -> dict[str, pulumi.Input[Any]]:
    """One service's stacks (stable, and canary when it has one); its exported outputs."""
    settings = platform.settings
    services_namespace = platform.namespaces[settings.namespace].metadata.name
    binding = platform.the_gateway().binding(settings.namespace)
    tracks = {"stable": service}
    if service.canary:
        tracks["canary"] = canary_service(service)
    stacks = {
        track: GoServiceStack(
            kube.workload_name(service.name, track),
            GoServiceStackArgs(
                service=spec,
                namespace=services_namespace,
                environment=settings.environment,
                secret_env={env: secret_value(key) for env, key in spec.secret_env.items()},
                gateway=binding,
                observability=platform.watched,
                module_env=platform.build_module_env,
                vulnerability_gate=settings.vulnerability_gate.gate(),
                callers=settings.callers(service.name),
                track=track,
                create_route=service.canary is None,
            ),
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
                namespace=services_namespace,
                stable_service=stable.service_name,
                canary_service=stacks["canary"].service_name,
                gateway=binding,
            ),
        )
        outputs["canary"] = {
            "image": stacks["canary"].image,
            "weight": canary.weight,
            "plan": canary.plan,
            "traefikService": canary.traefik_service,
        }
    return outputs
