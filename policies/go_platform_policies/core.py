"""The shapes every policy shares: pod templates, containers, messages, policy builders.

A check is a plain function from a resource (or a workload, or the stack's resources) and
its typed settings to violation messages. The builders here turn checks into
`ResourceValidationPolicy` and `StackValidationPolicy` objects that read their settings,
honour exemptions and report each message; so each policy module holds only its rules.

Messages follow one form so a reader finds the field at once:
`container 'app' (spec.template.spec.containers[0]): securityContext.privileged is true;
expected false or unset`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from go_platform_policies.settings import (
    PolicySettings,
    ResourceIdentity,
    SettingsError,
    engine_schema,
    parse_settings,
)

# Pulumi type token -> path from the resource's props to its pod template.
POD_TEMPLATE_PATHS: Mapping[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": (),
    "kubernetes:apps/v1:Deployment": ("spec", "template"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template"),
    "kubernetes:core/v1:ReplicationController": ("spec", "template"),
    "kubernetes:batch/v1:Job": ("spec", "template"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template"),
}

PATCH_SUFFIX = "Patch"
"""`kubernetes:apps/v1:DeploymentPatch`: a server-side apply patch of a workload, which
sets only the fields it names on an object that exists (or that it creates)."""

POD_SPEC_PATHS: Mapping[str, tuple[str, ...]] = {
    kind: (*path, "spec") for kind, path in POD_TEMPLATE_PATHS.items()
}
"""Pulumi type token -> path from the resource's props to its pod spec."""

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

Tag = str
"""Policy groups, carried as policy tags; the config files set enforcement per group."""
POD_SECURITY_BASELINE: Tag = "pod-security-baseline"
POD_SECURITY_RESTRICTED: Tag = "pod-security-restricted"
SECURITY: Tag = "security"
SUPPLY_CHAIN: Tag = "supply-chain"
BEST_PRACTICE: Tag = "best-practice"
GROUPS = (POD_SECURITY_BASELINE, POD_SECURITY_RESTRICTED, SECURITY, SUPPLY_CHAIN, BEST_PRACTICE)


# --- reading props -------------------------------------------------------------------


def field(node: Any, *path: str) -> Any:
    """The value at `path` below `node`, or None where any step is missing or not a mapping."""
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def items(node: Any) -> Sequence[Any]:
    """`node` when it is a list (plain or the policy SDK's proxy), else an empty list."""
    return node if isinstance(node, Sequence) and not isinstance(node, str | bytes) else ()


def kind_of(resource_type: str) -> str:
    """`Deployment` for `kubernetes:apps/v1:Deployment`: the last part of the type token."""
    return resource_type.rsplit(":", 1)[-1]


def identity(resource_type: str, props: Mapping[str, Any], fallback_name: str) -> ResourceIdentity:
    """Kind, namespace, name and labels of a Kubernetes resource, for exemptions and joins."""
    metadata = field(props, "metadata")
    name = field(metadata, "name")
    labels = field(metadata, "labels")
    return ResourceIdentity(
        kind=kind_of(resource_type),
        namespace=field(metadata, "namespace"),
        name=name if isinstance(name, str) else fallback_name,
        labels=dict(labels) if isinstance(labels, Mapping) else {},
    )


