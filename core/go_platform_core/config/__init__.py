"""Typed, validated stack configuration: the user's interface to go-platform.

Stack files set keys in the `go-platform` config namespace, camelCase. `load_settings`
turns them into frozen pydantic models in three steps:

1. pick the environment (the `environment` key, else the stack name) and its profile;
2. lay the profile's defaults under what the stack file says (the stack file wins);
3. validate shapes and types (pydantic), with the rules on which keys are set
   (`services.presence_problems`); then the rules on values (`rules.rule_problems`).

Keys under a namespace nothing of go-platform reads are problems too, so a misspelt
`go-platform:` is never silently ignored. Every problem names the key path a user would
pass to `pulumi config set --path` (`services[0].resources.limits.memory`), and never
shows a value that may be a secret. All problems are reported at once, as one
`ConfigError`, before the program registers any resource.

The package, one module per part (import from `go_platform_core.config`, which re-exports
every public name):

- `base`: namespaces, environments, the base model, the stack's config as received;
- `types`: value types (DNS names, quantities, durations...) with their rules and formats;
- one module per domain, each with its models and the rules on them: `services`,
  `gateway`, `module_proxy`, `observability`, `crds`, `vulnerability_gate`, and
  `common` for the models several share;
- `root`: `PlatformSettings`, composed of the domains' models;
- `profiles`: what each environment implies; `rules`: the rules that span domains;
- `loading`: `load_settings`, `declared_environment`; `errors`: problems and how they read.
"""

from __future__ import annotations

from importlib import import_module

# Every public name, by the module that defines it. A module is imported when one of its names
# is first asked for: the policy pack needs `base` and `errors` only, and importing every model
# cost its start 0.13 s, which each preview and update with the pack waits for
# (docs/PERFORMANCE.md, eighth round). tests/test_config.py holds every name to its module.
_NAMES_BY_MODULE: dict[str, tuple[str, ...]] = {
    "base": (
        "CANARY_STATE_NAMESPACE",
        "CONFIG_NAMESPACE",
        "ENVIRONMENTS",
        "INT32_MAX",
        "PROGRAM_NAMESPACES",
        "PROVIDER_NAMESPACES",
        "RULES",
        "CamelModel",
        "Environment",
        "StackConfig",
        "field_aliases",
        "model_in",
        "qualified_key",
    ),
    "common": (
        "ChartSource",
        "ObjectStorageSettings",
        "ResourceAmounts",
        "Resources",
    ),
    "crds": ("CrdSettings",),
    "errors": (
        "ConfigError",
        "Problem",
        "key_path",
        "value_kind",
    ),
    "gateway": (
        "DEFAULT_MIDDLEWARES",
        "MIDDLEWARE_NAMES",
        "CertManagerSettings",
        "CircuitBreakerSettings",
        "DashboardSettings",
        "Dns01Settings",
        "GatewaySettings",
        "MiddlewareSettings",
        "RateLimitSettings",
        "RetrySettings",
        "TlsSettings",
    ),
    "loading": ("declared_environment", "load_settings"),
    "module_proxy": (
        "ModuleProxyCredentials",
        "ModuleProxyS3Settings",
        "ModuleProxySettings",
        "ModuleProxyStorageSettings",
        "SingleFlightSettings",
    ),
    "observability": (
        "ObservabilityCharts",
        "ObservabilityS3Settings",
        "ObservabilitySettings",
        "ObservabilityStorageSettings",
        "RetentionSettings",
    ),
    "profiles": (
        "LOCAL_CRD_SOURCES",
        "PROFILES",
        "Profile",
        "merge_defaults",
    ),
    "root": ("PlatformSettings",),
    "services": (
        "RESERVED_ENV",
        "AutoscalingSettings",
        "BuildSettings",
        "CanaryAnalysisSettings",
        "CanaryHeaderSettings",
        "CanarySettings",
        "EgressRule",
        "RouteSettings",
        "ServiceSettings",
    ),
    "types": (
        "MAX_SERVICE_NAME",
        "Cidr",
        "ConfigKey",
        "CpuQuantity",
        "DnsLabel",
        "DomainName",
        "Duration",
        "EnvName",
        "Format",
        "ImageRef",
        "LabelKey",
        "LabelValue",
        "MemoryQuantity",
        "ModulePattern",
        "Number",
        "Port",
        "ServiceName",
        "Whole",
        "go_pattern_problem",
        "shown_key",
    ),
    "vulnerability_gate": ("VulnerabilityGateSettings",),
}
_MODULE_OF = {name: module for module, names in _NAMES_BY_MODULE.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> object:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # asked once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
