"""ObservabilityStack: Prometheus, Loki, Tempo, Grafana and a log collector, wired together.

Why kube-prometheus-stack rather than the operator and a hand-written Prometheus: it
brings the operator, kube-state-metrics (restart alerts need it), the Kubernetes
recording rules and dashboards, and Alertmanager, each kept current upstream; we only
choose how Prometheus selects what to scrape. It selects on the platform label that every
go-platform ServiceMonitor and PrometheusRule carries, so nothing depends on the chart's
`release` label (the classic reason a ServiceMonitor is silently ignored).

Every container the charts run is sized, confined (non-root, no privilege escalation, all
capabilities dropped, seccomp) and on a read-only root, with emptyDirs where it writes, as
the policy pack requires in staging and prod. The pack sees what `helm.v4.Chart`
registers: the rendered manifests, never the charts' hooks, which it drops (so nothing
here may depend on a hook having run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.resources import child_options
from components.routing import GatewayBinding, route_parts, service_backend
from components.traefik_gateway import chart_source_args
from go_platform_core import kube, telemetry, units
from go_platform_core.config import Environment, ObservabilitySettings, RouteSettings

GRAFANA_SECRET = "grafana-admin"
S3_CREDENTIALS_SECRET = "observability-s3"
ALERTMANAGER_SECRET = "go-platform-alertmanager"
"""Alertmanager's configuration (`alertmanager.yaml`), from `alertmanagerConfigSecret`."""
GRAFANA_USER = "admin"


def _sized(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    return {
        "requests": {"cpu": cpu, "memory": memory},
        "limits": {"cpu": cpu_limit, "memory": memory_limit},
    }


# Requests and limits of every container the charts run (the policy pack's
# container-resources-required refuses one without both in staging and prod), sized for a
# small production cluster: a few nodes, a few dozen services. Requests are what the
# scheduler reserves, about what each program uses at rest; limits leave room for bursts
# (queries, compaction, a replayed WAL). Where the pack sees the container, limits stay
# within every environment's container-limits-within-caps (2 CPUs and 2Gi in dev, the
# lowest). The charts derive GOMEMLIMIT from the memory limit for Loki (85% of it) and
# Grafana (all of it); Tempo's gets 90% from here. The Go runtime then collects harder
# before the kernel kills.
PROMETHEUS_OPERATOR_RESOURCES = _sized("50m", "64Mi", "200m", "256Mi")
KUBE_STATE_METRICS_RESOURCES = _sized("20m", "64Mi", "200m", "256Mi")
LOKI_RESOURCES = _sized("250m", "512Mi", "2", "2Gi")
TEMPO_RESOURCES = _sized("200m", "512Mi", "1", "2Gi")
GRAFANA_RESOURCES = _sized("100m", "256Mi", "1", "1Gi")
ALLOY_RESOURCES = _sized("100m", "256Mi", "1", "1Gi")
SIDECAR_RESOURCES = _sized("10m", "64Mi", "100m", "256Mi")
"""The k8s-sidecar containers copying labelled ConfigMaps: Loki's rules, Grafana's dashboards."""
# Pods the Prometheus operator creates from the Prometheus and Alertmanager resources: the
# pack never sees them (it checks the chart's objects, not what an operator makes of them),
# but they are sized all the same. Prometheus grows with the number of series, not with
# retention; 4Gi holds a few hundred thousand.
PROMETHEUS_RESOURCES = _sized("250m", "1Gi", "2", "4Gi")
ALERTMANAGER_RESOURCES = _sized("10m", "32Mi", "100m", "128Mi")
CONFIG_RELOADER_RESOURCES = _sized("10m", "32Mi", "100m", "64Mi")

SIDECAR_HEALTH_PORT = 8080
"""Where k8s-sidecar serves `/healthz` (ready once its first sync is done, live while it
hears from the API server)."""


def _platform_selector() -> dict[str, Any]:
    return {"matchLabels": kube.monitoring_labels()}


def _volume_claim(settings: ObservabilitySettings) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": settings.storage.size}},
    }
    if settings.storage.storage_class:
        spec["storageClassName"] = settings.storage.storage_class
    return {"volumeClaimTemplate": {"spec": spec}}


