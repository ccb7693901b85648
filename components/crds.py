"""UpstreamCrds: the CustomResourceDefinitions the program's custom resources need.

The definitions are one ConfigGroup, which the kubernetes provider reads and registers
itself (parsing and sending twenty schemas from Python would cost the program seconds).
Only custom resources wait for it (`custom_resources_wait_for`): an IngressRoute waits for
the definitions, a Deployment waits for nothing. Where charts bring the definitions, the same
transformation makes each custom resource wait for the chart of its API group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.resources import child_options


@dataclass(frozen=True)
class UpstreamCrdsArgs:
    sources: Sequence[str]
    """Files, globs or URLs of CustomResourceDefinition manifests, as published upstream."""


class UpstreamCrds(pulumi.ComponentResource):
    """Installs upstream CustomResourceDefinitions unmodified, so the API server validates
    every IngressRoute, Certificate or ServiceMonitor against the real schema.

    `definitions` is the resource custom resources wait for (`custom_resources_wait_for`).
    """

    definitions: pulumi.Resource

    def __init__(
        self, name: str, args: UpstreamCrdsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("go-platform:index:UpstreamCrds", name, None, opts)
        self.definitions = k8s.yaml.v2.ConfigGroup(
            f"{name}-definitions",
            files=list(args.sources),
            opts=child_options(self, opts),
        )
        self.register_outputs({})


def api_group(resource_type: str) -> str | None:
    """The API group of a custom resource's type token (`traefik.io` for
    `kubernetes:traefik.io/v1alpha1:IngressRoute`), or None when the token names none: not
    a Kubernetes type, or a group of Kubernetes' own (those have no dot, or end in
    `.k8s.io`; a CustomResourceDefinition's group must have a dot and may not claim
    `k8s.io`)."""
    package, _, rest = resource_type.partition(":")
    group, slash, _ = rest.partition("/")
    if package != "kubernetes" or not slash:
        return None
    if "." not in group or group.endswith(".k8s.io") or group == "helm.sh":
        return None
    return group


DefinitionsOf = Callable[[str], Sequence[pulumi.Resource]]
"""An API group -> what installs its definitions (and, for a chart, the operator and
webhooks that serve them); nothing for a group the cluster already has."""


def custom_resources_wait_for(definitions_of: DefinitionsOf) -> pulumi.ResourceTransformation:
    """A stack transformation: every custom resource registered after it depends on what
    installs the definitions of its API group (and so is created once they are); any other
    resource is left as it is."""

    def transformation(
        args: pulumi.ResourceTransformationArgs,
    ) -> pulumi.ResourceTransformationResult | None:
        group = api_group(args.type_)
        waits = list(definitions_of(group)) if group is not None else []
        if not waits:
            return None
        return pulumi.ResourceTransformationResult(
            args.props,
            pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(depends_on=waits)),
        )

    return transformation
