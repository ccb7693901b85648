"""`image-vulnerability-scanned`: cosign vulnerability attestations, against the in-memory
registry of `tests/fake_registry.py` (the same flows against a real registry:
`tests/integration/test_attestations_registry.py`). The clock is fixed, so ages are exact.

Invariants guarded:
- a digest-pinned image passes only with a `sha256-<hex>.att` DSSE layer whose bytes match
  its digest, whose in-toto Statement one configured key signed (over DSSE's PAE), names the
  deployed digest, carries a `vuln/v1` predicate that finished at most `maxAgeHours` ago
  (and not in the future) and reports no finding at or above `failOn`;
- everything else fails closed, each with the reason a user acts on: no attestation,
  unsigned, signed by another key, another image's, not a vulnerability scan, stale,
  failing findings (listed with their severity and package), a result in no known format,
  a tampered layer, an unreachable registry, no digest, no keys;
- of several scans the newest trusted one counts; other attestations (SBOMs) are skipped
  without fetching them;
- severities come from Trivy's and Grype's reports: the scanner's label, else its highest
  CVSS v3 score, else unknown, counted as `unknownSeverity` (critical by default);
- one registry round trip per image and key set per run; tokens are asked as for signatures.
"""

from __future__ import annotations

import datetime
import json
import urllib.parse

import pytest

from go_platform_policies.attestations import (
    VULN_PREDICATE_TYPE,
    AttestationVerifier,
    attestation_tag,
    pae,
    scan_findings,
)
from go_platform_policies.images import image_vulnerability_scan_policy
from go_platform_policies.shared import Severity
from tests.fake_registry import (
    KEY,
    OTHER_KEY,
    REPOSITORY,
    FakeRegistry,
    attestation_layer,
    grype_result,
    keys,
    oci_manifest,
    registry_with,
    scan_predicate,
    sha256,
    trivy_result,
    verifier_for,
)
from tests.policy_fixtures import (
    DIGEST,
    IMAGE,
    OTHER_DIGEST,
    case,
    check_resource,
    deployment,
    run_case,
)

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)
FRESH = NOW - datetime.timedelta(hours=2)
C0 = "container 'app' (spec.template.spec.containers[0])"
TAG = attestation_tag(DIGEST)
WHERE = f"registry.example.com/{REPOSITORY}"
TRIVY = "pkg:github/aquasecurity/trivy@v0.57.1"
GRYPE = "pkg:github/anchore/grype@v0.84.0"
SPDX = "https://spdx.dev/Document"


def scan_policy(registry: FakeRegistry):
    """The real policy, whose verifier reaches `registry`, at NOW."""
    return image_vulnerability_scan_policy(
        verifier_for(registry, kind=AttestationVerifier), clock=lambda: NOW
    )


def not_admitted(reason: str, *, count: int = 1, hours: str = "168", fail_on: str = "high") -> str:
    return (
        f"{C0}: image {IMAGE!r} has no passing vulnerability scan ({reason}); expected a cosign "
        f"vulnerability attestation (tag {TAG}) signed by one of the {count} configured public "
        f"key(s), at most {hours}h old, with no finding at or above {fail_on}"
    )


def attested(result=None, *, finished=FRESH, signers=(KEY,), scanner=TRIVY, **options):
    """A setup step: attest DIGEST's scan (`result`, a clean Trivy report by default)."""
    return lambda r: r.attest(signers, scan_predicate(finished, result, scanner), **options)


DEEPLY_NESTED = b"[" * 100_000 + b"]" * 100_000


def pushed_blob(body: bytes):
    """A setup step: DIGEST's `.att` tag names one DSSE layer holding `body`, unsigned."""

    def push(registry: FakeRegistry) -> None:
        manifest = oci_manifest([attestation_layer(body)])
        registry.manifests[(REPOSITORY, TAG)] = json.dumps(manifest).encode()
        registry.blobs[(REPOSITORY, sha256(body))] = body

    return push


def annotations_listed(registry: FakeRegistry) -> None:
    """A setup step: the `.att` manifest's layer annotations become lists of their values."""
    manifest = json.loads(registry.manifests[(REPOSITORY, TAG)])
    for layer in manifest["layers"]:
        layer["annotations"] = list(layer["annotations"].values())
    registry.manifests[(REPOSITORY, TAG)] = json.dumps(manifest).encode()


