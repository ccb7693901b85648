"""Dashboards, alert rules, datasources and the log collector's configuration.

Invariants guarded:
- endpoints follow the installed charts' Services, or the config in bring-your-own mode;
- dashboards are valid Grafana JSON (unique panel ids, Prometheus targets) and query only
  metrics that exist: Traefik's per-service metrics and the Go runtime and process
  collectors every go-platform service exposes (checked against a real greeter process
  in tests/integration);
- alert rules pass `promtool check rules`, and `promtool test rules` proves the burn-rate
  alert fires for a failing service and stays silent for a healthy one and for errors
  below the burn threshold;
- rules and dashboards select the Traefik services that carry a service's requests, named
  as Traefik names them (its route's backend; with a canary, both tracks and the pinned
  rules), and nothing else;
- datasources link metrics, logs and traces both ways (exemplars, derived fields,
  traces-to-logs) by the uids Grafana provisions them under.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from go_platform_core.config import load_settings
from go_platform_core.telemetry import (
    alloy_config,
    endpoints,
    gateway_dashboard,
    gateway_rules,
    grafana_datasources,
    service_dashboard,
    service_rules,
    service_traffic,
    traefik_route_service,
    traefik_selector,
    traefik_service,
)
from tests.conftest import canary_service_settings, service_config, stack_config

# Metric names our dashboards may use: Traefik's (v3 reference), the Go and process
# collectors of client_golang, kube-state-metrics.
TRAEFIK_METRICS = {
    "traefik_service_requests_total",
    "traefik_service_request_duration_seconds_bucket",
    "traefik_entrypoint_requests_total",
    "traefik_entrypoint_request_duration_seconds_bucket",
    "traefik_open_connections",
}
GO_METRICS = {
    "go_goroutines",
    "go_memstats_heap_inuse_bytes",
    "go_gc_duration_seconds",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
}
PROMQL_FUNCTIONS = {
    "sum",
    "rate",
    "by",
    "histogram_quantile",
    "max",
    "le",
    "increase",
    "absent",
    "and",
    "or",
}


def metric_names(expr: str) -> set[str]:
    """Identifiers in a PromQL expression that are neither functions, label names nor values."""
    without_matchers = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)
    without_grouping = re.sub(r"by \([^)]*\)", "", without_matchers)
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_grouping))
    return names - PROMQL_FUNCTIONS - {"e"}


def dashboard_exprs(dashboard: dict) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_endpoints_of_the_installed_stack():
    found = endpoints(load_settings(stack_config(domain="example.com"), stack="dev").observability)
    assert found.otlp_grpc == "http://tempo.monitoring.svc.cluster.local:4317"
    assert found.prometheus == "http://kps-prometheus.monitoring.svc.cluster.local:9090"
    assert found.loki == "http://loki.monitoring.svc.cluster.local:3100"
    assert found.grafana == "http://grafana.monitoring.svc.cluster.local:80"


def test_endpoints_in_bring_your_own_mode():
    settings = load_settings(
        stack_config(
            observability={
                "otlpEndpoint": "http://otel.obs:4317",
                "prometheusUrl": "http://prom.obs:9090",
            }
        ),
        stack="local",
    ).observability
    found = endpoints(settings)
    assert (found.otlp_grpc, found.prometheus, found.grafana) == (
        "http://otel.obs:4317",
        "http://prom.obs:9090",
        None,
    )


def routed_service(**settings):
    """A validated dev service `greeter` routed at greeter.example.com."""
    config = stack_config(
        domain="example.com",
        services=[service_config(route={"host": "greeter.example.com"}, **settings)],
    )
    return load_settings(config, stack="dev").services[0]


GREETER_ROUTE = traefik_route_service("apps", "greeter", "Host(`greeter.example.com`)")
TRAFFIC = service_traffic(routed_service(), "apps")


def test_traefik_service_label():
    assert traefik_service("apps", "greeter-canary") == "apps-greeter-canary-http@kubernetescrd"


def test_a_routes_backend_is_named_as_traefik_names_it():
    # Traefik's own test vector (pkg/provider/kubernetes/crd, fixtures/simple.yml): the
    # IngressRoute `test.route` in `default`, its rule's match hashed into the name.
    assert (
        traefik_route_service("default", "test.route", "Host(`foo.com`) && PathPrefix(`/bar`)")
        == "default-test-route-6b204d94623b3df4370c@kubernetescrd"
    )


def test_a_service_without_a_canary_is_measured_at_its_routes_backend():
    assert TRAFFIC == (GREETER_ROUTE,)


def test_a_canary_is_measured_on_both_tracks_and_the_pinned_rules():
    traffic = service_traffic(canary_service_settings(), "apps")
    pinned = "Host(`greeter.example.com`) && Header(`X-Canary`, `{}`)"
    assert traffic == (
        "apps-greeter-http@kubernetescrd",
        "apps-greeter-canary-http@kubernetescrd",
        traefik_route_service("apps", "greeter", pinned.format("always")),
        traefik_route_service("apps", "greeter", pinned.format("never")),
    )


def test_a_service_without_a_route_has_no_gateway_traffic_nor_rules_and_panels_on_it():
    config = stack_config(domain="example.com", services=[service_config()])
    assert service_traffic(load_settings(config, stack="dev").services[0], "apps") == ()
    rules = service_rules("greeter", "apps", (), 99.9)
    assert [r["alert"] for g in rules["groups"] for r in g["rules"]] == ["ContainerRestarting"]
    assert "traefik" not in json.dumps(service_dashboard("greeter", "apps", ()))


@pytest.mark.parametrize(
    "dashboard",
    [service_dashboard("greeter", "apps", TRAFFIC), gateway_dashboard("websecure")],
    ids=["service", "gateway"],
)
def test_dashboards_are_valid_and_query_known_metrics(dashboard):
    assert json.loads(json.dumps(dashboard)) == dashboard
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert len(dashboard["uid"]) <= 40
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}
        assert panel["targets"]
    for expr in dashboard_exprs(dashboard):
        unknown = metric_names(expr) - TRAEFIK_METRICS - GO_METRICS
        assert not unknown, f"{expr}: {unknown}"


def test_service_dashboard_selects_its_traffic_and_both_tracks_pods_only():
    traffic = service_traffic(canary_service_settings(), "apps")
    exprs = " ".join(dashboard_exprs(service_dashboard("greeter", "apps", traffic)))
    assert traefik_selector(traffic) in exprs
    assert 'namespace="apps",service=~"greeter(-canary)?"' in exprs
    selector = re.compile("|".join(traffic))
    assert selector.fullmatch("apps-greeter-canary-http@kubernetescrd")
    assert not selector.fullmatch("apps-greeter-admin-http@kubernetescrd")


def test_datasources_link_each_other():
    found = endpoints(load_settings(stack_config(domain="example.com"), stack="dev").observability)
    sources = {d["uid"]: d for d in grafana_datasources(found)}
    assert set(sources) == {"prometheus", "loki", "tempo"}
    assert sources["prometheus"]["isDefault"] is True
    destinations = sources["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    # The services' exemplars name the trace `trace_id`, Tempo's span metrics `traceID`.
    assert {d["name"]: d["datasourceUid"] for d in destinations} == {
        "trace_id": "tempo",
        "traceID": "tempo",
    }
    derived = sources["loki"]["jsonData"]["derivedFields"][0]
    assert derived["datasourceUid"] == "tempo"
    assert re.search(
        derived["matcherRegex"], '{"level":"INFO","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}'
    ).group(1) == ("4bf92f3577b34da6a3ce929d0e0e4736")
    assert "{{" not in json.dumps(sources)  # the chart renders datasources through tpl
    to_logs = sources["tempo"]["jsonData"]["tracesToLogsV2"]
    assert to_logs["datasourceUid"] == "loki"
    assert to_logs["filterByTraceID"] is True
    assert sources["tempo"]["jsonData"]["serviceMap"] == {"datasourceUid": "prometheus"}


def test_alloy_ships_pod_logs_to_loki():
    config = alloy_config("http://loki.monitoring.svc.cluster.local:3100/loki/api/v1/push")
    assert 'url = "http://loki.monitoring.svc.cluster.local:3100/loki/api/v1/push"' in config
    assert "loki.source.kubernetes" in config  # through the API: no hostPath, no root
    assert "loki.source.file" not in config
    assert config.count("{") == config.count("}")


# --- promtool ---------------------------------------------------------------------------

promtool = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool not installed: run `make system-deps` (Debian package `prometheus`)",
)


def write_rules(tmp_path, spec):
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@promtool
@pytest.mark.parametrize(
    "spec",
    [service_rules("greeter", "apps", TRAFFIC, 99.9), gateway_rules("traefik", "websecure")],
    ids=["service", "gateway"],
)
def test_rules_pass_promtool(tmp_path, spec):
    result = subprocess.run(
        ["promtool", "check", "rules", str(write_rules(tmp_path, spec))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def burn_test(
    tmp_path, errors_per_minute: int, expected: list[dict]
) -> subprocess.CompletedProcess:
    rules = write_rules(tmp_path, service_rules("greeter", "apps", TRAFFIC, 99.9))
    spec = {
        "rule_files": [rules.name],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": f'traefik_service_requests_total{{service="{GREETER_ROUTE}",code="200"}}',
                        "values": f"0+{1000 - errors_per_minute}x120",
                    },
                    {
                        "series": f'traefik_service_requests_total{{service="{GREETER_ROUTE}",code="503"}}',
                        "values": f"0+{errors_per_minute}x120",
                    },
                    # Another service's errors never count against greeter.
                    {
                        "series": 'traefik_service_requests_total{service="apps-other-http@kubernetescrd",code="500"}',
                        "values": "0+1000x120",
                    },
                ],
                "alert_rule_test": [
                    {"eval_time": "70m", "alertname": "ErrorBudgetBurn", "exp_alerts": expected}
                ],
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(spec))
    return subprocess.run(
        ["promtool", "test", "rules", "test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )


FIRING = [
    {
        "exp_labels": {
            "go_platform_service": "greeter",
            "namespace": "apps",
            "service": "greeter",
            "severity": "critical",
        },
        "exp_annotations": {
            "summary": "greeter is spending its 99.9% error budget fast",
            "description": "5xx responses through the gateway exceed the burn rate that would exhaust "
            "a 30-day error budget within days.",
        },
    }
]


@promtool
def test_burn_rate_alert_fires_for_a_failing_service(tmp_path):
    result = burn_test(tmp_path, errors_per_minute=100, expected=FIRING)  # 10% errors
    assert result.returncode == 0, result.stdout + result.stderr


@promtool
@pytest.mark.parametrize("errors_per_minute", [0, 5], ids=["healthy", "below-burn-rate"])
def test_burn_rate_alert_stays_silent(tmp_path, errors_per_minute):
    result = burn_test(tmp_path, errors_per_minute=errors_per_minute, expected=[])
    assert result.returncode == 0, result.stdout + result.stderr


@promtool
def test_burn_test_itself_fails_when_expectations_are_wrong(tmp_path):
    """Guards the harness: a silent alert expected to fire must fail promtool."""
    assert burn_test(tmp_path, errors_per_minute=0, expected=FIRING).returncode != 0
