"""GoServiceStack under mocks.

Invariants guarded:
- children: ServiceAccount (no token), ConfigMap, Secret (only with secrets, values kept
  secret), Deployment, Service, NetworkPolicy always; HPA, PDB, ServiceMonitor,
  Certificate, IngressRoute only when configured; every child parented to the component
  and named from the component name, so two services never collide.
- Deployment: rolling update maxSurge 1 / maxUnavailable 0; startup, readiness (/readyz)
  and liveness (/healthz) probes on the admin port; requests and limits; the restricted
  security context with a read-only root and an emptyDir /tmp; topology spread only
  with more than one replica; a config checksum that changes with env; standard labels;
  no replica count when an autoscaler owns it; GOMEMLIMIT below the memory limit.
- Service: ClusterIP on the API and admin ports; its endpoint await skipped only on the
  embedded cluster (`local`).
- NetworkPolicy: ingress only from the gateway (routed services), monitoring (admin
  port) and declared callers; egress DNS plus declared rules.
- Built images: pushed to the configured repository with GOPROXY from the module proxy,
  deployed by digest; with a vulnerability gate, the image's before-create and
  before-update hooks run govulncheck on the build context first (preview included), and
  a context the gate cannot audit fails that step with the gate's reason.
- Custom resources (IngressRoute, ServiceMonitor, Certificate) pass the upstream CRDs.
"""

from __future__ import annotations

import json

import pulumi
import pytest

from components.go_service import (
    GoServiceStack,
    GoServiceStackArgs,
    MountedVolume,
    ObservabilityBinding,
    VulnerabilityGateError,
    vulnerability_hook,
)
from components.routing import GatewayBinding, MiddlewareRef
from go_platform_core.config import load_settings
from go_platform_core.severity import Severity
from go_platform_core.telemetry import traefik_route_service
from go_platform_core.vulncheck import GateSettings
from tests.conftest import OMIT, service_config, stack_config
from tests.crd_schemas import validate_custom_resource

GATE = GateSettings(database="vulndb", fail_on=Severity.MEDIUM)
GATEWAY = GatewayBinding(
    namespace="traefik",
    middlewares=(MiddlewareRef("secure-headers", "traefik"),),
    cluster_issuer="go-platform-ca",
)
OBSERVABILITY = ObservabilityBinding(
    namespace="monitoring", otlp_endpoint="http://tempo.monitoring:4317"
)


def deploy(
    pulumi_program,
    *,
    environment="local",
    gateway=GATEWAY,
    observability=OBSERVABILITY,
    secrets=None,
    callers=(),
    module_env=None,
    vulnerability_gate=None,
    **service,
):
    """Run one GoServiceStack built from a service config (camelCase overrides)."""
    settings_kwargs = {"services": [service_config(**service)], "environment": environment}
    if environment != "local":
        settings_kwargs["domain"] = "example.com"
    config = stack_config(secrets=secrets, **settings_kwargs)
    settings = load_settings(config, stack=environment)
    spec = settings.services[0]

    def program():
        GoServiceStack(
            spec.name,
            GoServiceStackArgs(
                service=spec,
                namespace="apps",
                environment=settings.environment,
                secret_env={env: (secrets or {})[key] for env, key in spec.secret_env.items()},
                gateway=gateway,
                observability=observability,
                module_env=module_env or {},
                vulnerability_gate=vulnerability_gate,
                callers=callers,
            ),
        )

    return pulumi_program(program, stack=environment, config=config)


def pod_spec(recording, parent="greeter"):
    return recording.one("Deployment", parent=parent).inputs["spec"]["template"]["spec"]


def container(recording, parent="greeter"):
    return pod_spec(recording, parent)["containers"][0]


def env_of(recording, parent="greeter"):
    return {e["name"]: e for e in container(recording, parent)["env"]}


def test_children_are_parented_and_named_from_the_component(pulumi_program):
    recording = deploy(
        pulumi_program, name="orders", route={"host": "orders.go-platform.localhost"}
    )
    component = recording.one("GoServiceStack", name="orders")
    children = recording.children("orders")
    assert {c.kind for c in children} == {
        "ServiceAccount",
        "ConfigMap",
        "Deployment",
        "Service",
        "NetworkPolicy",
        "ServiceMonitor",
        "Certificate",
        "IngressRoute",
        "PrometheusRule",
    }
    assert all(c.parent == component.urn for c in children)
    assert all(c.name.startswith("orders-") for c in children)


