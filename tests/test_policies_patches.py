"""Workload kinds beyond the common ones: ReplicationControllers, and workloads' server-side
apply patches (`kubernetes:apps/v1:DeploymentPatch` and the rest).

Invariants guarded:
- a ReplicationController's pod template is checked like a ReplicaSet's;
- a workload's patch, which can make a running workload privileged or swap its image, is
  checked by every policy that refuses a value the patch sets (the Pod Security baseline,
  the restricted volume types and uid 0, every image policy, the resource caps), each
  message naming the field as in the full workload;
- no policy that requires a field (sizes, probes, a non-root or read-only pod) asks a
  patch for what it leaves to the live object;
- a patch of something that is not a workload is nobody's business here.
"""

from __future__ import annotations

import pytest
from pulumi_policy import ResourceValidationPolicy

from go_platform_policies import POLICIES
from go_platform_policies.core import POD_SPEC_PATHS, Workload
from tests.policy_fixtures import IMAGE, Resource, check_resource, workload

PATCH_KINDS = sorted(f"{kind}Patch" for kind in POD_SPEC_PATHS)
RESOURCE_POLICIES = [p for p in POLICIES if isinstance(p, ResourceValidationPolicy)]
C0 = "container 'app' (spec.template.spec.containers[0])"

# A patch that sets only what a person would patch to break out: none of it is required
# of a full workload, every field refuses its value somewhere.
BREAKOUT = {
    "metadata": {"name": "app", "namespace": "apps"},
    "spec": {
        "template": {
            "spec": {
                "hostNetwork": True,
                "securityContext": {"runAsUser": 0},
                "containers": [
                    {
                        "name": "app",
                        "image": "docker.io/library/app:latest",
                        "securityContext": {"privileged": True},
                        "resources": {"limits": {"cpu": "64"}},
                    }
                ],
                "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
            }
        }
    },
}

# A routine patch: a new pinned image for one container, nothing else.
ROUTINE = {
    "metadata": {"name": "app", "namespace": "apps"},
    "spec": {"template": {"spec": {"containers": [{"name": "app", "image": IMAGE}]}}},
}

CHECKS_PATCHES = {
    # the Pod Security baseline, every control of which refuses a value
    "pod-host-namespaces-disallowed",
    "container-privileged-disallowed",
    "pod-host-path-volumes-disallowed",
    # restricted controls that refuse a value
    "pod-volume-types-restricted",
    "pod-run-as-user-non-zero",
    # what runs, wherever an image is set
    "image-tag-not-latest",
    "image-digest-pinned",
    "image-registry-allowed",
    "image-signature-verified",
    "image-vulnerability-scanned",
    # the caps, on the limits a patch sets
    "container-limits-within-caps",
}


# The fixtures' registry allowed, as the committed configs allow theirs.
CONFIG = {"image-registry-allowed": {"allowedRegistries": ["registry.example.com"]}}


def reporting(props: dict, resource_type: str, names: set[str] | None = None) -> set[str]:
    """The resource policies (of `names`, else all) that report `props` as `resource_type`."""
    return {
        policy.name
        for policy in RESOURCE_POLICIES
        if (names is None or policy.name in names)
        and check_resource(policy, Resource(resource_type, props), CONFIG.get(policy.name))
    }


def test_a_replication_controllers_template_is_checked():
    props = workload("kubernetes:core/v1:ReplicationController")
    props["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    found = Workload.of("kubernetes:core/v1:ReplicationController", props)
    assert found is not None
    assert found.spec_path == "spec.template.spec"
    privileged = next(p for p in RESOURCE_POLICIES if p.name == "container-privileged-disallowed")
    assert check_resource(
        privileged, Resource("kubernetes:core/v1:ReplicationController", props)
    ) == [f"{C0}: securityContext.privileged is true; expected false or unset"]


def test_a_breakout_patch_is_refused_by_every_policy_that_refuses_what_it_sets():
    assert reporting(BREAKOUT, "kubernetes:apps/v1:DeploymentPatch") == CHECKS_PATCHES


def test_the_same_fields_in_a_full_deployment_are_refused_by_the_same_policies_and_more():
    # The patch policies are a subset of what a whole Deployment meets, never other ones.
    assert reporting(BREAKOUT, "kubernetes:apps/v1:Deployment") >= CHECKS_PATCHES


def test_a_patch_is_reported_with_the_fields_path():
    privileged = next(p for p in RESOURCE_POLICIES if p.name == "container-privileged-disallowed")
    assert check_resource(privileged, Resource("kubernetes:apps/v1:DeploymentPatch", BREAKOUT)) == [
        f"{C0}: securityContext.privileged is true; expected false or unset"
    ]


@pytest.mark.parametrize("resource_type", PATCH_KINDS)
def test_a_routine_patch_is_asked_for_nothing_it_leaves_to_the_live_object(resource_type):
    kind = resource_type.removesuffix("Patch")
    props = {**ROUTINE, "spec": {}}
    node = props
    for key in POD_SPEC_PATHS[kind]:
        node = node.setdefault(key, {})
    node["containers"] = [{"name": "app", "image": IMAGE}]
    # The two registry-backed policies need keys to ask anything; without them they report
    # the missing keys on any image, patched or not.
    names = {p.name for p in RESOURCE_POLICIES} - {
        "image-signature-verified",
        "image-vulnerability-scanned",
    }
    assert reporting(props, resource_type, names) == set()


def test_a_patch_of_something_else_is_not_a_workload():
    assert Workload.of("kubernetes:core/v1:ConfigMapPatch", {"data": {}}, patches=True) is None
    assert Workload.of("kubernetes:apps/v1:DeploymentPatch", ROUTINE) is None  # not asked for
