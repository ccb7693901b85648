"""Every control of the Kubernetes Pod Security Standards, baseline and restricted.

One policy per control, named after it, checked where the standard defines it: the pod's
`securityContext`, `volumes` and template annotations, and each container, init container
and ephemeral container. Allowed values follow the standard as of Kubernetes 1.34 (the
sysctls of 1.29, the SELinux types of 1.31, the host probe and lifecycle hook control of
1.34). As the standard does, the restricted controls on privilege escalation, seccomp and
capabilities do not apply to Windows pods (`spec.os.name: windows`).

The namespaces go-platform creates also enforce `restricted` through Pod Security
Admission; these policies catch the same mistakes at preview, with the field named, and
cover namespaces the platform does not label.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationPolicy, Severity

from go_platform_policies.core import (
    POD_SECURITY_BASELINE,
    POD_SECURITY_RESTRICTED,
    Container,
    Workload,
    WorkloadCheck,
    WorkloadRemedy,
    field,
    items,
    resource_policy,
    show,
    violation,
    workload_policy,
)
from go_platform_policies.settings import HostPortSettings, PolicySettings

BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
RESTRICTED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})

SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)

SELINUX_TYPES = frozenset(
    {"container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)

SECCOMP_TYPES = ("RuntimeDefault", "Localhost")
APPARMOR_TYPES = ("RuntimeDefault", "Localhost")
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"

RESTRICTED_VOLUME_SOURCES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "image",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)

PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
LIFECYCLE_HOOKS = ("postStart", "preStop")


def is_windows(workload: Workload) -> bool:
    return field(workload.spec, "os", "name") == "windows"


def _set(mapping: Mapping[str, Any], key: str, value: Any) -> None:
    """Item assignment on props: plain dicts in tests, the policy SDK's proxies in the
    engine, which accept it and serialize the change back."""
    mapping[key] = value  # type: ignore[index]


# --- baseline ------------------------------------------------------------------------


def check_host_namespaces(workload: Workload, _settings: PolicySettings) -> Iterator[str]:
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if workload.spec.get(key) not in (None, False):
            yield workload.violation(key, workload.spec.get(key), "false or unset")


def check_privileged(workload: Workload, _settings: PolicySettings) -> Iterator[str]:
    for container in workload.containers():
        found = container.security.get("privileged")
        if found not in (None, False):
            yield container.violation("securityContext.privileged", found, "false or unset")


def _added_capabilities(container: Container) -> list[Any]:
    return list(items(field(container.security, "capabilities", "add")))


def check_capabilities_baseline(workload: Workload, _settings: PolicySettings) -> Iterator[str]:
    for container in workload.containers():
        extra = [c for c in _added_capabilities(container) if c not in BASELINE_CAPABILITIES]
        if extra:
            yield container.violation(
                "securityContext.capabilities.add",
                extra,
                f"only capabilities of the baseline set ({', '.join(sorted(BASELINE_CAPABILITIES))})",
            )


def check_host_process(workload: Workload, _settings: PolicySettings) -> Iterator[str]:
    what = "securityContext.windowsOptions.hostProcess"
    found = field(workload.pod_security, "windowsOptions", "hostProcess")
    if found not in (None, False):
        yield workload.violation(what, found, "false or unset")
    for container in workload.containers():
        found = field(container.security, "windowsOptions", "hostProcess")
        if found not in (None, False):
            yield container.violation(what, found, "false or unset")


def _volumes(workload: Workload) -> Iterator[tuple[int, str, Mapping[str, Any]]]:
    for index, volume in enumerate(items(workload.spec.get("volumes"))):
        if isinstance(volume, Mapping):
            yield index, str(volume.get("name", f"#{index}")), volume


def check_host_path_volumes(workload: Workload, _settings: PolicySettings) -> Iterator[str]:
    for index, name, volume in _volumes(workload):
        if volume.get("hostPath") is not None:
            yield workload.violation(
                f"volumes[{index}] ({name!r}).hostPath", volume["hostPath"], "no hostPath volume"
            )


PERSISTENT_VOLUME_TYPES = frozenset(
    {"kubernetes:core/v1:PersistentVolume", "kubernetes:core/v1:PersistentVolumePatch"}
)


def check_host_paths(
    resource_type: str, props: Mapping[str, Any], settings: PolicySettings
) -> Iterator[str]:
    """No hostPath volume in a pod, nor in a PersistentVolume, which any pod claiming it
    would mount: the Pod Security Standard looks only at pods, and a claim is allowed."""
    if resource_type in PERSISTENT_VOLUME_TYPES:
        found = field(props, "spec", "hostPath")
        if found is not None:
            yield violation(
                "spec.hostPath", found, "no hostPath (a pod claiming it mounts the node's files)"
            )
        return
    workload = Workload.of(resource_type, props, patches=True)
    if workload is not None:
        yield from check_host_path_volumes(workload, settings)


def check_host_ports(workload: Workload, settings: HostPortSettings) -> Iterator[str]:
    allowed = set(settings.allowed_host_ports)
    expected = f"unset, 0 or one of {sorted(allowed)}" if allowed else "unset or 0 (no host ports)"
    for container in workload.containers():
        for index, port in enumerate(items(container.spec.get("ports"))):
            found = field(port, "hostPort")
            if found not in (None, 0) and found not in allowed:
                yield container.violation(f"ports[{index}].hostPort", found, expected)


def check_host_probes(workload: Workload, _settings: PolicySettings) -> Iterator[str]:
    for container in workload.containers():
        handlers = [(p, container.spec.get(p)) for p in PROBES]
        handlers += [
            (f"lifecycle.{h}", field(container.spec, "lifecycle", h)) for h in LIFECYCLE_HOOKS
        ]
        for where, handler in handlers:
            for action in ("httpGet", "tcpSocket"):
                host = field(handler, action, "host")
                if host not in (None, ""):
                    yield container.violation(
                        f"{where}.{action}.host", host, "unset (the pod's own IP)"
                    )


def _profile_types(workload: Workload, profile: str, allowed: Collection[str]) -> Iterator[str]:
    """`securityContext.<profile>.type` of the pod and of each container, when set to
    something other than `allowed`."""
    what = f"securityContext.{profile}.type"
    expected = "RuntimeDefault, Localhost or unset"
    found = field(workload.pod_security, profile, "type")
    if found is not None and found not in allowed:
        yield workload.violation(what, found, expected)
    for container in workload.containers():
        found = field(container.security, profile, "type")
        if found is not None and found not in allowed:
            yield container.violation(what, found, expected)


def check_apparmor(workload: Workload, _settings: PolicySettings) -> Iterator[str]:
    yield from _profile_types(workload, "appArmorProfile", APPARMOR_TYPES)
    annotations = workload.template_metadata.get("annotations")
    for key, value in annotations.items() if isinstance(annotations, Mapping) else ():
        if key.startswith(APPARMOR_ANNOTATION) and not (
            value == "runtime/default" or str(value).startswith("localhost/")
        ):
            yield (
                f"pod ({workload.spec_path}): annotation {key!r} is {show(value)}; "
                "expected runtime/default or localhost/<profile>"
            )


def _selinux_problems(options: Any) -> Iterator[tuple[str, Any, str]]:
    if not isinstance(options, Mapping):
        return
    kind = options.get("type")
    if kind not in (None, "") and kind not in SELINUX_TYPES:
        yield "type", kind, f"unset or one of {', '.join(sorted(SELINUX_TYPES))}"
    for key in ("user", "role"):
        if options.get(key) not in (None, ""):
            yield key, options[key], "unset"


def check_selinux(workload: Workload, _settings: PolicySettings) -> Iterator[str]:
    for key, found, expected in _selinux_problems(workload.pod_security.get("seLinuxOptions")):
        yield workload.violation(f"securityContext.seLinuxOptions.{key}", found, expected)
    for container in workload.containers():
        for key, found, expected in _selinux_problems(container.security.get("seLinuxOptions")):
            yield container.violation(f"securityContext.seLinuxOptions.{key}", found, expected)


def check_proc_mount(workload: Workload, _settings: PolicySettings) -> Iterator[str]:
    for container in workload.containers():
        found = container.security.get("procMount")
        if found not in (None, "Default"):
            yield container.violation("securityContext.procMount", found, "Default or unset")


def check_seccomp_not_unconfined(workload: Workload, _settings: PolicySettings) -> Iterator[str]:
    yield from _profile_types(workload, "seccompProfile", SECCOMP_TYPES)


def check_sysctls(workload: Workload, _settings: PolicySettings) -> Iterator[str]:
    for index, sysctl in enumerate(items(workload.pod_security.get("sysctls"))):
        name = field(sysctl, "name")
        if name not in SAFE_SYSCTLS:
            yield workload.violation(
                f"securityContext.sysctls[{index}].name",
                name,
                f"one of the safe sysctls ({', '.join(sorted(SAFE_SYSCTLS))})",
            )


# --- restricted ----------------------------------------------------------------------


def check_volume_types(workload: Workload, _settings: PolicySettings) -> Iterator[str]:
    allowed = ", ".join(sorted(RESTRICTED_VOLUME_SOURCES))
    for index, name, volume in _volumes(workload):
        sources = sorted(k for k in volume if k != "name" and volume.get(k) is not None)
        bad = [s for s in sources if s not in RESTRICTED_VOLUME_SOURCES]
        if bad or not sources:
            yield workload.violation(
                f"volumes[{index}] ({name!r}) type", bad or None, f"one of {allowed}"
            )


def check_privilege_escalation(workload: Workload, _settings: PolicySettings) -> Iterator[str]:
    if is_windows(workload):
        return
    for container in workload.containers():
        found = container.security.get("allowPrivilegeEscalation")
        if found is not False:
            yield container.violation("securityContext.allowPrivilegeEscalation", found, "false")


def check_run_as_non_root(workload: Workload, _settings: PolicySettings) -> Iterator[str]:
    pod_level = workload.pod_security.get("runAsNonRoot")
    if pod_level not in (None, True):
        yield workload.violation("securityContext.runAsNonRoot", pod_level, "true")
    for container in workload.containers():
        found = container.security.get("runAsNonRoot")
        if found is True or (found is None and pod_level is True):
            continue
        expected = "true" if found is not None else "true, here or in the pod's securityContext"
        yield container.violation("securityContext.runAsNonRoot", found, expected)


def check_run_as_user(workload: Workload, _settings: PolicySettings) -> Iterator[str]:
    expected = "a non-zero uid or unset"
    if workload.pod_security.get("runAsUser") == 0:
        yield workload.violation("securityContext.runAsUser", 0, expected)
    for container in workload.containers():
        if container.security.get("runAsUser") == 0:
            yield container.violation("securityContext.runAsUser", 0, expected)


def check_seccomp_required(workload: Workload, _settings: PolicySettings) -> Iterator[str]:
    if is_windows(workload):
        return
    what = "securityContext.seccompProfile.type"
    pod_level = field(workload.pod_security, "seccompProfile", "type")
    if pod_level is not None and pod_level not in SECCOMP_TYPES:
        yield workload.violation(what, pod_level, "RuntimeDefault or Localhost")
    for container in workload.containers():
        found = field(container.security, "seccompProfile", "type")
        if found is None and pod_level in SECCOMP_TYPES:
            continue
        if found is None:
            yield container.violation(
                what, None, "RuntimeDefault or Localhost, here or in the pod's securityContext"
            )
        elif found not in SECCOMP_TYPES:
            yield container.violation(what, found, "RuntimeDefault or Localhost")


def add_runtime_default_seccomp(workload: Workload) -> bool:
    """Set the pod's seccomp profile to RuntimeDefault when nothing sets one.

    Safe: it only fills an unset field with the profile every container runtime ships,
    which go-platform's own pods use. Explicit choices (Unconfined) are left to the owner.
    """
    if is_windows(workload) or field(workload.pod_security, "seccompProfile", "type") is not None:
        return False
    containers = list(workload.containers())
    if containers and all(
        field(c.security, "seccompProfile", "type") is not None for c in containers
    ):
        return False
    profile = {"type": "RuntimeDefault"}
    if isinstance(workload.spec.get("securityContext"), Mapping):
        _set(workload.spec["securityContext"], "seccompProfile", profile)
    else:
        _set(workload.spec, "securityContext", {"seccompProfile": profile})
    return True


def check_capabilities_restricted(workload: Workload, _settings: PolicySettings) -> Iterator[str]:
    if is_windows(workload):
        return
    for container in workload.containers():
        dropped = list(items(field(container.security, "capabilities", "drop")))
        if "ALL" not in dropped:
            yield container.violation(
                "securityContext.capabilities.drop", dropped or None, "a list containing ALL"
            )
        extra = [c for c in _added_capabilities(container) if c not in RESTRICTED_CAPABILITIES]
        if extra:
            yield container.violation(
                "securityContext.capabilities.add", extra, "only NET_BIND_SERVICE, or nothing"
            )


# --- the policies --------------------------------------------------------------------


def _baseline(
    name: str,
    description: str,
    check: WorkloadCheck,
    steps: str,
    *,
    settings: type[PolicySettings] = PolicySettings,
) -> ResourceValidationPolicy:
    # Every baseline control refuses a value; none requires one: patches are checked too.
    return workload_policy(
        name,
        description,
        check,
        group=POD_SECURITY_BASELINE,
        severity=Severity.HIGH,
        remediation_steps=steps,
        settings=settings,
        patches=True,
    )


def _restricted(
    name: str,
    description: str,
    check: WorkloadCheck,
    steps: str,
    *,
    remediate: WorkloadRemedy | None = None,
    patches: bool = False,
) -> ResourceValidationPolicy:
    return workload_policy(
        name,
        description,
        check,
        group=POD_SECURITY_RESTRICTED,
        severity=Severity.MEDIUM,
        remediation_steps=steps,
        remediate=remediate,
        patches=patches,
    )


BASELINE = [
    _baseline(
        "pod-host-namespaces-disallowed",
        "Pods do not share the node's network, PID or IPC namespace.",
        check_host_namespaces,
        "Remove hostNetwork, hostPID and hostIPC (or set them false).",
    ),
    _baseline(
        "container-privileged-disallowed",
        "Containers are not privileged.",
        check_privileged,
        "Remove securityContext.privileged; grant the one capability needed instead.",
    ),
    _baseline(
        "container-capabilities-baseline",
        "Containers add no capability beyond the Pod Security baseline set.",
        check_capabilities_baseline,
        "Remove the added capability; most services need none.",
    ),
    _baseline(
        "pod-host-process-disallowed",
        "Windows pods and containers do not run as HostProcess.",
        check_host_process,
        "Remove securityContext.windowsOptions.hostProcess.",
    ),
    resource_policy(
        "pod-host-path-volumes-disallowed",
        "Pods mount no hostPath volume, directly or through a PersistentVolume.",
        check_host_paths,
        group=POD_SECURITY_BASELINE,
        severity=Severity.HIGH,
        remediation_steps="Use an emptyDir, a ConfigMap, a Secret or a PersistentVolumeClaim "
        "of a StorageClass instead.",
    ),
    _baseline(
        "container-host-ports-disallowed",
        "Containers bind no host port outside the configured allow-list.",
        check_host_ports,
        "Remove ports[].hostPort and reach the pod through a Service.",
        settings=HostPortSettings,
    ),
    _baseline(
        "container-host-probes-disallowed",
        "Probes and lifecycle hooks do not target another host.",
        check_host_probes,
        "Remove the host field of httpGet/tcpSocket probes and lifecycle hooks.",
    ),
    _baseline(
        "pod-apparmor-profile-allowed",
        "AppArmor profiles are RuntimeDefault or Localhost, never Unconfined.",
        check_apparmor,
        "Remove the AppArmor override or use RuntimeDefault / a Localhost profile.",
    ),
    _baseline(
        "pod-selinux-options-allowed",
        "SELinux options use an allowed type and set no user or role.",
        check_selinux,
        "Remove seLinuxOptions.user and .role; use one of the container SELinux types.",
    ),
    _baseline(
        "container-proc-mount-default",
        "Containers keep the default /proc mount.",
        check_proc_mount,
        "Remove securityContext.procMount (or set it to Default).",
    ),
    _baseline(
        "pod-seccomp-not-unconfined",
        "No pod or container disables seccomp.",
        check_seccomp_not_unconfined,
        "Set seccompProfile.type to RuntimeDefault (or a Localhost profile).",
    ),
    _baseline(
        "pod-sysctls-safe",
        "Pods set only the sysctls Kubernetes considers safe.",
        check_sysctls,
        "Remove the sysctl; node-level tuning belongs to the node, not the pod.",
    ),
]

RESTRICTED = [
    _restricted(
        "pod-volume-types-restricted",
        "Pods use only the volume types of the restricted Pod Security Standard.",
        check_volume_types,
        "Use configMap, secret, emptyDir, projected, downwardAPI, csi, ephemeral, image or "
        "a persistentVolumeClaim.",
        patches=True,
    ),
    _restricted(
        "container-privilege-escalation-disallowed",
        "Containers set allowPrivilegeEscalation: false.",
        check_privilege_escalation,
        "Set securityContext.allowPrivilegeEscalation: false on every container.",
    ),
    _restricted(
        "pod-run-as-non-root",
        "Pods and containers must run as non-root (runAsNonRoot: true).",
        check_run_as_non_root,
        "Set securityContext.runAsNonRoot: true on the pod, and run as a non-root user.",
    ),
    _restricted(
        "pod-run-as-user-non-zero",
        "No pod or container sets runAsUser: 0.",
        check_run_as_user,
        "Set runAsUser to a non-zero uid (go-platform services use 65532).",
        patches=True,
    ),
    _restricted(
        "pod-seccomp-profile-required",
        "Pods or all their containers set seccomp RuntimeDefault or Localhost.",
        check_seccomp_required,
        "Set the pod's securityContext.seccompProfile.type: RuntimeDefault; with enforcement "
        "`remediate` the pack adds it where nothing sets a profile.",
        remediate=add_runtime_default_seccomp,
    ),
    _restricted(
        "container-capabilities-restricted",
        "Containers drop ALL capabilities and add back at most NET_BIND_SERVICE.",
        check_capabilities_restricted,
        "Set securityContext.capabilities: {drop: [ALL]}; add NET_BIND_SERVICE only to bind "
        "a port below 1024.",
    ),
]

POLICIES = [*BASELINE, *RESTRICTED]
