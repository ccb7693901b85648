"""Pure builders for what wires services to metrics, logs and traces: endpoints, Traefik
metric selectors, Grafana dashboards and datasources, Prometheus alert rules, the log
collector's configuration. Plain values in, plain values out."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from go_platform_core.canary import header_match
from go_platform_core.config import ObservabilitySettings, ServiceSettings
from go_platform_core.kube import HTTP_PORT_NAME, TRACKS, route_match, workload_name

# Release names the ObservabilityStack installs its charts under; Services follow them.
PROMETHEUS_RELEASE = "kps"
LOKI_RELEASE = "loki"
TEMPO_RELEASE = "tempo"
GRAFANA_RELEASE = "grafana"
ALLOY_RELEASE = "alloy"

DASHBOARD_LABEL = ("grafana_dashboard", "1")
"""ConfigMaps with this label are loaded by Grafana's dashboard sidecar, in any namespace."""

# Traefik's default latency buckets are 0.1, 0.3, 1.2 and 5 s: thresholds sit on them.
TRAEFIK_REQUESTS = "traefik_service_requests_total"
TRAEFIK_SCRAPE_SECONDS = 30
"""How often Prometheus scrapes Traefik (the gateway's ServiceMonitor)."""
TRAEFIK_DURATION = "traefik_service_request_duration_seconds_bucket"


@dataclass(frozen=True)
class Endpoints:
    """Where services and tools reach the observability stack (None: not available)."""

    otlp_grpc: str | None
    prometheus: str | None
    loki: str | None
    tempo: str | None
    grafana: str | None


def endpoints(settings: ObservabilitySettings) -> Endpoints:
    """The in-cluster endpoints of the installed stack, or what the config names."""
    if not settings.install:
        return Endpoints(
            otlp_grpc=settings.otlp_endpoint,
            prometheus=settings.prometheus_url,
            loki=None,
            tempo=None,
            grafana=None,
        )

    def url(service: str, port: int) -> str:
        return f"http://{service}.{settings.namespace}.svc.cluster.local:{port}"

    return Endpoints(
        otlp_grpc=settings.otlp_endpoint or url(TEMPO_RELEASE, 4317),
        prometheus=settings.prometheus_url or url(f"{PROMETHEUS_RELEASE}-prometheus", 9090),
        loki=url(LOKI_RELEASE, 3100),
        tempo=url(TEMPO_RELEASE, 3200),
        grafana=url(GRAFANA_RELEASE, 80),
    )


# How Traefik's kubernetescrd provider names the services it builds, and so the `service`
# label of their metrics (Traefik v3, pkg/provider/kubernetes/crd):
# - a Kubernetes Service that is a member of a weighted TraefikService: after the Service
#   and its port, `<namespace>-<service>-<port>`;
# - a Kubernetes Service that is an IngressRoute rule's only backend: after the route and
#   the rule's match, `<namespace>-<route>-<the first 10 bytes of sha256(match), in hex>`.
# Either is normalized (every run of characters other than letters and digits is one dash)
# and carries the provider's suffix.
TRAEFIK_PROVIDER = "@kubernetescrd"


def traefik_name(text: str) -> str:
    """`text` as Traefik normalizes a name it builds."""
    return "-".join(re.findall(r"[^\W_]+", text))


def traefik_service(namespace: str, workload: str) -> str:
    """Traefik's `service` label for a go-platform Service's API port as a member of a
    weighted TraefikService (the stable and canary tracks behind a CanaryRoute)."""
    return traefik_name(f"{namespace}-{workload}-{HTTP_PORT_NAME}") + TRAEFIK_PROVIDER


def traefik_route_service(namespace: str, route: str, match: str) -> str:
    """Traefik's `service` label for the Kubernetes Service an IngressRoute rule (`match`,
    of the IngressRoute named `route`) sends all its requests to."""
    digest = hashlib.sha256(match.encode()).hexdigest()[:20]
    return traefik_name(f"{namespace}-{route}-{digest}") + TRAEFIK_PROVIDER


