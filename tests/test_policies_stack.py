"""Stack-level policies, through real `StackValidationArgs` with config.

Invariants guarded:
- `deployment-disruption-budget`: a Deployment or StatefulSet with 2+ replicas (its
  autoscaler's floor, else its own) needs a PodDisruptionBudget in its namespace whose selector
  matches its pod labels; a budget that allows no eviction at that scale (maxUnavailable
  0 / 0%, minAvailable >= replicas / 100%) is reported against the budget;
- `deployment-replicas-minimum`: a Deployment's floor (its autoscaler's minReplicas, which
  wins over spec.replicas, else replicas, else 1) reaches the configured minimum; the
  resource that sets it is named;
- `namespace-network-policy`: every namespace with a workload has a NetworkPolicy, with
  unset namespaces read as `default`, and exempted namespaces skipped;
- `env-secrets-not-literal`: secret-looking variables (password, token, key, camelCase
  too) are never literal in env, nor in a ConfigMap that envFrom copies into the
  environment; `_FILE` / `_URL`-style names, public keys and allowed names pass;
- every violation is reported against the resource to change.
"""

from __future__ import annotations

import pytest

from go_platform_policies.stack import looks_secret, selector_matches
from tests.policy_fixtures import (
    LABELS,
    POLICIES_BY_NAME,
    Resource,
    case,
    check_stack,
    good_container,
    good_pod_spec,
    pod,
    run_case,
    workload,
)

C0 = "container 'app' (spec.template.spec.containers[0])"
SECRET_REF = "a Secret reference (valueFrom.secretKeyRef, or envFrom a Secret)"


def app(
    replicas: int | None = 3, *, namespace: str = "apps", kind: str = "Deployment", **changes
) -> Resource:
    resource_type = {
        "Deployment": "kubernetes:apps/v1:Deployment",
        "StatefulSet": "kubernetes:apps/v1:StatefulSet",
        "DaemonSet": "kubernetes:apps/v1:DaemonSet",
        "Job": "kubernetes:batch/v1:Job",
    }[kind]
    props = workload(
        resource_type,
        pod(changes)["spec"]["template"]["spec"] if changes else None,
        replicas=replicas,
        namespace=namespace,
    )
    if namespace == "":
        props["metadata"].pop("namespace")
    return Resource(resource_type, props, name="app")


def pdb(namespace: str = "apps", selector: dict | None = None, **spec) -> Resource:
    return Resource(
        "kubernetes:policy/v1:PodDisruptionBudget",
        {
            "metadata": {"name": "app", "namespace": namespace},
            "spec": {
                "selector": selector if selector is not None else {"matchLabels": LABELS},
                **spec,
            },
        },
        name="pdb",
    )


def hpa(min_replicas: int | None, target: str = "app") -> Resource:
    spec: dict = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "maxReplicas": 10,
    }
    if min_replicas is not None:
        spec["minReplicas"] = min_replicas
    return Resource(
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        {"metadata": {"name": "app", "namespace": "apps"}, "spec": spec},
        name="hpa",
    )


def network_policy(namespace: str = "apps") -> Resource:
    return Resource(
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        {
            "metadata": {"name": "app", "namespace": namespace},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        },
        name="netpol",
    )


def config_map(data: dict, name: str = "app-env") -> Resource:
    return Resource(
        "kubernetes:core/v1:ConfigMap",
        {"metadata": {"name": name, "namespace": "apps"}, "data": data},
        name="env",
    )


def with_env(*env: dict, env_from: list | None = None, init: bool = False) -> Resource:
    container = good_container(env=list(env))
    if env_from is not None:
        container["envFrom"] = env_from
    changes = {"containers[0]": container}
    if init:
        changes = {"initContainers": [{**good_container("migrate"), "env": list(env)}]}
    return app(1, **changes)


NO_PDB = (
    "app: Deployment 'app' runs 3 replicas (spec.replicas of Deployment 'app') and no "
    "PodDisruptionBudget selects its pods (labels {app.kubernetes.io/instance: 'app', "
    "app.kubernetes.io/name: 'app'}); expected one with maxUnavailable: 1, so drains "
    "evict one pod at a time"
)
BLOCKS = (
    "no pod of Deployment 'app' ({replicas} replicas) can ever be evicted, which blocks node "
    "drains and cluster upgrades"
)
NO_NETPOL = (
    "app: namespace '{namespace}' (of {kind} 'app') has no NetworkPolicy in this stack; "
    "expected at least one there (default deny, then allow what each workload needs)"
)
TOO_FEW = (
    "expected at least 2 in this environment, so Deployment 'app' survives losing a pod or a node"
)