def test_two_services_never_collide(pulumi_program):
    config = stack_config(services=[service_config(name="a"), service_config(name="b")])
    settings = load_settings(config, stack="local")

    def program():
        for spec in settings.services:
            GoServiceStack(
                spec.name, GoServiceStackArgs(service=spec, namespace="apps", environment="local")
            )

    recording = pulumi_program(program, stack="local", config=config)
    names = [(r.type, r.name) for r in recording.resources]
    assert len(names) == len(set(names))
    assert {r.inputs["metadata"]["name"] for r in recording.of_kind("Deployment")} == {"a", "b"}


def test_service_account_never_mounts_a_token(pulumi_program):
    recording = deploy(pulumi_program)
    assert recording.one("ServiceAccount").inputs["automountServiceAccountToken"] is False
    spec = pod_spec(recording)
    assert spec["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == "greeter"


def test_env_goes_to_a_config_map_read_by_the_container(pulumi_program):
    recording = deploy(pulumi_program, env={"LOG_LEVEL": "debug", "FEATURE_X": "true"})
    config_map = recording.one("ConfigMap", name="greeter-env")
    assert config_map.inputs["data"] == {"LOG_LEVEL": "debug", "FEATURE_X": "true"}
    # Auto-named (no fixed name) so that a data change replaces it and rolls the pods.
    assert "name" not in config_map.inputs["metadata"]
    assert container(recording)["envFrom"] == [{"configMapRef": {"name": "greeter-env-0a1b2c3d"}}]


def test_secret_env_is_a_secret_that_stays_secret(pulumi_program):
    recording = deploy(
        pulumi_program,
        secretEnv={"DATABASE_URL": "greeterDatabaseUrl"},
        secrets={"greeterDatabaseUrl": "postgres://u:hunter2@db/app"},
    )
    secret = recording.one("Secret")
    assert secret.inputs["stringData"] == {"DATABASE_URL": "postgres://u:hunter2@db/app"}
    assert secret.has_secret("stringData")
    ref = env_of(recording)["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert ref["key"] == "DATABASE_URL"
    assert ref["name"] == "greeter-secret-0a1b2c3d"
    # The plain value never appears in the Deployment or the ConfigMap.
    for resource in recording.children("greeter"):
        if resource.kind != "Secret":
            assert "hunter2" not in repr(resource.inputs), resource.name


def test_no_secret_without_secret_env(pulumi_program):
    assert deploy(pulumi_program).of_kind("Secret") == []


def test_deployment_rolls_one_pod_at_a_time_and_never_below_capacity(pulumi_program):
    spec = deploy(pulumi_program).one("Deployment").inputs["spec"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    assert spec["replicas"] == 1
    assert spec["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "greeter",
        "app.kubernetes.io/instance": "greeter",
    }


def test_probes_hit_the_health_endpoints_on_the_admin_port(pulumi_program):
    c = container(deploy(pulumi_program, adminPort=9191))
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http": 8080, "admin": 9191}


def test_without_an_admin_port_probes_and_metrics_use_the_api_port(pulumi_program):
    recording = deploy(pulumi_program, adminPort=None)
    c = container(recording)
    assert c["readinessProbe"]["httpGet"]["port"] == "http"
    assert [p["name"] for p in c["ports"]] == ["http"]
    assert recording.one("ServiceMonitor").inputs["spec"]["endpoints"][0]["port"] == "http"
    assert "ADMIN_PORT" not in env_of(recording)


def test_requests_and_limits_come_from_config_or_the_profile(pulumi_program):
    assert container(deploy(pulumi_program))["resources"] == {
        "requests": {"cpu": "50m", "memory": "64Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
    }
    custom = deploy(pulumi_program, resources={"limits": {"memory": "1Gi"}})
    assert container(custom)["resources"]["limits"] == {"cpu": "500m", "memory": "1Gi"}
    assert env_of(custom)["GOMEMLIMIT"]["value"] == "921MiB"


def test_restricted_security_context(pulumi_program):
    recording = deploy(pulumi_program)
    pod = pod_spec(recording)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    ctx = container(recording)["securityContext"]
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert container(recording)["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"][0]["emptyDir"] == {"sizeLimit": "64Mi"}


def test_topology_spread_wherever_more_than_one_pod_may_run(pulumi_program):
    assert "topologySpreadConstraints" not in pod_spec(deploy(pulumi_program, replicas=1))
    autoscaled = deploy(pulumi_program, autoscaling={"minReplicas": 1, "maxReplicas": 10})
    assert pod_spec(autoscaled)["topologySpreadConstraints"]
    spread = pod_spec(deploy(pulumi_program, replicas=3))["topologySpreadConstraints"]
    assert {s["topologyKey"] for s in spread} == {
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    }
    assert all(
        s["labelSelector"]["matchLabels"]["app.kubernetes.io/name"] == "greeter" for s in spread
    )


def test_config_checksum_changes_with_env_only(pulumi_program):
    def checksum(**service):
        recording = deploy(pulumi_program, **service)
        return recording.one("Deployment").inputs["spec"]["template"]["metadata"]["annotations"][
            "go-platform/config-checksum"
        ]

    base = checksum(env={"A": "1"})
    assert checksum(env={"A": "1"}) == base
    assert checksum(env={"A": "2"}) != base
    assert checksum(env={"A": "1"}, replicas=2) == base


def test_standard_labels_on_every_object(pulumi_program):
    recording = deploy(pulumi_program, image="ghcr.io/acme/greeter:v1.2.3")
    for resource in recording.children("greeter"):
        labels = resource.inputs["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "greeter"
        assert labels["app.kubernetes.io/version"] == "v1.2.3"
        assert labels["app.kubernetes.io/managed-by"] == "pulumi"
        assert labels["app.kubernetes.io/part-of"] == "go-platform"


def test_platform_env_follows_the_go_service_contract(pulumi_program):
    env = env_of(deploy(pulumi_program, port=8081, adminPort=9091))
    assert env["PORT"]["value"] == "8081"
    assert env["ADMIN_PORT"]["value"] == "9091"
    assert env["OTEL_SERVICE_NAME"]["value"] == "greeter"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == "http://tempo.monitoring:4317"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"]["value"] == "grpc"
    assert "deployment.environment.name=local" in env["OTEL_RESOURCE_ATTRIBUTES"]["value"]
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["SHUTDOWN_DELAY"]["value"] == "5s"


def test_grace_period_outlasts_the_service_shutdown(pulumi_program):
    # The delay, the in-flight timeout and the span flush (5 s), with room to spare: the
    # worst case is requests overrunning while the collector does not answer.
    assert pod_spec(deploy(pulumi_program))["terminationGracePeriodSeconds"] > 5 + 20 + 5


def test_service_exposes_api_and_admin_ports(pulumi_program):
    service = deploy(pulumi_program).one("Service").inputs
    assert service["metadata"]["name"] == "greeter"
    assert service["spec"]["type"] == "ClusterIP"
    assert [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [
        ("http", 8080, "http"),
        ("admin", 9090, "admin"),
    ]


@pytest.mark.parametrize(
    ("environment", "annotations"),
    [("local", {"pulumi.com/skipAwait": "true"}), ("dev", None), ("prod", None)],
)
def test_only_the_embedded_cluster_skips_the_service_endpoint_await(
    pulumi_program, environment, annotations
):
    """On `local` kwok runs no container and the Deployment is awaited; the provider's
    Service await would only add its fixed settle time. Elsewhere it catches a selector
    that matches no ready pod."""
    service = deploy(pulumi_program, environment=environment).one("Service").inputs
    assert service["metadata"].get("annotations") == annotations


def test_autoscaler_owns_the_replica_count(pulumi_program):
    recording = deploy(
        pulumi_program, autoscaling={"minReplicas": 2, "maxReplicas": 6, "cpuUtilization": 60}
    )
    hpa = recording.one("HorizontalPodAutoscaler").inputs["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "greeter",
    }
    assert hpa["metrics"][0]["resource"]["target"] == {
        "type": "Utilization",
        "averageUtilization": 60,
    }
    # The floor when the Deployment is created; ignored after (ignore_changes, which the
    # mocks do not record: tests/integration/test_local_stack.py proves it on a cluster).
    assert recording.one("Deployment").inputs["spec"]["replicas"] == 2


def test_no_autoscaler_unless_configured(pulumi_program):
    assert deploy(pulumi_program).of_kind("HorizontalPodAutoscaler") == []


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        ({"replicas": 1}, False),
        ({"replicas": 2}, True),
        # An autoscaler that may run several pods gets one from its floor of 1: at one pod
        # maxUnavailable 1 blocks nothing, at ten it keeps a drain from taking them all.
        ({"autoscaling": {"minReplicas": 1, "maxReplicas": 3}}, True),
        ({"autoscaling": {"minReplicas": 2, "maxReplicas": 3}}, True),
    ],
)
def test_pod_disruption_budget_wherever_two_pods_may_run(pulumi_program, service, expected):
    budgets = deploy(pulumi_program, **service).of_kind("PodDisruptionBudget")
    assert bool(budgets) is expected
    if expected:
        spec = budgets[0].inputs["spec"]
        assert spec["maxUnavailable"] == 1  # never blocks every eviction
        assert spec["selector"]["matchLabels"]["app.kubernetes.io/instance"] == "greeter"


def test_network_policy_default_denies_and_opens_only_what_is_configured(pulumi_program):
    recording = deploy(
        pulumi_program,
        route={"host": "greeter.go-platform.localhost"},
        egress=[{"cidr": "10.0.0.0/8", "ports": [5432]}, {"namespace": "payments"}],
        callers=("orders",),
    )
    spec = recording.one("NetworkPolicy").inputs["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    sources = [(rule["from"][0], [p["port"] for p in rule["ports"]]) for rule in spec["ingress"]]
    assert (
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}}},
        ["http"],
    ) in sources
    assert (
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
        ["admin"],
    ) in sources
    callers = next(rule for rule in spec["ingress"] if "podSelector" in rule["from"][0])
    assert callers["from"][0]["podSelector"]["matchExpressions"][0]["values"] == ["orders"]
    egress = spec["egress"]
    assert egress[0]["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    assert {
        "to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}],
        "ports": [{"protocol": "TCP", "port": 5432}],
    } in egress
    assert {
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "payments"}}}]
    } in egress


