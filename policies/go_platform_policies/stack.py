"""Checks that need the whole stack: budgets, replicas, network policies, secret values.

Each joins resources as Kubernetes would: a PodDisruptionBudget or NetworkPolicy applies to
the pods its selector matches in its own namespace; an autoscaler owns the replica count of
the Deployment its `scaleTargetRef` names; `envFrom` copies a ConfigMap's keys into the
environment. Resources without a namespace are in `default`, as the API server would put them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import Severity

from go_platform_policies.core import (
    BEST_PRACTICE,
    SECURITY,
    StackResource,
    Workload,
    field,
    items,
    show,
    stack_policy,
)
from go_platform_policies.settings import EnvSecretSettings, PolicySettings, ReplicaSettings

PDB_TYPE = "kubernetes:policy/v1:PodDisruptionBudget"
NETWORK_POLICY_TYPE = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
CONFIG_MAP_TYPE = "kubernetes:core/v1:ConfigMap"
HPA_TYPES = frozenset(
    {
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "kubernetes:autoscaling/v1:HorizontalPodAutoscaler",
    }
)
REPLICATED_KINDS = frozenset({"Deployment", "StatefulSet"})


# --- pure helpers --------------------------------------------------------------------


def namespace_of(resource: StackResource) -> str:
    return resource.identity.namespace or "default"


def selector_matches(selector: Any, labels: Mapping[str, Any]) -> bool:
    """Whether a LabelSelector selects `labels` (an empty selector selects every pod,
    a missing one none), with the `In`, `NotIn`, `Exists` and `DoesNotExist` operators."""
    if not isinstance(selector, Mapping):
        return False
    match_labels = selector.get("matchLabels")
    if isinstance(match_labels, Mapping) and any(
        labels.get(k) != v for k, v in match_labels.items()
    ):
        return False
    for expression in items(selector.get("matchExpressions")):
        key, operator = field(expression, "key"), field(expression, "operator")
        values = list(items(field(expression, "values")))
        present = key in labels
        satisfied = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(operator, False)
        if not satisfied:
            return False
    return True


def template_labels(workload: Workload) -> Mapping[str, Any]:
    labels = workload.template_metadata.get("labels")
    return labels if isinstance(labels, Mapping) else {}


@dataclass(frozen=True)
class Scale:
    """How many pods a workload runs at least, and which resource says so."""

    replicas: int
    source: StackResource
    field: str
    """`spec.replicas` of the workload, or `spec.minReplicas` of its autoscaler."""


def minimum_scale(workload: StackResource, resources: Sequence[StackResource]) -> Scale:
    """The fewest pods `workload` runs: its autoscaler's floor (the autoscaler sets the
    replicas, whatever the workload says), else its replicas, else 1."""
    for hpa in resources:
        target = field(hpa.props, "spec", "scaleTargetRef")
        if (
            hpa.resource_type in HPA_TYPES
            and namespace_of(hpa) == namespace_of(workload)
            and field(target, "kind") == workload.kind
            and field(target, "name") == workload.identity.name
        ):
            floor = field(hpa.props, "spec", "minReplicas")
            counted = isinstance(floor, int | float) and not isinstance(floor, bool)
            return Scale(int(floor) if counted else 1, hpa, "spec.minReplicas")
    replicas = field(workload.props, "spec", "replicas")
    if isinstance(replicas, int | float) and not isinstance(replicas, bool):
        return Scale(int(replicas), workload, "spec.replicas")
    return Scale(1, workload, "spec.replicas")


def scaled_value(value: Any, total: int, *, round_up: bool) -> int | None:
    """An int-or-percent field (`1`, `"50%"`) as a pod count out of `total`."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and value.endswith("%"):
        try:
            share = float(value[:-1]) * total / 100
        except ValueError:
            return None
        return math.ceil(share) if round_up else math.floor(share)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def eviction_block(pdb: StackResource, replicas: int) -> tuple[str, Any, str] | None:
    """(field, found, expected) when `pdb` allows no voluntary eviction at `replicas` pods."""
    spec = field(pdb.props, "spec")
    max_unavailable = field(spec, "maxUnavailable")
    if max_unavailable is not None:
        allowed = scaled_value(max_unavailable, replicas, round_up=True)
        if allowed is not None and allowed < 1:
            return "spec.maxUnavailable", max_unavailable, "at least 1 (or a percentage above 0%)"
        return None
    min_available = field(spec, "minAvailable")
    if min_available is not None:
        needed = scaled_value(min_available, replicas, round_up=True)
        if needed is not None and needed >= replicas:
            return "spec.minAvailable", min_available, f"fewer than the {replicas} replicas"
    return None


