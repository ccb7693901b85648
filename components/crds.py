"""UpstreamCrds: the CustomResourceDefinitions the program's custom resources need."""

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

    Components that create custom resources depend on this one; it exposes nothing else.
    """

    def __init__(
        self, name: str, args: UpstreamCrdsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("go-platform:index:UpstreamCrds", name, None, opts)
        k8s.yaml.v2.ConfigGroup(
            f"{name}-definitions",
            files=list(args.sources),
            opts=child_options(self, opts),
        )
        self.register_outputs({})
