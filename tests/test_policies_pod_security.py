"""Pod Security Standards controls, baseline and restricted, one policy each.

Invariants guarded:
- each control is checked where the standard defines it: pod `securityContext`, volumes,
  template annotations, and every container, init container and ephemeral container;
- allowed values are exactly the standard's (baseline capabilities, safe sysctls, SELinux
  types, AppArmor and seccomp profile types, restricted volume types, procMount Default);
- restricted controls read pod and container levels together as the standard does
  (runAsNonRoot or seccomp at pod level covers containers that leave it unset), and the
  privilege escalation, seccomp and capabilities controls skip Windows pods;
- `pod-seccomp-profile-required` remediates by adding RuntimeDefault at pod level only
  where nothing sets a profile, and the result passes;
- exemptions in the config skip the named workloads only.
"""

from __future__ import annotations

import pytest

from tests.policy_fixtures import (
    OMIT,
    POLICIES_BY_NAME,
    Resource,
    case,
    check_resource,
    deployment,
    good_container,
    good_pod_spec,
    remediated,
    run_case,
    workload,
)

P = "pod (spec.template.spec)"
C0 = "container 'app' (spec.template.spec.containers[0])"
INIT0 = "container 'migrate' (spec.template.spec.initContainers[0])"
DEBUG0 = "container 'debug' (spec.ephemeralContainers[0])"

MIGRATE = good_container("migrate")
BASELINE_CAPS = (
    "AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, "
    "SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT"
)
SAFE_SYSCTLS = (
    "kernel.shm_rmid_forced, net.ipv4.ip_local_port_range, net.ipv4.ip_local_reserved_ports, "
    "net.ipv4.ip_unprivileged_port_start, net.ipv4.ping_group_range, net.ipv4.tcp_fin_timeout, "
    "net.ipv4.tcp_keepalive_intvl, net.ipv4.tcp_keepalive_probes, net.ipv4.tcp_keepalive_time, "
    "net.ipv4.tcp_syncookies"
)
RESTRICTED_VOLUMES = (
    "configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, "
    "projected, secret"
)
SELINUX_TYPES = "container_engine_t, container_init_t, container_kvm_t, container_t"


def init(**security) -> dict:
    """A change adding the init container `migrate` with `security` in its context."""
    return {
        "initContainers": [
            {**MIGRATE, "securityContext": {**MIGRATE["securityContext"], **security}}
        ]
    }


def debug_pod(**security) -> Resource:
    """A Pod with an ephemeral debug container whose securityContext is `security`."""
    debug = {"name": "debug", "image": "registry.example.com/tools/debug:1.0"}
    if security:
        debug["securityContext"] = security
    spec = good_pod_spec(ephemeralContainers=[debug])
    return Resource("kubernetes:core/v1:Pod", workload("kubernetes:core/v1:Pod", spec))


def windows(changes: dict) -> Resource:
    return deployment({"os": {"name": "windows"}, **changes})


