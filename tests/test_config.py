"""Stack configuration: the user's interface.

Invariants guarded:
- environment comes from `environment`, else from the stack name; neither is an error.
- each environment's profile supplies defaults; anything the stack file sets wins.
- every bad input fails with one line per problem naming its exact key path, all
  problems at once, and nothing else (no traceback, no partial settings).
- secrets: `secretEnv` names keys that must be set, and set as secrets; a settings key
  holding a secret is refused; secret keys are never mistaken for unknown settings.
- random configs either validate or fail with ConfigError, never another exception.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.config import (
    PROFILES,
    ConfigError,
    StackConfig,
    key_path,
    load_settings,
    merge_defaults,
)
from tests.conftest import OMIT, service_config, stack_config


def load(stack="local", secrets=None, **keys):
    return load_settings(stack_config(secrets=secrets, **keys), stack=stack)


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


def test_yaml_scalars_become_text_where_text_is_expected():
    service = load(
        services=[service_config(env={"N": 3, "ON": True}, resources={"limits": {"cpu": 2}})]
    ).services[0]
    assert service.env == {"N": "3", "ON": "true"}
    assert service.resources.limits.cpu == "2"


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
        "go-platform:services: must be a list (got {'name': 'greeter'})",
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
]


@pytest.mark.parametrize(
    ("stack", "keys", "expected"), [case[1:] for case in BAD], ids=[case[0] for case in BAD]
)
def test_bad_input_names_its_key(stack, keys, expected):
    assert problems_of(stack, **keys) == ([expected] if isinstance(expected, str) else expected)


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
    assert problem == "go-platform:services: must be a list (got '[{not json')"


def test_keys_of_other_namespaces_are_not_ours():
    assert (
        load_settings(StackConfig({"kubernetes:context": "kind-dev"}), stack="local").services == []
    )


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
        "set it again with `pulumi config set --secret`"
    ]


def test_a_settings_key_holding_a_secret_is_refused():
    config = stack_config(secrets={"services": json.dumps([service_config()])})
    with pytest.raises(ConfigError) as caught:
        load_settings(config, stack="local")
    assert [p.path for p in caught.value.problems] == ["services"]


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


# --- never a traceback ------------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70000),
    st.floats(allow_nan=True),
    st.sampled_from(
        ["", "latest", "12Gb", "100m", "1Gi", "a:b", "ghcr.io/a/b:v1", "Greeter", "greeter", "/x"]
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
_services = st.lists(
    st.one_of(
        _values,
        st.fixed_dictionaries(
            {"name": st.sampled_from(["a", "b"]), "image": _scalars},
            optional={
                k: _values
                for k in (
                    "replicas",
                    "resources",
                    "route",
                    "autoscaling",
                    "env",
                    "secretEnv",
                    "egress",
                    "build",
                )
            },
        ),
    ),
    max_size=3,
)


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
)
def test_random_configs_validate_or_fail_cleanly(stack, top, services):
    keys = {**top, "services": services}
    try:
        settings = load(stack, **keys)
    except ConfigError as error:
        problems = error.problems
    else:
        assert settings.environment in PROFILES
        return
    assert problems
    for problem in problems:
        assert str(problem).startswith("go-platform:")
        assert "\n" not in str(problem)
