"""Typed, validated stack configuration: the user's interface to go-platform.

Stack files set keys in the `go-platform` config namespace, camelCase. `load_settings`
turns them into frozen pydantic models in three steps:

1. pick the environment (the `environment` key, else the stack name) and its profile;
2. lay the profile's defaults under what the stack file says (the stack file wins);
3. validate shapes and types (pydantic), with the rules on which keys are set
   (`_presence_problems`); then the rules on values that span keys (`_rule_problems`).

Keys under a namespace nothing of go-platform reads are problems too, so a misspelt
`go-platform:` is never silently ignored. Every problem names the key path a user would
pass to `pulumi config set --path` (`services[0].resources.limits.memory`), and never
shows a value that may be a secret. All problems are reported at once, as one
`ConfigError`, before the program registers any resource.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)
from pydantic.alias_generators import to_camel

from components.images import parse_image
from components.kube import label_value
from components.severity import Severity, SeverityName, ThresholdName
from components.units import parse_duration, parse_quantity
from components.vulncheck import GateSettings

CONFIG_NAMESPACE = "go-platform"
PROVIDER_NAMESPACES = ("kubernetes", "docker", "random")
"""Config namespaces of the provider packages the program uses (their own settings)."""
CANARY_STATE_NAMESPACE = "go-platform-canary"
"""Where the CI driver records canary promotions (`go_platform.canary.STATE_NAMESPACE`)."""
PROGRAM_NAMESPACES = (CONFIG_NAMESPACE, CANARY_STATE_NAMESPACE, "pulumi", *PROVIDER_NAMESPACES)
"""Every namespace something of the project reads; a key under another is a mistake
unless a setting names it (a secret for `secretEnv`)."""
ENVIRONMENTS = ("local", "dev", "staging", "prod")
Environment = Literal["local", "dev", "staging", "prod"]

# Names the platform derives from a service name ("<name>-canary", "<name>-env-1a2b3c4d")
# must stay within the 63 characters of a DNS label.
MAX_SERVICE_NAME = 40

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

_GATEWAY_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"cpu": "1", "memory": "512Mi"},
}


# --- value types ---------------------------------------------------------------------

INT32_MAX = 2**31 - 1
"""The largest whole number the Kubernetes API takes: its integers are int32."""


@dataclass(frozen=True)
class Format:
    """Names the format of a value type (`Annotated` metadata); the config reference lists
    every format with its rule."""

    name: str
    rule: str


def _matching(pattern: str, what: str, *, echo: bool = True) -> AfterValidator:
    """A text rule; `echo=False` for values that may be secrets pasted in the wrong place,
    which the error then names by key path only."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            shown = repr(value) if echo else "the value (not shown: it may be a secret)"
            raise ValueError(f"{shown} is not {what}")
        return value

    return AfterValidator(check)


_KEY_NAME_SHAPE = re.compile(r"([a-z][-a-z0-9]*:)?[A-Za-z][a-z0-9]*([-_.A-Z][A-Za-z0-9]*)*")


def _looks_like_token(part: str) -> bool:
    """16 or more letters and digits that read as a credential rather than a word of a name:
    with two digits or more (`ghp_…`, base64), or with digits and no lower case (`AKIA…`)."""
    if len(part) < 16 or not part.isalnum():
        return False
    digits = sum(c.isdigit() for c in part)
    return digits >= 2 or (digits >= 1 and not any(c.islower() for c in part))


def shown_key(key: str) -> str:
    """A config key for a message, unless it looks like a credential pasted where a key's
    name belongs (an access key ID, a token): then it is not shown."""
    segments = re.split(r"[-_.:]", key)
    if (
        len(key) <= 64
        and _KEY_NAME_SHAPE.fullmatch(key)
        and not any(_looks_like_token(part) for part in segments)
    ):
        return repr(key)
    return "(the key this setting names; not shown: it looks like a secret value)"


