"""Pure helpers that shape Kubernetes objects the way go-platform deploys them.

Plain values in, plain dicts out (camelCase, as the API server reads them), so every
component shares one definition of "a hardened pod" and tests read them directly.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

from go_platform_core.units import parse_quantity

Track = Literal["stable", "canary"]
TRACKS: tuple[Track, ...] = ("stable", "canary")

NONROOT_UID = 65532
"""The uid of distroless `nonroot` images, which our Go services run as."""

MONITORING_LABEL = ("go-platform/scrape", "true")
"""Carried by every ServiceMonitor go-platform creates; Prometheus selects on it."""


def monitoring_labels(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Labels of a ServiceMonitor or PrometheusRule: the platform label Prometheus selects
    on, plus any a Prometheus of the cluster's own selects by (`release: ...`)."""
    return {MONITORING_LABEL[0]: MONITORING_LABEL[1], **(extra or {})}


CONFIG_CHECKSUM_ANNOTATION = "go-platform/config-checksum"

OTLP_PORTS = (4317, 4318)
"""The OTLP receiver's gRPC and HTTP ports."""

HTTP_PORT_NAME = "http"
ADMIN_PORT_NAME = "admin"

SHUTDOWN_DELAY_SECONDS = 5
SHUTDOWN_TIMEOUT_SECONDS = 20
SPAN_FLUSH_SECONDS = 5
"""The most a service spends flushing its pending spans after draining (the greeter's)."""
# Kubernetes kills the pod after this long; leave room past the service's own shutdown,
# whose worst case (requests overrunning, a collector not answering) is all three.
TERMINATION_GRACE_SECONDS = (
    SHUTDOWN_DELAY_SECONDS + SHUTDOWN_TIMEOUT_SECONDS + SPAN_FLUSH_SECONDS + 5
)

GOMEMLIMIT_SHARE = Decimal("0.9")
"""GOMEMLIMIT as a share of the memory limit: the rest is headroom for non-heap memory."""

_LABEL_VALUE_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def workload_name(service: str, track: Track) -> str:
    """Name of the Deployment and Service of one track of a service."""
    return service if track == "stable" else f"{service}-{track}"


def label_value(text: str) -> str:
    """`text` made into a valid label value (63 characters, alphanumeric at both ends)."""
    return _LABEL_VALUE_UNSAFE.sub("-", text)[:63].strip("-_.")


def selector_labels(service: str, track: Track) -> dict[str, str]:
    """The labels a track's Deployment selects on; stable across versions, never changed."""
    return {
        "app.kubernetes.io/name": service,
        "app.kubernetes.io/instance": workload_name(service, track),
    }


def standard_labels(service: str, track: Track, version: str, environment: str) -> dict[str, str]:
    """Every object of a service carries these: the recommended `app.kubernetes.io/*` set."""
    return {
        **selector_labels(service, track),
        "app.kubernetes.io/version": label_value(version),
        "app.kubernetes.io/component": "service",
        "app.kubernetes.io/part-of": "go-platform",
        "app.kubernetes.io/managed-by": "pulumi",
        "go-platform/environment": environment,
        "go-platform/track": track,
    }


SKIP_AWAIT_ANNOTATION = "pulumi.com/skipAwait"


def service_annotations(environment: str) -> dict[str, str]:
    """Annotations of a workload's Service.

    On `local` (the embedded control plane) no container runs: kwok marks pods Ready, and a
    Service's endpoints follow from the Deployment's pods, which `up` awaits. The kubernetes
    provider's Service await settles for a fixed 10 s after the endpoints appear, which there
    proves nothing more, so it is skipped. Elsewhere it stays: it catches a selector that
    matches no ready pod.
    """
    return {SKIP_AWAIT_ANNOTATION: "true"} if environment == "local" else {}


def namespace_labels(environment: str, enforce: str = "restricted") -> dict[str, str]:
    """Pod Security labels: `enforce` what the namespace's pods can meet (restricted for
    our services, baseline for third-party charts), warn and audit at restricted."""
    return {
        "pod-security.kubernetes.io/enforce": enforce,
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
        "app.kubernetes.io/part-of": "go-platform",
        "go-platform/environment": environment,
    }


