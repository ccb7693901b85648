"""Cosign signature verification, against an in-memory registry speaking the OCI API.

The registry here is a transport answering the distribution API's URLs from a dict, so
every path of the client runs (auth challenges, tokens, blob reads) in microseconds; the
same flows against Debian's real `docker-registry` are in
`tests/integration/test_signatures_registry.py`.

Invariants guarded:
- a digest-pinned image passes only when its `sha256-<hex>.sig` manifest holds a
  simple-signing payload whose bytes match the layer digest, whose ECDSA P-256 signature
  one configured key verifies, and which names the deployed digest;
- everything else fails closed with its reason: no signature tag, another key, another
  digest, a tampered payload, an HTTP error, an unreachable registry, a refused token,
  a digest-less image, an empty key list;
- a Bearer challenge is answered with a token from the realm (with Docker-config
  credentials when there are some), a Basic challenge with those credentials; tokens are
  never fetched from a non-HTTPS realm outside loopback;
- HTTPS always, HTTP only for loopback registries; Docker Hub names map to its API host
  and `library/` repositories; Authorization is never forwarded on a redirect, and no
  redirect leaves HTTPS;
- one registry round trip per image and key set per run, however many workloads run it;
- the pack's start (which every preview and update waits for) imports `cryptography` only
  once a key is read.
"""

from __future__ import annotations

import base64
import http.server
import json
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from typing import ClassVar

import pytest

from go_platform_policies.images import image_signature_policy
from go_platform_policies.shared import parse_image
from go_platform_policies.signatures import (
    Credentials,
    HttpResponse,
    RegistryClient,
    RegistryError,
    _NoDowngradeRedirect,
    docker_config_credentials,
    parse_challenge,
    registry_url,
    signature_tag,
    urllib_transport,
)
from tests.conftest import REPO
from tests.fake_registry import (
    KEY,
    OTHER_KEY,
    REPOSITORY,
    FakeRegistry,
    keys,
    oci_manifest,
    payload,
    public_pem,
    registry_with,
    sha256,
    verifier_for,
)
from tests.loopback import serving
from tests.policy_fixtures import (
    DIGEST,
    IMAGE,
    OTHER_DIGEST,
    case,
    check_resource,
    deployment,
    run_case,
)

C0 = "container 'app' (spec.template.spec.containers[0])"
TAG = signature_tag(DIGEST)


def signature_policy(registry: FakeRegistry, credentials: Credentials | None = None):
    """The real policy, whose verifier reaches `registry` (and sends `credentials`)."""
    return image_signature_policy(verifier_for(registry, credentials))


def not_signed(reason: str, image: str = IMAGE, digest: str = DIGEST, count: int = 1) -> str:
    return (
        f"{C0}: image {image!r} is not signed as required ({reason}); expected a cosign "
        f"signature (tag {signature_tag(digest)}) by one of the {count} configured public key(s) "
        "over this digest"
    )


# --- the policy, case by case --------------------------------------------------------

WHERE = f"registry.example.com/{REPOSITORY}"
DEEPLY_NESTED = b"[" * 100_000 + b"]" * 100_000
LISTED_ANNOTATIONS = {
    "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
    "size": 2,
    "digest": sha256(b"{}"),
    "annotations": ["dev.cosignproject.cosign/signature"],
}


