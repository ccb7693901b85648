"""Every policy is tested as Kyverno tests its rules: passing and failing fixtures.

Invariants guarded:
- every policy of the pack has at least one passing and two failing fixture cases, run
  through the real argument types with config (the case tables of the policy test
  modules);
- every case names a policy that exists, and case ids are unique per policy.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests import (
    test_policies_attestations,
    test_policies_images,
    test_policies_network,
    test_policies_pod_security,
    test_policies_signatures,
    test_policies_stack,
    test_policies_workloads,
)
from tests.policy_fixtures import POLICIES_BY_NAME

CASES = [
    *test_policies_workloads.CASES,
    *test_policies_pod_security.CASES,
    *test_policies_images.CASES,
    *test_policies_signatures.SIGNATURE_CASES,
    *test_policies_attestations.ATTESTATION_CASES,
    *test_policies_network.CASES,
    *test_policies_stack.CASES,
]


@pytest.mark.parametrize("name", sorted(POLICIES_BY_NAME))
def test_each_policy_has_passing_and_failing_fixtures(name):
    cases = [c for c in CASES if c.policy == name]
    assert sum(c.passes for c in cases) >= 1, f"{name} has no passing fixture"
    assert sum(not c.passes for c in cases) >= 2, f"{name} has fewer than two failing fixtures"


def test_cases_name_real_policies_and_unique_ids():
    assert {c.policy for c in CASES} <= set(POLICIES_BY_NAME)
    duplicates = [k for k, n in Counter((c.policy, c.id) for c in CASES).items() if n > 1]
    assert duplicates == []
