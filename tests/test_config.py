"""Stack configuration: the user's interface.

Invariants guarded:
- environment comes from `environment`, else from the stack name; neither is an error.
- each environment's profile supplies defaults; anything the stack file sets wins.
- every bad input fails with one line per problem naming its exact key path, all
  problems at once (rules on which keys are set come with type errors), and nothing else
  (no traceback, no partial settings).
- integers are numbers, never booleans, and fit the Kubernetes API's int32; text is text:
  a number or boolean where text belongs is refused, never converted.
- label keys and values are ones the API takes; module path patterns are ones Go's
  `path.Match` takes.
- a key under a namespace nothing of the project reads is an error with a suggestion,
  unless a setting names it; the namespaces of the program's providers are accepted.
- secrets: `secretEnv` names keys that must be set, and set as secrets; a settings key
  holding a secret is refused; secret keys a setting names are never mistaken for unknown
  settings, and any other secret key of ours is an unknown key, as a plain one is; values
  that may be secrets are never echoed in an error.
- a secret key no setting names is reported only once the settings have their shapes: a
  misshapen setting may have been meant to name it.
- what two parts would both take is refused at one key: a service named as another's canary
  track, a namespace two parts would create (or one of the cluster's own), a host and path
  two routes would serve.
- URLs carrying a user or password are refused unshown; so are unquoted YAML dates where
  text belongs, NaN and infinity, and quantities beyond any node's; image tags are Docker's.
- JSON Python cannot decode (numbers of 4,300 digits, brackets 100,000 deep) is reported at
  its key; long values are shown cut, never whole.
- random configs either validate or fail with ConfigError, never another exception, and
  what validates obeys the rules above.
- the package's names are its modules' own, each loaded when first asked for: the policy
  pack's imports load none of the models.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from go_platform.canary import STATE_NAMESPACE
from go_platform_core.config import (
    CANARY_STATE_NAMESPACE,
    CONFIG_NAMESPACE,
    INT32_MAX,
    PROFILES,
    PROGRAM_NAMESPACES,
    PROVIDER_NAMESPACES,
    ConfigError,
    StackConfig,
    declared_environment,
    go_pattern_problem,
    key_path,
    load_settings,
    merge_defaults,
)
from tests.conftest import OMIT, REPO, service_config, stack_config


def config_of(secrets=None, **keys) -> StackConfig:
    """`stack_config`, where a key with a namespace (`kubernetes:context`) is set as is."""
    ours = {k: v for k, v in keys.items() if ":" not in k}
    config = stack_config(secrets=secrets, **ours)
    others = {k: v if isinstance(v, str) else json.dumps(v) for k, v in keys.items() if ":" in k}
    return StackConfig({**config.values, **others}, config.secret_keys)


def load(stack="local", secrets=None, **keys):
    return load_settings(config_of(secrets, **keys), stack=stack)


def problems_of(stack="local", secrets=None, **keys) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(stack, secrets, **keys)
    return [str(p) for p in caught.value.problems]


# --- environments and profiles ----------------------------------------------------------


@pytest.mark.parametrize("stack", ["local", "dev", "staging", "prod"])
def test_environment_defaults_from_the_stack_name(stack):
    assert load(stack, domain="example.com").environment == stack


def test_environment_key_wins_over_the_stack_name():
    assert load("pr-123", environment="dev", domain="example.com").environment == "dev"


def test_a_stack_name_that_is_no_environment_needs_the_key():
    [problem] = problems_of("pr-123", domain="example.com")
    assert problem.startswith("go-platform:environment: is not set")


def test_the_declared_environment_is_read_without_validating_the_rest():
    """What picks the cluster for the driver's commands on the state alone: the key, else the
    stack's name, even in a config the program would refuse."""
    broken = {"go-platform:replicsa": "3"}
    assert declared_environment(StackConfig(broken), stack="local") == "local"
    named = StackConfig({**broken, "go-platform:environment": "local"})
    assert declared_environment(named, stack="pr-7") == "local"


@pytest.mark.parametrize(
    ("stack", "replicas", "limits"),
    [
        ("local", 1, {"cpu": "500m", "memory": "256Mi"}),
        ("dev", 1, {"cpu": "500m", "memory": "256Mi"}),
        ("staging", 2, {"cpu": "1", "memory": "512Mi"}),
        ("prod", 3, {"cpu": "1", "memory": "512Mi"}),
    ],
)
def test_profiles_supply_service_defaults(stack, replicas, limits):
    service = load(stack, domain="example.com", services=[service_config()]).services[0]
    assert service.replicas == replicas
    assert service.resources.limits.model_dump() == limits


@pytest.mark.parametrize(
    ("stack", "issuer"),
    [
        ("local", "go-platform-ca"),
        ("dev", "go-platform-ca"),
        ("staging", "letsencrypt-staging"),
        ("prod", "letsencrypt"),
    ],
)
def test_profiles_pick_the_certificate_issuer(stack, issuer):
    assert load(stack, domain="example.com").gateway.tls.cluster_issuer_name == issuer


def test_stack_file_overrides_win_key_by_key():
    service = load(
        "prod",
        domain="example.com",
        gateway={"tls": {"issuer": "existing", "clusterIssuer": "corporate-ca"}},
        services=[service_config(replicas=5, resources={"limits": {"memory": "2Gi"}})],
    )
    assert service.gateway.tls.cluster_issuer_name == "corporate-ca"
    assert service.gateway.replicas == 3  # untouched gateway keys keep the prod profile
    assert service.services[0].replicas == 5
    assert service.services[0].resources.limits.memory == "2Gi"
    assert service.services[0].resources.limits.cpu == "1"  # the rest of the default stays


def test_local_needs_no_domain():
    assert load("local").domain == "go-platform.localhost"


def test_autoscaled_services_get_no_default_replicas():
    service = load(
        services=[service_config(autoscaling={"minReplicas": 1, "maxReplicas": 3})]
    ).services[0]
    assert service.replicas is None
    assert service.min_replicas == 1


def test_quantities_may_be_yaml_numbers():
    service = load(services=[service_config(resources={"limits": {"cpu": 2}})]).services[0]
    assert service.resources.limits.cpu == "2"


def test_quoted_text_is_kept_as_written():
    service = load(services=[service_config(env={"VERSION": "1.10", "DEBUG": "true"})]).services[0]
    assert service.env == {"VERSION": "1.10", "DEBUG": "true"}


def test_merge_defaults_keeps_given_values_and_wrong_types():
    assert merge_defaults({"a": {"b": 1, "c": 2}}, {"a": {"b": 9}}) == {"a": {"b": 9, "c": 2}}
    assert merge_defaults({"a": {"b": 1}}, {"a": "oops"}) == {"a": "oops"}
    assert merge_defaults({"a": 1}, ["not", "a", "mapping"]) == ["not", "a", "mapping"]


def test_prod_profile_requires_two_replicas():
    assert PROFILES["prod"].min_replicas == 2
    assert not PROFILES["prod"].mutable_tags_allowed


# --- bad input: one line each, naming the key -------------------------------------------