OPENSSL = ("CVE-2026-1001", "CRITICAL", "openssl 3.0.11")
ZLIB = ("CVE-2026-1002", "MEDIUM", "zlib 1.2.13")
CURL = ("CVE-2026-1003", "LOW", "curl 7.88.1")
CASES = [
    (
        registry_with(attested()),
        case("image-vulnerability-scanned", "fresh clean scan", deployment(), config=keys(KEY)),
    ),
    (
        registry_with(attested(trivy_result(ZLIB, CURL))),
        case(
            "image-vulnerability-scanned",
            "findings below failOn",
            deployment(),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(
            attested(trivy_result(OPENSSL), finished=FRESH - datetime.timedelta(hours=20)),
            attested(trivy_result(ZLIB)),
        ),
        case(
            "image-vulnerability-scanned",
            "a newer clean scan after a failing one",
            deployment(),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(
            lambda r: r.attest([KEY], {"spdxVersion": "SPDX-2.3"}, predicate_type=SPDX),
            attested(signers=(OTHER_KEY,)),
        ),
        case(
            "image-vulnerability-scanned",
            "beside an SBOM, by the second of two keys",
            deployment(),
            config=keys(KEY, OTHER_KEY),
        ),
    ),
    (
        registry_with(
            attested(grype_result(("CVE-2026-1004", "Negligible", "bash 5.2", None)), scanner=GRYPE)
        ),
        case("image-vulnerability-scanned", "grype report", deployment(), config=keys(KEY)),
    ),
    (
        registry_with(),
        case(
            "image-vulnerability-scanned",
            "no attestation",
            deployment(),
            not_admitted(f"no vulnerability attestation: tag {TAG} is not in {WHERE}"),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(attested(signers=())),
        case(
            "image-vulnerability-scanned",
            "unsigned",
            deployment(),
            not_admitted("the attestation carries no signature"),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(attested(signers=(OTHER_KEY,))),
        case(
            "image-vulnerability-scanned",
            "signed by another key",
            deployment(),
            not_admitted("no configured public key verifies the attestation's signature"),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(attested(finished=NOW - datetime.timedelta(hours=200))),
        case(
            "image-vulnerability-scanned",
            "stale",
            deployment(),
            not_admitted(
                "the newest scan finished 2026-11-23T04:00:00Z, 200h ago, more than the 168h "
                "allowed; scan the image again and attest the result"
            ),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(attested(finished=NOW - datetime.timedelta(hours=30))),
        case(
            "image-vulnerability-scanned",
            "older than a shorter maxAgeHours",
            deployment(),
            not_admitted(
                "the newest scan finished 2026-11-30T06:00:00Z, 30h ago, more than the 24h "
                "allowed; scan the image again and attest the result",
                hours="24",
            ),
            config=keys(KEY, maxAgeHours=24),
        ),
    ),
    (
        registry_with(attested(trivy_result(OPENSSL, ZLIB, CURL))),
        case(
            "image-vulnerability-scanned",
            "a critical finding",
            deployment(),
            not_admitted(
                f"the scan by {TRIVY} finished 2026-12-01T10:00:00Z reports 1 finding(s) at or "
                "above high: CVE-2026-1001 (critical) in openssl 3.0.11; upgrade what they "
                "affect, rebuild, scan and attest again"
            ),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(attested(trivy_result(ZLIB, CURL))),
        case(
            "image-vulnerability-scanned",
            "a medium finding under failOn low",
            deployment(),
            not_admitted(
                f"the scan by {TRIVY} finished 2026-12-01T10:00:00Z reports 2 finding(s) at or "
                "above low: CVE-2026-1002 (medium) in zlib 1.2.13, CVE-2026-1003 (low) in curl "
                "7.88.1; upgrade what they affect, rebuild, scan and attest again",
                fail_on="low",
            ),
            config=keys(KEY, failOn="low"),
        ),
    ),
    (
        registry_with(attested(trivy_result(("CVE-2026-1005", "UNKNOWN", "libxml2 2.9.14")))),
        case(
            "image-vulnerability-scanned",
            "an unrated finding counts as critical",
            deployment(),
            not_admitted(
                f"the scan by {TRIVY} finished 2026-12-01T10:00:00Z reports 1 finding(s) at or "
                "above high: CVE-2026-1005 (unknown (counted as critical)) in libxml2 2.9.14; "
                "upgrade what they affect, rebuild, scan and attest again"
            ),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(
            attested(
                grype_result(("GHSA-xxxx", "Unknown", "golang.org/x/net v0.1.0", 9.1)),
                scanner=GRYPE,
            )
        ),
        case(
            "image-vulnerability-scanned",
            "grype: an unrated finding with a CVSS score",
            deployment(),
            not_admitted(
                f"the scan by {GRYPE} finished 2026-12-01T10:00:00Z reports 1 finding(s) at or "
                "above high: GHSA-xxxx (critical) in golang.org/x/net v0.1.0; upgrade what they "
                "affect, rebuild, scan and attest again"
            ),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(attested(subject=OTHER_DIGEST)),
        case(
            "image-vulnerability-scanned",
            "another image's attestation",
            deployment(),
            not_admitted(f"the attestation is for another image: its subject names {OTHER_DIGEST}"),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(lambda r: r.attest([KEY], {"spdxVersion": "SPDX-2.3"}, predicate_type=SPDX)),
        case(
            "image-vulnerability-scanned",
            "only an SBOM",
            deployment(),
            not_admitted(
                f"the attestation's predicate is {SPDX!r}, not a vulnerability scan "
                f"({VULN_PREDICATE_TYPE})"
            ),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(attested({"vulnerabilities": []})),
        case(
            "image-vulnerability-scanned",
            "a result in no known format",
            deployment(),
            not_admitted(
                "the scan's scanner.result is in no format the pack reads (Trivy or Grype JSON)"
            ),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(attested(finished=NOW + datetime.timedelta(hours=1))),
        case(
            "image-vulnerability-scanned",
            "a scan from the future",
            deployment(),
            not_admitted(
                "the newest scan says it finished in the future, 2026-12-01T13:00:00Z; check "
                "the scanner's clock"
            ),
            config=keys(KEY),
        ),
    ),
    # Anyone who can push to the repository writes what the tag and its blobs hold: whatever
    # it is, the image is reported, and the engine's call is not ended by an exception.
    (
        registry_with(lambda r: r.manifests.update({(REPOSITORY, TAG): DEEPLY_NESTED})),
        case(
            "image-vulnerability-scanned",
            "an attestation tag holding JSON nested past the interpreter's recursion limit",
            deployment(),
            not_admitted(f"tag {TAG} in {WHERE} is not a cosign attestation manifest"),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(pushed_blob(DEEPLY_NESTED)),
        case(
            "image-vulnerability-scanned",
            "an attestation layer whose blob is JSON nested past the recursion limit",
            deployment(),
            not_admitted("an attestation layer is not a DSSE envelope"),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(attested(), annotations_listed),
        case(
            "image-vulnerability-scanned",
            "a signed scan whose layer annotations (unsigned) are a list",
            deployment(),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(attested(), lambda r: setattr(r, "down", True)),
        case(
            "image-vulnerability-scanned",
            "unreachable registry",
            deployment(),
            not_admitted(
                "attestation lookup failed: registry.example.com unreachable ([Errno 111] "
                "Connection refused)"
            ),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(attested()),
        case(
            "image-vulnerability-scanned",
            "not pinned by digest",
            deployment({"containers[0].image": "registry.example.com/acme/app:1.4.2"}),
            f"{C0}: image is 'registry.example.com/acme/app:1.4.2'; expected a reference pinned "
            "by digest, whose vulnerability attestation can be verified",
            config=keys(KEY),
        ),
    ),
    (
        registry_with(attested()),
        case(
            "image-vulnerability-scanned",
            "no keys configured",
            deployment(),
            f"{C0}: image is '{IMAGE}'; expected a vulnerability attestation by a "
            "configured key, but publicKeys in the policy config is empty",
        ),
    ),
]

ATTESTATION_CASES = [fixture for _, fixture in CASES]


@pytest.mark.parametrize(("registry", "fixture"), CASES, ids=[str(c) for _, c in CASES])
def test_case(registry, fixture):
    assert run_case(fixture, scan_policy(registry)) == list(fixture.expected)


def test_a_tampered_attestation_fails():
    registry = registry_with(attested())
    [(key, body)] = registry.blobs.items()
    registry.blobs[key] = body.replace(b'"signatures"', b'"signatures" ')

    assert check_resource(scan_policy(registry), deployment(), keys(KEY)) == [
        not_admitted(f"attestation does not match its digest {sha256(body)}")
    ]


def test_other_attestations_are_not_fetched():
    registry = registry_with(
        lambda r: r.attest([KEY], {"spdxVersion": "SPDX-2.3"}, predicate_type=SPDX)
    )
    check_resource(scan_policy(registry), deployment(), keys(KEY))
    assert [url for url, _ in registry.requests] == [
        f"https://registry.example.com/v2/{REPOSITORY}/manifests/{TAG}"
    ]


def test_one_lookup_per_image_in_a_run():
    registry = registry_with(attested())
    policy = scan_policy(registry)
    for name in ("app", "app-canary"):
        assert check_resource(policy, deployment(name=name), keys(KEY)) == []
    # Stricter settings judge the same scan again, without asking the registry again.
    assert check_resource(policy, deployment(), keys(KEY, maxAgeHours=1)) != []
    assert len(registry.manifest_requests()) == 1


def test_attestations_are_asked_with_a_token_as_signatures_are():
    registry = registry_with(lambda r: setattr(r, "auth", "bearer"), attested())
    assert check_resource(scan_policy(registry), deployment(), keys(KEY)) == []
    token_url = registry.requests[1][0]
    assert dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(token_url).query)) == {
        "scope": f"repository:{REPOSITORY}:pull",
        "service": "registry.example.com",
    }


# --- the formats ---------------------------------------------------------------------------


def test_pae_is_dsses():
    # The specification's example.
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_the_legacy_predicate_type_is_a_scan_too():
    registry = registry_with(
        lambda r: r.attest(
            [KEY], scan_predicate(FRESH), predicate_type="cosign.sigstore.dev/attestation/vuln/v1"
        )
    )
    assert check_resource(scan_policy(registry), deployment(), keys(KEY)) == []


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (
            trivy_result(OPENSSL, ZLIB),
            [("CVE-2026-1001", Severity.CRITICAL), ("CVE-2026-1002", Severity.MEDIUM)],
        ),
        (trivy_result(), []),
        (
            {
                "SchemaVersion": 2,
                "Results": [
                    {
                        "Vulnerabilities": [
                            {
                                "VulnerabilityID": "CVE-2026-1006",
                                "Severity": "UNKNOWN",
                                "CVSS": {"nvd": {"V3Score": 7.2}, "redhat": {"V3Score": 5.0}},
                            }
                        ]
                    },
                    {"Target": "go.mod", "Vulnerabilities": None},
                ],
            },
            [("CVE-2026-1006", Severity.HIGH)],
        ),
        (
            grype_result(("CVE-2026-1007", "High", "musl 1.2.4", 5.0)),
            [("CVE-2026-1007", Severity.HIGH)],
        ),
        (grype_result(("CVE-2026-1008", "Unknown", "musl 1.2.4", None)), [("CVE-2026-1008", None)]),
        (
            grype_result(("CVE-2026-1009", "Negligible", "musl 1.2.4", None)),
            [("CVE-2026-1009", Severity.NONE)],
        ),
    ],
    ids=[
        "trivy",
        "trivy-clean",
        "trivy-cvss-fallback",
        "grype-label-first",
        "grype-unrated",
        "grype-negligible",
    ],
)
def test_scanner_reports(result, expected):
    found = scan_findings(json.loads(json.dumps(result)))
    assert [(f.id, f.severity) for f in found or []] == expected


@pytest.mark.parametrize("result", [None, [], "clean", {"vulnerabilities": []}, {"Results": []}])
def test_results_in_no_known_format_are_refused(result):
    assert scan_findings(result) is None