def _quantity_text(value: Any) -> Any:
    """YAML turns `cpu: 1` into a number; a quantity is checked as the text it reads as."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return value


def _not_a_boolean(value: Any) -> Any:
    """Pydantic would take `true` for 1: a boolean where a number belongs is a mistake."""
    if isinstance(value, bool):
        raise ValueError(
            f"must be a number, not {str(value).lower()}; write the number itself (`2`)"
        )
    return value


def _cpu(value: str) -> str:
    if parse_quantity(value) < Decimal("0.001"):
        raise ValueError(f"{value!r} is below the smallest CPU amount, 1m")
    return value


def _memory(value: str) -> str:
    amount = parse_quantity(value)
    if amount < 2**20:
        raise ValueError(f"{value!r} is below 1Mi (memory is in bytes: write 128Mi, not 128m)")
    return value


def _duration(value: str) -> str:
    parse_duration(value)
    return value


def _image(value: str) -> str:
    parse_image(value)
    return value


def _cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as err:
        raise ValueError(f"{value!r} is not a CIDR block ({err})") from None
    return value


def go_pattern_problem(pattern: str) -> str | None:
    """Why Go's `path.Match` rejects `pattern` (its ErrBadPattern), or None when it takes it.

    The grammar is Go's: `*`, `?`, `\\c` for a literal c, and classes `[...]` or `[^...]`
    of at least one character or `lo-hi` range, where `-` and `]` need `\\`.
    """
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            if i + 1 == len(pattern):
                return "it ends in a lone `\\` (write `\\\\` for a backslash)"
            i += 2
        elif pattern[i] == "[":
            i += 2 if pattern[i + 1 : i + 2] == "^" else 1
            ranges = 0
            while not (pattern[i : i + 1] == "]" and ranges):
                i, problem = _class_char(pattern, i, after_dash=False)
                if problem is None and pattern[i] == "-":
                    i, problem = _class_char(pattern, i + 1, after_dash=True)
                if problem:
                    return problem
                ranges += 1
            i += 1
        else:
            i += 1
    return None


def _class_char(pattern: str, i: int, *, after_dash: bool) -> tuple[int, str | None]:
    """Past one character of a class at `i` (Go's `getEsc`), or why there is none."""
    unclosed = "a `[` class is never closed with `]` (write `\\[` for a literal bracket)"
    c = pattern[i : i + 1]
    if not c:
        return i, unclosed
    if c == "]":
        return i, (
            "a range in `[...]` has no upper end (`a-z`)"
            if after_dash
            else "`[]` is an empty class; a class needs a character (write `\\]` for a literal)"
        )
    if c == "-":
        return i, "a `-` in `[...]` must sit between two characters (write `\\-` for a literal)"
    if c == "\\":
        i += 1
        if i == len(pattern):
            return i, unclosed
    i += 1
    return i, None if i < len(pattern) else unclosed


def _module_pattern(value: str) -> str:
    problem = go_pattern_problem(value)
    if problem:
        raise ValueError(f"{value!r} is not a Go path pattern: {problem}")
    return value


_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS_NAME = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*"
_LABEL_RULE = (
    "at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit"
)


def _label_key(value: str) -> str:
    prefix, slash, name = value.rpartition("/")
    if not (
        _LABEL_NAME.fullmatch(name)
        and len(name) <= 63
        and (not slash or (re.fullmatch(_DNS_NAME, prefix) and len(prefix) <= 253))
    ):
        raise ValueError(
            f"{value!r} is not a Kubernetes label key: a name of {_LABEL_RULE}, optionally "
            "after a DNS name and `/` (`release`, `example.com/team`)"
        )
    return value


def _label_value(value: str) -> str:
    if value and not (_LABEL_NAME.fullmatch(value) and len(value) <= 63):
        fixed = label_value(value)
        instead = f"; write e.g. {fixed!r}" if fixed else ""
        raise ValueError(
            f"{value!r} is not a Kubernetes label value: empty, or {_LABEL_RULE}{instead}"
        )
    return value


Whole = Annotated[int, BeforeValidator(_not_a_boolean), Field(le=INT32_MAX)]
Number = Annotated[float, BeforeValidator(_not_a_boolean)]
DnsLabel = Annotated[
    str,
    Field(max_length=63),
    _matching(r"[a-z]([-a-z0-9]*[a-z0-9])?", "a DNS label (lower-case letters, digits, '-')"),
    Format(
        "DNS label",
        "lower-case letters, digits and `-`, starting with a letter and ending with a letter "
        "or digit; at most 63 characters",
    ),
]
ServiceName = Annotated[
    str,
    Field(max_length=MAX_SERVICE_NAME),
    _matching(r"[a-z]([-a-z0-9]*[a-z0-9])?", "a service name (lower-case letters, digits, '-')"),
    Format(
        "service name",
        f"a DNS label of at most {MAX_SERVICE_NAME} characters, leaving room for the names "
        "derived from it",
    ),
]
DomainName = Annotated[
    str,
    Field(max_length=253),
    _matching(_DNS_NAME, "a lower-case DNS name"),
    Format(
        "DNS name",
        "dot-separated labels of lower-case letters, digits and `-` (`greeter.example.com`); "
        "at most 253 characters",
    ),
]
EnvName = Annotated[
    str,
    _matching(r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name"),
    Format("variable name", "letters, digits and `_`, not starting with a digit"),
]
_CONFIG_KEY_FORMAT = Format(
    "config key",
    "a key of this stack's config: `key` in `go-platform`, or `namespace:key` (a namespace "
    "the program does not read is then allowed for that key)",
)
ConfigKey = Annotated[
    str,
    _matching(
        r"([a-z][-a-z0-9]*:)?[A-Za-z][A-Za-z0-9_.-]*",
        "a config key (`key`, or `namespace:key` outside go-platform)",
        echo=False,
    ),
    _CONFIG_KEY_FORMAT,
]
Port = Annotated[Whole, Field(ge=1, le=65535)]
CpuQuantity = Annotated[
    str,
    BeforeValidator(_quantity_text),
    AfterValidator(_cpu),
    Format("CPU quantity", "a Kubernetes quantity of at least `1m` (`250m`, `0.5`, `2`)"),
]
MemoryQuantity = Annotated[
    str,
    BeforeValidator(_quantity_text),
    AfterValidator(_memory),
    Format("byte quantity", "a Kubernetes quantity of at least `1Mi` (`128Mi`, `1Gi`)"),
]
ImageRef = Annotated[
    str,
    AfterValidator(_image),
    Format(
        "image reference",
        "`[registry/]repository[:tag][@sha256:digest]`, lower-case repository",
    ),
]
Duration = Annotated[
    str,
    AfterValidator(_duration),
    Format("duration", "hours, minutes and seconds, above zero (`30s`, `1m30s`, `2h`)"),
]
Cidr = Annotated[
    str, AfterValidator(_cidr), Format("CIDR", "an IP block with no host bits (`10.0.0.0/8`)")
]
ModulePattern = Annotated[
    str,
    _matching(r"[a-z0-9.-]+(/[^\s,;]+)*", "a module path pattern"),
    AfterValidator(_module_pattern),
    Format(
        "module path pattern",
        "a Go `path.Match` pattern of module path prefixes (`github.com/acme/*`): `*`, `?`, "
        "`[a-z]` and `[^...]` classes, `\\` escapes; no spaces, commas or semicolons",
    ),
]
LabelKey = Annotated[
    str,
    AfterValidator(_label_key),
    Format("label key", f"a name of {_LABEL_RULE}, optionally after a DNS name and `/`"),
]
LabelValue = Annotated[
    str,
    AfterValidator(_label_value),
    Format("label value", f"empty, or {_LABEL_RULE}"),
]


RULES = (
    "Keys are camelCase. An unknown key is an error that names the closest known one.",
    "A key under a namespace nothing of go-platform reads is an error (it reads "
    f"{', '.join(f'`{n}`' for n in PROGRAM_NAMESPACES)}), unless a setting names it as a "
    "config key, as `secretEnv` names secrets.",
    "Integers are written as numbers: `true` and `false` are refused, not read as 1 and 0. "
    f"None may exceed {INT32_MAX}, the Kubernetes API's limit; the type column gives "
    "each key's range.",
    'Text is quoted where YAML would read a number or a boolean (`"1.10"`, `"true"`): '
    "a number or boolean where text belongs is refused, never converted.",
    "The formats the type column names are defined below the table.",
)
"""Rules for every key; the config reference states them above its table."""


class CamelModel(BaseModel):
    """Stack YAML keys (and policy config keys) are camelCase; unknown keys are errors,
    never ignored."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
    )


# --- the models ----------------------------------------------------------------------


class ResourceAmounts(CamelModel):
    cpu: CpuQuantity = Field(description="CPU as a Kubernetes quantity (`250m`, `1`).")
    memory: MemoryQuantity = Field(description="Memory as a Kubernetes quantity (`256Mi`, `1Gi`).")


class Resources(CamelModel):
    requests: ResourceAmounts = Field(description="What the scheduler reserves for each pod.")
    limits: ResourceAmounts = Field(
        description="The ceiling for each pod; `GOMEMLIMIT` is set to 90% of `memory`."
    )


class BuildSettings(CamelModel):
    context: str = Field(description="Docker build context, relative to the project directory.")
    repository: str = Field(
        description="Repository the built image is pushed to (`registry.example.com/team/app`)."
    )
    dockerfile: str = Field("Dockerfile", description="Dockerfile path, relative to `context`.")
    target: str | None = Field(None, description="Build stage to stop at.")
    platform: str = Field("linux/amd64", description="Target platform of the image.")
    tag: str | None = Field(
        None, description="Tag pushed alongside the digest; the environment name if unset."
    )
    args: dict[EnvName, str] = Field(
        default_factory=dict,
        description="Build arguments; `GOPROXY` (the module proxy) and `VERSION` (the tag) "
        "are set unless given.",
    )


class RouteSettings(CamelModel):
    host: DomainName = Field(description="Host name served, `domain` or one of its subdomains.")
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


class CanaryAnalysisSettings(CamelModel):
    success_rate: Number = Field(
        99.0, ge=0, le=100, description="Lowest share of non-5xx canary responses, percent."
    )
    max_latency_ms: Whole = Field(500, ge=1, description="Highest p99 canary latency, ms.")


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
    name: ServiceName = Field(description="Service name; names the Deployment and Service.")
    image: ImageRef | None = Field(
        None, description="Pre-built image reference. Exactly one of `image` and `build`."
    )
    build: BuildSettings | None = Field(
        None, description="Build the image from a Docker context; deployed by digest."
    )
    port: Port = Field(8080, description="Port of the service's API.")
    admin_port: Port | None = Field(
        9090,
        description="Port of `/healthz`, `/readyz`, `/metrics`; `null` serves them on `port`.",
    )
    replicas: Whole | None = Field(
        None, ge=1, description="Pod count. Leave unset with `autoscaling`."
    )
    resources: Resources = Field(description="Requests and limits of the service container.")
    env: dict[EnvName, str] = Field(
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


class ChartSource(CamelModel):
    chart: str = Field(
        description="Chart name in `repository`, an `oci://` reference, or a local path."
    )
    version: str = Field(description="Chart version, pinned.")
    repository: str | None = Field(
        None, description="Helm repository URL; `null` for OCI references and local paths."
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


class CertManagerSettings(CamelModel):
    install: bool | None = Field(
        None, description="Install the cert-manager chart; defaults to `gateway.install`."
    )
    namespace: DnsLabel = Field("cert-manager", description="Namespace of cert-manager.")
    chart: ChartSource = Field(
        default_factory=lambda: ChartSource(
            chart="cert-manager", version="v1.21.1", repository="https://charts.jetstack.io"
        ),
        description="Where the cert-manager chart comes from.",
    )


class DashboardSettings(CamelModel):
    enabled: bool = Field(description="Serve the Traefik dashboard behind BasicAuth.")
    host: DomainName | None = Field(
        None, description="Dashboard host; `traefik.<domain>` if unset."
    )
    ip_allow_list: list[Cidr] = Field(
        default_factory=list, description="Only these client networks reach the dashboard."
    )


class GatewaySettings(CamelModel):
    install: bool = Field(
        description="Install the Traefik chart; `false` uses the cluster's Traefik and only "
        "creates configuration."
    )
    namespace: DnsLabel = Field("traefik", description="Namespace of the Traefik pods.")
    entry_point: str = Field("websecure", description="Traefik entrypoint routes attach to.")
    replicas: Whole = Field(ge=1, description="Traefik pods; a PodDisruptionBudget from 2.")
    chart: ChartSource = Field(
        default_factory=lambda: ChartSource(
            chart="traefik", version="41.3.0", repository="https://traefik.github.io/charts"
        ),
        description="Where the Traefik chart comes from.",
    )
    resources: Resources = Field(
        default_factory=lambda: Resources.model_validate(_GATEWAY_RESOURCES),
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


class ObjectStorageSettings(CamelModel):
    region: str = Field(description="Region of the buckets.")
    endpoint: str | None = Field(
        None, description="S3-compatible endpoint URL (MinIO, Ceph); AWS if unset."
    )
    force_path_style: bool = Field(False, description="Address buckets by path, not host.")
    access_key_id_secret: ConfigKey | None = Field(
        None,
        description="Secret config key of the access key id; ambient credentials (IRSA, "
        "instance role) if unset.",
    )
    secret_access_key_secret: ConfigKey | None = Field(
        None, description="Secret config key of the secret access key."
    )


class ModuleProxyS3Settings(ObjectStorageSettings):
    bucket: str = Field(description="Bucket holding the module cache.")


class ModuleProxyStorageSettings(CamelModel):
    type: Literal["disk", "s3"] = Field(description="Where Athens keeps modules.")
    volume: Literal["persistentVolumeClaim", "emptyDir"] = Field(
        "persistentVolumeClaim",
        description="`disk` only: a claim that survives restarts, or scratch space.",
    )
    size: MemoryQuantity = Field("10Gi", description="`disk` only: size of the volume.")
    storage_class: str | None = Field(
        None, description="`disk` only: StorageClass of the claim; the default if unset."
    )
    s3: ModuleProxyS3Settings | None = Field(None, description="`s3` only: the bucket.")


class SingleFlightSettings(CamelModel):
    type: Literal["memory", "redis", "etcd"] = Field(
        "memory",
        description="How replicas agree on who fetches a module: `memory` for one replica.",
    )
    endpoint: str | None = Field(
        None, description="Redis `host:port` or etcd endpoints (comma-separated)."
    )
    password_secret: ConfigKey | None = Field(
        None, description="Secret config key of the Redis password."
    )


class ModuleProxyCredentials(CamelModel):
    netrc_secret: ConfigKey | None = Field(
        None, description="Secret config key holding a netrc file for private repositories."
    )
    ssh_key_secret: ConfigKey | None = Field(
        None, description="Secret config key holding an SSH private key for git."
    )
    ssh_known_hosts: str | None = Field(
        None, description="known_hosts lines for the SSH hosts; required with `sshKeySecret`."
    )


class ModuleProxySettings(CamelModel):
    enabled: bool = Field(description="Run an Athens module proxy.")
    url: str | None = Field(
        None,
        description="GOPROXY for image builds when `enabled` is false; with Athens, its "
        "in-cluster URL is used.",
    )
    namespace: DnsLabel = Field("module-proxy", description="Namespace of Athens.")
    image: ImageRef = Field("gomods/athens:v0.18.0", description="Athens image.")
    replicas: Whole = Field(ge=1, description="Athens pods; more than one needs `s3` storage.")
    resources: Resources = Field(
        default_factory=lambda: Resources.model_validate(_GATEWAY_RESOURCES),
        description="Requests and limits of each Athens pod.",
    )
    storage: ModuleProxyStorageSettings = Field(description="The module cache.")
    single_flight: SingleFlightSettings = Field(
        default_factory=SingleFlightSettings, description="Coordination between replicas."
    )
    private: list[ModulePattern] = Field(
        default_factory=list,
        description="Private module path patterns (`github.com/acme/*`): fetched by Athens "
        "from their VCS with `credentials`, never checked against the public checksum "
        "database.",
    )
    public_mode: Literal["sync", "async", "redirect", "async_redirect"] = Field(
        "sync",
        description="How Athens serves public modules it does not hold yet (download mode).",
    )
    upstream: str | None = Field(
        None,
        description="GOPROXY Athens fetches public modules through; straight from their "
        "VCS if unset.",
    )
    credentials: ModuleProxyCredentials = Field(
        default_factory=ModuleProxyCredentials, description="Git credentials (secrets)."
    )
    host: DomainName | None = Field(
        None, description="External host behind BasicAuth; `goproxy.<domain>` if unset."
    )
    allowed_namespaces: list[DnsLabel] = Field(
        default_factory=list,
        description="Namespaces whose pods (CI runners, build jobs) may use the in-cluster URL.",
    )


class ObservabilityS3Settings(ObjectStorageSettings):
    loki_chunks_bucket: str = Field(description="Bucket of Loki's chunks and index.")
    loki_ruler_bucket: str = Field(description="Bucket of Loki's ruler.")
    tempo_bucket: str = Field(description="Bucket of Tempo's traces.")


class ObservabilityStorageSettings(CamelModel):
    type: Literal["filesystem", "s3"] = Field(
        description="Where Loki and Tempo keep data: volumes, or S3 buckets."
    )
    size: MemoryQuantity = Field("10Gi", description="Size of each data volume.")
    storage_class: str | None = Field(None, description="StorageClass of the data volumes.")
    s3: ObservabilityS3Settings | None = Field(None, description="`s3` only: the buckets.")


class RetentionSettings(CamelModel):
    metrics: str = Field(pattern=r"^[0-9]+(h|d|w)$", description="Prometheus retention (`15d`).")
    logs: str = Field(pattern=r"^[0-9]+h$", description="Loki retention, in hours (`168h`).")
    traces: str = Field(pattern=r"^[0-9]+h$", description="Tempo retention, in hours (`72h`).")


def _chart(chart: str, version: str, repository: str) -> Any:
    return Field(
        default_factory=lambda: ChartSource(chart=chart, version=version, repository=repository),
        description=f"Where the {chart} chart comes from.",
    )


_PROMETHEUS_CHARTS = "https://prometheus-community.github.io/helm-charts"
_GRAFANA_COMMUNITY_CHARTS = "https://grafana-community.github.io/helm-charts"
_GRAFANA_CHARTS = "https://grafana.github.io/helm-charts"


class ObservabilityCharts(CamelModel):
    kube_prometheus_stack: ChartSource = _chart(
        "kube-prometheus-stack", "88.5.3", _PROMETHEUS_CHARTS
    )
    loki: ChartSource = _chart("loki", "18.11.0", _GRAFANA_COMMUNITY_CHARTS)
    tempo: ChartSource = _chart("tempo", "2.2.4", _GRAFANA_COMMUNITY_CHARTS)
    grafana: ChartSource = _chart("grafana", "12.11.1", _GRAFANA_COMMUNITY_CHARTS)
    alloy: ChartSource = _chart("alloy", "1.11.1", _GRAFANA_CHARTS)


class ObservabilitySettings(CamelModel):
    enabled: bool = Field(
        description="Wire services to metrics, traces and alerts (ServiceMonitor, OTLP, "
        "PrometheusRule, dashboard)."
    )
    install: bool = Field(
        description="Install Prometheus, Loki, Tempo, Grafana and Alloy; `false` uses the "
        "cluster's own and only wires services to them."
    )
    namespace: DnsLabel = Field("monitoring", description="Namespace of the stack.")
    otlp_endpoint: str | None = Field(
        None,
        description="OTLP gRPC endpoint for services; Tempo's when installed, else none "
        "unless given.",
    )
    prometheus_url: str | None = Field(
        None, description="Prometheus query URL; the installed one's when `install`."
    )
    prometheus_replicas: Whole = Field(1, ge=1, description="Prometheus pods.")
    monitor_labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict,
        description="Labels added to every ServiceMonitor and PrometheusRule, for a "
        "Prometheus of the cluster's own that selects by others (`release: ...`).",
    )
    retention: RetentionSettings = Field(description="How long data is kept.")
    storage: ObservabilityStorageSettings = Field(description="Loki and Tempo storage.")
    grafana_host: DomainName | None = Field(
        None, description="Grafana's host on the gateway; `grafana.<domain>` if unset."
    )
    availability_slo: Number = Field(
        99.9, gt=0, lt=100, description="Availability objective of every service, percent."
    )
    charts: ObservabilityCharts = Field(
        default_factory=ObservabilityCharts, description="Where the charts come from."
    )


class CrdSettings(CamelModel):
    install: bool = Field(
        description="Install the CustomResourceDefinitions the program uses (traefik.io, "
        "cert-manager.io, monitoring.coreos.com) before anything else; off where the "
        "charts install them."
    )
    sources: list[str] = Field(
        default_factory=list,
        description="Files, globs (relative to the project) or URLs of the definitions.",
    )


class VulnerabilityGateSettings(CamelModel):
    enabled: bool = Field(
        True,
        description="Run govulncheck on each `build` service's module before its image is "
        "built (docs/policies.md#audited-go-builds).",
    )
    database: str | None = Field(
        None,
        description="Vulnerability database: a URL (`https://`, `file://`) or a directory in "
        "the OSV layout govulncheck reads, relative to the project (air-gapped CI); unset: "
        "govulncheck's public database.",
    )
    fail_on: ThresholdName = Field(
        "high", description="Reachable findings at or above this severity fail the build."
    )
    unknown_severity: SeverityName = Field(
        "critical", description="What a finding the database does not rate counts as."
    )

    def gate(self) -> GateSettings | None:
        """The gate's settings, or None when builds are not audited."""
        if not self.enabled:
            return None
        return GateSettings(
            database=self.database or None,
            fail_on=Severity.named(self.fail_on),
            unknown_severity=Severity.named(self.unknown_severity),
        )


class PlatformSettings(CamelModel):
    environment: Environment = Field(
        description="Which profile supplies the defaults.",
        json_schema_extra={"default_text": "the stack name"},
    )
    domain: DomainName = Field(description="Every route host is this name or below it.")
    namespace: DnsLabel = Field("apps", description="Namespace the services run in.")
    gateway: GatewaySettings = Field(description="How services reach and use the gateway.")
    module_proxy: ModuleProxySettings = Field(
        default_factory=ModuleProxySettings, description="Go module proxy for builds."
    )
    observability: ObservabilitySettings = Field(description="Metrics and traces.")
    crds: CrdSettings = Field(description="Upstream CustomResourceDefinitions.")
    services: list[ServiceSettings] = Field(
        default_factory=list, description="The Go services to deploy."
    )
    vulnerability_gate: VulnerabilityGateSettings = Field(
        default_factory=VulnerabilityGateSettings,
        description="The govulncheck gate every image build passes first.",
    )
    config_namespaces: list[DnsLabel] = Field(
        default_factory=list,
        description=(
            "Config namespaces of your own that your additions to the program read; keys under"
            " any other namespace the program does not read are refused as likely typos."
        ),
    )

    def callers(self, name: str) -> list[str]:
        """Services of this stack that declare egress to the service `name`."""
        return sorted(s.name for s in self.services if any(r.service == name for r in s.egress))

    def secret_refs(self) -> list[tuple[str, str]]:
        """Every secret config key the settings name, with the key path that names it."""
        refs = [
            (f"services[{i}].secretEnv.{env}", key)
            for i, service in enumerate(self.services)
            for env, key in service.secret_env.items()
        ]
        dns01 = self.gateway.tls.dns01
        optional = [("gateway.tls.dns01.apiTokenSecret", dns01 and dns01.api_token_secret)]
        if self.module_proxy.enabled:
            proxy = self.module_proxy
            s3 = proxy.storage.s3 if proxy.storage.type == "s3" else None
            optional += [
                ("moduleProxy.credentials.netrcSecret", proxy.credentials.netrc_secret),
                ("moduleProxy.credentials.sshKeySecret", proxy.credentials.ssh_key_secret),
                ("moduleProxy.singleFlight.passwordSecret", proxy.single_flight.password_secret),
                ("moduleProxy.storage.s3.accessKeyIdSecret", s3 and s3.access_key_id_secret),
                (
                    "moduleProxy.storage.s3.secretAccessKeySecret",
                    s3 and s3.secret_access_key_secret,
                ),
            ]
        observability = self.observability
        if (
            observability.install
            and observability.storage.type == "s3"
            and observability.storage.s3
        ):
            s3 = observability.storage.s3
            optional += [
                ("observability.storage.s3.accessKeyIdSecret", s3.access_key_id_secret),
                ("observability.storage.s3.secretAccessKeySecret", s3.secret_access_key_secret),
            ]
        return refs + [(path, key) for path, key in optional if key]

    @property
    def installs_charts(self) -> bool:
        """Whether the program installs add-on charts (Traefik, cert-manager, observability),
        which bring the CustomResourceDefinitions the services' custom resources need."""
        return (
            self.gateway.install or self.gateway.installs_cert_manager or self.observability.install
        )

    @property
    def module_proxy_host(self) -> str:
        """External host of the module proxy."""
        return self.module_proxy.host or f"goproxy.{self.domain}"

    @property
    def grafana_host(self) -> str:
        """Host Grafana is served on."""
        return self.observability.grafana_host or f"grafana.{self.domain}"

    @property
    def dashboard_host(self) -> str:
        """Host the Traefik dashboard is served on."""
        return self.gateway.dashboard.host or f"traefik.{self.domain}"


# --- environment profiles ------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """What an environment implies: defaults under the stack file, and rules over it."""

    defaults: Mapping[str, Any]
    service_defaults: Mapping[str, Any]
    min_replicas: int
    mutable_tags_allowed: bool


# Schema-only copies of the upstream definitions, vendored in the project (docs/upstream.md).
UPSTREAM_CRD_SOURCES = (
    "upstream/crds/traefik/*.yaml",
    "upstream/crds/cert-manager/*.yaml",
    "upstream/crds/prometheus-operator/*.yaml",
)
_SMALL = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},
}
_PRODUCTION = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"cpu": "1", "memory": "512Mi"},
}