def pod_security_context(
    uid: int = NONROOT_UID, *, fs_group_change_policy: str | None = None
) -> dict[str, Any]:
    """Pod-level half of the restricted Pod Security Standard, running as `uid` (its group
    and the volumes' group too); `fs_group_change_policy` `OnRootMismatch` hands a volume
    to the group only when its root does not match already."""
    context: dict[str, Any] = {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if fs_group_change_policy:
        context["fsGroupChangePolicy"] = fs_group_change_policy
    return context


def container_security_context(uid: int | None = NONROOT_UID) -> dict[str, Any]:
    """Container-level half of the restricted Pod Security Standard, read-only root; as
    `uid` (None: as the pod says)."""
    context: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if uid is not None:
        context |= {"runAsNonRoot": True, "runAsUser": uid}
    return context


def probes(port_name: str) -> dict[str, dict[str, Any]]:
    """Startup, readiness and liveness probes on the service's health endpoints.

    Startup allows a minute before liveness starts counting, so a slow start is not a
    crash loop; readiness reacts within seconds, liveness only to a hang that lasts.
    """

    def http_get(path: str) -> dict[str, Any]:
        return {"path": path, "port": port_name}

    return {
        "startupProbe": {
            "httpGet": http_get("/healthz"),
            "periodSeconds": 2,
            "failureThreshold": 30,
            "timeoutSeconds": 2,
        },
        "readinessProbe": {
            "httpGet": http_get("/readyz"),
            "periodSeconds": 5,
            "failureThreshold": 2,
            "timeoutSeconds": 2,
        },
        "livenessProbe": {
            "httpGet": http_get("/healthz"),
            "periodSeconds": 10,
            "failureThreshold": 3,
            "timeoutSeconds": 2,
        },
    }


def deployment_strategy(*, recreate: bool) -> dict[str, Any]:
    """Roll one extra pod at a time, never below the wanted count; or, for a workload
    whose ReadWriteOnce volume allows one writer, stop the old pod before the new one."""
    if recreate:
        return {"type": "Recreate"}
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def topology_spread(selector: Mapping[str, str]) -> list[dict[str, Any]]:
    """Spread a Deployment's pods over zones and nodes, preferring but not forcing it.

    `matchLabelKeys` on the pod-template hash keeps a rolling update's new pods from
    being counted against the old ones.
    """
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(selector)},
            "matchLabelKeys": ["pod-template-hash"],
        }
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
    ]


def go_memory_limit(memory_limit: str) -> str:
    """GOMEMLIMIT for a container limit: a soft target below it, in whole MiB."""
    mebibytes = int(parse_quantity(memory_limit) * GOMEMLIMIT_SHARE / 2**20)
    return f"{max(mebibytes, 1)}MiB"