def service_traffic(service: ServiceSettings, namespace: str) -> tuple[str, ...]:
    """The `service` labels of every Traefik service that carries `service`'s requests:
    its route's one backend; with a canary, both tracks' members of the weighted
    TraefikService and the two header-pinned rules. Empty without a route."""
    route = service.route
    if route is None:
        return ()
    match = route_match(route.host, route.path_prefix)
    if service.canary is None:
        return (traefik_route_service(namespace, service.name, match),)
    header = service.canary.header
    return (
        *(traefik_service(namespace, workload_name(service.name, t)) for t in TRACKS),
        *(
            traefik_route_service(namespace, service.name, header_match(match, header.name, v))
            for v in (header.always, header.never)
        ),
    )


def traefik_selector(services: Sequence[str]) -> str:
    """Label matcher for the Traefik services named (their names need no regex escaping:
    letters, digits, dashes and the provider's `@`)."""
    return f'service=~"{"|".join(services)}"'


def error_ratio(selector: str, window: str) -> str:
    """Share of 5xx responses among all responses over `window`."""
    return (
        f'sum(rate({TRAEFIK_REQUESTS}{{{selector},code=~"5.."}}[{window}]))'
        f" / sum(rate({TRAEFIK_REQUESTS}{{{selector}}}[{window}]))"
    )


def success_ratio(selector: str, window: str) -> str:
    """Share of non-5xx responses among all responses over `window`.

    Not `1 - error_ratio`: a service that never answered 5xx has no 5xx series at all, so
    the non-5xx series are counted. Empty when the service has no request series (a missing
    metric), NaN when it had no requests in the window.
    """
    return (
        f'(sum(rate({TRAEFIK_REQUESTS}{{{selector},code!~"5.."}}[{window}])) or vector(0))'
        f" / sum(rate({TRAEFIK_REQUESTS}{{{selector}}}[{window}]))"
    )


def latency_quantile(selector: str, quantile: float, window: str = "5m") -> str:
    return (
        f"histogram_quantile({quantile}, sum by (le) "
        f"(rate({TRAEFIK_DURATION}{{{selector}}}[{window}])))"
    )


# --- alert rules ---------------------------------------------------------------------

BURN_WINDOWS = ("5m", "30m", "1h", "6h")


def service_rules(
    service: str, namespace: str, traffic: Sequence[str], availability_slo: float
) -> dict[str, Any]:
    """PrometheusRule spec for one service: error-budget burn (multi-window, multi-rate,
    as in the SRE workbook: 14.4x over 1h and 5m pages, 6x over 6h and 30m pages) and
    slow responses, measured at the gateway on the Traefik services in `traffic`
    (`service_traffic`), and restarting containers."""
    selector = traefik_selector(traffic)
    budget = round(1 - availability_slo / 100, 10)
    labels = {"go_platform_service": service, "namespace": namespace}
    recorded = {window: f"go_platform:service_errors:ratio_rate{window}" for window in BURN_WINDOWS}

    def ratio(window: str) -> str:
        return f'{recorded[window]}{{go_platform_service="{service}"}}'

    def burning(rate: float, long: str, short: str) -> str:
        threshold = round(rate * budget, 10)
        return f"({ratio(long)} > {threshold} and {ratio(short)} > {threshold})"

    summary_labels = {"service": service, "namespace": namespace}
    slo = {
        "name": f"{service}.slo",
        "rules": [
            *(
                {
                    "record": recorded[window],
                    "expr": error_ratio(selector, window),
                    "labels": labels,
                }
                for window in BURN_WINDOWS
            ),
            {
                "alert": "ErrorBudgetBurn",
                "expr": f"{burning(14.4, '1h', '5m')} or {burning(6, '6h', '30m')}",
                "labels": {**summary_labels, "severity": "critical"},
                "annotations": {
                    "summary": f"{service} is spending its {availability_slo}% error budget fast",
                    "description": "5xx responses through the gateway exceed the burn rate "
                    "that would exhaust a 30-day error budget within days.",
                },
            },
        ],
    }
    slow = {
        "alert": "SlowResponses",
        "expr": f"{latency_quantile(selector, 0.99)} > 1.2",
        "for": "15m",
        "labels": {**summary_labels, "severity": "warning"},
        "annotations": {"summary": f"{service} p99 latency above 1.2s for 15 minutes"},
    }
    restarting = {
        "alert": "ContainerRestarting",
        "expr": "increase(kube_pod_container_status_restarts_total"
        f'{{namespace="{namespace}",container="{service}"}}[15m]) > 2',
        "labels": {**summary_labels, "severity": "warning"},
        "annotations": {"summary": f"{service} containers restarted more than twice in 15 minutes"},
    }
    # A service the gateway does not route has no requests to measure there.
    health = {"name": f"{service}.health", "rules": [slow, restarting] if traffic else [restarting]}
    return {"groups": [slo, health] if traffic else [health]}


