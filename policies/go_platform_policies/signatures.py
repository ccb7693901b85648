"""Cosign signature verification against the image's own registry (OCI distribution API).

For an image pinned by digest `sha256:<hex>`, cosign stores its signatures in the same
repository under the tag `sha256-<hex>.sig`: an OCI image manifest whose layers are
"simple signing" payloads (media type `application/vnd.dev.cosign.simplesigning.v1+json`),
each with its base64 ECDSA signature in the `dev.cosignproject.cosign/signature`
annotation. An image is verified when one layer's payload

- is the blob its layer digest names (the bytes are hashed, not trusted),
- carries a signature that one of the configured P-256 public keys verifies (SHA-256), and
- names, in `critical.image.docker-manifest-digest`, the very digest being deployed.

Everything else fails closed with a reason: no signature tag, no valid signature, a
signature over another digest, an unreachable registry, a refused token. Keyless (Fulcio)
signatures and the newer OCI 1.1 referrers layout are not read.

Registries are reached over HTTPS; plain HTTP is used only for loopback hosts (test
registries on 127.0.0.1). Authentication follows the distribution token flow: a request
answered 401 with a `Bearer` challenge fetches a token from the realm (anonymously, or with
the registry's credentials from the Docker config file, as `docker login` stores them) and
is retried once; a `Basic` challenge is answered with those credentials. Results are cached
per registry, repository, digest and key set for the life of the pack process, that is, for
one `pulumi preview` or `up`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import os
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from go_platform_policies.settings import load_public_key
from go_platform_policies.shared import ImageReference

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

SIGNATURE_LAYER_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIMPLE_SIGNING_TYPE = "cosign container image signature"
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
MAX_MANIFEST_BYTES = 4 * 2**20
MAX_PAYLOAD_BYTES = 2**20
MAX_TOKEN_BYTES = 2**20

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"


# --- HTTP ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpResponse:
    """What the client needs of a response; header names are lower-case."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class RegistryError(Exception):
    """The registry could not be asked (network, TLS, refused token); the message says why."""


Transport = Callable[[str, Mapping[str, str], float, int], HttpResponse]
"""(url, headers, timeout seconds, max body bytes) -> response; raises RegistryError."""


class _NoDowngradeRedirect(urllib.request.HTTPRedirectHandler):
    """Follows redirects (registries send blobs to storage) but never from HTTPS to HTTP."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        old, new = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(newurl)
        if old.scheme == "https" and new.scheme != "https":
            raise urllib.error.HTTPError(
                newurl, code, "refused redirect to plain HTTP", headers, fp
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_NoDowngradeRedirect())


def urllib_transport(
    url: str, headers: Mapping[str, str], timeout: float, limit: int
) -> HttpResponse:
    """The standard library's HTTP client; Authorization is never sent on to a redirect."""
    request = urllib.request.Request(url, method="GET")
    for name, value in headers.items():
        if name.lower() == "authorization":
            request.add_unredirected_header(name, value)
        else:
            request.add_header(name, value)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            body = response.read(limit + 1)
            status, found = response.status, response.headers
    except urllib.error.HTTPError as err:
        body = err.read(limit + 1) if err.fp is not None else b""
        status, found = err.code, err.headers
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise RegistryError(f"{urllib.parse.urlsplit(url).netloc} unreachable ({reason})") from None
    if len(body) > limit:
        raise RegistryError(f"response from {url} is larger than {limit} bytes")
    return HttpResponse(status, {k.lower(): v for k, v in (found or {}).items()}, body)


# --- where and how to ask ------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses, with or without a port."""
    name = urllib.parse.urlsplit(f"//{host}").hostname or ""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def registry_url(registry: str) -> str:
    """Base URL of a registry's API: HTTPS, or HTTP for a loopback registry only."""
    host = DOCKER_HUB_API if registry == DOCKER_HUB else registry
    return f"{'http' if is_loopback(host) else 'https'}://{host}"


def api_repository(image: ImageReference) -> str:
    """The repository path the API uses (`library/nginx` for Docker Hub's `nginx`)."""
    if image.registry == DOCKER_HUB and "/" not in image.repository:
        return f"library/{image.repository}"
    return image.repository


def cosign_tag(digest: str, suffix: str) -> str:
    """The tag cosign stores an image's `sig`natures or `att`estations under:
    `sha256-<hex>.<suffix>`."""
    algorithm, _, hex_digest = digest.partition(":")
    return f"{algorithm}-{hex_digest}.{suffix}"


