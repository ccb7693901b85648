"""TraefikGateway: the way in for every request, with TLS from cert-manager."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.resources import child_options
from components.routing import GatewayBinding, MiddlewareRef
from go_platform_core import kube, telemetry
from go_platform_core.config import (
    ChartSource,
    Environment,
    GatewaySettings,
    MiddlewareSettings,
    TlsSettings,
    merge_defaults,
)

ACME_SERVERS = {
    "acmeStaging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "acme": "https://acme-v02.api.letsencrypt.org/directory",
}
SELF_SIGNED_ISSUER = "go-platform-selfsigned"
CA_SECRET = "go-platform-ca"
DASHBOARD_USER = "admin"

# The IngressClass the chart creates and cert-manager's HTTP-01 solver Ingresses name.
INGRESS_CLASS = "traefik"
# cert-manager labels every HTTP-01 solver Ingress (and pod) with it; the Ingress provider
# sees those and no other Ingress.
HTTP01_SOLVER_SELECTOR = "acme.cert-manager.io/http01-solver=true"

# Shutdown of a Traefik pod, in order: it keeps accepting requests while the load balancer
# stops sending (with externalTrafficPolicy Local it health-checks each node, and needs a
# few failed checks to drop a node whose Traefik pod is terminating), then gives the
# requests in flight time to finish, then closes itself within its own 10 s deadline. The
# kubelet kills the pod after terminationGracePeriodSeconds, so that outlasts all three.
REQUEST_ACCEPT_GRACE_SECONDS = 15
GRACE_SECONDS = 30
TRAEFIK_CLOSE_SECONDS = 10
TERMINATION_GRACE_SECONDS = REQUEST_ACCEPT_GRACE_SECONDS + GRACE_SECONDS + TRAEFIK_CLOSE_SECONDS + 5
# A new pod must stay Ready this long before it counts as available and the rollout stops
# an old one: time for the load balancer's health checks to take its node in.
MIN_READY_SECONDS = 10

# `websecure`'s responding timeouts, Traefik's own defaults made explicit. The read timeout
# covers the whole request body, so it ends a gRPC client or bidirectional stream that runs
# longer; no write timeout, so long downloads and server streams are not cut.
RESPONDING_TIMEOUTS = {"readTimeout": "60s", "writeTimeout": "0s", "idleTimeout": "180s"}

# Hybrid post-quantum key exchange first (what Go offers by default, lost as soon as a list
# is given), then the classical curves for clients without it.
CURVE_PREFERENCES = ["X25519MLKEM768", "X25519", "CurveP256", "CurveP384"]

# TLS 1.2 suites with forward secrecy and AEAD only; TLS 1.3 suites are not configurable.
CIPHER_SUITES = [
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
]


# --- pure helpers --------------------------------------------------------------------


def otlp_grpc_endpoint(url: str) -> str:
    """`host:port` as Traefik's OTLP gRPC exporter wants it, from an endpoint URL."""
    return url.split("://", 1)[-1].rstrip("/")


def serves_http01_solvers(tls: TlsSettings) -> bool:
    """Whether Traefik must serve cert-manager's HTTP-01 solver Ingresses: with an ACME
    issuer solving by HTTP, and with the cluster's own issuer (its solver is not known)."""
    if tls.issuer in ("acme", "acmeStaging"):
        return tls.dns01 is None
    return tls.issuer == "existing"


def entry_point_life_cycle() -> dict[str, str]:
    """An entrypoint's shutdown timeouts (see REQUEST_ACCEPT_GRACE_SECONDS)."""
    return {
        "requestAcceptGraceTimeout": f"{REQUEST_ACCEPT_GRACE_SECONDS}s",
        "graceTimeOut": f"{GRACE_SECONDS}s",
    }


