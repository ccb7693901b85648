"""The severity scale the build gate and the admission policy share.

Invariants guarded:
- CVSS v3.0/v3.1 base scores equal the specification's for reference vectors (scope
  unchanged and changed, no impact, v3.1 rounding), and a vector that is not one is an
  error naming what it lacks;
- scores map onto CVSS v3's qualitative scale at its exact boundaries;
- labels map case-insensitively (`moderate` is medium, `important` high, `negligible` none);
  `unknown`, a missing or another label is unknown;
- an OSV entry is rated by its highest CVSS v3 vector, else its `database_specific.severity`
  label, else unknown; CVSS v4 and broken vectors do not count as ratings;
- a finding fails at or above the threshold; an unknown one counts as `unknownSeverity`.
"""

from __future__ import annotations

import pytest

from go_platform_core.severity import (
    Severity,
    cvss3_base_score,
    describe,
    fails,
    label_severity,
    osv_severity,
    score_severity,
)


@pytest.mark.parametrize(
    ("vector", "score"),
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
        ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 6.4),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", 5.3),
        ("CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 5.5),
        ("CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N", 3.1),
        ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
        # Temporal metrics after the base ones are ignored.
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O", 9.8),
    ],
)
def test_cvss3_base_scores_match_the_specification(vector: str, score: float):
    assert cvss3_base_score(vector) == score


@pytest.mark.parametrize(
    ("vector", "message"),
    [
        ("AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "is not a CVSS v3 vector"),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "not a CVSS v3"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H", "lacks I, A"),
        ("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "has a value outside the spec"),
    ],
)
def test_a_vector_that_is_not_cvss3_is_an_error(vector: str, message: str):
    with pytest.raises(ValueError, match=message):
        cvss3_base_score(vector)


@pytest.mark.parametrize(
    ("score", "severity"),
    [
        (0.0, Severity.NONE),
        (0.1, Severity.LOW),
        (3.9, Severity.LOW),
        (4.0, Severity.MEDIUM),
        (6.9, Severity.MEDIUM),
        (7.0, Severity.HIGH),
        (8.9, Severity.HIGH),
        (9.0, Severity.CRITICAL),
        (10.0, Severity.CRITICAL),
    ],
)
def test_scores_follow_the_qualitative_scale(score: float, severity: Severity):
    assert score_severity(score) == severity


@pytest.mark.parametrize(
    ("label", "severity"),
    [
        ("CRITICAL", Severity.CRITICAL),
        ("High", Severity.HIGH),
        ("important", Severity.HIGH),
        ("MODERATE", Severity.MEDIUM),
        ("medium", Severity.MEDIUM),
        (" low ", Severity.LOW),
        ("Negligible", Severity.NONE),
        ("UNKNOWN", None),
        ("severe", None),
        ("", None),
        (None, None),
        (7.5, None),
    ],
)
def test_labels(label: object, severity: Severity | None):
    assert label_severity(label) == severity


MEDIUM = {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N"}
CRITICAL = {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
V4 = {"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}


@pytest.mark.parametrize(
    ("entry", "severity"),
    [
        ({"severity": [MEDIUM, CRITICAL]}, Severity.CRITICAL),
        ({"severity": [MEDIUM], "database_specific": {"severity": "CRITICAL"}}, Severity.MEDIUM),
        ({"database_specific": {"severity": "MODERATE"}}, Severity.MEDIUM),
        ({"severity": [V4], "database_specific": {"severity": "LOW"}}, Severity.LOW),
        ({"severity": [V4]}, None),
        ({"severity": [{"type": "CVSS_V3", "score": "garbage"}]}, None),
        ({"database_specific": {"url": "https://example.com/GO-2026-0001"}}, None),
        ({"id": "GO-2026-0001"}, None),
    ],
    ids=[
        "highest-vector",
        "vector-over-label",
        "label",
        "v4-ignored-label-used",
        "v4-only-unknown",
        "broken-vector-unknown",
        "go-database-entry-unknown",
        "bare-unknown",
    ],
)
def test_osv_entries(entry: dict, severity: Severity | None):
    assert osv_severity(entry) == severity


@pytest.mark.parametrize(
    ("severity", "fail_on", "unknown", "expected"),
    [
        (Severity.HIGH, Severity.HIGH, Severity.CRITICAL, True),
        (Severity.CRITICAL, Severity.HIGH, Severity.CRITICAL, True),
        (Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL, False),
        (Severity.NONE, Severity.LOW, Severity.CRITICAL, False),
        (None, Severity.CRITICAL, Severity.CRITICAL, True),
        (None, Severity.HIGH, Severity.MEDIUM, False),
        (None, Severity.LOW, Severity.NONE, False),
    ],
)
def test_findings_fail_at_or_above_the_threshold(
    severity: Severity | None, fail_on: Severity, unknown: Severity, expected: bool
):
    assert fails(severity, fail_on, unknown) is expected


def test_describe_says_what_an_unknown_severity_counts_as():
    assert describe(Severity.HIGH, Severity.CRITICAL) == "high"
    assert describe(None, Severity.MEDIUM) == "unknown (counted as medium)"
    assert Severity.named("critical") is Severity.CRITICAL
