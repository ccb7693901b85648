"""The Go services: their models, and the rules on a service (given what it depends on:
the domain, the gateway's middlewares, the environment's profile)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from go_platform_core.config.base import CamelModel, within_domain
from go_platform_core.config.common import Resources
from go_platform_core.config.errors import Problem
from go_platform_core.config.gateway import GatewaySettings, middleware_problems
from go_platform_core.config.profiles import Profile
from go_platform_core.config.types import (
    Cidr,
    ConfigKey,
    DnsLabel,
    DomainName,
    Duration,
    EnvName,
    EnvValue,
    ImageRef,
    ImageTag,
    Number,
    Port,
    ServiceName,
    Whole,
    shown_value,
)
from go_platform_core.images import parse_image
from go_platform_core.units import parse_quantity

# Environment variables GoServiceStack sets from other keys; a stack file setting them in
# `env` would silently lose, so it is an error instead.
RESERVED_ENV = frozenset(
    {
        "PORT",
        "ADMIN_PORT",
        "GOMEMLIMIT",
        "SHUTDOWN_DELAY",
        "SHUTDOWN_TIMEOUT",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "POD_NAME",
    }
)


class BuildSettings(CamelModel):
    context: str = Field(description="Docker build context, relative to the project directory.")
    repository: str = Field(
        description="Repository the built image is pushed to (`registry.example.com/team/app`)."
    )
    dockerfile: str = Field("Dockerfile", description="Dockerfile path, relative to `context`.")
    target: str | None = Field(None, description="Build stage to stop at.")
    platform: str = Field("linux/amd64", description="Target platform of the image.")
    tag: ImageTag | None = Field(
        None, description="Tag pushed alongside the digest; the environment name if unset."
    )
    args: dict[EnvName, EnvValue] = Field(
        default_factory=dict,
        description="Build arguments; `GOPROXY` (the module proxy), `GONOSUMDB` (its private "
        "patterns) and `VERSION` (the tag) are set unless given.",
    )


class RouteSettings(CamelModel):
    host: DomainName = Field(
        description="Host name served, `domain` or one of its subdomains; not the Traefik "
        "dashboard's, Grafana's or the module proxy's where they are served, nor another "
        "service's with the same `pathPrefix`."
    )
    path_prefix: str = Field(
        "/", pattern=r"^/[^\s`]*$", description="Path prefix routed to the service."
    )
    middlewares: list[DnsLabel] = Field(
        default_factory=list,
        description="Named gateway middlewares applied after `gateway.defaultMiddlewares`.",
    )
    strip_prefix: bool = Field(
        False, description="Strip `pathPrefix` before the request reaches the service."
    )
    protocol: Literal["http", "h2c"] = Field(
        "http", description="How Traefik talks to the service: `h2c` for gRPC."
    )


class AutoscalingSettings(CamelModel):
    min_replicas: Whole = Field(ge=1, description="Fewest pods the autoscaler keeps.")
    max_replicas: Whole = Field(ge=1, description="Most pods the autoscaler may run.")
    cpu_utilization: Whole = Field(
        75, ge=1, le=100, description="Target average CPU use, percent of requests."
    )


class EgressRule(CamelModel):
    service: ServiceName | None = Field(None, description="A service of this stack.")
    namespace: DnsLabel | None = Field(None, description="Every pod of a namespace.")
    cidr: Cidr | None = Field(None, description="An IP block (`10.0.0.0/8`, `0.0.0.0/0`).")
    ports: list[Port] = Field(
        default_factory=list, description="TCP ports allowed; all ports if empty."
    )


LATENCY_CEILING_MS = 5000
"""The largest finite bucket of Traefik's request duration histogram (0.1, 0.3, 1.2 and
5 s by default): a p99 beyond it is reported as this, whatever it really is."""


class CanaryAnalysisSettings(CamelModel):
    success_rate: Number = Field(
        99.0, ge=0, le=100, description="Lowest share of non-5xx canary responses, percent."
    )
    max_latency_ms: Whole = Field(
        500,
        ge=1,
        description="Highest p99 canary latency, ms; below 5000, where Traefik's histogram ends.",
    )


class CanaryHeaderSettings(CamelModel):
    name: str = Field(
        "X-Canary", pattern=r"^[A-Za-z0-9-]+$", description="Header that overrides the weights."
    )
    always: str = Field("always", description="Value sending a request to the canary.")
    never: str = Field("never", description="Value sending a request to stable.")


class CanarySettings(CamelModel):
    image: ImageRef = Field(description="Image the canary runs.")
    weight: Whole = Field(
        0, ge=0, le=100, description="Percent of traffic on the canary now: 0 or a step."
    )
    replicas: Whole = Field(1, ge=1, description="Canary pods.")
    steps: list[Whole] = Field(
        default_factory=lambda: [10, 25, 50],
        min_length=1,
        description="Weights the promotion moves through, strictly increasing.",
    )
    max_weight: Whole = Field(
        50, ge=1, le=100, description="Weight of the last step, after which the canary is promoted."
    )
    interval: Duration = Field("1m", description="Time at each step before its analysis.")
    threshold: Whole = Field(
        3, ge=1, description="Failed analyses before the canary is rolled back."
    )
    analysis: CanaryAnalysisSettings = Field(
        default_factory=CanaryAnalysisSettings, description="What a healthy canary looks like."
    )
    header: CanaryHeaderSettings = Field(
        default_factory=CanaryHeaderSettings, description="Header-based override of the weights."
    )
    mirror: Whole | None = Field(
        None, ge=1, le=100, description="Percent of traffic also copied to the canary (shadow)."
    )
    sticky: bool = Field(False, description="Keep a client on one track with a cookie.")


class ServiceSettings(CamelModel):
    name: ServiceName = Field(
        description="Service name; names the Deployment and Service (and `<name>-canary` "
        "those of its canary track, a name no other service may take)."
    )
    image: ImageRef | None = Field(
        None, description="Pre-built image reference. Exactly one of `image` and `build`."
    )
    build: BuildSettings | None = Field(
        None, description="Build the image from a Docker context; deployed by digest."
    )
    port: Port = Field(8080, description="Port of the service's API.")
    admin_port: Port | None = Field(
        9090,
        description="Port of `/healthz`, `/readyz`, `/metrics`; `null`: the probes and the "
        "scrape go to `port`, for a program that serves them there (not the Go service "
        "contract's, which keeps them on `ADMIN_PORT`).",
    )
    replicas: Whole | None = Field(
        None, ge=1, description="Pod count. Leave unset with `autoscaling`."
    )
    resources: Resources = Field(description="Requests and limits of the service container.")
    env: dict[EnvName, EnvValue] = Field(
        default_factory=dict, description="Plain environment variables (a ConfigMap)."
    )
    secret_env: dict[EnvName, ConfigKey] = Field(
        default_factory=dict,
        description="Environment variable -> secret config key (`pulumi config set --secret`).",
    )
    route: RouteSettings | None = Field(None, description="Expose through the gateway.")
    autoscaling: AutoscalingSettings | None = Field(
        None, description="HorizontalPodAutoscaler on CPU."
    )
    egress: list[EgressRule] = Field(
        default_factory=list, description="Where the service may connect, besides DNS."
    )
    canary: CanarySettings | None = Field(
        None, description="Run a canary beside stable, routed by weight and header."
    )

    @property
    def min_replicas(self) -> int:
        """Fewest pods the service runs: the autoscaler's floor, else `replicas`."""
        return self.autoscaling.min_replicas if self.autoscaling else (self.replicas or 1)

    @property
    def max_replicas(self) -> int:
        """Most pods the service runs: the autoscaler's ceiling, else `replicas`."""
        return self.autoscaling.max_replicas if self.autoscaling else (self.replicas or 1)