def show(value: Any) -> str:
    """A found value as a message shows it: `true`, `'NET_ADMIN'`, `unset`."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # the engine sends every number as a double
    if isinstance(value, Mapping):
        # Sorted: the engine's protobuf Struct does not keep the program's key order.
        return "{" + ", ".join(f"{k}: {show(value[k])}" for k in sorted(value)) + "}"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return repr(value)


def violation(what: str, found: Any, expected: str) -> str:
    """`<what> is <found>; expected <expected>`: a field of the resource being checked."""
    return f"{what} is {show(found)}; expected {expected}"


# --- workloads -----------------------------------------------------------------------


@dataclass(frozen=True)
class Container:
    """One container of a pod template, with where it sits in the resource."""

    name: str
    path: str
    """`spec.template.spec.containers[0]`."""
    list_name: str
    """`containers`, `initContainers` or `ephemeralContainers`."""
    spec: Mapping[str, Any]

    @property
    def security(self) -> Mapping[str, Any]:
        found = self.spec.get("securityContext")
        return found if isinstance(found, Mapping) else {}

    @property
    def where(self) -> str:
        """`container 'app' (spec.template.spec.containers[0])`: how messages name it."""
        return f"container {self.name!r} ({self.path})"

    def violation(self, what: str, found: Any, expected: str) -> str:
        """`container 'app' (path): <what> is <found>; expected <expected>`."""
        return f"{self.where}: {what} is {show(found)}; expected {expected}"


@dataclass(frozen=True)
class Workload:
    """A resource with a pod template: its kind, pod spec and template metadata."""

    resource_type: str
    props: Mapping[str, Any]
    spec: Mapping[str, Any]
    spec_path: str
    """`spec.template.spec`, or `spec` for a Pod."""
    template_metadata: Mapping[str, Any]
    partial: bool = False
    """A patch (`DeploymentPatch`): what it leaves unset is the live object's business."""

    @classmethod
    def of(
        cls, resource_type: str, props: Mapping[str, Any], *, patches: bool = False
    ) -> Workload | None:
        """The workload in `props`, or None for a resource without a pod template; with
        `patches`, a workload's patch too (`partial`)."""
        patched = resource_type.removesuffix(PATCH_SUFFIX)
        partial = patches and patched != resource_type and patched in POD_TEMPLATE_PATHS
        path = POD_TEMPLATE_PATHS.get(patched if partial else resource_type)
        if path is None:
            return None
        template = field(props, *path) if path else props
        spec = field(template, "spec")
        if not isinstance(spec, Mapping):
            return None
        metadata = field(template, "metadata")
        return cls(
            resource_type=resource_type,
            props=props,
            spec=spec,
            spec_path=".".join((*path, "spec")),
            template_metadata=metadata if isinstance(metadata, Mapping) else {},
            partial=partial,
        )

    @property
    def kind(self) -> str:
        return kind_of(self.resource_type)

    @property
    def pod_security(self) -> Mapping[str, Any]:
        found = self.spec.get("securityContext")
        return found if isinstance(found, Mapping) else {}

    def containers(self, lists: Sequence[str] = CONTAINER_LISTS) -> Iterator[Container]:
        """Every container of the kinds in `lists`, in the order the pod declares them."""
        for list_name in lists:
            for index, spec in enumerate(items(self.spec.get(list_name))):
                if isinstance(spec, Mapping):
                    name = spec.get("name")
                    yield Container(
                        name=name if isinstance(name, str) else f"#{index}",
                        path=f"{self.spec_path}.{list_name}[{index}]",
                        list_name=list_name,
                        spec=spec,
                    )

    def violation(self, what: str, found: Any, expected: str) -> str:
        """`pod (spec.template.spec): <what> is <found>; expected <expected>`."""
        return f"pod ({self.spec_path}): {what} is {show(found)}; expected {expected}"


# --- policy builders -----------------------------------------------------------------

WorkloadCheck = Callable[[Workload, Any], Iterable[str]]
WorkloadRemedy = Callable[[Workload], bool]
ResourceCheck = Callable[[str, Mapping[str, Any], Any], Iterable[str]]
ResourceRemedy = Callable[[str, Mapping[str, Any], Any], bool]


@dataclass(frozen=True)
class StackResource:
    """A resource of the stack, as stack checks read it."""

    resource_type: str
    props: Mapping[str, Any]
    urn: str
    name: str

    @property
    def kind(self) -> str:
        return kind_of(self.resource_type)

    @property
    def identity(self) -> ResourceIdentity:
        return identity(self.resource_type, self.props, self.name)


StackCheck = Callable[[Sequence[StackResource], Any], Iterable[tuple[StackResource, str]]]


SETTINGS_MODELS: dict[str, type[PolicySettings]] = {}
"""Policy name -> the model of its settings; the config-file check validates with it."""


