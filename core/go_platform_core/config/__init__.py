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
- `loading`: `load_settings`; `errors`: problems and how they read.
"""

from go_platform_core.config.base import (
    CANARY_STATE_NAMESPACE,
    CONFIG_NAMESPACE,
    ENVIRONMENTS,
    INT32_MAX,
    PROGRAM_NAMESPACES,
    PROVIDER_NAMESPACES,
    RULES,
    CamelModel,
    Environment,
    StackConfig,
    field_aliases,
    model_in,
    qualified_key,
)
from go_platform_core.config.common import (
    ChartSource,
    ObjectStorageSettings,
    ResourceAmounts,
    Resources,
)
from go_platform_core.config.crds import (
    CrdSettings,
)
from go_platform_core.config.errors import (
    ConfigError,
    Problem,
    key_path,
)
from go_platform_core.config.gateway import (
    DEFAULT_MIDDLEWARES,
    MIDDLEWARE_NAMES,
    CertManagerSettings,
    CircuitBreakerSettings,
    DashboardSettings,
    Dns01Settings,
    GatewaySettings,
    MiddlewareSettings,
    RateLimitSettings,
    RetrySettings,
    TlsSettings,
)
from go_platform_core.config.loading import (
    load_settings,
)
from go_platform_core.config.module_proxy import (
    ModuleProxyCredentials,
    ModuleProxyS3Settings,
    ModuleProxySettings,
    ModuleProxyStorageSettings,
    SingleFlightSettings,
)
from go_platform_core.config.observability import (
    ObservabilityCharts,
    ObservabilityS3Settings,
    ObservabilitySettings,
    ObservabilityStorageSettings,
    RetentionSettings,
)
from go_platform_core.config.profiles import (
    LOCAL_CRD_SOURCES,
    PROFILES,
    Profile,
    merge_defaults,
)
from go_platform_core.config.root import (
    PlatformSettings,
)
from go_platform_core.config.services import (
    RESERVED_ENV,
    AutoscalingSettings,
    BuildSettings,
    CanaryAnalysisSettings,
    CanaryHeaderSettings,
    CanarySettings,
    EgressRule,
    RouteSettings,
    ServiceSettings,
)
from go_platform_core.config.types import (
    MAX_SERVICE_NAME,
    Cidr,
    ConfigKey,
    CpuQuantity,
    DnsLabel,
    DomainName,
    Duration,
    EnvName,
    Format,
    ImageRef,
    LabelKey,
    LabelValue,
    MemoryQuantity,
    ModulePattern,
    Number,
    Port,
    ServiceName,
    Whole,
    go_pattern_problem,
    shown_key,
)
from go_platform_core.config.vulnerability_gate import (
    VulnerabilityGateSettings,
)

__all__ = [
    "CANARY_STATE_NAMESPACE",
    "CONFIG_NAMESPACE",
    "DEFAULT_MIDDLEWARES",
    "ENVIRONMENTS",
    "INT32_MAX",
    "LOCAL_CRD_SOURCES",
    "MAX_SERVICE_NAME",
    "MIDDLEWARE_NAMES",
    "PROFILES",
    "PROGRAM_NAMESPACES",
    "PROVIDER_NAMESPACES",
    "RESERVED_ENV",
    "RULES",
    "AutoscalingSettings",
    "BuildSettings",
    "CamelModel",
    "CanaryAnalysisSettings",
    "CanaryHeaderSettings",
    "CanarySettings",
    "CertManagerSettings",
    "ChartSource",
    "Cidr",
    "CircuitBreakerSettings",
    "ConfigError",
    "ConfigKey",
    "CpuQuantity",
    "CrdSettings",
    "DashboardSettings",
    "Dns01Settings",
    "DnsLabel",
    "DomainName",
    "Duration",
    "EgressRule",
    "EnvName",
    "Environment",
    "Format",
    "GatewaySettings",
    "ImageRef",
    "LabelKey",
    "LabelValue",
    "MemoryQuantity",
    "MiddlewareSettings",
    "ModulePattern",
    "ModuleProxyCredentials",
    "ModuleProxyS3Settings",
    "ModuleProxySettings",
    "ModuleProxyStorageSettings",
    "Number",
    "ObjectStorageSettings",
    "ObservabilityCharts",
    "ObservabilityS3Settings",
    "ObservabilitySettings",
    "ObservabilityStorageSettings",
    "PlatformSettings",
    "Port",
    "Problem",
    "Profile",
    "RateLimitSettings",
    "ResourceAmounts",
    "Resources",
    "RetentionSettings",
    "RetrySettings",
    "RouteSettings",
    "ServiceName",
    "ServiceSettings",
    "SingleFlightSettings",
    "StackConfig",
    "TlsSettings",
    "VulnerabilityGateSettings",
    "Whole",
    "field_aliases",
    "go_pattern_problem",
    "key_path",
    "load_settings",
    "merge_defaults",
    "model_in",
    "qualified_key",
    "shown_key",
]
