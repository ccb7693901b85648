"""Vulnerability severity: the one scale the build gate and the admission policy share.

Findings are ranked none < low < medium < high < critical. A threshold (`failOn`) fails
every finding at or above it. Where a finding's severity comes from:

- a CVSS v3 vector (OSV's `severity` entries of type `CVSS_V3`, or a scanner's CVSS v3 score)
  gives a base score, rated by CVSS v3's qualitative scale: 0.0 none, 0.1-3.9 low,
  4.0-6.9 medium, 7.0-8.9 high, 9.0-10.0 critical;
- otherwise a label (`database_specific.severity` in OSV, a scanner's own rating): `low`,
  `medium` or `moderate`, `high` or `important`, `critical`; `negligible` and `none` rank
  none. Case does not matter.

Anything else, a missing rating, `unknown`, a CVSS v4 vector (its score needs the
specification's lookup tables), is *unknown*: it never passes silently, but counts as the
configured `unknownSeverity` (critical by default, so that an unrated finding fails at any
threshold, as govulncheck itself fails on every reachable finding).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Any, Literal

ThresholdName = Literal["low", "medium", "high", "critical"]
"""What `failOn` may name."""
SeverityName = Literal["none", "low", "medium", "high", "critical"]
"""What `unknownSeverity` may name."""


class Severity(enum.IntEnum):
    """A finding's rank; comparisons follow the scale."""

    NONE = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def named(cls, name: str) -> Severity:
        """The severity a setting names (`high`)."""
        return cls[name.upper()]


_LABELS = {
    "none": Severity.NONE,
    "negligible": Severity.NONE,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "moderate": Severity.MEDIUM,
    "high": Severity.HIGH,
    "important": Severity.HIGH,
    "critical": Severity.CRITICAL,
}


def label_severity(label: Any) -> Severity | None:
    """The severity a rating label names, None for `unknown`, a missing or another label."""
    return _LABELS.get(label.strip().lower()) if isinstance(label, str) else None


def score_severity(score: float) -> Severity:
    """CVSS v3's qualitative rating of a base score (0.0 to 10.0)."""
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    if score > 0.0:
        return Severity.LOW
    return Severity.NONE


# CVSS v3 base metric weights, from the specification (v3.0 and v3.1 share them).
_ATTACK_VECTOR = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
_ATTACK_COMPLEXITY = {"L": 0.77, "H": 0.44}
_PRIVILEGES = {"N": (0.85, 0.85), "L": (0.62, 0.68), "H": (0.27, 0.5)}  # (scope U, scope C)
_USER_INTERACTION = {"N": 0.85, "R": 0.62}
_IMPACT = {"H": 0.56, "L": 0.22, "N": 0.0}
_BASE_METRICS = ("AV", "AC", "PR", "UI", "S", "C", "I", "A")


def _round_up(value: float) -> float:
    """CVSS v3.1's Roundup: the smallest one-decimal number at or above `value`, computed
    on integers so that floating-point noise (4.000001) does not round up a whole step."""
    scaled = round(value * 100_000)
    if scaled % 10_000 == 0:
        return scaled / 100_000
    return (math.floor(scaled / 10_000) + 1) / 10.0


def cvss3_base_score(vector: str) -> float:
    """The base score of a CVSS v3.0 or v3.1 vector (`CVSS:3.1/AV:N/AC:L/...`), with v3.1's
    rounding; ValueError when it is not one."""
    prefix, _, rest = vector.strip().partition("/")
    if prefix not in {"CVSS:3.0", "CVSS:3.1"}:
        raise ValueError(f"{vector!r} is not a CVSS v3 vector")
    metrics: dict[str, str] = {}
    for part in rest.split("/"):
        name, _, value = part.partition(":")
        metrics[name] = value
    try:
        changed = {"U": False, "C": True}[metrics["S"]]
        impact_base = 1 - math.prod(1 - _IMPACT[metrics[m]] for m in ("C", "I", "A"))
        exploitability = (
            8.22
            * _ATTACK_VECTOR[metrics["AV"]]
            * _ATTACK_COMPLEXITY[metrics["AC"]]
            * _PRIVILEGES[metrics["PR"]][changed]
            * _USER_INTERACTION[metrics["UI"]]
        )
    except KeyError:
        missing = [m for m in _BASE_METRICS if m not in metrics]
        reason = f"lacks {', '.join(missing)}" if missing else "has a value outside the spec"
        raise ValueError(f"CVSS vector {vector!r} {reason}") from None
    if changed:
        impact = 7.52 * (impact_base - 0.029) - 3.25 * (impact_base - 0.02) ** 15
    else:
        impact = 6.42 * impact_base
    if impact <= 0:
        return 0.0
    total = (impact + exploitability) * (1.08 if changed else 1.0)
    return _round_up(min(total, 10.0))


def osv_severity(entry: Mapping[str, Any]) -> Severity | None:
    """An OSV entry's severity: the highest of its CVSS v3 vectors, else its
    `database_specific.severity` label; None (unknown) when it has neither."""
    scores = []
    for rating in entry.get("severity") or ():
        if isinstance(rating, Mapping) and rating.get("type") == "CVSS_V3":
            try:
                scores.append(cvss3_base_score(str(rating.get("score", ""))))
            except ValueError:
                continue
    if scores:
        return score_severity(max(scores))
    specific = entry.get("database_specific")
    return label_severity(specific.get("severity")) if isinstance(specific, Mapping) else None


def fails(severity: Severity | None, fail_on: Severity, unknown: Severity) -> bool:
    """Whether a finding of `severity` (None: unknown, counted as `unknown`) is at or above
    the threshold `fail_on`."""
    return (unknown if severity is None else severity) >= fail_on


def describe(severity: Severity | None, unknown: Severity) -> str:
    """`high`, or `unknown (counted as critical)`, as messages show a finding's severity."""
    return severity.label if severity is not None else f"unknown (counted as {unknown.label})"