def _settings_for(
    name: str,
    settings: type[PolicySettings],
    args: ResourceValidationArgs,
    report: ReportViolation | None,
) -> PolicySettings | None:
    """The policy's settings for this resource, or None when it must not be checked:
    the config is invalid (reported, when `report` is given) or exempts the resource."""
    parsed = parse_settings(name, settings, args.get_config())
    if isinstance(parsed, SettingsError):
        if report is not None:
            report(str(parsed), None)
        return None
    if parsed.exclude and parsed.exempts(identity(args.resource_type, args.props, args.name)):
        return None
    return parsed


def resource_policy(
    name: str,
    description: str,
    check: ResourceCheck,
    *,
    group: Tag,
    severity: Severity,
    remediation_steps: str,
    settings: type[PolicySettings] = PolicySettings,
    remediate: ResourceRemedy | None = None,
) -> ResourceValidationPolicy:
    """A policy over single resources: `check(type, props, settings)` yields messages.

    `remediate(type, props, settings)` fixes the props in place and says whether it
    changed anything; the engine runs it when the policy's enforcement level is `remediate`.
    """

    SETTINGS_MODELS[name] = settings

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        parsed = _settings_for(name, settings, args, report)
        if parsed is not None:
            for message in check(args.resource_type, args.props, parsed):
                report(message, None)

    def fix(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
        assert remediate is not None
        parsed = _settings_for(name, settings, args, None)
        if parsed is None or not remediate(args.resource_type, args.props, parsed):
            return None
        return args.props

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        remediate=fix if remediate is not None else None,
        enforcement_level=EnforcementLevel.ADVISORY,
        config_schema=engine_schema(settings),
        severity=severity,
        tags=[group],
        remediation_steps=remediation_steps,
    )


def workload_policy(
    name: str,
    description: str,
    check: WorkloadCheck,
    *,
    group: Tag,
    severity: Severity,
    remediation_steps: str,
    settings: type[PolicySettings] = PolicySettings,
    remediate: WorkloadRemedy | None = None,
    patches: bool = False,
) -> ResourceValidationPolicy:
    """A policy over every pod template: `check(workload, settings)` yields messages;
    `remediate(workload)` fixes its props in place and says whether it changed anything.

    With `patches`, workloads' patches are checked too: for checks that refuse a value a
    patch sets (a privileged container, an unsigned image), not ones that require a field
    a patch may leave to the live object.
    """

    def workload_check(resource_type: str, props: Mapping[str, Any], parsed: Any) -> Iterable[str]:
        workload = Workload.of(resource_type, props, patches=patches)
        return check(workload, parsed) if workload is not None else ()

    def workload_fix(resource_type: str, props: Mapping[str, Any], _parsed: Any) -> bool:
        assert remediate is not None
        workload = Workload.of(resource_type, props, patches=patches)
        return workload is not None and remediate(workload)

    return resource_policy(
        name,
        description,
        workload_check,
        group=group,
        severity=severity,
        remediation_steps=remediation_steps,
        settings=settings,
        remediate=workload_fix if remediate is not None else None,
    )


def stack_policy(
    name: str,
    description: str,
    check: StackCheck,
    *,
    group: Tag,
    severity: Severity,
    remediation_steps: str,
    settings: type[PolicySettings] = PolicySettings,
) -> StackValidationPolicy:
    """A policy over the whole stack: `check(resources, settings)` yields (resource, message)."""

    SETTINGS_MODELS[name] = settings

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        parsed = parse_settings(name, settings, args.get_config())
        if isinstance(parsed, SettingsError):
            report(str(parsed), None)
            return
        resources = [
            StackResource(r.resource_type, r.props, r.urn, r.name)
            for r in args.resources
            if r.resource_type.startswith("kubernetes:")
        ]
        for resource, message in check(resources, parsed):
            if not (parsed.exclude and parsed.exempts(resource.identity)):
                report(message, resource.urn)

    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.ADVISORY,
        config_schema=engine_schema(settings),
        severity=severity,
        tags=[group],
        remediation_steps=remediation_steps,
    )