def _gateway_profile(
    *, install: bool, replicas: int, issuer: str, dashboard: bool, hsts: bool
) -> dict[str, Any]:
    return {
        "install": install,
        "replicas": replicas,
        "tls": {"issuer": issuer},
        "dashboard": {"enabled": dashboard},
        "middlewares": {"hsts": hsts},
    }


def _observability_profile(
    install: bool, metrics: str, logs: str, traces: str, storage: str
) -> dict[str, Any]:
    return {
        "enabled": True,
        "install": install,
        "retention": {"metrics": metrics, "logs": logs, "traces": traces},
        "storage": {"type": storage},
    }


def _module_proxy_profile(
    replicas: int, storage: str, volume: str = "persistentVolumeClaim"
) -> dict[str, Any]:
    return {
        "enabled": True,
        "replicas": replicas,
        "storage": {"type": storage, "volume": volume},
    }


PROFILES: Mapping[str, Profile] = {
    "local": Profile(
        defaults={
            "domain": "go-platform.localhost",
            "crds": {"install": True, "sources": list(UPSTREAM_CRD_SOURCES)},
            "gateway": _gateway_profile(
                install=False, replicas=1, issuer="privateCa", dashboard=True, hsts=False
            ),
            "observability": _observability_profile(False, "3d", "72h", "24h", "filesystem"),
            "moduleProxy": _module_proxy_profile(1, "disk", volume="emptyDir"),
        },
        service_defaults={"replicas": 1, "resources": _SMALL},
        min_replicas=1,
        mutable_tags_allowed=True,
    ),
    "dev": Profile(
        defaults={
            "crds": {"install": False},
            "gateway": _gateway_profile(
                install=True, replicas=1, issuer="privateCa", dashboard=True, hsts=False
            ),
            "observability": _observability_profile(True, "3d", "72h", "24h", "filesystem"),
            "moduleProxy": _module_proxy_profile(1, "disk"),
        },
        service_defaults={"replicas": 1, "resources": _SMALL},
        min_replicas=1,
        mutable_tags_allowed=True,
    ),
    "staging": Profile(
        defaults={
            "crds": {"install": False},
            "gateway": _gateway_profile(
                install=True, replicas=2, issuer="acmeStaging", dashboard=True, hsts=True
            ),
            "observability": _observability_profile(True, "7d", "168h", "72h", "filesystem"),
            "moduleProxy": _module_proxy_profile(2, "s3"),
        },
        service_defaults={"replicas": 2, "resources": _PRODUCTION},
        min_replicas=1,
        mutable_tags_allowed=False,
    ),
    "prod": Profile(
        defaults={
            "crds": {"install": False},
            "gateway": _gateway_profile(
                install=True, replicas=3, issuer="acme", dashboard=False, hsts=True
            ),
            "observability": _observability_profile(True, "30d", "720h", "168h", "s3"),
            "moduleProxy": _module_proxy_profile(3, "s3"),
        },
        service_defaults={"replicas": 3, "resources": _PRODUCTION},
        min_replicas=2,
        mutable_tags_allowed=False,
    ),
}


