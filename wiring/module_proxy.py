"""The module proxy layer: ModuleProxy (Athens), the GOPROXY and GONOSUMDB of image builds."""

from __future__ import annotations

from dataclasses import replace

from components.module_proxy import ModuleProxy, ModuleProxyArgs
from wiring.context import Platform
from wiring.secrets import aws_keys, secret_values


def setup_module_proxy(platform: Platform) -> Platform:
    settings = platform.settings
    proxy_settings = settings.module_proxy
    if not proxy_settings.enabled:
        url = proxy_settings.url
        return replace(platform, build_module_env={"GOPROXY": url} if url else {})
    credentials = proxy_settings.credentials
    proxy = ModuleProxy(
        "module-proxy",
        ModuleProxyArgs(
            settings=proxy_settings,
            environment=settings.environment,
            namespace=platform.namespaces[proxy_settings.namespace].metadata.name,
            host=settings.module_proxy_host,
            gateway=platform.the_gateway().binding(proxy_settings.namespace),
            observability=platform.watched,
            credentials=secret_values(
                {"netrc": credentials.netrc_secret, "ssh-key": credentials.ssh_key_secret}
            ),
            secret_env={
                **(
                    aws_keys(proxy_settings.storage.s3)
                    if proxy_settings.storage.type == "s3"
                    else {}
                ),
                **secret_values(
                    {"ATHENS_REDIS_PASSWORD": proxy_settings.single_flight.password_secret}
                ),
            },
        ),
    )
    return replace(platform, module_proxy=proxy, build_module_env=proxy.build_env)
