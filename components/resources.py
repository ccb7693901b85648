"""Resource options shared by every component."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi


def child_options(
    parent: pulumi.Resource,
    opts: pulumi.ResourceOptions | None,
    *,
    depends_on: Sequence[pulumi.Resource] = (),
    **extra: Any,
) -> pulumi.ResourceOptions:
    """Options for a component's child: parented to it, and waiting for whatever the
    component itself was told to wait for (Pulumi does not pass `depends_on` down), plus
    `depends_on` of its own."""
    own = pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on), **extra)
    if opts is None or opts.depends_on is None:
        return own
    return pulumi.ResourceOptions.merge(own, pulumi.ResourceOptions(depends_on=opts.depends_on))


PATCH_FORCE_ANNOTATION = "pulumi.com/patchForce"
"""Makes the kubernetes provider apply with `force`, taking back fields another manager took."""


def with_owned_fields(metadata: Any) -> Any:
    """`metadata` (a dict, ObjectMetaArgs or Output of either) with the annotation that makes
    the platform the owner of every field it declares under Server-Side Apply.

    Without it, an out-of-band change (`kubectl scale`, `kubectl label`) makes another field
    manager the owner of that field, and the next `up --refresh` (what `make up` runs) fails on
    the conflict instead of repairing the drift. Fields the program leaves to others stay with
    their managers: an autoscaled Deployment's `replicas` is ignored after its creation
    (`ignore_changes`), so the HPA is never fought.
    """
    if isinstance(metadata, pulumi.Output):
        return metadata.apply(with_owned_fields)
    if metadata is None:
        return {"annotations": {PATCH_FORCE_ANNOTATION: "true"}}
    if isinstance(metadata, dict):
        annotations = metadata.get("annotations")
        return {**metadata, "annotations": _with_force(annotations)}
    annotations = getattr(metadata, "annotations", None)
    pulumi.set(metadata, "annotations", _with_force(annotations))
    return metadata


def _with_force(annotations: Any) -> Any:
    if isinstance(annotations, pulumi.Output):
        return annotations.apply(_with_force)
    return {**(annotations or {}), PATCH_FORCE_ANNOTATION: "true"}


def owned_fields_transformation(
    args: pulumi.ResourceTransformationArgs,
) -> pulumi.ResourceTransformationResult | None:
    """A stack transformation: every Kubernetes object the program declares carries
    `with_owned_fields` metadata (components and their children alike)."""
    if not args.type_.startswith("kubernetes:") or "metadata" not in args.props:
        return None
    if args.type_.startswith(("kubernetes:helm.sh/", "kubernetes:yaml/")):
        return None  # components of the provider's own; their children are not ours to annotate
    props = {**args.props, "metadata": with_owned_fields(args.props["metadata"])}
    return pulumi.ResourceTransformationResult(props, args.opts)
