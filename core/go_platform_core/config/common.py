"""Models more than one domain uses: pod resources, chart sources, object storage."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from go_platform_core.config.base import CamelModel
from go_platform_core.config.errors import Problem
from go_platform_core.config.types import (
    ConfigKey,
    CpuQuantity,
    EndpointUrl,
    MemoryQuantity,
    without_credentials,
)

ADD_ON_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"cpu": "1", "memory": "512Mi"},
}


class ResourceAmounts(CamelModel):
    cpu: CpuQuantity = Field(description="CPU as a Kubernetes quantity (`250m`, `1`).")
    memory: MemoryQuantity = Field(description="Memory as a Kubernetes quantity (`256Mi`, `1Gi`).")


class Resources(CamelModel):
    requests: ResourceAmounts = Field(description="What the scheduler reserves for each pod.")
    limits: ResourceAmounts = Field(
        description="The ceiling for each pod; `GOMEMLIMIT` is set to 90% of `memory`."
    )


class ChartSource(CamelModel):
    chart: Annotated[str, without_credentials()] = Field(
        description="Chart name in `repository`, an `oci://` reference, or a local path."
    )
    version: str = Field(description="Chart version, pinned.")
    repository: Annotated[str, without_credentials(bare=True)] | None = Field(
        None, description="Helm repository URL; `null` for OCI references and local paths."
    )


class ObjectStorageSettings(CamelModel):
    region: str = Field(description="Region of the buckets.")
    endpoint: EndpointUrl | None = Field(
        None, description="S3-compatible endpoint URL (MinIO, Ceph); AWS if unset."
    )
    force_path_style: bool = Field(False, description="Address buckets by path, not host.")
    access_key_id_secret: ConfigKey | None = Field(
        None,
        description="Secret config key of the access key id; ambient credentials if unset "
        "(the node's instance role, or EKS Pod Identity: no service account annotation is "
        "written, so not IRSA).",
    )
    secret_access_key_secret: ConfigKey | None = Field(
        None, description="Secret config key of the secret access key."
    )


def key_pair_problems(at: str, storage: ObjectStorageSettings) -> list[Problem]:
    if (storage.access_key_id_secret is None) != (storage.secret_access_key_secret is None):
        return [
            Problem(
                at,
                "set both `accessKeyIdSecret` and `secretAccessKeySecret`, or neither "
                "for ambient credentials",
            )
        ]
    return []
