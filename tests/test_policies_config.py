"""The pack's configuration: per-policy settings, the committed files, the environment.

Invariants guarded:
- a bad setting is never a traceback: the policy reports one violation naming the key path
  (`<policy>.<key path>`) and the reason, for resource and stack policies alike; the
  table below pins the exact path and message of each kind of mistake;
- a bad config file is one `PolicyConfigError` listing every problem with its key path:
  unknown policies (with a suggestion), bad enforcement levels, `remediate` on a policy
  that cannot, settings problems, unreadable JSON (JSON Python does not read too: a
  5000-digit number, nesting past its recursion limit); the command-line check exits 65 on
  it; an enforcement level that is a list or an object is a problem, not a crash;
- a value is shown shortened, and key material (a pasted private key) never, wherever it
  was pasted; selectors name a kind, a namespace (a DNS label) or a name glob, and
  `minReplicas` fits a Deployment's int32;
- the committed files are valid, name every policy of the pack, and enforce as decided:
  Pod Security baseline and the Traefik dashboard mandatory everywhere; every policy
  mandatory in staging and prod; best practices, restricted, supply chain and the other
  security checks advisory in local and dev, except TLS routes (mandatory outside local)
  and seccomp (remediated in local and dev);
- the environment comes from the stack's `go-platform:environment`, else its name, else
  the strictest (prod); the initial config has enforcement levels as the SDK's enums;
- each policy gives the engine a self-contained JSON schema that accepts the committed
  settings and rejects a wrongly typed one, so `--policy-pack-config` fails early too.
"""

from __future__ import annotations

import json

import jsonschema
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy

from go_platform_policies import POLICIES
from go_platform_policies.core import (
    BEST_PRACTICE,
    GROUPS,
    POD_SECURITY_BASELINE,
    POD_SECURITY_RESTRICTED,
    SECURITY,
    SETTINGS_MODELS,
    SUPPLY_CHAIN,
)
from go_platform_policies.pack_config import (
    CONFIG_DIR,
    INVALID,
    PolicyConfigError,
    config_problems,
    environment_of,
    initial_config,
    load_config,
    main,
)
from go_platform_policies.settings import json_word, settings_problems
from tests.fake_registry import KEY, public_pem
from tests.policy_fixtures import POLICIES_BY_NAME, check_resource, check_stack, deployment

ENVIRONMENTS = ("local", "dev", "staging", "prod")
RSA_PEM = (
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
# cosign.key's kind of text, pasted where the public key belongs.
PRIVATE_PEM = KEY.private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption(),
).decode()

# --- settings: (policy, config, key path, message) ------------------------------------

