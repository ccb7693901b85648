"""The program's pure helpers the pack reuses, so both read images, quantities and
vulnerability severities alike.

The pack parses image references with `components.images.parse_image` and quantities with
`components.units.parse_quantity`, and ranks vulnerability findings on the build gate's scale
(`components.severity`), instead of keeping second copies that could drift. The
engine starts the pack with only `policies/` on `sys.path`; when `components` is not
importable already (tests and the program put the project root there themselves), this
module appends the project root, the parent of `policies/`. Appending, never prepending,
keeps the pack's own modules and the virtualenv's packages first.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

if importlib.util.find_spec("components") is None:
    sys.path.append(str(PROJECT_ROOT))

from components.config import ENVIRONMENTS, CamelModel, key_path  # noqa: E402
from components.images import ImageReference, parse_image  # noqa: E402
from components.severity import (  # noqa: E402
    Severity,
    SeverityName,
    ThresholdName,
    describe,
    fails,
    label_severity,
    score_severity,
)
from components.units import parse_quantity  # noqa: E402

__all__ = [
    "ENVIRONMENTS",
    "PROJECT_ROOT",
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
