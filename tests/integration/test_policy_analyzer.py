"""The pack as the engine runs it: `python -m pulumi.policy` and the Analyzer gRPC protocol.

The pack is started from `policies/` exactly as the Python language host starts a policy
pack (`python -u -m pulumi.policy <engine address> .`, the stack's config in
`PULUMI_CONFIG`), its port read from stdout, and every fixture case of the policy test
modules is sent over gRPC: `Configure` with the case's settings, then `Analyze` (resource
policies) or `AnalyzeStack` (stack policies). The diagnostics must equal what the direct
calls in the unit tests report. Signature cases are left to
`test_signatures_registry.py`, which runs them against a real registry.

Invariants guarded:
- the pack starts, serves on 127.0.0.1 and describes every policy, with its type, tags and
  schema, and the stack environment's committed file as initial config;
- over gRPC each fixture yields exactly the direct call's messages, at the configured
  enforcement level; remediation returns the same props as the direct call;
- a value unknown during preview becomes the SDK's advisory "can't run during preview",
  never a crash; a bad setting is one diagnostic, not an RPC error;
- a bad committed config stops the pack with one line naming the key path, no traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import StackValidationPolicy

from tests import (
    test_policies_images,
    test_policies_network,
    test_policies_pod_security,
    test_policies_stack,
    test_policies_workloads,
)
from tests.conftest import REPO
from tests.policy_fixtures import (
    POLICIES_BY_NAME,
    Case,
    Resource,
    deployment,
    remediated,
    run_case,
)

# isort: split
from go_platform_policies import POLICIES
from go_platform_policies.pack_config import CONFIG_DIR, load_config

POLICIES_DIR = REPO / "policies"
START_TIMEOUT = 60
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

CASES: list[Case] = [
    *test_policies_workloads.CASES,
    *test_policies_pod_security.CASES,
    *test_policies_images.CASES,
    *test_policies_network.CASES,
    *test_policies_stack.CASES,
]


# --- starting the pack -----------------------------------------------------------------


class Pack:
    """A running pack process and a stub to talk to it."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)

    def configure(self, config: Mapping[str, tuple[int, Mapping[str, Any]]]) -> None:
        """Configure policies as the engine does: name -> (enforcement level, properties)."""
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, (level, properties) in config.items():
            entry = request.policyConfig[name]
            entry.enforcementLevel = level
            entry.properties.update(dict(properties))
        self.stub.Configure(request)

    def stop(self) -> None:
        self.channel.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def pack_env(stack: str, config: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env.update(
        {
            "PULUMI_STACK": stack,
            "PULUMI_PROJECT": "go-platform",
            "PULUMI_DRY_RUN": "true",
            "PULUMI_CONFIG": json.dumps(dict(config or {})),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def start_pack(
    directory: Path, env: Mapping[str, str], python: str | Path = sys.executable
) -> subprocess.Popen[bytes]:
    """The pack process, started the way the language host starts a policy pack."""
    return subprocess.Popen(
        [str(python), "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."],
        cwd=directory,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def serve(
    stack: str = "staging",
    directory: Path = POLICIES_DIR,
    env: Mapping[str, str] | None = None,
    python: str | Path = sys.executable,
) -> Pack:
    """The pack in `directory`, started by `python`, once it serves (`env`: the stack's)."""
    process = start_pack(directory, pack_env(stack) if env is None else env, python)
    assert process.stdout is not None
    line = process.stdout.readline().decode().strip()
    if not line.isdigit():
        process.kill()
        _, stderr = process.communicate(timeout=10)
        pytest.fail(f"the pack did not print its port (got {line!r}):\n{stderr.decode()}")
    pack = Pack(process, int(line))
    grpc.channel_ready_future(pack.channel).result(timeout=START_TIMEOUT)
    return pack


@pytest.fixture(scope="module")
def pack() -> Iterator[Pack]:
    running = serve("staging")
    yield running
    running.stop()


# --- requests ------------------------------------------------------------------------------


def struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    value = struct_pb2.Struct()
    value.update(json.loads(json.dumps(props)))
    return value


def analyze_request(resource: Resource) -> analyzer_pb2.AnalyzeRequest:
    return analyzer_pb2.AnalyzeRequest(
        type=resource.type,
        properties=struct(resource.props),
        urn=resource.urn,
        name=resource.name,
        options=analyzer_pb2.AnalyzerResourceOptions(),
    )


def analyze_stack_request(resources: Sequence[Resource]) -> analyzer_pb2.AnalyzeStackRequest:
    return analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                type=r.type,
                properties=struct(r.props),
                urn=r.urn,
                name=r.name,
                options=analyzer_pb2.AnalyzerResourceOptions(),
            )
            for r in resources
        ]
    )


def messages(response: Any, policy: str, description: str) -> list[tuple[str, str]]:
    """(urn, message) of `policy`'s diagnostics, without the description the SDK prefixes."""
    return [
        (d.urn, d.message.removeprefix(f"{description}\n"))
        for d in response.diagnostics
        if d.policyName == policy
    ]


def over_grpc(pack: Pack, case: Case) -> list[str]:
    """The case's messages as the pack reports them over gRPC."""
    policy = POLICIES_BY_NAME[case.policy]
    pack.configure({case.policy: (analyzer_pb2.MANDATORY, case.config)})
    if len(case.resources) == 1 and case.policy not in STACK_POLICIES:
        response = pack.stub.Analyze(analyze_request(case.resources[0]))
        return [m for _, m in messages(response, case.policy, policy.description)]
    response = pack.stub.AnalyzeStack(analyze_stack_request(case.resources))
    names = {r.urn: r.name for r in case.resources}
    return [
        f"{names[u]}: {m}" if u else m
        for u, m in messages(response, case.policy, policy.description)
    ]


STACK_POLICIES = {p.name for p in POLICIES if isinstance(p, StackValidationPolicy)}


# --- tests -----------------------------------------------------------------------------------


def test_the_pack_describes_every_policy(pack):
    info = pack.stub.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "go-platform"
    assert info.supportsConfig
    described = {p.name: p for p in info.policies}
    assert list(described) == [p.name for p in POLICIES]
    for policy in POLICIES:
        found = described[policy.name]
        assert list(found.tags) == policy.tags
        assert found.policy_type == (
            analyzer_pb2.POLICY_TYPE_STACK
            if policy.name in STACK_POLICIES
            else analyzer_pb2.POLICY_TYPE_RESOURCE
        )
        assert "exclude" in json_format.MessageToDict(found.configSchema)["properties"]


def test_initial_config_is_the_stack_environments_file(pack):
    info = pack.stub.GetAnalyzerInfo(empty_pb2.Empty())
    committed = load_config(CONFIG_DIR / "staging.json")
    levels = {
        "advisory": analyzer_pb2.ADVISORY,
        "mandatory": analyzer_pb2.MANDATORY,
        "remediate": analyzer_pb2.REMEDIATE,
        "disabled": analyzer_pb2.DISABLED,
    }
    assert set(info.initialConfig) == set(committed)
    for name, entry in committed.items():
        level = entry if isinstance(entry, str) else entry["enforcementLevel"]
        properties = (
            {}
            if isinstance(entry, str)
            else {k: v for k, v in entry.items() if k != "enforcementLevel"}
        )
        got = info.initialConfig[name]
        assert got.enforcementLevel == levels[level], name
        assert json_format.MessageToDict(got.properties) == properties, name


@pytest.mark.parametrize("case", CASES, ids=str)
def test_over_grpc_equals_the_direct_call(pack, case):
    direct = run_case(case)
    assert over_grpc(pack, case) == direct
    assert direct == list(case.expected)


def test_diagnostics_carry_the_configured_enforcement_level(pack):
    privileged = deployment({"containers[0].securityContext.privileged": True})
    for level in (analyzer_pb2.ADVISORY, analyzer_pb2.MANDATORY):
        pack.configure({"container-privileged-disallowed": (level, {})})
        response = pack.stub.Analyze(analyze_request(privileged))
        found = [
            d for d in response.diagnostics if d.policyName == "container-privileged-disallowed"
        ]
        assert [d.enforcementLevel for d in found] == [level]
        assert found[0].policyPackName == "go-platform"


def test_remediation_over_grpc_equals_the_direct_call(pack):
    policy = POLICIES_BY_NAME["pod-seccomp-profile-required"]
    bare = deployment(
        {
            "securityContext.seccompProfile": None,
            "containers[0].securityContext.seccompProfile": None,
        }
    )
    pack.configure({policy.name: (analyzer_pb2.REMEDIATE, {})})
    response = pack.stub.Remediate(analyze_request(bare))
    [remediation] = [r for r in response.remediations if r.policyName == policy.name]
    assert remediation.diagnostic == ""
    direct = remediated(policy, bare)
    assert direct is not None
    assert json_format.MessageToDict(remediation.properties) == json.loads(json.dumps(direct))
    fixed = json_format.MessageToDict(remediation.properties)
    assert fixed["spec"]["template"]["spec"]["securityContext"]["seccompProfile"] == {
        "type": "RuntimeDefault"
    }


def test_unknown_values_during_preview_are_advisory_not_errors(pack):
    pack.configure({"image-digest-pinned": (analyzer_pb2.MANDATORY, {})})
    building = deployment({"containers[0].image": UNKNOWN_STRING})
    response = pack.stub.Analyze(analyze_request(building))
    [diagnostic] = [d for d in response.diagnostics if d.policyName == "image-digest-pinned"]
    assert diagnostic.enforcementLevel == analyzer_pb2.ADVISORY
    assert "can't run policy 'image-digest-pinned'" in diagnostic.message
    assert "during preview" in diagnostic.message


def test_bad_settings_are_one_diagnostic_not_an_rpc_error(pack):
    pack.configure({"container-limits-within-caps": (analyzer_pb2.MANDATORY, {"maxCpu": "lots"})})
    response = pack.stub.Analyze(analyze_request(deployment()))
    description = POLICIES_BY_NAME["container-limits-within-caps"].description
    assert messages(response, "container-limits-within-caps", description) == [
        (
            "",
            "invalid policy config: container-limits-within-caps.maxCpu: 'lots' is not a "
            "Kubernetes quantity (examples: 250m, 0.5, 128Mi, 1Gi)",
        )
    ]


def test_a_bad_committed_config_stops_the_pack_with_one_line(tmp_path):
    copy = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, copy, ignore=shutil.ignore_patterns("venv", "__pycache__"))
    (copy / "config" / "prod.json").write_text(
        json.dumps({"image-registry-allowed": {"allowedRegistries": ["https://ghcr.io"]}})
    )
    process = start_pack(copy, pack_env("prod"))
    try:
        stdout, stderr = process.communicate(timeout=START_TIMEOUT)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode != 0
    assert stdout == b""
    lines = stderr.decode().strip().splitlines()
    assert lines == [
        f"go-platform policy pack: invalid policy config {copy / 'config' / 'prod.json'}: "
        "image-registry-allowed.allowedRegistries[0]: 'https://ghcr.io' is not a registry host "
        "or registry/path prefix (examples: registry.example.com, ghcr.io/acme, 127.0.0.1:5000)"
    ]
