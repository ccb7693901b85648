"""An in-memory OCI registry holding cosign signatures and attestations, and the keys and
documents that make them.

`FakeRegistry` is a transport for `RegistryClient`: it answers the distribution API's
URLs for `registry.example.com` from dicts, can demand Bearer or Basic auth, can be down
or answer errors, and logs every request. `sign()` stores a signature exactly as cosign
lays it out (`sha256-<hex>.sig`, a simple-signing layer, the signature annotation), and
`attest()` an attestation (`sha256-<hex>.att`, a DSSE envelope layer whose in-toto
Statement carries a vulnerability scan predicate), so the verifiers' whole paths run
without a network. The document builders (`scan_predicate`, `statement`, `envelope`,
`trivy_result`, `grype_result`) are written from the formats' specifications, not from
the code under test, and the integration tests push the same documents to a real registry.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from go_platform_policies.signatures import (
    Credentials,
    HttpResponse,
    RegistryClient,
    RegistryError,
    RegistryVerifier,
    SignatureVerifier,
    cosign_tag,
    signature_tag,
)
from tests.policy_fixtures import DIGEST

REPOSITORY = "acme/app"


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


KEY = new_key()
OTHER_KEY = new_key()


def payload(
    digest: str, kind: str = "cosign container image signature", repository: str = REPOSITORY
) -> bytes:
    """The simple-signing payload cosign signs for `repository` at `digest`."""
    document = {
        "critical": {
            "identity": {"docker-reference": f"registry.example.com/{repository}"},
            "image": {"docker-manifest-digest": digest},
            "type": kind,
        },
        "optional": None,
    }
    return json.dumps(document).encode()


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


# --- vulnerability attestations, as cosign writes them --------------------------------

VULN_PREDICATE = "https://cosign.sigstore.dev/attestation/vuln/v1"
IN_TOTO = "application/vnd.in-toto+json"
DSSE_LAYER = "application/vnd.dsse.envelope.v1+json"
TRIVY = "pkg:github/aquasecurity/trivy@v0.57.1"


def rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def trivy_result(*findings: tuple[str, str, str]) -> dict[str, Any]:
    """Trivy's JSON report with one OS-package result holding `findings`, each
    (vulnerability id, Trivy's severity label, `package version`)."""
    return {
        "SchemaVersion": 2,
        "ArtifactName": "registry.example.com/acme/app",
        "ArtifactType": "container_image",
        "Results": [
            {
                "Target": "registry.example.com/acme/app (debian 12.8)",
                "Class": "os-pkgs",
                "Type": "debian",
                "Vulnerabilities": [
                    {
                        "VulnerabilityID": vulnerability,
                        "PkgName": package.split()[0],
                        "InstalledVersion": package.split()[1],
                        "Severity": severity,
                    }
                    for vulnerability, severity, package in findings
                ]
                or None,
            }
        ],
    }


def grype_result(*findings: tuple[str, str, str, float | None]) -> dict[str, Any]:
    """Grype's JSON report: `findings` are (id, Grype's severity, `name version`, CVSS v3
    base score or None)."""
    return {
        "matches": [
            {
                "vulnerability": {
                    "id": vulnerability,
                    "severity": severity,
                    "cvss": [{"version": "3.1", "metrics": {"baseScore": score}}]
                    if score is not None
                    else [],
                },
                "artifact": {"name": package.split()[0], "version": package.split()[1]},
            }
            for vulnerability, severity, package, score in findings
        ],
        "descriptor": {"name": "grype", "version": "0.84.0"},
    }


def scan_predicate(
    finished: datetime.datetime, result: Any = None, scanner: str = TRIVY
) -> dict[str, Any]:
    """A cosign vulnerability scan predicate; `result` is the scanner's report (a clean
    Trivy report by default)."""
    return {
        "invocation": {"parameters": None, "uri": "", "event_id": "", "builder.id": ""},
        "scanner": {
            "uri": scanner,
            "version": scanner.rpartition("@v")[2],
            "db": {"uri": "", "version": ""},
            "result": trivy_result() if result is None else result,
        },
        "metadata": {
            "scanStartedOn": rfc3339(finished - datetime.timedelta(minutes=1)),
            "scanFinishedOn": rfc3339(finished),
        },
    }


def statement(
    digest: str,
    predicate: Mapping[str, Any],
    predicate_type: str = VULN_PREDICATE,
    name: str = f"registry.example.com/{REPOSITORY}",
) -> dict[str, Any]:
    """The in-toto Statement cosign attests: the image as subject, by its sha256."""
    return {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "subject": [{"name": name, "digest": {"sha256": digest.partition(":")[2]}}],
        "predicate": dict(predicate),
    }


def envelope(
    signed: Mapping[str, Any],
    keys: Sequence[ec.EllipticCurvePrivateKey],
    payload_type: str = IN_TOTO,
) -> bytes:
    """A DSSE envelope of `signed`, with one ECDSA P-256 signature per key over its
    pre-authentication encoding (`DSSEv1 <len> <type> <len> <body>`); no key, unsigned."""
    body = json.dumps(signed).encode()
    kind = payload_type.encode()
    encoded = b" ".join([b"DSSEv1", str(len(kind)).encode(), kind, str(len(body)).encode(), body])
    signatures = [
        {"keyid": "", "sig": base64.b64encode(k.sign(encoded, ec.ECDSA(hashes.SHA256()))).decode()}
        for k in keys
    ]
    return json.dumps(
        {
            "payloadType": payload_type,
            "payload": base64.b64encode(body).decode(),
            "signatures": signatures,
        }
    ).encode()


def oci_manifest(layers: list[dict[str, Any]]) -> dict[str, Any]:
    """An OCI image manifest of `layers` with cosign's empty config."""
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "size": 2,
            "digest": sha256(b"{}"),
        },
        "layers": layers,
    }


