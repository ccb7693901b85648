"""The exports layer: the stack outputs operators and the CI driver read."""

from __future__ import annotations

import pulumi

from components.module_proxy import AUTH_USER
from components.observability import GRAFANA_USER
from components.traefik_gateway import DASHBOARD_USER
from wiring.context import Platform


def export_outputs(platform: Platform) -> None:
    settings = platform.settings
    gateway, observability = platform.the_gateway(), platform.the_observability()
    pulumi.export("environment", settings.environment)
    pulumi.export("namespace", platform.namespaces[settings.namespace].metadata.name)
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
    proxy = platform.module_proxy
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
    pulumi.export("services", dict(platform.services))