BAD = [
    # (description, stack, keys, expected line, or lines where one mistake breaks two rules)
    (
        "zero replicas",
        "local",
        {"services": [service_config(replicas=0)]},
        "go-platform:services[0].replicas: must be at least 1 (got 0)",
    ),
    (
        "negative replicas",
        "local",
        {"services": [service_config(replicas=-2)]},
        "go-platform:services[0].replicas: must be at least 1 (got -2)",
    ),
    (
        "replicas not a number",
        "local",
        {"services": [service_config(replicas="three")]},
        "go-platform:services[0].replicas: must be a whole number (got 'three')",
    ),
    (
        "both image and build",
        "local",
        {"services": [service_config(build={"context": ".", "repository": "r.example.com/a"})]},
        "go-platform:services[0]: set exactly one of `image` (a pre-built reference) or `build` (a Docker build context)",
    ),
    (
        "neither image nor build",
        "local",
        {"services": [service_config(image=OMIT)]},
        "go-platform:services[0]: set exactly one of `image` (a pre-built reference) or `build` (a Docker build context)",
    ),
    (
        "invalid memory quantity",
        "local",
        {"services": [service_config(resources={"limits": {"memory": "12Gb"}})]},
        "go-platform:services[0].resources.limits.memory: '12Gb' is not a Kubernetes quantity (examples: 250m, 0.5, 128Mi, 1Gi)",
    ),
    (
        "memory in millibytes",
        "local",
        {"services": [service_config(resources={"requests": {"memory": "128m"}})]},
        "go-platform:services[0].resources.requests.memory: '128m' is below 1Mi (memory is in bytes: write 128Mi, not 128m)",
    ),
    (
        "invalid cpu quantity",
        "local",
        {"services": [service_config(resources={"requests": {"cpu": "half"}})]},
        "go-platform:services[0].resources.requests.cpu: 'half' is not a Kubernetes quantity (examples: 250m, 0.5, 128Mi, 1Gi)",
    ),
    (
        "cpu request above limit",
        "local",
        {
            "services": [
                service_config(resources={"requests": {"cpu": "2"}, "limits": {"cpu": "1"}})
            ]
        },
        "go-platform:services[0].resources.requests.cpu: 2 is above the limit 1",
    ),
    (
        "memory request above limit",
        "local",
        {"services": [service_config(resources={"requests": {"memory": "1Gi"}})]},
        "go-platform:services[0].resources.requests.memory: 1Gi is above the limit 256Mi",
    ),
    (
        "duplicate service names",
        "local",
        {"services": [service_config(), service_config(image="ghcr.io/acme/greeter:v2")]},
        "go-platform:services[1].name: duplicate service name 'greeter' (also services[0])",
    ),
    (
        "route host outside the domain",
        "local",
        {"services": [service_config(route={"host": "greeter.example.org"})]},
        "go-platform:services[0].route.host: 'greeter.example.org' is outside the domain 'go-platform.localhost'",
    ),
    (
        "route host that only ends like the domain",
        "prod",
        {"domain": "example.com", "services": [service_config(route={"host": "badexample.com"})]},
        "go-platform:services[0].route.host: 'badexample.com' is outside the domain 'example.com'",
    ),
    (
        "latest tag in staging",
        "staging",
        {
            "domain": "example.com",
            "services": [service_config(image="ghcr.io/acme/greeter:latest")],
        },
        "go-platform:services[0].image: 'ghcr.io/acme/greeter:latest' has no tag or the `latest` tag, which staging does not allow; pin a version tag or a digest",
    ),
    (
        "untagged image in prod",
        "prod",
        {"domain": "example.com", "services": [service_config(image="ghcr.io/acme/greeter")]},
        "go-platform:services[0].image: 'ghcr.io/acme/greeter' has no tag or the `latest` tag, which prod does not allow; pin a version tag or a digest",
    ),
    (
        "autoscaling min above max",
        "local",
        {"services": [service_config(autoscaling={"minReplicas": 5, "maxReplicas": 2})]},
        "go-platform:services[0].autoscaling.minReplicas: 5 is above maxReplicas 2",
    ),
    (
        "replicas beside autoscaling",
        "local",
        {
            "services": [
                service_config(replicas=2, autoscaling={"minReplicas": 2, "maxReplicas": 4})
            ]
        },
        "go-platform:services[0].replicas: remove it: with `autoscaling`, minReplicas and maxReplicas decide the pod count",
    ),
    (
        "one replica in prod",
        "prod",
        {"domain": "example.com", "services": [service_config(replicas=1)]},
        "go-platform:services[0].replicas: prod needs at least 2 replicas (got 1)",
    ),
    (
        "autoscaling floor of one in prod",
        "prod",
        {
            "domain": "example.com",
            "services": [service_config(autoscaling={"minReplicas": 1, "maxReplicas": 3})],
        },
        "go-platform:services[0].autoscaling.minReplicas: prod needs at least 2 replicas (got 1)",
    ),
    (
        "typo in a service key",
        "local",
        {"services": [service_config(replicsa=2)]},
        "go-platform:services[0].replicsa: unknown key (did you mean 'replicas'?)",
    ),
    (
        "typo in a top-level key",
        "local",
        {"domian": "example.com"},
        "go-platform:domian: unknown key (did you mean 'domain'?)",
    ),
    (
        "typo deep down",
        "local",
        {"services": [service_config(resources={"limits": {"memroy": "1Gi"}})]},
        "go-platform:services[0].resources.limits.memroy: unknown key (did you mean 'memory'?)",
    ),
    (
        "snake_case instead of camelCase",
        "local",
        {"services": [service_config(autoscaling={"min_replicas": 1, "maxReplicas": 2})]},
        [
            "go-platform:services[0].autoscaling.minReplicas: is required",
            "go-platform:services[0].autoscaling.min_replicas: unknown key (did you mean 'minReplicas'?)",
        ],
    ),
    (
        "unknown environment",
        "local",
        {"environment": "qa"},
        "go-platform:environment: must be one of local, dev, staging, prod (got 'qa')",
    ),
    (
        "service name with capitals",
        "local",
        {"services": [service_config(name="Greeter")]},
        "go-platform:services[0].name: 'Greeter' is not a service name (lower-case letters, digits, '-')",
    ),
    (
        "service name too long",
        "local",
        {"services": [service_config(name="a" * 41)]},
        f"go-platform:services[0].name: must be at most 40 characters (got '{'a' * 41}')",
    ),
    (
        "port out of range",
        "local",
        {"services": [service_config(port=70000)]},
        "go-platform:services[0].port: must be at most 65535 (got 70000)",
    ),
    (
        "admin port equal to port",
        "local",
        {"services": [service_config(port=8080, adminPort=8080)]},
        "go-platform:services[0].adminPort: must differ from `port` (8080)",
    ),
    (
        "bad image reference",
        "local",
        {"services": [service_config(image="ghcr.io/Acme/App:v1")]},
        "go-platform:services[0].image: 'ghcr.io/Acme/App:v1' is not an image reference (expected [registry/]repository[:tag][@sha256:digest], lower-case repository)",
    ),
    (
        "reserved env var",
        "local",
        {"services": [service_config(env={"PORT": "9000"})]},
        "go-platform:services[0].env.PORT: is set by go-platform; remove it",
    ),
    (
        "services not a list",
        "local",
        {"services": {"name": "greeter"}},
        "go-platform:services: must be a list (got a mapping)",
    ),
    (
        "egress to nothing",
        "local",
        {"services": [service_config(egress=[{"ports": [443]}])]},
        "go-platform:services[0].egress[0]: set exactly one of `service`, `namespace` or `cidr`",
    ),
    (
        "egress to an unknown service",
        "local",
        {"services": [service_config(egress=[{"service": "billing"}])]},
        "go-platform:services[0].egress[0].service: no service named 'billing' in this stack",
    ),
    (
        "egress to a bad CIDR",
        "local",
        {"services": [service_config(egress=[{"cidr": "10.0.0.1/8"}])]},
        "go-platform:services[0].egress[0].cidr: '10.0.0.1/8' is not a CIDR block (10.0.0.1/8 has host bits set)",
    ),
    (
        "bad env var name",
        "local",
        {"services": [service_config(env={"my-var": "x"})]},
        "go-platform:services[0].env.my-var: 'my-var' is not an environment variable name",
    ),
    # Booleans where integers belong: pydantic alone would read `true` as 1.
    (
        "boolean replicas",
        "local",
        {"services": [service_config(replicas=True)]},
        "go-platform:services[0].replicas: must be a number, not true; write the number itself (`2`)",
    ),
    (
        "boolean port",
        "local",
        {"services": [service_config(port=False)]},
        "go-platform:services[0].port: must be a number, not false; write the number itself (`2`)",
    ),
    (
        "boolean in a list of integers",
        "local",
        {"services": [service_config(egress=[{"cidr": "10.0.0.0/8", "ports": [443, True]}])]},
        "go-platform:services[0].egress[0].ports[1]: must be a number, not true; write the number itself (`2`)",
    ),
    (
        "boolean where a fraction belongs",
        "local",
        {"observability": {"availabilitySlo": True}},
        "go-platform:observability.availabilitySlo: must be a number, not true; write the number itself (`2`)",
    ),
    # Integers beyond the API's int32.
    (
        "replicas above int32",
        "local",
        {"services": [service_config(replicas=3_000_000_000)]},
        "go-platform:services[0].replicas: must be at most 2147483647, the largest number the Kubernetes API takes (got 3000000000)",
    ),
    (
        "gateway replicas one above int32",
        "local",
        {"gateway": {"replicas": INT32_MAX + 1}},
        "go-platform:gateway.replicas: must be at most 2147483647, the largest number the Kubernetes API takes (got 2147483648)",
    ),
    (
        "autoscaling maximum above int32",
        "local",
        {"services": [service_config(autoscaling={"minReplicas": 1, "maxReplicas": 2**40})]},
        "go-platform:services[0].autoscaling.maxReplicas: must be at most 2147483647, the largest number the Kubernetes API takes (got 1099511627776)",
    ),
    # Numbers and booleans where text belongs: converting them would change what was written.
    (
        "number as an env value",
        "local",
        {"services": [service_config(env={"VERSION": 1.10})]},
        'go-platform:services[0].env.VERSION: must be text, not a number; quote it so YAML keeps it as written (`"1.10"`, not `1.10`, which YAML reads as 1.1)',
    ),
    (
        "integer as an env value",
        "local",
        {"services": [service_config(env={"WORKERS": 4})]},
        'go-platform:services[0].env.WORKERS: must be text, not a number; quote it so YAML keeps it as written (`"1.10"`, not `1.10`, which YAML reads as 1.1)',
    ),
    (
        "boolean as an env value",
        "local",
        {"services": [service_config(env={"DEBUG": True})]},
        'go-platform:services[0].env.DEBUG: must be text, not a boolean; quote it so YAML keeps it as written (`"true"`)',
    ),
    (
        "mapping as an env value",
        "local",
        {"services": [service_config(env={"TOKEN": {"value": "s3cr3t"}})]},
        "go-platform:services[0].env.TOKEN: must be text, not a mapping",
    ),
    (
        "env as a list",
        "local",
        {"services": [service_config(env=["TOKEN=s3cr3t"])]},
        "go-platform:services[0].env: must be a mapping of keys to values (got a list)",
    ),
    (
        "number as a build argument",
        "local",
        {
            "services": [
                service_config(
                    image=OMIT,
                    build={"context": ".", "repository": "r.example.com/a", "args": {"V": 2.0}},
                )
            ]
        },
        'go-platform:services[0].build.args.V: must be text, not a number; quote it so YAML keeps it as written (`"1.10"`, not `1.10`, which YAML reads as 1.1)',
    ),
    (
        "number as a label value",
        "local",
        {"observability": {"monitorLabels": {"release": 1.10}}},
        'go-platform:observability.monitorLabels.release: must be text, not a number; quote it so YAML keeps it as written (`"1.10"`, not `1.10`, which YAML reads as 1.1)',
    ),
    # Labels the API would refuse at apply.
    (
        "label value with a space and a bang",
        "local",
        {"observability": {"monitorLabels": {"release": "kube prometheus!"}}},
        "go-platform:observability.monitorLabels.release: 'kube prometheus!' is not a Kubernetes label value: empty, or at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit; write e.g. 'kube-prometheus'",
    ),
    (
        "label value of 64 characters",
        "local",
        {"observability": {"monitorLabels": {"team": "a" * 64}}},
        f"go-platform:observability.monitorLabels.team: '{'a' * 64}' is not a Kubernetes label value: empty, or at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit; write e.g. '{'a' * 63}'",
    ),
    (
        "label value ending in a dash",
        "local",
        {"observability": {"monitorLabels": {"team": "platform-"}}},
        "go-platform:observability.monitorLabels.team: 'platform-' is not a Kubernetes label value: empty, or at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit; write e.g. 'platform'",
    ),
    (
        "label key with a space",
        "local",
        {"observability": {"monitorLabels": {"my release": "a"}}},
        "go-platform:observability.monitorLabels.my release: 'my release' is not a Kubernetes label key: a name of at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit, optionally after a DNS name and `/` (`release`, `example.com/team`)",
    ),
    (
        "label key with an upper-case prefix",
        "local",
        {"observability": {"monitorLabels": {"Example.com/team": "a"}}},
        "go-platform:observability.monitorLabels.Example.com/team: 'Example.com/team' is not a Kubernetes label key: a name of at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit, optionally after a DNS name and `/` (`release`, `example.com/team`)",
    ),
    (
        "label key with two slashes",
        "local",
        {"observability": {"monitorLabels": {"example.com/a/b": "a"}}},
        "go-platform:observability.monitorLabels.example.com/a/b: 'example.com/a/b' is not a Kubernetes label key: a name of at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit, optionally after a DNS name and `/` (`release`, `example.com/team`)",
    ),
    # Module path patterns Go's path.Match refuses, which would never match in Athens.
    (
        "unclosed class in a private pattern",
        "local",
        {"moduleProxy": {"private": ["github.com/acme/*", "github.com/acme/["]}},
        "go-platform:moduleProxy.private[1]: 'github.com/acme/[' is not a Go path pattern: a `[` class is never closed with `]` (write `\\[` for a literal bracket)",
    ),
    (
        "trailing backslash in a private pattern",
        "local",
        {"moduleProxy": {"private": ["github.com/acme\\"]}},
        "go-platform:moduleProxy.private[0]: 'github.com/acme\\\\' is not a Go path pattern: it ends in a lone `\\` (write `\\\\` for a backslash)",
    ),
    (
        "range without an end in a private pattern",
        "local",
        {"moduleProxy": {"private": ["github.com/team-[a-]/*"]}},
        "go-platform:moduleProxy.private[0]: 'github.com/team-[a-]/*' is not a Go path pattern: a range in `[...]` has no upper end (`a-z`)",
    ),
    # Keys under namespaces nothing reads: the stack would deploy without them.
    (
        "mistyped namespace of the services",
        "local",
        {"go_platform:services": [service_config()]},
        "go_platform:services: unknown namespace 'go_platform' (did you mean 'go-platform'?)",
    ),
    (
        "mistyped namespace of a required key",
        "prod",
        {"go-platfrom:domain": "example.com"},
        [
            "go-platfrom:domain: unknown namespace 'go-platfrom' (did you mean 'go-platform'?)",
            "go-platform:domain: is required",
        ],
    ),
    (
        "mistyped provider namespace",
        "local",
        {"kubernets:context": "kind-dev"},
        "kubernets:context: unknown namespace 'kubernets' (did you mean 'kubernetes'?)",
    ),
    (
        "a namespace no setting names",
        "local",
        {"vault:token": "t"},
        "vault:token: unknown namespace 'vault' (the program reads go-platform, go-platform-canary, pulumi, kubernetes, docker, random; a key elsewhere must be named by a setting, as `secretEnv` names secrets, or its namespace listed in `go-platform:configNamespaces`)",
    ),
    # Rules on which keys are set are reported with the type errors, not after them.
    (
        "both image and an incomplete build",
        "local",
        {"services": [service_config(build={"context": "."})]},
        [
            "go-platform:services[0]: set exactly one of `image` (a pre-built reference) or `build` (a Docker build context)",
            "go-platform:services[0].build.repository: is required",
        ],
    ),
    (
        "a vulnerability threshold that is no severity",
        "local",
        {"vulnerabilityGate": {"failOn": "severe"}},
        "go-platform:vulnerabilityGate.failOn: must be one of 'low', 'medium', 'high' or "
        "'critical' (got 'severe')",
    ),
    (
        "unknown severity counted as no severity",
        "local",
        {"vulnerabilityGate": {"unknownSeverity": "urgent", "enable": False}},
        [
            "go-platform:vulnerabilityGate.unknownSeverity: must be one of 'none', 'low', "
            "'medium', 'high' or 'critical' (got 'urgent')",
            "go-platform:vulnerabilityGate.enable: unknown key (did you mean 'enabled'?)",
        ],
    ),
    (
        "egress to two targets beside a bad port",
        "local",
        {
            "services": [
                service_config(port=0, egress=[{"namespace": "billing", "cidr": "10.0.0.0/8"}])
            ]
        },
        [
            "go-platform:services[0].egress[0]: set exactly one of `service`, `namespace` or `cidr`",
            "go-platform:services[0].port: must be at least 1 (got 0)",
        ],
    ),
]