CASES = [
    (
        registry_with(lambda r: r.sign(KEY)),
        case(
            "image-signature-verified",
            "signed by the configured key",
            deployment(),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(lambda r: r.sign(OTHER_KEY)),
        case(
            "image-signature-verified",
            "signed by the second of two keys",
            deployment(),
            config=keys(KEY, OTHER_KEY),
        ),
    ),
    (
        registry_with(lambda r: r.sign(OTHER_KEY), lambda r: r.sign(KEY)),
        case(
            "image-signature-verified",
            "one good signature among others",
            deployment(),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(),
        case(
            "image-signature-verified",
            "unsigned",
            deployment(),
            not_signed(f"no signature: tag {TAG} is not in {WHERE}"),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(lambda r: r.sign(OTHER_KEY)),
        case(
            "image-signature-verified",
            "signed by another key",
            deployment(),
            not_signed("no configured public key verifies the signature"),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(lambda r: r.sign(KEY, signed_payload=payload(OTHER_DIGEST))),
        case(
            "image-signature-verified",
            "a valid signature over another digest",
            deployment(),
            not_signed(f"the signature is for another image: its payload names {OTHER_DIGEST}"),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(lambda r: r.sign(KEY, stored_payload=payload(OTHER_DIGEST))),
        case(
            "image-signature-verified",
            "a payload swapped after signing",
            deployment(),
            not_signed(f"signature payload does not match its digest {sha256(payload(DIGEST))}"),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(lambda r: r.sign(KEY, signed_payload=payload(DIGEST, kind="something else"))),
        case(
            "image-signature-verified",
            "a signed payload that is not a cosign signature",
            deployment(),
            not_signed("the signed payload is not a cosign simple-signing payload"),
            config=keys(KEY),
        ),
    ),
    # Anyone who can push a tag to the repository writes what these tags hold: whatever
    # it is, the image is reported, and the engine's call is not ended by an exception.
    (
        registry_with(lambda r: r.manifests.update({(REPOSITORY, TAG): DEEPLY_NESTED})),
        case(
            "image-signature-verified",
            "a signature tag holding JSON nested past the interpreter's recursion limit",
            deployment(),
            not_signed(f"tag {TAG} in {WHERE} is not a cosign signature manifest"),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(
            lambda r: r.manifests.update(
                {(REPOSITORY, TAG): json.dumps(oci_manifest([LISTED_ANNOTATIONS])).encode()}
            )
        ),
        case(
            "image-signature-verified",
            "a signature layer whose annotations are a list",
            deployment(),
            not_signed("a signature layer has no readable signature annotation"),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(lambda r: setattr(r, "down", True)),
        case(
            "image-signature-verified",
            "unreachable registry",
            deployment(),
            not_signed(
                "signature lookup failed: registry.example.com unreachable "
                "([Errno 111] Connection refused)"
            ),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(lambda r: r.sign(KEY), lambda r: setattr(r, "status", 500)),
        case(
            "image-signature-verified",
            "registry error",
            deployment(),
            not_signed(f"{WHERE} answered HTTP 500 for tag {TAG}"),
            config=keys(KEY),
        ),
    ),
    (
        registry_with(lambda r: r.sign(KEY)),
        case(
            "image-signature-verified",
            "not pinned by digest",
            deployment({"containers[0].image": "registry.example.com/acme/app:1.4.2"}),
            f"{C0}: image is 'registry.example.com/acme/app:1.4.2'; expected a reference pinned "
            "by digest, whose cosign signature can be verified",
            config=keys(KEY),
        ),
    ),
    (
        registry_with(lambda r: r.sign(KEY)),
        case(
            "image-signature-verified",
            "no keys configured",
            deployment(),
            f"{C0}: image is '{IMAGE}'; expected a cosign signature by a configured key, but "
            "publicKeys in the policy config is empty",
        ),
    ),
]

SIGNATURE_CASES = [fixture for _, fixture in CASES]


@pytest.mark.parametrize(("registry", "fixture"), CASES, ids=[str(c) for _, c in CASES])
def test_case(registry, fixture):
    assert run_case(fixture, signature_policy(registry)) == list(fixture.expected)


def test_unsigned_image_never_reads_a_blob():
    registry = FakeRegistry()
    check_resource(signature_policy(registry), deployment(), keys(KEY))
    assert [url for url, _ in registry.requests] == [
        f"https://registry.example.com/v2/{REPOSITORY}/manifests/{TAG}"
    ]


def test_one_lookup_per_image_in_a_run():
    registry = registry_with(lambda r: r.sign(KEY))
    policy = signature_policy(registry)
    for name in ("app", "app-canary"):
        assert check_resource(policy, deployment(name=name), keys(KEY)) == []
    assert len(registry.manifest_requests()) == 1
    # Another key set is another question.
    assert check_resource(policy, deployment(), keys(OTHER_KEY)) != []
    assert len(registry.manifest_requests()) == 2


# --- authentication ------------------------------------------------------------------


def test_bearer_challenge_fetches_a_token_and_retries():
    registry = registry_with(lambda r: setattr(r, "auth", "bearer"), lambda r: r.sign(KEY))
    assert check_resource(signature_policy(registry), deployment(), keys(KEY)) == []
    urls = [url for url, _ in registry.requests]
    token_query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(urls[1]).query))
    assert token_query == {
        "scope": f"repository:{REPOSITORY}:pull",
        "service": "registry.example.com",
    }
    assert "Authorization" not in registry.requests[1][1]  # anonymous token
    # The manifest is asked again with the token, and the blob with the cached token.
    assert [h.get("Authorization") for _, h in registry.requests[2:]] == ["Bearer t0k3n"] * 2


def test_bearer_token_request_carries_docker_config_credentials():
    registry = registry_with(lambda r: setattr(r, "auth", "bearer"), lambda r: r.sign(KEY))
    creds = Credentials("ci", "s3cret")
    assert check_resource(signature_policy(registry, creds), deployment(), keys(KEY)) == []
    assert registry.requests[1][1]["Authorization"] == creds.basic()


def test_basic_challenge_is_answered_with_credentials():
    registry = registry_with(lambda r: setattr(r, "auth", "basic"), lambda r: r.sign(KEY))
    assert (
        check_resource(
            signature_policy(registry, Credentials("ci", "s3cret")), deployment(), keys(KEY)
        )
        == []
    )
    assert check_resource(signature_policy(registry), deployment(), keys(KEY)) == [
        not_signed(
            "signature lookup failed: registry.example.com asks for a password and none is "
            "configured"
        )
    ]


def test_tokens_are_never_fetched_over_plain_http_from_a_remote_realm():
    registry = registry_with(
        lambda r: setattr(r, "auth", "bearer"),
        lambda r: setattr(r, "realm", "http://auth.example.com/token"),
        lambda r: r.sign(KEY),
    )
    assert check_resource(signature_policy(registry), deployment(), keys(KEY)) == [
        not_signed(
            "signature lookup failed: registry.example.com sends tokens from a non-HTTPS realm "
            "'http://auth.example.com/token'"
        )
    ]
    assert len(registry.requests) == 1


def test_refused_token_fails_closed():
    registry = registry_with(
        lambda r: setattr(r, "auth", "bearer"),
        lambda r: setattr(r, "refuse_tokens", True),
        lambda r: r.sign(KEY),
    )
    assert check_resource(signature_policy(registry), deployment(), keys(KEY)) == [
        not_signed(
            "signature lookup failed: token service of registry.example.com refused a pull "
            "token (HTTP 401)"
        )
    ]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:library/nginx:pull"',
            (
                "bearer",
                {
                    "realm": "https://auth.docker.io/token",
                    "service": "registry.docker.io",
                    "scope": "repository:library/nginx:pull",
                },
            ),
        ),
        ('Basic realm="Registry Realm"', ("basic", {"realm": "Registry Realm"})),
        (
            "Bearer realm=https://r.example/t, service=reg",
            ("bearer", {"realm": "https://r.example/t", "service": "reg"}),
        ),
    ],
)
def test_challenges_are_parsed(header, expected):
    assert parse_challenge(header) == expected


def test_docker_config_credentials_are_read_from_its_auths(tmp_path):
    auth = base64.b64encode(b"robot$ci:p@ss:word").decode()
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "auths": {
                    "registry.example.com": {"auth": auth},
                    "https://index.docker.io/v1/": {"auth": auth},
                }
            }
        )
    )
    lookup = docker_config_credentials({"DOCKER_CONFIG": str(tmp_path)})
    assert lookup("registry.example.com") == Credentials("robot$ci", "p@ss:word")
    assert lookup("docker.io") == Credentials("robot$ci", "p@ss:word")
    assert lookup("ghcr.io") is None
    assert docker_config_credentials({"DOCKER_CONFIG": str(tmp_path / "none")})("ghcr.io") is None


# --- where to ask --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("registry", "url"),
    [
        ("registry.example.com", "https://registry.example.com"),
        ("registry.example.com:8443", "https://registry.example.com:8443"),
        ("docker.io", "https://registry-1.docker.io"),
        ("127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("127.8.9.10:5000", "http://127.8.9.10:5000"),
        ("localhost:5000", "http://localhost:5000"),
        ("[::1]:5000", "http://[::1]:5000"),
        ("127.0.0.1.example.com", "https://127.0.0.1.example.com"),
        ("10.0.0.1:5000", "https://10.0.0.1:5000"),
    ],
)
def test_plain_http_only_for_loopback_registries(registry, url):
    assert registry_url(registry) == url


def test_docker_hub_short_names_use_the_library_repository():
    registry = FakeRegistry()
    client = RegistryClient(
        transport=lambda url, h, t, n: (
            registry.requests.append((url, h)) or HttpResponse(404, {}, b"")
        )
    )
    client.get(parse_image(f"nginx@{DIGEST}"), "manifests/x")
    client.get(parse_image(f"team/app@{DIGEST}"), "manifests/x")
    assert [url for url, _ in registry.requests] == [
        "https://registry-1.docker.io/v2/library/nginx/manifests/x",
        "https://registry-1.docker.io/v2/team/app/manifests/x",
    ]


def test_signature_tag_is_cosigns():
    assert signature_tag("sha256:" + "ab" * 32) == f"sha256-{'ab' * 32}.sig"


# --- the HTTP transport ----------------------------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Redirects /start to /target on the same loopback server and records headers."""

    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self):
        _Recorder.seen.append({"path": self.path, **dict(self.headers)})
        if self.path == "/start":
            self.send_response(307)
            self.send_header("Location", "/target")
            self.end_headers()
            return
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def loopback_server():
    _Recorder.seen = []
    with serving(_Recorder) as url:
        yield url


