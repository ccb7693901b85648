"""How traffic reaches the cluster: TLS routes, a closed Traefik dashboard, one LoadBalancer.

- `ingressroute-tls-required`: every Traefik IngressRoute attaches to the TLS entrypoint
  (`websecure`) with a `tls` section. An IngressRoute without `entryPoints` listens on
  every entrypoint, plain HTTP included, so that is a violation too.
- `traefik-dashboard-not-insecure`: the API and dashboard are never served insecurely:
  not through `api.insecure` (chart values, `--api.insecure` argument or the
  `TRAEFIK_API_INSECURE` variable), not by exposing the internal `traefik` entrypoint, and
  not through an IngressRoute to `api@internal` without TLS and a middleware in front.
- `service-load-balancer-restricted`: only the gateway's Service is a LoadBalancer; every
  other service is reached through it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import Severity

from go_platform_policies.core import (
    SECURITY,
    Workload,
    field,
    identity,
    items,
    resource_policy,
    violation,
)
from go_platform_policies.settings import (
    IngressRouteSettings,
    LoadBalancerSettings,
    PolicySettings,
)

INGRESS_ROUTE_TYPES = frozenset(
    {
        "kubernetes:traefik.io/v1alpha1:IngressRoute",
        # Traefik v2's group; go-platform never creates it, but it must not be a loophole.
        "kubernetes:traefik.containo.us/v1alpha1:IngressRoute",
    }
)
HELM_TYPES = frozenset(
    {"kubernetes:helm.sh/v4:Chart", "kubernetes:helm.sh/v3:Chart", "kubernetes:helm.sh/v3:Release"}
)
SERVICE_TYPE = "kubernetes:core/v1:Service"

DASHBOARD_SERVICE = "api@internal"
INSECURE_FLAG = "--api.insecure"
INSECURE_ENV = "TRAEFIK_API_INSECURE"
TRAEFIK_ENTRYPOINT = "traefik"


def is_true(value: Any) -> bool:
    """Truthy as Traefik and Helm read flags: true, "true", "True", "1"."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return value is True


def insecure_flag(argument: Any) -> bool:
    """True for `--api.insecure` and `--api.insecure=true` (not `=false`)."""
    if not isinstance(argument, str):
        return False
    flag, has_value, value = argument.partition("=")
    return flag == INSECURE_FLAG and (not has_value or is_true(value))


# --- IngressRoutes -------------------------------------------------------------------


def check_ingress_route(
    resource_type: str, props: Mapping[str, Any], settings: IngressRouteSettings
) -> Iterator[str]:
    if resource_type not in INGRESS_ROUTE_TYPES:
        return
    allowed = list(settings.entry_points)
    entry_points = list(items(field(props, "spec", "entryPoints")))
    if not entry_points:
        yield violation(
            "spec.entryPoints", None, f"{allowed} (unset means every entrypoint, plain HTTP too)"
        )
    elif any(e not in allowed for e in entry_points):
        yield violation("spec.entryPoints", entry_points, f"only {allowed}")
    if settings.require_tls and not isinstance(field(props, "spec", "tls"), Mapping):
        yield violation(
            "spec.tls",
            field(props, "spec", "tls"),
            "a tls section (secretName from cert-manager, or {} for the default certificate)",
        )


# --- the Traefik dashboard -----------------------------------------------------------


def _chart_values_problems(values: Any) -> Iterator[str]:
    if is_true(field(values, "api", "insecure")):
        yield violation("values.api.insecure", field(values, "api", "insecure"), "false or unset")
    for index, argument in enumerate(items(field(values, "additionalArguments"))):
        if insecure_flag(argument):
            yield violation(
                f"values.additionalArguments[{index}]", argument, "no --api.insecure flag"
            )
    expose = field(values, "ports", TRAEFIK_ENTRYPOINT, "expose")
    exposed = field(expose, "default") if isinstance(expose, Mapping) else expose
    if is_true(exposed):
        yield violation(
            "values.ports.traefik.expose",
            expose,
            "the internal traefik entrypoint (dashboard, API) left unexposed",
        )
    dashboard = field(values, "ingressRoute", "dashboard")
    if is_true(field(dashboard, "enabled")):
        entry_points = list(items(field(dashboard, "entryPoints"))) or [TRAEFIK_ENTRYPOINT]
        if entry_points != [TRAEFIK_ENTRYPOINT] and not items(field(dashboard, "middlewares")):
            yield violation(
                "values.ingressRoute.dashboard.middlewares",
                None,
                f"an authentication middleware, since the dashboard route listens on {entry_points}",
            )