def gateway_rules(namespace: str, entry_point: str) -> dict[str, Any]:
    """PrometheusRule spec for the gateway: down, and failing requests at the entrypoint."""
    entry = f'entrypoint="{entry_point}"'
    return {
        "groups": [
            {
                "name": "gateway",
                "rules": [
                    {
                        "alert": "GatewayDown",
                        "expr": f'absent(up{{namespace="{namespace}"}} == 1)',
                        "for": "5m",
                        "labels": {"severity": "critical"},
                        "annotations": {
                            "summary": "No Traefik instance is being scraped successfully"
                        },
                    },
                    {
                        "alert": "GatewayErrors",
                        "expr": f'sum(rate(traefik_entrypoint_requests_total{{{entry},code=~"5.."}}[5m]))'
                        f" / sum(rate(traefik_entrypoint_requests_total{{{entry}}}[5m])) > 0.05",
                        "for": "10m",
                        "labels": {"severity": "critical"},
                        "annotations": {
                            "summary": f"More than 5% of requests on {entry_point} fail"
                        },
                    },
                ],
            }
        ]
    }


# --- dashboards ----------------------------------------------------------------------


def _panel(title: str, targets: list[tuple[str, str]], x: int, y: int, unit: str) -> dict[str, Any]:
    return {
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "gridPos": {"x": x, "y": y, "w": 12, "h": 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(targets)
        ],
    }


def _dashboard(
    uid: str, title: str, tags: list[str], panels: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "uid": uid[:40],
        "title": title,
        "tags": ["go-platform", *tags],
        "schemaVersion": 39,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "panels": [{**panel, "id": i + 1} for i, panel in enumerate(panels)],
    }


def service_dashboard(service: str, namespace: str, traffic: Sequence[str]) -> dict[str, Any]:
    """One Go service: RED metrics from the gateway (the Traefik services in `traffic`),
    Go runtime metrics from its pods."""
    traefik = traefik_selector(traffic)
    pods = f'namespace="{namespace}",service=~"{service}(-canary)?"'
    # A service the gateway does not route has no requests to show from there.
    gateway = [
        _panel(
            "Requests by status",
            [(f"sum by (code) (rate({TRAEFIK_REQUESTS}{{{traefik}}}[5m]))", "{{code}}")],
            0,
            0,
            "reqps",
        ),
        _panel("Error ratio", [(error_ratio(traefik, "5m"), "5xx share")], 12, 0, "percentunit"),
        _panel(
            "Latency",
            [(latency_quantile(traefik, q), f"p{int(q * 100)}") for q in (0.5, 0.9, 0.99)],
            0,
            8,
            "s",
        ),
    ]
    return _dashboard(
        f"go-{namespace}-{service}",
        f"{service} ({namespace})",
        ["service"],
        [
            *(gateway if traffic else []),
            _panel(
                "Goroutines",
                [(f"sum by (pod) (go_goroutines{{{pods}}})", "{{pod}}")],
                12,
                8,
                "short",
            ),
            _panel(
                "Heap in use",
                [(f"sum by (pod) (go_memstats_heap_inuse_bytes{{{pods}}})", "{{pod}}")],
                0,
                16,
                "bytes",
            ),
            _panel(
                "GC pause (max)",
                [(f'max by (pod) (go_gc_duration_seconds{{{pods},quantile="1"}})', "{{pod}}")],
                12,
                16,
                "s",
            ),
            _panel(
                "CPU",
                [(f"sum by (pod) (rate(process_cpu_seconds_total{{{pods}}}[5m]))", "{{pod}}")],
                0,
                24,
                "short",
            ),
            _panel(
                "Resident memory",
                [(f"sum by (pod) (process_resident_memory_bytes{{{pods}}})", "{{pod}}")],
                12,
                24,
                "bytes",
            ),
        ],
    )


