"""Cosign vulnerability attestations, read from the image's own registry and verified.

`cosign attest --key cosign.key --type vuln --predicate scan.json <image>@sha256:<hex>`
stores, in the image's repository under the tag `sha256-<hex>.att`, an OCI manifest whose
layers (media type `application/vnd.dsse.envelope.v1+json`) are DSSE envelopes:
`payloadType` `application/vnd.in-toto+json`, `payload` the base64 in-toto Statement, and
`signatures[].sig`, ECDSA P-256 / SHA-256 over the envelope's pre-authentication encoding
(PAE: `DSSEv1 <len(type)> <type> <len(body)> <body>`). The Statement names the image in
`subject[].digest.sha256` and carries the predicate of type
`https://cosign.sigstore.dev/attestation/vuln/v1` (cosign before 2.0 wrote it without
`https://`): `scanner.uri`, `scanner.version`, `scanner.db`, `scanner.result` (the
scanner's own report) and `metadata.scanStartedOn` / `scanFinishedOn`.

An attestation counts when its blob matches its digest, one configured key verifies one of
its signatures, its Statement names the deployed digest and its predicate is a
vulnerability scan with a readable finish time and result. Of several, the newest scan
counts. Registry access, credentials, key handling, caching and failing closed are the
signature verification's own (`signatures.py`); what differs is the layer format and what
is checked inside.

Which findings a scan reports is read from `scanner.result` in the formats scanners emit
there: Trivy's JSON report (`Results[].Vulnerabilities[]`, which `trivy --format
cosign-vuln` writes) and Grype's (`matches[].vulnerability`). A finding's severity is the
scanner's own rating label, else the highest CVSS v3 score it gives, else unknown
(`core/go_platform_core/severity.py`); a result in neither format is refused, never read as clean.
"""

from __future__ import annotations