@pytest.mark.parametrize(
    ("stack", "keys", "expected"), [case[1:] for case in BAD], ids=[case[0] for case in BAD]
)
def test_bad_input_names_its_key(stack, keys, expected):
    assert problems_of(stack, **keys) == ([expected] if isinstance(expected, str) else expected)


ACCEPTED = [
    # (description, keys): the edge of each rule that BAD crosses, still valid
    ("one replica", {"services": [service_config(replicas=1)]}),
    ("replicas at int32's maximum", {"services": [service_config(replicas=INT32_MAX)]}),
    ("the highest port", {"services": [service_config(port=65535, adminPort=1)]}),
    (
        "autoscaling minimum equal to the maximum",
        {"services": [service_config(autoscaling={"minReplicas": 3, "maxReplicas": 3})]},
    ),
    (
        "autoscaling minimum one below the maximum",
        {"services": [service_config(autoscaling={"minReplicas": 2, "maxReplicas": 3})]},
    ),
    ("a whole-valued float for an integer", {"services": [service_config(replicas=2.0)]}),
    (
        "label keys with and without a prefix, an empty and a 63-character value",
        {
            "observability": {
                "monitorLabels": {
                    "release": "kube-prometheus",
                    "example.com/team": "",
                    "app.kubernetes.io/part-of": "a" * 63,
                    "A_b.c": "Z.9_x",
                }
            }
        },
    ),
    (
        "private patterns using the whole path.Match grammar",
        {
            "moduleProxy": {
                "private": [
                    "github.com/acme/*",
                    "gitlab.example.com/team-?/[a-z]*",
                    "example.com/[^.]x/[\\]\\-]",
                    "example.com/a\\*b",
                ]
            }
        },
    ),
    (
        "keys of every namespace the project reads",
        {
            f"{namespace}:someKey": "x"
            for namespace in PROGRAM_NAMESPACES
            if namespace != CONFIG_NAMESPACE
        }
        | {"services": [service_config()]},
    ),
]


