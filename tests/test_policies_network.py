"""How traffic gets in: TLS IngressRoutes, the Traefik dashboard, LoadBalancer Services.

Invariants guarded:
- `ingressroute-tls-required`: IngressRoutes (either Traefik API group) attach only to
  the configured entrypoints and set `tls`; no entrypoints means all of them and fails;
  config can relax both (the local stack's choice to make);
- `traefik-dashboard-not-insecure`: `api.insecure` fails wherever it can be set (chart
  values, `additionalArguments`, container args or command, `TRAEFIK_API_INSECURE`), as
  do exposing the internal `traefik` entrypoint, a dashboard IngressRoute from the chart
  on a public entrypoint without middlewares, and a route to `api@internal` without TLS
  or a middleware; `--api.insecure=false` and the chart's closed defaults pass;
- `service-load-balancer-restricted`: only Services matching `allowed` (the gateway's,
  by namespace and labels) may be LoadBalancers.
"""

from __future__ import annotations

import pytest

from tests.policy_fixtures import Resource, case, deployment, good_container, run_case

C0 = "container 'app' (spec.template.spec.containers[0])"
TLS_EXPECTED = "a tls section (secretName from cert-manager, or {} for the default certificate)"


def ingress_route(
    entry_points=("websecure",),
    tls=None,
    middlewares=(),
    service="app",
    kind="Service",
    group="traefik.io",
) -> Resource:
    spec: dict = {
        "routes": [
            {
                "kind": "Rule",
                "match": "Host(`app.example.com`)",
                "middlewares": [{"name": m} for m in middlewares],
                "services": [{"kind": kind, "name": service, "port": 8080}],
            }
        ]
    }
    if entry_points is not None:
        spec["entryPoints"] = list(entry_points)
    if tls is not None:
        spec["tls"] = tls
    return Resource(
        f"kubernetes:{group}/v1alpha1:IngressRoute",
        {"metadata": {"name": "app", "namespace": "apps"}, "spec": spec},
    )


def traefik_chart(**values) -> Resource:
    return Resource(
        "kubernetes:helm.sh/v4:Chart",
        {
            "chart": "traefik",
            "version": "41.3.0",
            "namespace": "traefik",
            "values": {"api": {"dashboard": True, "insecure": False}, **values},
        },
        name="gateway-traefik",
    )


def traefik_deployment(*args: str, env: list | None = None) -> Resource:
    container = good_container("traefik", args=["--entryPoints.websecure.address=:8443", *args])
    if env is not None:
        container["env"] = env
    return deployment({"containers[0]": container})


def service(kind: str, namespace: str = "apps", labels: dict | None = None) -> Resource:
    return Resource(
        "kubernetes:core/v1:Service",
        {
            "metadata": {"name": "web", "namespace": namespace, "labels": labels or {}},
            "spec": {"type": kind, "ports": [{"port": 443}]},
        },
    )


TRAEFIK = {"app.kubernetes.io/name": "traefik"}
GATEWAY_ONLY = {"allowed": [{"namespace": "traefik", "labels": TRAEFIK}]}
TRAEFIK0 = "container 'traefik' (spec.template.spec.containers[0])"

