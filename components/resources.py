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