BAD_SETTINGS = [
    (
        "container-limits-within-caps",
        {"maxMemory": "1GB"},
        "maxMemory",
        "'1GB' is not a Kubernetes quantity (examples: 250m, 0.5, 128Mi, 1Gi)",
    ),
    (
        "container-limits-within-caps",
        {"maxCpu": "0"},
        "maxCpu",
        "'0' is below the smallest CPU amount, 1m",
    ),
    (
        "container-limits-within-caps",
        {"maxMemory": "512m"},
        "maxMemory",
        "'512m' is below 1Mi (memory is in bytes: write 512Mi, not 512m)",
    ),
    (
        "container-limits-within-caps",
        {"maxMemory": 512},
        "maxMemory",
        "input should be a valid string (got 512)",
    ),
    (
        "container-limits-within-caps",
        {"maxMem": "1Gi"},
        "maxMem",
        "unknown key (did you mean 'maxMemory'?)",
    ),
    (
        "image-registry-allowed",
        {"allowedRegistries": ["https://ghcr.io"]},
        "allowedRegistries[0]",
        "'https://ghcr.io' is not a registry host or registry/path prefix (examples: "
        "registry.example.com, ghcr.io/acme, 127.0.0.1:5000)",
    ),
    (
        "image-registry-allowed",
        {"allowedRegistries": "ghcr.io"},
        "allowedRegistries",
        "input should be a valid list (got 'ghcr.io')",
    ),
    (
        "image-signature-verified",
        {"publicKeys": [RSA_PEM]},
        "publicKeys[0]",
        "is not an ECDSA P-256 public key (cosign's default key type)",
    ),
    (
        "image-signature-verified",
        {"publicKeys": [public_pem(KEY)], "timeoutSeconds": 0},
        "timeoutSeconds",
        "input should be greater than 0 (got 0)",
    ),
    (
        "image-vulnerability-scanned",
        {"failOn": "severe"},
        "failOn",
        "input should be 'low', 'medium', 'high' or 'critical' (got 'severe')",
    ),
    (
        "image-vulnerability-scanned",
        {"unknownSeverity": "urgent"},
        "unknownSeverity",
        "input should be 'none', 'low', 'medium', 'high' or 'critical' (got 'urgent')",
    ),
    (
        "image-vulnerability-scanned",
        {"maxAgeHours": 0},
        "maxAgeHours",
        "input should be greater than 0 (got 0)",
    ),
    (
        "image-vulnerability-scanned",
        {"maxAgeHours": 1e12},
        "maxAgeHours",
        "input should be less than or equal to 8784 (got 1000000000000.0)",
    ),
    (
        "image-vulnerability-scanned",
        {"maxAgeHours": float("inf")},  # JSON's Infinity, which Python's json reads
        "maxAgeHours",
        "input should be a finite number (got inf)",
    ),
    (
        "image-signature-verified",
        {"publicKeys": PRIVATE_PEM},
        "publicKeys",
        "input should be a valid list (got a PEM private key, not shown: configure the public "
        "key (cosign.pub))",
    ),
    (
        "container-limits-within-caps",
        {"maxCpu": "1e1000000"},
        "maxCpu",
        "'1e1000000' is out of range for a Kubernetes quantity",
    ),
    (
        "image-vulnerability-scanned",
        {"maxAge": 24},
        "maxAge",
        "unknown key (did you mean 'maxAgeHours'?)",
    ),
    (
        "image-vulnerability-scanned",
        {"publicKeys": [RSA_PEM]},
        "publicKeys[0]",
        "is not an ECDSA P-256 public key (cosign's default key type)",
    ),
    # What the engine's schema refuses, the checker refuses: no text for a number, no
    # text or number for a boolean (pydantic alone would coerce them).
    (
        "ingressroute-tls-required",
        {"requireTls": "no"},
        "requireTls",
        "input should be a valid boolean (got 'no')",
    ),
    (
        "deployment-replicas-minimum",
        {"minReplicas": True},
        "minReplicas",
        "input should be a number (got true)",
    ),
    (
        "container-host-ports-disallowed",
        {"allowedHostPorts": [443.0, "80"]},  # the engine sends numbers as doubles
        "allowedHostPorts[1]",
        "input should be a number (got '80')",
    ),
    (
        "image-signature-verified",
        {"publicKeys": [public_pem(KEY)], "timeoutSeconds": "10"},
        "timeoutSeconds",
        "input should be a number (got '10')",
    ),
    (
        "pod-host-namespaces-disallowed",
        {"exclude": [{"kind": "DaemonSet"}]},
        "exclude[0].reason",
        "is required",
    ),
    (
        "pod-host-namespaces-disallowed",
        {"exclude": [{"reason": "everything, please"}]},
        "exclude[0]",
        "set at least one of kind, namespace, name or labels",
    ),
    (
        "namespace-network-policy",
        {"exclude": [{"nmae": "x", "reason": "typo"}]},
        "exclude[0].nmae",
        "unknown key (did you mean 'name'?)",
    ),
    (
        "service-load-balancer-restricted",
        {"allowed": [{"labels": {"app": 1}}]},
        "allowed[0].labels.app",
        "input should be a valid string (got 1)",
    ),
    (
        "deployment-replicas-minimum",
        {"minReplicas": 0},
        "minReplicas",
        "input should be greater than or equal to 1 (got 0)",
    ),
    (
        "ingressroute-tls-required",
        {"entryPoints": []},
        "entryPoints",
        "list should have at least 1 item after validation, not 0 (got [])",
    ),
    (
        "deployment-replicas-minimum",
        {"minReplicas": 10**400},
        "minReplicas",
        # Replicas are an int32; the number is shortened as every shown value is.
        f"input should be less than or equal to 2147483647 (got 1{'0' * 56}...)",
    ),
    # A selector field that can match nothing is a mistake, named as one.
    (
        "pod-host-namespaces-disallowed",
        {"exclude": [{"kind": "", "reason": "r"}]},
        "exclude[0].kind",
        "'' is not a kind (letters and digits: Deployment)",
    ),
    (
        "pod-host-namespaces-disallowed",
        {"exclude": [{"namespace": "", "reason": "r"}]},
        "exclude[0].namespace",
        "'' is not a namespace (at most 63 lower-case letters, digits and '-')",
    ),
    (
        "pod-host-namespaces-disallowed",
        {"exclude": [{"name": "", "reason": "r"}]},
        "exclude[0].name",
        "'' is not a name or a glob of names (1 to 253 characters, no spaces or control "
        "characters: *-exporter)",
    ),
    (
        "pod-host-namespaces-disallowed",
        {"exclude": [{"kind": "Deployment", "name": "node-\x1b[31m", "reason": "r"}]},
        "exclude[0].name",
        "'node-\\x1b[31m' is not a name or a glob of names (1 to 253 characters, no spaces "
        "or control characters: *-exporter)",
    ),
    (
        "service-load-balancer-restricted",
        {"allowed": [{"namespace": "traefik\n"}]},
        "allowed[0].namespace",
        "'traefik\\n' is not a namespace (at most 63 lower-case letters, digits and '-')",
    ),
]