@pytest.mark.parametrize(
    ("endpoint", "extra"),
    [
        # A short name: the observability namespace's rule is what reaches it.
        ("http://tempo.monitoring:4317", None),
        ("http://tempo.monitoring.svc.cluster.local:4317", None),
        # A collector of its own, in another namespace: allowed there, on its port.
        (
            "http://otel-collector.opentelemetry.svc.cluster.local:4317",
            {
                "to": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "opentelemetry"}
                        }
                    }
                ],
                "ports": [{"protocol": "TCP", "port": 4317}],
            },
        ),
        # A vendor's endpoint outside the cluster: any address, on its port (a URL's scheme
        # names it when the URL does not: gRPC dials https://host on 443).
        (
            "https://otlp.vendor.example.com:443",
            {
                "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                "ports": [{"protocol": "TCP", "port": 443}],
            },
        ),
        (
            "https://otlp.vendor.example.com",
            {
                "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                "ports": [{"protocol": "TCP", "port": 443}],
            },
        ),
        # An IPv6 address: an IPv4 block would match none of it.
        (
            "http://[fd00::10]:4317",
            {"to": [{"ipBlock": {"cidr": "::/0"}}], "ports": [{"protocol": "TCP", "port": 4317}]},
        ),
    ],
    ids=["short-name", "same-namespace", "other-namespace", "outside", "outside-no-port", "ipv6"],
)
def test_spans_may_leave_for_the_otlp_endpoint_wherever_it_is(pulumi_program, endpoint, extra):
    binding = ObservabilityBinding(namespace="monitoring", otlp_endpoint=endpoint)
    egress = (
        deploy(pulumi_program, observability=binding).one("NetworkPolicy").inputs["spec"]["egress"]
    )
    monitoring = {
        "to": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ],
        "ports": [{"protocol": "TCP", "port": 4317}, {"protocol": "TCP", "port": 4318}],
    }
    assert monitoring in egress
    beyond = [rule for rule in egress[1:] if rule != monitoring]
    assert beyond == ([extra] if extra else [])


