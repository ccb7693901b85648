"""UpstreamCrds: the CustomResourceDefinitions the program's custom resources need.

Each definition is its own resource, and each custom resource waits for its own definition
only (`custom_resources_wait_for`): an IngressRoute waits for `ingressroutes.traefik.io`,
a Deployment waits for nothing. (A single ConfigGroup, which every component waited for,
held the whole program behind the provider's construction of twenty definitions.)
"""

from __future__ import annotations

import glob
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pulumi.resource import create_urn

from components.resources import child_options

CONFIG_GROUP_TYPE = "kubernetes:yaml/v2:ConfigGroup"
FETCH_TIMEOUT = 30


class CrdSourceError(Exception):
    """A source that cannot be read or holds something other than definitions."""


@dataclass(frozen=True)
class UpstreamCrdsArgs:
    definitions: Sequence[Mapping[str, Any]]
    """CustomResourceDefinition documents as published upstream (`definitions_in`)."""


def source_texts(sources: Sequence[str], base: Path) -> Iterator[tuple[str, str]]:
    """`(where, text)` of every manifest `crds.sources` names: files and globs relative to
    `base` (the project directory; globs expanded in sorted order) and URLs."""
    for index, source in enumerate(sources):
        at = f"crds.sources[{index}]"
        if "://" in source:
            try:
                with urllib.request.urlopen(source, timeout=FETCH_TIMEOUT) as response:
                    yield at, response.read().decode()
            except (OSError, ValueError) as error:
                raise CrdSourceError(f"{at}: cannot fetch {source}: {error}") from None
            continue
        paths = sorted(glob.glob(str(base / source))) or [str(base / source)]
        for path in paths:
            try:
                yield f"{at} ({Path(path).relative_to(base)})", Path(path).read_text()
            except OSError as error:
                raise CrdSourceError(f"{at}: cannot read {path}: {error.strerror}") from None


def definitions_in(texts: Iterator[tuple[str, str]]) -> list[dict[str, Any]]:
    """The CustomResourceDefinition documents of `texts`, each name once."""
    found: dict[str, dict[str, Any]] = {}
    for where, text in texts:
        try:
            documents = [d for d in yaml.safe_load_all(text) if d]
        except yaml.YAMLError as error:
            raise CrdSourceError(f"{where}: not YAML: {error}") from None
        for document in documents:
            kind = document.get("kind") if isinstance(document, dict) else None
            if kind != "CustomResourceDefinition":
                raise CrdSourceError(
                    f"{where}: holds a {kind or 'document without a kind'}, "
                    "not a CustomResourceDefinition"
                )
            found.setdefault(document["metadata"]["name"], document)
    return list(found.values())


def defined_kind(definition: Mapping[str, Any]) -> tuple[str, str]:
    """`(group, kind)` of the custom resources a definition serves."""
    return definition["spec"]["group"], definition["spec"]["names"]["kind"]


def group_and_kind(resource_type: str) -> tuple[str, str] | None:
    """`(group, kind)` of a kubernetes type token (`kubernetes:traefik.io/v1alpha1:IngressRoute`);
    None for anything else."""
    package, _, rest = resource_type.partition(":")
    group_version, _, kind = rest.partition(":")
    if package != "kubernetes" or "/" not in group_version or not kind:
        return None
    return group_version.split("/", 1)[0], kind


class UpstreamCrds(pulumi.ComponentResource):
    """Installs upstream CustomResourceDefinitions unmodified, so the API server validates
    every IngressRoute, Certificate or ServiceMonitor against the real schema.

    `definitions` maps `(group, kind)` to the definition's resource, for
    `custom_resources_wait_for`.
    """

    definitions: dict[tuple[str, str], pulumi.Resource]

    def __init__(
        self, name: str, args: UpstreamCrdsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("go-platform:index:UpstreamCrds", name, None, opts)
        # Stacks made before 2026-12 installed them through a provider ConfigGroup under
        # this component: the same objects, adopted by alias, never replaced.
        former_group = create_urn(f"{name}-definitions", CONFIG_GROUP_TYPE, parent=self)
        self.definitions = {}
        for definition in args.definitions:
            crd_name = definition["metadata"]["name"]
            former = pulumi.Alias(name=f"{name}-definitions:{crd_name}", parent=former_group)
            self.definitions[defined_kind(definition)] = (
                k8s.apiextensions.v1.CustomResourceDefinition(
                    f"{name}-{crd_name}",
                    metadata=definition["metadata"],
                    spec=definition["spec"],
                    opts=child_options(self, opts, aliases=[former]),
                )
            )
        self.register_outputs({})


def custom_resources_wait_for(
    definitions: Mapping[tuple[str, str], pulumi.Resource],
) -> pulumi.ResourceTransformation:
    """A stack transformation: every custom resource whose definition is in `definitions`
    depends on that definition (registered before the custom resources are)."""

    def transformation(
        args: pulumi.ResourceTransformationArgs,
    ) -> pulumi.ResourceTransformationResult | None:
        definition = definitions.get(group_and_kind(args.type_) or ("", ""))
        if definition is None:
            return None
        waits = pulumi.ResourceOptions(depends_on=[definition])
        return pulumi.ResourceTransformationResult(
            args.props, pulumi.ResourceOptions.merge(args.opts, waits)
        )

    return transformation
