"""Workload policies, through real `ResourceValidationArgs`.

Invariants guarded:
- every pod-template kind is found (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
  Job, CronJob), and init and ephemeral containers are checked like the others;
- `container-resources-required`: a container without cpu or memory requests or limits
  is a violation naming the container, the field and what is expected; other resource
  types are not checked.
"""

from __future__ import annotations

import copy
import runpy
import sys

import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs

from tests.conftest import REPO, STACK_FILES, stack_file_config

sys.path.insert(0, str(REPO / "policies"))
from go_platform_policies import POLICIES
from go_platform_policies.workloads import (
    POD_SPEC_PATHS,
    container_resources_required,
    pod_spec,
)

GOOD_CONTAINER = {
    "name": "app",
    "image": "ghcr.io/acme/app:v1",
    "resources": {
        "requests": {"cpu": "50m", "memory": "64Mi"},
        "limits": {"cpu": "1", "memory": "256Mi"},
    },
}


def deployment(**container_overrides):
    container = {**copy.deepcopy(GOOD_CONTAINER), **container_overrides}
    return {"spec": {"template": {"spec": {"containers": [container]}}}}


def violations(policy, resource_type, props, config=None) -> list[str]:
    args = ResourceValidationArgs(
        resource_type=resource_type,
        props=props,
        urn=f"urn:pulumi:test::go-platform::{resource_type}::fixture",
        name="fixture",
        opts=PolicyResourceOptions(
            protect=False,
            ignore_changes=[],
            delete_before_replace=None,
            aliases=[],
            custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
            additional_secret_outputs=[],
        ),
        provider=None,
        config=config or {},
    )
    found: list[str] = []
    policy.validate(args, lambda message, urn=None: found.append(message))
    return found


def wrap(resource_type: str, spec: dict) -> dict:
    """Props of `resource_type` whose pod spec is `spec`."""
    props: dict = {}
    node = props
    path = POD_SPEC_PATHS[resource_type]
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = spec
    return props


@pytest.mark.parametrize("resource_type", sorted(POD_SPEC_PATHS))
def test_pod_spec_is_found_in_every_workload_kind(resource_type):
    spec = {"containers": [GOOD_CONTAINER]}
    assert pod_spec(resource_type, wrap(resource_type, spec)) == spec


def test_resources_pass():
    assert (
        violations(container_resources_required, "kubernetes:apps/v1:Deployment", deployment())
        == []
    )


def test_missing_limits_fail():
    props = deployment(resources={"requests": {"cpu": "50m", "memory": "64Mi"}})
    assert violations(container_resources_required, "kubernetes:apps/v1:Deployment", props) == [
        "container 'app' (containers[0]): resources.limits has no cpu or memory; expected cpu and memory limits"
    ]


def test_init_container_without_memory_request_fails():
    spec = {
        "initContainers": [
            {
                **GOOD_CONTAINER,
                "name": "migrate",
                "resources": {"requests": {"cpu": "10m"}, "limits": {"cpu": "1", "memory": "64Mi"}},
            }
        ],
        "containers": [GOOD_CONTAINER],
    }
    props = wrap("kubernetes:batch/v1:CronJob", spec)
    assert violations(container_resources_required, "kubernetes:batch/v1:CronJob", props) == [
        "container 'migrate' (initContainers[0]): resources.requests has no memory; expected cpu and memory requests"
    ]


def test_other_resources_are_not_checked():
    assert (
        violations(container_resources_required, "kubernetes:core/v1:ConfigMap", {"data": {}}) == []
    )


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=lambda p: p.stem.split(".")[1])
def test_every_resource_our_stacks_create_passes(pulumi_program, stack_file):
    stack = stack_file.stem.split(".")[1]
    recording = pulumi_program(
        lambda: runpy.run_path(str(REPO / "__main__.py"), run_name="__main__"),
        stack=stack,
        config=stack_file_config(stack_file),
    )
    checked = [r for r in recording.resources if r.type in POD_SPEC_PATHS]
    assert checked, "the stack creates no workload to check"
    for resource in checked:
        for policy in POLICIES:
            assert violations(policy, resource.type, resource.inputs) == [], (
                f"{policy.name} on {resource.name}"
            )
