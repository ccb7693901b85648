"""ObservabilityStack under mocks, and its chart values.

Invariants guarded:
- installed (dev/staging/prod): five pinned charts (kube-prometheus-stack, Loki, Tempo,
  Grafana, Alloy), after the Secrets they read; bring-your-own (local): no chart, but the
  gateway's alerts and dashboard, and services still wired to the configured endpoints;
- Prometheus selects ServiceMonitors, PodMonitors and rules by the platform label that
  every ServiceMonitor and PrometheusRule the program creates carries (no `release`
  label trap), in every namespace; exemplars and remote write on;
- retention and storage per environment; Loki single binary on a volume, or S3 in prod
  with credentials from a Secret (never in values); Tempo OTLP gRPC and HTTP receivers,
  S3 in prod;
- Grafana: admin password from pulumi_random in a Secret (secret output), datasources
  linked, dashboards from labelled ConfigMaps anywhere, a TLS route on the gateway;
- Alloy reads logs through the API as a non-root user;
- services get OTEL_EXPORTER_OTLP_ENDPOINT of Tempo and a NetworkPolicy egress to it;
- what the policy pack refuses in staging and prod, set through each chart's values (the
  charts are not rendered here): every container the charts run has cpu and memory
  requests and limits, no request above its limit, limits within every environment's caps;
  Tempo, Grafana and its sidecar run confined on a read-only root, with emptyDirs where
  they write; Grafana has no root init container chowning its volume (fsGroup does it);
  Grafana's sidecar and Alloy have both probes, and Alloy no unprobed config-reloader;
  kube-prometheus-stack needs none of its hooks (helm.v4.Chart drops them); the stack's
  namespace has a NetworkPolicy letting in only the stack, traces, queries and the gateway.
"""

from __future__ import annotations

import json
import runpy
from decimal import Decimal
from typing import Any

import pulumi
import pytest

from components.observability import (
    alloy_values,
    grafana_values,
    loki_values,
    prometheus_values,
    stack_network_policy_spec,
    tempo_values,
)
from go_platform_core.config import ConfigError, load_settings
from go_platform_core.telemetry import endpoints
from go_platform_core.units import parse_quantity
from tests.conftest import REPO, service_config, stack_config
from tests.crd_schemas import validate_custom_resource

DOMAIN = "example.com"


def settings_for(stack, secrets=None, **observability):
    config = stack_config(secrets=secrets, domain=DOMAIN, observability=observability)
    return load_settings(config, stack=stack).observability


def run(pulumi_program, stack="dev", secrets=None, **observability):
    return pulumi_program(
        lambda: runpy.run_path(str(REPO / "__main__.py"), run_name="__main__"),
        stack=stack,
        config=stack_config(
            secrets=secrets,
            domain=DOMAIN,
            observability=observability,
            moduleProxy={"enabled": False},
            services=[service_config(replicas=2, route={"host": f"greeter.{DOMAIN}"})],
        ),
    )


def charts(recording):
    return {r.inputs["name"]: r.inputs for r in recording.by_type("kubernetes:helm.sh/v4:Chart")}


def test_installs_five_pinned_charts_after_their_secrets(pulumi_program):
    recording = run(pulumi_program)
    installed = {n: c for n, c in charts(recording).items() if n not in ("traefik", "cert-manager")}
    assert {n: (c["chart"], c["version"]) for n, c in installed.items()} == {
        "kps": ("kube-prometheus-stack", "88.5.3"),
        "loki": ("loki", "18.11.0"),
        "tempo": ("tempo", "2.2.4"),
        "grafana": ("grafana", "12.11.1"),
        "alloy": ("alloy", "1.11.1"),
    }
    assert (
        installed["loki"]["repositoryOpts"]["repo"]
        == "https://grafana-community.github.io/helm-charts"
    )
    assert all(c["namespace"] == "monitoring" for c in installed.values())
    grafana_secret = recording.one("Secret", name="observability-grafana-admin")
    for chart in recording.by_type("kubernetes:helm.sh/v4:Chart"):
        if chart.inputs["name"] in installed:
            assert grafana_secret.urn in chart.dependencies