BASELINE_CASES = [
    # pod-host-namespaces-disallowed
    case("pod-host-namespaces-disallowed", "none shared", deployment()),
    case("pod-host-namespaces-disallowed", "explicitly false", deployment({"hostNetwork": False})),
    case(
        "pod-host-namespaces-disallowed",
        "host network",
        deployment({"hostNetwork": True}),
        f"{P}: hostNetwork is true; expected false or unset",
    ),
    case(
        "pod-host-namespaces-disallowed",
        "host PID and IPC",
        deployment({"hostPID": True, "hostIPC": True}),
        f"{P}: hostPID is true; expected false or unset",
        f"{P}: hostIPC is true; expected false or unset",
    ),
    # container-privileged-disallowed
    case(
        "container-privileged-disallowed",
        "explicitly not privileged",
        deployment({"containers[0].securityContext.privileged": False}),
    ),
    case(
        "container-privileged-disallowed",
        "privileged container",
        deployment({"containers[0].securityContext.privileged": True}),
        f"{C0}: securityContext.privileged is true; expected false or unset",
    ),
    case(
        "container-privileged-disallowed",
        "privileged ephemeral container",
        debug_pod(privileged=True),
        f"{DEBUG0}: securityContext.privileged is true; expected false or unset",
    ),
    # container-capabilities-baseline
    case(
        "container-capabilities-baseline",
        "adds from the baseline set",
        deployment(
            {"containers[0].securityContext.capabilities.add": ["NET_BIND_SERVICE", "CHOWN"]}
        ),
    ),
    case(
        "container-capabilities-baseline",
        "adds SYS_ADMIN",
        deployment({"containers[0].securityContext.capabilities.add": ["SYS_ADMIN"]}),
        f"{C0}: securityContext.capabilities.add is ['SYS_ADMIN']; expected only capabilities "
        f"of the baseline set ({BASELINE_CAPS})",
    ),
    case(
        "container-capabilities-baseline",
        "init container adds NET_ADMIN",
        deployment(init(capabilities={"add": ["NET_ADMIN", "CHOWN"]})),
        f"{INIT0}: securityContext.capabilities.add is ['NET_ADMIN']; expected only "
        f"capabilities of the baseline set ({BASELINE_CAPS})",
    ),
    case(
        "container-capabilities-baseline",
        "CAP_ prefixed names are not the standard's names",
        deployment({"containers[0].securityContext.capabilities.add": ["CAP_CHOWN"]}),
        f"{C0}: securityContext.capabilities.add is ['CAP_CHOWN']; expected only capabilities "
        f"of the baseline set ({BASELINE_CAPS})",
    ),
    # pod-host-process-disallowed
    case(
        "pod-host-process-disallowed",
        "explicitly false",
        deployment({"securityContext.windowsOptions.hostProcess": False}),
    ),
    case(
        "pod-host-process-disallowed",
        "pod-level host process",
        deployment({"securityContext.windowsOptions.hostProcess": True}),
        f"{P}: securityContext.windowsOptions.hostProcess is true; expected false or unset",
    ),
    case(
        "pod-host-process-disallowed",
        "container-level host process",
        deployment({"containers[0].securityContext.windowsOptions": {"hostProcess": True}}),
        f"{C0}: securityContext.windowsOptions.hostProcess is true; expected false or unset",
    ),
    # pod-host-path-volumes-disallowed
    case("pod-host-path-volumes-disallowed", "emptyDir only", deployment()),
    case(
        "pod-host-path-volumes-disallowed",
        "the docker socket",
        deployment(
            {"volumes[1]": {"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}}
        ),
        f"{P}: volumes[1] ('docker').hostPath is {{path: '/var/run/docker.sock'}}; expected no "
        "hostPath volume",
    ),
    # A PersistentVolume on the node's disk: any pod that claims it mounts the node's files,
    # and the standard looks at pods only (a persistentVolumeClaim is an allowed volume).
    case(
        "pod-host-path-volumes-disallowed",
        "a PersistentVolume on the node's /",
        Resource(
            "kubernetes:core/v1:PersistentVolume",
            {
                "metadata": {"name": "node-root"},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "hostPath": {"path": "/"},
                },
            },
        ),
        "spec.hostPath is {path: '/'}; expected no hostPath (a pod claiming it mounts the "
        "node's files)",
    ),
    case(
        "pod-host-path-volumes-disallowed",
        "a PersistentVolume of a CSI driver",
        Resource(
            "kubernetes:core/v1:PersistentVolume",
            {
                "metadata": {"name": "data"},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-1"},
                },
            },
        ),
    ),
    case(
        "pod-host-path-volumes-disallowed",
        "a CronJob mounting the node's /",
        Resource(
            "kubernetes:batch/v1:CronJob",
            workload(
                "kubernetes:batch/v1:CronJob",
                good_pod_spec(volumes=[{"name": "root", "hostPath": {"path": "/"}}]),
            ),
        ),
        "pod (spec.jobTemplate.spec.template.spec): volumes[0] ('root').hostPath is "
        "{path: '/'}; expected no hostPath volume",
    ),
    # container-host-ports-disallowed
    case(
        "container-host-ports-disallowed",
        "host port 0 is none",
        deployment({"containers[0].ports[0].hostPort": 0}),
    ),
    case(
        "container-host-ports-disallowed",
        "an allowed host port",
        deployment({"containers[0].ports[0].hostPort": 8443}),
        config={"allowedHostPorts": [8443]},
    ),
    case(
        "container-host-ports-disallowed",
        "host port 80",
        deployment({"containers[0].ports[0].hostPort": 80}),
        f"{C0}: ports[0].hostPort is 80; expected unset or 0 (no host ports)",
    ),
    case(
        "container-host-ports-disallowed",
        "a host port outside the allow-list",
        deployment({"containers[0].ports[0].hostPort": 9000}),
        f"{C0}: ports[0].hostPort is 9000; expected unset, 0 or one of [8443]",
        config={"allowedHostPorts": [8443]},
    ),
    # container-host-probes-disallowed
    case(
        "container-host-probes-disallowed",
        "empty host is the pod's",
        deployment({"containers[0].livenessProbe.httpGet.host": ""}),
    ),
    case(
        "container-host-probes-disallowed",
        "liveness probe against another host",
        deployment({"containers[0].livenessProbe.httpGet.host": "10.0.0.1"}),
        f"{C0}: livenessProbe.httpGet.host is '10.0.0.1'; expected unset (the pod's own IP)",
    ),
    case(
        "container-host-probes-disallowed",
        "preStop hook against the metadata service",
        deployment(
            {
                "containers[0].lifecycle": {
                    "preStop": {"tcpSocket": {"host": "169.254.169.254", "port": 80}}
                }
            }
        ),
        f"{C0}: lifecycle.preStop.tcpSocket.host is '169.254.169.254'; expected unset (the pod's "
        "own IP)",
    ),
    # pod-apparmor-profile-allowed
    case(
        "pod-apparmor-profile-allowed",
        "runtime default and a localhost profile",
        deployment(
            {"securityContext.appArmorProfile": {"type": "RuntimeDefault"}},
            annotations={"container.apparmor.security.beta.kubernetes.io/app": "localhost/app"},
        ),
    ),
    case(
        "pod-apparmor-profile-allowed",
        "unconfined container",
        deployment({"containers[0].securityContext.appArmorProfile": {"type": "Unconfined"}}),
        f"{C0}: securityContext.appArmorProfile.type is 'Unconfined'; expected RuntimeDefault, "
        "Localhost or unset",
    ),
    case(
        "pod-apparmor-profile-allowed",
        "unconfined pod",
        deployment({"securityContext.appArmorProfile": {"type": "Unconfined"}}),
        f"{P}: securityContext.appArmorProfile.type is 'Unconfined'; expected RuntimeDefault, "
        "Localhost or unset",
    ),
    case(
        "pod-apparmor-profile-allowed",
        "unconfined through the annotation",
        deployment(
            annotations={"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}
        ),
        f"{P}: annotation 'container.apparmor.security.beta.kubernetes.io/app' is 'unconfined'; "
        "expected runtime/default or localhost/<profile>",
    ),
    # pod-selinux-options-allowed
    case(
        "pod-selinux-options-allowed",
        "container type and a level",
        deployment(
            {"securityContext.seLinuxOptions": {"type": "container_t", "level": "s0:c1,c2"}}
        ),
    ),
    case(
        "pod-selinux-options-allowed",
        "super-privileged type",
        deployment({"securityContext.seLinuxOptions": {"type": "spc_t"}}),
        f"{P}: securityContext.seLinuxOptions.type is 'spc_t'; expected unset or one of "
        f"{SELINUX_TYPES}",
    ),
    case(
        "pod-selinux-options-allowed",
        "container sets user and role",
        deployment(
            {
                "containers[0].securityContext.seLinuxOptions": {
                    "user": "system_u",
                    "role": "system_r",
                }
            }
        ),
        f"{C0}: securityContext.seLinuxOptions.user is 'system_u'; expected unset",
        f"{C0}: securityContext.seLinuxOptions.role is 'system_r'; expected unset",
    ),
    # container-proc-mount-default
    case(
        "container-proc-mount-default",
        "Default",
        deployment({"containers[0].securityContext.procMount": "Default"}),
    ),
    case(
        "container-proc-mount-default",
        "unmasked",
        deployment({"containers[0].securityContext.procMount": "Unmasked"}),
        f"{C0}: securityContext.procMount is 'Unmasked'; expected Default or unset",
    ),
    case(
        "container-proc-mount-default",
        "unmasked init container",
        deployment(init(procMount="Unmasked")),
        f"{INIT0}: securityContext.procMount is 'Unmasked'; expected Default or unset",
    ),
    # pod-seccomp-not-unconfined
    case(
        "pod-seccomp-not-unconfined",
        "unset everywhere is baseline",
        deployment(
            {
                "securityContext.seccompProfile": OMIT,
                "containers[0].securityContext.seccompProfile": OMIT,
            }
        ),
    ),
    case(
        "pod-seccomp-not-unconfined",
        "unconfined pod",
        deployment({"securityContext.seccompProfile.type": "Unconfined"}),
        f"{P}: securityContext.seccompProfile.type is 'Unconfined'; expected RuntimeDefault, "
        "Localhost or unset",
    ),
    case(
        "pod-seccomp-not-unconfined",
        "unconfined ephemeral container",
        debug_pod(seccompProfile={"type": "Unconfined"}),
        f"{DEBUG0}: securityContext.seccompProfile.type is 'Unconfined'; expected "
        "RuntimeDefault, Localhost or unset",
    ),
    # pod-sysctls-safe
    case(
        "pod-sysctls-safe",
        "a safe sysctl",
        deployment(
            {"securityContext.sysctls": [{"name": "net.ipv4.tcp_keepalive_time", "value": "60"}]}
        ),
    ),
    case(
        "pod-sysctls-safe",
        "an IPC sysctl",
        deployment({"securityContext.sysctls": [{"name": "kernel.msgmax", "value": "65536"}]}),
        f"{P}: securityContext.sysctls[0].name is 'kernel.msgmax'; expected one of the safe "
        f"sysctls ({SAFE_SYSCTLS})",
    ),
    case(
        "pod-sysctls-safe",
        "a node-wide network sysctl after a safe one",
        deployment(
            {
                "securityContext.sysctls": [
                    {"name": "net.ipv4.ping_group_range", "value": "0 0"},
                    {"name": "net.core.somaxconn", "value": "1024"},
                ]
            }
        ),
        f"{P}: securityContext.sysctls[1].name is 'net.core.somaxconn'; expected one of the "
        f"safe sysctls ({SAFE_SYSCTLS})",
    ),
]

RESTRICTED_CASES = [
    # pod-volume-types-restricted
    case(
        "pod-volume-types-restricted",
        "the allowed types",
        deployment(
            {
                "volumes": [
                    {"name": "tmp", "emptyDir": {}},
                    {"name": "config", "configMap": {"name": "app"}},
                    {"name": "creds", "secret": {"secretName": "app"}},
                    {"name": "token", "projected": {"sources": []}},
                    {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                ]
            }
        ),
    ),
    case(
        "pod-volume-types-restricted",
        "an NFS volume",
        deployment({"volumes[1]": {"name": "shared", "nfs": {"server": "nfs", "path": "/"}}}),
        f"{P}: volumes[1] ('shared') type is ['nfs']; expected one of {RESTRICTED_VOLUMES}",
    ),
    case(
        "pod-volume-types-restricted",
        "a hostPath volume",
        deployment({"volumes[0]": {"name": "logs", "hostPath": {"path": "/var/log"}}}),
        f"{P}: volumes[0] ('logs') type is ['hostPath']; expected one of {RESTRICTED_VOLUMES}",
    ),
    case(
        "pod-volume-types-restricted",
        "a volume of no type",
        deployment({"volumes[0]": {"name": "mystery"}}),
        f"{P}: volumes[0] ('mystery') type is unset; expected one of {RESTRICTED_VOLUMES}",
    ),
    # container-privilege-escalation-disallowed
    case("container-privilege-escalation-disallowed", "false", deployment()),
    case(
        "container-privilege-escalation-disallowed",
        "Windows pods are exempt",
        windows({"containers[0].securityContext.allowPrivilegeEscalation": OMIT}),
    ),
    case(
        "container-privilege-escalation-disallowed",
        "unset",
        deployment({"containers[0].securityContext.allowPrivilegeEscalation": OMIT}),
        f"{C0}: securityContext.allowPrivilegeEscalation is unset; expected false",
    ),
    case(
        "container-privilege-escalation-disallowed",
        "true in an init container",
        deployment(init(allowPrivilegeEscalation=True)),
        f"{INIT0}: securityContext.allowPrivilegeEscalation is true; expected false",
    ),
    # pod-run-as-non-root
    case(
        "pod-run-as-non-root",
        "pod level covers the containers",
        deployment({"containers[0].securityContext.runAsNonRoot": OMIT}),
    ),
    case(
        "pod-run-as-non-root",
        "every container sets it",
        deployment({"securityContext.runAsNonRoot": OMIT}),
    ),
    case(
        "pod-run-as-non-root",
        "set nowhere",
        deployment(
            {
                "securityContext.runAsNonRoot": OMIT,
                "containers[0].securityContext.runAsNonRoot": OMIT,
            }
        ),
        f"{C0}: securityContext.runAsNonRoot is unset; expected true, here or in the pod's "
        "securityContext",
    ),
    case(
        "pod-run-as-non-root",
        "a container opts out",
        deployment({"containers[0].securityContext.runAsNonRoot": False}),
        f"{C0}: securityContext.runAsNonRoot is false; expected true",
    ),
    case(
        "pod-run-as-non-root",
        "the pod opts out",
        deployment({"securityContext.runAsNonRoot": False}),
        f"{P}: securityContext.runAsNonRoot is false; expected true",
    ),
    # pod-run-as-user-non-zero
    case(
        "pod-run-as-user-non-zero",
        "unset uid",
        deployment(
            {"securityContext.runAsUser": OMIT, "containers[0].securityContext.runAsUser": OMIT}
        ),
    ),
    case(
        "pod-run-as-user-non-zero",
        "root pod",
        deployment({"securityContext.runAsUser": 0}),
        f"{P}: securityContext.runAsUser is 0; expected a non-zero uid or unset",
    ),
    case(
        "pod-run-as-user-non-zero",
        "root init container",
        deployment(init(runAsUser=0)),
        f"{INIT0}: securityContext.runAsUser is 0; expected a non-zero uid or unset",
    ),
    # pod-seccomp-profile-required
    case("pod-seccomp-profile-required", "RuntimeDefault everywhere", deployment()),
    case(
        "pod-seccomp-profile-required",
        "every container sets a Localhost profile",
        deployment(
            {
                "securityContext.seccompProfile": OMIT,
                "containers[0].securityContext.seccompProfile": {
                    "type": "Localhost",
                    "localhostProfile": "app.json",
                },
            }
        ),
    ),
    case(
        "pod-seccomp-profile-required",
        "Windows pods are exempt",
        windows(
            {
                "securityContext.seccompProfile": OMIT,
                "containers[0].securityContext.seccompProfile": OMIT,
            }
        ),
    ),
    case(
        "pod-seccomp-profile-required",
        "set nowhere",
        deployment(
            {
                "securityContext.seccompProfile": OMIT,
                "containers[0].securityContext.seccompProfile": OMIT,
            }
        ),
        f"{C0}: securityContext.seccompProfile.type is unset; expected RuntimeDefault or "
        "Localhost, here or in the pod's securityContext",
    ),
    case(
        "pod-seccomp-profile-required",
        "a container opts out",
        deployment({"containers[0].securityContext.seccompProfile.type": "Unconfined"}),
        f"{C0}: securityContext.seccompProfile.type is 'Unconfined'; expected RuntimeDefault or "
        "Localhost",
    ),
    # container-capabilities-restricted
    case(
        "container-capabilities-restricted",
        "drops ALL, adds NET_BIND_SERVICE",
        deployment({"containers[0].securityContext.capabilities.add": ["NET_BIND_SERVICE"]}),
    ),
    case(
        "container-capabilities-restricted",
        "Windows pods are exempt",
        windows({"containers[0].securityContext.capabilities": OMIT}),
    ),
    case(
        "container-capabilities-restricted",
        "drops nothing",
        deployment({"containers[0].securityContext.capabilities": OMIT}),
        f"{C0}: securityContext.capabilities.drop is unset; expected a list containing ALL",
    ),
    case(
        "container-capabilities-restricted",
        "drops one, adds a baseline capability",
        deployment(init(capabilities={"drop": ["NET_RAW"], "add": ["CHOWN"]})),
        f"{INIT0}: securityContext.capabilities.drop is ['NET_RAW']; expected a list containing ALL",
        f"{INIT0}: securityContext.capabilities.add is ['CHOWN']; expected only NET_BIND_SERVICE, "
        "or nothing",
    ),
]

CASES = BASELINE_CASES + RESTRICTED_CASES


@pytest.mark.parametrize("fixture", CASES, ids=str)
def test_case(fixture):
    assert run_case(fixture) == list(fixture.expected)


# --- remediation ---------------------------------------------------------------------

SECCOMP = POLICIES_BY_NAME["pod-seccomp-profile-required"]
NO_SECCOMP = {
    "securityContext.seccompProfile": OMIT,
    "containers[0].securityContext.seccompProfile": OMIT,
}


def test_remediation_adds_runtime_default_at_pod_level_and_then_passes():
    fixed = remediated(SECCOMP, deployment(NO_SECCOMP))
    assert fixed is not None
    assert fixed["spec"]["template"]["spec"]["securityContext"]["seccompProfile"] == {
        "type": "RuntimeDefault"
    }
    assert fixed["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 65532
    assert check_resource(SECCOMP, Resource("kubernetes:apps/v1:Deployment", fixed)) == []


def test_remediation_creates_the_pod_security_context_when_missing():
    fixed = remediated(SECCOMP, deployment({**NO_SECCOMP, "securityContext": OMIT}))
    assert fixed is not None
    assert fixed["spec"]["template"]["spec"]["securityContext"] == {
        "seccompProfile": {"type": "RuntimeDefault"}
    }


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({}, id="already RuntimeDefault"),
        pytest.param(
            {"securityContext.seccompProfile.type": "Unconfined"}, id="explicit pod choice kept"
        ),
        pytest.param(
            {"securityContext.seccompProfile": OMIT, "os": {"name": "windows"}}, id="windows pod"
        ),
    ],
)
def test_remediation_leaves_alone_what_it_must_not_change(changes):
    assert remediated(SECCOMP, deployment(changes)) is None


def test_remediation_honours_exemptions():
    exempt = {"exclude": [{"name": "legacy", "reason": "vendor image needs ptrace"}]}
    assert remediated(SECCOMP, deployment(NO_SECCOMP, name="legacy"), exempt) is None
    assert remediated(SECCOMP, deployment(NO_SECCOMP, name="app"), exempt) is not None


# --- exemptions ----------------------------------------------------------------------


def test_exemptions_skip_only_the_matching_workloads():
    policy = POLICIES_BY_NAME["pod-host-namespaces-disallowed"]
    config = {
        "exclude": [
            {
                "kind": "DaemonSet",
                "namespace": "monitoring",
                "name": "*-node-exporter",
                "reason": "node-exporter reads the node's network and processes",
            }
        ]
    }
    spec = good_pod_spec(hostNetwork=True, hostPID=True)

    def daemon_set(name: str, namespace: str) -> Resource:
        return Resource(
            "kubernetes:apps/v1:DaemonSet",
            workload("kubernetes:apps/v1:DaemonSet", spec, name=name, namespace=namespace),
        )

    assert check_resource(policy, daemon_set("prom-node-exporter", "monitoring"), config) == []
    assert len(check_resource(policy, daemon_set("prom-node-exporter", "apps"), config)) == 2
    assert len(check_resource(policy, daemon_set("log-agent", "monitoring"), config)) == 2