def merge_defaults(defaults: Mapping[str, Any], given: Any) -> Any:
    """`given` with `defaults` filled in underneath, recursively; `given` always wins.

    Anything that is not a mapping on both sides is left as given, so a wrong type still
    reaches validation and is reported there.
    """
    if not isinstance(given, Mapping):
        return given
    merged = dict(given)
    for key, default in defaults.items():
        if key not in merged:
            merged[key] = default
        elif isinstance(default, Mapping):
            merged[key] = merge_defaults(default, merged[key])
    return merged


def _with_profile(raw: Mapping[str, Any], profile: Profile) -> dict[str, Any]:
    merged = merge_defaults(profile.defaults, raw)
    services = merged.get("services")
    if isinstance(services, list):
        merged["services"] = [_with_service_defaults(s, profile) for s in services]
    return merged


def _with_service_defaults(service: Any, profile: Profile) -> Any:
    defaults = dict(profile.service_defaults)
    if isinstance(service, Mapping) and "autoscaling" in service:
        del defaults["replicas"]  # the autoscaler owns the replica count
    return merge_defaults(defaults, service)


# --- loading -------------------------------------------------------------------------


@dataclass(frozen=True)
class StackConfig:
    """A stack's config as the program receives it: `namespace:key` -> text."""

    values: Mapping[str, str]
    secret_keys: frozenset[str] = frozenset()
    project_dir: Path = field(default_factory=Path.cwd)
    """Where relative paths in the config start (the directory of Pulumi.yaml)."""

    def namespace(self, namespace: str) -> dict[str, str]:
        prefix = f"{namespace}:"
        return {k.removeprefix(prefix): v for k, v in self.values.items() if k.startswith(prefix)}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the stack config: where, and what."""

    path: str
    message: str
    namespace: str = CONFIG_NAMESPACE

    def __str__(self) -> str:
        return f"{self.namespace}:{self.path}: {self.message}" if self.path else self.message


@dataclass
class ConfigError(Exception):
    """The stack config is invalid; `problems` says where and why."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return f"invalid stack configuration: {self.problems[0]}"
        lines = "\n".join(f"  - {p}" for p in self.problems)
        return f"invalid stack configuration ({len(self.problems)} problems):\n{lines}"


