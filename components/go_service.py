"""GoServiceStack: one Go service, deployed the way an experienced operator would."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.resources import child_options
from components.routing import GatewayBinding, MiddlewareRef, backend, route_parts
from go_platform_core import kube, telemetry
from go_platform_core.config import Environment, ServiceSettings
from go_platform_core.images import parse_image
from go_platform_core.vulncheck import GateError, GateSettings, audit


class VulnerabilityGateError(Exception):
    """A build context's module calls vulnerable code at or above the threshold, or could
    not be audited; the message is the gate's report."""


def vulnerability_hook(context: Path, settings: GateSettings) -> pulumi.ResourceHookFunction:
    """The hook that runs before a built image is created or updated: govulncheck on the
    Go module in `context` (relative to the project); it raises, failing that step with the
    gate's report as the error, unless every reachable finding is below the threshold."""

    def before_build(args: pulumi.ResourceHookArgs) -> None:
        try:
            result = audit(context, settings)
        except GateError as error:
            raise VulnerabilityGateError(f"vulnerability gate: {context}: {error}") from None
        if not result.passed:
            raise VulnerabilityGateError("\n".join(result.report()))
        pulumi.log.info("\n".join(result.report()))

    return before_build


@dataclass(frozen=True)
class MountedVolume:
    """A volume beside `/tmp` and where the service container mounts it."""

    name: str
    mount_path: str
    source: dict[str, Any]
    """The volume source as the API reads it: `{"configMap": {...}}`, `{"secret": {...}}`,
    `{"persistentVolumeClaim": {...}}`, `{"emptyDir": {...}}`."""
    read_only: bool = True
    sub_path: str | None = None
    """One file of the volume, mounted at `mount_path` in place of what the image has."""


@dataclass(frozen=True)
class ObservabilityBinding:
    """What a service needs from the observability stack to be watched."""

    namespace: str
    """Namespace of Prometheus (allowed to scrape) and of the OTLP receiver."""
    service_monitor: bool = True
    """Create a ServiceMonitor for the admin port's /metrics."""
    otlp_endpoint: pulumi.Input[str] | None = None
    """Given to the service as OTEL_EXPORTER_OTLP_ENDPOINT; no tracing when None."""
    monitor_labels: Mapping[str, str] = field(default_factory=dict)
    """Labels a Prometheus selects monitors and rules by, besides the platform label."""
    availability_slo: float = 99.9
    """Availability objective (percent) the error-budget alerts burn against."""
    scraper_labels: Mapping[str, str] = field(default_factory=dict)
    """Pod labels of the Prometheus that scrapes (the installed one's): only those pods of
    `namespace` reach the metrics port. Empty: every pod of it, where they are not known."""


@dataclass(frozen=True)
class GoServiceStackArgs:
    """Everything GoServiceStack needs; built by `__main__.py` from validated config."""

    service: ServiceSettings
    namespace: pulumi.Input[str]
    environment: Environment
    secret_env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Environment variable -> secret value (an Output secret), stored in a Secret."""
    gateway: GatewayBinding | None = None
    observability: ObservabilityBinding | None = None
    module_env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Build arguments of image builds, unless the service's build gives them: `GOPROXY`
    (the module proxy) and `GONOSUMDB` (its private patterns)."""
    callers: Sequence[str] = ()
    """Services in the namespace allowed to call this one."""
    client_namespaces: Sequence[str] = ()
    """Other namespaces whose pods may call this one (e.g. CI runners of a module proxy)."""
    track: kube.Track = "stable"
    create_route: bool = True
    """False when a CanaryRoute routes this service instead (the gateway is still let in)."""
    volumes: Sequence[MountedVolume] = ()
    """Config files, credentials or data the container needs besides `/tmp`."""
    recreate: bool = False
    """Replace pods instead of rolling them: a ReadWriteOnce volume has one writer."""
    delay_stop: bool = False
    """For a program that stops listening at SIGTERM (it does not read `SHUTDOWN_DELAY`):
    the kubelet waits that long before the signal (a preStop sleep), while the pod's
    endpoints are taken out of the Services."""
    route_middlewares: Sequence[MiddlewareRef] = ()
    """Applied after the gateway's and the route's own middlewares (e.g. BasicAuth)."""
    vulnerability_gate: GateSettings | None = None
    """govulncheck runs on the build context before a built image is created or updated
    (preview included); None: built images are not audited."""