@pytest.mark.parametrize("keys", [case[1] for case in ACCEPTED], ids=[case[0] for case in ACCEPTED])
def test_the_edges_of_the_rules_are_accepted(keys):
    assert load(**keys).environment == "local"


def test_autoscaling_minimum_one_above_the_maximum_is_refused():
    assert problems_of(
        services=[service_config(autoscaling={"minReplicas": 4, "maxReplicas": 3})]
    ) == ["go-platform:services[0].autoscaling.minReplicas: 4 is above maxReplicas 3"]


def test_the_error_is_one_line_per_problem_with_no_traceback():
    with pytest.raises(ConfigError) as caught:
        load(services=[service_config(replicas=0)])
    text = str(caught.value)
    assert (
        text
        == "invalid stack configuration: go-platform:services[0].replicas: must be at least 1 (got 0)"
    )
    assert "Traceback" not in text


def test_every_problem_is_reported_at_once():
    problems = problems_of(
        services=[
            service_config(name="a", resources={"requests": {"cpu": "2"}}),
            service_config(name="b", route={"host": "elsewhere.org"}),
        ]
    )
    assert [p.split(": ")[0] for p in problems] == [
        "go-platform:services[0].resources.requests.cpu",
        "go-platform:services[1].route.host",
    ]


def test_structured_values_arrive_as_json_text():
    config = StackConfig(
        {"go-platform:services": json.dumps([service_config()]), "go-platform:namespace": "team-a"}
    )
    settings = load_settings(config, stack="local")
    assert settings.namespace == "team-a"
    assert settings.services[0].name == "greeter"


def test_malformed_json_is_reported_as_a_wrong_type():
    [problem] = problems_of(services="[{not json")
    assert problem == "go-platform:services: must be a list (got text that is not JSON)"


def test_json_set_as_text_by_a_path_says_how_to_set_its_items():
    # `pulumi config set --path 'go-platform:services[0].canary.steps' '[10, 50]'`
    service = service_config(canary={"image": "ghcr.io/acme/greeter:v2", "steps": "[10, 50]"})

    [problem] = problems_of(services=json.dumps([service]))

    assert problem.startswith(
        "go-platform:services[0].canary.steps: must be a list (got JSON in quotes "
        "(`pulumi config set --path` stores a value as text): set each item at its own path"
    )


def test_keys_of_other_namespaces_are_not_ours():
    assert (
        load_settings(StackConfig({"kubernetes:context": "kind-dev"}), stack="local").services == []
    )


# --- namespaces -------------------------------------------------------------------------


def test_the_namespaces_of_the_programs_providers_are_known():
    sources = [
        REPO / "__main__.py",
        *sorted((REPO / "components").glob("*.py")),
        *sorted((REPO / "wiring").glob("*.py")),
    ]
    imported = {
        package.replace("_", "-")
        for source in sources
        for package in re.findall(r"^\s*import pulumi_(\w+)", source.read_text(), re.MULTILINE)
    }
    assert imported == set(PROVIDER_NAMESPACES)
    assert set(PROVIDER_NAMESPACES) < set(PROGRAM_NAMESPACES)


def test_the_drivers_canary_state_namespace_is_known():
    assert STATE_NAMESPACE == CANARY_STATE_NAMESPACE
    assert CANARY_STATE_NAMESPACE in PROGRAM_NAMESPACES


@pytest.mark.parametrize(
    "named",
    [
        {"services": [service_config(secretEnv={"TOKEN": "vault:token"})]},
        {
            "environment": "dev",
            "domain": "example.com",
            "gateway": {
                "tls": {
                    "issuer": "acme",
                    "dns01": {"provider": "cloudflare", "apiTokenSecret": "vault:token"},
                }
            },
        },
    ],
    ids=["secretEnv", "a ...Secret key"],
)
def test_a_key_a_setting_names_may_use_any_namespace(named):
    assert load(secrets={"vault:token": "t"}, **named)


def test_a_secret_under_a_mistyped_namespace_is_named_but_not_shown():
    config = StackConfig(
        {"go-platfrom:dbUrl": "postgres://u:hunter2@db"}, frozenset({"go-platfrom:dbUrl"})
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config, stack="local")
    assert [str(p) for p in caught.value.problems] == [
        "go-platfrom:dbUrl: unknown namespace 'go-platfrom' (did you mean 'go-platform'?)"
    ]
    assert "hunter2" not in str(caught.value)


# --- secrets ----------------------------------------------------------------------------


def test_secret_env_names_secret_keys():
    settings = load(
        secrets={"greeterDbUrl": "postgres://", "vault:token": "t"},
        services=[
            service_config(secretEnv={"DB_URL": "greeterDbUrl", "VAULT_TOKEN": "vault:token"})
        ],
    )
    assert settings.secret_refs() == [
        ("services[0].secretEnv.DB_URL", "greeterDbUrl"),
        ("services[0].secretEnv.VAULT_TOKEN", "vault:token"),
    ]


def test_secret_that_is_not_set():
    assert problems_of(services=[service_config(secretEnv={"DB_URL": "greeterDbUrl"})]) == [
        "go-platform:services[0].secretEnv.DB_URL: secret config key 'greeterDbUrl' is not set; "
        "run `pulumi config set --secret greeterDbUrl <value>`"
    ]


def test_secret_set_in_plain_text():
    assert problems_of(
        greeterDbUrl="postgres://", services=[service_config(secretEnv={"DB_URL": "greeterDbUrl"})]
    ) == [
        "go-platform:services[0].secretEnv.DB_URL: config key 'greeterDbUrl' is not a secret; "
        "set it again with `pulumi config set --secret greeterDbUrl <value>`"
    ]


def test_a_secret_key_no_setting_names_is_an_unknown_key():
    # `pulumi config set --secret go-platform:servics x`: a misspelt setting, set as a secret.
    assert problems_of(secrets={"servics": "hunter2", "greeterDbUrl": "postgres://"}) == [
        "go-platform:greeterDbUrl: unknown key (a secret key must be named by a setting, as "
        "`secretEnv` names secrets)",
        "go-platform:servics: unknown key (did you mean 'services'?)",
    ]


def test_a_settings_key_holding_a_secret_is_refused():
    config = stack_config(secrets={"services": json.dumps([service_config()])})
    with pytest.raises(ConfigError) as caught:
        load_settings(config, stack="local")
    assert [p.path for p in caught.value.problems] == ["services"]


@pytest.mark.parametrize(
    "service",
    [
        service_config(env={"TOKEN": 987654321}),
        service_config(env={"TOKEN": ["s3cr3t-987654321"]}),
        service_config(env={"TOKEN": {"value": "s3cr3t-987654321"}}),
        service_config(env=["TOKEN=s3cr3t-987654321"]),
        service_config(env="TOKEN=s3cr3t-987654321"),
        service_config(
            image=OMIT,
            build={"context": ".", "repository": "r.example.com/a", "args": {"T": 987654321}},
        ),
        service_config(
            image=OMIT,
            build={"context": ".", "repository": "r.example.com/a", "args": ["s3cr3t-987654321"]},
        ),
    ],
    ids=["number", "list", "mapping", "env as a list", "env as text", "build arg", "build args"],
)
def test_values_that_may_be_secrets_are_never_echoed(service):
    [problem] = problems_of(services=[service])
    assert "987654321" not in problem
    assert problem.startswith(("go-platform:services[0].env", "go-platform:services[0].build.args"))


def test_a_namespace_of_your_own_is_accepted_once_listed():
    keys = {"configNamespaces": ["billing"], "billing:rate": "1"}
    assert load(**keys).config_namespaces == ["billing"]
    assert problems_of(**{**keys, "billing:rate": None, "biling:rate": "1"}) == [
        "biling:rate: unknown namespace 'biling' (did you mean 'billing'?)"
    ]


