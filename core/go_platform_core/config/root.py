"""The root model: a stack's whole configuration, composed of the domains' models."""

from __future__ import annotations

from pydantic import Field

from go_platform_core.config.base import CamelModel, Environment
from go_platform_core.config.crds import CrdSettings
from go_platform_core.config.gateway import GatewaySettings
from go_platform_core.config.module_proxy import ModuleProxySettings
from go_platform_core.config.observability import ObservabilitySettings
from go_platform_core.config.services import ServiceSettings
from go_platform_core.config.types import DnsLabel, DomainName
from go_platform_core.config.vulnerability_gate import VulnerabilityGateSettings


class PlatformSettings(CamelModel):
    environment: Environment = Field(
        description="Which profile supplies the defaults.",
        json_schema_extra={"default_text": "the stack name"},
    )
    domain: DomainName = Field(description="Every route host is this name or below it.")
    namespace: DnsLabel = Field(
        "apps",
        description="Namespace the services run in: one of their own (no other part's), not "
        "`default` or `kube-*`.",
    )
    gateway: GatewaySettings = Field(description="How services reach and use the gateway.")
    module_proxy: ModuleProxySettings = Field(
        default_factory=ModuleProxySettings, description="Go module proxy for builds."
    )
    observability: ObservabilitySettings = Field(description="Metrics and traces.")
    crds: CrdSettings = Field(description="Upstream CustomResourceDefinitions.")
    services: list[ServiceSettings] = Field(
        default_factory=list, description="The Go services to deploy."
    )
    vulnerability_gate: VulnerabilityGateSettings = Field(
        default_factory=VulnerabilityGateSettings,
        description="The govulncheck gate every image build passes first.",
    )
    config_namespaces: list[DnsLabel] = Field(
        default_factory=list,
        description=(
            "Config namespaces of your own that your additions to the program read; keys under"
            " any other namespace the program does not read are refused as likely typos."
        ),
    )

    def callers(self, name: str) -> list[str]:
        """Services of this stack that declare egress to the service `name`."""
        return sorted(s.name for s in self.services if any(r.service == name for r in s.egress))

    def secret_refs(self) -> list[tuple[str, str]]:
        """Every secret config key the settings name, with the key path that names it."""
        refs = [
            (f"services[{i}].secretEnv.{env}", key)
            for i, service in enumerate(self.services)
            for env, key in service.secret_env.items()
        ]
        dns01 = self.gateway.tls.dns01
        optional = [("gateway.tls.dns01.apiTokenSecret", dns01 and dns01.api_token_secret)]
        if self.module_proxy.enabled:
            proxy = self.module_proxy
            s3 = proxy.storage.s3 if proxy.storage.type == "s3" else None
            optional += [
                ("moduleProxy.credentials.netrcSecret", proxy.credentials.netrc_secret),
                ("moduleProxy.credentials.sshKeySecret", proxy.credentials.ssh_key_secret),
                ("moduleProxy.singleFlight.passwordSecret", proxy.single_flight.password_secret),
                ("moduleProxy.storage.s3.accessKeyIdSecret", s3 and s3.access_key_id_secret),
                (
                    "moduleProxy.storage.s3.secretAccessKeySecret",
                    s3 and s3.secret_access_key_secret,
                ),
            ]
        observability = self.observability
        if (
            observability.install
            and observability.storage.type == "s3"
            and observability.storage.s3
        ):
            s3 = observability.storage.s3
            optional += [
                ("observability.storage.s3.accessKeyIdSecret", s3.access_key_id_secret),
                ("observability.storage.s3.secretAccessKeySecret", s3.secret_access_key_secret),
            ]
        if observability.install:
            optional.append(
                ("observability.alertmanagerConfigSecret", observability.alertmanager_config_secret)
            )
        return refs + [(path, key) for path, key in optional if key]

    @property
    def module_proxy_host(self) -> str:
        """External host of the module proxy."""
        return self.module_proxy.host or f"goproxy.{self.domain}"

    @property
    def grafana_host(self) -> str:
        """Host Grafana is served on."""
        return self.observability.grafana_host or f"grafana.{self.domain}"

    @property
    def dashboard_host(self) -> str:
        """Host the Traefik dashboard is served on."""
        return self.gateway.dashboard.host or f"traefik.{self.domain}"
