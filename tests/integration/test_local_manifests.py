"""Every object the `local` stack declares, applied to the real embedded API server.

This is not a Pulumi engine run (that needs the toolchain, see docs/toolchain.md): the
program runs under mocks, and each Kubernetes object it registers is applied as it would
be sent, with server-side apply and strict field validation, to a Kubernetes 1.36 API
server with the definitions the program installs (its ConfigGroup's files, and no others)
and restricted Pod Security enforced.

Invariants guarded:
- the API server accepts every object: built-in kinds with no unknown or mistyped field,
  every custom resource (IngressRoute, Middleware, TLSOption, Certificate, ClusterIssuer,
  ServiceMonitor, PrometheusRule) against its real CRD schema, as the stack installs it;
- the services' pods pass restricted Pod Security admission, so every Deployment becomes
  Available (kwok plays the kubelet);
- a second apply of the same objects changes nothing (generation stays put): the manifests
  are stable, as a no-op `pulumi up` needs.
"""

from __future__ import annotations

import json
import runpy
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, Recording, run_under_mocks, stack_file_config
from tests.integration.test_cluster import (  # noqa: F401 (fixture)
    Cluster,
    cluster,
    condition_true,
    eventually,
)

FIELD_MANAGER = "go-platform-manifest-test"
# Resource kinds the engine never sends to the API server.
NOT_KUBERNETES = (
    "go-platform:",
    "random:",
    "pulumi:",
    "kubernetes:yaml/v2:ConfigGroup",
    "kubernetes:helm.sh/",
)