@pytest.mark.parametrize(
    ("pasted", "shown"),
    [
        # A credential pasted where the *name* of a secret config key belongs is never shown.
        ("AKIAIOSFODNN7EXAMPLE", False),
        ("ghp_abcdefghijklmnop1234567890", False),
        ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", False),
        # Ordinary key names are: the message must say which key to set.
        ("databasePassword", True),
        ("oauth2ClientSecret", True),
        ("DB_PASSWORD", True),
    ],
)
def test_a_secret_pasted_as_a_key_name_is_not_shown(pasted, shown):
    problems = problems_of(services=[service_config(secretEnv={"TOKEN": pasted})])
    assert len(problems) == 1, problems
    (problem,) = problems
    assert problem.startswith("go-platform:services[0].secretEnv.TOKEN: "), problem
    assert (pasted in problem) is shown, problem


def test_secret_env_and_env_may_not_share_a_name():
    assert problems_of(
        secrets={"k": "v"}, services=[service_config(env={"TOKEN": "x"}, secretEnv={"TOKEN": "k"})]
    ) == ["go-platform:services[0].secretEnv.TOKEN: is also set in `env`"]


# --- helpers ----------------------------------------------------------------------------


def test_key_path_reads_like_pulumi_config_path():
    assert (
        key_path(("services", 0, "resources", "limits", "cpu"))
        == "services[0].resources.limits.cpu"
    )
    assert key_path(("services", 2, "env", "bad name", "[key]")) == "services[2].env.bad name"


def test_callers_are_services_declaring_egress_to_a_service():
    settings = load(
        services=[
            service_config(name="api", egress=[{"service": "users"}]),
            service_config(name="worker", egress=[{"service": "users"}, {"service": "api"}]),
            service_config(name="users"),
        ]
    )
    assert settings.callers("users") == ["api", "worker"]
    assert settings.callers("api") == ["worker"]
    assert settings.callers("worker") == []


# --- never a traceback, and nothing invalid validates ----------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70000),
    st.integers(INT32_MAX - 1, 2**40),
    st.floats(allow_nan=True),
    st.sampled_from(
        [
            "",
            "latest",
            "12Gb",
            "100m",
            "1Gi",
            "a:b",
            "ghcr.io/a/b:v1",
            "Greeter",
            "greeter",
            "/x",
            "github.com/acme/[",
            "kube prometheus!",
        ]
    ),
    st.text(max_size=12),
)
_keys = st.sampled_from(
    [
        "name",
        "image",
        "build",
        "port",
        "adminPort",
        "replicas",
        "resources",
        "requests",
        "limits",
        "cpu",
        "memory",
        "env",
        "secretEnv",
        "route",
        "host",
        "pathPrefix",
        "middlewares",
        "autoscaling",
        "minReplicas",
        "maxReplicas",
        "cpuUtilization",
        "egress",
        "service",
        "cidr",
        "context",
        "repository",
        "ports",
        "args",
        "monitorLabels",
        "private",
        "bogus",
    ]
)
_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(_keys, children, max_size=5)
    ),
    max_leaves=12,
)
# The shapes new users get wrong: booleans and huge numbers for integers, numbers and
# booleans for text, malformed patterns and labels, mistyped namespaces.
_integers = st.one_of(st.booleans(), st.integers(-2, 5), st.integers(INT32_MAX - 1, 2**40))
_texts = st.one_of(
    st.text(alphabet="aZ9.-_ !", max_size=8),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
)
_env = st.dictionaries(st.sampled_from(["A", "VERSION", "bad name"]), _texts, max_size=3)
_services = st.lists(
    st.one_of(
        _values,
        st.fixed_dictionaries(
            {"name": st.sampled_from(["a", "b"]), "image": _scalars},
            optional={
                **{
                    k: _values
                    for k in (
                        "resources",
                        "route",
                        "autoscaling",
                        "secretEnv",
                        "egress",
                        "build",
                    )
                },
                "replicas": _integers,
                "port": _integers,
                "env": _env,
            },
        ),
    ),
    max_size=3,
)
_private = st.lists(
    st.text(alphabet="ab.-/*?[]^\\", max_size=10).map(lambda tail: f"github.com/{tail}"),
    max_size=3,
)
_monitor_labels = st.dictionaries(st.text(alphabet="aZ9./-_ !", max_size=10), _texts, max_size=3)
_namespaced = st.dictionaries(
    st.one_of(
        st.sampled_from(
            [
                "go_platform:services",
                "go-platfrom:domain",
                "goplatform:namespace",
                "kubernetes:context",
                "kubernets:context",
                "pulumi:tags",
                "docker:host",
                "random:seed",
                "go-platform-canary:a",
                "a:b",
            ]
        ),
        st.from_regex(r"[a-z][-a-z_]{0,12}:[a-z]{1,6}", fullmatch=True),
    ),
    st.sampled_from(["x", "[]", "{}"]),
    max_size=3,
)
_LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stack=st.sampled_from(["local", "dev", "staging", "prod", "pr-1"]),
    top=st.dictionaries(
        st.sampled_from(
            [
                "environment",
                "domain",
                "namespace",
                "gateway",
                "observability",
                "moduleProxy",
                "typo",
            ]
        ),
        _values,
        max_size=4,
    ),
    services=_services,
    private=_private,
    monitor_labels=_monitor_labels,
    namespaced=_namespaced,
)
def test_random_configs_validate_or_fail_cleanly(
    stack, top, services, private, monitor_labels, namespaced
):
    keys = {
        "moduleProxy": {"private": private},
        "observability": {"monitorLabels": monitor_labels},
        **top,
        "services": services,
        **namespaced,
    }
    try:
        settings = load(stack, **keys)
    except ConfigError as error:
        problems = error.problems
    else:
        assert settings.environment in PROFILES
        assert_obeys_the_rules(settings, keys)
        return
    assert problems
    text = json.dumps({k: v for k, v in keys.items() if ":" not in k})
    unread = {
        key
        for key in namespaced
        if key.partition(":")[0] not in PROGRAM_NAMESPACES and json.dumps(key) not in text
    }
    reported = {f"{p.namespace}:{p.path}" for p in problems}
    assert unread <= reported
    for problem in problems:
        assert problem.namespace == CONFIG_NAMESPACE or f"{problem}".split(": ")[0] in namespaced
        assert str(problem).startswith(f"{problem.namespace}:")
        assert "\n" not in str(problem)


def assert_obeys_the_rules(settings, keys):
    """What validated holds no boolean or out-of-range integer, no converted text, no
    malformed pattern or label, and no key under a namespace nothing reads."""
    named = {key for _, key in settings.secret_refs()}
    for key in keys:
        namespace = key.partition(":")[0]
        assert ":" not in key or namespace in PROGRAM_NAMESPACES or key in named
    for given_service, service in zip(keys["services"], settings.services, strict=True):
        for key in ("replicas", "port"):
            value = given_service.get(key)
            assert not isinstance(value, bool)
            assert value is None or value <= INT32_MAX
        assert service.env == given_service.get("env", {})  # 1 != "1": nothing converted
    for pattern in settings.module_proxy.private:
        assert go_pattern_problem(pattern) is None
    for key, value in settings.observability.monitor_labels.items():
        assert re.fullmatch(rf"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?{_LABEL_NAME}", key)
        assert value == "" or re.fullmatch(_LABEL_NAME, value)


def _case(path, keys_of, accepts):
    """A drawn value as (stack keys holding it, the key path it must fail at or None)."""
    return lambda value: (keys_of(value), None if accepts(value) else path)


