"""Supply-chain checks on every container image: tag, digest, registry, signature, and a
recent, clean vulnerability scan.

Image references are parsed by `go_platform_core.images.parse_image`, the parser the program's
config validation uses, so the pack and the program never disagree on what a reference
means (`team/app` is on Docker Hub; `localhost:5000/app` is not).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from typing import TypeVar

from pulumi_policy import ResourceValidationPolicy, Severity

from go_platform_policies.attestations import (
    AttestationVerifier,
    ScanVerdict,
    attestation_tag,
    scan_problem,
)
from go_platform_policies.core import (
    SUPPLY_CHAIN,
    Container,
    Workload,
    WorkloadCheck,
    workload_policy,
)
from go_platform_policies.settings import (
    PolicySettings,
    RegistrySettings,
    SignatureSettings,
    VulnerabilityScanSettings,
)
from go_platform_policies.shared import ImageReference, parse_image
from go_platform_policies.shared import Severity as FindingSeverity
from go_platform_policies.signatures import (
    RegistryVerifier,
    SignatureVerifier,
    Verdict,
    api_repository,
    signature_tag,
)


def images(workload: Workload) -> Iterator[tuple[Container, str | None, ImageReference | None]]:
    """(container, image text, parsed reference) per container; the reference is None when
    the image is missing or unparseable."""
    for container in workload.containers():
        text = container.spec.get("image")
        if text is None and workload.partial:
            continue  # a patch that leaves a container's image to the live object
        if not isinstance(text, str):
            yield container, None, None
            continue
        try:
            yield container, text, parse_image(text)
        except ValueError:
            yield container, text, None


def _unparseable(container: Container, text: str | None) -> str:
    return container.violation(
        "image", text, "an image reference [registry/]repository[:tag][@sha256:digest]"
    )


def check_tag(workload: Workload, _settings: PolicySettings) -> Iterator[str]:
    for container, text, image in images(workload):
        if image is None:
            yield _unparseable(container, text)
        elif image.tag == "latest":
            yield container.violation("image", text, "a version tag or a digest, never latest")
        elif image.tag is None and image.digest is None:
            yield container.violation(
                "image", text, "a version tag or a digest (no tag means latest)"
            )


def check_digest(workload: Workload, _settings: PolicySettings) -> Iterator[str]:
    for container, text, image in images(workload):
        if image is None:
            yield _unparseable(container, text)
        elif image.digest is None:
            yield container.violation(
                "image", text, "a reference pinned by digest (<image>:<tag>@sha256:<digest>)"
            )


def registry_allowed(image: ImageReference, allowed: list[str]) -> bool:
    """True when `image` lives in one of `allowed`: a registry host, or a registry/path
    prefix matched on whole path segments (`ghcr.io/acme` allows `ghcr.io/acme/app`, not
    `ghcr.io/acme-evil/app`). Docker Hub's official images are `docker.io/library/<name>`."""
    location = f"{image.registry}/{api_repository(image)}"
    return any(location == prefix or location.startswith(f"{prefix}/") for prefix in allowed)


def check_registry(workload: Workload, settings: RegistrySettings) -> Iterator[str]:
    expected = (
        f"an image from {', '.join(settings.allowed_registries)}"
        if settings.allowed_registries
        else "an image from an allowed registry (allowedRegistries in the policy config is empty)"
    )
    for container, text, image in images(workload):
        if image is None:
            yield _unparseable(container, text)
        elif not registry_allowed(image, settings.allowed_registries):
            yield container.violation("image", text, expected)


VerdictT = TypeVar("VerdictT")
SettingsT = TypeVar("SettingsT", bound=SignatureSettings)
Judge = Callable[[Container, str, str, VerdictT, SettingsT], str | None]
"""(container, image text, digest, verdict, settings) -> what is wrong, or None."""


def cosign_check(
    verifier: RegistryVerifier[VerdictT], what: str, judge: Judge[VerdictT, SettingsT]
) -> Callable[[Workload, SettingsT], Iterator[str]]:
    """A check of the `what` cosign stores beside each image, looked up through `verifier`
    (whose cache lasts as long as it does) and judged by `judge`. An image the registry
    cannot be asked about is a violation by itself: unparseable, not pinned by digest, or
    no key configured to verify with."""

    def check(workload: Workload, settings: SettingsT) -> Iterator[str]:
        for container, text, image in images(workload):
            if image is None or text is None:
                yield _unparseable(container, text)
            elif image.digest is None:
                yield container.violation(
                    "image", text, f"a reference pinned by digest, whose {what} can be verified"
                )
            elif not settings.public_keys:
                yield container.violation(
                    "image",
                    text,
                    f"a {what} by a configured key, but publicKeys in the policy config is empty",
                )
            else:
                verdict = verifier.verify(image, settings.public_keys, settings.timeout_seconds)
                problem = judge(container, text, image.digest, verdict, settings)
                if problem is not None:
                    yield problem

    return check