@pytest.mark.parametrize(
    ("policy", "config", "path", "message"),
    BAD_SETTINGS,
    ids=[f"{b[0]}.{b[2]}" for b in BAD_SETTINGS],
)
def test_bad_settings_name_their_key_path(policy, config, path, message):
    problems = settings_problems(SETTINGS_MODELS[policy], config)
    assert [(p.path, p.message) for p in problems] == [(path, message)]


def test_a_resource_policy_reports_bad_settings_once_instead_of_checking():
    policy = POLICIES_BY_NAME["container-limits-within-caps"]
    oversized = deployment({"containers[0].resources.limits.cpu": "64"})
    assert check_resource(policy, oversized, {"maxCpu": "lots"}) == [
        "invalid policy config: container-limits-within-caps.maxCpu: 'lots' is not a Kubernetes "
        "quantity (examples: 250m, 0.5, 128Mi, 1Gi)"
    ]


def test_a_stack_policy_reports_bad_settings_once_instead_of_checking():
    policy = POLICIES_BY_NAME["deployment-replicas-minimum"]
    assert check_stack(policy, [deployment()], {"minReplicas": "two", "extra": 1}) == [
        "invalid policy config: deployment-replicas-minimum.minReplicas: input should be a "
        "number (got 'two'); "
        "deployment-replicas-minimum.extra: unknown key (known keys: exclude, minReplicas)"
    ]


def test_settings_defaults_are_usable_without_any_config():
    for name, model in SETTINGS_MODELS.items():
        assert settings_problems(model, {}) == [], name


# --- config files ------------------------------------------------------------------------


def problems_of(document) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in config_problems(document)]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            ["mandatory"],
            [("", "must be a JSON object: policy name -> enforcement level or settings")],
        ),
        (
            {"container-probes": "mandatory"},
            [
                (
                    "container-probes",
                    "no such policy in the pack (did you mean 'container-probes-required'?)",
                )
            ],
        ),
        (
            {"image-digest-pinned": "enforced"},
            [
                (
                    "image-digest-pinned",
                    "must be one of advisory, mandatory, remediate, disabled (got 'enforced')",
                )
            ],
        ),
        (
            {"image-digest-pinned": {"enforcementLevel": "remediate"}},
            [
                (
                    "image-digest-pinned.enforcementLevel",
                    "this policy has no remediation; use mandatory",
                )
            ],
        ),
        (
            {"image-digest-pinned": 1},
            [("image-digest-pinned", "must be an enforcement level or an object (got 1)")],
        ),
        (
            {
                "image-digest-pinned": {"enforcementLevel": None},
                "pod-seccomp-profile-required": True,
            },
            [
                (
                    "image-digest-pinned.enforcementLevel",
                    "must be one of advisory, mandatory, remediate, disabled (got null)",
                ),
                (
                    "pod-seccomp-profile-required",
                    "must be an enforcement level or an object (got true)",
                ),
            ],
        ),
        (
            {"all": {"enforcementLevel": "mandatory", "maxCpu": "1"}},
            [("all.maxCpu", "`all` takes only enforcementLevel")],
        ),
        (
            {
                "image-registry-allowed": {"enforcementLevel": ["mandatory"]},
                "all": {"enforcementLevel": {"level": "mandatory"}},
            },
            [
                (
                    "image-registry-allowed.enforcementLevel",
                    "must be one of advisory, mandatory, remediate, disabled (got ['mandatory'])",
                ),
                (
                    "all.enforcementLevel",
                    "must be one of advisory, mandatory, remediate, disabled "
                    "(got {'level': 'mandatory'})",
                ),
            ],
        ),
        (
            {
                "pod-seccomp-profile-required": "remediate",
                "all": "advisory",
                "container-limits-within-caps": {
                    "enforcementLevel": "mandatory",
                    "maxMemory": "1GB",
                },
            },
            [
                (
                    "container-limits-within-caps.maxMemory",
                    "'1GB' is not a Kubernetes quantity (examples: 250m, 0.5, 128Mi, 1Gi)",
                )
            ],
        ),
    ],
    ids=[
        "not an object",
        "unknown policy",
        "bad level",
        "remediate",
        "bad value",
        "JSON's words",
        "all",
        "a level that is no text",
        "nested",
    ],
)
def test_config_documents_name_each_problems_key_path(document, expected):
    assert problems_of(document) == expected


