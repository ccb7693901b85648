"""The Go module proxy (Athens): models and their rules."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from go_platform_core.config.base import CamelModel, within_domain
from go_platform_core.config.common import (
    ADD_ON_RESOURCES,
    ObjectStorageSettings,
    Resources,
    key_pair_problems,
)
from go_platform_core.config.errors import Problem
from go_platform_core.config.types import (
    ByteQuantity,
    ConfigKey,
    DnsLabel,
    DomainName,
    ImageRef,
    ModulePattern,
    Whole,
    without_credentials,
)

_GOPROXY_LIST = ",|"
"""What separates the proxies of a GOPROXY list."""


class ModuleProxyS3Settings(ObjectStorageSettings):
    bucket: str = Field(description="Bucket holding the module cache.")


class ModuleProxyStorageSettings(CamelModel):
    type: Literal["disk", "s3"] = Field(description="Where Athens keeps modules.")
    volume: Literal["persistentVolumeClaim", "emptyDir"] = Field(
        "persistentVolumeClaim",
        description="`disk` only: a claim that survives restarts, or scratch space.",
    )
    size: ByteQuantity = Field("10Gi", description="`disk` only: size of the volume.")
    storage_class: str | None = Field(
        None, description="`disk` only: StorageClass of the claim; the default if unset."
    )
    s3: ModuleProxyS3Settings | None = Field(None, description="`s3` only: the bucket.")


class SingleFlightSettings(CamelModel):
    type: Literal["memory", "redis", "etcd"] = Field(
        "memory",
        description="How replicas agree on who fetches a module: `memory` for one replica.",
    )
    endpoint: (
        Annotated[
            str,
            without_credentials(
                "name the Redis password with `passwordSecret` (a secret config key) instead",
                bare=True,
                separators=",",
            ),
        ]
        | None
    ) = Field(None, description="Redis `host:port` or etcd endpoints (comma-separated).")
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
    url: Annotated[str, without_credentials(separators=_GOPROXY_LIST, bare=True)] | None = Field(
        None,
        description="GOPROXY for image builds when `enabled` is false; with Athens, its "
        "in-cluster URL is used.",
    )
    namespace: DnsLabel = Field(
        "module-proxy",
        description="Namespace of Athens: one of its own (no other part's), not `default` or "
        "`kube-*`.",
    )
    image: ImageRef = Field("gomods/athens:v0.18.0", description="Athens image.")
    replicas: Whole = Field(ge=1, description="Athens pods; more than one needs `s3` storage.")
    resources: Resources = Field(
        default_factory=lambda: Resources.model_validate(ADD_ON_RESOURCES),
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
    upstream: (
        Annotated[
            str,
            without_credentials(
                "a login to the upstream goes in the netrc of `credentials.netrcSecret` "
                "(a secret config key)",
                bare=True,
                separators=_GOPROXY_LIST,
            ),
        ]
        | None
    ) = Field(
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


def module_proxy_problems(proxy: ModuleProxySettings, domain: str) -> list[Problem]:
    """Rules on the module proxy's settings; its host lies within `domain`."""
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
    if proxy.public_mode in ("redirect", "async_redirect") and not proxy.upstream:
        problems.append(
            Problem(
                f"{at}.upstream",
                f"is required with publicMode {proxy.public_mode!r}: the proxy clients are "
                "redirected to",
            )
        )
    if storage.s3:
        problems += key_pair_problems(f"{at}.storage.s3", storage.s3)
    credentials = proxy.credentials
    if credentials.ssh_key_secret and not credentials.ssh_known_hosts:
        problems.append(
            Problem(
                f"{at}.credentials.sshKnownHosts",
                "is required with `sshKeySecret`, so git can check the host it talks to",
            )
        )
    if proxy.host and not within_domain(proxy.host, domain):
        problems.append(Problem(f"{at}.host", f"{proxy.host!r} is outside the domain {domain!r}"))
    return problems