def test_unrouted_unmonitored_service_accepts_no_ingress(pulumi_program):
    recording = deploy(
        pulumi_program,
        observability=ObservabilityBinding(namespace="monitoring", service_monitor=False),
    )
    spec = recording.one("NetworkPolicy").inputs["spec"]
    assert spec.get("ingress", []) == []
    assert recording.of_kind("ServiceMonitor") == []


def test_service_monitor_carries_the_platform_label_and_scrapes_admin(pulumi_program):
    monitor = deploy(pulumi_program).one("ServiceMonitor").inputs
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["go-platform/scrape"] == "true"
    assert monitor["spec"]["endpoints"] == [
        {"port": "admin", "path": "/metrics", "interval": "30s"}
    ]
    validate_custom_resource(monitor["apiVersion"], "ServiceMonitor", monitor["spec"])


def test_route_gets_a_certificate_and_an_ingress_route(pulumi_program):
    recording = deploy(
        pulumi_program,
        route={
            "host": "greeter.go-platform.localhost",
            "pathPrefix": "/v1",
            "middlewares": ["rate-limit"],
        },
    )
    certificate = recording.one("Certificate").inputs
    assert certificate["spec"]["dnsNames"] == ["greeter.go-platform.localhost"]
    assert certificate["spec"]["issuerRef"] == {
        "group": "cert-manager.io",
        "kind": "ClusterIssuer",
        "name": "go-platform-ca",
    }
    route = recording.one("IngressRoute").inputs
    assert route["apiVersion"] == "traefik.io/v1alpha1"
    assert route["spec"]["entryPoints"] == ["websecure"]
    rule = route["spec"]["routes"][0]
    assert rule["match"] == "Host(`greeter.go-platform.localhost`) && PathPrefix(`/v1`)"
    assert [m["name"] for m in rule["middlewares"]] == ["secure-headers", "rate-limit"]
    assert rule["services"] == [{"kind": "Service", "name": "greeter", "port": "http"}]
    assert route["spec"]["tls"] == {"secretName": certificate["spec"]["secretName"]}
    validate_custom_resource("cert-manager.io/v1", "Certificate", certificate["spec"])
    validate_custom_resource("traefik.io/v1alpha1", "IngressRoute", route["spec"])


