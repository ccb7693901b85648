"""TraefikGateway under mocks, and its pure helpers.

Invariants guarded:
- chart values per environment pass the Traefik chart's own values schema (the copy
  vendored for the chart version the program installs); they are
  hardened (restricted security context, no insecure API, the chart's dashboard route
  off), highly available where replicas > 1 (PDB, spread, maxUnavailable 0), observable
  (ServiceMonitor with the platform label, JSON logs, OTLP tracing when given, over TLS
  when the endpoint is https), and never make `pulumi up` wait on a LoadBalancer address;
- every key of the values is one the chart reads (its schema's properties, or a map the
  chart passes on whole), so a misplaced key cannot be silently ignored;
- a Traefik pod being replaced keeps accepting, then drains, both within the time the
  kubelet gives it; a new pod is Ready a while before the rollout counts it available;
- the Ingress provider serves cert-manager's HTTP-01 solver Ingresses only, and only where
  an issuer may solve by HTTP-01; Traefik's IngressClass is never the cluster's default;
- only the gateway's namespace can define the `default` TLSOption and TLSStore (where the
  gateway's own TLSOption is), and TLS options never silently fall back to `default`;
- access logs drop query strings; `websecure`'s responding timeouts are explicit;
- `install: false` installs no chart and keeps pre-existing namespaces on destroy;
- issuers per environment: a private CA chain (self-signed root -> CA Certificate -> CA
  ClusterIssuer) for local/dev, ACME staging/production with HTTP-01 or DNS-01 otherwise;
- every named middleware is created in the routes' namespace and passes the CRD;
  HSTS only outside local/dev; rate limits divided by replicas when asked;
- the dashboard is only an IngressRoute on websecure behind BasicAuth (bcrypt from the
  provider), with an optional allow list; its password is a secret output; off in prod;
- the default TLSOption requires TLS 1.2, prefers post-quantum key exchange, offers h2;
- GoServiceStack routes get the gateway's default middleware chain and issuer, and wait
  for the middlewares they name (and where charts are installed, the charts), not for the
  rest of the gateway; nothing waits for an issuer or a certificate (cert-manager issues
  once the issuer is ready, whatever was created first).
"""

from __future__ import annotations

import json
import re
import runpy

import jsonschema
import pytest

from components.traefik_gateway import (
    TRAEFIK_CLOSE_SECONDS,
    cert_manager_values,
    chart_source_args,
    middleware_specs,
    otlp_grpc_endpoint,
    tls_option_spec,
    traefik_values,
)
from go_platform_core.config import ChartSource, GatewaySettings, load_settings
from tests.conftest import REPO, UPSTREAM, service_config, stack_config
from tests.crd_schemas import validate_custom_resource

# The schema of the chart release the program installs by default, so a chart bump
# without `tools/upstream/vendor.py update traefik ...` fails here.
TRAEFIK_CHART_VERSION = (
    GatewaySettings.model_fields["chart"].get_default(call_default_factory=True).version
)
VALUES_SCHEMA = json.loads(
    (
        UPSTREAM / "helm-values-schemas" / f"traefik-{TRAEFIK_CHART_VERSION}.values.schema.json"
    ).read_text()
)
DOMAINS = {
    "local": "go-platform.localhost",
    "dev": "dev.example.com",
    "staging": "staging.example.com",
    "prod": "example.com",
}


def settings_for(environment, **keys):
    keys.setdefault("domain", DOMAINS[environment])
    return load_settings(stack_config(**keys), stack=environment)


def run_program(pulumi_program, environment="dev", **keys):
    keys.setdefault("domain", DOMAINS[environment])
    keys.setdefault("services", [service_config(route={"host": f"greeter.{keys['domain']}"})])
    return pulumi_program(
        lambda: runpy.run_path(str(REPO / "__main__.py"), run_name="__main__"),
        stack=environment,
        config=stack_config(**keys),
    )


# --- chart values -----------------------------------------------------------------------


@pytest.mark.parametrize("environment", ["local", "dev", "staging", "prod"])
def test_traefik_values_pass_the_chart_schema(environment):
    gateway = settings_for(environment).gateway
    values = traefik_values(
        gateway, otlp_endpoint="http://tempo.monitoring:4317", service_monitor=True
    )
    jsonschema.validate(values, VALUES_SCHEMA)


MIRRORED = {
    "registry": "registry.example.com",
    "repository": "mirror/traefik",
    "digest": "sha256:" + "ab" * 32,
}


