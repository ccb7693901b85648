"""Our own program passes our own pack, in every stack.

Every resource `__main__.py` registers for each `Pulumi.<stack>.yaml` (through the mocks
recorder) is run through every policy of the pack with the committed config of that
stack's environment (`policies/config/<env>.json`); no mandatory policy may report
anything. Resource policies see each resource; stack policies see them all at once.

Signatures and vulnerability attestations need a registry: here the registry the stack's
images live in is the in-memory one of `tests/fake_registry.py`, holding a valid cosign
signature and a fresh, clean vulnerability attestation, by a key the test makes, for every
digest the stack deploys; the config's `publicKeys` gets that key. So this checks that our
images are found, pinned and verified, not that a real registry is reachable
(`tests/integration/test_signatures_registry.py` and `test_attestations_registry.py` do).

Invariants guarded:
- no mandatory (or remediate) policy of a stack's environment reports any resource of
  that stack;
- each stack deploys at least one workload, so the check is not vacuous;
- the environment the pack picks for a stack is the one its stack file names.
"""

from __future__ import annotations

import datetime
import json
import runpy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import ResourceValidationPolicy

from go_platform_core.config import StackConfig
from go_platform_policies import POLICIES
from go_platform_policies.attestations import AttestationVerifier
from go_platform_policies.core import Workload
from go_platform_policies.images import (
    image_signature_policy,
    image_vulnerability_scan_policy,
    images,
)
from go_platform_policies.pack_config import config_path, environment_of, load_config
from tests.conftest import (
    REPO,
    STACK_FILES,
    Registration,
    run_under_mocks,
    set_stack_config,
    stack_file_config,
)
from tests.fake_registry import KEY, FakeRegistry, public_pem, scan_predicate, verifier_for
from tests.policy_fixtures import Resource, check_resource, check_stack

ENFORCED = ("mandatory", "remediate")


def stack_name(stack_file: Path) -> str:
    return stack_file.stem.split(".", 1)[1]


def level_and_settings(entry: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(entry, str):
        return entry, {}
    settings = dict(entry)
    return settings.pop("enforcementLevel", "advisory"), settings


def signed_registry(resources: Sequence[Resource]) -> FakeRegistry:
    """A registry holding a valid signature and a clean vulnerability scan finished an hour
    ago, both by KEY, for every digest the stack deploys."""
    registry = FakeRegistry()
    scanned = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    for resource in resources:
        workload = Workload.of(resource.type, resource.props)
        for _, _, image in images(workload) if workload else ():
            if image and image.digest and image.registry == "registry.example.com":
                registry.sign(KEY, image.digest, repository=image.repository)
                registry.attest(
                    [KEY], scan_predicate(scanned), image.digest, repository=image.repository
                )
    return registry


@pytest.fixture(scope="module", params=STACK_FILES, ids=stack_name)
def stack(request: pytest.FixtureRequest) -> tuple[str, list[Registration]]:
    """The stack's name and every resource the program registers for it (run once)."""
    name = stack_name(request.param)
    recording = run_under_mocks(
        lambda: runpy.run_path(str(REPO / "__main__.py"), run_name="__main__"),
        stack=name,
        config=stack_file_config(request.param),
    )
    set_stack_config(StackConfig({}))
    return name, recording.resources


def environment(name: str) -> str:
    """The environment the pack picks for stack `name`, from what the engine would pass it."""
    stack_file = next(f for f in STACK_FILES if stack_name(f) == name)
    config = stack_file_config(stack_file)
    return environment_of({"PULUMI_CONFIG": json.dumps(dict(config.values)), "PULUMI_STACK": name})


def test_every_stack_deploys_workloads(stack):
    _, resources = stack
    assert any(Workload.of(r.type, r.inputs) for r in resources)


def test_no_enforced_policy_reports_our_resources(stack):
    name, resources = stack
    config = load_config(config_path(environment(name)))
    fixtures = [Resource(r.type, r.inputs, r.name) for r in resources]
    registry = signed_registry(fixtures)
    found: list[str] = []
    for policy in POLICIES:
        level, settings = level_and_settings(config.get(policy.name, "advisory"))
        if level not in ENFORCED:
            continue
        if policy.name == "image-signature-verified":
            policy = image_signature_policy(verifier_for(registry))
            settings = {**settings, "publicKeys": [public_pem(KEY)]}
        if policy.name == "image-vulnerability-scanned":
            policy = image_vulnerability_scan_policy(
                verifier_for(registry, kind=AttestationVerifier)
            )
            settings = {**settings, "publicKeys": [public_pem(KEY)]}
        if isinstance(policy, ResourceValidationPolicy):
            for fixture in fixtures:
                found += [
                    f"{policy.name} on {fixture.name}: {m}"
                    for m in check_resource(policy, fixture, settings)
                ]
        else:
            found += [f"{policy.name}: {m}" for m in check_stack(policy, fixtures, settings)]
    assert found == []


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=stack_name)
def test_the_pack_picks_the_stack_files_environment(stack_file):
    config = stack_file_config(stack_file)
    named = config.values.get("go-platform:environment", stack_name(stack_file))
    assert environment(stack_name(stack_file)) == named
