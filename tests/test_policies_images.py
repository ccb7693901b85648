"""Image tag, digest and registry policies, through real `ResourceValidationArgs`.

Invariants guarded:
- `image-tag-not-latest`: `latest` and a missing tag fail; a digest without a tag passes;
- `image-digest-pinned`: only `@sha256:` references pass, in every container kind;
- `image-registry-allowed`: an image passes only from a configured registry, or from a
  registry/path prefix matched on whole path segments; Docker Hub names without a
  registry are Docker Hub's (official images under `docker.io/library`); an empty
  allow-list allows nothing;
- references are read by the program's own parser: an unparseable image is a violation
  of each image policy, never a crash or a pass.
"""

from __future__ import annotations

import pytest

from go_platform_policies.images import registry_allowed
from go_platform_policies.shared import parse_image
from tests.policy_fixtures import (
    DIGEST,
    IMAGE,
    Resource,
    case,
    deployment,
    good_container,
    good_pod_spec,
    run_case,
    workload,
)

C0 = "container 'app' (spec.template.spec.containers[0])"
INIT0 = "container 'migrate' (spec.template.spec.initContainers[0])"
DEBUG0 = "container 'debug' (spec.ephemeralContainers[0])"
ALLOWED = {"allowedRegistries": ["registry.example.com/acme", "ghcr.io"]}
UNPARSEABLE = "expected an image reference [registry/]repository[:tag][@sha256:digest]"


def image(reference: str) -> Resource:
    return deployment({"containers[0].image": reference})


CASES = [
    # image-tag-not-latest
    case("image-tag-not-latest", "version tag and digest", deployment()),
    case(
        "image-tag-not-latest",
        "digest without a tag",
        image(f"registry.example.com/acme/app@{DIGEST}"),
    ),
    case(
        "image-tag-not-latest",
        "no tag",
        image("nginx"),
        f"{C0}: image is 'nginx'; expected a version tag or a digest (no tag means latest)",
    ),
    case(
        "image-tag-not-latest",
        "latest",
        image("registry.example.com/acme/app:latest"),
        f"{C0}: image is 'registry.example.com/acme/app:latest'; expected a version tag or a "
        "digest, never latest",
    ),
    case(
        "image-tag-not-latest",
        "latest in an init container",
        deployment({"initContainers": [good_container("migrate", image="busybox:latest")]}),
        f"{INIT0}: image is 'busybox:latest'; expected a version tag or a digest, never latest",
    ),
    case(
        "image-tag-not-latest",
        "not a reference",
        image("Registry.Example.com/Acme/App:1"),
        f"{C0}: image is 'Registry.Example.com/Acme/App:1'; {UNPARSEABLE}",
    ),
    # image-digest-pinned
    case("image-digest-pinned", "tag and digest", deployment()),
    case(
        "image-digest-pinned",
        "version tag only",
        image("registry.example.com/acme/app:1.4.2"),
        f"{C0}: image is 'registry.example.com/acme/app:1.4.2'; expected a reference pinned by "
        "digest (<image>:<tag>@sha256:<digest>)",
    ),
    case(
        "image-digest-pinned",
        "an ephemeral container by tag",
        Resource(
            "kubernetes:core/v1:Pod",
            workload(
                "kubernetes:core/v1:Pod",
                good_pod_spec(ephemeralContainers=[{"name": "debug", "image": "busybox:1.36"}]),
            ),
        ),
        f"{DEBUG0}: image is 'busybox:1.36'; expected a reference pinned by digest "
        "(<image>:<tag>@sha256:<digest>)",
    ),
    case(
        "image-digest-pinned",
        "a digest of the wrong length",
        image("registry.example.com/acme/app@sha256:abc"),
        f"{C0}: image is 'registry.example.com/acme/app@sha256:abc'; {UNPARSEABLE}",
    ),
    case(
        "image-digest-pinned",
        "no image at all",
        deployment({"containers[0].image": None}),
        f"{C0}: image is unset; {UNPARSEABLE}",
    ),
    # image-registry-allowed
    case("image-registry-allowed", "under an allowed prefix", deployment(), config=ALLOWED),
    case(
        "image-registry-allowed",
        "an allowed registry, any repository",
        image(f"ghcr.io/someone/tool:2.0@{DIGEST}"),
        config=ALLOWED,
    ),
    case(
        "image-registry-allowed",
        "Docker Hub by short name",
        image("nginx:1.27"),
        f"{C0}: image is 'nginx:1.27'; expected an image from registry.example.com/acme, ghcr.io",
        config=ALLOWED,
    ),
    case(
        "image-registry-allowed",
        "a look-alike path prefix",
        image("registry.example.com/acme-evil/app:1.0"),
        f"{C0}: image is 'registry.example.com/acme-evil/app:1.0'; expected an image from "
        "registry.example.com/acme, ghcr.io",
        config=ALLOWED,
    ),
    case(
        "image-registry-allowed",
        "nothing configured allows nothing",
        deployment(),
        f"{C0}: image is '{IMAGE}'; expected an image from an allowed registry "
        "(allowedRegistries in the policy config is empty)",
    ),
]


@pytest.mark.parametrize("fixture", CASES, ids=str)
def test_case(fixture):
    assert run_case(fixture) == list(fixture.expected)


@pytest.mark.parametrize(
    ("reference", "allowed", "expected"),
    [
        ("nginx:1.27", ["docker.io"], True),
        ("nginx:1.27", ["docker.io/library"], True),
        ("nginx:1.27", ["docker.io/team"], False),
        ("team/app:1", ["docker.io/team"], True),
        ("localhost:5000/app:1", ["localhost:5000"], True),
        ("localhost:5000/app:1", ["localhost"], False),
        ("ghcr.io/acme/app:1", ["ghcr.io/acme"], True),
        ("ghcr.io/acme/app:1", ["ghcr.io/acme/app"], True),
        ("ghcr.io/acme/application:1", ["ghcr.io/acme/app"], False),
        ("ghcr.io/acme/team/app:1", ["ghcr.io/acme/team"], True),
        ("ghcr.io.evil.com/acme/app:1", ["ghcr.io"], False),
    ],
)
def test_registry_prefixes_match_whole_segments(reference, allowed, expected):
    assert registry_allowed(parse_image(reference), allowed) is expected
