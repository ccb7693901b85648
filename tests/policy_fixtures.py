"""Fixture resources and runners for the policy tests.

Policies run through the SDK's real argument types (`ResourceValidationArgs`,
`StackValidationArgs`) with a config, exactly as the analyzer server calls them. Fixtures
start from one hardened Deployment that passes every policy (`good_pod_spec`) and change
only what a case is about (`changed`), so each case states the one field it tests.

A `Case` is one fixture run through one policy with the messages it must produce; every
policy has at least one passing and two failing cases (`tests/test_policies_coverage.py`).
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from go_platform_policies import POLICIES
from go_platform_policies.core import POD_SPEC_PATHS

POLICIES_BY_NAME = {p.name: p for p in POLICIES}

DIGEST = "sha256:" + "a1" * 32
OTHER_DIGEST = "sha256:" + "b2" * 32
IMAGE = f"registry.example.com/acme/app:1.4.2@{DIGEST}"

OMIT: Any = object()
"""A `changed` value that deletes the key."""

OPTIONS = PolicyResourceOptions(
    protect=False,
    ignore_changes=[],
    delete_before_replace=None,
    aliases=[],
    custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
    additional_secret_outputs=[],
)


# --- fixture resources ---------------------------------------------------------------


def good_container(name: str = "app", **overrides: Any) -> dict[str, Any]:
    """A container that passes every policy: sized, probed, hardened, signed image;
    `overrides` replace keys (OMIT removes one)."""
    container: dict[str, Any] = {
        "name": name,
        "image": IMAGE,
        "ports": [{"name": "http", "containerPort": 8080}],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "256Mi"},
        },
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    container.update(overrides)
    return {k: v for k, v in container.items() if v is not OMIT}


def good_pod_spec(**overrides: Any) -> dict[str, Any]:
    """A pod spec that passes every policy."""
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "runAsGroup": 65532,
            "fsGroup": 65532,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [good_container()],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
    }
    spec.update(overrides)
    return {k: v for k, v in spec.items() if v is not OMIT}


LABELS = {"app.kubernetes.io/name": "app", "app.kubernetes.io/instance": "app"}


def workload(
    resource_type: str = "kubernetes:apps/v1:Deployment",
    spec: Mapping[str, Any] | None = None,
    *,
    name: str = "app",
    namespace: str = "apps",
    replicas: int | None = 1,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Props of a workload of `resource_type` running the pod `spec` (good by default)."""
    pod_labels = dict(labels or LABELS)
    template: dict[str, Any] = {
        "metadata": {
            "labels": pod_labels,
            **({"annotations": dict(annotations)} if annotations else {}),
        },
        "spec": copy.deepcopy(dict(spec if spec is not None else good_pod_spec())),
    }
    metadata = {"name": name, "namespace": namespace, "labels": pod_labels}
    kind = resource_type.rsplit(":", 1)[-1]
    if kind == "Pod":
        return {"metadata": {**metadata, **template["metadata"]}, "spec": template["spec"]}
    if kind == "CronJob":
        return {
            "metadata": metadata,
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}},
        }
    spec_props: dict[str, Any] = {"template": template}
    if kind not in ("Job", "DaemonSet"):
        spec_props["selector"] = {"matchLabels": pod_labels}
        if replicas is not None:
            spec_props["replicas"] = replicas
    return {"metadata": metadata, "spec": spec_props}


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def set_path(document: Any, path: str, value: Any) -> None:
    """Set (or with OMIT delete) the value at `a.b[0].c`, creating mappings on the way;
    an index one past the end of a list appends."""
    steps = [(m[1], m[2]) for m in _STEP.finditer(path)]
    node = document
    for (key, index), (next_key, _) in itertools.pairwise(steps):
        node = (
            node[int(index)] if index is not None else node.setdefault(key, {} if next_key else [])
        )
    key, index = steps[-1]
    if index is not None and int(index) == len(node):
        node.append(value)
    elif index is not None:
        node[int(index)] = value
    elif value is OMIT:
        node.pop(key, None)
    else:
        node[key] = value


