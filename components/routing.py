"""What routes through the gateway share: the binding to the gateway, a route's TLS
certificate, and its middleware chain. Used by GoServiceStack and CanaryRoute alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from go_platform_core import kube
from go_platform_core.config import RouteSettings


@dataclass(frozen=True)
class MiddlewareRef:
    """A Traefik Middleware a route passes through."""

    name: str
    namespace: pulumi.Input[str]

    def as_spec(self) -> dict[str, Any]:
        return {"name": self.name, "namespace": self.namespace}


@dataclass(frozen=True)
class GatewayBinding:
    """What a service needs from the gateway to be routed."""

    namespace: str
    """Namespace of the Traefik pods, allowed in by the NetworkPolicy."""
    entry_point: str = "websecure"
    """Entrypoint the IngressRoute attaches to."""
    middlewares: Sequence[MiddlewareRef] = ()
    """Applied to every route, before the route's own."""
    cluster_issuer: pulumi.Input[str] | None = None
    """ClusterIssuer that signs route certificates; Traefik's default certificate if None."""
    middleware_namespace: pulumi.Input[str] | None = None
    """Where the gateway's named middlewares live; the route's own namespace if None."""
    ready: Sequence[pulumi.Resource] = ()
    """What a route waits for: the gateway's charts and the middlewares the route names.
    Not its certificate or the issuer: cert-manager issues the certificate once the issuer is
    ready, whichever was created first."""


@dataclass(frozen=True)
class RouteParts:
    """A route's TLS block, its middleware chain, and what an IngressRoute must wait for."""

    tls: dict[str, Any]
    middlewares: list[dict[str, Any]]
    depends_on: list[pulumi.Resource]


def route_parts(
    name: str,
    *,
    route: RouteSettings,
    gateway: GatewayBinding,
    namespace: pulumi.Input[str],
    object_name: str,
    labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
    extra_middlewares: Sequence[MiddlewareRef] = (),
) -> RouteParts:
    """Create a route's Certificate (when the gateway has an issuer) and strip-prefix
    Middleware (when asked for); return what its IngressRoute needs.

    The chain is the gateway's defaults, then the route's named middlewares, then the
    caller's `extra_middlewares`, then strip-prefix last, so the service sees paths without the prefix. `opts` are the
    options of the calling component's children.
    """
    metadata = {"name": object_name, "namespace": namespace, "labels": dict(labels)}
    tls: dict[str, Any] = {}
    depends_on: list[pulumi.Resource] = list(gateway.ready)
    after_gateway = pulumi.ResourceOptions.merge(
        opts, pulumi.ResourceOptions(depends_on=depends_on)
    )
    if gateway.cluster_issuer is not None:
        secret_name = f"{object_name}-tls"
        k8s.apiextensions.CustomResource(
            f"{name}-certificate",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata=metadata,
            spec=kube.certificate_spec(secret_name, route.host, gateway.cluster_issuer),
            opts=after_gateway,
        )
        tls = {"secretName": secret_name}
    named_in = gateway.middleware_namespace or namespace
    middlewares = [m.as_spec() for m in gateway.middlewares]
    middlewares += [MiddlewareRef(m, named_in).as_spec() for m in route.middlewares]
    middlewares += [m.as_spec() for m in extra_middlewares]
    if route.strip_prefix and route.path_prefix != "/":
        strip = k8s.apiextensions.CustomResource(
            f"{name}-strip-prefix",
            api_version="traefik.io/v1alpha1",
            kind="Middleware",
            metadata={**metadata, "name": f"{object_name}-strip-prefix"},
            spec={"stripPrefix": {"prefixes": [route.path_prefix]}},
            opts=opts,
        )
        middlewares.append({"name": f"{object_name}-strip-prefix", "namespace": namespace})
        depends_on.append(strip)
    return RouteParts(tls=tls, middlewares=middlewares, depends_on=depends_on)


def service_backend(
    service_name: pulumi.Input[str], port: int | str, *, scheme: str | None = None, **extra: Any
) -> dict[str, Any]:
    """An IngressRoute or TraefikService entry for a Kubernetes Service port."""
    entry: dict[str, Any] = {"kind": "Service", "name": service_name, "port": port}
    if scheme:
        entry["scheme"] = scheme
    return {**entry, **extra}


def backend(service_name: pulumi.Input[str], route: RouteSettings, **extra: Any) -> dict[str, Any]:
    """The entry for a go-platform service's API port, in the route's protocol."""
    scheme = "h2c" if route.protocol == "h2c" else None
    return service_backend(service_name, kube.HTTP_PORT_NAME, scheme=scheme, **extra)