def qualified_key(key: str) -> str:
    """`key` with the go-platform namespace when it names none."""
    return key if ":" in key else f"{CONFIG_NAMESPACE}:{key}"


def load_settings(config: StackConfig, *, stack: str) -> PlatformSettings:
    """Validated settings for `stack`, or a ConfigError listing every problem."""
    ours = config.namespace(CONFIG_NAMESPACE)
    secret_names = {k for k in ours if qualified_key(k) in config.secret_keys}
    settings_keys = set(field_aliases(PlatformSettings))
    problems = [
        Problem(
            key, "holds a secret: keep secrets in keys of their own and name them from `secretEnv`"
        )
        for key in sorted(secret_names & settings_keys)
    ]
    decoded = {k: _decode(v) for k, v in ours.items() if k not in secret_names}
    # Keys the settings name (`secretEnv`, `...Secret`) hold values, not settings, even when
    # (wrongly) set in plain text: that mistake is reported against the name, not as an
    # unknown key.
    named = {qualified_key(k) for k in _config_keys_named(PlatformSettings, decoded)}
    raw = {k: v for k, v in decoded.items() if qualified_key(k) not in named or k in settings_keys}
    own = raw.get("configNamespaces")
    extra = {n for n in own if isinstance(n, str)} if isinstance(own, list) else set()
    problems += _namespace_problems(config.values, named, extra)

    environment = raw.get("environment", stack)
    if not isinstance(environment, str) or environment not in PROFILES:
        allowed = ", ".join(ENVIRONMENTS)
        if "environment" in raw:
            reason = f"must be one of {allowed} (got {_shorten(environment)})"
        else:
            reason = (
                f"is not set, and the stack name {stack!r} is none of {allowed}; "
                "set `go-platform:environment`"
            )
        raise ConfigError([*problems, Problem("environment", reason)])
    raw["environment"] = environment
    profile = PROFILES[environment]

    merged = _with_profile(raw, profile)
    problems += _presence_problems(merged)
    try:
        settings = PlatformSettings.model_validate(merged)
    except ValidationError as err:
        raise ConfigError(problems + [_problem(e) for e in err.errors()]) from None
    problems += _rule_problems(settings, profile, config)
    if problems:
        raise ConfigError(problems)
    return settings