def test_crd_validation_catches_a_typo():
    with pytest.raises(Exception, match="entrypoints"):
        validate_custom_resource(
            "traefik.io/v1alpha1", "IngressRoute", {"entrypoints": ["web"], "routes": []}
        )


def test_no_route_without_route_config(pulumi_program):
    recording = deploy(pulumi_program)
    assert recording.of_kind("IngressRoute") == []
    assert recording.of_kind("Certificate") == []


def test_route_without_issuer_uses_the_gateway_default_certificate(pulumi_program):
    recording = deploy(
        pulumi_program,
        gateway=GatewayBinding(namespace="traefik"),
        route={"host": "greeter.go-platform.localhost"},
    )
    assert recording.of_kind("Certificate") == []
    assert recording.one("IngressRoute").inputs["spec"]["tls"] == {}


def test_built_image_is_pushed_and_deployed_by_digest(pulumi_program):
    recording = deploy(
        pulumi_program,
        environment="dev",
        image=OMIT,
        build={
            "context": "services/greeter",
            "repository": "registry.example.com/greeter",
            "args": {"VERSION": "1"},
        },
        module_env={"GOPROXY": "http://athens.proxy:3000", "GONOSUMDB": "github.com/acme/*"},
    )
    image = recording.one("Image").inputs
    assert image["imageName"] == "registry.example.com/greeter:dev"
    assert image["build"]["args"] == {
        "VERSION": "1",
        "GOPROXY": "http://athens.proxy:3000",
        "GONOSUMDB": "github.com/acme/*",
    }
    tagged = deploy(
        pulumi_program,
        environment="dev",
        image=OMIT,
        build={"context": "svc", "repository": "r.example.com/g", "tag": "1.4.0"},
    )
    assert tagged.one("Image").inputs["build"]["args"] == {"VERSION": "1.4.0"}
    assert image["build"]["dockerfile"] == "services/greeter/Dockerfile"
    assert image["build"]["platform"] == "linux/amd64"
    assert container(recording)["image"] == f"registry.example.com/greeter@sha256:{'ab' * 32}"


BUILD = {"context": "services/greeter", "repository": "registry.example.com/greeter"}


def test_built_images_pass_the_vulnerability_gate_first(pulumi_program):
    gated = deploy(
        pulumi_program, environment="dev", image=OMIT, build=BUILD, vulnerability_gate=GATE
    )
    ungated = deploy(pulumi_program, environment="dev", image=OMIT, build=BUILD)

    assert gated.one("Image").hooks == {
        "before_create": ("greeter-vulncheck",),
        "before_update": ("greeter-vulncheck",),
    }
    assert ungated.one("Image").hooks == {}
    assert all(r.hooks == {} for r in gated.resources if r.kind != "Image")


def test_the_gate_hook_fails_the_build_step_when_it_cannot_audit(tmp_path):
    hook = vulnerability_hook(tmp_path, GATE)

    with pytest.raises(VulnerabilityGateError, match=f"{tmp_path} is not a Go module"):
        hook(pulumi.ResourceHookArgs(urn="urn", id="", name="greeter-image", type="docker"))


