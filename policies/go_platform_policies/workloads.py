"""Best practices every pod template follows: sized containers, probes, read-only roots.

Checked on every workload kind (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
ReplicationController, Job, CronJob), Helm chart children included, and on init and
ephemeral containers alike except where Kubernetes itself forbids the field there (probes);
the caps also on workloads' patches (core.workload_policy).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal

from pulumi_policy import Severity

from go_platform_policies.core import (
    BEST_PRACTICE,
    SECURITY,
    Container,
    Workload,
    field,
    show,
    workload_policy,
)
from go_platform_policies.settings import PolicySettings, ResourceCapsSettings
from go_platform_policies.shared import parse_quantity

RESOURCES = ("cpu", "memory")

# Pod kinds that run to completion: a readiness or liveness probe means little there.
BATCH_KINDS = frozenset({"Job", "CronJob"})

# The API server rejects resources on ephemeral (debug) containers; they are sized by the pod.
SIZED_CONTAINERS = ("initContainers", "containers")


def amount(text: object) -> Decimal | None:
    """The value of a quantity as the API server reads it (`"500m"`, `1`), None if unreadable."""
    if isinstance(text, bool) or text is None:
        return None
    try:
        return parse_quantity(str(text))
    except ValueError:
        return None


def _resources(container: Container, section: str) -> dict[str, object]:
    found = field(container.spec, "resources", section)
    return dict(found) if isinstance(found, Mapping) else {}


def check_resources_present(workload: Workload, _settings: PolicySettings) -> Iterator[str]:
    for container in workload.containers(SIZED_CONTAINERS):
        for section in ("requests", "limits"):
            values = _resources(container, section)
            for resource in RESOURCES:
                if values.get(resource) in (None, ""):
                    yield container.violation(
                        f"resources.{section}.{resource}", None, f"a {resource} {section[:-1]}"
                    )
                elif (found := amount(values[resource])) is None:
                    yield container.violation(
                        f"resources.{section}.{resource}",
                        values[resource],
                        "a Kubernetes quantity (250m, 1, 256Mi)",
                    )
                elif found <= 0:
                    # The API server takes a zero; the kubelet then sets no quota or cap.
                    yield container.violation(
                        f"resources.{section}.{resource}",
                        values[resource],
                        f"a {resource} {section[:-1]} above zero (zero means none)",
                    )


def check_limits_within_caps(workload: Workload, settings: ResourceCapsSettings) -> Iterator[str]:
    caps = {"cpu": settings.max_cpu, "memory": settings.max_memory}
    for container in workload.containers(SIZED_CONTAINERS):
        limits = _resources(container, "limits")
        for resource in RESOURCES:
            limit = amount(limits.get(resource))
            if limit is not None and limit > parse_quantity(caps[resource]):
                yield container.violation(
                    f"resources.limits.{resource}",
                    limits[resource],
                    f"at most {caps[resource]} (this environment's cap)",
                )


def check_requests_within_limits(workload: Workload, _settings: PolicySettings) -> Iterator[str]:
    for container in workload.containers(SIZED_CONTAINERS):
        requests, limits = _resources(container, "requests"), _resources(container, "limits")
        for resource in RESOURCES:
            request, limit = amount(requests.get(resource)), amount(limits.get(resource))
            if request is not None and limit is not None and request > limit:
                yield container.violation(
                    f"resources.requests.{resource}",
                    requests[resource],
                    f"at most the limit {show(limits[resource])}",
                )


def check_probes(workload: Workload, _settings: PolicySettings) -> Iterator[str]:
    if workload.kind in BATCH_KINDS:
        return
    # Init and ephemeral containers cannot have probes (the API server rejects them), except
    # restartable sidecars, which may but need not.
    for container in workload.containers(("containers",)):
        for probe in ("readinessProbe", "livenessProbe"):
            if not isinstance(container.spec.get(probe), Mapping):
                yield container.violation(probe, None, "an httpGet, grpc, tcpSocket or exec probe")


def check_read_only_root(workload: Workload, _settings: PolicySettings) -> Iterator[str]:
    for container in workload.containers():
        found = container.security.get("readOnlyRootFilesystem")
        if found is not True:
            yield container.violation(
                "securityContext.readOnlyRootFilesystem",
                found,
                "true (mount an emptyDir where the process must write)",
            )


container_resources_required = workload_policy(
    "container-resources-required",
    "Every container sets cpu and memory requests and limits.",
    check_resources_present,
    group=BEST_PRACTICE,
    severity=Severity.MEDIUM,
    remediation_steps=(
        "Set resources.requests and resources.limits for cpu and memory on every container "
        "(for a go-platform service: `services[].resources` in the stack file)."
    ),
)

container_limits_within_caps = workload_policy(
    "container-limits-within-caps",
    "Container cpu and memory limits stay within the environment's caps.",
    check_limits_within_caps,
    group=BEST_PRACTICE,
    severity=Severity.MEDIUM,
    settings=ResourceCapsSettings,
    remediation_steps=(
        "Lower the limit, or split the work over more replicas; raise maxCpu/maxMemory in "
        "policies/config/<env>.json only when the nodes can hold such a pod."
    ),
    patches=True,
)

container_requests_within_limits = workload_policy(
    "container-requests-within-limits",
    "Container requests are not above their limits.",
    check_requests_within_limits,
    group=BEST_PRACTICE,
    severity=Severity.MEDIUM,
    remediation_steps="Lower the request or raise the limit so that request <= limit.",
    patches=True,
)

container_probes_required = workload_policy(
    "container-probes-required",
    "Long-running containers have readiness and liveness probes.",
    check_probes,
    group=BEST_PRACTICE,
    severity=Severity.MEDIUM,
    remediation_steps=(
        "Add a readinessProbe (the service can take traffic) and a livenessProbe (the "
        "process is not hung); go-platform services serve /readyz and /healthz."
    ),
)

container_read_only_root_filesystem = workload_policy(
    "container-read-only-root-filesystem",
    "Containers run with a read-only root filesystem.",
    check_read_only_root,
    group=SECURITY,
    severity=Severity.MEDIUM,
    remediation_steps=(
        "Set securityContext.readOnlyRootFilesystem: true and mount an emptyDir volume "
        "where the process writes (/tmp)."
    ),
)

POLICIES = [
    container_resources_required,
    container_limits_within_caps,
    container_requests_within_limits,
    container_probes_required,
    container_read_only_root_filesystem,
]