def config_checksum(env: Mapping[str, str], secret_env_names: Iterable[str]) -> str:
    """A digest of what a pod's configuration holds, for the pod-template annotation.

    Secret values are not part of it (they would leak through the digest); their Secret
    is replaced, and so the pods rolled, when a value changes.
    """
    payload = json.dumps({"env": dict(env), "secretEnv": sorted(secret_env_names)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _port_rules(ports: Sequence[int | str]) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in ports]


PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": "prometheus"}
"""A label the Prometheus operator gives every Prometheus pod it runs (of its selector)."""


def network_policy_spec(
    selector: Mapping[str, str],
    *,
    gateway_namespace: str | None,
    monitoring_namespace: str | None,
    admin_port_name: str,
    scraper_labels: Mapping[str, str] | None = None,
    callers: Sequence[str],
    egress: Sequence[Mapping[str, Any]],
    client_namespaces: Sequence[str] = (),
    otlp_namespace: str | None,
) -> dict[str, Any]:
    """Default-deny NetworkPolicy for one service, opened only where the config says.

    Ingress: the gateway (when routed), callers in the namespace and client namespaces
    reach the API port;
    Prometheus (when monitored) reaches the admin port: the pods of `monitoring_namespace`
    labelled `scraper_labels`, or all of them where its labels are not known (a cluster's
    own). Where the admin port is the API port (a program serving both on one), the rest of
    that namespace (Grafana, Loki, Alloy) must not reach the API. Egress: DNS, the OTLP
    receiver,
    and each declared rule (`{"service"|"namespace"|"cidr": ..., "ports": [...]}`).
    """

    def from_namespace(name: str) -> dict[str, Any]:
        return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}

    ingress: list[dict[str, Any]] = []
    if gateway_namespace:
        ingress.append(
            {"from": [from_namespace(gateway_namespace)], "ports": _port_rules([HTTP_PORT_NAME])}
        )
    if callers:
        ingress.append(
            {
                "from": [
                    {
                        "podSelector": {
                            "matchExpressions": [
                                {
                                    "key": "app.kubernetes.io/name",
                                    "operator": "In",
                                    "values": sorted(callers),
                                }
                            ]
                        }
                    }
                ],
                "ports": _port_rules([HTTP_PORT_NAME]),
            }
        )
    for namespace in client_namespaces:
        ingress.append(
            {"from": [from_namespace(namespace)], "ports": _port_rules([HTTP_PORT_NAME])}
        )
    if monitoring_namespace:
        scraper = from_namespace(monitoring_namespace)
        if scraper_labels:
            scraper["podSelector"] = {"matchLabels": dict(scraper_labels)}
        ingress.append({"from": [scraper], "ports": _port_rules([admin_port_name])})

    dns = [{"protocol": proto, "port": 53} for proto in ("UDP", "TCP")]
    egress_rules: list[dict[str, Any]] = [{"to": [from_namespace("kube-system")], "ports": dns}]
    if otlp_namespace:
        egress_rules.append(
            {"to": [from_namespace(otlp_namespace)], "ports": _port_rules(list(OTLP_PORTS))}
        )
    for rule in egress:
        if rule.get("service"):
            peer = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": rule["service"]}}}
        elif rule.get("namespace"):
            peer = from_namespace(rule["namespace"])
        else:
            peer = {"ipBlock": {"cidr": rule["cidr"]}}
        entry: dict[str, Any] = {"to": [peer]}
        if rule.get("ports"):
            entry["ports"] = _port_rules(rule["ports"])
        egress_rules.append(entry)

    return {
        "podSelector": {"matchLabels": dict(selector)},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": ingress,
        "egress": egress_rules,
    }


URL_SCHEME_PORTS = {"https": 443, "http": 80}
"""The port a URL without one means (a gRPC client dialing `https://host` uses 443 too)."""


def endpoint_host_port(endpoint: str, default_port: int) -> tuple[str, int]:
    """The host and port of `endpoint`, `host:port` or a URL: without a port, the URL's
    scheme's, else `default_port` (also for a port that is not one: the caller's config
    checks name that)."""
    parsed = urllib.parse.urlsplit(endpoint if "://" in endpoint else f"//{endpoint}")
    try:
        port = parsed.port or URL_SCHEME_PORTS.get(parsed.scheme, default_port)
    except ValueError:
        port = default_port
    return parsed.hostname or "", port


def endpoint_egress(endpoint: str, default_port: int) -> dict[str, Any] | None:
    """An egress rule (as `network_policy_spec` takes them) to `endpoint`, `host:port` or a
    URL, on its port (`default_port` when it names none).

    A Service written by its cluster name (`<name>.<namespace>.svc[.<cluster domain>]`, or
    one of its pods, `<pod>.<name>.<namespace>.svc...`) is allowed by its namespace: an
    ipBlock is meant for addresses outside the cluster, and some network plugins never
    match pods with one. An address or a name of three labels or more is outside the
    cluster, allowed as any address. None for a short name (`collector`, `tempo.obs`),
    whose namespace only the resolver's search path knows.
    """
    host, port = endpoint_host_port(endpoint, default_port)
    labels = host.split(".")
    if "svc" in labels[2:]:
        return {"namespace": labels[labels.index("svc", 2) - 1], "ports": [port]}
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if len(labels) < 3:
            return None
        address = None
    # An IPv4 block matches no IPv6 address: an IPv6 endpoint gets the IPv6 one.
    everything = "::/0" if address is not None and address.version == 6 else "0.0.0.0/0"
    return {"cidr": everything, "ports": [port]}


def route_match(host: str, path_prefix: str) -> str:
    """Traefik rule matching a host and, below "/", a path prefix."""
    rule = f"Host(`{host}`)"
    return rule if path_prefix == "/" else f"{rule} && PathPrefix(`{path_prefix}`)"


def certificate_spec(secret_name: str, host: str, cluster_issuer: Any) -> dict[str, Any]:
    """A cert-manager Certificate for one host: ECDSA P-256, key rotated on renewal."""
    return {
        "secretName": secret_name,
        "dnsNames": [host],
        "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": cluster_issuer},
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
    }
