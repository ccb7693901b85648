"""The gateway layer: TraefikGateway (Traefik, cert-manager, issuers, middlewares)."""

from __future__ import annotations

from dataclasses import replace

from components.traefik_gateway import TraefikGateway, TraefikGatewayArgs
from wiring.context import Platform
from wiring.secrets import secret_value


def setup_gateway(platform: Platform) -> Platform:
    settings = platform.settings
    observing = settings.observability
    dns01 = settings.gateway.tls.dns01
    gateway = TraefikGateway(
        "gateway",
        TraefikGatewayArgs(
            gateway=settings.gateway,
            environment=settings.environment,
            dashboard_host=settings.dashboard_host,
            routes_namespaces={name: ns.metadata.name for name, ns in platform.namespaces.items()},
            otlp_endpoint=platform.endpoints.otlp_grpc,
            service_monitor=observing.enabled,
            monitor_labels=observing.monitor_labels,
            dns01_token=secret_value(dns01.api_token_secret)
            if dns01 and dns01.api_token_secret
            else None,
        ),
        opts=platform.first,
    )
    return replace(platform, gateway=gateway)