def test_bring_your_own_installs_nothing_but_wires_services(pulumi_program):
    recording = run(pulumi_program, "local", otlpEndpoint="http://collector.obs:4317")
    assert [c for c in charts(recording) if c not in ("traefik", "cert-manager")] == []
    # Even without an installed stack, the gateway's own alerts sit beside Traefik.
    assert (
        recording.one("PrometheusRule", name="gateway-alerts").inputs["metadata"]["namespace"]
        == "traefik"
    )
    env = {
        e["name"]: e.get("value")
        for e in recording.one("Deployment", parent="greeter").inputs["spec"]["template"]["spec"][
            "containers"
        ][0]["env"]
    }
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector.obs:4317"


def test_prometheus_selects_the_platform_label_everywhere():
    spec = prometheus_values(settings_for("dev"))["prometheus"]["prometheusSpec"]
    for kind in ("serviceMonitor", "podMonitor", "rule", "probe"):
        assert spec[f"{kind}Selector"] == {"matchLabels": {"go-platform/scrape": "true"}}
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False
        assert spec[f"{kind}NamespaceSelector"] == {}
    assert spec["enableFeatures"] == ["exemplar-storage"]
    assert spec["enableRemoteWriteReceiver"] is True


def test_every_monitor_and_rule_the_program_creates_is_selected(pulumi_program):
    recording = run(pulumi_program)
    selector = prometheus_values(settings_for("dev"))["prometheus"]["prometheusSpec"][
        "serviceMonitorSelector"
    ]
    wanted = selector["matchLabels"].items()
    monitored = recording.of_kind("ServiceMonitor") + recording.of_kind("PrometheusRule")
    assert len(monitored) >= 3
    for resource in monitored:
        assert wanted <= resource.inputs["metadata"]["labels"].items(), resource.name
    values = charts(recording)
    assert values["traefik"]["values"]["metrics"]["prometheus"]["serviceMonitor"][
        "additionalLabels"
    ] == {"go-platform/scrape": "true"}
    assert values["kps"]["values"]["commonLabels"] == {"go-platform/scrape": "true"}
    assert values["loki"]["values"]["monitoring"]["serviceMonitor"]["labels"] == {
        "go-platform/scrape": "true"
    }


@pytest.mark.parametrize(
    ("stack", "metrics", "logs", "traces"),
    [
        ("dev", "3d", "72h", "24h"),
        ("staging", "7d", "168h", "72h"),
        ("prod", "30d", "720h", "168h"),
    ],
)
def test_retention_per_environment(stack, metrics, logs, traces):
    settings = settings_for(stack)
    assert prometheus_values(settings)["prometheus"]["prometheusSpec"]["retention"] == metrics
    assert loki_values(settings)["loki"]["limits_config"]["retention_period"] == logs
    assert tempo_values(settings, "http://prom:9090")["tempo"]["retention"] == traces


def test_loki_single_binary_on_a_volume():
    values = loki_values(settings_for("dev"))
    assert values["deploymentMode"] == "Monolithic"
    assert values["singleBinary"]["replicas"] == 1
    assert values["singleBinary"]["persistence"] == {"enabled": True, "size": "10Gi"}
    assert (values["read"], values["write"], values["backend"]) == ({"replicas": 0},) * 3
    assert values["loki"]["storage"] == {"type": "filesystem"}
    assert values["loki"]["schemaConfig"]["configs"][0]["object_store"] == "filesystem"
    assert values["loki"]["compactor"]["delete_request_store"] == "filesystem"
    assert values["loki"]["auth_enabled"] is False