def test_authorization_is_not_forwarded_on_redirects(loopback_server):
    response = urllib_transport(
        f"{loopback_server}/start", {"Authorization": "Bearer secret", "Accept": "x/y"}, 5, 1024
    )
    assert response.status == 200
    first, second = _Recorder.seen
    assert first["Authorization"] == "Bearer secret"
    assert second["path"] == "/target"
    assert "Authorization" not in second
    assert second["Accept"] == "x/y"


def test_oversized_responses_are_refused(loopback_server):
    with pytest.raises(RegistryError, match="larger than 4 bytes"):
        urllib_transport(f"{loopback_server}/target", {}, 5, 4)


def test_a_closed_port_is_unreachable():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    port = server.server_address[1]
    server.server_close()
    with pytest.raises(RegistryError, match=rf"127.0.0.1:{port} unreachable"):
        urllib_transport(f"http://127.0.0.1:{port}/v2/", {}, 5, 1024)


def test_redirects_never_leave_https():
    request = urllib.request.Request("https://registry.example.com/v2/a/blobs/sha256:x")
    with pytest.raises(urllib.error.HTTPError, match="refused redirect to plain HTTP"):
        _NoDowngradeRedirect().redirect_request(
            request, None, 307, "Temporary Redirect", {}, "http://storage.example.com/blob"
        )


def test_the_packs_start_imports_cryptography_only_once_a_key_is_read() -> None:
    # In the pack's own interpreter, as the engine starts it: `cryptography` is about 40 ms
    # of imports, and only configs that name keys need it.
    script = "\n".join(
        (
            "import sys",
            "import go_platform_policies",
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'cryptography')",
            "assert not loaded, loaded",
            "from go_platform_policies.settings import load_public_key",
            f"load_public_key({public_pem(KEY)!r})",
            "assert 'cryptography' in sys.modules",
        )
    )
    python = REPO / "policies" / "venv" / "bin" / "python"
    subprocess.run([python, "-c", script], cwd=REPO / "policies", check=True, timeout=60)