RETENTION_SHARE = Decimal("0.85")
"""The share of its volume Prometheus's blocks may take: the rest is its WAL and headroom
for the compaction in progress."""


def retention_size(volume: str) -> str:
    """Prometheus's `retentionSize` for a volume of `volume` (a Kubernetes quantity), in
    Prometheus's units, where `MB` is 2^20 bytes."""
    mebibytes = int(units.parse_quantity(volume) * RETENTION_SHARE / 2**20)
    return f"{max(mebibytes, 1)}MB"


def prometheus_values(settings: ObservabilitySettings) -> dict[str, Any]:
    """kube-prometheus-stack: Prometheus selecting on the platform label, with exemplars
    and a remote-write receiver (Tempo's span metrics), Alertmanager; no Grafana (we run
    our own) and no node exporter (it needs host access the restricted standard forbids)."""
    selector = _platform_selector()
    spec: dict[str, Any] = {
        "replicas": settings.prometheus_replicas,
        "retention": settings.retention.metrics,
        # And never more than the volume holds: past it Prometheus stops writing (no space
        # left) long before the time-based retention deletes anything.
        "retentionSize": retention_size(settings.storage.size),
        "enableRemoteWriteReceiver": True,
        "enableFeatures": ["exemplar-storage"],
        "storageSpec": _volume_claim(settings),
        "resources": PROMETHEUS_RESOURCES,
    }
    for kind in ("serviceMonitor", "podMonitor", "rule", "probe"):
        spec[f"{kind}Selector"] = selector
        spec[f"{kind}SelectorNilUsesHelmValues"] = False
        spec[f"{kind}NamespaceSelector"] = {}
    return {
        "fullnameOverride": telemetry.PROMETHEUS_RELEASE,
        # The chart's own monitors and rules carry the platform label too.
        "commonLabels": kube.monitoring_labels(),
        "grafana": {"enabled": False, "forceDeployDashboards": True},
        "nodeExporter": {"enabled": False},
        # A subchart: the parent's commonLabels never reach its ServiceMonitor, and without
        # the label Prometheus scrapes no kube_* series (the restart alerts need them).
        "kube-state-metrics": {
            "prometheus": {"monitor": {"additionalLabels": kube.monitoring_labels()}},
            "resources": KUBE_STATE_METRICS_RESOURCES,
        },
        "prometheusOperator": {
            # helm.v4.Chart renders without hooks, so the chart's hook Jobs that create the
            # webhooks' certificate Secret and patch it into the webhook configurations
            # never run; yet with TLS on, the operator mounts that Secret and would wait
            # for it forever. No admission webhooks (they only checked PrometheusRules and
            # AlertmanagerConfigs, failing open), and the operator serves its metrics and
            # health over plain HTTP inside the namespace.
            "admissionWebhooks": {"enabled": False},
            "tls": {"enabled": False},
            "resources": PROMETHEUS_OPERATOR_RESOURCES,
            "prometheusConfigReloader": {"resources": CONFIG_RELOADER_RESOURCES},
        },
        "alertmanager": {
            "enabled": True,
            "alertmanagerSpec": {
                "resources": ALERTMANAGER_RESOURCES,
                # The configuration is a secret (webhook URLs, keys): the chart's own
                # Secret, which routes to no one, is replaced by one the program writes.
                **(
                    {"useExistingSecret": True, "configSecret": ALERTMANAGER_SECRET}
                    if settings.alertmanager_config_secret
                    else {}
                ),
            },
        },
        "prometheus": {"prometheusSpec": spec},
    }