def test_loki_and_tempo_on_s3_in_prod_with_credentials_from_a_secret(pulumi_program):
    keys = {"obsKey": "AKIA-obs", "obsSecret": "very-secret"}
    settings = settings_for(
        "prod",
        keys,
        storage={"s3": {"accessKeyIdSecret": "obsKey", "secretAccessKeySecret": "obsSecret"}},
    )
    loki = loki_values(settings)
    assert loki["loki"]["storage"]["bucketNames"] == {
        "chunks": "logs-chunks",
        "ruler": "logs-ruler",
    }
    assert loki["loki"]["storage"]["s3"]["accessKeyId"] == "${AWS_ACCESS_KEY_ID}"
    assert loki["defaults"]["extraEnvFrom"] == [{"secretRef": {"name": "observability-s3"}}]
    assert "-config.expand-env=true" in loki["defaults"]["extraArgs"]
    tempo = tempo_values(settings, "http://prom:9090")["tempo"]
    assert tempo["storage"]["trace"]["backend"] == "s3"
    assert tempo["storage"]["trace"]["s3"]["bucket"] == "traces"

    recording = run(
        pulumi_program,
        "prod",
        secrets={"obsKey": "AKIA-obs", "obsSecret": "very-secret"},
        storage={"s3": {"accessKeyIdSecret": "obsKey", "secretAccessKeySecret": "obsSecret"}},
    )
    secret = recording.one("Secret", name="observability-s3-credentials")
    assert secret.inputs["stringData"] == {
        "AWS_ACCESS_KEY_ID": "AKIA-obs",
        "AWS_SECRET_ACCESS_KEY": "very-secret",
    }
    assert secret.has_secret("stringData")
    for chart in recording.by_type("kubernetes:helm.sh/v4:Chart"):
        assert "very-secret" not in repr(chart.inputs)


def test_kube_state_metrics_is_scraped_by_the_platform_prometheus():
    # A subchart's ServiceMonitor does not get the parent's commonLabels: without its own
    # label, no kube_* series, and no restart alert could ever fire.
    values = prometheus_values(settings_for("dev"))
    monitor = values["kube-state-metrics"]["prometheus"]["monitor"]
    assert monitor["additionalLabels"] == values["commonLabels"]
    selector = values["prometheus"]["prometheusSpec"]["serviceMonitorSelector"]["matchLabels"]
    assert selector.items() <= monitor["additionalLabels"].items()


@pytest.mark.parametrize(
    ("s3", "endpoint", "insecure"),
    [
        ({"region": "eu-west-1"}, "s3.eu-west-1.amazonaws.com", None),
        ({"region": "cn-north-1"}, "s3.cn-north-1.amazonaws.com.cn", None),
        ({"endpoint": "http://minio.storage:9000"}, "minio.storage:9000", True),
    ],
    ids=["aws", "aws-china", "own-store"],
)
def test_tempo_always_has_an_s3_endpoint(s3, endpoint, insecure):
    # Tempo's S3 client refuses an empty endpoint at start; Loki's derives it.
    settings = settings_for("prod", storage={"s3": s3})
    found = tempo_values(settings, "http://prom:9090")["tempo"]["storage"]["trace"]["s3"]
    assert found["endpoint"] == endpoint
    assert found.get("insecure") is insecure


def test_grafana_volume_takes_the_storage_class():
    settings = settings_for("dev", storage={"storageClass": "fast"})
    values = grafana_values(settings, endpoints(settings))
    assert values["persistence"]["storageClassName"] == "fast"
    assert (
        "storageClassName"
        not in grafana_values(settings_for("dev"), endpoints(settings_for("dev")))["persistence"]
    )


def test_tempo_receives_otlp_and_writes_span_metrics():
    tempo = tempo_values(
        settings_for("dev"), "http://kps-prometheus.monitoring.svc.cluster.local:9090"
    )["tempo"]
    protocols = tempo["receivers"]["otlp"]["protocols"]
    assert protocols == {"grpc": {"endpoint": "0.0.0.0:4317"}, "http": {"endpoint": "0.0.0.0:4318"}}
    assert (
        tempo["metricsGenerator"]["remoteWriteUrl"]
        == "http://kps-prometheus.monitoring.svc.cluster.local:9090/api/v1/write"
    )
    assert tempo["storage"]["trace"]["backend"] == "local"


def test_alloy_runs_without_host_access():
    values = alloy_values("http://loki:3100/loki/api/v1/push")["alloy"]
    assert values["mounts"]["varlog"] is False
    assert values["securityContext"]["runAsNonRoot"] is True
    assert values["securityContext"]["readOnlyRootFilesystem"] is True