def manifest(resource_type: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The object as pulumi-kubernetes would send it: `kubernetes:<group>/<version>:<Kind>`,
    auto-named objects named as the mocks named them."""
    _, group_version, kind = resource_type.split(":")
    group, version = group_version.split("/")
    api_version = version if group == "core" else f"{group}/{version}"
    body = {k: v for k, v in inputs.items() if not k.startswith("__")}
    body["apiVersion"], body["kind"] = (
        inputs.get("apiVersion", api_version),
        inputs.get("kind", kind),
    )
    metadata = dict(body.get("metadata") or {})
    metadata.setdefault("name", f"{name}-0a1b2c3d")
    body["metadata"] = metadata
    return body


def declared_manifests(recording: Recording) -> list[dict[str, Any]]:
    """The objects the program declares, as the API server gets them, namespaces first (as
    the program's dependencies order them). The definitions are not among them: the
    provider reads the ConfigGroup's files (`definition_files`)."""
    objects = [
        manifest(r.type, r.name, r.inputs)
        for r in recording.resources
        if not r.type.startswith(NOT_KUBERNETES)
    ]
    return sorted(objects, key=lambda o: o["kind"] != "Namespace")


class Applier:
    """Server-side apply through the API's discovery documents."""

    def __init__(self, api) -> None:
        self.api = api
        self.resources: dict[tuple[str, str], tuple[str, bool]] = {}

    def _discover(self, api_version: str) -> None:
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        listing = self.api.get(base)
        assert listing.ok, f"{base}: {listing.message}"
        for resource in listing.body["resources"]:
            if "/" not in resource["name"]:
                self.resources[(api_version, resource["kind"])] = (
                    resource["name"],
                    resource["namespaced"],
                )

    def path(self, body: dict[str, Any]) -> str:
        key = (body["apiVersion"], body["kind"])
        if key not in self.resources:
            self._discover(body["apiVersion"])
        plural, namespaced = self.resources[key]
        base = "/api/v1" if body["apiVersion"] == "v1" else f"/apis/{body['apiVersion']}"
        namespace = body["metadata"].get("namespace") or "default"
        scope = f"/namespaces/{namespace}" if namespaced else ""
        return f"{base}{scope}/{plural}/{body['metadata']['name']}"

    def apply(self, body: dict[str, Any]):
        query = f"?fieldManager={FIELD_MANAGER}&fieldValidation=Strict&force=true"
        return self.api.request(
            "PATCH", self.path(body) + query, body, "application/apply-patch+yaml"
        )


def definition_files(recording: Recording) -> list[Path]:
    """The definitions the program installs: the files its ConfigGroups name (paths or globs
    relative to the project, as the kubernetes provider reads them), in the order named."""
    files = []
    for group in recording.of_kind("ConfigGroup"):
        for pattern in group.inputs["files"]:
            matched = sorted(REPO.glob(pattern))
            assert matched, f"ConfigGroup {group.name}: {pattern} names no file in the project"
            files.extend(matched)
    return files


def definitions_in(files: Sequence[Path]) -> list[dict[str, Any]]:
    """The definitions in `files`, in order."""
    return [
        document for path in files for document in yaml.safe_load_all(path.read_text()) if document
    ]


def definition_names(files: Sequence[Path]) -> list[str]:
    return [definition["metadata"]["name"] for definition in definitions_in(files)]


def install_crds(applier: Applier, files: Sequence[Path], *, interval: float = 0.5) -> None:
    """Apply the definitions in `files`, then wait (polling every `interval` seconds) until
    each is Established."""
    definitions = definitions_in(files)
    for definition in definitions:
        response = applier.apply(definition)
        assert response.ok, f"{definition['metadata']['name']}: {response.message}"
    for name in (definition["metadata"]["name"] for definition in definitions):
        eventually(
            lambda n=name: _established(applier.api, n),
            timeout=60,
            what=f"CRD {name} established",
            interval=interval,
        )


def _established(api, name: str) -> bool:
    path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
    return condition_true(api.get(path).body, "Established")


@pytest.fixture(scope="module")
def local_recording() -> Recording:
    return run_under_mocks(
        lambda: runpy.run_path(str(REPO / "__main__.py"), run_name="__main__"),
        stack="local",
        config=stack_file_config(REPO / "Pulumi.local.yaml"),
    )


@pytest.fixture(scope="module")
def local_objects(local_recording) -> list[dict[str, Any]]:
    return declared_manifests(local_recording)


@pytest.fixture(scope="module")
def applied(
    cluster: Cluster,  # noqa: F811
    local_recording,
    local_objects,
) -> tuple[Applier, dict[str, Any]]:
    applier = Applier(cluster.api)
    install_crds(applier, definition_files(local_recording))
    results = {}
    for body in local_objects:
        response = applier.apply(body)
        results[
            f"{body['kind']}/{body['metadata'].get('namespace', '')}/{body['metadata']['name']}"
        ] = response
    return applier, results


def test_the_stack_declares_every_kind_it_should(local_objects):
    kinds = {o["kind"] for o in local_objects}
    assert kinds >= {
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Deployment",
        "Service",
        "NetworkPolicy",
        "ServiceMonitor",
        "PrometheusRule",
        "Certificate",
        "ClusterIssuer",
        "IngressRoute",
        "Middleware",
        "TLSOption",
        "Secret",
    }


def test_the_api_server_accepts_every_object(applied):
    _, results = applied
    rejected = {name: f"{r.status} {r.message}" for name, r in results.items() if not r.ok}
    assert not rejected, json.dumps(rejected, indent=1)


def test_every_deployment_becomes_available(cluster: Cluster, local_objects, applied):  # noqa: F811
    deployments = [o for o in local_objects if o["kind"] == "Deployment"]
    # The greeter runs a stable and a canary track; Athens is the module proxy.
    assert {d["metadata"]["name"] for d in deployments} == {"greeter", "greeter-canary", "athens"}

    def available(body: dict[str, Any]) -> bool:
        return condition_true(cluster.api.get(applied[0].path(body)).body, "Available")

    for body in deployments:
        eventually(
            lambda b=body: available(b),
            timeout=90,
            what=f"Deployment {body['metadata']['name']} available",
        )


def test_pods_pass_restricted_pod_security(cluster: Cluster, applied):  # noqa: F811
    for namespace in ("apps", "module-proxy"):
        labels = cluster.api.get(f"/api/v1/namespaces/{namespace}").body["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        # Admission would refuse a non-compliant pod: none would exist, and none would run.
        pods = eventually(
            lambda ns=namespace: [
                p
                for p in cluster.api.get(f"/api/v1/namespaces/{ns}/pods").body["items"]
                if p["status"].get("phase") == "Running"
            ],
            timeout=60,
            what=f"running pods in {namespace}",
        )
        assert all(
            c["securityContext"]["runAsNonRoot"] for p in pods for c in p["spec"]["containers"]
        )


def test_a_second_apply_changes_nothing(cluster: Cluster, local_objects, applied):  # noqa: F811
    applier = applied[0]
    time.sleep(1)
    before = {
        applier.path(o): cluster.api.get(applier.path(o)).body["metadata"].get("generation")
        for o in local_objects
    }
    for body in local_objects:
        assert applier.apply(body).ok
    after = {
        applier.path(o): cluster.api.get(applier.path(o)).body["metadata"].get("generation")
        for o in local_objects
    }
    assert after == before


def test_strict_validation_rejects_a_mistyped_field(applied):
    applier = applied[0]
    broken = manifest(
        "kubernetes:apps/v1:Deployment",
        "broken",
        {
            "metadata": {"name": "broken", "namespace": "apps"},
            "spec": {
                "replica": 1,
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "x:1"}]},
                },
            },
        },
    )
    response = applier.apply(broken)
    # Server-side apply answers a field the schema lacks with an error naming it.
    assert not response.ok
    assert ".spec.replica: field not declared in schema" in response.message