def loki_values(settings: ObservabilitySettings) -> dict[str, Any]:
    """Loki as one binary: on a volume, or on S3 (credentials from a Secret, expanded from
    the environment so they never sit in the rendered config)."""
    storage = settings.storage
    store = "s3" if storage.type == "s3" else "filesystem"
    loki: dict[str, Any] = {
        "auth_enabled": False,
        "commonConfig": {"replication_factor": 1},
        "schemaConfig": {
            "configs": [
                {
                    "from": "2024-04-01",
                    "store": "tsdb",
                    "object_store": store,
                    "schema": "v13",
                    "index": {"prefix": "loki_index_", "period": "24h"},
                }
            ]
        },
        "limits_config": {"retention_period": settings.retention.logs},
        "compactor": {
            "retention_enabled": True,
            "delete_request_store": store,
            "working_directory": "/var/loki/compactor",
        },
    }
    defaults: dict[str, Any] = {"extraArgs": ["-config.expand-env=true"]}
    if storage.type == "s3" and storage.s3:
        s3: dict[str, Any] = {
            "region": storage.s3.region,
            "s3ForcePathStyle": storage.s3.force_path_style,
        }
        if storage.s3.endpoint:
            s3["endpoint"] = storage.s3.endpoint
        if storage.s3.access_key_id_secret:
            s3 |= {
                "accessKeyId": "${AWS_ACCESS_KEY_ID}",
                "secretAccessKey": "${AWS_SECRET_ACCESS_KEY}",
            }
            defaults["extraEnvFrom"] = [{"secretRef": {"name": S3_CREDENTIALS_SECRET}}]
        loki["storage"] = {
            "type": "s3",
            "bucketNames": {
                "chunks": storage.s3.loki_chunks_bucket,
                "ruler": storage.s3.loki_ruler_bucket,
            },
            "s3": s3,
        }
    else:
        loki["storage"] = {"type": "filesystem"}
    persistence: dict[str, Any] = {"enabled": True, "size": storage.size}
    if storage.storage_class:
        persistence["storageClass"] = storage.storage_class
    scalable_off = {"replicas": 0}
    return {
        "deploymentMode": "Monolithic",
        "loki": loki,
        "defaults": defaults,
        # The chart already runs both containers confined on a read-only root (emptyDirs
        # on /tmp and the rules folder, the volume on /var/loki); they need only sizes.
        "singleBinary": {"replicas": 1, "persistence": persistence, "resources": LOKI_RESOURCES},
        "sidecar": {"resources": SIDECAR_RESOURCES},
        "read": scalable_off,
        "write": scalable_off,
        "backend": scalable_off,
        "gateway": {"enabled": False},
        "chunksCache": {"enabled": False},
        "resultsCache": {"enabled": False},
        "lokiCanary": {"enabled": False},
        "test": {"enabled": False},
        "monitoring": {
            "serviceMonitor": {"enabled": True, "labels": kube.monitoring_labels()},
        },
    }


def aws_s3_endpoint(region: str) -> str:
    """The regional endpoint of AWS S3 (`s3.eu-west-1.amazonaws.com`; China's regions
    under `amazonaws.com.cn`)."""
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"s3.{region}.{domain}"


TEMPO_UID = 10001
"""The user Tempo's image and chart run as."""


