"""UpstreamCrds: the CustomResourceDefinitions the program's custom resources need.

The definitions are one ConfigGroup, which the kubernetes provider reads and registers
itself (parsing and sending twenty schemas from Python would cost the program seconds).
Only custom resources wait for it (`custom_resources_wait_for`): an IngressRoute waits for
the definitions, a Deployment waits for nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def is_custom_resource(resource_type: str) -> bool:
    """Whether a type token names a custom resource: `kubernetes:<group>/<version>:<Kind>`
    whose group is not one of Kubernetes' own (those have no dot, or end in `.k8s.io`;
    a CustomResourceDefinition's group must have a dot and may not claim `k8s.io`)."""
    package, _, rest = resource_type.partition(":")
    group, slash, _ = rest.partition("/")
    if package != "kubernetes" or not slash:
        return False
    return "." in group and not group.endswith(".k8s.io") and group != "helm.sh"


def custom_resources_wait_for(definitions: pulumi.Resource) -> pulumi.ResourceTransformation:
    """A stack transformation: every custom resource registered after it depends on
    `definitions` (and so is created once the definitions are)."""

    def transformation(
        args: pulumi.ResourceTransformationArgs,
    ) -> pulumi.ResourceTransformationResult | None:
        if not is_custom_resource(args.type_):
            return None
        waits = pulumi.ResourceOptions(depends_on=[definitions])
        return pulumi.ResourceTransformationResult(
            args.props, pulumi.ResourceOptions.merge(args.opts, waits)
        )

    return transformation
