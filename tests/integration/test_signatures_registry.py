"""Signature verification against a real registry: Debian's `docker-registry` (distribution).

Each test starts its own registry on 127.0.0.1 (a free port, storage in tmp_path) and
stops it. The test pushes an image manifest through the OCI distribution API and, where
the case needs one, a cosign-format signature made with a P-256 key it generates: an OCI
manifest under `sha256-<hex>.sig` whose layer is the simple-signing payload, the
signature in its `dev.cosignproject.cosign/signature` annotation. The policy then runs
through real `ResourceValidationArgs`, and once through the pack process over gRPC.

One registry runs with token authentication, its token service a small server in the
test that signs ES256 JWTs the registry trusts (`auth.token` with a root certificate),
so the Bearer challenge flow is exercised end to end.

Invariants guarded:
- a signed image passes (directly and through the running pack);
- an unsigned image, one signed by another key, and one whose signature names another
  digest fail, each with its reason;
- a stopped registry fails closed ("unreachable"), never passes;
- behind token auth the policy fetches an anonymous pull token and verifies; a token
  service that refuses fails closed.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import http.server
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from pulumi.runtime.proto import analyzer_pb2

from tests.integration.test_policy_analyzer import analyze_request, messages, serve
from tests.loopback import free_port
from tests.policy_fixtures import check_resource, deployment

# isort: split
from go_platform_policies.images import image_signature_policy
from go_platform_policies.signatures import SignatureVerifier

REGISTRY_BINARY = shutil.which("docker-registry")
pytestmark = pytest.mark.skipif(
    REGISTRY_BINARY is None,
    reason="Debian's docker-registry is not installed (apt-get install docker-registry)",
)

REPOSITORY = "acme/app"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SERVICE = "go-platform-test-registry"
ISSUER = "go-platform-test-token-service"
START_TIMEOUT = 20


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


# --- the token service ------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenService:
    """Issues the registry's JWTs (ES256, the signing certificate in `x5c`), to anyone."""

    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    refuse: bool = False
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = datetime.datetime.now(datetime.UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def token(self, scope: str) -> str:
        kind, name, actions = scope.split(":")
        now = int(time.time())
        header = {
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [
                base64.b64encode(self.certificate.public_bytes(serialization.Encoding.DER)).decode()
            ],
        }
        claims = {
            "iss": ISSUER,
            "sub": "anonymous",
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 60,
            "iat": now,
            "jti": os.urandom(8).hex(),
            "access": [{"type": kind, "name": name, "actions": actions.split(",")}],
        }
        signing_input = (
            f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        )
        r, s = decode_dss_signature(
            self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        )
        return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        """Serve on 127.0.0.1; yields the realm URL."""
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                service.requests.append(self.path)
                if service.refuse or query.get("service") != SERVICE:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps({"token": service.token(query["scope"])}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/token"
        finally:
            server.shutdown()
            server.server_close()


# --- the registry -----------------------------------------------------------------------


@dataclass
class Registry:
    """A running docker-registry and a client that pushes to it."""

    host: str
    process: subprocess.Popen[bytes]
    tokens: TokenService | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def _request(
        self, method: str, url: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> tuple[int, Mapping[str, str]]:
        request = urllib.request.Request(url, data=body or None, method=method)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        if self.tokens is not None:
            token = self.tokens.token(f"repository:{REPOSITORY}:pull,push")
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers)
        except urllib.error.HTTPError as err:
            raise AssertionError(f"{method} {url}: HTTP {err.code} {err.read()[:300]!r}") from None

    def push_blob(self, data: bytes) -> str:
        digest = sha256(data)
        _, headers = self._request("POST", f"{self.url}/v2/{REPOSITORY}/blobs/uploads/")
        location = urllib.parse.urljoin(self.url, headers["Location"])
        separator = "&" if "?" in location else "?"
        self._request(
            "PUT",
            f"{location}{separator}digest={urllib.parse.quote(digest)}",
            data,
            {"Content-Type": "application/octet-stream"},
        )
        return digest

    def push_manifest(self, reference: str, manifest: Mapping[str, Any]) -> str:
        body = json.dumps(manifest).encode()
        self._request(
            "PUT",
            f"{self.url}/v2/{REPOSITORY}/manifests/{reference}",
            body,
            {"Content-Type": OCI_MANIFEST},
        )
        return sha256(body)

    def push_image(self, tag: str) -> str:
        """Push a one-layer image under `tag`; return its manifest digest."""
        config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
        layer = os.urandom(64)
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": self.push_blob(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": self.push_blob(layer),
                    "size": len(layer),
                }
            ],
        }
        return self.push_manifest(tag, manifest)

    def push_signature(
        self, digest: str, key: ec.EllipticCurvePrivateKey, *, names: str | None = None
    ) -> None:
        """Store a cosign signature of `digest` by `key`, whose payload names `names`."""
        payload = json.dumps(
            {
                "critical": {
                    "identity": {"docker-reference": f"{self.host}/{REPOSITORY}"},
                    "image": {"docker-manifest-digest": names or digest},
                    "type": "cosign container image signature",
                },
                "optional": None,
            }
        ).encode()
        signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
        config = b"{}"
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": self.push_blob(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                    "digest": self.push_blob(payload),
                    "size": len(payload),
                    "annotations": {
                        "dev.cosignproject.cosign/signature": base64.b64encode(signature).decode()
                    },
                }
            ],
        }
        algorithm, _, hex_digest = digest.partition(":")
        self.push_manifest(f"{algorithm}-{hex_digest}.sig", manifest)

    def image(self, digest: str) -> str:
        return f"{self.host}/{REPOSITORY}:1.0@{digest}"