def _workload_problems(workload: Workload) -> Iterator[str]:
    for container in workload.containers():
        for key in ("command", "args"):
            for index, argument in enumerate(items(container.spec.get(key))):
                if insecure_flag(argument):
                    yield container.violation(f"{key}[{index}]", argument, "no --api.insecure flag")
        for index, variable in enumerate(items(container.spec.get("env"))):
            if field(variable, "name") == INSECURE_ENV and is_true(field(variable, "value")):
                yield container.violation(
                    f"env[{index}] ({INSECURE_ENV})", field(variable, "value"), "false or unset"
                )


def _dashboard_route_problems(props: Mapping[str, Any]) -> Iterator[str]:
    for index, route in enumerate(items(field(props, "spec", "routes"))):
        names = [field(s, "name") for s in items(field(route, "services"))]
        if DASHBOARD_SERVICE not in names:
            continue
        if not isinstance(field(props, "spec", "tls"), Mapping):
            yield violation(
                "spec.tls", None, f"a tls section: spec.routes[{index}] serves {DASHBOARD_SERVICE}"
            )
        if not items(field(route, "middlewares")):
            yield violation(
                f"spec.routes[{index}].middlewares",
                None,
                f"an authentication middleware in front of {DASHBOARD_SERVICE} (the dashboard)",
            )


def check_dashboard(
    resource_type: str, props: Mapping[str, Any], _settings: PolicySettings
) -> Iterator[str]:
    if resource_type in HELM_TYPES:
        yield from _chart_values_problems(field(props, "values"))
    elif resource_type in INGRESS_ROUTE_TYPES:
        yield from _dashboard_route_problems(props)
    else:
        workload = Workload.of(resource_type, props)
        if workload is not None:
            yield from _workload_problems(workload)


# --- LoadBalancer Services -----------------------------------------------------------


def check_load_balancer(
    resource_type: str, props: Mapping[str, Any], settings: LoadBalancerSettings
) -> Iterator[str]:
    if resource_type != SERVICE_TYPE or field(props, "spec", "type") != "LoadBalancer":
        return
    service = identity(resource_type, props, "")
    if not any(rule.matches(service) for rule in settings.allowed):
        yield violation(
            "spec.type",
            "LoadBalancer",
            "ClusterIP: only the gateway's Service (`allowed` in the policy config) may be a "
            "LoadBalancer; route other services through the gateway",
        )


ingressroute_tls_required = resource_policy(
    "ingressroute-tls-required",
    "IngressRoutes attach only to the TLS entrypoint and terminate TLS.",
    check_ingress_route,
    group=SECURITY,
    severity=Severity.HIGH,
    settings=IngressRouteSettings,
    remediation_steps=(
        "Set spec.entryPoints: [websecure] and a spec.tls section (go-platform routes get a "
        "cert-manager Certificate when the gateway has a ClusterIssuer)."
    ),
)

traefik_dashboard_not_insecure = resource_policy(
    "traefik-dashboard-not-insecure",
    "The Traefik API and dashboard are never served insecurely.",
    check_dashboard,
    group=SECURITY,
    severity=Severity.CRITICAL,
    remediation_steps=(
        "Remove api.insecure / --api.insecure, keep the traefik entrypoint unexposed, and "
        "publish the dashboard only through a TLS IngressRoute with an auth middleware."
    ),
)

service_load_balancer_restricted = resource_policy(
    "service-load-balancer-restricted",
    "Only the gateway's Service is of type LoadBalancer.",
    check_load_balancer,
    group=SECURITY,
    severity=Severity.HIGH,
    settings=LoadBalancerSettings,
    remediation_steps=(
        "Use a ClusterIP Service and route to it through the gateway (an IngressRoute); if "
        "this Service is a gateway, add it to `allowed` in policies/config/<env>.json."
    ),
)

POLICIES = [
    ingressroute_tls_required,
    traefik_dashboard_not_insecure,
    service_load_balancer_restricted,
]