def _config_keys_named(annotation: Any, value: Any) -> Iterator[str]:
    """The config keys `value` names where `annotation` takes a `ConfigKey`.

    `value` is not validated yet: whatever has another shape than `annotation` is passed over.
    """
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        if _CONFIG_KEY_FORMAT not in args[1:]:
            yield from _config_keys_named(args[0], value)
        elif isinstance(value, str):
            yield value
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if isinstance(value, Mapping):
            for name, field_info in annotation.model_fields.items():
                alias = field_info.alias or name
                if alias in value:
                    yield from _config_keys_named(field_info.rebuild_annotation(), value[alias])
    elif origin is list:
        for item in value if isinstance(value, list) else []:
            yield from _config_keys_named(args[0], item)
    elif origin is dict:
        for item in value.values() if isinstance(value, Mapping) else []:
            yield from _config_keys_named(args[1], item)
    else:  # a union, or a plain type that names no key
        for arg in args:
            yield from _config_keys_named(arg, value)


def _namespace_problems(
    keys: Iterable[str], named: set[str], extra: set[str] = frozenset()
) -> list[Problem]:
    """Keys under a namespace nothing of the program reads, which would be ignored: most
    often a misspelt `go-platform`. `extra`: the stack's own `configNamespaces`."""
    problems = []
    for key in sorted(keys):
        namespace, colon, name = key.partition(":")
        if colon and namespace not in (*PROGRAM_NAMESPACES, *extra) and key not in named:
            hint = _hint(
                namespace,
                (*PROGRAM_NAMESPACES, *sorted(extra)),
                f"the program reads {', '.join(PROGRAM_NAMESPACES)}; a key elsewhere must be "
                "named by a setting, as `secretEnv` names secrets, or its namespace listed in "
                "`go-platform:configNamespaces`",
            )
            problems.append(
                Problem(name, f"unknown namespace {namespace!r} ({hint})", namespace=namespace)
            )
    return problems


