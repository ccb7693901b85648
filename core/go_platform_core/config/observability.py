"""Metrics, logs and traces (Prometheus, Loki, Tempo, Grafana, Alloy): models and their rules."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import yaml
from pydantic import Field

from go_platform_core.config.base import CamelModel, within_domain
from go_platform_core.config.common import (
    ChartSource,
    ObjectStorageSettings,
    WithChartSources,
    chart_source,
    key_pair_problems,
)
from go_platform_core.config.errors import Problem
from go_platform_core.config.types import (
    ByteQuantity,
    ConfigKey,
    DnsLabel,
    DomainName,
    LabelKey,
    LabelValue,
    Number,
    Whole,
    without_credentials,
)


class ObservabilityS3Settings(ObjectStorageSettings):
    loki_chunks_bucket: str = Field(description="Bucket of Loki's chunks and index.")
    loki_ruler_bucket: str = Field(description="Bucket of Loki's ruler.")
    tempo_bucket: str = Field(description="Bucket of Tempo's traces.")


class ObservabilityStorageSettings(CamelModel):
    type: Literal["filesystem", "s3"] = Field(
        description="Where Loki and Tempo keep data: volumes, or S3 buckets."
    )
    size: ByteQuantity = Field("10Gi", description="Size of each data volume.")
    storage_class: str | None = Field(None, description="StorageClass of the data volumes.")
    s3: ObservabilityS3Settings | None = Field(None, description="`s3` only: the buckets.")


class RetentionSettings(CamelModel):
    metrics: str = Field(pattern=r"^[0-9]+(h|d|w)$", description="Prometheus retention (`15d`).")
    logs: str = Field(pattern=r"^[0-9]+h$", description="Loki retention, in hours (`168h`).")
    traces: str = Field(pattern=r"^[0-9]+h$", description="Tempo retention, in hours (`72h`).")


def _chart(chart: str, version: str, repository: str) -> Any:
    return chart_source(chart, version, repository, f"Where the {chart} chart comes from.")


_PROMETHEUS_CHARTS = "https://prometheus-community.github.io/helm-charts"
_GRAFANA_COMMUNITY_CHARTS = "https://grafana-community.github.io/helm-charts"
_GRAFANA_CHARTS = "https://grafana.github.io/helm-charts"


class ObservabilityCharts(WithChartSources):
    kube_prometheus_stack: ChartSource = _chart(
        "kube-prometheus-stack", "88.5.3", _PROMETHEUS_CHARTS
    )
    loki: ChartSource = _chart("loki", "18.11.0", _GRAFANA_COMMUNITY_CHARTS)
    tempo: ChartSource = _chart("tempo", "2.2.4", _GRAFANA_COMMUNITY_CHARTS)
    grafana: ChartSource = _chart("grafana", "12.11.1", _GRAFANA_COMMUNITY_CHARTS)
    alloy: ChartSource = _chart("alloy", "1.11.1", _GRAFANA_CHARTS)


class ObservabilitySettings(CamelModel):
    enabled: bool = Field(
        description="Wire services to metrics, traces and alerts (ServiceMonitor, OTLP, "
        "PrometheusRule, dashboard)."
    )
    install: bool = Field(
        description="Install Prometheus, Loki, Tempo, Grafana and Alloy; `false` uses the "
        "cluster's own and only wires services to them."
    )
    namespace: DnsLabel = Field(
        "monitoring",
        description="Namespace of the stack; with `install`, one of its own (no other part's), "
        "not `default` or `kube-*`.",
    )
    otlp_endpoint: Annotated[str, without_credentials(bare=True)] | None = Field(
        None,
        description="OTLP gRPC endpoint for services; Tempo's when installed, else none "
        "unless given.",
    )
    prometheus_url: Annotated[str, without_credentials(bare=True)] | None = Field(
        None, description="Prometheus query URL; the installed one's when `install`."
    )
    prometheus_replicas: Whole = Field(1, ge=1, description="Prometheus pods.")
    monitor_labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict,
        description="Labels added to every ServiceMonitor and PrometheusRule, for a "
        "Prometheus of the cluster's own that selects by others (`release: ...`).",
    )
    retention: RetentionSettings = Field(description="How long data is kept.")
    storage: ObservabilityStorageSettings = Field(
        description="Volumes of Prometheus, Loki and Tempo (`size`, `storageClass`); Loki's "
        "and Tempo's data on S3 with `s3`."
    )
    grafana_host: DomainName | None = Field(
        None, description="Grafana's host on the gateway; `grafana.<domain>` if unset."
    )
    availability_slo: Number = Field(
        99.9, gt=0, lt=100, description="Availability objective of every service, percent."
    )
    charts: ObservabilityCharts = Field(
        default_factory=ObservabilityCharts, description="Where the charts come from."
    )
    alertmanager_config_secret: ConfigKey | None = Field(
        None,
        description="With `install`: secret config key holding Alertmanager's configuration "
        "(YAML with `route` and `receivers`). Without it the alerts fire and reach no one.",
    )


def alertmanager_config_problem(text: str) -> str | None:
    """What keeps `text` from being an Alertmanager configuration that routes alerts
    somewhere: YAML with a `route` naming its `receiver` among `receivers`. Never quotes
    the text (it holds webhook URLs and keys)."""
    try:
        document = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError):
        return "is not YAML"
    if not isinstance(document, dict):
        return "must be a YAML mapping with `route` and `receivers`"
    receivers = document.get("receivers")
    if not isinstance(receivers, list) or not receivers:
        return "has no `receivers` list"
    names = {r.get("name") for r in receivers if isinstance(r, dict)}
    route = document.get("route")
    if not isinstance(route, dict) or not isinstance(route.get("receiver"), str):
        return "has no `route` with a `receiver`"
    if route["receiver"] not in names:
        return "routes to a receiver its `receivers` do not define"
    return None


def observability_problems(observability: ObservabilitySettings, domain: str) -> list[Problem]:
    """Rules on the observability settings; Grafana's host lies within `domain`."""
    problems = []
    if observability.install and observability.storage.type == "s3":
        if observability.storage.s3 is None:
            problems.append(
                Problem("observability.storage.s3", "is required with storage type 's3'")
            )
        else:
            problems += key_pair_problems("observability.storage.s3", observability.storage.s3)
    host = observability.grafana_host
    if host and not within_domain(host, domain):
        problems.append(
            Problem("observability.grafanaHost", f"{host!r} is outside the domain {domain!r}")
        )
    return problems