def test_unreadable_json_is_one_clear_error(tmp_path):
    path = tmp_path / "prod.json"
    path.write_text('{"image-digest-pinned": "mandatory",\n}')
    with pytest.raises(PolicyConfigError) as raised:
        load_config(path)
    assert str(raised.value) == (
        f"invalid policy config {path}: is not JSON (line 2, column 1: Expecting property name "
        "enclosed in double quotes)"
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            '{"container-limits-within-caps": {"maxCpu": ' + "1" * 5_000 + "}}",
            "is not JSON the pack can read (a number of more than 4300 digits)",
        ),
        ("[" * 100_000, "is not JSON the pack can read (arrays or objects nested too deeply)"),
    ],
    ids=["5000 digits", "100000 deep"],
)
def test_json_python_does_not_read_is_one_clear_error(tmp_path, capsys, text, says):
    path = tmp_path / "prod.json"
    path.write_text(text)

    with pytest.raises(PolicyConfigError) as raised:
        load_config(path)
    assert str(raised.value) == f"invalid policy config {path}: {says}"
    assert main([str(path)]) == INVALID
    assert capsys.readouterr().err == f"invalid policy config {path}: {says}\n"


@pytest.mark.parametrize(
    ("policy", "settings", "path"),
    [
        ("image-registry-allowed", {"allowedRegistries": [PRIVATE_PEM]}, "allowedRegistries[0]"),
        ("container-limits-within-caps", {"maxCpu": PRIVATE_PEM}, "maxCpu"),
        ("container-limits-within-caps", {"maxMemory": PRIVATE_PEM}, "maxMemory"),
        (
            "pod-host-namespaces-disallowed",
            {"exclude": [{"kind": PRIVATE_PEM, "reason": "r"}]},
            "exclude[0].kind",
        ),
    ],
)
def test_a_private_key_pasted_anywhere_is_named_never_shown(policy, settings, path):
    problems = settings_problems(SETTINGS_MODELS[policy], settings)

    assert [p.path for p in problems] == [path]
    message = problems[0].message
    assert message.startswith("the value (a PEM private key, not shown: ")
    assert "BEGIN" not in message
    assert not any(line in message for line in PRIVATE_PEM.splitlines()[1:-1])


def test_a_value_too_big_to_show_is_said_in_words():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]

    assert json_word(10**5_000) == "a number too long to show"  # repr() refuses it
    assert json_word(deep) == "a list or object nested too deeply to show"


def test_a_file_that_is_not_text_is_one_clear_error(tmp_path):
    path = tmp_path / "prod.json"
    path.write_bytes(b'{"image-digest-pinned": "\xff"}')
    with pytest.raises(PolicyConfigError) as raised:
        load_config(path)
    assert str(raised.value) == (
        f"invalid policy config {path}: is not UTF-8 text (byte 25: invalid start byte)"
    )


def test_the_command_line_takes_help_and_refuses_unknown_options(capsys):
    with pytest.raises(SystemExit) as helped:
        main(["--help"])
    assert helped.value.code == 0
    assert "usage: python -m go_platform_policies.pack_config [-h] [FILE ...]" in (
        capsys.readouterr().out
    )
    with pytest.raises(SystemExit) as refused:
        main(["--strict"])
    assert refused.value.code == 2  # a usage error, neither a verdict (65) nor a crash (1)
    assert capsys.readouterr().err.splitlines()[-1].endswith("unrecognized arguments: --strict")


def test_the_command_line_check_reports_and_fails(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"image-digest-pinned": "enforced", "nope": "advisory"}))
    assert main([str(bad)]) == INVALID == 65
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"invalid policy config {bad} (2 problems):",
        "  - image-digest-pinned: must be one of advisory, mandatory, remediate, disabled "
        "(got 'enforced')",
        "  - nope: no such policy in the pack (see docs/policies.md)",
    ]
    assert main([]) == 0
    assert capsys.readouterr().out.count(": ok") == 4


# --- the committed files -----------------------------------------------------------------


def committed(environment: str) -> dict:
    return load_config(CONFIG_DIR / f"{environment}.json")


