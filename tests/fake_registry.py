"""An in-memory OCI registry holding cosign signatures, and the keys that make them.

`FakeRegistry` is a transport for `RegistryClient`: it answers the distribution API's
URLs for `registry.example.com` from dicts, can demand Bearer or Basic auth, can be down
or answer errors, and logs every request. `sign()` stores a signature exactly as cosign
lays it out (`sha256-<hex>.sig`, a simple-signing layer, the signature annotation), so
the verifier's whole path runs without a network.
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from go_platform_policies.signatures import (
    Credentials,
    HttpResponse,
    RegistryClient,
    RegistryError,
    SignatureVerifier,
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
        manifest = (
            json.loads(existing)
            if existing
            else {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "size": 2,
                    "digest": sha256(b"{}"),
                },
                "layers": [],
            }
        )
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


def verifier_for(
    registry: FakeRegistry, credentials: Credentials | None = None
) -> SignatureVerifier:
    """A verifier whose client reaches `registry`, sending `credentials` when asked."""
    return SignatureVerifier(
        lambda timeout: RegistryClient(
            transport=registry, credentials=lambda host: credentials, timeout=timeout
        )
    )