def tempo_values(settings: ObservabilitySettings, prometheus_url: str) -> dict[str, Any]:
    """Tempo with OTLP gRPC and HTTP receivers; span metrics and the service graph
    written to Prometheus; traces on a volume or in S3."""
    storage = settings.storage
    tempo: dict[str, Any] = {
        "retention": settings.retention.traces,
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": "0.0.0.0:4317"},
                    "http": {"endpoint": "0.0.0.0:4318"},
                }
            }
        },
        "metricsGenerator": {
            "enabled": True,
            "remoteWriteUrl": f"{prometheus_url}/api/v1/write",
        },
        "overrides": {
            "defaults": {"metrics_generator": {"processors": ["service-graphs", "span-metrics"]}}
        },
    }
    if storage.type == "s3" and storage.s3:
        s3: dict[str, Any] = {
            "bucket": storage.s3.tempo_bucket,
            "region": storage.s3.region,
            "forcepathstyle": storage.s3.force_path_style,
        }
        if storage.s3.endpoint:
            s3["endpoint"] = storage.s3.endpoint.split("://", 1)[-1]
            s3["insecure"] = storage.s3.endpoint.startswith("http://")
        else:
            # Tempo's S3 client has no default endpoint (it refuses an empty one at start),
            # where Loki's derives it from the region.
            s3["endpoint"] = aws_s3_endpoint(storage.s3.region)
        tempo["storage"] = {"trace": {"backend": "s3", "s3": s3}}
        if storage.s3.access_key_id_secret:
            tempo["extraEnvFrom"] = [{"secretRef": {"name": S3_CREDENTIALS_SECRET}}]
    else:
        tempo["storage"] = {
            "trace": {
                "backend": "local",
                "local": {"path": "/var/tempo/traces"},
                "wal": {"path": "/var/tempo/wal"},
            }
        }
    # Confined on a read-only root: Tempo writes only its WAL and local blocks (the volume
    # on /var/tempo) and the metrics generator's WAL (the chart's emptyDir on /tmp, there
    # because the generator is on).
    tempo["resources"] = TEMPO_RESOURCES
    tempo["securityContext"] = kube.container_security_context(uid=None)
    # Unlike Loki's and Grafana's charts, Tempo's derives no GOMEMLIMIT from the limit.
    tempo["extraEnv"] = [
        {
            "name": "GOMEMLIMIT",
            "value": kube.go_memory_limit(TEMPO_RESOURCES["limits"]["memory"]),
        }
    ]
    persistence: dict[str, Any] = {"enabled": True, "size": storage.size}
    if storage.storage_class:
        persistence["storageClassName"] = storage.storage_class
    return {
        "tempo": tempo,
        # The pod's securityContext (the chart's default uid, with seccomp added).
        "securityContext": kube.pod_security_context(
            TEMPO_UID, fs_group_change_policy="OnRootMismatch"
        ),
        "persistence": persistence,
        "serviceMonitor": {"enabled": True, "additionalLabels": kube.monitoring_labels()},
    }


GRAFANA_UID = 472
"""The user Grafana's image and chart run as."""
GRAFANA_PORT = 3000
"""Grafana's HTTP port in its pod (its Service's port 80 leads there)."""


def _sidecar_probe(initial_delay: int, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": "/healthz", "port": SIDECAR_HEALTH_PORT},
        "initialDelaySeconds": initial_delay,
        "periodSeconds": period,
        "failureThreshold": failures,
    }


