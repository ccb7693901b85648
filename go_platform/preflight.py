"""Checks the driver runs before `up` (and as `go-platform preflight`): fail in seconds, one
line per problem, instead of half a deployment.

- cluster: the API server of the stack's kubeconfig answers with these credentials;
- api-groups: the custom resource groups the program creates objects of are served, for
  add-ons the stack does not install (with `crds.install` the program installs them);
- buckets: every S3 bucket the stack uses can be written, read and deleted in
  (`go_platform_core.preflight.check_bucket`);
- secrets: every secret config key the settings name holds a value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from go_platform.kube import (
    ClusterAccess,
    KubeClient,
    KubeError,
    cluster_access,
    kubeconfig_document,
)
from go_platform_core.config import (
    CONFIG_NAMESPACE,
    ObjectStorageSettings,
    PlatformSettings,
    StackConfig,
    qualified_key,
)
from go_platform_core.preflight import BucketAccess, check_bucket

Check = Literal["cluster", "api-groups", "buckets", "secrets"]


@dataclass(frozen=True)
class CheckResult:
    check: Check
    ok: bool
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"check": self.check, "ok": self.ok, "message": self.message}


@dataclass(frozen=True)
class ApiGroupNeed:
    group_version: str
    reason: str


# --- what the stack needs (pure) -----------------------------------------------------


def required_api_groups(settings: PlatformSettings) -> list[ApiGroupNeed]:
    """API group versions the cluster must serve before `up`: those of add-ons the stack
    brings its own of, unless the program installs the definitions itself."""
    if settings.crds.install:
        return []
    gateway = settings.gateway
    cert_manager_installed = (
        gateway.cert_manager.install
        if gateway.cert_manager.install is not None
        else gateway.install
    )
    needs = []
    if not gateway.install:
        needs.append(ApiGroupNeed("traefik.io/v1alpha1", "gateway.install is false"))
    if not cert_manager_installed:
        needs.append(ApiGroupNeed("cert-manager.io/v1", "gateway.certManager.install is false"))
    if settings.observability.enabled and not settings.observability.install:
        needs.append(ApiGroupNeed("monitoring.coreos.com/v1", "observability.install is false"))
    return needs


def bucket_accesses(
    settings: PlatformSettings, config: StackConfig
) -> list[tuple[str, BucketAccess]]:
    """Each S3 bucket the stack uses, with the key path that names it."""
    found: list[tuple[str, BucketAccess]] = []
    proxy = settings.module_proxy
    if proxy.enabled and proxy.storage.type == "s3" and proxy.storage.s3:
        s3 = proxy.storage.s3
        found.append(("moduleProxy.storage.s3.bucket", _access(s3.bucket, s3, config)))
    observability = settings.observability
    if observability.install and observability.storage.type == "s3" and observability.storage.s3:
        s3 = observability.storage.s3
        for key, bucket in (
            ("lokiChunksBucket", s3.loki_chunks_bucket),
            ("lokiRulerBucket", s3.loki_ruler_bucket),
            ("tempoBucket", s3.tempo_bucket),
        ):
            found.append((f"observability.storage.s3.{key}", _access(bucket, s3, config)))
    unique: dict[BucketAccess, str] = {}
    for path, access in found:
        unique.setdefault(access, path)
    return [(path, access) for access, path in unique.items()]


def _access(bucket: str, storage: ObjectStorageSettings, config: StackConfig) -> BucketAccess:
    def secret(key: str | None) -> str | None:
        return config.values.get(qualified_key(key)) if key else None

    return BucketAccess(
        bucket=bucket,
        region=storage.region,
        endpoint=storage.endpoint,
        force_path_style=storage.force_path_style,
        access_key_id=secret(storage.access_key_id_secret),
        secret_access_key=secret(storage.secret_access_key_secret),
    )


def secret_problems(settings: PlatformSettings, config: StackConfig) -> list[str]:
    """One line per secret the settings name that has no value. The line names the setting,
    not the key it names: a secret pasted where the key's name belongs would be shown."""
    problems = []
    for path, key in settings.secret_refs():
        value = config.values.get(qualified_key(key))
        if value is None:
            state = "is not set"
        elif not value.strip():
            state = "is empty"
        else:
            continue
        setting = f"{CONFIG_NAMESPACE}:{path}"
        problems.append(
            f"{setting}: the secret config key it names {state}; "
            f"`pulumi config get --path {setting}` shows which, "
            "`pulumi config set --secret <that key> <value>` sets it"
        )
    return problems


def served_problems(discovery: Mapping[str, Any], needs: list[ApiGroupNeed]) -> list[str]:
    """One line per needed group version the API server's /apis discovery lacks."""
    served = {
        version.get("groupVersion")
        for group in discovery.get("groups") or []
        for version in group.get("versions") or []
    }
    return [
        f"the cluster does not serve {need.group_version} ({need.reason}): install that "
        "add-on and its CRDs, or set crds.install to true"
        for need in needs
        if need.group_version not in served
    ]


# --- running the checks --------------------------------------------------------------

ClientFactory = Callable[[ClusterAccess], Any]
BucketChecker = Callable[[BucketAccess], list[str]]


def run_preflight(
    settings: PlatformSettings,
    config: StackConfig,
    *,
    env: Mapping[str, str],
    project_dir: Path,
    client_factory: ClientFactory = KubeClient,
    bucket_checker: BucketChecker = check_bucket,
) -> list[CheckResult]:
    """Every check's result; a failed one says what is wrong in one line."""
    results = _cluster_checks(settings, config, env, project_dir, client_factory)
    buckets = bucket_accesses(settings, config)
    for path, access in buckets:
        problems = bucket_checker(access)
        results += [
            CheckResult("buckets", False, f"{problem} ({CONFIG_NAMESPACE}:{path})")
            for problem in problems
        ]
        if not problems:
            results.append(CheckResult("buckets", True, f"s3://{access.bucket} is writable"))
    problems = secret_problems(settings, config)
    results += [CheckResult("secrets", False, problem) for problem in problems]
    if not problems:
        count = len(settings.secret_refs())
        results.append(
            CheckResult("secrets", True, f"{count} secret(s) named by the config are set")
        )
    return results


def _cluster_checks(
    settings: PlatformSettings,
    config: StackConfig,
    env: Mapping[str, str],
    project_dir: Path,
    client_factory: ClientFactory,
) -> list[CheckResult]:
    try:
        document, source = kubeconfig_document(
            config_value=config.values.get("kubernetes:kubeconfig"),
            env=env,
            project_dir=project_dir,
        )
        access = cluster_access(
            document, context=config.values.get("kubernetes:context"), source=source
        )
        client = client_factory(access)
        version = client.get("/version")
    except KubeError as error:
        return [CheckResult("cluster", False, f"cluster: {error}")]
    results = [
        CheckResult(
            "cluster",
            True,
            f"cluster {access.server} (context {access.context}) answers: "
            f"Kubernetes {version.get('gitVersion', '?')}",
        )
    ]
    needs = required_api_groups(settings)
    if not needs:
        return results
    try:
        problems = served_problems(client.get("/apis"), needs)
    except KubeError as error:
        return [*results, CheckResult("api-groups", False, f"api-groups: {error}")]
    if problems:
        return results + [CheckResult("api-groups", False, problem) for problem in problems]
    served = ", ".join(need.group_version for need in needs)
    return [*results, CheckResult("api-groups", True, f"the cluster serves {served}")]
