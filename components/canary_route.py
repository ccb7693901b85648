"""CanaryRoute: weighted routing between a service's stable and canary tracks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.resources import child_options
from components.routing import GatewayBinding, backend, route_parts
from go_platform_core import kube
from go_platform_core.canary import canary_plan, header_match
from go_platform_core.config import Environment, ServiceSettings
from go_platform_core.images import parse_image

# --- the component -------------------------------------------------------------------


@dataclass(frozen=True)
class CanaryRouteArgs:
    """What CanaryRoute needs: the service (with `route` and `canary`) and its two tracks."""

    service: ServiceSettings
    environment: Environment
    namespace: pulumi.Input[str]
    stable_service: pulumi.Input[str]
    """Kubernetes Service of the stable track."""
    canary_service: pulumi.Input[str]
    """Kubernetes Service of the canary track."""
    gateway: GatewayBinding


class CanaryRoute(pulumi.ComponentResource):
    """A weighted TraefikService between stable and canary (optionally mirrored and
    sticky), and the IngressRoute that uses it, with header overrides that pin a request
    to either track. Changing the weight updates the TraefikService in place.

    Exposes the promotion plan, the current weight and the TraefikService's name.
    """

    plan: pulumi.Output[dict[str, Any]]
    """Steps, analysis thresholds, minimum time to promote and time to roll back."""
    weight: pulumi.Output[int]
    """Percent of traffic on the canary now."""
    traefik_service: pulumi.Output[str]
    """Name of the weighted TraefikService the driver updates."""

    def __init__(
        self, name: str, args: CanaryRouteArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("go-platform:index:CanaryRoute", name, None, opts)
        service = args.service
        route, canary = service.route, service.canary
        assert route is not None
        assert canary is not None
        child = child_options(self, opts)
        labels = {
            **kube.standard_labels(
                service.name, "stable", parse_image(canary.image).version, args.environment
            ),
            "go-platform/track": "router",
        }

        def metadata(object_name: str) -> dict[str, Any]:
            return {"name": object_name, "namespace": args.namespace, "labels": labels}

        weighted: dict[str, Any] = {
            "services": [
                backend(args.stable_service, route, weight=100 - canary.weight),
                backend(args.canary_service, route, weight=canary.weight),
            ]
        }
        if canary.sticky:
            weighted["sticky"] = {
                "cookie": {
                    "name": f"{service.name}_track",
                    "secure": True,
                    "httpOnly": True,
                    "sameSite": "lax",
                }
            }
        split = k8s.apiextensions.CustomResource(
            f"{name}-weighted",
            api_version="traefik.io/v1alpha1",
            kind="TraefikService",
            metadata=metadata(f"{service.name}-weighted"),
            spec={"weighted": weighted},
            opts=child,
        )
        entry = split
        # Only while the canary takes traffic: at weight 0 (not started, rolled back, or
        # promoted) no copy of production requests reaches it either.
        if canary.mirror and canary.weight > 0:
            entry = k8s.apiextensions.CustomResource(
                f"{name}-mirror",
                api_version="traefik.io/v1alpha1",
                kind="TraefikService",
                metadata=metadata(f"{service.name}-mirrored"),
                spec={
                    "mirroring": {
                        "kind": "TraefikService",
                        "name": split.metadata["name"],
                        "mirrors": [backend(args.canary_service, route, percent=canary.mirror)],
                    }
                },
                opts=child,
            )

        parts = route_parts(
            name,
            route=route,
            gateway=args.gateway,
            namespace=args.namespace,
            object_name=service.name,
            labels=labels,
            opts=child,
        )
        match = kube.route_match(route.host, route.path_prefix)
        # Header routes rank just above the weighted route of the same host and prefix,
        # and no higher, so more specific routes of other services keep winning.
        pinned_priority = len(match) + 1
        header = canary.header

        def rule(rule_match: str, services: list[dict[str, Any]], priority: int) -> dict[str, Any]:
            return {
                "kind": "Rule",
                "match": rule_match,
                "priority": priority,
                "middlewares": parts.middlewares,
                "services": services,
            }

        k8s.apiextensions.CustomResource(
            f"{name}-ingressroute",
            api_version="traefik.io/v1alpha1",
            kind="IngressRoute",
            metadata=metadata(service.name),
            spec={
                "entryPoints": [args.gateway.entry_point],
                "routes": [
                    rule(
                        header_match(match, header.name, header.always),
                        [backend(args.canary_service, route)],
                        pinned_priority,
                    ),
                    rule(
                        header_match(match, header.name, header.never),
                        [backend(args.stable_service, route)],
                        pinned_priority,
                    ),
                    rule(
                        match,
                        [{"kind": "TraefikService", "name": entry.metadata["name"]}],
                        len(match),
                    ),
                ],
                "tls": parts.tls,
            },
            opts=child_options(self, opts, depends_on=parts.depends_on),
        )

        self.plan = pulumi.Output.from_input(canary_plan(canary))
        self.weight = pulumi.Output.from_input(canary.weight)
        self.traefik_service = split.metadata["name"]
        self.register_outputs(
            {"plan": self.plan, "weight": self.weight, "traefik_service": self.traefik_service}
        )