def presence_problems(raw: Mapping[str, Any]) -> list[Problem]:
    """Rules on which keys are set. They need no valid values, so they are checked before
    validation and reported together with its problems."""
    problems = []
    services = raw.get("services")
    for i, service in enumerate(services if isinstance(services, list) else []):
        if not isinstance(service, Mapping):
            continue
        if _count_set(service, "image", "build") != 1:
            problems.append(
                Problem(
                    f"services[{i}]",
                    "set exactly one of `image` (a pre-built reference) or `build` "
                    "(a Docker build context)",
                )
            )
        egress = service.get("egress")
        for j, rule in enumerate(egress if isinstance(egress, list) else []):
            if isinstance(rule, Mapping) and _count_set(rule, "service", "namespace", "cidr") != 1:
                problems.append(
                    Problem(
                        f"services[{i}].egress[{j}]",
                        "set exactly one of `service`, `namespace` or `cidr`",
                    )
                )
    return problems


def _count_set(mapping: Mapping[str, Any], *keys: str) -> int:
    return sum(mapping.get(key) is not None for key in keys)


def _mutable_image_problems(
    at: str, image: str, profile: Profile, environment: str
) -> list[Problem]:
    """An image that may change under the same reference, where the profile forbids it."""
    if profile.mutable_tags_allowed or not parse_image(image).is_mutable:
        return []
    return [
        Problem(
            at,
            f"{shown_value(image)} has no tag or the `latest` tag, which {environment} does not "
            "allow; pin a version tag or a digest",
        )
    ]


