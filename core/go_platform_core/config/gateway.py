"""The gateway (Traefik, cert-manager, the named middlewares): models and their rules."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from go_platform_core.config.base import CamelModel, within_domain
from go_platform_core.config.common import (
    ADD_ON_RESOURCES,
    ChartSource,
    Resources,
    WithChartSources,
    chart_source,
)
from go_platform_core.config.errors import Problem
from go_platform_core.config.types import Cidr, ConfigKey, DnsLabel, DomainName, Duration, Whole

# The named middlewares the gateway creates; routes refer to them by these names.
MIDDLEWARE_NAMES = (
    "secure-headers",
    "rate-limit",
    "in-flight",
    "circuit-breaker",
    "retry",
    "compress",
    "ip-allow-list",
    "redirect-https",
)
DEFAULT_MIDDLEWARES = (
    "secure-headers",
    "rate-limit",
    "in-flight",
    "circuit-breaker",
    "retry",
    "compress",
)


class RateLimitSettings(CamelModel):
    average: Whole = Field(100, ge=1, description="Requests per `period` allowed on average.")
    burst: Whole = Field(200, ge=1, description="Requests allowed above the average at once.")
    period: Duration = Field("1s", description="The period `average` is counted over.")
    source_header: str | None = Field(
        None, description="Count per value of this request header instead of per client IP."
    )
    divide_by_replicas: bool = Field(
        False,
        description="Limits are kept per Traefik replica; divide them by `replicas` so the "
        "total matches.",
    )


class CircuitBreakerSettings(CamelModel):
    expression: str = Field(
        "NetworkErrorRatio() > 0.30 || ResponseCodeRatio(500, 600, 0, 600) > 0.25",
        description="When the breaker opens (Traefik expression).",
    )
    check_period: Duration = Field("10s", description="How often the expression is evaluated.")
    fallback_duration: Duration = Field("10s", description="How long the breaker stays open.")
    recovery_duration: Duration = Field("10s", description="How long recovery lasts.")


class RetrySettings(CamelModel):
    attempts: Whole = Field(3, ge=1, le=10, description="Tries when a backend does not answer.")
    initial_interval: str = Field(
        "100ms", pattern=r"^[0-9]+(ms|s)$", description="Back-off before the second try."
    )


class MiddlewareSettings(CamelModel):
    rate_limit: RateLimitSettings = Field(
        default_factory=RateLimitSettings, description="`rate-limit`: per client IP."
    )
    circuit_breaker: CircuitBreakerSettings = Field(
        default_factory=CircuitBreakerSettings, description="`circuit-breaker`."
    )
    retry: RetrySettings = Field(default_factory=RetrySettings, description="`retry`.")
    in_flight: Whole = Field(
        100, ge=1, description="`in-flight`: simultaneous requests per client IP."
    )
    ip_allow_list: list[Cidr] = Field(
        default_factory=list, description="`ip-allow-list`: created when not empty."
    )
    hsts: bool = Field(description="Send Strict-Transport-Security from `secure-headers`.")


class Dns01Settings(CamelModel):
    provider: Literal["cloudflare", "route53"] = Field(description="DNS provider.")
    api_token_secret: ConfigKey | None = Field(
        None, description="cloudflare: secret config key of the API token."
    )
    region: str | None = Field(None, description="route53: AWS region.")
    hosted_zone_id: str | None = Field(None, description="route53: hosted zone id.")


class TlsSettings(CamelModel):
    issuer: Literal["privateCa", "acmeStaging", "acme", "existing"] = Field(
        description="Who signs certificates: a private CA, Let's Encrypt (staging or "
        "production), or a ClusterIssuer the cluster already has."
    )
    cluster_issuer: DnsLabel | None = Field(
        None,
        description="Name of the ClusterIssuer; required with `existing`, else "
        "`go-platform-ca`, `letsencrypt-staging` or `letsencrypt`.",
    )
    acme_email: str | None = Field(
        None, pattern=r"^[^@\s]+@[^@\s]+$", description="ACME account email; required for ACME."
    )
    dns01: Dns01Settings | None = Field(
        None, description="Solve ACME challenges by DNS (needed for wildcards); HTTP-01 if unset."
    )

    @property
    def cluster_issuer_name(self) -> str:
        """The ClusterIssuer route certificates name."""
        defaults = {
            "privateCa": "go-platform-ca",
            "acmeStaging": "letsencrypt-staging",
            "acme": "letsencrypt",
        }
        return self.cluster_issuer or defaults.get(self.issuer, "")


class CertManagerSettings(WithChartSources):
    install: bool | None = Field(
        None, description="Install the cert-manager chart; defaults to `gateway.install`."
    )
    namespace: DnsLabel = Field(
        "cert-manager",
        description="Namespace of cert-manager; where it is installed, one of its own (no other "
        "part's), not `default` or `kube-*`.",
    )
    chart: ChartSource = chart_source(
        "cert-manager",
        "v1.21.1",
        "https://charts.jetstack.io",
        "Where the cert-manager chart comes from.",
    )


class DashboardSettings(CamelModel):
    enabled: bool = Field(description="Serve the Traefik dashboard behind BasicAuth.")
    host: DomainName | None = Field(
        None, description="Dashboard host; `traefik.<domain>` if unset."
    )
    ip_allow_list: list[Cidr] = Field(
        default_factory=list, description="Only these client networks reach the dashboard."
    )


class GatewaySettings(WithChartSources):
    install: bool = Field(
        description="Install the Traefik chart; `false` uses the cluster's Traefik and only "
        "creates configuration."
    )
    namespace: DnsLabel = Field(
        "traefik",
        description="Namespace of the Traefik pods; where Traefik is installed, one of its own "
        "(no other part's), not `default` or `kube-*`.",
    )
    entry_point: str = Field("websecure", description="Traefik entrypoint routes attach to.")
    replicas: Whole = Field(ge=1, description="Traefik pods; a PodDisruptionBudget from 2.")
    chart: ChartSource = chart_source(
        "traefik",
        "41.3.0",
        "https://traefik.github.io/charts",
        "Where the Traefik chart comes from.",
    )
    resources: Resources = Field(
        default_factory=lambda: Resources.model_validate(ADD_ON_RESOURCES),
        description="Requests and limits of each Traefik pod.",
    )
    cert_manager: CertManagerSettings = Field(
        default_factory=CertManagerSettings, description="cert-manager, which issues certificates."
    )
    tls: TlsSettings = Field(description="Certificates for routes and the dashboard.")
    dashboard: DashboardSettings = Field(description="The Traefik dashboard.")
    middlewares: MiddlewareSettings = Field(description="Settings of the named middlewares.")
    default_middlewares: list[DnsLabel] = Field(
        default_factory=lambda: list(DEFAULT_MIDDLEWARES),
        description="Middlewares every service route passes through, in order.",
    )

    @property
    def installs_cert_manager(self) -> bool:
        """Whether the program installs the cert-manager chart (by default, with Traefik's)."""
        return self.install if self.cert_manager.install is None else self.cert_manager.install


def middleware_problems(at: str, names: list[str], gateway: GatewaySettings) -> list[Problem]:
    problems = []
    for j, name in enumerate(names):
        if name not in MIDDLEWARE_NAMES:
            problems.append(
                Problem(
                    f"{at}[{j}]",
                    f"no middleware named {name!r}; the gateway has {', '.join(MIDDLEWARE_NAMES)}",
                )
            )
        elif name == "ip-allow-list" and not gateway.middlewares.ip_allow_list:
            problems.append(
                Problem(f"{at}[{j}]", "`ip-allow-list` needs `gateway.middlewares.ipAllowList`")
            )
    return problems


def gateway_problems(gateway: GatewaySettings, domain: str) -> list[Problem]:
    """Rules on the gateway's settings; its hosts lie within `domain`."""
    tls = gateway.tls
    problems = middleware_problems(
        "gateway.defaultMiddlewares", gateway.default_middlewares, gateway
    )
    if tls.issuer in ("acme", "acmeStaging") and not tls.acme_email:
        problems.append(Problem("gateway.tls.acmeEmail", f"is required with issuer {tls.issuer!r}"))
    if tls.issuer == "existing" and not tls.cluster_issuer:
        problems.append(Problem("gateway.tls.clusterIssuer", "is required with issuer 'existing'"))
    if tls.dns01 and tls.issuer not in ("acme", "acmeStaging"):
        problems.append(Problem("gateway.tls.dns01", "applies only to ACME issuers"))
    if tls.dns01 and tls.dns01.provider == "cloudflare" and not tls.dns01.api_token_secret:
        problems.append(Problem("gateway.tls.dns01.apiTokenSecret", "is required for cloudflare"))
    if tls.dns01 and tls.dns01.provider == "route53" and not tls.dns01.region:
        problems.append(Problem("gateway.tls.dns01.region", "is required for route53"))
    if gateway.dashboard.host and not within_domain(gateway.dashboard.host, domain):
        problems.append(
            Problem(
                "gateway.dashboard.host",
                f"{gateway.dashboard.host!r} is outside the domain {domain!r}",
            )
        )
    return problems