def start_registry(root: Path, auth: Mapping[str, Any] | None = None) -> Registry:
    port = free_port()
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(root / "storage")}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": os.urandom(16).hex()},
    }
    if auth:
        config["auth"] = dict(auth)
    (root / "config.yml").write_text(json.dumps(config))  # JSON is YAML
    log = (root / "registry.log").open("wb")
    process = subprocess.Popen(
        [str(REGISTRY_BINARY), "serve", str(root / "config.yml")],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    registry = Registry(f"127.0.0.1:{port}", process)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"docker-registry exited: {(root / 'registry.log').read_text()}")
        try:
            urllib.request.urlopen(f"{registry.url}/v2/", timeout=1)
            return registry
        except urllib.error.HTTPError:
            return registry  # 401: up, and asking for a token
        except OSError:
            time.sleep(0.05)
    registry.stop()
    pytest.fail(f"docker-registry did not answer within {START_TIMEOUT}s")


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    running = start_registry(tmp_path)
    yield running
    running.stop()


@pytest.fixture
def token_registry(tmp_path: Path) -> Iterator[Registry]:
    tokens = TokenService()
    (tmp_path / "token-root.pem").write_bytes(tokens.certificate_pem())
    with tokens.running() as realm:
        running = start_registry(
            tmp_path,
            {
                "token": {
                    "realm": realm,
                    "service": SERVICE,
                    "issuer": ISSUER,
                    "rootcertbundle": str(tmp_path / "token-root.pem"),
                }
            },
        )
        running.tokens = tokens
        yield running
        running.stop()


# --- checks ---------------------------------------------------------------------------------

KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
CONFIG = {"publicKeys": [public_pem(KEY)], "timeoutSeconds": 5}


def verify(image: str, config: Mapping[str, Any] = CONFIG) -> list[str]:
    """The policy's messages for a Deployment running `image`, with a fresh cache."""
    policy = image_signature_policy(SignatureVerifier())
    return check_resource(policy, deployment({"containers[0].image": image}), config)


def reason(messages: list[str]) -> str:
    [message] = messages
    return message.split("is not signed as required (", 1)[1].rsplit("); expected", 1)[0]


def test_signed_image_passes(registry):
    digest = registry.push_image("1.0")
    registry.push_signature(digest, KEY)
    assert verify(registry.image(digest)) == []


def test_signed_image_passes_through_the_running_pack(registry):
    signed = registry.push_image("1.0")
    registry.push_signature(signed, KEY)
    unsigned = registry.push_image("2.0")
    pack = serve("prod")
    try:
        pack.configure({"image-signature-verified": (analyzer_pb2.MANDATORY, CONFIG)})
        description = image_signature_policy().description
        found = {}
        for digest in (signed, unsigned):
            resource = deployment({"containers[0].image": registry.image(digest)})
            response = pack.stub.Analyze(analyze_request(resource))
            found[digest] = messages(response, "image-signature-verified", description)
    finally:
        pack.stop()
    assert found[signed] == []
    [(_, message)] = found[unsigned]
    assert (
        f"no signature: tag sha256-{unsigned[7:]}.sig is not in {registry.host}/{REPOSITORY}"
        in message
    )


def test_unsigned_image_fails(registry):
    digest = registry.push_image("1.0")
    assert reason(verify(registry.image(digest))) == (
        f"no signature: tag sha256-{digest[7:]}.sig is not in {registry.host}/{REPOSITORY}"
    )


def test_image_signed_by_another_key_fails(registry):
    digest = registry.push_image("1.0")
    registry.push_signature(digest, OTHER_KEY)
    assert (
        reason(verify(registry.image(digest))) == "no configured public key verifies the signature"
    )


def test_signature_over_another_digest_fails(registry):
    digest = registry.push_image("1.0")
    other = registry.push_image("2.0")
    # A genuine signature of `other`, stored as if it were `digest`'s.
    registry.push_signature(digest, KEY, names=other)
    assert reason(verify(registry.image(digest))) == (
        f"the signature is for another image: its payload names {other}"
    )


def test_stopped_registry_fails_closed(registry):
    digest = registry.push_image("1.0")
    registry.push_signature(digest, KEY)
    assert verify(registry.image(digest)) == []
    registry.stop()
    found = reason(verify(registry.image(digest)))
    assert found.startswith(f"signature lookup failed: {registry.host} unreachable (")


def test_token_authentication_is_followed(token_registry):
    digest = token_registry.push_image("1.0")
    token_registry.push_signature(digest, KEY)
    assert token_registry.tokens is not None
    before = len(token_registry.tokens.requests)
    assert verify(token_registry.image(digest)) == []
    asked = token_registry.tokens.requests[before:]
    assert len(asked) == 1  # one anonymous pull token, reused for the payload blob
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(asked[0]).query))
    assert query == {"scope": f"repository:{REPOSITORY}:pull", "service": SERVICE}


def test_refused_token_fails_closed(token_registry):
    digest = token_registry.push_image("1.0")
    token_registry.push_signature(digest, KEY)
    assert token_registry.tokens is not None
    token_registry.tokens.refuse = True
    assert reason(verify(token_registry.image(digest))) == (
        f"signature lookup failed: token service of {token_registry.host} refused a pull token "
        "(HTTP 401)"
    )
