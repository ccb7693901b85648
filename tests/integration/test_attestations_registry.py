"""Vulnerability attestations against a real registry: the loopback `docker-registry` the
signature tests start (`test_signatures_registry.py`), one per test on 127.0.0.1.

Each test pushes an image and, where the case needs one, a vulnerability attestation laid
out as `cosign attest --type vuln` stores it: under `sha256-<hex>.att`, an OCI manifest whose
layer is a DSSE envelope of an in-toto Statement with the `vuln/v1` predicate, signed over
DSSE's PAE with a P-256 key the test generates (`tests/fake_registry.py` builds the
documents). The policy runs through real `ResourceValidationArgs`, and once through the
pack process over gRPC.

Invariants guarded:
- a fresh, clean scan signed by the configured key passes, directly, behind token
  authentication (one anonymous pull token) and through the running pack;
- missing, unsigned, wrongly signed, stale and failing scans fail, each with the reason the
  user acts on; a stopped registry fails closed ("unreachable"), never passes.
"""

from __future__ import annotations

import datetime
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from pulumi.runtime.proto import analyzer_pb2

from tests.fake_registry import (
    attestation_layer,
    envelope,
    oci_manifest,
    public_pem,
    scan_predicate,
    statement,
    trivy_result,
)
from tests.integration.test_policy_analyzer import analyze_request, messages, serve
from tests.integration.test_signatures_registry import (  # the same loopback registry
    REPOSITORY,
    SERVICE,
    Registry,
    pytestmark,  # noqa: F401 (skipped where docker-registry is not installed)
    registry,  # noqa: F401 (its fixture, which `loopback` asks for)
    token_registry,  # noqa: F401 (its fixture, which `token_loopback` asks for)
)
from tests.policy_fixtures import check_resource, deployment

# isort: split
from go_platform_policies.attestations import AttestationVerifier, attestation_tag
from go_platform_policies.images import image_vulnerability_scan_policy

KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
CONFIG = {"publicKeys": [public_pem(KEY)], "maxAgeHours": 168, "timeoutSeconds": 5}
POLICY = "image-vulnerability-scanned"
OPENSSL = ("CVE-2026-1001", "CRITICAL", "openssl 3.0.11")


@pytest.fixture
def loopback(request: pytest.FixtureRequest) -> Registry:
    """A registry of the signature tests, started for this test on 127.0.0.1."""
    return request.getfixturevalue("registry")


@pytest.fixture
def token_loopback(request: pytest.FixtureRequest) -> Registry:
    """The same, behind token authentication."""
    return request.getfixturevalue("token_registry")


def push_attestation(
    target: Registry,
    digest: str,
    *,
    finished: datetime.datetime,
    result: Mapping[str, Any] | None = None,
    signers: Sequence[ec.EllipticCurvePrivateKey] = (KEY,),
) -> None:
    """Attest a scan of `digest` finished at `finished`, as cosign stores it."""
    signed = statement(digest, scan_predicate(finished, result), name=f"{target.host}/{REPOSITORY}")
    body = envelope(signed, signers)
    target.push_blob(b"{}")
    target.push_blob(body)
    target.push_manifest(attestation_tag(digest), oci_manifest([attestation_layer(body)]))


def scanned(image: str, config: Mapping[str, Any] = CONFIG) -> list[str]:
    """The policy's messages for a Deployment running `image`, with a fresh cache."""
    policy = image_vulnerability_scan_policy(AttestationVerifier())
    return check_resource(policy, deployment({"containers[0].image": image}), config)


def reason(found: list[str]) -> str:
    [message] = found
    return message.split("has no passing vulnerability scan (", 1)[1].rsplit("); expected", 1)[0]


def ago(hours: float) -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=hours)


Setup = Callable[[Registry, str], None]
CASES: list[tuple[str, Setup, Callable[[Registry, str], str] | None]] = [
    ("fresh and clean", lambda r, d: push_attestation(r, d, finished=ago(1)), None),
    (
        "missing",
        lambda r, d: None,
        lambda r, d: (
            f"no vulnerability attestation: tag {attestation_tag(d)} is not in "
            f"{r.host}/{REPOSITORY}"
        ),
    ),
    (
        "unsigned",
        lambda r, d: push_attestation(r, d, finished=ago(1), signers=()),
        lambda r, d: "the attestation carries no signature",
    ),
    (
        "signed by another key",
        lambda r, d: push_attestation(r, d, finished=ago(1), signers=(OTHER_KEY,)),
        lambda r, d: "no configured public key verifies the attestation's signature",
    ),
    (
        "stale",
        lambda r, d: push_attestation(r, d, finished=ago(200.2)),
        lambda r, d: (
            "200h ago, more than the 168h allowed; scan the image again and attest the result"
        ),
    ),
    (
        "failing",
        lambda r, d: push_attestation(r, d, finished=ago(1), result=trivy_result(OPENSSL)),
        lambda r, d: (
            "reports 1 finding(s) at or above high: CVE-2026-1001 (critical) in "
            "openssl 3.0.11; upgrade what they affect, rebuild, scan and attest again"
        ),
    ),
]


@pytest.mark.parametrize(("setup", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_case(loopback: Registry, setup: Setup, expected: Callable[[Registry, str], str] | None):
    digest = loopback.push_image("1.0")
    setup(loopback, digest)

    found = scanned(loopback.image(digest))

    if expected is None:
        assert found == []
    else:
        assert reason(found).endswith(expected(loopback, digest)), found


def test_passes_and_fails_through_the_running_pack(loopback: Registry):
    attested = loopback.push_image("1.0")
    push_attestation(loopback, attested, finished=ago(1))
    missing = loopback.push_image("2.0")
    pack = serve("prod")
    try:
        pack.configure({POLICY: (analyzer_pb2.MANDATORY, CONFIG)})
        description = image_vulnerability_scan_policy().description
        found = {}
        for digest in (attested, missing):
            resource = deployment({"containers[0].image": loopback.image(digest)})
            response = pack.stub.Analyze(analyze_request(resource))
            found[digest] = messages(response, POLICY, description)
    finally:
        pack.stop()
    assert found[attested] == []
    [(_, message)] = found[missing]
    assert f"no vulnerability attestation: tag {attestation_tag(missing)} is not in" in message


def test_stopped_registry_fails_closed(loopback: Registry):
    digest = loopback.push_image("1.0")
    push_attestation(loopback, digest, finished=ago(1))
    assert scanned(loopback.image(digest)) == []
    loopback.stop()
    assert reason(scanned(loopback.image(digest))).startswith(
        f"attestation lookup failed: {loopback.host} unreachable ("
    )


def test_token_authentication_is_followed(token_loopback: Registry):
    digest = token_loopback.push_image("1.0")
    push_attestation(token_loopback, digest, finished=ago(1))
    assert token_loopback.tokens is not None
    before = len(token_loopback.tokens.requests)

    assert scanned(token_loopback.image(digest)) == []

    asked = token_loopback.tokens.requests[before:]
    assert len(asked) == 1  # one anonymous pull token, reused for the envelope blob
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(asked[0]).query))
    assert query == {"scope": f"repository:{REPOSITORY}:pull", "service": SERVICE}