def test_alloys_storage_path_is_a_writable_volume_on_its_read_only_root():
    # Its components create their directories below the storage path at start; on a
    # read-only root with nothing mounted there, Alloy exits before shipping a log line.
    values = alloy_values("http://loki:3100/loki/api/v1/push")
    storage = values["alloy"]["storagePath"]
    mounted = {m["name"]: m["mountPath"] for m in values["alloy"]["mounts"]["extra"]}
    volumes = {v["name"]: v for v in values["controller"]["volumes"]["extra"]}
    (name,) = [name for name, path in mounted.items() if path == storage]
    assert "emptyDir" in volumes[name]


def test_grafana_admin_datasources_dashboards_and_route(pulumi_program):
    recording = run(pulumi_program)
    grafana = charts(recording)["grafana"]["values"]
    assert grafana["admin"]["existingSecret"] == "grafana-admin"
    assert [d["uid"] for d in grafana["datasources"]["datasources.yaml"]["datasources"]] == [
        "prometheus",
        "loki",
        "tempo",
    ]
    assert grafana["sidecar"]["dashboards"]["searchNamespace"] == "ALL"
    # Its one pod holds a ReadWriteOnce volume: replaced, not rolled beside a second pod.
    assert grafana["persistence"]["enabled"] is True
    assert grafana["deploymentStrategy"] == {"type": "Recreate"}
    admin = recording.one("Secret", name="observability-grafana-admin")
    assert admin.inputs["stringData"]["admin-user"] == "admin"
    assert admin.has_secret("stringData.admin-password") or admin.has_secret("stringData")
    route = recording.one("IngressRoute", name="observability-grafana-ingressroute").inputs
    assert route["spec"]["routes"][0]["match"] == "Host(`grafana.example.com`)"
    assert route["spec"]["routes"][0]["services"] == [
        {"kind": "Service", "name": "grafana", "port": 80}
    ]
    assert route["spec"]["tls"] == {"secretName": "grafana-tls"}
    assert all(m["namespace"] == "monitoring" for m in route["spec"]["routes"][0]["middlewares"])
    validate_custom_resource("traefik.io/v1alpha1", "IngressRoute", route["spec"])
    dashboards = [
        r
        for r in recording.of_kind("ConfigMap")
        if r.inputs["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    ]
    assert {r.inputs["metadata"]["name"] for r in dashboards} == {
        "greeter-dashboard",
        "go-platform-gateway-dashboard",
    }


def test_services_send_traces_to_tempo(pulumi_program):
    recording = run(pulumi_program)
    container = recording.one("Deployment", parent="greeter").inputs["spec"]["template"]["spec"][
        "containers"
    ][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://tempo.monitoring.svc.cluster.local:4317"
    egress = recording.one("NetworkPolicy", parent="greeter").inputs["spec"]["egress"]
    assert {
        "to": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ],
        "ports": [{"protocol": "TCP", "port": 4317}, {"protocol": "TCP", "port": 4318}],
    } in egress


def test_grafana_password_is_a_secret_output(pulumi_program):
    from components.observability import ObservabilityStack, ObservabilityStackArgs

    settings = settings_for("dev")
    seen = {}

    def program():
        stack = ObservabilityStack(
            "obs",
            ObservabilityStackArgs(
                settings=settings,
                environment="dev",
                namespace="monitoring",
                grafana_host="grafana.example.com",
            ),
        )

        async def check():
            seen["secret"] = await stack.grafana_password.is_secret()
            seen["prometheus"] = await stack.prometheus_url.future()

        return check()

    pulumi_program(program, stack="dev", config=stack_config(domain=DOMAIN))
    assert seen == {
        "secret": True,
        "prometheus": "http://kps-prometheus.monitoring.svc.cluster.local:9090",
    }


@pytest.mark.parametrize(
    ("stack", "observability", "expected"),
    [
        (
            "prod",
            {"storage": {"s3": None}},
            "go-platform:observability.storage.s3: is required with storage type 's3'",
        ),
        (
            "dev",
            {"retention": {"logs": "7d"}},
            "go-platform:observability.retention.logs: must match ^[0-9]+h$ (got '7d')",
        ),
        (
            "dev",
            {"availabilitySlo": 100},
            "go-platform:observability.availabilitySlo: must be below 100.0 (got 100)",
        ),
        (
            "dev",
            {"grafanaHost": "grafana.other.org"},
            "go-platform:observability.grafanaHost: 'grafana.other.org' is outside the domain 'example.com'",
        ),
        (
            "dev",
            {"storage": {"type": "gcs"}},
            "go-platform:observability.storage.type: must be one of 'filesystem' or 's3' (got 'gcs')",
        ),
    ],
)
def test_bad_observability_config_names_its_key(stack, observability, expected):
    with pytest.raises(ConfigError) as caught:
        load_settings(stack_config(domain=DOMAIN, observability=observability), stack=stack)
    assert [str(p) for p in caught.value.problems] == [expected]


def test_a_prometheus_of_your_own_finds_every_monitor_and_rule(pulumi_program):
    """Bring-your-own kube-prometheus-stack selects by its `release` label: with
    `monitorLabels`, every ServiceMonitor and PrometheusRule carries it too."""
    recording = run(pulumi_program, "local", monitorLabels={"release": "kube-prometheus-stack"})
    monitored = recording.of_kind("ServiceMonitor") + recording.of_kind("PrometheusRule")
    assert {r.name for r in monitored} >= {
        "greeter-servicemonitor",
        "greeter-alerts",
        "gateway-alerts",
    }
    for resource in monitored:
        labels = resource.inputs["metadata"]["labels"]
        assert labels["release"] == "kube-prometheus-stack", resource.name
        assert labels["go-platform/scrape"] == "true", resource.name


def test_s3_keys_are_read_only_when_storage_is_s3(pulumi_program):
    """Keys under `storage.s3` of a filesystem stack are neither validated nor read."""
    recording = run(
        pulumi_program,
        "dev",
        storage={"s3": {"accessKeyIdSecret": "unset", "secretAccessKeySecret": "unset2"}},
    )
    assert [
        r for r in recording.of_kind("Secret") if r.name == "observability-s3-credentials"
    ] == []


# --- what the policy pack checks on the charts' pods -----------------------------------


def chart_values(stack: str) -> dict[str, dict[str, Any]]:
    """Each release's values, as ObservabilityStack passes them for `stack`."""
    settings = settings_for(stack)
    found = endpoints(settings)
    return {
        "kps": prometheus_values(settings),
        "loki": loki_values(settings),
        "tempo": tempo_values(settings, "http://prom:9090"),
        "grafana": grafana_values(settings, found),
        "alloy": alloy_values("http://loki:3100/loki/api/v1/push"),
    }


def at(values: Any, path: str) -> Any:
    """The value at a dotted chart path (`sidecar.resources`), or None where it is unset."""
    for key in path.split("."):
        values = values.get(key) if isinstance(values, dict) else None
    return values


# Every container of the charts' pods, by the chart path that sizes it (the last four run
# in pods the Prometheus operator creates, which the pack does not see).
SIZED = [
    ("kps", "prometheusOperator.resources"),
    ("kps", "kube-state-metrics.resources"),
    ("loki", "singleBinary.resources"),
    ("loki", "sidecar.resources"),
    ("tempo", "tempo.resources"),
    ("grafana", "resources"),
    ("grafana", "sidecar.resources"),
    ("alloy", "alloy.resources"),
]
SIZED_BY_THE_OPERATOR = [
    ("kps", "prometheus.prometheusSpec.resources"),
    ("kps", "alertmanager.alertmanagerSpec.resources"),
    ("kps", "prometheusOperator.prometheusConfigReloader.resources"),
]


def caps(environment: str) -> tuple[Decimal, Decimal]:
    """maxCpu and maxMemory of container-limits-within-caps in the pack's committed config."""
    config = json.loads((REPO / "policies" / "config" / f"{environment}.json").read_text())
    cap = config["container-limits-within-caps"]
    return parse_quantity(cap["maxCpu"]), parse_quantity(cap["maxMemory"])


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
@pytest.mark.parametrize(("release", "path"), SIZED + SIZED_BY_THE_OPERATOR)
def test_every_chart_container_has_requests_and_limits(stack, release, path):
    resources = at(chart_values(stack)[release], path)
    assert isinstance(resources, dict), f"{release}: {path} is unset"
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            quantity = at(resources, f"{kind}.{resource}")
            assert quantity is not None, f"{release}: {path}.{kind}.{resource} is unset"
            assert parse_quantity(quantity) > 0
    for resource in ("cpu", "memory"):
        request = parse_quantity(resources["requests"][resource])
        assert request <= parse_quantity(resources["limits"][resource])
    if (release, path) in SIZED:
        # Within the caps of every environment's config, the lowest included.
        max_cpu, max_memory = caps(stack)
        assert parse_quantity(resources["limits"]["cpu"]) <= max_cpu
        assert parse_quantity(resources["limits"]["memory"]) <= max_memory


def test_no_container_the_charts_add_goes_unsized():
    """The containers that values cannot size are not there at all: Grafana's chown init
    container and Alloy's config-reloader."""
    values = chart_values("prod")
    assert values["grafana"]["initChownData"] == {"enabled": False}
    assert values["alloy"]["configReloader"] == {"enabled": False}


CONFINED = [
    ("tempo", "tempo.securityContext"),
    ("grafana", "containerSecurityContext"),
    ("grafana", "sidecar.securityContext"),
    ("alloy", "alloy.securityContext"),
]


@pytest.mark.parametrize(("release", "path"), CONFINED)
def test_chart_containers_are_confined_on_a_read_only_root(release, path):
    context = at(chart_values("prod")[release], path)
    assert isinstance(context, dict), f"{release}: {path} is unset"
    assert context.get("readOnlyRootFilesystem") is True
    assert context.get("allowPrivilegeEscalation") is False
    assert context.get("capabilities") == {"drop": ["ALL"]}
    assert context.get("seccompProfile") == {"type": "RuntimeDefault"}
    assert context.get("privileged") in (None, False)


@pytest.mark.parametrize(("release", "uid"), [("tempo", 10001), ("grafana", 472)])
def test_tempo_and_grafana_pods_run_as_their_own_non_root_user(release, uid):
    pod = chart_values("prod")[release]["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == pod["runAsGroup"] == pod["fsGroup"] == uid
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}


def test_grafana_owns_its_volume_without_a_root_init_container():
    # The chart's init-chown-data runs as uid 0 with CHOWN and DAC_OVERRIDE; the kubelet
    # gives the volume to Grafana's group instead.
    values = chart_values("prod")["grafana"]
    assert values["initChownData"]["enabled"] is False
    assert values["securityContext"]["fsGroup"] == values["securityContext"]["runAsGroup"]
    assert values["securityContext"]["fsGroupChangePolicy"] == "OnRootMismatch"


def test_grafana_writes_only_to_volumes():
    values = chart_values("prod")["grafana"]
    assert {m["mountPath"] for m in values["extraEmptyDirMounts"]} == {"/tmp", "/var/log/grafana"}
    assert values["persistence"]["enabled"] is True  # /var/lib/grafana
    # The dashboards sidecar: its folder is the chart's emptyDir, /tmp one of ours.
    volumes = {v["name"]: v for v in values["extraContainerVolumes"]}
    for mount in values["sidecar"]["dashboards"]["extraMounts"]:
        assert "emptyDir" in volumes[mount["name"]]
    assert [m["mountPath"] for m in values["sidecar"]["dashboards"]["extraMounts"]] == ["/tmp"]


def test_grafana_sidecar_and_alloy_are_probed():
    values = chart_values("prod")
    sidecar = values["grafana"]["sidecar"]
    port = int(sidecar["dashboards"]["env"]["HEALTH_PORT"])
    for probe in ("readinessProbe", "livenessProbe"):
        assert sidecar[probe]["httpGet"] == {"path": "/healthz", "port": port}
    # The chart gives Alloy a readiness probe; a liveness probe is ours.
    liveness = values["alloy"]["alloy"]["livenessProbe"]
    assert liveness["httpGet"]["path"] == "/-/ready"


def test_kube_prometheus_stack_needs_none_of_its_hooks():
    # helm.v4.Chart drops hooks: the Jobs creating the webhooks' certificate never run, and
    # an operator with TLS on would wait forever for the Secret they create.
    operator = prometheus_values(settings_for("prod"))["prometheusOperator"]
    assert operator["admissionWebhooks"]["enabled"] is False
    assert operator["tls"]["enabled"] is False


def test_the_stacks_namespace_lets_in_only_what_it_serves(pulumi_program):
    recording = run(pulumi_program)
    policy = recording.one("NetworkPolicy", name="observability-netpol").inputs
    assert policy["metadata"]["namespace"] == "monitoring"
    spec = policy["spec"]
    assert spec["podSelector"] == {}
    assert spec["policyTypes"] == ["Ingress"]
    by_source = {
        json.dumps(rule["from"], sort_keys=True): rule.get("ports") for rule in spec["ingress"]
    }
    assert by_source[json.dumps([{"podSelector": {}}])] is None  # the stack itself
    anywhere = by_source[json.dumps([{"namespaceSelector": {}}])]
    assert {p["port"] for p in anywhere} == {4317, 4318, 9090}  # traces, queries
    gateway = by_source[
        json.dumps(
            [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}}}],
            sort_keys=True,
        )
    ]
    assert gateway == [{"protocol": "TCP", "port": 3000}]  # Grafana, through Traefik
    assert len(spec["ingress"]) == 3