def _label_ok(key, value):
    prefix, slash, name = key.rpartition("/")
    return (
        re.fullmatch(_LABEL_NAME, name) is not None
        and (not slash or re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", prefix) is not None)
        and isinstance(value, str)
        and (value == "" or re.fullmatch(_LABEL_NAME, value) is not None)
    )


_label_texts = st.one_of(
    st.text(alphabet="aZ9./-_ !", max_size=10), st.text(alphabet="a", min_size=62, max_size=65)
)
_one_value = st.one_of(
    _integers.map(
        _case(
            "go-platform:services[0].replicas",
            lambda v: {"services": [service_config(replicas=v)]},
            lambda v: not isinstance(v, bool) and 1 <= v <= INT32_MAX,
        )
    ),
    _texts.map(
        _case(
            "go-platform:services[0].env.VERSION",
            lambda v: {"services": [service_config(env={"VERSION": v})]},
            lambda v: isinstance(v, str),
        )
    ),
    st.tuples(_label_texts, st.one_of(_label_texts, _texts)).map(
        lambda kv: _case(
            f"go-platform:observability.monitorLabels.{kv[0]}",
            lambda v: {"observability": {"monitorLabels": {v[0]: v[1]}}},
            lambda v: _label_ok(*v),
        )(kv)
    ),
    _private.filter(len)
    .map(lambda patterns: patterns[:1])
    .map(
        _case(
            "go-platform:moduleProxy.private[0]",
            lambda v: {"moduleProxy": {"private": v}},
            lambda v: (
                go_pattern_problem(v[0]) is None
                and re.fullmatch(r"[a-z0-9.-]+(/[^\s,;]+)*", v[0]) is not None
            ),
        )
    ),
    st.one_of(
        st.sampled_from(PROGRAM_NAMESPACES[1:]),
        st.from_regex(r"[a-z][-a-z_]{0,12}", fullmatch=True),
    )
    .filter(lambda ns: ns != CONFIG_NAMESPACE)
    .map(
        lambda ns: _case(
            f"{ns}:someKey", lambda v: {f"{v}:someKey": "x"}, lambda v: v in PROGRAM_NAMESPACES
        )(ns)
    ),
)


@settings(max_examples=200, deadline=None)
@given(_one_value)
def test_one_bad_value_is_refused_at_its_key_and_a_good_one_is_kept(case):
    keys, path = case
    if path is None:
        assert load(**keys).environment == "local"
        return
    with pytest.raises(ConfigError) as caught:
        load(**keys)
    assert {f"{p.namespace}:{p.path}" for p in caught.value.problems} == {path}


def test_every_name_the_package_exports_is_its_modules_own():
    import go_platform_core.config as config

    for name in config.__all__:
        module = importlib.import_module(f"go_platform_core.config.{config._MODULE_OF[name]}")
        assert getattr(config, name) is getattr(module, name), name
    assert set(config.__all__) <= set(dir(config))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        config.Nope  # noqa: B018


def test_the_policy_pack_imports_none_of_the_config_models():
    check = (
        "import sys, go_platform_policies, go_platform_policies.pack_config; "
        "print(sorted(m for m in sys.modules if m.startswith('go_platform_core.config.')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", check],
        cwd=REPO / "policies",
        capture_output=True,
        text=True,
        check=True,
    )

    assert loaded.stdout.split() == [
        "['go_platform_core.config.base',",
        "'go_platform_core.config.errors']",
    ]


# --- what a fuzzing review found ---------------------------------------------------------
# Inputs that crashed the program, passed and then failed the deployment, were deployed in
# plain text, or drew a misleading or overlong message.


@pytest.mark.parametrize(
    "text",
    ["[" + "9" * 5000 + "]", "[" * 100_000],
    ids=["a number of 5,000 digits", "brackets 100,000 deep"],
)
def test_json_python_cannot_decode_is_reported_at_its_key(text):
    """json.loads raised ValueError (int digits limit) and RecursionError: a traceback."""
    assert problems_of(services=text) == [
        "go-platform:services: must be a list (got JSON too large to read: a number of over "
        "4,300 digits, or nested too deep)"
    ]


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (
            {"services": {"name": "greeter", "secretEnv": {"DB_URL": "greeterDbUrl"}}},
            "go-platform:services: must be a list (got a mapping)",
        ),
        (
            {"services": [service_config(secretEnv=["greeterDbUrl"])]},
            "go-platform:services[0].secretEnv: must be a mapping of keys to values (got a list)",
        ),
        (
            {"services": [service_config(secretEnv=["vault:token"])]},
            "go-platform:services[0].secretEnv: must be a mapping of keys to values (got a list)",
        ),
        (
            {"gateway": "acme"},
            "go-platform:gateway: must be a mapping of keys to values (got text)",
        ),
        (
            {"gateway": {"tls": ["acme", {"dns01": {"apiTokenSecret": "greeterDbUrl"}}]}},
            "go-platform:gateway.tls: must be a mapping of keys to values (got a list)",
        ),
    ],
    ids=["services a mapping", "secretEnv a list", "other namespace", "gateway text", "tls list"],
)
def test_a_secret_a_misshapen_setting_meant_to_name_is_no_unknown_key(keys, expected):
    """Until the shapes validate, what names a secret is unknown: only the shape is wrong."""
    secrets = {"greeterDbUrl": "postgres://u:p@db/x", "vault:token": "t"}
    assert problems_of(secrets=secrets, **keys) == [expected]


def test_an_unnamed_secret_is_reported_once_the_shapes_validate():
    secrets = {"greeterDbUrl": "postgres://", "vault:token": "t"}
    assert problems_of(secrets=secrets, services=[service_config()]) == [
        "go-platform:greeterDbUrl: unknown key (a secret key must be named by a setting, as "
        "`secretEnv` names secrets)",
        "vault:token: unknown namespace 'vault' (the program reads go-platform, "
        "go-platform-canary, pulumi, kubernetes, docker, random; a key elsewhere must be named "
        "by a setting, as `secretEnv` names secrets, or its namespace listed in "
        "`go-platform:configNamespaces`)",
    ]


def _routed(name, host="greeter.example.com", **overrides):
    return service_config(name=name, route={"host": host, **overrides})


CONFLICTS = [
    # (description, stack, keys, the one problem): names two parts would both take, which
    # validated and then failed the deployment (a duplicate URN or object), or served one
    # host and path from two routes.
    (
        "a service named as the canary track of another",
        "local",
        {
            "services": [
                service_config(
                    route={"host": "greeter.go-platform.localhost"},
                    canary={"image": "ghcr.io/acme/greeter:v2"},
                ),
                service_config(name="greeter-canary"),
            ]
        },
        "go-platform:services[1].name: 'greeter-canary' is the name of the canary track of "
        "services[0]; rename one",
    ),
    (
        "the canary track's name taken by an earlier service",
        "local",
        {
            "services": [
                service_config(name="greeter-canary"),
                service_config(
                    route={"host": "greeter.go-platform.localhost"},
                    canary={"image": "ghcr.io/acme/greeter:v2"},
                ),
            ]
        },
        "go-platform:services[0].name: 'greeter-canary' is the name of the canary track of "
        "services[1]; rename one",
    ),
    (
        "the services in the module proxy's namespace (an `athens` would be Athens's twin)",
        "local",
        {"namespace": "module-proxy", "services": [service_config(name="athens")]},
        "go-platform:namespace: 'module-proxy' is also moduleProxy.namespace; each part of the "
        "platform needs a namespace of its own",
    ),
    (
        "the services in the observability namespace",
        "dev",
        {"domain": "example.com", "namespace": "monitoring"},
        "go-platform:namespace: 'monitoring' is also observability.namespace; each part of the "
        "platform needs a namespace of its own",
    ),
    (
        "the services in the gateway's namespace",
        "local",
        {"namespace": "traefik"},
        "go-platform:namespace: 'traefik' is also gateway.namespace; each part of the platform "
        "needs a namespace of its own",
    ),
    (
        "the services in cert-manager's namespace",
        "local",
        {"namespace": "cert-manager"},
        "go-platform:namespace: 'cert-manager' is also gateway.certManager.namespace; each part "
        "of the platform needs a namespace of its own",
    ),
    (
        "the module proxy in the observability namespace",
        "dev",
        {"domain": "example.com", "moduleProxy": {"namespace": "monitoring"}},
        "go-platform:moduleProxy.namespace: 'monitoring' is also observability.namespace; each "
        "part of the platform needs a namespace of its own",
    ),
    (
        "an installed gateway in cert-manager's namespace",
        "dev",
        {"domain": "example.com", "gateway": {"namespace": "cert-manager"}},
        "go-platform:gateway.namespace: 'cert-manager' is also gateway.certManager.namespace; "
        "each part of the platform needs a namespace of its own",
    ),
    (
        "the services in kube-system",
        "local",
        {"namespace": "kube-system"},
        "go-platform:namespace: 'kube-system' is the cluster's own namespace: the program would "
        "take it over and delete it on destroy; name another",
    ),
    (
        "the services in default",
        "local",
        {"namespace": "default"},
        "go-platform:namespace: 'default' is the cluster's own namespace: the program would "
        "take it over and delete it on destroy; name another",
    ),
    (
        "the module proxy in kube-node-lease",
        "local",
        {"moduleProxy": {"namespace": "kube-node-lease"}},
        "go-platform:moduleProxy.namespace: 'kube-node-lease' is the cluster's own namespace: "
        "the program would take it over and delete it on destroy; name another",
    ),
    (
        "an installed gateway in kube-system",
        "dev",
        {"domain": "example.com", "gateway": {"namespace": "kube-system"}},
        "go-platform:gateway.namespace: 'kube-system' is the cluster's own namespace: the "
        "program would take it over and delete it on destroy; name another",
    ),
    (
        "two services on one host and path prefix",
        "prod",
        {
            "domain": "example.com",
            "services": [_routed("a"), _routed("b", pathPrefix="/")],
        },
        "go-platform:services[1].route: services[0] already serves greeter.example.com/; give "
        "one another host or `pathPrefix`",
    ),
    (
        "a service on the dashboard's host",
        "local",
        {"services": [_routed("a", host="traefik.go-platform.localhost", pathPrefix="/x")]},
        "go-platform:services[0].route.host: 'traefik.go-platform.localhost' is the host of the "
        "Traefik dashboard (gateway.dashboard.host); give the service another",
    ),
    (
        "a service on Grafana's host",
        "dev",
        {"domain": "example.com", "services": [_routed("a", host="grafana.example.com")]},
        "go-platform:services[0].route.host: 'grafana.example.com' is the host of Grafana "
        "(observability.grafanaHost); give the service another",
    ),
    (
        "a service on the module proxy's host",
        "local",
        {"services": [_routed("a", host="goproxy.go-platform.localhost")]},
        "go-platform:services[0].route.host: 'goproxy.go-platform.localhost' is the host of the "
        "module proxy (moduleProxy.host); give the service another",
    ),
    (
        "Grafana on the module proxy's host",
        "dev",
        {"domain": "example.com", "observability": {"grafanaHost": "goproxy.example.com"}},
        "go-platform:moduleProxy.host: 'goproxy.example.com' is also the host of Grafana "
        "(observability.grafanaHost); give each its own",
    ),
]


