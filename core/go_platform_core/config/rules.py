"""Rules that span domains: each domain's rules in turn, then what no one domain can see
(duplicate service names, secrets that are named but not set, or not set as secrets)."""

from __future__ import annotations

from go_platform_core.config.base import StackConfig, qualified_key
from go_platform_core.config.crds import crd_problems
from go_platform_core.config.errors import Problem
from go_platform_core.config.gateway import gateway_problems
from go_platform_core.config.module_proxy import module_proxy_problems
from go_platform_core.config.observability import observability_problems
from go_platform_core.config.profiles import Profile
from go_platform_core.config.root import PlatformSettings
from go_platform_core.config.services import service_problems
from go_platform_core.config.types import shown_key


def rule_problems(
    settings: PlatformSettings, profile: Profile, config: StackConfig
) -> list[Problem]:
    """Every rule on values, in a fixed order: the gateway, the module proxy, observability,
    the CRDs, each service, then the secrets the settings name."""
    problems = gateway_problems(settings.gateway, settings.domain)
    problems += module_proxy_problems(settings.module_proxy, settings.domain)
    problems += observability_problems(settings.observability, settings.domain)
    if settings.crds.install:
        problems += crd_problems(settings.crds, config.project_dir)
    names = [s.name for s in settings.services]
    for i, service in enumerate(settings.services):
        problems += service_problems(
            f"services[{i}]",
            service,
            environment=settings.environment,
            domain=settings.domain,
            gateway=settings.gateway,
            profile=profile,
            names=names,
        )
        if names.index(service.name) != i:
            first = names.index(service.name)
            problems.append(
                Problem(
                    f"services[{i}].name",
                    f"duplicate service name {service.name!r} (also services[{first}])",
                )
            )
    for path, key in settings.secret_refs():
        qualified = qualified_key(key)
        shown = shown_key(key)
        command_key = key if shown.startswith("'") else "<key>"
        if qualified not in config.values:
            problems.append(
                Problem(
                    path,
                    f"secret config key {shown} is not set; run "
                    f"`pulumi config set --secret {command_key} <value>`",
                )
            )
        elif qualified not in config.secret_keys:
            problems.append(
                Problem(
                    path,
                    f"config key {shown} is not a secret; set it again with "
                    f"`pulumi config set --secret {command_key} <value>`",
                )
            )
    return problems