CASES = [
    # ingressroute-tls-required
    case(
        "ingressroute-tls-required",
        "websecure with a certificate",
        ingress_route(tls={"secretName": "app-tls"}),
    ),
    case("ingressroute-tls-required", "the default certificate", ingress_route(tls={})),
    case(
        "ingressroute-tls-required",
        "plain HTTP allowed by config",
        ingress_route(entry_points=["web"]),
        config={"entryPoints": ["web", "websecure"], "requireTls": False},
    ),
    case(
        "ingressroute-tls-required",
        "no entrypoints",
        ingress_route(entry_points=None, tls={}),
        "spec.entryPoints is unset; expected ['websecure'] (unset means every entrypoint, plain "
        "HTTP too)",
    ),
    case(
        "ingressroute-tls-required",
        "plain HTTP without TLS",
        ingress_route(entry_points=["web"]),
        "spec.entryPoints is ['web']; expected only ['websecure']",
        f"spec.tls is unset; expected {TLS_EXPECTED}",
    ),
    case(
        "ingressroute-tls-required",
        "Traefik v2's API group is no loophole",
        ingress_route(entry_points=["web", "websecure"], tls={}, group="traefik.containo.us"),
        "spec.entryPoints is ['web', 'websecure']; expected only ['websecure']",
    ),
    # traefik-dashboard-not-insecure
    case(
        "traefik-dashboard-not-insecure",
        "the chart with a secure API",
        traefik_chart(ingressRoute={"dashboard": {"enabled": False}}),
    ),
    case(
        "traefik-dashboard-not-insecure",
        "the chart's dashboard route on the internal entrypoint",
        traefik_chart(ingressRoute={"dashboard": {"enabled": True}}),
    ),
    case(
        "traefik-dashboard-not-insecure",
        "insecure API in chart values",
        traefik_chart(api={"dashboard": True, "insecure": True}),
        "values.api.insecure is true; expected false or unset",
    ),
    case(
        "traefik-dashboard-not-insecure",
        "insecure API through additionalArguments",
        traefik_chart(additionalArguments=["--log.level=INFO", "--api.insecure=true"]),
        "values.additionalArguments[1] is '--api.insecure=true'; expected no --api.insecure flag",
    ),
    case(
        "traefik-dashboard-not-insecure",
        "the traefik entrypoint exposed",
        traefik_chart(ports={"traefik": {"expose": {"default": True}}}),
        "values.ports.traefik.expose is {default: true}; expected the internal traefik "
        "entrypoint (dashboard, API) left unexposed",
    ),
    case(
        "traefik-dashboard-not-insecure",
        "the chart's dashboard route on websecure without auth",
        traefik_chart(ingressRoute={"dashboard": {"enabled": True, "entryPoints": ["websecure"]}}),
        "values.ingressRoute.dashboard.middlewares is unset; expected an authentication "
        "middleware, since the dashboard route listens on ['websecure']",
    ),
    case(
        "traefik-dashboard-not-insecure",
        "a Traefik container with the flag explicitly off",
        traefik_deployment("--api.insecure=false"),
    ),
    case(
        "traefik-dashboard-not-insecure",
        "a Traefik container with --api.insecure",
        traefik_deployment("--api.insecure"),
        f"{TRAEFIK0}: args[1] is '--api.insecure'; expected no --api.insecure flag",
    ),
    case(
        "traefik-dashboard-not-insecure",
        "a Traefik container configured by environment",
        traefik_deployment(env=[{"name": "TRAEFIK_API_INSECURE", "value": "True"}]),
        f"{TRAEFIK0}: env[0] (TRAEFIK_API_INSECURE) is 'True'; expected false or unset",
    ),
    case(
        "traefik-dashboard-not-insecure",
        "a dashboard route with TLS and auth",
        ingress_route(
            tls={}, middlewares=["dashboard-auth"], service="api@internal", kind="TraefikService"
        ),
    ),
    case(
        "traefik-dashboard-not-insecure",
        "a dashboard route without TLS or auth",
        ingress_route(entry_points=["web"], service="api@internal", kind="TraefikService"),
        "spec.tls is unset; expected a tls section: spec.routes[0] serves api@internal",
        "spec.routes[0].middlewares is unset; expected an authentication middleware in front of "
        "api@internal (the dashboard)",
    ),
    # service-load-balancer-restricted
    case("service-load-balancer-restricted", "ClusterIP", service("ClusterIP")),
    case(
        "service-load-balancer-restricted",
        "the gateway's Service",
        service("LoadBalancer", "traefik", TRAEFIK),
        config=GATEWAY_ONLY,
    ),
    case(
        "service-load-balancer-restricted",
        "the default allows Traefik's labels",
        service("LoadBalancer", "edge", TRAEFIK),
    ),
    case(
        "service-load-balancer-restricted",
        "a service of its own",
        service("LoadBalancer"),
        "spec.type is 'LoadBalancer'; expected ClusterIP: only the gateway's Service (`allowed` "
        "in the policy config) may be a LoadBalancer; route other services through the gateway",
        config=GATEWAY_ONLY,
    ),
    case(
        "service-load-balancer-restricted",
        "gateway labels in the wrong namespace",
        service("LoadBalancer", "apps", TRAEFIK),
        "spec.type is 'LoadBalancer'; expected ClusterIP: only the gateway's Service (`allowed` "
        "in the policy config) may be a LoadBalancer; route other services through the gateway",
        config=GATEWAY_ONLY,
    ),
]


@pytest.mark.parametrize("fixture", CASES, ids=str)
def test_case(fixture):
    assert run_case(fixture) == list(fixture.expected)