# --- disruption budgets --------------------------------------------------------------


def check_disruption_budgets(
    resources: Sequence[StackResource], _settings: PolicySettings
) -> Iterator[tuple[StackResource, str]]:
    budgets = [r for r in resources if r.resource_type == PDB_TYPE]
    for resource in resources:
        workload = Workload.of(resource.resource_type, resource.props)
        if workload is None or resource.kind not in REPLICATED_KINDS:
            continue
        scale = minimum_scale(resource, resources)
        if scale.replicas < 2:
            continue
        labels = template_labels(workload)
        matching = [
            b
            for b in budgets
            if namespace_of(b) == namespace_of(resource)
            and selector_matches(field(b.props, "spec", "selector"), labels)
        ]
        name = f"{resource.kind} {resource.identity.name!r}"
        if not matching:
            yield (
                resource,
                (
                    f"{name} runs {scale.replicas} replicas ({scale.field} of "
                    f"{scale.source.kind} {scale.source.identity.name!r}) and no "
                    f"PodDisruptionBudget selects its pods (labels {show(dict(labels))}); expected "
                    "one with maxUnavailable: 1, so drains evict one pod at a time"
                ),
            )
        for budget in matching:
            blocked = eviction_block(budget, scale.replicas)
            if blocked is not None:
                what, found, expected = blocked
                yield (
                    budget,
                    (
                        f"{what} is {show(found)}; expected {expected}: as it stands no pod of "
                        f"{name} ({scale.replicas} replicas) can ever be evicted, which blocks "
                        "node drains and cluster upgrades"
                    ),
                )


# --- replicas ------------------------------------------------------------------------


def check_replicas(
    resources: Sequence[StackResource], settings: ReplicaSettings
) -> Iterator[tuple[StackResource, str]]:
    for resource in resources:
        if (
            resource.kind != "Deployment"
            or Workload.of(resource.resource_type, resource.props) is None
        ):
            continue
        scale = minimum_scale(resource, resources)
        if scale.replicas >= settings.min_replicas:
            continue
        found = field(scale.source.props, *scale.field.split("."))
        shown = show(found) if found is not None else "unset (1 pod)"
        yield (
            scale.source,
            (
                f"{scale.field} is {shown}; expected at least {settings.min_replicas} in this "
                f"environment, so Deployment {resource.identity.name!r} survives losing a pod or a node"
            ),
        )


# --- network policies ----------------------------------------------------------------


def check_network_policies(
    resources: Sequence[StackResource], _settings: PolicySettings
) -> Iterator[tuple[StackResource, str]]:
    covered = {namespace_of(r) for r in resources if r.resource_type == NETWORK_POLICY_TYPE}
    for resource in resources:
        if Workload.of(resource.resource_type, resource.props) is None:
            continue
        namespace = namespace_of(resource)
        if namespace not in covered:
            yield (
                resource,
                (
                    f"namespace {namespace!r} (of {resource.kind} {resource.identity.name!r}) has no "
                    "NetworkPolicy in this stack; expected at least one there (default deny, then "
                    "allow what each workload needs)"
                ),
            )


# --- secret-looking environment variables --------------------------------------------

SECRET_WORDS = frozenset(
    {
        "PASSWORD",
        "PASSWD",
        "PASSPHRASE",
        "SECRET",
        "SECRETS",
        "TOKEN",
        "TOKENS",
        "KEY",
        "KEYS",
        "APIKEY",
        "CREDENTIAL",
        "CREDENTIALS",
    }
)
SECRET_SUFFIXES = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "APIKEY")
# Names about a secret rather than holding one: DB_PASSWORD_FILE points at a mounted file,
# TOKEN_URL at an endpoint, PUBLIC_KEY is public.
NOT_SECRET_WORDS = frozenset(
    {
        "FILE",
        "PATH",
        "DIR",
        "URL",
        "URI",
        "ENDPOINT",
        "NAME",
        "ID",
        "TYPE",
        "HEADER",
        "TTL",
        "PUBLIC",
    }
)