def _presence_problems(raw: Mapping[str, Any]) -> list[Problem]:
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


def _decode(text: str) -> Any:
    """Pulumi passes objects and lists as JSON text and scalars as plain text."""
    if isinstance(text, str) and text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text


# --- rules that span keys ------------------------------------------------------------


def _rule_problems(
    settings: PlatformSettings, profile: Profile, config: StackConfig
) -> list[Problem]:
    problems = _gateway_problems(settings)
    problems += _module_proxy_problems(settings)
    problems += _observability_problems(settings)
    if settings.crds.install:
        problems += _crd_problems(settings.crds, config.project_dir)
    names = [s.name for s in settings.services]
    for i, service in enumerate(settings.services):
        problems += _service_problems(f"services[{i}]", service, settings, profile, names)
        if names.index(service.name) != i:
            first = names.index(service.name)
            problems.append(
                Problem(
                    f"services[{i}].name",
                    f"duplicate service name {service.name!r} (also services[{first}])",
                )
            )
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
                    "`pulumi config set --secret`",
                )
            )
    return problems


def _within(host: str, domain: str) -> bool:
    return host == domain or host.endswith(f".{domain}")


def _middleware_problems(at: str, names: list[str], gateway: GatewaySettings) -> list[Problem]:
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


def _crd_problems(crds: CrdSettings, project_dir: Path) -> list[Problem]:
    if crds.install and not crds.sources:
        return [Problem("crds.sources", "is empty; name the definitions to install")]
    problems = []
    for j, source in enumerate(crds.sources):
        if "://" in source:
            continue
        if not list(project_dir.glob(source)) and not (project_dir / source).is_file():
            problems.append(
                Problem(f"crds.sources[{j}]", f"{source!r} matches no file under {project_dir}")
            )
    return problems


def _module_proxy_problems(settings: PlatformSettings) -> list[Problem]:
    proxy = settings.module_proxy
    if not proxy.enabled:
        return []
    at = "moduleProxy"
    storage, flight = proxy.storage, proxy.single_flight
    problems = []
    if storage.type == "s3" and storage.s3 is None:
        problems.append(Problem(f"{at}.storage.s3", "is required with storage type 's3'"))
    if storage.type == "disk" and proxy.replicas > 1:
        problems.append(
            Problem(
                f"{at}.replicas",
                f"disk storage allows one replica (got {proxy.replicas}); "
                "use storage type 's3' for more",
            )
        )
    elif proxy.replicas > 1 and flight.type == "memory":
        problems.append(
            Problem(
                f"{at}.singleFlight.type",
                f"'memory' cannot coordinate {proxy.replicas} replicas; use 'redis' or 'etcd'",
            )
        )
    if flight.type != "memory" and not flight.endpoint:
        problems.append(Problem(f"{at}.singleFlight.endpoint", f"is required with {flight.type!r}"))
    if storage.s3:
        problems += _key_pair_problems(f"{at}.storage.s3", storage.s3)
    credentials = proxy.credentials
    if credentials.ssh_key_secret and not credentials.ssh_known_hosts:
        problems.append(
            Problem(
                f"{at}.credentials.sshKnownHosts",
                "is required with `sshKeySecret`, so git can check the host it talks to",
            )
        )
    if proxy.host and not _within(proxy.host, settings.domain):
        problems.append(
            Problem(f"{at}.host", f"{proxy.host!r} is outside the domain {settings.domain!r}")
        )
    return problems


