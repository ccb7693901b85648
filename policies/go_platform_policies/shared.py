"""The program's pure helpers the pack reuses, so both read images, quantities and
vulnerability severities alike.

The pack parses image references with `go_platform_core.images.parse_image` and quantities
with `go_platform_core.units.parse_quantity`, and ranks vulnerability findings on the build
gate's scale (`go_platform_core.severity`), instead of keeping second copies that could
drift. `go_platform_core` is a package of its own, named by the pack's requirements
(`policies/requirements.txt`), so the pack imports it wherever it runs.
"""

from __future__ import annotations

from go_platform_core.config import ENVIRONMENTS, CamelModel, key_path
from go_platform_core.images import ImageReference, parse_image
from go_platform_core.severity import (
    Severity,
    SeverityName,
    ThresholdName,
    describe,
    fails,
    label_severity,
    score_severity,
)
from go_platform_core.units import parse_quantity

__all__ = [
    "ENVIRONMENTS",
    "CamelModel",
    "ImageReference",
    "Severity",
    "SeverityName",
    "ThresholdName",
    "describe",
    "fails",
    "key_path",
    "label_severity",
    "parse_image",
    "parse_quantity",
    "score_severity",
]