def looks_secret(name: str) -> bool:
    """True for names such as DB_PASSWORD, apiKey, GITHUB_TOKEN, STRIPE_SECRET_KEY."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    words = [w for w in re.split(r"[^A-Za-z0-9]+", spaced.upper()) if w]
    if not words or NOT_SECRET_WORDS & set(words):
        return False
    return any(w in SECRET_WORDS or w.endswith(SECRET_SUFFIXES) for w in words)


def check_env_secrets(
    resources: Sequence[StackResource], settings: EnvSecretSettings
) -> Iterator[tuple[StackResource, str]]:
    allowed = set(settings.allowed_names)
    config_maps = {
        (namespace_of(r), r.identity.name): r
        for r in resources
        if r.resource_type == CONFIG_MAP_TYPE
    }
    expected = "a Secret reference (valueFrom.secretKeyRef, or envFrom a Secret)"
    for resource in resources:
        workload = Workload.of(resource.resource_type, resource.props)
        if workload is None:
            continue
        for container in workload.containers():
            for index, variable in enumerate(items(container.spec.get("env"))):
                name, value = field(variable, "name"), field(variable, "value")
                if isinstance(name, str) and name not in allowed and looks_secret(name) and value:
                    yield (
                        resource,
                        (
                            f"{container.where}: env[{index}] ({name}) has a literal value; "
                            f"expected {expected}"
                        ),
                    )
            for index, source in enumerate(items(container.spec.get("envFrom"))):
                config_map = config_maps.get(
                    (namespace_of(resource), field(source, "configMapRef", "name"))
                )
                if config_map is None:
                    continue
                prefix = field(source, "prefix") or ""
                data = field(config_map.props, "data")
                for key, value in data.items() if isinstance(data, Mapping) else ():
                    name = f"{prefix}{key}"
                    if name not in allowed and looks_secret(name) and value:
                        yield (
                            config_map,
                            (
                                f"data.{key} is a literal value, and container {container.name!r} "
                                f"of {resource.kind} {resource.identity.name!r} reads it as {name} "
                                f"({container.path}.envFrom[{index}]); expected {expected}"
                            ),
                        )


# --- the policies --------------------------------------------------------------------

deployment_disruption_budget = stack_policy(
    "deployment-disruption-budget",
    "Deployments and StatefulSets with 2+ replicas have a PodDisruptionBudget that allows evictions.",
    check_disruption_budgets,
    group=BEST_PRACTICE,
    severity=Severity.MEDIUM,
    remediation_steps=(
        "Add a PodDisruptionBudget selecting the pod template's labels with maxUnavailable: 1 "
        "(go-platform creates one for services with 2+ replicas)."
    ),
)

deployment_replicas_minimum = stack_policy(
    "deployment-replicas-minimum",
    "Deployments run at least the environment's minimum number of replicas.",
    check_replicas,
    group=BEST_PRACTICE,
    severity=Severity.MEDIUM,
    settings=ReplicaSettings,
    remediation_steps=(
        "Raise spec.replicas, or the autoscaler's minReplicas, to the environment's minimum "
        "(minReplicas in policies/config/<env>.json)."
    ),
)

namespace_network_policy = stack_policy(
    "namespace-network-policy",
    "Every namespace that runs workloads has a NetworkPolicy.",
    check_network_policies,
    group=BEST_PRACTICE,
    severity=Severity.MEDIUM,
    remediation_steps=(
        "Create a default-deny NetworkPolicy in the namespace and allow the traffic each "
        "workload needs (go-platform creates one per service)."
    ),
)

env_secrets_not_literal = stack_policy(
    "env-secrets-not-literal",
    "Secret-looking environment variables (password, token, key) never carry literal values.",
    check_env_secrets,
    group=SECURITY,
    severity=Severity.HIGH,
    settings=EnvSecretSettings,
    remediation_steps=(
        "Move the value to a Secret and read it with valueFrom.secretKeyRef (go-platform: "
        "`secretEnv` in the stack file, set with `pulumi config set --secret`)."
    ),
)

POLICIES = [
    deployment_disruption_budget,
    deployment_replicas_minimum,
    namespace_network_policy,
    env_secrets_not_literal,
]