def test_chart_values_from_the_config_go_over_ours_map_by_map():
    ours = {"image": {"pullPolicy": "IfNotPresent"}, "ports": {"web": {"port": 8000}}, "x": [1]}
    theirs = {"image": {"registry": "r.example.com"}, "x": [2], "new": True}
    assert chart_source_args(ChartSource(chart="c", version="1", values=theirs), ours)[
        "values"
    ] == {
        "image": {"pullPolicy": "IfNotPresent", "registry": "r.example.com"},
        "ports": {"web": {"port": 8000}},
        "x": [2],
        "new": True,
    }
    assert ours["image"] == {"pullPolicy": "IfNotPresent"}  # not changed in place


def test_a_mirrored_image_reaches_the_chart_with_our_values_kept(pulumi_program):
    recording = run_program(
        pulumi_program,
        "prod",
        gateway={"chart": {"values": {"image": MIRRORED}}},
    )
    [chart] = [
        c for c in recording.by_type("kubernetes:helm.sh/v4:Chart") if c.inputs["name"] == "traefik"
    ]
    values = chart.inputs["values"]
    assert values["image"] == MIRRORED
    assert values["ingressClass"]["isDefaultClass"] is False  # ours, still there
    jsonschema.validate(values, VALUES_SCHEMA)


def test_values_schema_catches_a_typo():
    with pytest.raises(jsonschema.ValidationError, match="deploymnet"):
        jsonschema.validate({"deploymnet": {"replicas": 2}}, VALUES_SCHEMA)


