"""go-platform: read the stack's config once, build the platform layer by layer, export.

Invalid config stops the program here, with every problem listed, before any resource
is registered. The layers (`wiring/`) run in order, each taking the frozen context the
ones before it filled in: namespaces and CRDs (only custom resources wait for the
definitions); the gateway (it needs the OTLP endpoint, which follows from config alone);
the observability stack (Grafana routes through the gateway); the module proxy; then every
service, each wired to all three; then the stack outputs. Each layer's resources go to the
engine before the next layer is built (`handed_over`).
"""

from __future__ import annotations

import sys

import pulumi

from go_platform_core.config import ConfigError, PlatformSettings, load_settings
from wiring import handed_over
from wiring.exports import export_outputs
from wiring.foundation import setup_foundation
from wiring.gateway import setup_gateway
from wiring.module_proxy import setup_module_proxy
from wiring.observability import setup_observability
from wiring.secrets import read_stack_config
from wiring.services import setup_services


async def build(settings: PlatformSettings) -> None:
    platform = setup_foundation(settings)
    for layer in (setup_gateway, setup_observability, setup_module_proxy, setup_services):
        await handed_over()
        platform = layer(platform)
    export_outputs(platform)


# The exit status by which the SDK's executor tells a Python language host that the
# program has reported its error itself: the engine then adds no "an unhandled error
# occurred" line after it (it does for a `pulumi.RunError`, whose status is 1).
ALREADY_REPORTED = 32

try:
    SETTINGS = load_settings(read_stack_config(), stack=pulumi.get_stack())
except ConfigError as error:
    pulumi.log.error(str(error))  # sent before it returns: no resource to wait for
    sys.exit(ALREADY_REPORTED)
pulumi.run(lambda: build(SETTINGS))