def test_without_a_gateway_nothing_reaches_grafana_from_outside():
    spec = stack_network_policy_spec(None)
    assert len(spec["ingress"]) == 2
    assert all(
        {"protocol": "TCP", "port": 3000} not in (r.get("ports") or []) for r in spec["ingress"]
    )


ALERTMANAGER_CONFIG = """
route:
  receiver: on-call
receivers:
  - name: on-call
    webhook_configs:
      - url: https://hooks.example.com/very-secret-hook
"""


def test_alerts_are_routed_by_the_configuration_the_stack_holds_as_a_secret(
    pulumi_program, monkeypatch
):
    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *_, **__: warned.append(message))
    recording = run(
        pulumi_program,
        "prod",
        secrets={"alerting": ALERTMANAGER_CONFIG},
        alertmanagerConfigSecret="alerting",
    )
    secret = recording.one("Secret", name="observability-alertmanager-config")
    assert secret.inputs["metadata"]["name"] == "go-platform-alertmanager"
    assert secret.inputs["stringData"] == {"alertmanager.yaml": ALERTMANAGER_CONFIG}
    assert secret.has_secret("stringData")
    [stack] = [
        chart
        for chart in recording.by_type("kubernetes:helm.sh/v4:Chart")
        if chart.inputs["name"] == "kps"
    ]
    spec = stack.inputs["values"]["alertmanager"]["alertmanagerSpec"]
    assert (spec["useExistingSecret"], spec["configSecret"]) == (True, "go-platform-alertmanager")
    everything_but_the_secret = [r.inputs for r in recording.resources if r.kind != "Secret"]
    assert "very-secret-hook" not in repr(everything_but_the_secret)
    assert not [message for message in warned if "alertmanagerConfigSecret" in message]


