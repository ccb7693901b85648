"""Typed, validated settings of each policy: what `policies/config/<env>.json` may set.

Each policy reads its properties (camelCase, as in the config files) into one frozen
pydantic model. A bad value never raises out of a policy: `parse_settings` returns a
`SettingsError` naming the key path (`image-registry-allowed.allowedRegistries[0]`) and
the reason, which the policy reports as its single violation for the resource.

The same models give the engine a JSON schema per policy (`engine_schema`), so
`pulumi preview --policy-pack-config` rejects a wrongly typed value before the pack runs.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pulumi_policy import PolicyConfigSchema
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    StrictBool,
    ValidationError,
    model_validator,
)

from go_platform_policies.shared import (
    CamelModel,
    SeverityName,
    ThresholdName,
    key_path,
    parse_quantity,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

# --- value types ---------------------------------------------------------------------


def _quantity(value: str) -> Decimal:
    """`parse_quantity(value)`; its problem shows the value as `json_word` does, where
    its own message quotes it whole (key material too)."""
    try:
        return parse_quantity(value)
    except ValueError as err:
        said, quoted = str(err), repr(value)
        rest = said[len(quoted) :] if said.startswith(quoted) else " is not a Kubernetes quantity"
        raise ValueError(f"{_subject(value)}{rest}") from None


def _cpu(value: str) -> str:
    if _quantity(value) < Decimal("0.001"):
        raise ValueError(f"{_subject(value)} is below the smallest CPU amount, 1m")
    return value


def _memory(value: str) -> str:
    if _quantity(value) < 2**20:
        raise ValueError(
            f"{_subject(value)} is below 1Mi (memory is in bytes: write 512Mi, not 512m)"
        )
    return value


_REGISTRY_PREFIX = re.compile(
    r"(?P<host>[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?)(?P<path>(/[a-z0-9]+([._-][a-z0-9]+)*)*)"
)


def _registry_prefix(value: str) -> str:
    match = _REGISTRY_PREFIX.fullmatch(value)
    host = match["host"] if match else ""
    if not match or not ("." in host or ":" in host or host == "localhost"):
        raise ValueError(
            f"{_subject(value)} is not a registry host or registry/path prefix "
            "(examples: registry.example.com, ghcr.io/acme, 127.0.0.1:5000)"
        )
    return value


def load_public_key(pem: str) -> ec.EllipticCurvePublicKey:
    """An ECDSA P-256 public key from PEM text (a `cosign.pub`); ValueError otherwise.

    `cryptography` is imported here, not with the module: only a config that names keys
    needs it, and its import is about 40 ms of the pack's start, which every preview and
    update waits for (docs/PERFORMANCE.md, sixteenth round).
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_public_key(pem.strip().encode())
    except (ValueError, TypeError) as err:
        raise ValueError(f"is not a PEM public key ({err})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("is not an ECDSA P-256 public key (cosign's default key type)")
    return key


_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]{0,62}")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
MAX_NAME = 253
"""The longest `metadata.name` (a DNS subdomain's length)."""


def _kind(value: str) -> str:
    if not _KIND.fullmatch(value):
        raise ValueError(f"{_subject(value)} is not a kind (letters and digits: Deployment)")
    return value


def _namespace(value: str) -> str:
    if not _DNS_LABEL.fullmatch(value):
        raise ValueError(
            f"{_subject(value)} is not a namespace (at most 63 lower-case letters, digits and '-')"
        )
    return value


def _name_glob(value: str) -> str:
    if (
        not value
        or len(value) > MAX_NAME
        or not all(c.isprintable() and not c.isspace() for c in value)
    ):
        raise ValueError(
            f"{_subject(value)} is not a name or a glob of names (1 to {MAX_NAME} "
            "characters, no spaces or control characters: *-exporter)"
        )
    return value


def _public_key(value: str) -> str:
    load_public_key(value)
    return value.strip()


def _number(value: Any) -> Any:
    """A JSON number, as the engine's schema of the policy's config wants one: pydantic
    alone would read the text "10" as 10 and `true` as 1, and the checker would pass a file
    `pulumi preview` then refuses. Integral doubles stay: the engine sends every number as
    one."""
    if isinstance(value, bool | str):
        raise ValueError(f"input should be a number (got {json_word(value)})")
    return value


JsonNumber = BeforeValidator(_number)
CpuQuantity = Annotated[str, AfterValidator(_cpu)]
MemoryQuantity = Annotated[str, AfterValidator(_memory)]
RegistryPrefix = Annotated[str, AfterValidator(_registry_prefix)]
Kind = Annotated[str, AfterValidator(_kind)]
Namespace = Annotated[str, AfterValidator(_namespace)]
NameGlob = Annotated[str, AfterValidator(_name_glob)]
PublicKeyPem = Annotated[str, AfterValidator(_public_key)]
Port = Annotated[int, JsonNumber, Field(ge=1, le=65535)]
Text = Annotated[str, Field(min_length=1)]


# --- resource matching ---------------------------------------------------------------


@dataclass(frozen=True)
class ResourceIdentity:
    """What a selector in the config can match a resource by."""

    kind: str
    namespace: str | None
    name: str
    labels: Mapping[str, str]


class ResourceMatch(CamelModel):
    """Selects resources by kind, namespace, name (a glob) and labels; all given must match."""

    kind: Kind | None = Field(None, description="Kind, e.g. `Deployment`.")
    namespace: Namespace | None = Field(None, description="Namespace (exact; unset is `default`).")
    name: NameGlob | None = Field(None, description="`metadata.name`, a glob such as `*-exporter`.")
    labels: dict[str, str] = Field(default_factory=dict, description="Labels that must all match.")

    @model_validator(mode="after")
    def _selects_something(self) -> ResourceMatch:
        if self.kind is None and self.namespace is None and self.name is None and not self.labels:
            raise ValueError("set at least one of kind, namespace, name or labels")
        return self

    def matches(self, resource: ResourceIdentity) -> bool:
        return (
            (self.kind is None or self.kind == resource.kind)
            # Unset is `default`, as the API server reads a namespaced resource without one.
            and (self.namespace is None or self.namespace == (resource.namespace or "default"))
            and (self.name is None or fnmatch.fnmatchcase(resource.name, self.name))
            and all(resource.labels.get(k) == v for k, v in self.labels.items())
        )


class Exemption(ResourceMatch):
    """Resources a policy does not check, and why (the reason is for reviewers)."""

    reason: Text = Field(description="Why these resources may break the policy.")


# --- settings per policy -------------------------------------------------------------


class PolicySettings(CamelModel):
    """What every policy accepts: exemptions."""

    exclude: list[Exemption] = Field(
        default_factory=list, description="Resources this policy does not check, with a reason."
    )

    def exempts(self, resource: ResourceIdentity) -> bool:
        return any(rule.matches(resource) for rule in self.exclude)


class ResourceCapsSettings(PolicySettings):
    max_cpu: CpuQuantity = Field("4", description="Largest CPU limit of one container.")
    max_memory: MemoryQuantity = Field("8Gi", description="Largest memory limit of one container.")


class HostPortSettings(PolicySettings):
    allowed_host_ports: list[Port] = Field(
        default_factory=list, description="Host ports containers may bind (none by default)."
    )


class RegistrySettings(PolicySettings):
    allowed_registries: list[RegistryPrefix] = Field(
        default_factory=list,
        description="Registries (`host[:port]`) or registry/path prefixes images may come from.",
    )


class SignatureSettings(PolicySettings):
    public_keys: list[PublicKeyPem] = Field(
        default_factory=list,
        description="PEM ECDSA P-256 public keys (cosign.pub); a signature by any one passes.",
    )
    timeout_seconds: Annotated[float, JsonNumber] = Field(
        10, gt=0, le=60, allow_inf_nan=False, description="Timeout of each request to a registry."
    )


MAX_AGE_HOURS = 24 * 366
"""A scan older than a year admits nothing a scan is for; and a bound keeps the age a
`timedelta` can hold (`1e12` hours, or JSON's `Infinity`, would overflow it at every check)."""


class VulnerabilityScanSettings(SignatureSettings):
    """The keys that sign the attestations and the registry timeout, as for signatures;
    then how recent and how clean the scan must be."""

    max_age_hours: Annotated[float, JsonNumber] = Field(
        168,
        gt=0,
        le=MAX_AGE_HOURS,
        allow_inf_nan=False,
        description="How long ago the newest scan may have finished (scanFinishedOn).",
    )
    fail_on: ThresholdName = Field(
        "high", description="Findings at or above this severity refuse the image."
    )
    unknown_severity: SeverityName = Field(
        "critical", description="What a finding the scanner does not rate counts as."
    )


MAX_REPLICAS = 2**31 - 1
"""The most a Deployment's `replicas` (an int32) can say."""


class ReplicaSettings(PolicySettings):
    min_replicas: Annotated[int, JsonNumber] = Field(
        2, ge=1, le=MAX_REPLICAS, description="Fewest replicas a Deployment may run."
    )


class LoadBalancerSettings(PolicySettings):
    allowed: list[ResourceMatch] = Field(
        default_factory=lambda: [ResourceMatch(labels={"app.kubernetes.io/name": "traefik"})],
        description="Services that may be of type LoadBalancer: the gateway's.",
    )


class IngressRouteSettings(PolicySettings):
    entry_points: list[Text] = Field(
        default_factory=lambda: ["websecure"],
        min_length=1,
        description="Entrypoints routes may attach to.",
    )
    require_tls: StrictBool = Field(True, description="Routes must set `tls`.")


class EnvSecretSettings(PolicySettings):
    allowed_names: list[Text] = Field(
        default_factory=list,
        description="Variable names that look secret but are not (`CACHE_KEY_PREFIX`).",
    )


# --- parsing -------------------------------------------------------------------------


@dataclass(frozen=True)
class SettingsProblem:
    """One bad value: where (key path) and why."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class SettingsError:
    """A policy's config is invalid; the policy reports this instead of checking."""

    policy: str
    problems: tuple[SettingsProblem, ...]

    def __str__(self) -> str:
        return "invalid policy config: " + "; ".join(
            f"{self.policy}.{p}" if p.path else f"{self.policy}: {p.message}" for p in self.problems
        )


def settings_problems(model: type[CamelModel], config: Mapping[str, Any]) -> list[SettingsProblem]:
    """Every problem with `config` as properties of `model`, each with its key path."""
    try:
        model.model_validate(dict(config))
    except ValidationError as err:
        return [_problem(model, error) for error in err.errors()]
    return []


SettingsT = TypeVar("SettingsT", bound=BaseModel)

_CACHE: dict[tuple[str, type, str], Any] = {}
_CACHE_LOCK = threading.Lock()


def parse_settings(
    policy: str, model: type[SettingsT], config: Mapping[str, Any]
) -> SettingsT | SettingsError:
    """`config` as `model`, or the SettingsError to report; parsed once per distinct config."""
    text = json.dumps(config, sort_keys=True, default=str) if config else ""
    key = (policy, model, text)
    found = _CACHE.get(key)
    if found is None:
        try:
            found = model.model_validate(dict(config))
        except ValidationError as err:
            found = SettingsError(policy, tuple(_problem(model, e) for e in err.errors()))
        with _CACHE_LOCK:
            _CACHE[key] = found
    return found


def _problem(model: type[BaseModel], error: Mapping[str, Any]) -> SettingsProblem:
    loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        known = _known_keys(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
        return SettingsProblem(key_path(loc), f"unknown key ({hint})")
    if kind == "missing":
        return SettingsProblem(key_path(loc), "is required")
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind != "value_error":
        message = f"{message[:1].lower()}{message[1:]} (got {json_word(error.get('input'))})"
    return SettingsProblem(key_path(loc), message)


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The camelCase keys of the model found at `loc` inside `model`."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = {f.alias or n: f for n, f in current.model_fields.items()}
        inner = _model_in(fields[part].annotation) if part in fields else None
        if inner is None:
            return []
        current = inner
    return [f.alias or n for n, f in current.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def json_word(value: Any, limit: int = 60) -> str:
    """`value` as a problem shows it: a config file is JSON, so its `null`, `true` and
    `false` are shown as JSON writes them, not as Python's `None`, `True`, `False`; text
    and the rest as written (shortened past `limit`)."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, str) and "-----BEGIN" in value:
        # Key material, perhaps a private key pasted for a public one: named, never shown.
        if "PRIVATE KEY" in value:
            return "a PEM private key, not shown: configure the public key (cosign.pub)"
        return "PEM text, not shown"
    return _shorten(value, limit)


def _subject(value: Any) -> str:
    """`value` at the head of a problem's message (`'1GB' is not a ...`): as `json_word`
    shows it, key material named in words of its own."""
    word = json_word(value)
    return word if word[:1] in ("'", '"') else f"the value ({word})"


def _shorten(value: Any, limit: int = 60) -> str:
    try:
        text = repr(value)
    except RecursionError:
        return "a list or object nested too deeply to show"
    except ValueError:  # an integer past Python's conversion limit (4300 digits)
        return "a number too long to show"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- the engine's view ---------------------------------------------------------------


@functools.cache
def engine_schema(model: type[CamelModel]) -> PolicyConfigSchema:
    """The JSON schema of `model`'s properties, self-contained (the engine resolves no refs)."""
    schema = model.model_json_schema(by_alias=True)
    definitions = schema.get("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {k: inline(v) for k, v in node.items() if k != "title"}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    properties = {name: inline(prop) for name, prop in schema["properties"].items()}
    return PolicyConfigSchema(properties=properties, required=schema.get("required") or None)