def traefik_values(
    gateway: GatewaySettings,
    *,
    otlp_endpoint: str | None,
    service_monitor: bool,
    monitor_labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Values for the Traefik chart: hardened, highly available, observable.

    The chart ships with one replica, no PDB and its dashboard IngressRoute off; we keep
    the dashboard route off (TraefikGateway creates its own, behind BasicAuth) and turn
    the rest into production defaults.
    """
    selector = {"app.kubernetes.io/name": "traefik"}
    solvers = serves_http01_solvers(gateway.tls)
    values: dict[str, Any] = {
        "deployment": {
            "replicas": gateway.replicas,
            "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
            "minReadySeconds": MIN_READY_SECONDS,
        },
        "updateStrategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        },
        "podDisruptionBudget": {"enabled": gateway.replicas > 1, "maxUnavailable": 1},
        "topologySpreadConstraints": kube.topology_spread(selector) if gateway.replicas > 1 else [],
        "resources": gateway.resources.model_dump(),
        "podSecurityContext": {
            "runAsNonRoot": True,
            "runAsUser": kube.NONROOT_UID,
            "runAsGroup": kube.NONROOT_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "api": {"dashboard": True, "insecure": False},
        "ingressRoute": {"dashboard": {"enabled": False}},
        # Never the cluster's default class: an Ingress naming no class would be served on
        # `web`, outside the middleware chain.
        "ingressClass": {"enabled": solvers, "isDefaultClass": False, "name": INGRESS_CLASS},
        # The `default` TLSOption and TLSStore apply to every router; only those in the
        # gateway's namespace count, and a router whose host another router serves with
        # other TLS options fails instead of falling back to `default`.
        "core": {"strictTLSOptions": True},
        "providers": {
            "kubernetesCRD": {
                "enabled": True,
                "allowCrossNamespace": False,
                "defaultTLSResourcesNamespace": gateway.namespace,
            },
            # cert-manager answers HTTP-01 challenges through an Ingress; no other Ingress
            # is served.
            "kubernetesIngress": (
                {"enabled": True, "labelSelector": HTTP01_SOLVER_SELECTOR}
                if solvers
                else {"enabled": False}
            ),
        },
        "ports": {
            "web": {
                "http": {
                    "redirections": {
                        "entryPoint": {
                            "to": "websecure",
                            "scheme": "https",
                            "permanent": True,
                            # Below every other router on `web` (Traefik's default is just
                            # under the largest integer): cert-manager's HTTP-01 solver
                            # Ingress must answer the challenge there, because over https
                            # the strict SNI of the default TLSOption refuses a host with
                            # no certificate yet. The routes themselves are websecure-only.
                            "priority": 1,
                        }
                    }
                },
                "transport": {"lifeCycle": entry_point_life_cycle()},
            },
            "websecure": {
                "http": {"tls": {"enabled": True}},
                "transport": {
                    "lifeCycle": entry_point_life_cycle(),
                    "respondingTimeouts": dict(RESPONDING_TIMEOUTS),
                },
            },
        },
        "service": {
            "spec": {
                "type": "LoadBalancer",
                # The client's address reaches Traefik, not a node's: the rate limit, the
                # in-flight limit and the IP allow lists key on it (ipStrategy depth 0).
                "externalTrafficPolicy": "Local",
            },
            # Nothing consumes the address; never block `pulumi up` on a cloud LB.
            "annotations": {"pulumi.com/skipAwait": "true"},
        },
        "log": {"format": "json", "level": "INFO"},
        # Query strings carry tokens and personal data; the access log (and Loki) keeps
        # the path only.
        "accessLog": {
            "enabled": True,
            "format": "json",
            "fields": {"queryParameters": {"defaultMode": "drop"}},
        },
        "metrics": {
            "prometheus": {
                "addServicesLabels": True,
                "addRoutersLabels": True,
                "serviceMonitor": {
                    "enabled": service_monitor,
                    "additionalLabels": kube.monitoring_labels(monitor_labels),
                    "interval": f"{telemetry.TRAEFIK_SCRAPE_SECONDS}s",
                },
            }
        },
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
    }
    if otlp_endpoint:
        values["tracing"] = {
            "otlp": {
                "enabled": True,
                "grpc": {
                    "enabled": True,
                    "endpoint": otlp_grpc_endpoint(otlp_endpoint),
                    # The exporter gets `host:port`; the URL's scheme says whether TLS.
                    "insecure": not otlp_endpoint.startswith("https://"),
                },
            }
        }
    return values


def cert_manager_values(
    replicas: int, service_monitor: bool, monitor_labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Values for the cert-manager chart: CRDs included, HA with the gateway, scraped."""
    return {
        "crds": {"enabled": True, "keep": True},
        "replicaCount": replicas,
        "podDisruptionBudget": {"enabled": replicas > 1, "maxUnavailable": 1},
        "webhook": {"replicaCount": replicas},
        "prometheus": {
            "enabled": True,
            "servicemonitor": {
                "enabled": service_monitor,
                "labels": kube.monitoring_labels(monitor_labels),
            },
        },
    }


def middleware_specs(settings: MiddlewareSettings, *, replicas: int) -> dict[str, dict[str, Any]]:
    """Spec of every named middleware, by name (`ip-allow-list` only when configured)."""
    rate = settings.rate_limit
    divisor = replicas if rate.divide_by_replicas else 1
    client = {"ipStrategy": {"depth": 0}}
    # A header the client writes may key the rate (an API key's quota), never the
    # concurrency: a client rotating it would get a fresh allowance each time.
    source = {"requestHeaderName": rate.source_header} if rate.source_header else client
    headers: dict[str, Any] = {
        "contentTypeNosniff": True,
        "frameDeny": True,
        "referrerPolicy": "strict-origin-when-cross-origin",
        "customResponseHeaders": {"Server": "", "X-Powered-By": ""},
    }
    if settings.hsts:
        headers |= {"stsSeconds": 31536000, "stsIncludeSubdomains": True}
    breaker = settings.circuit_breaker
    specs: dict[str, dict[str, Any]] = {
        "secure-headers": {"headers": headers},
        "rate-limit": {
            "rateLimit": {
                "average": math.ceil(rate.average / divisor),
                "burst": math.ceil(rate.burst / divisor),
                "period": rate.period,
                "sourceCriterion": source,
            }
        },
        "in-flight": {"inFlightReq": {"amount": settings.in_flight, "sourceCriterion": client}},
        "circuit-breaker": {
            "circuitBreaker": {
                "expression": breaker.expression,
                "checkPeriod": breaker.check_period,
                "fallbackDuration": breaker.fallback_duration,
                "recoveryDuration": breaker.recovery_duration,
            }
        },
        "retry": {
            "retry": {
                "attempts": settings.retry.attempts,
                "initialInterval": settings.retry.initial_interval,
            }
        },
        "compress": {"compress": {}},
        "redirect-https": {"redirectScheme": {"scheme": "https", "permanent": True}},
    }
    if settings.ip_allow_list:
        specs["ip-allow-list"] = {"ipAllowList": {"sourceRange": list(settings.ip_allow_list)}}
    return specs


def tls_option_spec() -> dict[str, Any]:
    """The default TLSOption: TLS 1.2 at least, strong suites, post-quantum key exchange
    preferred, HTTP/2 offered."""
    return {
        "minVersion": "VersionTLS12",
        "cipherSuites": CIPHER_SUITES,
        "curvePreferences": list(CURVE_PREFERENCES),
        "alpnProtocols": ["h2", "http/1.1"],
        "sniStrict": True,
    }


def acme_issuer_spec(gateway: GatewaySettings, *, dns01_token_secret: str | None) -> dict[str, Any]:
    """An ACME ClusterIssuer spec: HTTP-01 through Traefik, or DNS-01 when configured."""
    tls = gateway.tls
    dns01 = tls.dns01
    if dns01 is None:
        solver: dict[str, Any] = {"http01": {"ingress": {"ingressClassName": INGRESS_CLASS}}}
    elif dns01.provider == "cloudflare":
        solver = {
            "dns01": {
                "cloudflare": {
                    "apiTokenSecretRef": {"name": dns01_token_secret, "key": "api-token"}
                }
            }
        }
    else:
        route53: dict[str, Any] = {"region": dns01.region}
        if dns01.hosted_zone_id:
            route53["hostedZoneID"] = dns01.hosted_zone_id
        solver = {"dns01": {"route53": route53}}
    return {
        "acme": {
            "server": ACME_SERVERS[tls.issuer],
            "email": tls.acme_email,
            "privateKeySecretRef": {"name": f"{tls.cluster_issuer_name}-account-key"},
            "solvers": [solver],
        }
    }


def chart_source_args(source: ChartSource, values: Mapping[str, Any]) -> dict[str, Any]:
    """`helm.v4.Chart` arguments for a chart in a repository, an OCI registry or a folder,
    with `values` and the config's own values (`ChartSource.values`) over them."""
    args: dict[str, Any] = {
        "chart": source.chart,
        "version": source.version,
        # The config's values win, maps merged key by key: as a stack file over a profile.
        "values": merge_defaults(values, source.values),
    }
    if source.repository:
        args["repository_opts"] = k8s.helm.v4.RepositoryOptsArgs(repo=source.repository)
    return args


def dashboard_match(host: str) -> str:
    return f"Host(`{host}`) && (PathPrefix(`/dashboard`) || PathPrefix(`/api`))"


# --- the component -------------------------------------------------------------------


@dataclass(frozen=True)
class TraefikGatewayArgs:
    """What TraefikGateway needs; built by `__main__.py` from validated config."""

    gateway: GatewaySettings
    environment: Environment
    dashboard_host: str
    routes_namespaces: Mapping[str, pulumi.Input[str]]
    """Namespaces holding IngressRoutes (name -> the Namespace's name output). The named
    middlewares are created in each, so no route references another namespace and
    Traefik's cross-namespace references stay off."""
    otlp_endpoint: str | None = None
    service_monitor: bool = True
    monitor_labels: Mapping[str, str] = field(default_factory=dict)
    """Labels a Prometheus of the cluster's own selects monitors and rules by."""
    dns01_token: pulumi.Input[str] | None = None
    """The DNS provider's API token (a secret) when DNS-01 needs one."""


class TraefikGateway(pulumi.ComponentResource):
    """Traefik v3 and cert-manager (charts, or the cluster's own with `install: false`),
    the certificate issuers of the environment, the default TLSOption, the named
    middlewares, the dashboard behind BasicAuth on `websecure`, and (when monitored) the
    gateway's alerts and Grafana dashboard.

    Exposes what service routes need (`binding()`), the ClusterIssuer, the dashboard's
    URL and credentials (the password as a secret), and the charts it installs by the API
    group whose definitions each brings (`definitions`).

    Where it installs Traefik: a pod being replaced keeps accepting for 15 s and drains
    for 30 s more, so the load balancer stops sending before it stops listening; only
    cert-manager's HTTP-01 solver Ingresses are served through the Ingress provider, and
    only where an issuer may need them; the `default` TLSOption counts only in the
    gateway's namespace. `websecure` keeps Traefik's 60 s read timeout, which covers the
    whole request body: a gRPC client or bidirectional stream longer than that is cut
    (server streams and downloads are not; there is no write timeout).
    """

    definitions: Mapping[str, pulumi.Resource]
    """API group -> the chart installing its definitions and the controller serving them
    (`cert-manager.io`, `traefik.io`); empty where the cluster has its own."""
    cluster_issuer: pulumi.Output[str]
    """ClusterIssuer that signs route certificates."""
    dashboard_url: pulumi.Output[str] | None
    """URL of the dashboard, when enabled."""
    dashboard_password: pulumi.Output[str] | None
    """Dashboard password for `admin` (secret), when enabled."""

    def __init__(
        self, name: str, args: TraefikGatewayArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("go-platform:index:TraefikGateway", name, None, opts)
        self._name = name
        self._args = args
        self._opts = opts
        self._labels = {
            "app.kubernetes.io/part-of": "go-platform",
            "app.kubernetes.io/managed-by": "pulumi",
        }
        gateway = args.gateway
        cert_manager = gateway.cert_manager
        install_cert_manager = gateway.installs_cert_manager
        # A namespace the gateway did not install into is the cluster's: kept on destroy.
        self._traefik_ns = self._namespace("traefik-ns", gateway.namespace, gateway.install)
        cert_ns = self._namespace("cert-manager-ns", cert_manager.namespace, install_cert_manager)

        definitions: dict[str, pulumi.Resource] = {}
        if install_cert_manager:
            definitions["cert-manager.io"] = k8s.helm.v4.Chart(
                f"{name}-cert-manager",
                name="cert-manager",
                namespace=cert_ns.metadata.name,
                **chart_source_args(
                    cert_manager.chart,
                    cert_manager_values(
                        gateway.replicas, args.service_monitor, args.monitor_labels
                    ),
                ),
                opts=child_options(self, self._opts),
            )
        if gateway.install:
            definitions["traefik.io"] = k8s.helm.v4.Chart(
                f"{name}-traefik",
                name="traefik",
                namespace=self._traefik_ns.metadata.name,
                **chart_source_args(
                    gateway.chart,
                    traefik_values(
                        gateway,
                        otlp_endpoint=args.otlp_endpoint,
                        service_monitor=args.service_monitor,
                        monitor_labels=args.monitor_labels,
                    ),
                ),
                opts=child_options(self, self._opts),
            )
        self.definitions = definitions

        self.cluster_issuer = self._issuers(cert_ns)
        self._custom(
            "tls-option",
            "TLSOption",
            {"name": "default", "namespace": self._traefik_ns.metadata.name},
            tls_option_spec(),
        )
        specs = middleware_specs(gateway.middlewares, replicas=gateway.replicas)
        self._middlewares: dict[str, list[pulumi.Resource]] = {
            namespace: [
                self._custom(
                    f"{namespace}-{middleware}",
                    "Middleware",
                    {"name": middleware, "namespace": namespace_output},
                    spec,
                )
                for middleware, spec in specs.items()
            ]
            for namespace, namespace_output in args.routes_namespaces.items()
        }

        self.dashboard_url = None
        self.dashboard_password = None
        if gateway.dashboard.enabled:
            self._dashboard()
        if args.service_monitor:
            self._alerts_and_dashboard()

        self.register_outputs(
            {
                "cluster_issuer": self.cluster_issuer,
                "dashboard_url": self.dashboard_url,
                "dashboard_password": self.dashboard_password,
            }
        )

    @property
    def _charts(self) -> list[pulumi.Resource]:
        """The charts the gateway installs: custom resources wait for those that install
        their definitions."""
        return list(self.definitions.values())

    def binding(self, namespace: str) -> GatewayBinding:
        """What a route in `namespace` (one of `routes_namespaces`) needs from the gateway."""
        if namespace not in self._args.routes_namespaces:
            raise ValueError(f"the gateway creates no middlewares in namespace {namespace!r}")
        gateway = self._args.gateway
        in_namespace = self._args.routes_namespaces[namespace]
        return GatewayBinding(
            namespace=gateway.namespace,
            entry_point=gateway.entry_point,
            middlewares=tuple(MiddlewareRef(m, in_namespace) for m in gateway.default_middlewares),
            cluster_issuer=self.cluster_issuer,
            middleware_namespace=in_namespace,
            # The charts and the middlewares a route names. Not the whole gateway: a route
            # then waited for the dashboard's certificate and route too (a dependency on a
            # component is one on every child).
            ready=(*self._charts, *self._middlewares[namespace]),
        )

    def _alerts_and_dashboard(self) -> None:
        """The gateway's PrometheusRule and Grafana dashboard, beside Traefik: Prometheus
        and Grafana find them in any namespace by their labels."""
        entry_point = self._args.gateway.entry_point
        namespace = self._traefik_ns.metadata.name
        k8s.apiextensions.CustomResource(
            f"{self._name}-alerts",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata={
                "name": "go-platform-gateway",
                "namespace": namespace,
                "labels": {**self._labels, **kube.monitoring_labels(self._args.monitor_labels)},
            },
            spec=namespace.apply(lambda ns: telemetry.gateway_rules(ns, entry_point)),
            opts=child_options(self, self._opts, depends_on=self._charts),
        )
        k8s.core.v1.ConfigMap(
            f"{self._name}-grafana-dashboard",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="go-platform-gateway-dashboard",
                namespace=namespace,
                labels={**self._labels, telemetry.DASHBOARD_LABEL[0]: telemetry.DASHBOARD_LABEL[1]},
                annotations={"grafana_folder": "go-platform"},
            ),
            data={"gateway.json": json.dumps(telemetry.gateway_dashboard(entry_point), indent=1)},
            opts=child_options(self, self._opts),
        )

    def _namespace(self, suffix: str, namespace: str, owned: bool) -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            f"{self._name}-{suffix}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=namespace, labels=self._labels),
            opts=child_options(self, self._opts, retain_on_delete=not owned),
        )

    def _custom(
        self,
        suffix: str,
        kind: str,
        metadata: dict[str, Any],
        spec: dict[str, Any],
        depends_on: list[pulumi.Resource] | None = None,
    ) -> k8s.apiextensions.CustomResource:
        """A traefik.io or cert-manager.io resource, created after the charts."""
        group = (
            "cert-manager.io/v1"
            if kind in ("ClusterIssuer", "Certificate")
            else "traefik.io/v1alpha1"
        )
        return k8s.apiextensions.CustomResource(
            f"{self._name}-{suffix}",
            api_version=group,
            kind=kind,
            metadata={**metadata, "labels": self._labels},
            spec=spec,
            opts=child_options(self, self._opts, depends_on=[*self._charts, *(depends_on or [])]),
        )

    def _issuers(self, cert_ns: k8s.core.v1.Namespace) -> pulumi.Output[str]:
        """The environment's ClusterIssuer(s); returns the name certificates use.

        Nothing waits for an issuer, not even the CA chain's links for each other:
        cert-manager issues a certificate once its issuer is ready, whatever was created
        first, and the provider awaits neither, so ordering their creation guaranteed
        nothing and put three more steps before every route (docs/PERFORMANCE.md, ninth
        round).
        """
        gateway = self._args.gateway
        tls = gateway.tls
        name = pulumi.Output.from_input(tls.cluster_issuer_name)
        if tls.issuer == "existing":
            return name
        if tls.issuer == "privateCa":
            # A self-signed root signs the CA certificate; the CA issuer signs the rest.
            self._custom(
                "selfsigned-issuer",
                "ClusterIssuer",
                {"name": SELF_SIGNED_ISSUER},
                {"selfSigned": {}},
            )
            self._custom(
                "ca-certificate",
                "Certificate",
                {"name": CA_SECRET, "namespace": cert_ns.metadata.name},
                {
                    "isCA": True,
                    "commonName": f"go-platform {self._args.environment} CA",
                    "secretName": CA_SECRET,
                    "duration": "87600h",
                    "privateKey": {"algorithm": "ECDSA", "size": 256},
                    "issuerRef": {
                        "group": "cert-manager.io",
                        "kind": "ClusterIssuer",
                        "name": SELF_SIGNED_ISSUER,
                    },
                },
            )
            self._custom(
                "cluster-issuer",
                "ClusterIssuer",
                {"name": tls.cluster_issuer_name},
                {"ca": {"secretName": CA_SECRET}},
            )
            return name
        token_secret = None
        if self._args.dns01_token is not None:
            token = k8s.core.v1.Secret(
                f"{self._name}-dns01-token",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    namespace=cert_ns.metadata.name, labels=self._labels
                ),
                string_data={"api-token": pulumi.Output.secret(self._args.dns01_token)},
                opts=child_options(self, self._opts),
            )
            token_secret = token.metadata.name
        self._custom(
            "cluster-issuer",
            "ClusterIssuer",
            {"name": tls.cluster_issuer_name},
            acme_issuer_spec(gateway, dns01_token_secret=token_secret),
        )
        return name

    def _dashboard(self) -> None:
        """Dashboard IngressRoute to `api@internal`, behind BasicAuth and an allow list."""
        gateway = self._args.gateway
        namespace = self._traefik_ns.metadata.name
        password = random.RandomPassword(
            f"{self._name}-dashboard-password",
            length=32,
            special=False,
            opts=child_options(self, self._opts),
        )
        users = k8s.core.v1.Secret(
            f"{self._name}-dashboard-users",
            metadata=k8s.meta.v1.ObjectMetaArgs(namespace=namespace, labels=self._labels),
            type="Opaque",
            # The provider's bcrypt hash is stable across runs, so `up` stays a no-op.
            string_data={"users": pulumi.Output.concat(DASHBOARD_USER, ":", password.bcrypt_hash)},
            opts=child_options(self, self._opts),
        )
        middlewares = [{"name": "dashboard-auth", "namespace": namespace}]
        auth = self._custom(
            "dashboard-auth",
            "Middleware",
            {"name": "dashboard-auth", "namespace": namespace},
            {"basicAuth": {"secret": users.metadata.name, "removeHeader": True}},
        )
        named = [auth]
        if gateway.dashboard.ip_allow_list:
            allow = self._custom(
                "dashboard-allow",
                "Middleware",
                {"name": "dashboard-allow", "namespace": namespace},
                {"ipAllowList": {"sourceRange": list(gateway.dashboard.ip_allow_list)}},
            )
            middlewares.insert(0, {"name": "dashboard-allow", "namespace": namespace})
            named.append(allow)
        host = self._args.dashboard_host
        self._custom(
            "dashboard-certificate",
            "Certificate",
            {"name": "traefik-dashboard", "namespace": namespace},
            kube.certificate_spec("traefik-dashboard-tls", host, self.cluster_issuer),
        )
        self._custom(
            "dashboard",
            "IngressRoute",
            {"name": "traefik-dashboard", "namespace": namespace},
            {
                "entryPoints": ["websecure"],
                "routes": [
                    {
                        "kind": "Rule",
                        "match": dashboard_match(host),
                        "middlewares": middlewares,
                        "services": [{"kind": "TraefikService", "name": "api@internal"}],
                    }
                ],
                "tls": {"secretName": "traefik-dashboard-tls"},
            },
            depends_on=named,  # as a service route: its middlewares, not its certificate
        )
        self.dashboard_url = pulumi.Output.from_input(f"https://{host}/dashboard/")
        self.dashboard_password = pulumi.Output.secret(password.result)