def test_without_a_configuration_the_chart_routes_to_no_one_and_prod_is_told(
    pulumi_program, monkeypatch
):
    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *_, **__: warned.append(message))
    recording = run(pulumi_program, "prod")
    assert "observability-alertmanager-config" not in [r.name for r in recording.of_kind("Secret")]
    assert [m for m in warned if "alertmanagerConfigSecret is not set" in m]


@pytest.mark.parametrize(
    ("volume", "size"), [("10Gi", "8704MB"), ("100Gi", "87040MB"), ("500M", "405MB")]
)
def test_prometheus_keeps_what_its_volume_holds(volume, size):
    spec = prometheus_values(settings_for("prod", storage={"size": volume}))["prometheus"][
        "prometheusSpec"
    ]
    assert spec["retentionSize"] == size
    assert spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"] == {
        "storage": volume
    }


def test_grafana_knows_the_address_it_is_served_at(pulumi_program):
    settings = settings_for("dev")
    assert "grafana.ini" not in grafana_values(settings, endpoints(settings))
    recording = run(pulumi_program, "dev")
    [grafana] = [
        chart
        for chart in recording.by_type("kubernetes:helm.sh/v4:Chart")
        if chart.inputs["name"] == "grafana"
    ]
    assert grafana.inputs["values"]["grafana.ini"]["server"] == {
        "root_url": f"https://grafana.{DOMAIN}/",
        "domain": f"grafana.{DOMAIN}",
    }