@pytest.mark.parametrize("environment", ["local", "dev", "staging", "prod"])
def test_traefik_values_are_hardened(environment):
    values = traefik_values(
        settings_for(environment).gateway, otlp_endpoint=None, service_monitor=True
    )
    assert values["api"] == {"dashboard": True, "insecure": False}
    assert values["ingressRoute"]["dashboard"]["enabled"] is False
    assert values["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert values["podSecurityContext"]["runAsNonRoot"] is True
    assert values["podSecurityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert values["providers"]["kubernetesCRD"]["allowCrossNamespace"] is False
    assert values["ports"]["web"]["http"]["redirections"]["entryPoint"]["to"] == "websecure"
    assert values["ports"]["websecure"]["http"]["tls"]["enabled"] is True
    assert values["updateStrategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert values["service"]["annotations"]["pulumi.com/skipAwait"] == "true"
    # Per-client middlewares see the client's address, not a node's.
    assert values["service"]["spec"]["externalTrafficPolicy"] == "Local"
    assert values["log"]["format"] == "json"
    assert values["accessLog"]["enabled"] is True
    assert values["accessLog"]["format"] == "json"


# Maps the chart passes on whole (toYaml into the manifest, or one argument per key), by
# where they sit in the values (`*`: any port), with the keys each may hold (None: any, as
# Kubernetes defines them). Traefik chart 41.3.0: templates/_podtemplate.tpl,
# _service.tpl (`service.spec`), servicemonitor.yaml.
PASSED_ON: dict[tuple[str, ...], frozenset[str] | None] = {
    ("resources",): None,
    ("podSecurityContext",): None,
    ("securityContext",): None,
    ("service", "annotations"): None,
    ("service", "spec"): None,
    ("metrics", "prometheus", "serviceMonitor", "additionalLabels"): None,
    # One argument per key: `--entryPoints.<port>.http.redirections.entryPoint.<key>`.
    ("ports", "*", "http", "redirections", "entryPoint"): frozenset(
        {"to", "scheme", "permanent", "priority"}
    ),
}


def unread_keys(values, schema, path=(), where=()):
    """Dotted paths of the keys in `values` the chart has no place for. `path` is where
    `values` sits; `where` the same with `*` for the named entries of a map like `ports`."""
    for key, value in values.items():
        props = schema.get("properties", {})
        if key in props:
            child, slot = props[key], key
        elif isinstance(schema.get("additionalProperties"), dict):
            child, slot = schema["additionalProperties"], "*"
        else:
            yield ".".join((*path, key))
            continue
        at, at_where = (*path, key), (*where, slot)
        if at_where in PASSED_ON:
            allowed = PASSED_ON[at_where]
            if allowed is not None:
                yield from (".".join((*at, k)) for k in value if k not in allowed)
        elif isinstance(value, dict):
            yield from unread_keys(value, child, at, at_where)


@pytest.mark.parametrize("environment", ["local", "dev", "staging", "prod"])
def test_every_value_is_one_the_chart_reads(environment):
    gateway = settings_for(environment).gateway
    values = traefik_values(
        gateway, otlp_endpoint="https://otel.example.com:4317", service_monitor=True
    )
    assert list(unread_keys(values, VALUES_SCHEMA)) == []


def test_unread_keys_catches_what_the_schema_lets_through():
    # The schema leaves `service` open: it accepted a `type` the chart never reads.
    misplaced = {
        "service": {"type": "LoadBalancer", "spec": {"type": "LoadBalancer"}},
        "ports": {"web": {"http": {"redirections": {"entryPoint": {"too": "websecure"}}}}},
    }
    jsonschema.validate(misplaced, VALUES_SCHEMA)
    assert list(unread_keys(misplaced, VALUES_SCHEMA)) == [
        "service.type",
        "ports.web.http.redirections.entryPoint.too",
    ]


def seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, duration
    return int(match.group(1))


@pytest.mark.parametrize("environment", ["local", "dev", "staging", "prod"])
def test_a_replaced_pod_drains_before_it_is_killed(environment):
    values = traefik_values(
        settings_for(environment).gateway, otlp_endpoint=None, service_monitor=True
    )
    deployment = values["deployment"]
    for port in ("web", "websecure"):
        life = values["ports"][port]["transport"]["lifeCycle"]
        accepting = seconds(life["requestAcceptGraceTimeout"])
        draining = seconds(life["graceTimeOut"])
        # Long enough for a load balancer's health checks to give up on the node.
        assert accepting >= 10, port
        assert draining > 0, port
        # Traefik stops its entry points, then closes itself: all before the SIGKILL.
        total = accepting + draining + TRAEFIK_CLOSE_SECONDS
        assert total < deployment["terminationGracePeriodSeconds"], port
    assert deployment["minReadySeconds"] >= 10


@pytest.mark.parametrize(
    ("environment", "tls", "served"),
    [
        ("staging", {}, True),  # acmeStaging by HTTP-01
        ("prod", {}, True),  # acme by HTTP-01
        ("dev", {}, False),  # privateCa
        ("staging", {"dns01": {"provider": "route53", "region": "eu-west-1"}}, False),
        ("dev", {"issuer": "existing", "clusterIssuer": "corp-ca"}, True),  # solver unknown
    ],
)
def test_ingress_provider_serves_http01_solvers_only(environment, tls, served):
    gateway = settings_for(environment, gateway={"tls": tls}).gateway
    values = traefik_values(gateway, otlp_endpoint=None, service_monitor=True)
    ingress = values["providers"]["kubernetesIngress"]
    assert values["ingressClass"]["isDefaultClass"] is False
    assert ingress["enabled"] is served
    assert values["ingressClass"]["enabled"] is served
    if served:
        # The label cert-manager v1.21 puts on every solver Ingress
        # (pkg/issuer/acme/http/pod.go podLabels, pkg/apis/acme/v1/types.go).
        assert ingress["labelSelector"] == "acme.cert-manager.io/http01-solver=true"


def test_http01_solvers_name_the_class_the_chart_creates(pulumi_program):
    recording = run_program(pulumi_program, "staging")
    values = recording.one("Chart", name="gateway-traefik").inputs["values"]
    solver = recording.one("ClusterIssuer").inputs["spec"]["acme"]["solvers"][0]
    assert solver["http01"]["ingress"]["ingressClassName"] == values["ingressClass"]["name"]


def test_default_tls_resources_only_from_the_gateway_namespace(pulumi_program):
    recording = run_program(pulumi_program, "dev", gateway={"namespace": "edge"})
    chart = recording.one("Chart", name="gateway-traefik").inputs
    option = recording.one("TLSOption").inputs["metadata"]
    assert chart["namespace"] == "edge"
    assert chart["values"]["providers"]["kubernetesCRD"]["defaultTLSResourcesNamespace"] == "edge"
    assert (option["name"], option["namespace"]) == ("default", "edge")
    assert chart["values"]["core"]["strictTLSOptions"] is True


def test_access_log_drops_query_strings():
    values = traefik_values(settings_for("prod").gateway, otlp_endpoint=None, service_monitor=True)
    # Traefik v3.7 (pkg/observability/types/logs.go): `keep` or `drop`; drop strips the
    # query from RequestPath.
    assert values["accessLog"]["fields"]["queryParameters"] == {"defaultMode": "drop"}


def test_websecure_responding_timeouts_are_explicit():
    timeouts = traefik_values(
        settings_for("prod").gateway, otlp_endpoint=None, service_monitor=True
    )["ports"]["websecure"]["transport"]["respondingTimeouts"]
    assert set(timeouts) == {"readTimeout", "writeTimeout", "idleTimeout"}
    # Traefik's own defaults (pkg/config/static/static_config.go), documented on the
    # component: a gRPC stream sending for longer than the read timeout is cut.
    assert seconds(timeouts["readTimeout"]) == 60
    assert seconds(timeouts["writeTimeout"]) == 0


@pytest.mark.parametrize(
    ("environment", "replicas", "pdb"),
    [
        ("local", 1, False),
        ("dev", 1, False),
        ("staging", 2, True),
        ("prod", 3, True),
    ],
)
def test_high_availability_per_environment(environment, replicas, pdb):
    values = traefik_values(
        settings_for(environment).gateway, otlp_endpoint=None, service_monitor=True
    )
    assert values["deployment"]["replicas"] == replicas
    assert values["podDisruptionBudget"]["enabled"] is pdb
    assert bool(values["topologySpreadConstraints"]) is pdb


def test_metrics_and_tracing_hooks():
    values = traefik_values(
        settings_for("dev").gateway,
        otlp_endpoint="http://tempo.monitoring:4317",
        service_monitor=True,
    )
    monitor = values["metrics"]["prometheus"]["serviceMonitor"]
    assert monitor["enabled"] is True
    assert monitor["additionalLabels"] == {"go-platform/scrape": "true"}
    assert values["tracing"]["otlp"]["grpc"]["endpoint"] == "tempo.monitoring:4317"
    assert "tracing" not in traefik_values(
        settings_for("dev").gateway, otlp_endpoint=None, service_monitor=False
    )


@pytest.mark.parametrize(
    ("endpoint", "insecure"),
    [
        ("http://tempo.monitoring:4317", True),
        ("https://otel.example.com:4317", False),
        ("collector.monitoring:4317", True),
    ],
)
def test_otlp_tls_follows_the_endpoint_scheme(endpoint, insecure):
    values = traefik_values(
        settings_for("prod").gateway, otlp_endpoint=endpoint, service_monitor=True
    )
    assert values["tracing"]["otlp"]["grpc"]["insecure"] is insecure


def test_otlp_endpoint_loses_its_scheme():
    assert otlp_grpc_endpoint("http://collector.monitoring:4317/") == "collector.monitoring:4317"
    assert otlp_grpc_endpoint("collector:4317") == "collector:4317"


def test_cert_manager_values_follow_gateway_replicas():
    values = cert_manager_values(3, service_monitor=True)
    assert values["crds"]["enabled"] is True
    assert values["replicaCount"] == 3
    assert values["podDisruptionBudget"]["enabled"] is True
    assert values["prometheus"]["servicemonitor"]["labels"] == {"go-platform/scrape": "true"}
    assert cert_manager_values(1, service_monitor=False)["podDisruptionBudget"]["enabled"] is False


def test_charts_are_pinned_and_configurable(pulumi_program):
    recording = run_program(pulumi_program, "staging")
    charts = {r.name: r.inputs for r in recording.by_type("kubernetes:helm.sh/v4:Chart")}
    assert charts["gateway-traefik"]["chart"] == "traefik"
    assert charts["gateway-traefik"]["version"] == "41.3.0"
    assert charts["gateway-traefik"]["repositoryOpts"]["repo"] == "https://traefik.github.io/charts"
    assert charts["gateway-cert-manager"]["version"] == "v1.21.1"
    assert charts["gateway-traefik"]["values"]["deployment"]["replicas"] == 2

    oci = run_program(
        pulumi_program,
        "staging",
        gateway={
            "chart": {"chart": "oci://registry.example.com/charts/traefik", "version": "41.3.0"},
            "tls": {"acmeEmail": "ops@example.com"},
        },
    )
    traefik = oci.one("Chart", name="gateway-traefik").inputs
    assert traefik["chart"] == "oci://registry.example.com/charts/traefik"
    assert "repositoryOpts" not in traefik


def test_bring_your_own_installs_no_chart_and_keeps_namespaces(pulumi_program):
    recording = run_program(pulumi_program, "local")
    assert recording.by_type("kubernetes:helm.sh/v4:Chart") == []
    # The CRD-backed configuration is still created.
    assert recording.of_kind("TLSOption")
    assert {r.inputs["metadata"]["name"] for r in recording.of_kind("Middleware")} >= {
        "secure-headers",
        "rate-limit",
    }


# --- issuers ---------------------------------------------------------------------------


def test_private_ca_chain_for_local_and_dev(pulumi_program):
    recording = run_program(pulumi_program, "dev")
    issuers = {
        r.inputs["metadata"]["name"]: r.inputs["spec"] for r in recording.of_kind("ClusterIssuer")
    }
    assert issuers == {
        "go-platform-selfsigned": {"selfSigned": {}},
        "go-platform-ca": {"ca": {"secretName": "go-platform-ca"}},
    }
    ca = recording.one("Certificate", name="gateway-ca-certificate").inputs
    assert ca["spec"]["isCA"] is True
    assert ca["spec"]["issuerRef"]["name"] == "go-platform-selfsigned"
    assert ca["metadata"]["namespace"] == "cert-manager"
    for resource in [*recording.of_kind("ClusterIssuer"), *recording.of_kind("Certificate")]:
        validate_custom_resource("cert-manager.io/v1", resource.kind, resource.inputs["spec"])


@pytest.mark.parametrize(
    ("environment", "name", "server"),
    [
        (
            "staging",
            "letsencrypt-staging",
            "https://acme-staging-v02.api.letsencrypt.org/directory",
        ),
        ("prod", "letsencrypt", "https://acme-v02.api.letsencrypt.org/directory"),
    ],
)
def test_acme_issuers_with_http01(pulumi_program, environment, name, server):
    recording = run_program(
        pulumi_program,
        environment,
        services=[
            service_config(
                replicas=2 if environment == "prod" else 1,
                route={"host": f"greeter.{DOMAINS[environment]}"},
            )
        ],
    )
    issuer = recording.one("ClusterIssuer").inputs
    assert issuer["metadata"]["name"] == name
    acme = issuer["spec"]["acme"]
    assert acme["server"] == server
    assert acme["email"] == "platform@example.com"
    assert acme["solvers"] == [{"http01": {"ingress": {"ingressClassName": "traefik"}}}]
    validate_custom_resource("cert-manager.io/v1", "ClusterIssuer", issuer["spec"])
    # The solver's Ingress answers on `web` only if the http-to-https redirect ranks below
    # it: over https, the default TLSOption's strict SNI refuses a host with no certificate.
    values = recording.one("Chart", name="gateway-traefik").inputs["values"]
    assert values["ports"]["web"]["http"]["redirections"]["entryPoint"]["priority"] == 1
    assert recording.one("TLSOption").inputs["spec"]["sniStrict"] is True
    route_certificate = recording.one("Certificate", parent="greeter").inputs
    assert route_certificate["spec"]["issuerRef"]["name"] == name


def test_dns01_with_a_secret_token(pulumi_program):
    recording = pulumi_program(
        lambda: runpy.run_path(str(REPO / "__main__.py"), run_name="__main__"),
        stack="staging",
        config=stack_config(
            secrets={"cloudflareToken": "cf-token-value"},
            domain="staging.example.com",
            gateway={
                "tls": {"dns01": {"provider": "cloudflare", "apiTokenSecret": "cloudflareToken"}}
            },
        ),
    )
    token = recording.one("Secret", name="gateway-dns01-token")
    assert token.inputs["stringData"] == {"api-token": "cf-token-value"}
    assert token.has_secret("stringData")
    solver = recording.one("ClusterIssuer").inputs["spec"]["acme"]["solvers"][0]
    assert solver["dns01"]["cloudflare"]["apiTokenSecretRef"] == {
        "name": "gateway-dns01-token-0a1b2c3d",
        "key": "api-token",
    }
    validate_custom_resource(
        "cert-manager.io/v1", "ClusterIssuer", recording.one("ClusterIssuer").inputs["spec"]
    )


def test_existing_issuer_creates_none(pulumi_program):
    recording = run_program(
        pulumi_program, "dev", gateway={"tls": {"issuer": "existing", "clusterIssuer": "corp-ca"}}
    )
    assert recording.of_kind("ClusterIssuer") == []
    assert (
        recording.one("Certificate", parent="greeter").inputs["spec"]["issuerRef"]["name"]
        == "corp-ca"
    )


# --- middlewares, TLS option, dashboard --------------------------------------------------


def test_every_middleware_passes_the_crd_and_lives_beside_the_routes(pulumi_program):
    recording = run_program(
        pulumi_program, "dev", gateway={"middlewares": {"ipAllowList": ["10.0.0.0/8"]}}
    )
    shared = [
        r for r in recording.of_kind("Middleware") if r.inputs["metadata"]["namespace"] == "apps"
    ]
    assert sorted(r.inputs["metadata"]["name"] for r in shared) == sorted(
        [
            "secure-headers",
            "rate-limit",
            "in-flight",
            "circuit-breaker",
            "retry",
            "compress",
            "ip-allow-list",
            "redirect-https",
        ]
    )
    for middleware in recording.of_kind("Middleware"):
        validate_custom_resource("traefik.io/v1alpha1", "Middleware", middleware.inputs["spec"])


def test_middleware_specs():
    specs = middleware_specs(settings_for("prod").gateway.middlewares, replicas=3)
    assert specs["secure-headers"]["headers"]["stsSeconds"] == 31536000
    assert specs["rate-limit"]["rateLimit"] == {
        "average": 100,
        "burst": 200,
        "period": "1s",
        "sourceCriterion": {"ipStrategy": {"depth": 0}},
    }
    assert specs["circuit-breaker"]["circuitBreaker"]["expression"].startswith(
        "NetworkErrorRatio()"
    )
    assert specs["retry"] == {"retry": {"attempts": 3, "initialInterval": "100ms"}}
    assert specs["in-flight"]["inFlightReq"]["amount"] == 100
    assert specs["redirect-https"]["redirectScheme"] == {"scheme": "https", "permanent": True}
    assert "ip-allow-list" not in specs


def test_no_hsts_in_local_and_dev():
    for environment in ("local", "dev"):
        assert (
            "stsSeconds"
            not in middleware_specs(settings_for(environment).gateway.middlewares, replicas=1)[
                "secure-headers"
            ]["headers"]
        )


def test_rate_limit_divided_by_replicas_when_asked():
    gateway = settings_for(
        "prod",
        gateway={
            "middlewares": {
                "rateLimit": {
                    "average": 300,
                    "burst": 100,
                    "divideByReplicas": True,
                    "sourceHeader": "X-Api-Key",
                }
            }
        },
    ).gateway
    limit = middleware_specs(gateway.middlewares, replicas=gateway.replicas)["rate-limit"][
        "rateLimit"
    ]
    assert (limit["average"], limit["burst"]) == (100, 34)
    assert limit["sourceCriterion"] == {"requestHeaderName": "X-Api-Key"}
    # The concurrency stays per client address: a rotated header gets no fresh allowance.
    in_flight = middleware_specs(gateway.middlewares, replicas=gateway.replicas)["in-flight"]
    assert in_flight["inFlightReq"]["sourceCriterion"] == {"ipStrategy": {"depth": 0}}


def test_default_tls_option(pulumi_program):
    option = run_program(pulumi_program, "dev").one("TLSOption").inputs
    assert (option["metadata"]["name"], option["metadata"]["namespace"]) == ("default", "traefik")
    assert option["spec"] == tls_option_spec()
    assert option["spec"]["minVersion"] == "VersionTLS12"
    assert option["spec"]["alpnProtocols"] == ["h2", "http/1.1"]
    validate_custom_resource("traefik.io/v1alpha1", "TLSOption", option["spec"])


# The names Traefik v3.7 accepts in curvePreferences (pkg/tls/certificate.go, CurveIDs);
# any other fails the whole TLSOption.
TRAEFIK_CURVES = {
    "secp256r1", "CurveP256", "secp384r1", "CurveP384", "secp521r1", "CurveP521",
    "x25519", "X25519", "x25519mlkem768", "X25519MLKEM768",
    "secp256r1mlkem768", "SecP256r1MLKEM768", "secp384r1mlkem1024", "SecP384r1MLKEM1024",
}  # fmt: skip


def test_tls_option_prefers_post_quantum_key_exchange():
    curves = tls_option_spec()["curvePreferences"]
    assert curves[0] == "X25519MLKEM768"
    assert "X25519" in curves  # for clients without ML-KEM
    assert set(curves) <= TRAEFIK_CURVES


def test_dashboard_behind_basic_auth_on_websecure(pulumi_program):
    recording = run_program(
        pulumi_program, "dev", gateway={"dashboard": {"ipAllowList": ["192.168.0.0/16"]}}
    )
    route = recording.one("IngressRoute", name="gateway-dashboard").inputs["spec"]
    assert route["entryPoints"] == ["websecure"]
    rule = route["routes"][0]
    assert (
        rule["match"]
        == "Host(`traefik.dev.example.com`) && (PathPrefix(`/dashboard`) || PathPrefix(`/api`))"
    )
    assert rule["services"] == [{"kind": "TraefikService", "name": "api@internal"}]
    assert [m["name"] for m in rule["middlewares"]] == ["dashboard-allow", "dashboard-auth"]
    assert route["tls"] == {"secretName": "traefik-dashboard-tls"}
    validate_custom_resource("traefik.io/v1alpha1", "IngressRoute", route)

    users = recording.one("Secret", name="gateway-dashboard-users")
    assert users.inputs["stringData"]["users"].startswith("admin:$2a$")
    assert users.has_secret("stringData")
    auth = recording.one("Middleware", name="gateway-dashboard-auth").inputs["spec"]
    assert auth["basicAuth"]["secret"] == "gateway-dashboard-users-0a1b2c3d"


def test_dashboard_off_in_prod_unless_asked(pulumi_program):
    prod = {"services": [service_config(replicas=2, route={"host": "api.example.com"})]}
    recording = run_program(pulumi_program, "prod", **prod)
    assert recording.of_kind("IngressRoute")
    assert not [r for r in recording.children("gateway") if r.name.startswith("gateway-dashboard")]
    asked = run_program(
        pulumi_program,
        "prod",
        gateway={"dashboard": {"enabled": True}, "tls": {"acmeEmail": "o@example.com"}},
        **prod,
    )
    assert asked.one("IngressRoute", name="gateway-dashboard")


def test_dashboard_password_is_a_secret_output(pulumi_program):
    from components.traefik_gateway import TraefikGateway, TraefikGatewayArgs

    settings = settings_for("dev")
    seen = {}

    def program():
        gateway = TraefikGateway(
            "gw",
            TraefikGatewayArgs(
                gateway=settings.gateway,
                environment="dev",
                dashboard_host="traefik.dev.example.com",
                routes_namespaces={"apps": "apps"},
            ),
        )

        async def check():
            seen["secret"] = await gateway.dashboard_password.is_secret()
            seen["url"] = await gateway.dashboard_url.future()

        return check()

    pulumi_program(program, stack="dev", config=stack_config(domain="dev.example.com"))
    assert seen == {"secret": True, "url": "https://traefik.dev.example.com/dashboard/"}


# --- route wiring ----------------------------------------------------------------------


def test_service_routes_use_the_gateway_chain_and_issuer(pulumi_program):
    recording = run_program(
        pulumi_program,
        "dev",
        services=[
            service_config(
                route={"host": "greeter.dev.example.com", "middlewares": ["redirect-https"]}
            )
        ],
    )
    route = recording.one("IngressRoute", parent="greeter").inputs["spec"]
    assert [(m["name"], m["namespace"]) for m in route["routes"][0]["middlewares"]] == [
        ("secure-headers", "apps"),
        ("rate-limit", "apps"),
        ("in-flight", "apps"),
        ("circuit-breaker", "apps"),
        ("retry", "apps"),
        ("compress", "apps"),
        ("redirect-https", "apps"),
    ]
    assert (
        recording.one("Certificate", parent="greeter").inputs["spec"]["issuerRef"]["name"]
        == "go-platform-ca"
    )
    network = recording.one("NetworkPolicy", parent="greeter").inputs["spec"]
    assert network["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "traefik"
    }


def test_routes_wait_for_the_middlewares_they_name_and_nothing_waits_for_issuance(
    pulumi_program,
):
    recording = run_program(pulumi_program, "local")
    route = recording.one("IngressRoute", parent="greeter")
    in_apps = {
        r.urn
        for r in recording.of_kind("Middleware")
        if recording.parent_name(r) == "gateway" and r.inputs["metadata"]["namespace"] == "apps"
    }
    issuance = {r.urn for r in recording.resources if r.kind in ("Certificate", "ClusterIssuer")}
    dashboard = {
        r.urn for r in recording.children("gateway") if r.name.startswith("gateway-dashboard")
    }

    assert len(in_apps) >= 6
    assert in_apps <= route.dependencies
    assert not dashboard & route.dependencies
    dashboard_route = recording.one("IngressRoute", name="gateway-dashboard")
    assert recording.one("Middleware", name="gateway-dashboard-auth").urn in (
        dashboard_route.dependencies
    )
    # The CA chain, the issuer, the certificates of the dashboard, greeter and module proxy.
    assert len(issuance) == 6
    for resource in recording.resources:
        assert not issuance & resource.dependencies, resource.name


def test_where_charts_are_installed_routes_wait_for_them(pulumi_program):
    recording = run_program(pulumi_program, "dev")
    charts = {r.urn for r in recording.of_kind("Chart") if recording.parent_name(r) == "gateway"}

    assert len(charts) == 2
    assert charts <= recording.one("IngressRoute", parent="greeter").dependencies


def test_strip_prefix_and_h2c_backends(pulumi_program):
    recording = run_program(
        pulumi_program,
        "dev",
        services=[
            service_config(
                route={
                    "host": "grpc.dev.example.com",
                    "pathPrefix": "/greeter",
                    "stripPrefix": True,
                    "protocol": "h2c",
                }
            )
        ],
    )
    strip = recording.one("Middleware", parent="greeter").inputs
    assert strip["spec"] == {"stripPrefix": {"prefixes": ["/greeter"]}}
    rule = recording.one("IngressRoute", parent="greeter").inputs["spec"]["routes"][0]
    assert rule["middlewares"][-1]["name"] == "greeter-strip-prefix"
    assert rule["services"][0]["scheme"] == "h2c"
    http_port = recording.one("Service", parent="greeter").inputs["spec"]["ports"][0]
    assert http_port["appProtocol"] == "kubernetes.io/h2c"
    validate_custom_resource(
        "traefik.io/v1alpha1",
        "IngressRoute",
        recording.one("IngressRoute", parent="greeter").inputs["spec"],
    )


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (
            {"gateway": {"defaultMiddlewares": ["secure-headers", "ratelimit"]}},
            "go-platform:gateway.defaultMiddlewares[1]: no middleware named 'ratelimit'; the gateway has "
            "secure-headers, rate-limit, in-flight, circuit-breaker, retry, compress, ip-allow-list, redirect-https",
        ),
        (
            {
                "services": [
                    service_config(
                        route={"host": "a.example.com", "middlewares": ["ip-allow-list"]}
                    )
                ]
            },
            "go-platform:services[0].route.middlewares[0]: `ip-allow-list` needs `gateway.middlewares.ipAllowList`",
        ),
        (
            {"gateway": {"tls": {"issuer": "existing"}}},
            "go-platform:gateway.tls.clusterIssuer: is required with issuer 'existing'",
        ),
        (
            {"gateway": {"tls": {"dns01": {"provider": "route53", "region": "eu-west-1"}}}},
            "go-platform:gateway.tls.dns01: applies only to ACME issuers",
        ),
        (
            {"gateway": {"dashboard": {"host": "traefik.other.org"}}},
            "go-platform:gateway.dashboard.host: 'traefik.other.org' is outside the domain 'example.com'",
        ),
        ({"gateway": {"replicas": 0}}, "go-platform:gateway.replicas: must be at least 1 (got 0)"),
        (
            {"gateway": {"middlewares": {"rateLimit": {"period": "1 second"}}}},
            "go-platform:gateway.middlewares.rateLimit.period: '1 second' is not a duration (examples: 30s, 1m, 1m30s, 2h)",
        ),
    ],
)
def test_bad_gateway_config_names_its_key(keys, expected):
    from go_platform_core.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_settings(stack_config(domain="example.com", **keys), stack="dev")
    assert [str(p) for p in caught.value.problems] == [expected]


def test_acme_needs_an_email():
    from go_platform_core.config import ConfigError

    config = stack_config(domain="example.com", gateway={"tls": {"acmeEmail": None}})
    with pytest.raises(ConfigError) as caught:
        load_settings(config, stack="prod")
    assert [str(p) for p in caught.value.problems] == [
        "go-platform:gateway.tls.acmeEmail: is required with issuer 'acme'"
    ]


def test_gateway_alerts_and_dashboard_beside_traefik(pulumi_program):
    recording = run_program(pulumi_program, "dev")
    rule = recording.one("PrometheusRule", name="gateway-alerts").inputs
    assert rule["metadata"]["namespace"] == "traefik"
    assert rule["metadata"]["labels"]["go-platform/scrape"] == "true"
    assert {r["alert"] for r in rule["spec"]["groups"][0]["rules"]} == {
        "GatewayDown",
        "GatewayErrors",
    }
    assert 'absent(up{namespace="traefik"} == 1)' in rule["spec"]["groups"][0]["rules"][0]["expr"]
    validate_custom_resource("monitoring.coreos.com/v1", "PrometheusRule", rule["spec"])
    dashboard = recording.one("ConfigMap", name="gateway-grafana-dashboard").inputs
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["gateway.json"])["uid"] == "go-platform-gateway"


def test_no_gateway_alerts_without_monitoring(pulumi_program):
    recording = run_program(pulumi_program, "dev", observability={"enabled": False})
    assert [r for r in recording.of_kind("PrometheusRule") if r.name == "gateway-alerts"] == []


def test_monitor_labels_reach_the_charts():
    gateway = settings_for("dev").gateway
    values = traefik_values(
        gateway, otlp_endpoint=None, service_monitor=True, monitor_labels={"release": "kps"}
    )
    jsonschema.validate(values, VALUES_SCHEMA)
    assert values["metrics"]["prometheus"]["serviceMonitor"]["additionalLabels"] == {
        "go-platform/scrape": "true",
        "release": "kps",
    }
    assert (
        cert_manager_values(1, True, {"release": "kps"})["prometheus"]["servicemonitor"]["labels"][
            "release"
        ]
        == "kps"
    )