def _key_pair_problems(at: str, storage: ObjectStorageSettings) -> list[Problem]:
    if (storage.access_key_id_secret is None) != (storage.secret_access_key_secret is None):
        return [
            Problem(
                at,
                "set both `accessKeyIdSecret` and `secretAccessKeySecret`, or neither "
                "for ambient credentials",
            )
        ]
    return []


def _observability_problems(settings: PlatformSettings) -> list[Problem]:
    observability = settings.observability
    problems = []
    if observability.install and observability.storage.type == "s3":
        if observability.storage.s3 is None:
            problems.append(
                Problem("observability.storage.s3", "is required with storage type 's3'")
            )
        else:
            problems += _key_pair_problems("observability.storage.s3", observability.storage.s3)
    host = observability.grafana_host
    if host and not _within(host, settings.domain):
        problems.append(
            Problem(
                "observability.grafanaHost", f"{host!r} is outside the domain {settings.domain!r}"
            )
        )
    return problems


def _gateway_problems(settings: PlatformSettings) -> list[Problem]:
    gateway = settings.gateway
    tls = gateway.tls
    problems = _middleware_problems(
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
    if gateway.dashboard.host and not _within(gateway.dashboard.host, settings.domain):
        problems.append(
            Problem(
                "gateway.dashboard.host",
                f"{gateway.dashboard.host!r} is outside the domain {settings.domain!r}",
            )
        )
    return problems


def _mutable_image_problems(
    at: str, image: str, profile: Profile, environment: str
) -> list[Problem]:
    """An image that may change under the same reference, where the profile forbids it."""
    if profile.mutable_tags_allowed or not parse_image(image).is_mutable:
        return []
    return [
        Problem(
            at,
            f"{image!r} has no tag or the `latest` tag, which {environment} does not allow; "
            "pin a version tag or a digest",
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
    return problems


def _service_problems(
    at: str,
    service: ServiceSettings,
    settings: PlatformSettings,
    profile: Profile,
    names: list[str],
) -> list[Problem]:
    env = settings.environment
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
        if not _within(host, settings.domain):
            problems.append(
                Problem(f"{at}.route.host", f"{host!r} is outside the domain {settings.domain!r}")
            )
        problems += _middleware_problems(
            f"{at}.route.middlewares", service.route.middlewares, settings.gateway
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


def key_path(loc: tuple[str | int, ...]) -> str:
    """`("services", 0, "resources")` -> `services[0].resources`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part != "[key]":
            path += f".{part}" if path else str(part)
    return path


def _problem(error: Mapping[str, Any]) -> Problem:
    loc = tuple(error["loc"])
    return Problem(key_path(loc), _message(error, loc))


def _message(error: Mapping[str, Any], loc: tuple[str | int, ...]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = _shorten(error.get("input"))
    if kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        hint = _hint(str(loc[-1]), known, "known keys: " + ", ".join(known))
        return f"unknown key ({hint})"
    if kind == "string_type":
        return _not_text(error.get("input"))
    kind_of = _kind(error.get("input"))
    at_most = f"must be at most {ctx.get('le')}"
    if ctx.get("le") == INT32_MAX:
        at_most += ", the largest number the Kubernetes API takes"
    messages = {
        "missing": "is required",
        "value_error": str(ctx.get("error")),
        "greater_than_equal": f"must be at least {ctx.get('ge')} (got {got})",
        "less_than_equal": f"{at_most} (got {got})",
        "less_than": f"must be below {ctx.get('lt')} (got {got})",
        "greater_than": f"must be above {ctx.get('gt')} (got {got})",
        "literal_error": f"must be one of {ctx.get('expected')} (got {got})",
        "int_parsing": f"must be a whole number (got {got})",
        "int_type": f"must be a whole number (got {got})",
        "int_from_float": f"must be a whole number (got {got})",
        "bool_parsing": f"must be true or false (got {got})",
        "bool_type": f"must be true or false (got {got})",
        "list_type": f"must be a list (got {kind_of})",
        "dict_type": f"must be a mapping of keys to values (got {kind_of})",
        "model_type": f"must be a mapping of keys to values (got {kind_of})",
        "model_attributes_type": f"must be a mapping of keys to values (got {kind_of})",
        "string_too_long": f"must be at most {ctx.get('max_length')} characters (got {got})",
        "string_pattern_mismatch": f"must match {ctx.get('pattern')} (got {got})",
        "too_short": f"must have at least {ctx.get('min_length')} item(s) (got {got})",
        "float_parsing": f"must be a number (got {got})",
        "float_type": f"must be a number (got {got})",
    }
    return messages.get(kind, error["msg"])


def _hint(word: str, known: Sequence[str], otherwise: str) -> str:
    """`did you mean ...?` with the closest of `known`, else `otherwise`."""
    close = difflib.get_close_matches(word, known, n=1)
    return f"did you mean {close[0]!r}?" if close else otherwise


def _kind(value: Any) -> str:
    """What YAML or JSON made of a value, without showing it: it may be a secret."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text that is not JSON" if value[:1] in ("[", "{") else "text"
    return "a list" if isinstance(value, list) else "a mapping"


def _not_text(value: Any) -> str:
    """YAML reads `1.10` and `true` as a number and a boolean; turning them back into text
    would not give what the user wrote (`1.1`), so they are refused instead."""
    example = {"a boolean": '`"true"`', "a number": '`"1.10"`, not `1.10`, which YAML reads as 1.1'}
    kind = _kind(value)
    if kind in example:
        return f"must be text, not {kind}; quote it so YAML keeps it as written ({example[kind]})"
    return f"must be text, not {kind}"


def _shorten(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _known_keys(loc: tuple[str | int, ...]) -> list[str]:
    """The camelCase keys of the model at `loc`, for "did you mean" hints."""
    model: Any = PlatformSettings
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        fields = {f.alias or name: f for name, f in model.model_fields.items()}
        if part not in fields:
            return []
        model = model_in(fields[part].annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return field_aliases(model)
    return []


def model_in(annotation: Any) -> Any:
    """The pydantic model inside `X | None`, `list[X]` or `dict[str, X]`, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = model_in(arg)
        if found is not None:
            return found
    return None


def field_aliases(model: type[BaseModel]) -> list[str]:
    """The camelCase keys a stack file uses for `model`'s fields."""
    return [f.alias or name for name, f in model.model_fields.items()]
