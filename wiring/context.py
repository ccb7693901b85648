"""The frozen context the layers pass along: the settings, and what each layer made."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.go_service import ObservabilityBinding
from components.module_proxy import ModuleProxy
from components.observability import ObservabilityStack
from components.traefik_gateway import TraefikGateway
from go_platform_core.config import PlatformSettings
from go_platform_core.telemetry import Endpoints


@dataclass(frozen=True)
class Platform:
    """What the layers share. `foundation` sets the first four fields; each later layer
    adds its own and returns a new context."""

    settings: PlatformSettings
    namespaces: Mapping[str, k8s.core.v1.Namespace]
    """Namespaces the program creates, by name."""
    first: pulumi.ResourceOptions
    """Options of the platform's first components: after the namespaces."""
    endpoints: Endpoints
    """Where the observability stack is reached, known from config alone."""
    gateway: TraefikGateway | None = None
    observability: ObservabilityStack | None = None
    watched: ObservabilityBinding | None = None
    """How workloads are wired to observability; None when it is off."""
    module_proxy: ModuleProxy | None = None
    build_module_env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Build arguments of image builds: the module proxy's `GOPROXY` and `GONOSUMDB`, or
    the `GOPROXY` the config names."""
    services: Mapping[str, Mapping[str, pulumi.Input[Any]]] = field(default_factory=dict)
    """The outputs of each service, by service name."""

    @property
    def environment(self) -> str:
        return self.settings.environment

    def the_gateway(self) -> TraefikGateway:
        """The gateway; the `gateway` layer runs before every layer that asks."""
        if self.gateway is None:
            raise RuntimeError("the gateway layer has not run")
        return self.gateway

    def the_observability(self) -> ObservabilityStack:
        """The observability stack; its layer runs before every layer that asks."""
        if self.observability is None:
            raise RuntimeError("the observability layer has not run")
        return self.observability
