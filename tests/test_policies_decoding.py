"""The pack decodes a resource's properties once per engine call (`decode_once`).

Runs the policy SDK's own analyzer servicer in-process with every policy of the pack and
counts the protobuf-to-dict conversions and the unknown-checking proxies it makes: without
`decode_once` that is one of each per policy (30 for a Deployment), with it one per message. What the policies report is the same
either way; `tests/integration/test_policy_analyzer.py` checks that over gRPC against the
pack process, which installs `decode_once`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pulumi_policy.policy as sdk
import pulumi_policy.proxy as proxy
import pytest
from google.protobuf import json_format
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

from tests.integration.test_policy_analyzer import analyze_request, analyze_stack_request
from tests.policy_fixtures import deployment

# isort: split
from go_platform_policies import POLICIES
from go_platform_policies.decoding import IdentityMemo, decode_once


def servicer() -> Any:
    return sdk._PolicyAnalyzerServicer("go-platform", "0.0.1", POLICIES, EnforcementLevel.ADVISORY)


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every message the SDK converts, through the installed decoders."""
    seen: list[object] = []
    original = json_format.MessageToDict

    def counted(message: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(message)
        return original(message, *args, **kwargs)

    decode_once()
    monkeypatch.setattr(json_format, "MessageToDict", counted)
    return seen


def test_the_sdk_still_decodes_through_the_replaced_globals() -> None:
    decode_once()
    assert sdk._go_platform_decode_once is True
    assert sdk.deserialize_properties.__module__ == "go_platform_policies.decoding"
    assert sdk.json_format.MessageToDict.__module__ == "go_platform_policies.decoding"
    assert sdk.unknown_checking_proxy.__module__ == "go_platform_policies.decoding"


@pytest.fixture
def proxied(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every value the SDK builds a new unknown-checking proxy of (its proxy's top level)."""
    seen: list[object] = []
    original = proxy._proxy_helper

    def counted(value: Any, props_acc: list[str]) -> Any:
        if not props_acc:
            seen.append(value)
        return original(value, props_acc)

    decode_once()
    monkeypatch.setattr(proxy, "_proxy_helper", counted)
    return seen


def test_one_resource_is_decoded_once_for_every_resource_policy(conversions: list[object]) -> None:
    resource_policies = [p for p in POLICIES if isinstance(p, ResourceValidationPolicy)]
    assert len(resource_policies) > 20
    request = analyze_request(deployment({"containers[0].securityContext.privileged": True}))

    response = servicer().Analyze(request, None)

    assert conversions == [request.properties]
    assert any("privileged" in d.message for d in response.diagnostics)


def test_one_resource_is_proxied_once_for_every_resource_policy(proxied: list[object]) -> None:
    request = analyze_request(deployment({"containers[0].securityContext.privileged": True}))

    response = servicer().Analyze(request, None)

    assert len(proxied) == 1
    assert proxied[0]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert any("privileged" in d.message for d in response.diagnostics)


def test_a_stack_is_proxied_once_for_every_stack_policy(proxied: list[object]) -> None:
    fixture = deployment()
    request = analyze_stack_request([replace(fixture, name=name) for name in ("a", "b", "c")])

    servicer().AnalyzeStack(request, None)

    assert len(proxied) == 3


def test_a_stack_is_decoded_once_for_every_stack_policy(conversions: list[object]) -> None:
    assert sum(isinstance(p, StackValidationPolicy) for p in POLICIES) > 1
    fixture = deployment()
    request = analyze_stack_request([replace(fixture, name=name) for name in ("a", "b", "c")])

    servicer().AnalyzeStack(request, None)

    assert conversions == [r.properties for r in request.resources]


def test_a_new_message_with_equal_content_is_decoded_again(conversions: list[object]) -> None:
    fixture = deployment()
    requests = [analyze_request(fixture) for _ in range(2)]
    for request in requests:
        servicer().Analyze(request, None)
    assert conversions == [r.properties for r in requests]


def test_the_memo_keeps_the_last_entries_and_their_sources_alive() -> None:
    memo = IdentityMemo(size=2)
    sources = [object() for _ in range(3)]
    computed: list[int] = []

    def compute(index: int) -> int:
        computed.append(index)
        return index

    for index, source in enumerate(sources):
        assert memo(source, lambda index=index: compute(index)) == index
    assert memo(sources[2], lambda: compute(99)) == 2  # remembered
    assert memo(sources[0], lambda: compute(0)) == 0  # evicted, computed again
    assert computed == [0, 1, 2, 0]
    assert len(memo) == 2
