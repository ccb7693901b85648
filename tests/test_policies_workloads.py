"""Workload best practices, through real `ResourceValidationArgs` with config.

Invariants guarded:
- every pod-template kind is found (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
  ReplicationController, Job, CronJob) and its containers are named by their full field path; init and ephemeral
  containers are checked like the others wherever Kubernetes allows the field there;
- `container-resources-required`: cpu and memory requests and limits are present and are
  quantities above zero (a zero limit is none to the kubelet); ephemeral containers, which cannot set resources, are not asked to;
- `container-limits-within-caps`: limits stay within the configured caps;
- `container-requests-within-limits`: no request above its limit;
- `container-probes-required`: long-running containers have readiness and liveness
  probes; Jobs, CronJobs and init containers need none;
- `container-read-only-root-filesystem`: every container, init and ephemeral included;
- resources that are not workloads are never reported.
"""

from __future__ import annotations

import pytest

from go_platform_policies.core import POD_SPEC_PATHS, Workload
from tests.policy_fixtures import (
    OMIT,
    POLICIES_BY_NAME,
    Resource,
    case,
    check_resource,
    deployment,
    good_container,
    good_pod_spec,
    run_case,
    workload,
)

C0 = "container 'app' (spec.template.spec.containers[0])"
INIT0 = "container 'migrate' (spec.template.spec.initContainers[0])"
CRON_INIT0 = "container 'migrate' (spec.jobTemplate.spec.template.spec.initContainers[0])"
EPHEMERAL0 = "container 'debug' (spec.ephemeralContainers[0])"

MIGRATE = good_container("migrate")
DEBUG = {"name": "debug", "image": "registry.example.com/tools/debug:1.0"}

CASES = [
    # container-resources-required
    case("container-resources-required", "sized container", deployment()),
    case(
        "container-resources-required",
        "no limits",
        deployment({"containers[0].resources.limits": OMIT}),
        f"{C0}: resources.limits.cpu is unset; expected a cpu limit",
        f"{C0}: resources.limits.memory is unset; expected a memory limit",
    ),
    case(
        "container-resources-required",
        "init container of a CronJob without a memory request",
        Resource(
            "kubernetes:batch/v1:CronJob",
            workload(
                "kubernetes:batch/v1:CronJob",
                good_pod_spec(
                    initContainers=[
                        {
                            **MIGRATE,
                            "resources": {**MIGRATE["resources"], "requests": {"cpu": "10m"}},
                        }
                    ]
                ),
            ),
        ),
        f"{CRON_INIT0}: resources.requests.memory is unset; expected a memory request",
    ),
    case(
        "container-resources-required",
        "memory written in gigabytes",
        deployment({"containers[0].resources.limits.memory": "1GB"}),
        f"{C0}: resources.limits.memory is '1GB'; expected a Kubernetes quantity (250m, 1, 256Mi)",
    ),
    case(
        "container-resources-required",
        "zero limits, which the kubelet reads as none",
        deployment(
            {"containers[0].resources.limits": {"cpu": "0m", "memory": 0}},
        ),
        f"{C0}: resources.limits.cpu is '0m'; expected a cpu limit above zero (zero means none)",
        f"{C0}: resources.limits.memory is 0; expected a memory limit above zero (zero means none)",
    ),
    case(
        "container-resources-required",
        "a zero memory request",
        deployment({"containers[0].resources.requests.memory": "0Gi"}),
        f"{C0}: resources.requests.memory is '0Gi'; expected a memory request above zero (zero means none)",
    ),
    case(
        "container-resources-required",
        "ephemeral container without resources",
        Resource(
            "kubernetes:core/v1:Pod",
            workload("kubernetes:core/v1:Pod", good_pod_spec(ephemeralContainers=[DEBUG])),
        ),
    ),
    # container-limits-within-caps
    case(
        "container-limits-within-caps",
        "limits below the caps",
        deployment(),
        config={"maxCpu": "2", "maxMemory": "1Gi"},
    ),
    case(
        "container-limits-within-caps",
        "cpu limit above the cap",
        deployment({"containers[0].resources.limits.cpu": "4"}),
        f"{C0}: resources.limits.cpu is '4'; expected at most 2 (this environment's cap)",
        config={"maxCpu": "2", "maxMemory": "1Gi"},
    ),
    case(
        "container-limits-within-caps",
        "init container memory above the cap, written in bytes",
        deployment(
            {"initContainers": [{**MIGRATE, "resources": {"limits": {"memory": 4 * 2**30}}}]}
        ),
        f"{INIT0}: resources.limits.memory is 4294967296; expected at most 1Gi (this environment's cap)",
        config={"maxCpu": "2", "maxMemory": "1Gi"},
    ),
    case(
        "container-limits-within-caps",
        "defaults cap at 4 cpu",
        deployment({"containers[0].resources.limits.cpu": "4500m"}),
        f"{C0}: resources.limits.cpu is '4500m'; expected at most 4 (this environment's cap)",
    ),
    # container-requests-within-limits
    case("container-requests-within-limits", "requests below limits", deployment()),
    case(
        "container-requests-within-limits",
        "no limit to compare with",
        deployment({"containers[0].resources.limits": OMIT}),
    ),
    case(
        "container-requests-within-limits",
        "cpu request above the limit",
        deployment({"containers[0].resources.requests.cpu": "2"}),
        f"{C0}: resources.requests.cpu is '2'; expected at most the limit '1'",
    ),
    case(
        "container-requests-within-limits",
        "init container memory request above the limit",
        deployment(
            {
                "initContainers": [
                    {
                        **MIGRATE,
                        "resources": {
                            "requests": {"cpu": "10m", "memory": "512Mi"},
                            "limits": {"cpu": "1", "memory": "256Mi"},
                        },
                    }
                ]
            }
        ),
        f"{INIT0}: resources.requests.memory is '512Mi'; expected at most the limit '256Mi'",
    ),
    # container-probes-required
    case("container-probes-required", "both probes", deployment()),
    case(
        "container-probes-required",
        "a Job needs no probes",
        Resource(
            "kubernetes:batch/v1:Job",
            workload(
                "kubernetes:batch/v1:Job",
                good_pod_spec(
                    containers=[good_container(readinessProbe=OMIT, livenessProbe=OMIT)],
                ),
            ),
        ),
    ),
    case(
        "container-probes-required",
        "init containers need no probes",
        deployment(
            {"initContainers": [{**MIGRATE, "readinessProbe": None, "livenessProbe": None}]}
        ),
    ),
    case(
        "container-probes-required",
        "no readiness probe",
        deployment({"containers[0].readinessProbe": OMIT}),
        f"{C0}: readinessProbe is unset; expected an httpGet, grpc, tcpSocket or exec probe",
    ),
    case(
        "container-probes-required",
        "a StatefulSet without probes",
        Resource(
            "kubernetes:apps/v1:StatefulSet",
            workload(
                "kubernetes:apps/v1:StatefulSet",
                good_pod_spec(containers=[good_container(readinessProbe=None, livenessProbe=None)]),
            ),
        ),
        f"{C0}: readinessProbe is unset; expected an httpGet, grpc, tcpSocket or exec probe",
        f"{C0}: livenessProbe is unset; expected an httpGet, grpc, tcpSocket or exec probe",
    ),
    # container-read-only-root-filesystem
    case("container-read-only-root-filesystem", "read-only root", deployment()),
    case(
        "container-read-only-root-filesystem",
        "unset",
        deployment({"containers[0].securityContext.readOnlyRootFilesystem": OMIT}),
        f"{C0}: securityContext.readOnlyRootFilesystem is unset; expected true (mount an emptyDir "
        "where the process must write)",
    ),
    case(
        "container-read-only-root-filesystem",
        "false in an init container",
        deployment(
            {
                "initContainers": [
                    {
                        **MIGRATE,
                        "securityContext": {
                            **MIGRATE["securityContext"],
                            "readOnlyRootFilesystem": False,
                        },
                    }
                ]
            }
        ),
        f"{INIT0}: securityContext.readOnlyRootFilesystem is false; expected true (mount an "
        "emptyDir where the process must write)",
    ),
    case(
        "container-read-only-root-filesystem",
        "an ephemeral container of a Pod",
        Resource(
            "kubernetes:core/v1:Pod",
            workload("kubernetes:core/v1:Pod", good_pod_spec(ephemeralContainers=[DEBUG])),
        ),
        f"{EPHEMERAL0}: securityContext.readOnlyRootFilesystem is unset; expected true (mount an "
        "emptyDir where the process must write)",
    ),
]