def grafana_values(
    settings: ObservabilitySettings, found: telemetry.Endpoints, host: str | None = None
) -> dict[str, Any]:
    """Grafana: admin from a Secret, datasources linked to each other, dashboards from
    labelled ConfigMaps in every namespace; served at `https://<host>/` when the gateway
    routes it (its links, redirects and live updates' origin check need that address).

    Every container confined on a read-only root: Grafana writes its database and plugins
    to its volume, temporary files (SQLite's among them) to an emptyDir on /tmp, and file
    logs, were they turned on, to one on /var/log/grafana; the dashboards sidecar writes
    to its dashboards folder and /tmp, both emptyDirs. No root init container chowning the
    volume (the restricted standard refuses its uid 0 and CHOWN): the kubelet hands the
    volume to Grafana's group (fsGroup), only when its root does not match already.
    """
    persistence: dict[str, Any] = {"enabled": True, "size": "5Gi"}
    if settings.storage.storage_class:
        persistence["storageClassName"] = settings.storage.storage_class
    served = {"server": {"root_url": f"https://{host}/", "domain": host}} if host else {}
    return {
        **({"grafana.ini": served} if served else {}),
        "admin": {
            "existingSecret": GRAFANA_SECRET,
            "userKey": "admin-user",
            "passwordKey": "admin-password",
        },
        "datasources": {
            "datasources.yaml": {
                "apiVersion": 1,
                "datasources": telemetry.grafana_datasources(found),
            }
        },
        "sidecar": {
            "dashboards": {
                "enabled": True,
                "label": telemetry.DASHBOARD_LABEL[0],
                "labelValue": telemetry.DASHBOARD_LABEL[1],
                "searchNamespace": "ALL",
                "folderAnnotation": "grafana_folder",
                "provider": {"foldersFromFilesStructure": True},
                "env": {"HEALTH_PORT": str(SIDECAR_HEALTH_PORT)},
                "extraMounts": [{"name": "sc-dashboard-tmp", "mountPath": "/tmp"}],
            },
            "resources": SIDECAR_RESOURCES,
            "securityContext": kube.container_security_context(uid=None),
            # Ready after its first sync (which also asks Grafana to reload, retrying while
            # Grafana starts); live while it hears from the API server.
            "readinessProbe": _sidecar_probe(initial_delay=5, period=10, failures=3),
            "livenessProbe": _sidecar_probe(initial_delay=60, period=30, failures=5),
        },
        "persistence": persistence,
        "initChownData": {"enabled": False},
        "securityContext": kube.pod_security_context(
            GRAFANA_UID, fs_group_change_policy="OnRootMismatch"
        ),
        "containerSecurityContext": {
            **kube.container_security_context(uid=None),
            "privileged": False,
        },
        "resources": GRAFANA_RESOURCES,
        "extraEmptyDirMounts": [
            {"name": "grafana-tmp", "mountPath": "/tmp"},
            {"name": "grafana-logs", "mountPath": "/var/log/grafana"},
        ],
        "extraContainerVolumes": [{"name": "sc-dashboard-tmp", "emptyDir": {}}],
        # One pod on a ReadWriteOnce volume: a rolling update's new pod would wait for the
        # volume the old one holds (on another node, a Multi-Attach error) and the old one
        # would never go first, so the rollout, and `pulumi up` awaiting it, would stall.
        "deploymentStrategy": {"type": "Recreate"},
        "serviceMonitor": {"enabled": True, "labels": kube.monitoring_labels()},
    }


ALLOY_STORAGE = "/tmp/alloy"


def alloy_values(loki_push_url: str) -> dict[str, Any]:
    """Grafana Alloy on every node, non-root: it reads logs through the API server.

    Its root filesystem is read-only, so its storage path (where components keep their
    state, such as the log positions) is an emptyDir: Alloy refuses to start when a
    component cannot create its directory there.
    """
    return {
        "controller": {
            "type": "daemonset",
            "volumes": {"extra": [{"name": "storage", "emptyDir": {"sizeLimit": "1Gi"}}]},
        },
        # No config-reloader sidecar (a container without probes, which the pack refuses
        # in staging and prod): without it the chart puts the config's checksum on the pod
        # template, so a new config rolls the pods instead of being reloaded in place.
        "configReloader": {"enabled": False},
        "alloy": {
            "configMap": {"content": telemetry.alloy_config(loki_push_url)},
            "resources": ALLOY_RESOURCES,
            # The chart sets only a readiness probe. Ready means the config is loaded;
            # /-/healthy would restart Alloy whenever one component is unhealthy (Loki down).
            "livenessProbe": {
                "httpGet": {"path": "/-/ready", "port": "http-metrics"},
                "initialDelaySeconds": 30,
                "periodSeconds": 30,
                "failureThreshold": 5,
            },
            "storagePath": ALLOY_STORAGE,
            "mounts": {
                "varlog": False,
                "extra": [{"name": "storage", "mountPath": ALLOY_STORAGE}],
            },
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 473,
                "runAsGroup": 473,
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"},
            },
        },
        "serviceMonitor": {"enabled": True, "additionalLabels": kube.monitoring_labels()},
    }


PROMETHEUS_PORT = 9090
"""Prometheus's HTTP port in its pods (the operator's)."""