def gateway_dashboard(entry_point: str) -> dict[str, Any]:
    """The gateway: traffic, failures and latency at the entrypoint, busiest services."""
    entry = f'entrypoint="{entry_point}"'
    return _dashboard(
        "go-platform-gateway",
        "Gateway (Traefik)",
        ["gateway"],
        [
            _panel(
                "Requests by status",
                [
                    (
                        f"sum by (code) (rate(traefik_entrypoint_requests_total{{{entry}}}[5m]))",
                        "{{code}}",
                    )
                ],
                0,
                0,
                "reqps",
            ),
            _panel(
                "p99 latency",
                [
                    (
                        f"histogram_quantile(0.99, sum by (le) (rate(traefik_entrypoint_request_duration_seconds_bucket{{{entry}}}[5m])))",
                        "p99",
                    )
                ],
                12,
                0,
                "s",
            ),
            _panel(
                "Open connections",
                [("sum by (entrypoint) (traefik_open_connections)", "{{entrypoint}}")],
                0,
                8,
                "short",
            ),
            _panel(
                "5xx by service",
                [
                    (
                        f'sum by (service) (rate({TRAEFIK_REQUESTS}{{code=~"5.."}}[5m]))',
                        "{{service}}",
                    )
                ],
                12,
                8,
                "reqps",
            ),
        ],
    )


# --- Grafana and the log collector ----------------------------------------------------


def grafana_datasources(found: Endpoints) -> list[dict[str, Any]]:
    """Prometheus, Loki and Tempo linked both ways: exemplars and log lines open their
    trace, a trace opens its logs (by trace id) and its service map."""
    view_trace = {"datasourceUid": "tempo", "urlDisplayLabel": "View trace"}
    return [
        {
            "name": "Prometheus",
            "uid": "prometheus",
            "type": "prometheus",
            "access": "proxy",
            "url": found.prometheus,
            "isDefault": True,
            # The services' exemplars carry `trace_id`; Tempo's span metrics `traceID`.
            "jsonData": {
                "exemplarTraceIdDestinations": [
                    {"name": "trace_id", **view_trace},
                    {"name": "traceID", **view_trace},
                ]
            },
        },
        {
            "name": "Loki",
            "uid": "loki",
            "type": "loki",
            "access": "proxy",
            "url": found.loki,
            "jsonData": {
                "derivedFields": [
                    {
                        "name": "TraceID",
                        # Our services log JSON with a `trace_id` field.
                        "matcherRegex": r'"trace_id"\s*:\s*"(\w+)"',
                        # `$$` survives Grafana's environment expansion as `$`.
                        "url": "$${__value.raw}",
                        **view_trace,
                    }
                ]
            },
        },
        {
            "name": "Tempo",
            "uid": "tempo",
            "type": "tempo",
            "access": "proxy",
            "url": found.tempo,
            "jsonData": {
                "tracesToLogsV2": {
                    "datasourceUid": "loki",
                    "spanStartTimeShift": "-5m",
                    "spanEndTimeShift": "5m",
                    "filterByTraceID": True,
                    "filterBySpanID": False,
                    "tags": [
                        {"key": "k8s.namespace.name", "value": "namespace"},
                        {"key": "service.name", "value": "app"},
                    ],
                },
                "serviceMap": {"datasourceUid": "prometheus"},
                "nodeGraph": {"enabled": True},
                "search": {"hide": False},
            },
        },
    ]


def alloy_config(loki_push_url: str) -> str:
    """Grafana Alloy: read every pod's logs through the API (no hostPath, no root), keep
    namespace, pod, container and app as labels, lift `level` and `trace_id` from JSON."""
    return f"""discovery.kubernetes "pods" {{
  role = "pod"
  selectors {{
    role  = "pod"
    field = "spec.nodeName=" + coalesce(sys.env("HOSTNAME"), constants.hostname)
  }}
}}

discovery.relabel "pods" {{
  targets = discovery.kubernetes.pods.targets
  rule {{
    source_labels = ["__meta_kubernetes_namespace"]
    target_label  = "namespace"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_name"]
    target_label  = "pod"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_container_name"]
    target_label  = "container"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]
    target_label  = "app"
  }}
}}

loki.source.kubernetes "pods" {{
  targets    = discovery.relabel.pods.output
  forward_to = [loki.process.json.receiver]
}}

loki.process "json" {{
  stage.json {{
    expressions = {{ level = "level", trace_id = "trace_id" }}
  }}
  stage.labels {{
    values = {{ level = "" }}
  }}
  stage.structured_metadata {{
    values = {{ trace_id = "" }}
  }}
  forward_to = [loki.write.default.receiver]
}}

loki.write "default" {{
  endpoint {{
    url = "{loki_push_url}"
  }}
}}
"""