def changed(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of `base` with each `path: value` of `changes` applied."""
    document = copy.deepcopy(dict(base))
    for path, value in changes.items():
        set_path(document, path, value)
    return document


def pod(changes: Mapping[str, Any] | None = None, **workload_args: Any) -> dict[str, Any]:
    """A Deployment whose good pod spec has `changes` (paths inside the pod spec)."""
    return workload(spec=changed(good_pod_spec(), changes or {}), **workload_args)


# --- running policies ----------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """One fixture resource: type token, props and logical name."""

    type: str
    props: Mapping[str, Any]
    name: str = "fixture"

    @property
    def urn(self) -> str:
        return f"urn:pulumi:test::go-platform::{self.type}::{self.name}"


def deployment(changes: Mapping[str, Any] | None = None, **workload_args: Any) -> Resource:
    """A Deployment resource whose good pod spec has `changes`."""
    return Resource("kubernetes:apps/v1:Deployment", pod(changes, **workload_args))


def resource_args(
    resource: Resource, config: Mapping[str, Any] | None = None
) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        resource_type=resource.type,
        props=resource.props,
        urn=resource.urn,
        name=resource.name,
        opts=OPTIONS,
        provider=None,
        config=dict(config or {}),
    )


def check_resource(
    policy: ResourceValidationPolicy, resource: Resource, config: Mapping[str, Any] | None = None
) -> list[str]:
    """The messages `policy` reports for `resource`."""
    found: list[str] = []
    policy.validate(
        resource_args(resource, config), lambda message, urn=None: found.append(message)
    )
    return found


def check_stack(
    policy: StackValidationPolicy,
    resources: Sequence[Resource],
    config: Mapping[str, Any] | None = None,
) -> list[str]:
    """The messages `policy` reports for the stack, each as `<resource name>: <message>`."""
    by_urn = {r.urn: r.name for r in resources}
    stack = [
        PolicyResource(r.type, r.props, r.urn, r.name, OPTIONS, None, None, [], {})
        for r in resources
    ]
    found: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(f"{by_urn[urn]}: {message}" if urn else message)

    policy.validate(StackValidationArgs(stack, dict(config or {})), report)
    return found


def remediated(
    policy: ResourceValidationPolicy, resource: Resource, config: Mapping[str, Any] | None = None
) -> Mapping[str, Any] | None:
    """The props `policy`'s remediation returns for a copy of `resource`, or None."""
    copied = Resource(resource.type, copy.deepcopy(dict(resource.props)), resource.name)
    return policy.remediate(resource_args(copied, config))


@dataclass(frozen=True)
class Case:
    """One fixture through one policy, with exactly the messages it must report."""

    policy: str
    id: str
    resources: tuple[Resource, ...]
    expected: tuple[str, ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def passes(self) -> bool:
        return not self.expected

    def __str__(self) -> str:
        return f"{self.policy}: {self.id}"


def case(
    policy: str,
    id: str,
    resources: Resource | Sequence[Resource],
    *expected: str,
    config: Mapping[str, Any] | None = None,
) -> Case:
    found = (resources,) if isinstance(resources, Resource) else tuple(resources)
    return Case(policy, id, found, tuple(expected), dict(config or {}))


def run_case(
    case: Case, policy: ResourceValidationPolicy | StackValidationPolicy | None = None
) -> list[str]:
    """The messages `case`'s policy (or `policy`, standing in for it) reports."""
    chosen = policy or POLICIES_BY_NAME[case.policy]
    if isinstance(chosen, StackValidationPolicy):
        return check_stack(chosen, case.resources, case.config)
    assert len(case.resources) == 1, f"{case}: a resource policy checks one resource"
    return check_resource(chosen, case.resources[0], case.config)


def wrap(resource_type: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Props of `resource_type` whose pod spec is `spec`, nothing else."""
    props: dict[str, Any] = {}
    node = props
    path = POD_SPEC_PATHS[resource_type]
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = dict(spec)
    return props