def stack_network_policy_spec(gateway_namespace: str | None) -> dict[str, Any]:
    """Ingress to every pod of the stack's namespace, which runs workloads and so needs a
    NetworkPolicy (the pack's namespace-network-policy, mandatory in staging and prod).

    Open within the namespace (Prometheus scrapes, Alloy pushes to Loki, Tempo writes to
    Prometheus, Grafana queries all three); from every namespace to the OTLP receivers
    (services send traces) and to Prometheus's API (canary analysis, from wherever it
    runs); from the gateway to Grafana. Closed to everything else: Loki, Alertmanager,
    the operator, kube-state-metrics, Alloy. Egress stays open: Prometheus scrapes every
    namespace and the nodes, Alloy reads the API server, Loki and Tempo reach S3.
    """

    def tcp(*ports: int) -> list[dict[str, Any]]:
        return [{"protocol": "TCP", "port": port} for port in ports]

    ingress: list[dict[str, Any]] = [
        {"from": [{"podSelector": {}}]},
        {
            "from": [{"namespaceSelector": {}}],
            "ports": tcp(*kube.OTLP_PORTS, PROMETHEUS_PORT),
        },
    ]
    if gateway_namespace:
        ingress.append(
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": gateway_namespace}
                        }
                    }
                ],
                "ports": tcp(GRAFANA_PORT),
            }
        )
    return {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": ingress}


@dataclass(frozen=True)
class ObservabilityStackArgs:
    """What ObservabilityStack needs; built by `__main__.py` from validated config."""

    settings: ObservabilitySettings
    environment: Environment
    namespace: pulumi.Input[str]
    grafana_host: str
    gateway: GatewayBinding | None = None
    """Routes Grafana through the gateway when given."""
    s3_credentials: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """`AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (secrets) for Loki and Tempo on S3."""
    alertmanager_config: pulumi.Input[str] | None = None
    """Alertmanager's configuration (a secret), when `alertmanagerConfigSecret` names one."""


class ObservabilityStack(pulumi.ComponentResource):
    """kube-prometheus-stack, Loki, Tempo, Grafana and Alloy from their charts (or the
    cluster's own with `install: false`), Grafana's admin Secret and route, and the
    NetworkPolicy of their namespace.

    Exposes the OTLP endpoint services send traces to, the Prometheus query URL (canary
    analysis reads it), and Grafana's URL and admin password (secret).
    """

    otlp_endpoint: pulumi.Output[str | None]
    """OTLP gRPC endpoint for services, or None."""
    prometheus_url: pulumi.Output[str | None]
    """Prometheus query URL, or None."""
    grafana_url: pulumi.Output[str | None]
    """Grafana's URL, when installed."""
    grafana_password: pulumi.Output[str] | None
    """Grafana's admin password (secret), when installed."""
    definitions: Mapping[str, pulumi.Resource]
    """API group -> the chart installing its definitions and the operator serving them
    (`monitoring.coreos.com`: kube-prometheus-stack); empty where the cluster has its own."""

    def __init__(
        self, name: str, args: ObservabilityStackArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("go-platform:index:ObservabilityStack", name, None, opts)
        settings = args.settings
        child = child_options(self, opts)
        found = telemetry.endpoints(settings)
        labels = {
            "app.kubernetes.io/part-of": "go-platform",
            "app.kubernetes.io/managed-by": "pulumi",
        }

        self.definitions = {}
        self.grafana_url = pulumi.Output.from_input(None)
        self.grafana_password = None
        if settings.install:
            assert found.prometheus
            assert found.loki

            def secret(suffix: str, secret_name: str, data: Mapping[str, Any]) -> None:
                """A Secret the charts read, created before them."""
                prerequisites.append(
                    k8s.core.v1.Secret(
                        f"{name}-{suffix}",
                        metadata=k8s.meta.v1.ObjectMetaArgs(
                            name=secret_name, namespace=args.namespace, labels=labels
                        ),
                        string_data=data,
                        opts=child,
                    )
                )

            prerequisites: list[pulumi.Resource] = []
            if args.s3_credentials:
                secret(
                    "s3-credentials",
                    S3_CREDENTIALS_SECRET,
                    {k: pulumi.Output.secret(v) for k, v in args.s3_credentials.items()},
                )
            if args.alertmanager_config is not None:
                secret(
                    "alertmanager-config",
                    ALERTMANAGER_SECRET,
                    {"alertmanager.yaml": pulumi.Output.secret(args.alertmanager_config)},
                )
            elif args.environment in ("staging", "prod"):
                pulumi.log.warn(
                    "observability.alertmanagerConfigSecret is not set: the alerts fire and "
                    "reach no one (README, Observability)",
                    resource=self,
                )
            password = random.RandomPassword(
                f"{name}-grafana-password", length=32, special=False, opts=child
            )
            secret(
                "grafana-admin",
                GRAFANA_SECRET,
                {"admin-user": GRAFANA_USER, "admin-password": password.result},
            )
            releases = {
                telemetry.PROMETHEUS_RELEASE: (
                    settings.charts.kube_prometheus_stack,
                    prometheus_values(settings),
                ),
                telemetry.LOKI_RELEASE: (settings.charts.loki, loki_values(settings)),
                telemetry.TEMPO_RELEASE: (
                    settings.charts.tempo,
                    tempo_values(settings, found.prometheus),
                ),
                telemetry.GRAFANA_RELEASE: (
                    settings.charts.grafana,
                    grafana_values(settings, found, args.grafana_host if args.gateway else None),
                ),
                telemetry.ALLOY_RELEASE: (
                    settings.charts.alloy,
                    alloy_values(f"{found.loki}/loki/api/v1/push"),
                ),
            }
            installed = {
                release: k8s.helm.v4.Chart(
                    f"{name}-{release}",
                    name=release,
                    namespace=args.namespace,
                    **chart_source_args(source, values),
                    opts=child_options(self, opts, depends_on=prerequisites),
                )
                for release, (source, values) in releases.items()
            }
            charts = list(installed.values())
            k8s.networking.v1.NetworkPolicy(
                f"{name}-netpol",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name="observability", namespace=args.namespace, labels=labels
                ),
                spec=stack_network_policy_spec(args.gateway.namespace if args.gateway else None),
                opts=child,
            )
            self.definitions = {"monitoring.coreos.com": installed[telemetry.PROMETHEUS_RELEASE]}
            self.grafana_password = pulumi.Output.secret(password.result)
            self.grafana_url = pulumi.Output.from_input(found.grafana)
            if args.gateway is not None:
                self._grafana_route(
                    name, args, labels, child_options(self, opts, depends_on=charts)
                )
                self.grafana_url = pulumi.Output.from_input(f"https://{args.grafana_host}")

        self.otlp_endpoint = pulumi.Output.from_input(found.otlp_grpc)
        self.prometheus_url = pulumi.Output.from_input(found.prometheus)
        self.register_outputs(
            {
                "otlp_endpoint": self.otlp_endpoint,
                "prometheus_url": self.prometheus_url,
                "grafana_url": self.grafana_url,
                "grafana_password": self.grafana_password,
            }
        )

    def _grafana_route(
        self,
        name: str,
        args: ObservabilityStackArgs,
        labels: dict[str, str],
        opts: pulumi.ResourceOptions,
    ) -> None:
        """Grafana on the gateway (it has its own login): TLS, the default middlewares."""
        assert args.gateway is not None
        route = RouteSettings.model_validate({"host": args.grafana_host})
        parts = route_parts(
            f"{name}-grafana",
            route=route,
            gateway=args.gateway,
            namespace=args.namespace,
            object_name="grafana",
            labels=labels,
            opts=opts,
        )
        k8s.apiextensions.CustomResource(
            f"{name}-grafana-ingressroute",
            api_version="traefik.io/v1alpha1",
            kind="IngressRoute",
            metadata={"name": "grafana", "namespace": args.namespace, "labels": labels},
            spec={
                "entryPoints": [args.gateway.entry_point],
                "routes": [
                    {
                        "kind": "Rule",
                        "match": kube.route_match(args.grafana_host, "/"),
                        "middlewares": parts.middlewares,
                        "services": [service_backend(telemetry.GRAFANA_RELEASE, 80)],
                    }
                ],
                "tls": parts.tls,
            },
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(depends_on=parts.depends_on)
            ),
        )