@pytest.mark.parametrize("fixture", CASES, ids=str)
def test_case(fixture):
    assert run_case(fixture) == list(fixture.expected)


@pytest.mark.parametrize("resource_type", sorted(POD_SPEC_PATHS))
def test_every_workload_kind_is_checked(resource_type):
    bare = good_pod_spec()
    bare["containers"][0].pop("resources")
    props = workload(resource_type, bare)
    found = check_resource(
        POLICIES_BY_NAME["container-resources-required"], Resource(resource_type, props)
    )
    spec_path = ".".join(POD_SPEC_PATHS[resource_type])
    assert len(found) == 4
    assert all(m.startswith(f"container 'app' ({spec_path}.containers[0]): ") for m in found)


def test_containers_come_in_declaration_order_with_paths():
    spec = good_pod_spec(initContainers=[MIGRATE], ephemeralContainers=[DEBUG])
    found = Workload.of("kubernetes:core/v1:Pod", {"spec": spec})
    assert found is not None
    assert [(c.name, c.path) for c in found.containers()] == [
        ("migrate", "spec.initContainers[0]"),
        ("app", "spec.containers[0]"),
        ("debug", "spec.ephemeralContainers[0]"),
    ]


def test_a_workload_without_a_pod_spec_is_not_one():
    assert Workload.of("kubernetes:apps/v1:Deployment", {"spec": {"replicas": 2}}) is None
    assert Workload.of("kubernetes:core/v1:ConfigMap", {"data": {}}) is None


@pytest.mark.parametrize(
    "name",
    [
        "container-resources-required",
        "container-limits-within-caps",
        "container-requests-within-limits",
        "container-probes-required",
        "container-read-only-root-filesystem",
    ],
)
def test_other_resources_are_not_checked(name):
    config_map = Resource("kubernetes:core/v1:ConfigMap", {"data": {"image": "x:latest"}})
    assert check_resource(POLICIES_BY_NAME[name], config_map) == []