def level(environment: str, policy: str) -> str:
    entry = committed(environment)[policy]
    return entry if isinstance(entry, str) else entry["enforcementLevel"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_committed_files_configure_every_policy(environment):
    assert set(committed(environment)) == {p.name for p in POLICIES}


def test_policies_belong_to_exactly_one_known_group():
    for policy in POLICIES:
        assert len(policy.tags) == 1, policy.name
        assert policy.tags[0] in GROUPS, policy.name


def expected_level(policy, environment: str) -> str:
    group = policy.tags[0]
    if environment in ("staging", "prod") or group == POD_SECURITY_BASELINE:
        return "mandatory"
    if policy.name == "traefik-dashboard-not-insecure":
        return "mandatory"
    if policy.name == "ingressroute-tls-required":
        return "advisory" if environment == "local" else "mandatory"
    if policy.name == "pod-seccomp-profile-required":
        return "remediate"
    assert group in (POD_SECURITY_RESTRICTED, SECURITY, SUPPLY_CHAIN, BEST_PRACTICE)
    return "advisory"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_enforcement_per_environment(environment):
    assert {p.name: level(environment, p.name) for p in POLICIES} == {
        p.name: expected_level(p, environment) for p in POLICIES
    }


def test_production_caps_and_minimums_are_stricter_where_they_should_be():
    assert committed("prod")["deployment-replicas-minimum"]["minReplicas"] == 2
    assert committed("local")["deployment-replicas-minimum"]["minReplicas"] == 1
    assert committed("prod")["image-registry-allowed"]["allowedRegistries"] == [
        "registry.example.com"
    ]


# --- the environment and the initial config ---------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"PULUMI_CONFIG": '{"go-platform:environment": "dev"}', "PULUMI_STACK": "prod"}, "dev"),
        ({"PULUMI_CONFIG": "{}", "PULUMI_STACK": "staging"}, "staging"),
        ({"PULUMI_CONFIG": "not json", "PULUMI_STACK": "local"}, "local"),
        ({"PULUMI_CONFIG": '{"go-platform:environment": "qa"}', "PULUMI_STACK": "qa"}, "prod"),
        ({}, "prod"),
    ],
)
def test_environment_of_the_stack(environ, expected):
    assert environment_of(environ) == expected


def test_initial_config_is_the_environments_file_with_enum_levels():
    config = initial_config({"PULUMI_STACK": "dev"})
    assert config["pod-seccomp-profile-required"] is EnforcementLevel.REMEDIATE
    assert config["container-limits-within-caps"] == {
        "enforcementLevel": EnforcementLevel.ADVISORY,
        "maxCpu": "2",
        "maxMemory": "2Gi",
    }
    assert set(config) == {p.name for p in POLICIES}


# --- the engine's schema -------------------------------------------------------------------


def test_engine_schemas_are_self_contained():
    for policy in POLICIES:
        schema = policy.config_schema
        assert schema is not None, policy.name
        assert "exclude" in schema.properties, policy.name
        assert "$ref" not in json.dumps(schema.properties), policy.name


def engine_validates(policy, properties) -> None:
    """Validate as the engine does: an object schema made of the policy's properties."""
    schema = {"type": "object", "properties": policy.config_schema.properties}
    jsonschema.validate(properties, schema)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_engine_schemas_accept_the_committed_settings(environment):
    for name, entry in committed(environment).items():
        if isinstance(entry, dict):
            properties = {k: v for k, v in entry.items() if k != "enforcementLevel"}
            engine_validates(POLICIES_BY_NAME[name], properties)


@pytest.mark.parametrize(
    ("policy", "properties"),
    [
        ("container-limits-within-caps", {"maxCpu": 2}),
        ("image-signature-verified", {"publicKeys": "one key"}),
        ("image-vulnerability-scanned", {"maxAgeHours": "a week"}),
        ("image-vulnerability-scanned", {"failOn": "severe"}),
        ("service-load-balancer-restricted", {"allowed": [{"labels": {"a": 1}}]}),
        ("pod-host-namespaces-disallowed", {"exclude": [{"kind": "Pod"}]}),
    ],
)
def test_engine_schemas_reject_wrong_types(policy, properties):
    with pytest.raises(jsonschema.ValidationError):
        engine_validates(POLICIES_BY_NAME[policy], properties)


def test_only_remediating_policies_may_be_set_to_remediate():
    remediating = {
        p.name for p in POLICIES if isinstance(p, ResourceValidationPolicy) and p.has_remediation()
    }
    assert remediating == {"pod-seccomp-profile-required"}
    for environment in ENVIRONMENTS:
        for name in committed(environment):
            if level(environment, name) == "remediate":
                assert name in remediating
