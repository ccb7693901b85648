"""The observability layer: ObservabilityStack, and how workloads are wired to it."""

from __future__ import annotations

from dataclasses import replace

import pulumi

from components.crds import custom_resources_wait_for
from components.go_service import ObservabilityBinding
from components.observability import ObservabilityStack, ObservabilityStackArgs
from go_platform_core import kube
from wiring.context import Platform
from wiring.secrets import aws_keys, secret_value


def setup_observability(platform: Platform) -> Platform:
    settings = platform.settings
    observing = settings.observability
    gateway = platform.the_gateway()
    observability = ObservabilityStack(
        "observability",
        ObservabilityStackArgs(
            settings=observing,
            environment=settings.environment,
            namespace=platform.namespaces[observing.namespace].metadata.name
            if observing.install
            else observing.namespace,
            grafana_host=settings.grafana_host,
            gateway=gateway.binding(observing.namespace) if observing.install else None,
            s3_credentials=aws_keys(observing.storage.s3)
            if observing.install and observing.storage.type == "s3"
            else {},
            alertmanager_config=secret_value(observing.alertmanager_config_secret)
            if observing.install and observing.alertmanager_config_secret
            else None,
        ),
        opts=platform.first,
    )
    watched = (
        ObservabilityBinding(
            namespace=observing.namespace,
            otlp_endpoint=platform.endpoints.otlp_grpc,
            availability_slo=observing.availability_slo,
            monitor_labels=observing.monitor_labels,
            scraper_labels=kube.PROMETHEUS_POD_LABELS if observing.install else {},
        )
        if observing.enabled
        else None
    )
    # Where charts bring the definitions (and the operators and webhooks that serve them), a
    # custom resource created from here on waits for the chart of its API group; nothing else
    # waits for the gateway's or observability's objects (a Deployment waits for nothing).
    charts = {**gateway.definitions, **observability.definitions}
    if charts:
        pulumi.runtime.register_stack_transformation(
            custom_resources_wait_for(lambda group: [charts[group]] if group in charts else [])
        )
    return replace(platform, observability=observability, watched=watched)