import base64
import binascii
import datetime
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from go_platform_policies.shared import (
    ImageReference,
    Severity,
    describe,
    fails,
    label_severity,
    score_severity,
)
from go_platform_policies.signatures import (
    NotVerified,
    RegistryClient,
    RegistryError,
    RegistryVerifier,
    annotations,
    cosign_tag,
    manifest_layers,
    most_telling,
    read_blob,
    read_json,
    read_manifest,
    verifies,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

DSSE_LAYER_TYPE = "application/vnd.dsse.envelope.v1+json"
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPES = ("https://in-toto.io/Statement/v0.1", "https://in-toto.io/Statement/v1")
VULN_PREDICATE_TYPE = "https://cosign.sigstore.dev/attestation/vuln/v1"
VULN_PREDICATE_TYPES = (VULN_PREDICATE_TYPE, "cosign.sigstore.dev/attestation/vuln/v1")
PREDICATE_TYPE_ANNOTATION = "predicateType"


def attestation_tag(digest: str) -> str:
    """The tag cosign stores an image's attestations under: `sha256-<hex>.att`."""
    return cosign_tag(digest, "att")


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE's pre-authentication encoding of a payload: what its signatures sign."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


# --- what a scan reports -------------------------------------------------------------


@dataclass(frozen=True)
class ScanFinding:
    """One vulnerability a scanner found in the image."""

    id: str
    package: str
    """`openssl 3.0.1`, as the scanner names the affected package and version."""
    severity: Severity | None


def scanned(
    vulnerability: Any, name: Any, version: Any, label: Any, scores: Iterator[Any]
) -> ScanFinding:
    """A finding as a report states it; its severity is the scanner's label, else the
    highest CVSS v3 score it gives, else unknown."""
    rated = label_severity(label)
    if rated is None:
        numbers = [s for s in scores if isinstance(s, int | float) and not isinstance(s, bool)]
        rated = score_severity(max(numbers)) if numbers else None
    return ScanFinding(str(vulnerability or "?"), f"{name or '?'} {version or ''}".strip(), rated)


def _trivy_findings(result: Mapping[str, Any]) -> list[ScanFinding]:
    """`Results[].Vulnerabilities[]`: `Severity`, scores in `CVSS.<source>.V3Score`."""
    findings = []
    for target in result.get("Results") or ():
        for found in (target.get("Vulnerabilities") or ()) if isinstance(target, dict) else ():
            if isinstance(found, dict):
                ratings = found.get("CVSS") if isinstance(found.get("CVSS"), dict) else {}
                scores = (r.get("V3Score") for r in ratings.values() if isinstance(r, dict))
                findings.append(
                    scanned(
                        found.get("VulnerabilityID"),
                        found.get("PkgName"),
                        found.get("InstalledVersion"),
                        found.get("Severity"),
                        scores,
                    )
                )
    return findings


def _grype_findings(result: Mapping[str, Any]) -> list[ScanFinding]:
    """`matches[]`: `vulnerability.severity`, scores in `vulnerability.cvss[].metrics`."""
    findings = []
    for match in result.get("matches") or ():
        found = match.get("vulnerability") if isinstance(match, dict) else None
        if isinstance(found, dict):
            artifact = match.get("artifact") if isinstance(match.get("artifact"), dict) else {}
            scores = (
                (c.get("metrics") or {}).get("baseScore")
                for c in found.get("cvss") or ()
                if isinstance(c, dict) and str(c.get("version", "")).startswith("3")
            )
            findings.append(
                scanned(
                    found.get("id"),
                    artifact.get("name"),
                    artifact.get("version"),
                    found.get("severity"),
                    scores,
                )
            )
    return findings


def scan_findings(result: Any) -> list[ScanFinding] | None:
    """The findings of a `scanner.result`, or None when it is in no format read here."""
    if not isinstance(result, Mapping):
        return None
    if isinstance(result.get("Results", []), list) and "SchemaVersion" in result:
        return _trivy_findings(result)
    if isinstance(result.get("matches"), list):
        return _grype_findings(result)
    return None


# --- the verified scan ---------------------------------------------------------------


@dataclass(frozen=True)
class VulnerabilityScan:
    """A vulnerability scan of the image, signed by a configured key."""

    scanner: str
    """`scanner.uri` (`pkg:github/aquasecurity/trivy@v0.57.1`), with `scanner.version`
    when the URI does not name it."""
    finished: datetime.datetime
    findings: tuple[ScanFinding, ...]


@dataclass(frozen=True)
class ScanVerdict:
    """The newest trusted scan of an image, or why there is none."""

    scan: VulnerabilityScan | None
    reason: str


def _timestamp(value: Any) -> datetime.datetime | None:
    """An RFC 3339 time with a zone (`2026-11-30T10:00:00Z`), or None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def envelope_statement(
    envelope: bytes, keys: Sequence[ec.EllipticCurvePublicKey]
) -> dict[str, Any]:
    """The in-toto Statement of a DSSE envelope one of `keys` signed; NotVerified if none."""
    try:
        document = read_json(envelope)
        payload_type = document["payloadType"]
        body = base64.b64decode(document["payload"], validate=True)
        signatures = [
            base64.b64decode(entry["sig"], validate=True)
            for entry in document.get("signatures") or ()
            if isinstance(entry, dict) and entry.get("sig")
        ]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise NotVerified("an attestation layer is not a DSSE envelope") from None
    if payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise NotVerified(f"an attestation's payload is {payload_type!r}, not an in-toto Statement")
    if not signatures:
        raise NotVerified("the attestation carries no signature")
    signed = pae(payload_type, body)
    if not any(verifies(signed, signature, keys) for signature in signatures):
        raise NotVerified("no configured public key verifies the attestation's signature")
    try:
        statement = read_json(body)
    except ValueError:
        statement = None
    if not isinstance(statement, dict) or statement.get("_type") not in STATEMENT_TYPES:
        raise NotVerified("the signed payload is not an in-toto Statement")
    return statement


def not_a_scan(predicate_type: Any) -> str:
    return (
        f"the attestation's predicate is {predicate_type!r}, not a vulnerability scan "
        f"({VULN_PREDICATE_TYPE})"
    )


def statement_scan(statement: Mapping[str, Any], digest: str) -> VulnerabilityScan:
    """The vulnerability scan a verified Statement attests for `digest`."""
    subjects = [s for s in statement.get("subject") or () if isinstance(s, dict)]
    named = [str((s.get("digest") or {}).get("sha256")) for s in subjects]
    algorithm, _, expected = digest.partition(":")
    if algorithm != "sha256" or expected not in named:
        shown = ", ".join(f"sha256:{n}" for n in named) or "no digest"
        raise NotVerified(f"the attestation is for another image: its subject names {shown}")
    predicate_type = statement.get("predicateType")
    if predicate_type not in VULN_PREDICATE_TYPES:
        raise NotVerified(not_a_scan(predicate_type))
    predicate = statement.get("predicate")
    scanner = predicate.get("scanner") if isinstance(predicate, dict) else None
    metadata = predicate.get("metadata") if isinstance(predicate, dict) else None
    finished = _timestamp(metadata.get("scanFinishedOn") if isinstance(metadata, dict) else None)
    if not isinstance(scanner, dict) or finished is None:
        raise NotVerified(
            "the vulnerability scan lacks scanner or metadata.scanFinishedOn (an RFC 3339 time)"
        )
    findings = scan_findings(scanner.get("result"))
    if findings is None:
        raise NotVerified(
            "the scan's scanner.result is in no format the pack reads (Trivy or Grype JSON)"
        )
    uri, version = str(scanner.get("uri") or ""), str(scanner.get("version") or "")
    name = f"{uri} {version}" if version and version not in uri else uri or version
    return VulnerabilityScan(
        scanner=name or "an unnamed scanner", finished=finished, findings=tuple(findings)
    )


ATTESTATION_REASONS = (
    "the attestation is for another image",
    "no configured public key verifies",
    "the attestation carries no signature",
    "the attestation's predicate",
)


class AttestationVerifier(RegistryVerifier[ScanVerdict]):
    """Finds each image's newest vulnerability scan that a configured key signed."""

    def _verify(
        self,
        client: RegistryClient,
        image: ImageReference,
        digest: str,
        keys: Sequence[ec.EllipticCurvePublicKey],
    ) -> ScanVerdict:
        where = f"{image.registry}/{image.repository}"
        tag = attestation_tag(digest)
        scans, reasons = [], []
        try:
            manifest = read_manifest(client, image, tag, "vulnerability attestation")
            try:
                layers = manifest_layers(manifest, DSSE_LAYER_TYPE)
            except (ValueError, AttributeError):
                return ScanVerdict(
                    None, f"tag {tag} in {where} is not a cosign attestation manifest"
                )
            for layer in layers:
                # The annotation is unsigned: it only spares fetching other kinds (SBOMs).
                annotated = annotations(layer).get(PREDICATE_TYPE_ANNOTATION)
                if annotated and annotated not in VULN_PREDICATE_TYPES:
                    reasons.append(not_a_scan(annotated))
                    continue
                try:
                    envelope = read_blob(client, image, layer["digest"], "attestation")
                    scans.append(statement_scan(envelope_statement(envelope, keys), digest))
                except NotVerified as failure:
                    reasons.append(str(failure))
        except NotVerified as failure:
            return ScanVerdict(None, str(failure))
        except RegistryError as err:
            return ScanVerdict(None, f"attestation lookup failed: {err}")
        if scans:
            return ScanVerdict(max(scans, key=lambda scan: scan.finished), f"attested ({tag})")
        if not reasons:
            return ScanVerdict(None, f"tag {tag} in {where} holds no DSSE attestation layer")
        return ScanVerdict(None, most_telling(reasons, ATTESTATION_REASONS))


# --- judging a verified scan ---------------------------------------------------------

CLOCK_SKEW = datetime.timedelta(minutes=5)
"""How far in the future a scan may say it finished: scanners' and our clocks differ."""
LISTED_FINDINGS = 5


def utc_text(moment: datetime.datetime) -> str:
    """`2026-11-30T10:00:00Z`."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def scan_problem(
    scan: VulnerabilityScan,
    now: datetime.datetime,
    *,
    max_age: datetime.timedelta,
    fail_on: Severity,
    unknown: Severity,
) -> str | None:
    """Why `scan` does not admit its image at `now`, or None: too old, from the future, or
    reporting findings at or above `fail_on` (an unrated one counting as `unknown`)."""
    age = now - scan.finished
    finished = utc_text(scan.finished)
    if age > max_age:
        return (
            f"the newest scan finished {finished}, {age.total_seconds() / 3600:.0f}h ago, more "
            f"than the {max_age.total_seconds() / 3600:g}h allowed; scan the image again and "
            "attest the result"
        )
    if age < -CLOCK_SKEW:
        return (
            f"the newest scan says it finished in the future, {finished}; check the scanner's clock"
        )
    failing = [f for f in scan.findings if fails(f.severity, fail_on, unknown)]
    if not failing:
        return None
    listed = ", ".join(
        f"{f.id} ({describe(f.severity, unknown)}) in {f.package}"
        for f in failing[:LISTED_FINDINGS]
    )
    more = f" and {len(failing) - LISTED_FINDINGS} more" if len(failing) > LISTED_FINDINGS else ""
    return (
        f"the scan by {scan.scanner} finished {finished} reports {len(failing)} finding(s) at "
        f"or above {fail_on.label}: {listed}{more}; upgrade what they affect, rebuild, scan "
        "and attest again"
    )