class GoServiceStack(pulumi.ComponentResource):
    """A Go service: ServiceAccount, ConfigMap, Secret, Deployment, Service, and as configured
    a HorizontalPodAutoscaler, PodDisruptionBudget, NetworkPolicy, ServiceMonitor,
    Certificate and IngressRoute, PrometheusRule and dashboard ConfigMap; the image is pulled
    by reference or built and pushed.

    Exposes the Service name, the in-cluster URL, the Deployment name and the image the
    Deployment runs (by digest when built).
    """

    service_name: pulumi.Output[str]
    """Name of the Kubernetes Service."""
    url: pulumi.Output[str]
    """In-cluster URL of the service's API."""
    deployment_name: pulumi.Output[str]
    """Name of the Deployment."""
    image: pulumi.Output[str]
    """Image reference the Deployment runs."""

    def __init__(
        self, name: str, args: GoServiceStackArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("go-platform:index:GoServiceStack", name, None, opts)
        self._name, self._args, self._opts = name, args, opts
        self._child = child_options(self, opts)
        service = args.service
        self._workload = kube.workload_name(service.name, args.track)
        self._selector = kube.selector_labels(service.name, args.track)
        self._admin_port_name = kube.ADMIN_PORT_NAME if service.admin_port else kube.HTTP_PORT_NAME
        observability = args.observability
        self._monitored = observability is not None and observability.service_monitor

        if service.build:
            image, version = self._build_image(name, args, self._child)
        else:
            image = pulumi.Output.from_input(service.image)
            version = parse_image(service.image).version
        self._labels = kube.standard_labels(service.name, args.track, version, args.environment)

        deployment = self._deployment(image, version)
        k8s_service = self._service()
        self._scaling(deployment)
        self._network_policy()
        if self._monitored:
            self._monitoring()
        if service.route and args.gateway and args.create_route:
            self._route(k8s_service)

        self.service_name = k8s_service.metadata.name
        self.url = pulumi.Output.concat(
            "http://",
            k8s_service.metadata.name,
            ".",
            k8s_service.metadata.namespace,
            f".svc.cluster.local:{service.port}",
        )
        self.deployment_name = deployment.metadata.name
        self.image = image
        self.register_outputs(
            {
                "service_name": self.service_name,
                "url": self.url,
                "deployment_name": self.deployment_name,
                "image": self.image,
            }
        )

    def _metadata(
        self,
        object_name: str | None = None,
        extra_labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> k8s.meta.v1.ObjectMetaArgs:
        """Metadata of a child: the standard labels, in the service's namespace; auto-named
        when `object_name` is None."""
        return k8s.meta.v1.ObjectMetaArgs(
            name=object_name,
            namespace=self._args.namespace,
            labels={**self._labels, **(extra_labels or {})},
            annotations=dict(annotations) if annotations else None,
        )

    def _deployment(self, image: pulumi.Input[str], version: str) -> k8s.apps.v1.Deployment:
        """ServiceAccount, ConfigMap, Secret and the Deployment that uses them."""
        args, service, name = self._args, self._args.service, self._name
        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=self._metadata(self._workload),
            automount_service_account_token=False,
            opts=self._child,
        )
        # ConfigMap and Secret are auto-named: pulumi-kubernetes replaces them (new name)
        # when their data changes, which rolls the pods that reference them.
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-env", metadata=self._metadata(), data=dict(service.env), opts=self._child
        )
        secret = (
            k8s.core.v1.Secret(
                f"{name}-secret",
                metadata=self._metadata(),
                type="Opaque",
                string_data={
                    key: pulumi.Output.secret(value) for key, value in args.secret_env.items()
                },
                opts=self._child,
            )
            if args.secret_env
            else None
        )

        container_ports = [
            k8s.core.v1.ContainerPortArgs(name=kube.HTTP_PORT_NAME, container_port=service.port)
        ]
        if service.admin_port:
            container_ports.append(
                k8s.core.v1.ContainerPortArgs(
                    name=kube.ADMIN_PORT_NAME, container_port=service.admin_port
                )
            )
        probes = kube.probes(self._admin_port_name)
        container = k8s.core.v1.ContainerArgs(
            name=service.name,
            image=image,
            image_pull_policy="IfNotPresent",
            ports=container_ports,
            env=self._platform_env(args, version, secret),
            env_from=[
                k8s.core.v1.EnvFromSourceArgs(
                    config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=config_map.metadata.name)
                )
            ],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests=service.resources.requests.model_dump(),
                limits=service.resources.limits.model_dump(),
            ),
            security_context=kube.container_security_context(),
            lifecycle=(
                {"preStop": {"sleep": {"seconds": kube.SHUTDOWN_DELAY_SECONDS}}}
                if args.delay_stop
                else None
            ),
            startup_probe=probes["startupProbe"],
            readiness_probe=probes["readinessProbe"],
            liveness_probe=probes["livenessProbe"],
            volume_mounts=[
                {"name": "tmp", "mountPath": "/tmp"},
                *(
                    {
                        "name": v.name,
                        "mountPath": v.mount_path,
                        "readOnly": v.read_only,
                        **({"subPath": v.sub_path} if v.sub_path else {}),
                    }
                    for v in args.volumes
                ),
            ],
        )
        return k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=self._metadata(self._workload),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                # With an autoscaler: its floor on create, then whatever runs (ignore_changes
                # below). Leaving the field out instead would drop it from what Pulumi
                # applies, and the API server would default a running service to 1 pod the
                # moment it moved to autoscaling, until the autoscaler scaled it back.
                replicas=(
                    service.autoscaling.min_replicas if service.autoscaling else service.replicas
                ),
                revision_history_limit=5,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._selector),
                strategy=kube.deployment_strategy(recreate=args.recreate),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=self._labels,
                        annotations={
                            kube.CONFIG_CHECKSUM_ANNOTATION: kube.config_checksum(
                                service.env, args.secret_env.keys()
                            )
                        },
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=account.metadata.name,
                        automount_service_account_token=False,
                        security_context=kube.pod_security_context(),
                        termination_grace_period_seconds=kube.TERMINATION_GRACE_SECONDS,
                        # Wherever it may run several pods, an autoscaler's floor of 1
                        # included: the spread is soft, the budget never blocks a drain.
                        topology_spread_constraints=(
                            kube.topology_spread(self._selector)
                            if service.max_replicas > 1
                            else None
                        ),
                        containers=[container],
                        volumes=[
                            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                            *({"name": v.name, **v.source} for v in args.volumes),
                        ],
                    ),
                ),
            ),
            # The provider then applies the live count while Pulumi owns the field, and
            # leaves it out once the autoscaler does: `up` never fights it.
            opts=(
                pulumi.ResourceOptions.merge(
                    self._child, pulumi.ResourceOptions(ignore_changes=["spec.replicas"])
                )
                if service.autoscaling
                else self._child
            ),
        )

    def _service(self) -> k8s.core.v1.Service:
        """The ClusterIP Service: the API port, and the admin port for Prometheus."""
        service = self._args.service
        h2c = service.route is not None and service.route.protocol == "h2c"
        ports = [
            k8s.core.v1.ServicePortArgs(
                name=kube.HTTP_PORT_NAME,
                port=service.port,
                target_port=kube.HTTP_PORT_NAME,
                app_protocol="kubernetes.io/h2c" if h2c else None,
            )
        ]
        if service.admin_port:
            ports.append(
                k8s.core.v1.ServicePortArgs(
                    name=kube.ADMIN_PORT_NAME,
                    port=service.admin_port,
                    target_port=kube.ADMIN_PORT_NAME,
                )
            )
        return k8s.core.v1.Service(
            f"{self._name}-service",
            metadata=self._metadata(
                self._workload, annotations=kube.service_annotations(self._args.environment)
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP", selector=self._selector, ports=ports
            ),
            opts=self._child,
        )

    def _scaling(self, deployment: k8s.apps.v1.Deployment) -> None:
        """The autoscaler (when configured) and the disruption budget (from two pods)."""
        service = self._args.service
        if service.autoscaling:
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{self._name}-hpa",
                metadata=self._metadata(self._workload),
                spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                    scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                        api_version="apps/v1", kind="Deployment", name=deployment.metadata.name
                    ),
                    min_replicas=service.autoscaling.min_replicas,
                    max_replicas=service.autoscaling.max_replicas,
                    metrics=[
                        k8s.autoscaling.v2.MetricSpecArgs(
                            type="Resource",
                            resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                                name="cpu",
                                target=k8s.autoscaling.v2.MetricTargetArgs(
                                    type="Utilization",
                                    average_utilization=service.autoscaling.cpu_utilization,
                                ),
                            ),
                        )
                    ],
                ),
                opts=self._child,
            )
        if service.max_replicas >= 2:
            k8s.policy.v1.PodDisruptionBudget(
                f"{self._name}-pdb",
                metadata=self._metadata(self._workload),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    # One pod at a time: never blocks a node drain, never takes the service down.
                    max_unavailable=1,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._selector),
                    unhealthy_pod_eviction_policy="AlwaysAllow",
                ),
                opts=self._child,
            )

    def _network_policy(self) -> None:
        """Default deny, opened for the gateway, Prometheus, callers and declared egress."""
        args, service, observability = self._args, self._args.service, self._args.observability
        egress = [rule.model_dump(exclude_none=True) for rule in service.egress]
        otlp = observability.otlp_endpoint if observability else None
        if isinstance(otlp, str):
            # The observability namespace is allowed below; an endpoint elsewhere (a
            # collector in its own namespace, a vendor's) is allowed where it is.
            reached = kube.endpoint_egress(otlp, kube.OTLP_PORTS[0])
            if reached is not None and reached.get("namespace") != observability.namespace:
                egress.append(reached)
        k8s.networking.v1.NetworkPolicy(
            f"{self._name}-netpol",
            metadata=self._metadata(self._workload),
            spec=kube.network_policy_spec(
                self._selector,
                gateway_namespace=args.gateway.namespace
                if args.gateway and service.route
                else None,
                monitoring_namespace=observability.namespace if self._monitored else None,
                scraper_labels=observability.scraper_labels if self._monitored else None,
                admin_port_name=self._admin_port_name,
                callers=args.callers,
                client_namespaces=args.client_namespaces,
                egress=egress,
                otlp_namespace=(
                    observability.namespace
                    if observability and observability.otlp_endpoint
                    else None
                ),
            ),
            opts=self._child,
        )

    def _monitoring(self) -> None:
        """ServiceMonitor per track; one dashboard and one set of alerts per service (the
        stable track's), covering both tracks."""
        args, service, observability = self._args, self._args.service, self._args.observability
        assert observability is not None
        monitor_labels = kube.monitoring_labels(observability.monitor_labels)
        k8s.apiextensions.CustomResource(
            f"{self._name}-servicemonitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=self._metadata(self._workload, monitor_labels),
            spec={
                "selector": {"matchLabels": self._selector},
                "endpoints": [
                    {"port": self._admin_port_name, "path": "/metrics", "interval": "30s"}
                ],
            },
            opts=self._child,
        )
        if args.track != "stable":
            return
        namespace = pulumi.Output.from_input(args.namespace)
        k8s.apiextensions.CustomResource(
            f"{self._name}-alerts",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=self._metadata(self._workload, monitor_labels),
            spec=namespace.apply(
                lambda ns: telemetry.service_rules(
                    service.name,
                    ns,
                    telemetry.service_traffic(service, ns),
                    observability.availability_slo,
                )
            ),
            opts=self._child,
        )
        k8s.core.v1.ConfigMap(
            f"{self._name}-dashboard",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{self._workload}-dashboard",
                namespace=args.namespace,
                labels={**self._labels, telemetry.DASHBOARD_LABEL[0]: telemetry.DASHBOARD_LABEL[1]},
                annotations={"grafana_folder": "go-platform"},
            ),
            data={
                f"{self._workload}.json": namespace.apply(
                    lambda ns: json.dumps(
                        telemetry.service_dashboard(
                            service.name, ns, telemetry.service_traffic(service, ns)
                        ),
                        indent=1,
                    )
                )
            },
            opts=self._child,
        )

    def _route(self, k8s_service: k8s.core.v1.Service) -> None:
        """The route's Certificate and middlewares, and its IngressRoute."""
        args, route = self._args, self._args.service.route
        assert route is not None
        assert args.gateway is not None
        parts = route_parts(
            self._name,
            route=route,
            gateway=args.gateway,
            namespace=args.namespace,
            object_name=self._workload,
            labels=self._labels,
            opts=self._child,
            extra_middlewares=args.route_middlewares,
        )
        k8s.apiextensions.CustomResource(
            f"{self._name}-ingressroute",
            api_version="traefik.io/v1alpha1",
            kind="IngressRoute",
            metadata=self._metadata(self._workload),
            spec={
                "entryPoints": [args.gateway.entry_point],
                "routes": [
                    {
                        "kind": "Rule",
                        "match": kube.route_match(route.host, route.path_prefix),
                        "middlewares": parts.middlewares,
                        "services": [backend(k8s_service.metadata.name, route)],
                    }
                ],
                "tls": parts.tls,
            },
            opts=child_options(self, self._opts, depends_on=parts.depends_on),
        )

    def _build_image(
        self, name: str, args: GoServiceStackArgs, child: pulumi.ResourceOptions
    ) -> tuple[pulumi.Output[str], str]:
        """Build and push the service image; the Deployment runs it by digest."""
        # Imported here, by the stacks that build: loading the docker SDK costs every run of
        # the program about 0.1 s (docs/PERFORMANCE.md, eighth round).
        import pulumi_docker as docker

        build = args.service.build
        assert build is not None
        tag = build.tag or args.environment
        build_args: dict[str, pulumi.Input[str]] = dict(build.args)
        for variable, value in args.module_env.items():
            build_args.setdefault(variable, value)
        build_args.setdefault("VERSION", tag)
        if args.vulnerability_gate is not None:
            # Before the image is built, on every preview and update that would build it.
            gate = pulumi.ResourceHook(
                f"{name}-vulncheck",
                vulnerability_hook(Path(build.context), args.vulnerability_gate),
                pulumi.ResourceHookOptions(on_dry_run=True),
            )
            child = pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    hooks=pulumi.ResourceHookBinding(before_create=[gate], before_update=[gate])
                ),
            )
        image = docker.Image(
            f"{name}-image",
            image_name=f"{build.repository}:{tag}",
            build=docker.DockerBuildArgs(
                context=build.context,
                dockerfile=f"{build.context}/{build.dockerfile}",
                target=build.target,
                platform=build.platform,
                args=build_args,
            ),
            opts=child,
        )
        return image.repo_digest, tag

    def _platform_env(
        self, args: GoServiceStackArgs, version: str, secret: k8s.core.v1.Secret | None
    ) -> list[k8s.core.v1.EnvVarArgs]:
        """The variables the Go service contract defines, then the secret ones."""
        service = args.service
        plain = {
            "PORT": str(service.port),
            "GOMEMLIMIT": kube.go_memory_limit(service.resources.limits.memory),
            "SHUTDOWN_DELAY": f"{kube.SHUTDOWN_DELAY_SECONDS}s",
            "SHUTDOWN_TIMEOUT": f"{kube.SHUTDOWN_TIMEOUT_SECONDS}s",
            "OTEL_SERVICE_NAME": service.name,
        }
        if service.admin_port:
            plain["ADMIN_PORT"] = str(service.admin_port)
        env = [
            k8s.core.v1.EnvVarArgs(
                name="POD_NAME",
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="metadata.name")
                ),
            ),
            *(k8s.core.v1.EnvVarArgs(name=key, value=value) for key, value in plain.items()),
            k8s.core.v1.EnvVarArgs(
                name="OTEL_RESOURCE_ATTRIBUTES",
                value=pulumi.Output.concat(
                    "service.namespace=",
                    args.namespace,
                    f",service.version={version},deployment.environment.name={args.environment}",
                    ",k8s.namespace.name=",
                    args.namespace,
                    f",k8s.pod.name=$(POD_NAME),go-platform.track={args.track}",
                ),
            ),
        ]
        if args.observability and args.observability.otlp_endpoint is not None:
            # Our endpoints are gRPC; the OTLP default protocol is http/protobuf.
            env += [
                k8s.core.v1.EnvVarArgs(
                    name="OTEL_EXPORTER_OTLP_ENDPOINT", value=args.observability.otlp_endpoint
                ),
                k8s.core.v1.EnvVarArgs(name="OTEL_EXPORTER_OTLP_PROTOCOL", value="grpc"),
            ]
        if secret is not None:
            env += [
                k8s.core.v1.EnvVarArgs(
                    name=key,
                    value_from=k8s.core.v1.EnvVarSourceArgs(
                        secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                            name=secret.metadata.name, key=key
                        )
                    ),
                )
                for key in sorted(args.secret_env)
            ]
        return env
