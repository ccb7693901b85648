"""Container image references, parsed by the grammar of the OCI distribution reference.

Pure functions: config validation rejects mutable tags outside local/dev, and the
policy pack reasons about registries and digests with the same parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_REGISTRY = "docker.io"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"
_REFERENCE = re.compile(
    rf"^(?:(?P<registry>{_DOMAIN})/)?"
    rf"(?P<repository>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


@dataclass(frozen=True)
class ImageReference:
    """One parsed image reference: `registry/repository:tag@digest`."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def is_mutable(self) -> bool:
        """True when the reference may point at different images over time."""
        return self.digest is None and (self.tag is None or self.tag == "latest")

    @property
    def version(self) -> str:
        """A short label for the version: the tag, else the digest's first 12 hex digits."""
        if self.tag:
            return self.tag
        return self.digest.removeprefix("sha256:")[:12] if self.digest else "latest"


def parse_image(reference: str) -> ImageReference:
    """Parse `reference`, raising ValueError with a message fit for a user."""
    match = _REFERENCE.match(reference) if isinstance(reference, str) else None
    if match is None:
        raise ValueError(
            f"{reference!r} is not an image reference "
            "(expected [registry/]repository[:tag][@sha256:digest], lower-case repository)"
        )
    registry = match["registry"]
    repository = match["repository"]
    # "team/app" has no registry part: the first component only names a registry when it
    # looks like a host (has a dot or a port, or is localhost), as docker and containerd read it.
    if registry and not ("." in registry or ":" in registry or registry == "localhost"):
        if not re.fullmatch(_COMPONENT, registry):
            raise ValueError(
                f"{reference!r} is not an image reference (repository must be lower-case)"
            )
        repository = f"{registry}/{repository}"
        registry = None
    return ImageReference(
        registry=registry or DEFAULT_REGISTRY,
        repository=repository,
        tag=match["tag"],
        digest=match["digest"],
    )
