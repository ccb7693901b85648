"""Checks on every pod template a program creates, Helm chart children included."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

# Pulumi type token -> path from the resource's props to its pod spec.
POD_SPEC_PATHS: Mapping[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec inside a workload's props, or None for anything that has none."""
    path = POD_SPEC_PATHS.get(resource_type)
    if path is None:
        return None
    node: Any = props
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else None


def containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(`containers[0]`-style field path, container) for every container kind of a pod."""
    for field in CONTAINER_LISTS:
        for index, container in enumerate(spec.get(field) or []):
            yield f"{field}[{index}]", container


def _check_resources(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    for where, container in containers(spec):
        resources = container.get("resources") or {}
        for section in ("requests", "limits"):
            missing = [r for r in ("cpu", "memory") if not (resources.get(section) or {}).get(r)]
            if missing:
                report_violation(
                    f"container {container.get('name')!r} ({where}): resources.{section} has no "
                    f"{' or '.join(missing)}; expected cpu and memory {section}",
                    None,
                )


container_resources_required = ResourceValidationPolicy(
    name="container-resources-required",
    description="Every container sets cpu and memory requests and limits.",
    validate=_check_resources,
)

POLICIES = [container_resources_required]
