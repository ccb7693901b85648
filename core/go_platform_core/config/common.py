"""Models more than one domain uses: pod resources, chart sources, object storage."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

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
    values: dict[str, Any] = Field(
        default_factory=dict,
        description="Chart values merged over go-platform's, map by map (anything else "
        "replaced): the chart's own keys, such as its images' registry and digest for a "
        "mirror. Kept in the stack in plain text: no secrets.",
    )


def chart_source(chart: str, version: str, repository: str, description: str) -> Any:
    """A ChartSource field pinned to `chart` at `version` from `repository` by default.

    Given as a mapping that names no other `chart` (only `values`, say, or a `version`), it
    takes the rest from the pin, so a mirror's values need not restate the chart. One that
    names a `chart` is taken as written: an OCI reference or a folder has no repository.
    """

    def pinned() -> ChartSource:
        return ChartSource(chart=chart, version=version, repository=repository)

    return Field(
        default_factory=pinned,
        description=description,
        json_schema_extra={"pin": {"chart": chart, "version": version, "repository": repository}},
    )


class WithChartSources(CamelModel):
    """A model with chart-source fields (`chart_source`): each given one that names no
    `chart` is completed from its pin before the model is validated."""

    @model_validator(mode="before")
    @classmethod
    def _pinned_charts(cls, given: Any) -> Any:
        return pinned_chart_sources(cls, given)


def pinned_chart_sources(model: type[CamelModel], given: Any) -> Any:
    """`given` (a model's raw mapping) with each chart-source field that names no `chart`
    completed from its pin (`chart_source`)."""
    if not isinstance(given, dict):
        return given
    completed = dict(given)
    for name, field in model.model_fields.items():
        extra = field.json_schema_extra
        pin = extra.get("pin") if isinstance(extra, dict) else None
        key = field.alias or name
        value = completed.get(key)
        if isinstance(pin, dict) and isinstance(value, dict) and "chart" not in value:
            completed[key] = {**pin, **value}
    return completed


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