def signature_tag(digest: str) -> str:
    """The tag cosign stores an image's signatures under: `sha256-<hex>.sig`."""
    return cosign_tag(digest, "sig")


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="...",service="..."` -> ("bearer", {"realm": ..., "service": ...})."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    while rest:
        key, _, rest = rest.strip().lstrip(",").strip().partition("=")
        if rest.startswith('"'):
            value, _, rest = rest[1:].partition('"')
        else:
            value, _, rest = rest.partition(",")
        if key:
            params[key.strip().lower()] = value.strip()
    return scheme.lower(), params


@dataclass(frozen=True)
class Credentials:
    """A user name and password (or identity token) for one registry."""

    username: str
    password: str

    def basic(self) -> str:
        pair = f"{self.username}:{self.password}".encode()
        return f"Basic {base64.b64encode(pair).decode()}"


CredentialStore = Callable[[str], Credentials | None]
"""Registry host -> credentials, or None to ask anonymously."""


def docker_config_credentials(environ: Mapping[str, str] = os.environ) -> CredentialStore:
    """Credentials as `docker login` stores them: `auths.<host>.auth` of
    `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`). Credential helpers are
    not run; with no file, every registry is asked anonymously."""
    directory = environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    try:
        document = json.loads(Path(directory, "config.json").read_text())
        auths = document.get("auths") or {}
    except (OSError, ValueError, AttributeError):
        auths = {}

    def lookup(host: str) -> Credentials | None:
        keys = [host, f"https://{host}", f"http://{host}"]
        if host == DOCKER_HUB:
            keys.append("https://index.docker.io/v1/")
        for key in keys:
            entry = auths.get(key) if isinstance(auths, dict) else None
            encoded = entry.get("auth") if isinstance(entry, dict) else None
            if isinstance(encoded, str):
                try:
                    user, _, password = base64.b64decode(encoded).decode().partition(":")
                except (binascii.Error, UnicodeDecodeError):
                    return None
                return Credentials(user, password)
        return None

    return lookup


# --- the registry client -------------------------------------------------------------


@dataclass
class RegistryClient:
    """Reads manifests and blobs from registries, answering auth challenges as they come;
    tokens are kept per registry and repository for the life of the client."""

    transport: Transport = urllib_transport
    credentials: CredentialStore = field(default_factory=docker_config_credentials)
    timeout: float = 10.0
    _tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    def get(
        self, image: ImageReference, path: str, accept: Sequence[str] = (), limit: int = 2**20
    ) -> HttpResponse:
        """GET `/v2/<repository>/<path>` of the image's registry, authenticating as asked."""
        repository = api_repository(image)
        url = f"{registry_url(image.registry)}/v2/{repository}/{path}"
        headers = {"Accept": ", ".join(accept)} if accept else {}
        key = (image.registry, repository)
        if key in self._tokens:
            headers["Authorization"] = self._tokens[key]
        response = self.transport(url, headers, self.timeout, limit)
        if response.status != 401:
            return response
        authorization = self._authorize(
            image, repository, response.headers.get("www-authenticate", "")
        )
        self._tokens[key] = authorization
        return self.transport(url, {**headers, "Authorization": authorization}, self.timeout, limit)

    def _authorize(self, image: ImageReference, repository: str, challenge: str) -> str:
        scheme, params = parse_challenge(challenge)
        host = urllib.parse.urlsplit(registry_url(image.registry)).netloc
        credentials = self.credentials(image.registry)
        if scheme == "basic":
            if credentials is None:
                raise RegistryError(f"{host} asks for a password and none is configured")
            return credentials.basic()
        if scheme != "bearer" or "realm" not in params:
            raise RegistryError(f"{host} answered 401 with an unusable challenge {challenge!r}")
        realm = urllib.parse.urlsplit(params["realm"])
        if realm.scheme != "https" and not (realm.scheme == "http" and is_loopback(realm.netloc)):
            raise RegistryError(f"{host} sends tokens from a non-HTTPS realm {params['realm']!r}")
        query = {"scope": params.get("scope") or f"repository:{repository}:pull"}
        if "service" in params:
            query["service"] = params["service"]
        separator = "&" if realm.query else "?"
        url = f"{params['realm']}{separator}{urllib.parse.urlencode(query)}"
        headers = {"Authorization": credentials.basic()} if credentials else {}
        response = self.transport(url, headers, self.timeout, MAX_TOKEN_BYTES)
        if response.status != 200:
            raise RegistryError(
                f"token service of {host} refused a pull token (HTTP {response.status})"
            )
        try:
            document = read_json(response.body)
            token = document.get("token") or document.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"token service of {host} answered without a token")
        return f"Bearer {token}"


# --- what cosign stores beside an image ----------------------------------------------


class NotVerified(Exception):  # noqa: N818 (an outcome, not an error of the pack)
    """What cosign stored is missing, unreadable or untrusted; the message says why."""


def read_json(data: bytes) -> Any:
    """`data` as JSON; ValueError for anything that is not, however it fails: a registry's
    answers are anyone's who can push a tag, and a document nested past the interpreter's
    recursion limit would otherwise end the whole `Analyze` call."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def annotations(layer: Mapping[str, Any]) -> Mapping[str, Any]:
    """A manifest layer's annotations, or none when they are not a mapping."""
    found = layer.get("annotations")
    return found if isinstance(found, Mapping) else {}


def read_manifest(client: RegistryClient, image: ImageReference, tag: str, what: str) -> bytes:
    """The manifest cosign stored under `tag` (`what` it holds names a missing one)."""
    where = f"{image.registry}/{image.repository}"
    response = client.get(image, f"manifests/{tag}", MANIFEST_TYPES, MAX_MANIFEST_BYTES)
    if response.status == 404:
        raise NotVerified(f"no {what}: tag {tag} is not in {where}")
    if response.status != 200:
        raise NotVerified(f"{where} answered HTTP {response.status} for tag {tag}")
    return response.body


def manifest_layers(manifest: bytes, media_type: str) -> list[dict[str, Any]]:
    """The layers of `media_type` in an image manifest; ValueError if it has no layers."""
    document = read_json(manifest)
    layers = document.get("layers") if isinstance(document, dict) else None
    if not isinstance(layers, list):
        raise ValueError("the manifest has no layers")
    return [
        layer
        for layer in layers
        if isinstance(layer, dict)
        and layer.get("mediaType") == media_type
        and isinstance(layer.get("digest"), str)
    ]


def read_blob(client: RegistryClient, image: ImageReference, digest: str, what: str) -> bytes:
    """The blob `digest` names, checked against it: the bytes are hashed, not trusted."""
    response = client.get(image, f"blobs/{digest}", (), MAX_PAYLOAD_BYTES)
    if response.status != 200:
        raise NotVerified(f"{what} {digest} could not be read (HTTP {response.status})")
    if not blob_matches(response.body, digest):
        raise NotVerified(f"{what} does not match its digest {digest}")
    return response.body


# --- verification --------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """The outcome for one image: verified, or why not."""

    verified: bool
    reason: str


@dataclass(frozen=True)
class SignatureLayer:
    """One signature in a cosign signature manifest."""

    digest: str
    signature: bytes | None


def signature_layers(manifest: bytes) -> list[SignatureLayer]:
    """The simple-signing layers of a cosign signature manifest; ValueError if unreadable."""
    found = []
    for layer in manifest_layers(manifest, SIGNATURE_LAYER_TYPE):
        encoded = annotations(layer).get(SIGNATURE_ANNOTATION)
        try:
            signature = base64.b64decode(encoded, validate=True) if encoded else None
        except (binascii.Error, TypeError):
            signature = None
        found.append(SignatureLayer(layer["digest"], signature))
    return found


def signed_digest(payload: bytes) -> str | None:
    """The manifest digest a simple-signing payload vouches for, None if it is not one."""
    try:
        document = read_json(payload)
        critical = document["critical"]
        if critical["type"] != SIMPLE_SIGNING_TYPE:
            return None
        digest = critical["image"]["docker-manifest-digest"]
    except (ValueError, KeyError, TypeError):
        return None
    return digest if isinstance(digest, str) else None


def verifies(payload: bytes, signature: bytes, keys: Sequence[ec.EllipticCurvePublicKey]) -> bool:
    """True when one of `keys` verifies the ECDSA (SHA-256) `signature` over `payload`."""
    # Imported where keys exist (settings.load_public_key says why).
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    for key in keys:
        try:
            key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            continue
        return True
    return False


def blob_matches(blob: bytes, digest: str) -> bool:
    algorithm, _, expected = digest.partition(":")
    return algorithm == "sha256" and hashlib.sha256(blob).hexdigest() == expected


VerdictT = TypeVar("VerdictT")


class RegistryVerifier(Generic[VerdictT]):
    """Looks up what cosign stored for images, once per image and key set in a run, even
    when the engine analyzes resources in parallel; subclasses say what is looked up."""

    def __init__(self, client_factory: Callable[[float], RegistryClient] | None = None) -> None:
        self._client_factory = client_factory or (lambda timeout: RegistryClient(timeout=timeout))
        self._clients: dict[float, RegistryClient] = {}
        self._verdicts: dict[tuple[str, str, str, tuple[str, ...]], VerdictT] = {}
        self._locks: dict[tuple[str, str, str, tuple[str, ...]], threading.Lock] = {}
        self._guard = threading.Lock()

    def verify(self, image: ImageReference, public_keys: Sequence[str], timeout: float) -> VerdictT:
        """The verdict for `image` (which must carry a digest) under `public_keys` (PEM)."""
        assert image.digest is not None
        key = (image.registry, image.repository, image.digest, tuple(sorted(public_keys)))
        with self._guard:
            if key in self._verdicts:
                return self._verdicts[key]
            lock = self._locks.setdefault(key, threading.Lock())
            client = self._clients.get(timeout)
            if client is None:
                client = self._clients[timeout] = self._client_factory(timeout)
        with lock:
            if key not in self._verdicts:
                keys = [load_public_key(pem) for pem in public_keys]
                self._verdicts[key] = self._verify(client, image, image.digest, keys)
            return self._verdicts[key]

    def _verify(
        self,
        client: RegistryClient,
        image: ImageReference,
        digest: str,
        keys: Sequence[ec.EllipticCurvePublicKey],
    ) -> VerdictT:
        raise NotImplementedError


class SignatureVerifier(RegistryVerifier[Verdict]):
    """Verifies images' cosign signatures."""

    def _verify(
        self,
        client: RegistryClient,
        image: ImageReference,
        digest: str,
        keys: Sequence[ec.EllipticCurvePublicKey],
    ) -> Verdict:
        where = f"{image.registry}/{image.repository}"
        tag = signature_tag(digest)
        try:
            manifest = read_manifest(client, image, tag, "signature")
            try:
                layers = signature_layers(manifest)
            except (ValueError, AttributeError):
                return Verdict(False, f"tag {tag} in {where} is not a cosign signature manifest")
            if not layers:
                return Verdict(False, f"tag {tag} in {where} holds no simple-signing layer")
            reasons = []
            for layer in layers:
                try:
                    self._check_layer(client, image, digest, layer, keys)
                except NotVerified as failure:
                    reasons.append(str(failure))
                    continue
                return Verdict(True, f"signed ({tag})")
        except NotVerified as failure:
            return Verdict(False, str(failure))
        except RegistryError as err:
            return Verdict(False, f"signature lookup failed: {err}")
        # The most telling reason first: a valid signature over the wrong digest says more
        # than a signature by an unknown key.
        return Verdict(False, most_telling(reasons, SIGNATURE_REASONS))

    def _check_layer(
        self,
        client: RegistryClient,
        image: ImageReference,
        digest: str,
        layer: SignatureLayer,
        keys: Sequence[ec.EllipticCurvePublicKey],
    ) -> None:
        if layer.signature is None:
            raise NotVerified("a signature layer has no readable signature annotation")
        payload = read_blob(client, image, layer.digest, "signature payload")
        if not verifies(payload, layer.signature, keys):
            raise NotVerified("no configured public key verifies the signature")
        named = signed_digest(payload)
        if named is None:
            raise NotVerified("the signed payload is not a cosign simple-signing payload")
        if named != digest:
            raise NotVerified(f"the signature is for another image: its payload names {named}")


SIGNATURE_REASONS = ("the signature is for another image", "no configured public key")


def most_telling(reasons: Sequence[str], order: Sequence[str]) -> str:
    """The reason to report of several: the first whose prefix comes first in `order`."""
    rank = {
        reason: next((i for i, prefix in enumerate(order) if reason.startswith(prefix)), len(order))
        for reason in reasons
    }
    return sorted(set(reasons), key=lambda reason: (rank[reason], reason))[0]