@pytest.mark.parametrize(
    ("stack", "keys", "expected"),
    [case[1:] for case in CONFLICTS],
    ids=[case[0] for case in CONFLICTS],
)
def test_names_two_parts_would_both_take_are_refused(stack, keys, expected):
    assert problems_of(stack, **keys) == [expected]


@pytest.mark.parametrize(
    ("stack", "keys"),
    [
        # Where the cluster runs the gateway and cert-manager, the program only labels their
        # namespaces and keeps them on destroy: they may be one, and the cluster's own.
        ("local", {"gateway": {"namespace": "cert-manager"}}),
        ("local", {"gateway": {"namespace": "kube-system"}}),
        ("dev", {"domain": "example.com", "gateway": {"install": False, "namespace": "kube-system"}}),
        # Namespaces and hosts of parts that are off are free.
        ("local", {"namespace": "monitoring"}),
        ("local", {"namespace": "module-proxy", "moduleProxy": {"enabled": False}}),
        ("prod", {"domain": "example.com", "services": [_routed("a", host="traefik.example.com")]}),
        ("local", {"services": [_routed("a", host="grafana.go-platform.localhost")]}),
        # One host, two path prefixes; canary names that are no track's.
        (
            "local",
            {
                "services": [
                    _routed("a", host="api.go-platform.localhost", pathPrefix="/a"),
                    _routed("b", host="api.go-platform.localhost", pathPrefix="/b"),
                    service_config(name="c-canary"),
                ]
            },
        ),
    ],
)  # fmt: skip
def test_names_no_two_parts_take_are_accepted(stack, keys):
    assert load(stack, **keys).environment == stack


_CREDENTIALS = "S3cr3tP4ss"
_WITH_CREDENTIALS = [
    # (the key path, the stack keys holding a URL with a user or password there, the advice)
    (
        "moduleProxy.upstream",
        {"moduleProxy": {"upstream": f"https://ci:{_CREDENTIALS}@proxy.example.org"}},
        "a login to the upstream goes in the netrc of `credentials.netrcSecret` (a secret "
        "config key)",
    ),
    (
        "moduleProxy.url",
        {
            "moduleProxy": {
                "enabled": False,
                "url": f"https://proxy.example.org,https://ci:{_CREDENTIALS}@b.example.org|direct",
            }
        },
        None,
    ),
    (
        "moduleProxy.singleFlight.endpoint",
        {"moduleProxy": {"singleFlight": {"type": "redis", "endpoint": f"redis://:{_CREDENTIALS}@redis:6379"}}},
        "name the Redis password with `passwordSecret` (a secret config key) instead",
    ),
    (
        "moduleProxy.singleFlight.endpoint",
        {"moduleProxy": {"singleFlight": {"type": "etcd", "endpoint": f"etcd-0:2379,root:{_CREDENTIALS}@etcd-1:2379"}}},
        "name the Redis password with `passwordSecret` (a secret config key) instead",
    ),
    (
        "observability.otlpEndpoint",
        {"observability": {"otlpEndpoint": f"https://ci:{_CREDENTIALS}@otlp.example.org:4317"}},
        None,
    ),
    (
        "observability.prometheusUrl",
        {"observability": {"prometheusUrl": f"https://ci:{_CREDENTIALS}@prom.example.org"}},
        None,
    ),
    (
        "gateway.chart.repository",
        {"gateway": {"chart": {"chart": "traefik", "version": "1", "repository": f"https://u:{_CREDENTIALS}@charts.example.org"}}},
        None,
    ),
    (
        "gateway.certManager.chart.chart",
        {"gateway": {"certManager": {"chart": {"chart": f"oci://u:{_CREDENTIALS}@registry.example.org/cert-manager", "version": "1"}}}},
        None,
    ),
    (
        "observability.charts.loki.repository",
        {"observability": {"charts": {"loki": {"chart": "loki", "version": "1", "repository": f"https://u:{_CREDENTIALS}@charts.example.org"}}}},
        None,
    ),
    (
        "vulnerabilityGate.database",
        {"vulnerabilityGate": {"database": f"https://u:{_CREDENTIALS}@vuln.example.org"}},
        None,
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "keys", "advice"),
    _WITH_CREDENTIALS,
    ids=[f"{case[0]} {i}" for i, case in enumerate(_WITH_CREDENTIALS)],
)
def test_credentials_in_a_url_are_refused_unshown(path, keys, advice):
    """They were deployed in plain text (a ConfigMap, a Deployment's environment, a build
    argument); the refusal is the S3 endpoint's, `types.credentials_refused`."""
    advice = advice or (
        "settings are stored and deployed in plain text, so keep credentials out of URLs"
    )
    assert problems_of("dev", domain="example.com", **keys) == [
        f"go-platform:{path}: the value (not shown: it may hold credentials) carries a user or "
        f"password: {advice}"
    ]


def test_urls_and_endpoints_without_credentials_are_taken():
    settings = load(
        "dev",
        domain="example.com",
        moduleProxy={
            "upstream": "https://goproxy.corp.example.com",
            "singleFlight": {"type": "etcd", "endpoint": "etcd-0:2379,http://etcd-1:2379"},
        },
        observability={"install": False, "otlpEndpoint": "tempo.monitoring:4317"},
        vulnerabilityGate={"database": "vulndb@2024-06"},  # a directory, not a URL
    )
    assert settings.vulnerability_gate.database == "vulndb@2024-06"
    assert load(moduleProxy={"enabled": False, "url": "https://a.example.org|direct"})


_DATE = "2024-01-01 00:00:00 +0000 UTC"
_NOT_A_DATE = (
    'must be text, not a date; quote it so YAML keeps it as written (`"2024-01-01"`, not '
    "`2024-01-01`, which YAML reads as a timestamp and Pulumi passes on as "
    "`2024-01-01 00:00:00 +0000 UTC`)"
)
_BUILD = {"context": ".", "repository": "r.example.com/a"}


@pytest.mark.parametrize(
    ("service", "path"),
    [
        (service_config(env={"RELEASED": _DATE}), "env.RELEASED"),
        (service_config(env={"AT": "2001-12-14 21:59:43.1 -0500 -0500"}), "env.AT"),
        (service_config(image=OMIT, build={**_BUILD, "args": {"SINCE": _DATE}}), "build.args.SINCE"),
        (service_config(image=OMIT, build={**_BUILD, "tag": _DATE}), "build.tag"),
    ],
    ids=["env", "env with an offset", "build arg", "tag"],
)  # fmt: skip
def test_an_unquoted_yaml_date_is_refused_as_a_number_is(service, path):
    """What the Pulumi CLI passes for `tag: 2024-01-01` was taken as the text it reads as."""
    assert problems_of(services=[service]) == [f"go-platform:services[0].{path}: {_NOT_A_DATE}"]


@pytest.mark.parametrize("tag", ["v1 beta", ".hidden", "-rc1", "a" * 129, "v1:2"])
def test_a_tag_docker_refuses_is_refused(tag):
    [problem] = problems_of(services=[service_config(image=OMIT, build={**_BUILD, "tag": tag})])
    assert problem.startswith("go-platform:services[0].build.tag: ")
    assert problem.endswith(
        "is not an image tag: at most 128 letters, digits, `_`, `.` or `-`, not starting with "
        "`.` or `-`"
    )