CASES = [
    # deployment-disruption-budget
    case(
        "deployment-disruption-budget",
        "3 replicas, one pod at a time",
        [app(3), pdb(maxUnavailable=1)],
    ),
    case("deployment-disruption-budget", "a single replica needs none", [app(1)]),
    case(
        "deployment-disruption-budget",
        "autoscaled from 2, minAvailable 1",
        [app(None), hpa(2), pdb(minAvailable=1)],
    ),
    case(
        "deployment-disruption-budget",
        "no budget",
        [app(3)],
        NO_PDB,
    ),
    case(
        "deployment-disruption-budget",
        "one replica held at three or more by its autoscaler",
        [app(1), hpa(3)],
        "app: Deployment 'app' runs 3 replicas (spec.minReplicas of HorizontalPodAutoscaler "
        "'app') and no PodDisruptionBudget selects its pods (labels "
        "{app.kubernetes.io/instance: 'app', app.kubernetes.io/name: 'app'}); expected one "
        "with maxUnavailable: 1, so drains evict one pod at a time",
    ),
    case(
        "deployment-disruption-budget",
        "a budget in another namespace does not count",
        [app(3), pdb(namespace="other", maxUnavailable=1)],
        NO_PDB,
    ),
    case(
        "deployment-disruption-budget",
        "a budget selecting other pods does not count",
        [
            app(3),
            pdb(
                selector={
                    "matchExpressions": [
                        {"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["app"]}
                    ]
                },
                maxUnavailable=1,
            ),
        ],
        NO_PDB,
    ),
    case(
        "deployment-disruption-budget",
        "maxUnavailable 0 blocks every eviction",
        [app(3), pdb(maxUnavailable=0)],
        "pdb: spec.maxUnavailable is 0; expected at least 1 (or a percentage above 0%): as it "
        f"stands {BLOCKS.format(replicas=3)}",
    ),
    case(
        "deployment-disruption-budget",
        "minAvailable 100% of an autoscaled floor",
        [app(None), hpa(2), pdb(minAvailable="100%")],
        "pdb: spec.minAvailable is '100%'; expected fewer than the 2 replicas: as it stands "
        f"{BLOCKS.format(replicas=2)}",
    ),
    case(
        "deployment-disruption-budget",
        "a StatefulSet without a budget",
        [app(2, kind="StatefulSet")],
        "app: StatefulSet 'app' runs 2 replicas (spec.replicas of StatefulSet 'app') and no "
        "PodDisruptionBudget selects its pods (labels {app.kubernetes.io/instance: 'app', "
        "app.kubernetes.io/name: 'app'}); expected one with maxUnavailable: 1, so drains "
        "evict one pod at a time",
    ),
    # deployment-replicas-minimum
    case("deployment-replicas-minimum", "three replicas", [app(3)], config={"minReplicas": 2}),
    case(
        "deployment-replicas-minimum",
        "an autoscaler with a floor of 2",
        [app(None), hpa(2)],
        config={"minReplicas": 2},
    ),
    case(
        "deployment-replicas-minimum",
        "DaemonSets are not counted",
        [app(None, kind="DaemonSet")],
        config={"minReplicas": 2},
    ),
    case(
        "deployment-replicas-minimum",
        "one replica",
        [app(1)],
        f"app: spec.replicas is 1; {TOO_FEW}",
        config={"minReplicas": 2},
    ),
    case(
        "deployment-replicas-minimum",
        "replicas unset, no autoscaler",
        [app(None)],
        f"app: spec.replicas is unset (1 pod); {TOO_FEW}",
        config={"minReplicas": 2},
    ),
    case(
        "deployment-replicas-minimum",
        "an autoscaler whose floor is 1",
        [app(None), hpa(1)],
        f"hpa: spec.minReplicas is 1; {TOO_FEW}",
        config={"minReplicas": 2},
    ),
    # The autoscaler sets the replicas: its floor counts, whatever spec.replicas says.
    case(
        "deployment-replicas-minimum",
        "two replicas but an autoscaler whose floor is 1",
        [app(2), hpa(1)],
        f"hpa: spec.minReplicas is 1; {TOO_FEW}",
        config={"minReplicas": 2},
    ),
    case(
        "deployment-replicas-minimum",
        "the default minimum is 2",
        [app(None), hpa(None)],
        f"hpa: spec.minReplicas is unset (1 pod); {TOO_FEW}",
    ),
    # namespace-network-policy
    case(
        "namespace-network-policy",
        "a policy next to the workload",
        [app(1), network_policy()],
    ),
    case(
        "namespace-network-policy",
        "an exempted namespace",
        [app(1, namespace="kube-system")],
        config={"exclude": [{"namespace": "kube-system", "reason": "managed by the provider"}]},
    ),
    case(
        "namespace-network-policy",
        "no policy at all",
        [app(1)],
        NO_NETPOL.format(namespace="apps", kind="Deployment"),
    ),
    case(
        "namespace-network-policy",
        "a policy in another namespace",
        [app(1), network_policy("other")],
        NO_NETPOL.format(namespace="apps", kind="Deployment"),
    ),
    case(
        "namespace-network-policy",
        "a Job without a namespace runs in default",
        [app(None, kind="Job", namespace=""), network_policy()],
        NO_NETPOL.format(namespace="default", kind="Job"),
    ),
    # env-secrets-not-literal
    case(
        "env-secrets-not-literal",
        "secrets by reference, plain settings literal",
        [
            with_env(
                {
                    "name": "DB_PASSWORD",
                    "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
                },
                {"name": "LOG_LEVEL", "value": "debug"},
                {"name": "DB_PASSWORD_FILE", "value": "/run/secrets/db"},
                {"name": "OIDC_TOKEN_URL", "value": "https://idp.example.com/token"},
                {"name": "JWT_PUBLIC_KEY", "value": "-----BEGIN PUBLIC KEY-----"},
                {"name": "API_TOKEN", "value": ""},
            )
        ],
    ),
    case(
        "env-secrets-not-literal",
        "an allowed name",
        [with_env({"name": "CACHE_KEY_PREFIX", "value": "v1:"})],
        config={"allowedNames": ["CACHE_KEY_PREFIX"]},
    ),
    case(
        "env-secrets-not-literal",
        "a literal password",
        [
            with_env(
                {"name": "LOG_LEVEL", "value": "info"}, {"name": "DB_PASSWORD", "value": "hunter2"}
            )
        ],
        f"app: {C0}: env[1] (DB_PASSWORD) has a literal value; expected {SECRET_REF}",
    ),
    case(
        "env-secrets-not-literal",
        "a camelCase API key in an init container",
        [with_env({"name": "stripeApiKey", "value": "sk_live_x"}, init=True)],
        "app: container 'migrate' (spec.template.spec.initContainers[0]): env[0] (stripeApiKey) "
        f"has a literal value; expected {SECRET_REF}",
    ),
    case(
        "env-secrets-not-literal",
        "a token in a ConfigMap read through envFrom",
        [
            with_env(env_from=[{"configMapRef": {"name": "app-env"}, "prefix": "GITHUB_"}]),
            config_map({"TOKEN": "ghp_x", "ORG": "acme"}),
        ],
        "env: data.TOKEN is a literal value, and container 'app' of Deployment 'app' reads it as "
        f"GITHUB_TOKEN ({C0.split('(')[1][:-1]}.envFrom[0]); expected {SECRET_REF}",
    ),
]


@pytest.mark.parametrize("fixture", CASES, ids=str)
def test_case(fixture):
    assert run_case(fixture) == list(fixture.expected)


def test_a_config_map_nobody_reads_into_env_is_not_checked():
    policy = POLICIES_BY_NAME["env-secrets-not-literal"]
    assert check_stack(policy, [app(1), config_map({"tls.key": "x", "PASSWORD": "y"})]) == []


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("DB_PASSWORD", True),
        ("db-passwd", True),
        ("STRIPE_SECRET_KEY", True),
        ("GITHUB_TOKEN", True),
        ("apiKey", True),
        ("APIKEY", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("SMTP_CREDENTIALS", True),
        ("GPG_PASSPHRASE", True),
        ("SESSIONSECRET", True),
        ("DB_PASSWORD_FILE", False),
        ("TOKEN_URL", False),
        ("JWT_PUBLIC_KEY", False),
        ("KEYCLOAK_HOST", False),
        ("MONKEY_COUNT", False),
        ("PWD", False),
        ("LOG_LEVEL", False),
        ("GOMEMLIMIT", False),
        ("OTEL_RESOURCE_ATTRIBUTES", False),
    ],
)
def test_secret_looking_names(name, secret):
    assert looks_secret(name) is secret


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ({}, {"a": "1"}, True),
        (None, {"a": "1"}, False),
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "1", "c": "3"}}, {"a": "1"}, False),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]},
            {"a": "2"},
            True,
        ),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"b": "1"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"b": "1"}, True),
        ({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}, {"a": "1"}, False),
    ],
)
def test_label_selectors(selector, labels, matches):
    assert selector_matches(selector, labels) is matches


def test_good_pod_spec_fixture_is_a_copy():
    first = good_pod_spec()
    first["containers"][0]["name"] = "changed"
    assert good_pod_spec()["containers"][0]["name"] == "app"