def test_explicit_goproxy_build_arg_wins(pulumi_program):
    recording = deploy(
        pulumi_program,
        environment="dev",
        image=OMIT,
        build={"context": "svc", "repository": "r.example.com/g", "args": {"GOPROXY": "off"}},
        module_env={"GOPROXY": "http://athens.proxy:3000"},
    )
    assert recording.one("Image").inputs["build"]["args"]["GOPROXY"] == "off"


def deploy_with(pulumi_program, **args):
    """One GoServiceStack with extra GoServiceStackArgs fields."""
    config = stack_config(
        services=[service_config(route={"host": "greeter.go-platform.localhost"})]
    )
    spec = load_settings(config, stack="local").services[0]

    def program():
        GoServiceStack(
            "greeter",
            GoServiceStackArgs(
                service=spec, namespace="apps", environment="local", gateway=GATEWAY, **args
            ),
        )

    return pulumi_program(program, stack="local", config=config)


def test_extra_volumes_are_mounted(pulumi_program):
    recording = deploy_with(
        pulumi_program,
        volumes=(
            MountedVolume("config", "/etc/app", {"configMap": {"name": "app-config"}}),
            MountedVolume(
                "data",
                "/var/lib/app",
                {"persistentVolumeClaim": {"claimName": "app-data"}},
                read_only=False,
            ),
        ),
    )
    pod = pod_spec(recording)
    assert pod["volumes"][1:] == [
        {"name": "config", "configMap": {"name": "app-config"}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "app-data"}},
    ]
    assert pod["containers"][0]["volumeMounts"][1:] == [
        {"name": "config", "mountPath": "/etc/app", "readOnly": True},
        {"name": "data", "mountPath": "/var/lib/app", "readOnly": False},
    ]


def test_recreate_strategy_for_single_writer_volumes(pulumi_program):
    spec = deploy_with(pulumi_program, recreate=True).one("Deployment").inputs["spec"]
    assert spec["strategy"] == {"type": "Recreate"}


def test_route_middlewares_follow_the_gateway_chain(pulumi_program):
    recording = deploy_with(
        pulumi_program, route_middlewares=(MiddlewareRef("greeter-auth", "apps"),)
    )
    names = [
        m["name"] for m in recording.one("IngressRoute").inputs["spec"]["routes"][0]["middlewares"]
    ]
    assert names == ["secure-headers", "greeter-auth"]


def test_alerts_and_dashboard_per_service(pulumi_program):
    recording = deploy(pulumi_program, route={"host": "greeter.go-platform.localhost"})
    rule = recording.one("PrometheusRule", parent="greeter").inputs
    assert rule["metadata"]["labels"]["go-platform/scrape"] == "true"
    alerts = {
        r["alert"] for group in rule["spec"]["groups"] for r in group["rules"] if "alert" in r
    }
    assert alerts == {"ErrorBudgetBurn", "SlowResponses", "ContainerRestarting"}
    validate_custom_resource("monitoring.coreos.com/v1", "PrometheusRule", rule["spec"])
    dashboard = recording.one("ConfigMap", name="greeter-dashboard").inputs
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["greeter.json"])["title"] == "greeter (apps)"
    # Both measure the requests Traefik sends to the route's one backend, named after the
    # IngressRoute and its rule, as Traefik names it.
    route = recording.one("IngressRoute", parent="greeter").inputs
    (rule_of_route,) = route["spec"]["routes"]
    backend = traefik_route_service("apps", route["metadata"]["name"], rule_of_route["match"])
    exprs = [r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]]
    assert sum(f'service=~"{backend}"' in expr for expr in exprs) == 5  # 4 windows, latency
    assert f'service=~\\"{backend}\\"' in dashboard["data"]["greeter.json"]


def test_a_service_the_gateway_does_not_route_is_not_measured_there(pulumi_program):
    rule = deploy(pulumi_program).one("PrometheusRule", parent="greeter").inputs
    alerts = [r["alert"] for group in rule["spec"]["groups"] for r in group["rules"]]
    assert alerts == ["ContainerRestarting"]


def test_no_alerts_or_dashboard_without_monitoring(pulumi_program):
    recording = deploy(pulumi_program, observability=None)
    assert recording.of_kind("PrometheusRule") == []
    assert [r.name for r in recording.of_kind("ConfigMap")] == ["greeter-env"]