def test_quoted_dates_and_tags_docker_takes_are_kept():
    service = load(
        services=[
            service_config(
                image=OMIT,
                build={**_BUILD, "tag": "2024-01-01", "args": {"SINCE": "2024-01-01"}},
                env={"RELEASED": "2024-01-01T00:00:00Z"},
            )
        ]
    ).services[0]
    assert (service.build.tag, service.build.args, service.env) == (
        "2024-01-01",
        {"SINCE": "2024-01-01"},
        {"RELEASED": "2024-01-01T00:00:00Z"},
    )
    assert load(
        services=[service_config(image=OMIT, build={**_BUILD, "tag": "_v1.2-" + "a" * 122})]
    )


@pytest.mark.parametrize(
    ("amounts", "path", "reason"),
    [
        ({"limits": {"memory": "1e+30"}}, "limits.memory", "'1e+30' is above 16Ti, more memory than a node has; check the suffix (`512Mi`, `2Gi`)"),
        ({"limits": {"memory": "17Ti"}}, "limits.memory", "'17Ti' is above 16Ti, more memory than a node has; check the suffix (`512Mi`, `2Gi`)"),
        ({"limits": {"cpu": 1025}}, "limits.cpu", "'1025' is above 1024 CPUs, more than a node has; check the suffix (`500m` is half a CPU)"),
        ({"limits": {"cpu": "1e+308"}}, "limits.cpu", "'1e+308' is above 1024 CPUs, more than a node has; check the suffix (`500m` is half a CPU)"),
    ],
    ids=["memory 1e+30", "memory 17Ti", "cpu 1025", "cpu 1e+308"],
)  # fmt: skip
def test_quantities_beyond_any_node_are_refused(amounts, path, reason):
    """`1e+30` bytes became a GOMEMLIMIT of 10^24 MiB."""
    assert problems_of(services=[service_config(resources=amounts)]) == [
        f"go-platform:services[0].resources.{path}: {reason}"
    ]


def test_the_largest_quantities_are_accepted_and_volumes_have_no_ceiling():
    resources = {
        "requests": {"cpu": "1024", "memory": "16Ti"},
        "limits": {"cpu": 1024, "memory": "16Ti"},
    }
    settings = load(
        services=[service_config(resources=resources)],
        moduleProxy={"storage": {"size": "64Ti"}},
        observability={"storage": {"size": "1Pi"}},
    )
    assert settings.services[0].resources.limits.model_dump() == {"cpu": "1024", "memory": "16Ti"}
    assert settings.module_proxy.storage.size == "64Ti"


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"observability": {"availabilitySlo": float("nan")}}, "go-platform:observability.availabilitySlo: must be a finite number, not NaN"),
        ({"observability": {"availabilitySlo": "nan"}}, "go-platform:observability.availabilitySlo: must be a finite number (got 'nan')"),
        ({"services": [service_config(replicas=float("nan"))]}, "go-platform:services[0].replicas: must be a finite number, not NaN"),
        ({"services": [service_config(port=float("inf"))]}, "go-platform:services[0].port: must be a finite number, not infinity"),
        ({"services": [service_config(canary={"image": "ghcr.io/a/b:v2", "analysis": {"successRate": float("-inf")}}, route={"host": "a.go-platform.localhost"})]}, "go-platform:services[0].canary.analysis.successRate: must be a finite number, not -infinity"),
    ],
    ids=["NaN SLO", "NaN as text", "NaN replicas", "infinite port", "-infinity rate"],
)  # fmt: skip
def test_nan_and_infinity_are_no_numbers(keys, expected):
    """They read "must be below 100.0 (got nan)" and pydantic's "Input should be a finite
    number"."""
    assert problems_of(**keys) == [expected]


@pytest.mark.parametrize(
    ("keys", "path"),
    [
        ({"services": [service_config(egress=[{"cidr": "1" * 5000}])]}, "services[0].egress[0].cidr"),
        ({"services": [service_config(image="ghcr.io/acme/" + "X" * 5000)]}, "services[0].image"),
        ({"services": [service_config(resources={"limits": {"cpu": "x" * 5000}})]}, "services[0].resources.limits.cpu"),
        ({"services": [service_config(resources={"limits": {"memory": "0" * 5000 + "1k"}})]}, "services[0].resources.limits.memory"),
        ({"services": [service_config(canary={"image": "ghcr.io/a/b:v2", "interval": "x" * 5000}, route={"host": "a.go-platform.localhost"})]}, "services[0].canary.interval"),
        ({"moduleProxy": {"private": ["github.com/acme x" * 1000]}}, "moduleProxy.private[0]"),
        ({"moduleProxy": {"private": ["github.com/[" * 1000]}}, "moduleProxy.private[0]"),
        ({"observability": {"monitorLabels": {"release": "!" * 5000}}}, "observability.monitorLabels.release"),
        ({"observability": {"monitorLabels": {"a" * 5000: "x"}}}, None),
        ({"services": [service_config(name="a" * 5000)]}, "services[0].name"),
        ({"domain": "[" * 5000}, "domain"),
    ],
    ids=["cidr", "image", "cpu", "memory", "interval", "pattern", "go pattern", "label value",
         "label key", "name", "domain"],
)  # fmt: skip
def test_a_long_value_is_shown_cut(keys, path):
    """Values were quoted whole, some twice (a CIDR): a file pasted in the wrong place filled
    the terminal."""
    [problem] = problems_of(**keys)
    if path:
        assert problem.startswith(f"go-platform:{path}: ")
    message = problem.split(": ", 1)[1]
    assert len(message) < 400, message


# --- alert routing --------------------------------------------------------------------

ALERTMANAGER = """
route:
  receiver: on-call
receivers:
  - name: on-call
    webhook_configs:
      - url: https://hooks.example.com/T0KEN-in-the-url
"""


def test_the_alertmanager_configuration_is_a_secret_read_where_the_stack_is_installed():
    settings = load(
        "dev",
        secrets={"alerting": ALERTMANAGER},
        domain="example.com",
        observability={"alertmanagerConfigSecret": "alerting"},
    )
    assert ("observability.alertmanagerConfigSecret", "alerting") in settings.secret_refs()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("route: [unclosed", "is not YAML"),
        ("- a list", "must be a YAML mapping with `route` and `receivers`"),
        ("route: {receiver: x}", "has no `receivers` list"),
        ("receivers: [{name: x}]", "has no `route` with a `receiver`"),
        (
            "route: {receiver: T0KEN}\nreceivers: [{name: other}]",
            "routes to a receiver its `receivers` do not define",
        ),
    ],
)
def test_an_alertmanager_configuration_that_routes_nowhere_is_refused_unshown(text, reason):
    problems = problems_of(
        "dev",
        secrets={"alerting": text},
        domain="example.com",
        observability={"alertmanagerConfigSecret": "alerting"},
    )
    assert problems == [
        f"go-platform:observability.alertmanagerConfigSecret: the value of 'alerting' {reason}"
    ]
    assert "T0KEN" not in problems[0]


# --- chart sources ----------------------------------------------------------------------


def test_a_chart_given_values_or_a_version_alone_keeps_its_pin():
    mirrored = {"image": {"registry": "registry.example.com"}}
    settings = load(
        "dev",
        domain="example.com",
        gateway={"chart": {"values": mirrored}, "certManager": {"chart": {"version": "v1.21.2"}}},
        observability={"charts": {"loki": {"values": mirrored}}},
    )
    traefik = settings.gateway.chart
    assert (traefik.chart, traefik.version, traefik.values) == ("traefik", "41.3.0", mirrored)
    assert traefik.repository == "https://traefik.github.io/charts"
    cert_manager = settings.gateway.cert_manager.chart
    assert (cert_manager.chart, cert_manager.version) == ("cert-manager", "v1.21.2")
    assert settings.observability.charts.loki.values == mirrored
    assert settings.observability.charts.tempo.values == {}


def test_a_chart_named_anew_is_taken_as_written():
    settings = load(
        "dev",
        domain="example.com",
        gateway={
            "chart": {"chart": "oci://registry.example.com/charts/traefik", "version": "41.3.0"}
        },
    )
    assert settings.gateway.chart.repository is None
    assert problems_of(
        "dev", domain="example.com", gateway={"chart": {"chart": "./charts/traefik"}}
    ) == ["go-platform:gateway.chart.version: is required"]
    assert problems_of("dev", domain="example.com", gateway={"chart": "traefik"}) == [
        "go-platform:gateway.chart: must be a mapping of keys to values (got text)"
    ]