def _canary_problems(
    at: str, service: ServiceSettings, profile: Profile, environment: str
) -> list[Problem]:
    canary = service.canary
    assert canary is not None
    problems = []
    if service.route is None:
        problems.append(Problem(at, "needs `route`: a canary is reached through the gateway"))
    problems += _mutable_image_problems(f"{at}.image", canary.image, profile, environment)
    steps = canary.steps
    for j, step in enumerate(steps):
        if not 1 <= step <= 100:
            problems.append(Problem(f"{at}.steps[{j}]", f"must be within 1..100 (got {step})"))
        elif j and step <= steps[j - 1]:
            problems.append(
                Problem(
                    f"{at}.steps[{j}]",
                    f"{step} does not increase on the step before ({steps[j - 1]})",
                )
            )
    if steps[-1] != canary.max_weight:
        problems.append(
            Problem(
                f"{at}.steps",
                f"the last step is {steps[-1]} but maxWeight is "
                f"{canary.max_weight}: the plan could never promote",
            )
        )
    if canary.weight not in (0, *steps):
        problems.append(
            Problem(f"{at}.weight", f"must be 0 or one of the steps {steps} (got {canary.weight})")
        )
    if canary.analysis.max_latency_ms >= LATENCY_CEILING_MS:
        problems.append(
            Problem(
                f"{at}.analysis.maxLatencyMs",
                f"must be below {LATENCY_CEILING_MS} (got {canary.analysis.max_latency_ms}): "
                "Traefik's latency histogram ends at 5 s, so any slower p99 reads as "
                f"{LATENCY_CEILING_MS} and could never fail the check",
            )
        )
    return problems


def service_problems(
    at: str,
    service: ServiceSettings,
    *,
    environment: str,
    domain: str,
    gateway: GatewaySettings,
    profile: Profile,
    names: list[str],
) -> list[Problem]:
    """Rules on one service: its own keys, and what it names of the rest (a host in `domain`,
    the gateway's middlewares, the other services of `names`, the profile's limits)."""
    env = environment
    problems: list[Problem] = []
    if service.image:
        problems += _mutable_image_problems(f"{at}.image", service.image, profile, env)
    if service.admin_port == service.port:
        problems.append(Problem(f"{at}.adminPort", f"must differ from `port` ({service.port})"))
    for resource in ("cpu", "memory"):
        request = getattr(service.resources.requests, resource)
        limit = getattr(service.resources.limits, resource)
        if parse_quantity(request) > parse_quantity(limit):
            problems.append(
                Problem(
                    f"{at}.resources.requests.{resource}", f"{request} is above the limit {limit}"
                )
            )
    if service.autoscaling:
        scaling = service.autoscaling
        if service.replicas is not None:
            problems.append(
                Problem(
                    f"{at}.replicas",
                    "remove it: with `autoscaling`, minReplicas and "
                    "maxReplicas decide the pod count",
                )
            )
        if scaling.min_replicas > scaling.max_replicas:
            problems.append(
                Problem(
                    f"{at}.autoscaling.minReplicas",
                    f"{scaling.min_replicas} is above maxReplicas {scaling.max_replicas}",
                )
            )
    if service.min_replicas < profile.min_replicas:
        key = "autoscaling.minReplicas" if service.autoscaling else "replicas"
        problems.append(
            Problem(
                f"{at}.{key}",
                f"{env} needs at least {profile.min_replicas} replicas "
                f"(got {service.min_replicas})",
            )
        )
    for name in sorted(RESERVED_ENV & (service.env.keys() | service.secret_env.keys())):
        where = "env" if name in service.env else "secretEnv"
        problems.append(Problem(f"{at}.{where}.{name}", "is set by go-platform; remove it"))
    for name in sorted(service.env.keys() & service.secret_env.keys()):
        problems.append(Problem(f"{at}.secretEnv.{name}", "is also set in `env`"))
    if service.route:
        host = service.route.host
        if not within_domain(host, domain):
            problems.append(
                Problem(f"{at}.route.host", f"{host!r} is outside the domain {domain!r}")
            )
        problems += middleware_problems(
            f"{at}.route.middlewares", service.route.middlewares, gateway
        )
    if service.canary:
        problems += _canary_problems(f"{at}.canary", service, profile, env)
    for j, rule in enumerate(service.egress):
        if rule.service is not None and rule.service not in names:
            problems.append(
                Problem(
                    f"{at}.egress[{j}].service", f"no service named {rule.service!r} in this stack"
                )
            )
    return problems


# --- pydantic errors as key paths ----------------------------------------------------