def attestation_layer(body: bytes, predicate_type: str = VULN_PREDICATE) -> dict[str, Any]:
    """The layer cosign adds to `sha256-<hex>.att` for one envelope."""
    return {
        "mediaType": DSSE_LAYER,
        "size": len(body),
        "digest": sha256(body),
        "annotations": {"dev.cosignproject.cosign/signature": "", "predicateType": predicate_type},
    }


@dataclass
class FakeRegistry:
    """`registry.example.com` as a transport: manifests and blobs per repository, optional
    auth (`bearer` via a token realm, or `basic`), and a log of every request."""

    auth: str | None = None
    token: str = "t0k3n"
    realm: str = "https://auth.example.com/token"
    manifests: dict[tuple[str, str], bytes] = field(default_factory=dict)
    blobs: dict[tuple[str, str], bytes] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    down: bool = False
    status: int | None = None
    refuse_tokens: bool = False

    def sign(
        self,
        key: ec.EllipticCurvePrivateKey,
        digest: str = DIGEST,
        *,
        signed_payload: bytes | None = None,
        stored_payload: bytes | None = None,
        repository: str = REPOSITORY,
    ) -> None:
        """Store a cosign signature for `digest`, by `key`, over `signed_payload`."""
        body = (
            signed_payload if signed_payload is not None else payload(digest, repository=repository)
        )
        signature = key.sign(body, ec.ECDSA(hashes.SHA256()))
        self.add_signature_layer(digest, body, signature, stored_payload, repository)

    def add_signature_layer(
        self,
        digest: str,
        body: bytes,
        signature: bytes,
        stored_payload: bytes | None = None,
        repository: str = REPOSITORY,
    ) -> None:
        tag = signature_tag(digest)
        existing = self.manifests.get((repository, tag))
        manifest = json.loads(existing) if existing else oci_manifest([])
        manifest["layers"].append(
            {
                "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                "size": len(body),
                "digest": sha256(body),
                "annotations": {
                    "dev.cosignproject.cosign/signature": base64.b64encode(signature).decode()
                },
            }
        )
        self.manifests[(repository, tag)] = json.dumps(manifest).encode()
        self.blobs[(repository, sha256(body))] = (
            stored_payload if stored_payload is not None else body
        )

    def attest(
        self,
        keys: Sequence[ec.EllipticCurvePrivateKey],
        predicate: Mapping[str, Any],
        digest: str = DIGEST,
        *,
        predicate_type: str = VULN_PREDICATE,
        subject: str | None = None,
        repository: str = REPOSITORY,
    ) -> bytes:
        """Add an attestation of `predicate` about `subject` (default `digest`) to `digest`'s
        `.att` manifest, signed by `keys`; returns the envelope."""
        body = envelope(statement(subject or digest, predicate, predicate_type), keys)
        tag = cosign_tag(digest, "att")
        existing = self.manifests.get((repository, tag))
        manifest = json.loads(existing) if existing else oci_manifest([])
        manifest["layers"].append(attestation_layer(body, predicate_type))
        self.manifests[(repository, tag)] = json.dumps(manifest).encode()
        self.blobs[(repository, sha256(body))] = body
        return body

    def __call__(
        self, url: str, headers: Mapping[str, str], timeout: float, limit: int
    ) -> HttpResponse:
        self.requests.append((url, dict(headers)))
        if self.down:
            raise RegistryError("registry.example.com unreachable ([Errno 111] Connection refused)")
        parts = urllib.parse.urlsplit(url)
        if url.startswith(self.realm):
            query = dict(urllib.parse.parse_qsl(parts.query))
            if self.refuse_tokens or query.get("service") != "registry.example.com":
                return HttpResponse(401, {}, b"")
            return HttpResponse(200, {}, json.dumps({"token": self.token}).encode())
        assert parts.scheme == "https", url
        assert parts.netloc == "registry.example.com", url
        if self.auth and headers.get("Authorization") != self._expected_authorization():
            challenge = (
                f'Bearer realm="{self.realm}",service="registry.example.com",'
                f'scope="repository:{REPOSITORY}:pull"'
                if self.auth == "bearer"
                else 'Basic realm="registry"'
            )
            return HttpResponse(401, {"www-authenticate": challenge}, b"")
        if self.status is not None:
            return HttpResponse(self.status, {}, b"")
        path = parts.path.removeprefix("/v2/")
        repository, kind, reference = path.rsplit("/", 2)
        store = self.manifests if kind == "manifests" else self.blobs
        body = store.get((repository, reference))
        return HttpResponse(200, {}, body) if body is not None else HttpResponse(404, {}, b"")

    def _expected_authorization(self) -> str:
        if self.auth == "bearer":
            return f"Bearer {self.token}"
        return Credentials("ci", "s3cret").basic()

    def manifest_requests(self) -> list[str]:
        return [url for url, _ in self.requests if "/manifests/" in url]


def registry_with(*setup: Callable[[FakeRegistry], Any]) -> FakeRegistry:
    """A registry after each `setup` step (`lambda r: r.sign(KEY)`) ran on it."""
    registry = FakeRegistry()
    for step in setup:
        step(registry)
    return registry


def keys(*private: ec.EllipticCurvePrivateKey, **settings: Any) -> dict[str, Any]:
    """Policy config naming the public halves of `private` keys, and other `settings`."""
    return {"publicKeys": [public_pem(k) for k in private], **settings}


VerifierT = TypeVar("VerifierT", bound=RegistryVerifier[Any])


def verifier_for(
    registry: FakeRegistry,
    credentials: Credentials | None = None,
    kind: type[VerifierT] = SignatureVerifier,  # type: ignore[assignment]
) -> VerifierT:
    """A verifier (signatures by default) whose client reaches `registry`, sending
    `credentials` when asked."""
    return kind(
        lambda timeout: RegistryClient(
            transport=registry, credentials=lambda host: credentials, timeout=timeout
        )
    )