def signature_problem(
    container: Container, text: str, digest: str, verdict: Verdict, settings: SignatureSettings
) -> str | None:
    if verdict.verified:
        return None
    return (
        f"{container.where}: image {text!r} is not signed as required ({verdict.reason}); "
        f"expected a cosign signature (tag {signature_tag(digest)}) by one of the "
        f"{len(settings.public_keys)} configured public key(s) over this digest"
    )


def signature_check(verifier: SignatureVerifier) -> WorkloadCheck:
    """The signature check bound to `verifier`, whose cache lasts as long as it does."""
    return cosign_check(verifier, "cosign signature", signature_problem)


def image_signature_policy(verifier: SignatureVerifier | None = None) -> ResourceValidationPolicy:
    """The signature policy, checking through `verifier` (a fresh one by default)."""
    return workload_policy(
        "image-signature-verified",
        "Images are pinned by digest and carry a cosign signature by a configured key.",
        signature_check(verifier or SignatureVerifier()),
        group=SUPPLY_CHAIN,
        severity=Severity.CRITICAL,
        settings=SignatureSettings,
        patches=True,
        remediation_steps=(
            "Sign the image by digest (`cosign sign --key cosign.key <image>@sha256:...`) and "
            "put the public key (cosign.pub) in publicKeys of policies/config/<env>.json."
        ),
    )


Clock = Callable[[], datetime.datetime]


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def vulnerability_scan_check(verifier: AttestationVerifier, clock: Clock) -> WorkloadCheck:
    """The scan check bound to `verifier` (its cache lasts as long as it does), judging
    scans' age by `clock`."""

    def scan_judge(
        container: Container,
        text: str,
        digest: str,
        verdict: ScanVerdict,
        settings: VulnerabilityScanSettings,
    ) -> str | None:
        fail_on = FindingSeverity.named(settings.fail_on)
        problem = verdict.reason
        if verdict.scan is not None:
            problem = scan_problem(
                verdict.scan,
                clock(),
                max_age=datetime.timedelta(hours=settings.max_age_hours),
                fail_on=fail_on,
                unknown=FindingSeverity.named(settings.unknown_severity),
            )
        if problem is None:
            return None
        return (
            f"{container.where}: image {text!r} has no passing vulnerability scan ({problem}); "
            f"expected a cosign vulnerability attestation (tag {attestation_tag(digest)}) "
            f"signed by one of the {len(settings.public_keys)} configured public key(s), at "
            f"most {settings.max_age_hours:g}h old, with no finding at or above {fail_on.label}"
        )

    return cosign_check(verifier, "vulnerability attestation", scan_judge)


def image_vulnerability_scan_policy(
    verifier: AttestationVerifier | None = None, clock: Clock = utc_now
) -> ResourceValidationPolicy:
    """The scan policy, checking through `verifier` (a fresh one by default) at `clock`."""
    return workload_policy(
        "image-vulnerability-scanned",
        "Images carry a recent cosign vulnerability attestation, signed by a configured key, "
        "with no finding at or above the environment's threshold.",
        vulnerability_scan_check(verifier or AttestationVerifier(), clock),
        group=SUPPLY_CHAIN,
        severity=Severity.CRITICAL,
        settings=VulnerabilityScanSettings,
        patches=True,
        remediation_steps=(
            "Scan the image by digest in CI and attest the result (`trivy image --format "
            "cosign-vuln -o scan.json <image>@sha256:...` then `cosign attest --key cosign.key "
            "--type vuln --predicate scan.json <image>@sha256:...`), and put the public key in "
            "publicKeys of policies/config/<env>.json (docs/policies.md#scanned-images)."
        ),
    )


image_tag_not_latest = workload_policy(
    "image-tag-not-latest",
    "Images name a version: no `latest` tag and no missing tag.",
    check_tag,
    group=SUPPLY_CHAIN,
    severity=Severity.HIGH,
    remediation_steps="Reference a version tag (app:1.4.2) or a digest (app@sha256:...).",
    patches=True,
)

image_digest_pinned = workload_policy(
    "image-digest-pinned",
    "Images are pinned by digest, so what runs is what was reviewed.",
    check_digest,
    group=SUPPLY_CHAIN,
    severity=Severity.HIGH,
    remediation_steps=(
        "Append the digest: registry/app:1.4.2@sha256:<digest> (`crane digest` or "
        "`docker buildx imagetools inspect` print it). Images go-platform builds are "
        "deployed by digest already."
    ),
    patches=True,
)

image_registry_allowed = workload_policy(
    "image-registry-allowed",
    "Images come from an allowed registry.",
    check_registry,
    group=SUPPLY_CHAIN,
    severity=Severity.HIGH,
    settings=RegistrySettings,
    remediation_steps=(
        "Mirror the image into an allowed registry, or add its registry to allowedRegistries "
        "in policies/config/<env>.json."
    ),
    patches=True,
)

image_signature_verified = image_signature_policy()
image_vulnerability_scanned = image_vulnerability_scan_policy()

POLICIES = [
    image_tag_not_latest,
    image_digest_pinned,
    image_registry_allowed,
    image_signature_verified,
    image_vulnerability_scanned,
]
