"""Environment profiles: the defaults each environment lays under the stack file, and the
rules it sets over it (fewest replicas, whether mutable image tags are allowed)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Profile:
    """What an environment implies: defaults under the stack file, and rules over it."""

    defaults: Mapping[str, Any]
    service_defaults: Mapping[str, Any]
    min_replicas: int
    mutable_tags_allowed: bool


# The definitions of the custom resources the program creates, from the schema-only copies
# vendored in the project (docs/upstream.md), and no others: on the embedded cluster no
# controller acts on custom resources; the definitions are there so that the API server
# validates what the program creates. Each one installed is stored in the stack's state
# three times (the inputs, the provider's copy of them in the outputs, the live object) and
# rewritten with every checkpoint. tests/test_crds.py fails when the program creates a kind
# missing here, or when one here is never created.
LOCAL_CRD_SOURCES = (
    "upstream/crds/traefik/traefik.io_ingressroutes.yaml",
    "upstream/crds/traefik/traefik.io_middlewares.yaml",
    "upstream/crds/traefik/traefik.io_tlsoptions.yaml",
    "upstream/crds/traefik/traefik.io_traefikservices.yaml",
    "upstream/crds/cert-manager/cert-manager.io_certificates.yaml",
    "upstream/crds/cert-manager/cert-manager.io_clusterissuers.yaml",
    "upstream/crds/prometheus-operator/monitoring.coreos.com_prometheusrules.yaml",
    "upstream/crds/prometheus-operator/monitoring.coreos.com_servicemonitors.yaml",
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
            "crds": {"install": True, "sources": list(LOCAL_CRD_SOURCES)},
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


def with_profile(raw: Mapping[str, Any], profile: Profile) -> dict[str, Any]:
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
