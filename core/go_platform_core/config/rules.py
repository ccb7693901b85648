"""Rules that span domains: each domain's rules in turn, then what no one domain can see
(names two parts would both take: service names, namespaces, route hosts; secrets that are
named but not set, or not set as secrets)."""

from __future__ import annotations

from go_platform_core.config.base import StackConfig, qualified_key
from go_platform_core.config.crds import crd_problems
from go_platform_core.config.errors import Problem
from go_platform_core.config.gateway import gateway_problems
from go_platform_core.config.module_proxy import module_proxy_problems
from go_platform_core.config.observability import (
    alertmanager_config_problem,
    observability_problems,
)
from go_platform_core.config.profiles import Profile
from go_platform_core.config.root import PlatformSettings
from go_platform_core.config.services import service_problems
from go_platform_core.config.types import shown_key


def rule_problems(
    settings: PlatformSettings, profile: Profile, config: StackConfig
) -> list[Problem]:
    """Every rule on values, in a fixed order: the gateway, the module proxy, observability,
    the CRDs, each service, then the secrets the settings name."""
    problems = gateway_problems(settings.gateway, settings.domain)
    problems += module_proxy_problems(settings.module_proxy, settings.domain)
    problems += observability_problems(settings.observability, settings.domain)
    if settings.crds.install:
        problems += crd_problems(settings.crds, config.project_dir)
    problems += namespace_problems(settings)
    names = [s.name for s in settings.services]
    canaries = {f"{s.name}-canary": j for j, s in enumerate(settings.services) if s.canary}
    for i, service in enumerate(settings.services):
        problems += service_problems(
            f"services[{i}]",
            service,
            environment=settings.environment,
            domain=settings.domain,
            gateway=settings.gateway,
            profile=profile,
            names=names,
        )
        if names.index(service.name) != i:
            first = names.index(service.name)
            problems.append(
                Problem(
                    f"services[{i}].name",
                    f"duplicate service name {service.name!r} (also services[{first}])",
                )
            )
        elif service.name in canaries:
            # The canary track's Deployment, Service and the rest are `<name>-canary`.
            problems.append(
                Problem(
                    f"services[{i}].name",
                    f"{service.name!r} is the name of the canary track of "
                    f"services[{canaries[service.name]}]; rename one",
                )
            )
    problems += route_problems(settings)
    for path, key in settings.secret_refs():
        qualified = qualified_key(key)
        shown = shown_key(key)
        command_key = key if shown.startswith("'") else "<key>"
        if qualified not in config.values:
            problems.append(
                Problem(
                    path,
                    f"secret config key {shown} is not set; run "
                    f"`pulumi config set --secret {command_key} <value>`",
                )
            )
        elif qualified not in config.secret_keys:
            problems.append(
                Problem(
                    path,
                    f"config key {shown} is not a secret; set it again with "
                    f"`pulumi config set --secret {command_key} <value>`",
                )
            )
        elif path == "observability.alertmanagerConfigSecret":
            reason = alertmanager_config_problem(str(config.values[qualified]))
            if reason:
                problems.append(Problem(path, f"the value of {shown} {reason}"))
    return problems


RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
"""Namespaces of the cluster itself; any other `kube-` one is reserved for it too."""


def _reserved(namespace: str) -> bool:
    return namespace in RESERVED_NAMESPACES or namespace.startswith("kube-")


def namespace_problems(settings: PlatformSettings) -> list[Problem]:
    """The namespaces the program creates: each part of the platform has its own Namespace
    resource. Two parts given one name would register it twice (a duplicate URN), or make two
    objects of one name, the first destroy deleting the other part's namespace with
    everything in it. Only the gateway's and cert-manager's, where the cluster runs them
    (`install: false`), may share one: those are kept on destroy and only labelled.

    Nor may the program own one of the cluster's (`default`, `kube-system`, any `kube-`): it
    would label it with its Pod Security level (refusing the cluster's privileged pods) and
    delete it on destroy. Where the cluster runs the gateway or cert-manager, their namespace
    may be one (k3s runs Traefik in `kube-system`)."""
    gateway, proxy, observing = settings.gateway, settings.module_proxy, settings.observability
    created = [
        (
            "gateway.certManager.namespace",
            gateway.cert_manager.namespace,
            gateway.installs_cert_manager,
        ),
        ("gateway.namespace", gateway.namespace, gateway.install),
    ]
    if observing.install:
        created.append(("observability.namespace", observing.namespace, True))
    if proxy.enabled:
        created.append(("moduleProxy.namespace", proxy.namespace, True))
    created.append(("namespace", settings.namespace, True))
    problems = []
    taken: dict[str, tuple[str, bool]] = {}
    for path, namespace, owned in created:
        if namespace in taken and (owned or taken[namespace][1]):
            problems.append(
                Problem(
                    path,
                    f"{namespace!r} is also {taken[namespace][0]}; each part of the platform "
                    "needs a namespace of its own",
                )
            )
        elif owned and _reserved(namespace):
            problems.append(
                Problem(
                    path,
                    f"{namespace!r} is the cluster's own namespace: the program would take it "
                    "over and delete it on destroy; name another",
                )
            )
        if namespace not in taken or owned:
            taken[namespace] = (path, owned)
    return problems


def route_problems(settings: PlatformSettings) -> list[Problem]:
    """Hosts and paths two routes would both serve, where Traefik picks one of them at
    random: the hosts of the dashboard, Grafana and the module proxy are theirs alone
    (where they are served), and two services share no host and path prefix."""
    platform = []
    if settings.gateway.dashboard.enabled:
        platform.append(
            ("gateway.dashboard.host", settings.dashboard_host, "the Traefik dashboard")
        )
    if settings.observability.install:
        platform.append(("observability.grafanaHost", settings.grafana_host, "Grafana"))
    if settings.module_proxy.enabled:
        platform.append(("moduleProxy.host", settings.module_proxy_host, "the module proxy"))
    problems = []
    hosts: dict[str, tuple[str, str]] = {}
    for path, host, what in platform:
        if host in hosts:
            problems.append(
                Problem(
                    path,
                    f"{host!r} is also the host of {hosts[host][1]} ({hosts[host][0]}); "
                    "give each its own",
                )
            )
        hosts.setdefault(host, (path, what))
    routes: dict[tuple[str, str], int] = {}
    for i, service in enumerate(settings.services):
        route = service.route
        if route is None:
            continue
        if route.host in hosts:
            path, what = hosts[route.host]
            problems.append(
                Problem(
                    f"services[{i}].route.host",
                    f"{route.host!r} is the host of {what} ({path}); give the service another",
                )
            )
        elif (route.host, route.path_prefix) in routes:
            first = routes[(route.host, route.path_prefix)]
            problems.append(
                Problem(
                    f"services[{i}].route",
                    f"services[{first}] already serves {route.host}{route.path_prefix}; "
                    "give one another host or `pathPrefix`",
                )
            )
        routes.setdefault((route.host, route.path_prefix), i)
    return problems
