"""CanaryRoute under mocks, and the step plan.

Invariants guarded:
- a service with `canary` runs two tracks (stable and canary Deployments and Services)
  and one IngressRoute, owned by CanaryRoute (the tracks create none of their own);
- the weighted TraefikService splits 100 - weight / weight; header routes pin a request
  to the canary (`X-Canary: always`) or to stable (`never`) at a higher priority;
  optional mirroring and sticky cookie; every spec passes the upstream CRDs;
- changing the weight changes only the TraefikService's spec: same logical name, same
  Kubernetes name and namespace, so the engine updates it in place (no replacement);
- the plan (steps, minimum time to promote, time to roll back) is a stack output;
- plans that cannot promote, or malformed ones, fail with the key path named.
"""

from __future__ import annotations

import runpy

import pytest

from go_platform_core.canary import canary_plan, canary_service
from go_platform_core.config import ConfigError, load_settings
from tests.conftest import REPO, service_config, stack_config
from tests.crd_schemas import validate_custom_resource

CANARY_IMAGE = "ghcr.io/acme/greeter:v1.3.0"


def canary_config(**canary):
    return service_config(
        route={"host": "greeter.go-platform.localhost", "pathPrefix": "/api"},
        canary={"image": CANARY_IMAGE, **canary},
    )


def run(pulumi_program, **canary):
    return pulumi_program(
        lambda: runpy.run_path(str(REPO / "__main__.py"), run_name="__main__"),
        stack="local",
        config=stack_config(services=[canary_config(**canary)]),
    )


def weighted(recording):
    return recording.one("TraefikService", name="greeter-route-weighted")


def test_two_tracks_and_one_route(pulumi_program):
    recording = run(pulumi_program, weight=10)
    deployments = {
        r.inputs["metadata"]["name"]: r
        for r in recording.of_kind("Deployment")
        if r.inputs["metadata"]["namespace"] == "apps"
    }
    assert set(deployments) == {"greeter", "greeter-canary"}
    canary_container = deployments["greeter-canary"].inputs["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert canary_container["image"] == CANARY_IMAGE
    assert (
        deployments["greeter-canary"].inputs["spec"]["template"]["metadata"]["labels"][
            "go-platform/track"
        ]
        == "canary"
    )
    routes = [r.name for r in recording.of_kind("IngressRoute") if r.name.startswith("greeter")]
    assert routes == ["greeter-route-ingressroute"]
    assert recording.one("Certificate", parent="greeter-route").inputs["spec"]["dnsNames"] == [
        "greeter.go-platform.localhost"
    ]
    # Both tracks still let the gateway in.
    for track in ("greeter", "greeter-canary"):
        ingress = recording.one("NetworkPolicy", parent=track).inputs["spec"]["ingress"]
        assert (
            ingress[0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            == "traefik"
        )


def test_weights_split_between_tracks(pulumi_program):
    spec = weighted(run(pulumi_program, weight=25)).inputs["spec"]
    assert [(s["name"], s["weight"]) for s in spec["weighted"]["services"]] == [
        ("greeter", 75),
        ("greeter-canary", 25),
    ]
    assert all(s["port"] == "http" for s in spec["weighted"]["services"])
    validate_custom_resource("traefik.io/v1alpha1", "TraefikService", spec)


def test_header_routes_pin_a_track_at_higher_priority(pulumi_program):
    route = (
        run(pulumi_program, weight=10, header={"name": "X-Track"})
        .one("IngressRoute", parent="greeter-route")
        .inputs["spec"]
    )
    always, never, default = route["routes"]
    base = "Host(`greeter.go-platform.localhost`) && PathPrefix(`/api`)"
    assert always["match"] == f"{base} && Header(`X-Track`, `always`)"
    assert always["services"] == [{"kind": "Service", "name": "greeter-canary", "port": "http"}]
    assert never["match"] == f"{base} && Header(`X-Track`, `never`)"
    assert never["services"] == [{"kind": "Service", "name": "greeter", "port": "http"}]
    assert default["match"] == base
    assert default["services"] == [{"kind": "TraefikService", "name": "greeter-weighted"}]
    assert always["priority"] > default["priority"]
    assert never["priority"] > default["priority"]
    assert always["middlewares"] == default["middlewares"]
    validate_custom_resource("traefik.io/v1alpha1", "IngressRoute", route)


def test_mirroring_sends_a_shadow_copy(pulumi_program):
    recording = run(pulumi_program, mirror=20, weight=10)
    mirror = recording.one("TraefikService", name="greeter-route-mirror").inputs["spec"]
    assert mirror["mirroring"]["kind"] == "TraefikService"
    assert mirror["mirroring"]["name"] == "greeter-weighted"
    assert mirror["mirroring"]["mirrors"] == [
        {"kind": "Service", "name": "greeter-canary", "port": "http", "percent": 20}
    ]
    validate_custom_resource("traefik.io/v1alpha1", "TraefikService", mirror)
    default = recording.one("IngressRoute", parent="greeter-route").inputs["spec"]["routes"][-1]
    assert default["services"] == [{"kind": "TraefikService", "name": "greeter-mirrored"}]


def test_a_canary_at_weight_zero_gets_no_mirrored_requests(pulumi_program):
    # Before its first step, after a rollback and after a promotion: a rejected or
    # retired canary must not keep serving copies of production requests.
    recording = run(pulumi_program, mirror=20, weight=0)
    assert [r.name for r in recording.of_kind("TraefikService")] == ["greeter-route-weighted"]
    default = recording.one("IngressRoute", parent="greeter-route").inputs["spec"]["routes"][-1]
    assert default["services"] == [{"kind": "TraefikService", "name": "greeter-weighted"}]


def test_sticky_sessions_by_cookie(pulumi_program):
    spec = weighted(run(pulumi_program, sticky=True)).inputs["spec"]
    cookie = spec["weighted"]["sticky"]["cookie"]
    assert cookie["name"] == "greeter_track"
    assert cookie["secure"] is True
    assert cookie["httpOnly"] is True
    validate_custom_resource("traefik.io/v1alpha1", "TraefikService", spec)


def test_weight_change_is_an_in_place_update(pulumi_program):
    before = weighted(run(pulumi_program, weight=10))
    after = weighted(run(pulumi_program, weight=25))
    assert before.urn == after.urn
    for key in ("apiVersion", "kind"):
        assert before.inputs[key] == after.inputs[key]
    assert before.inputs["metadata"] == after.inputs["metadata"]
    assert before.inputs["spec"] != after.inputs["spec"]


def test_weight_change_touches_nothing_but_the_split(pulumi_program):
    def snapshot(weight):
        return {(r.type, r.name): r.inputs for r in run(pulumi_program, weight=weight).resources}

    before, after = snapshot(10), snapshot(25)
    assert before.keys() == after.keys()
    changed = {key for key in before if before[key] != after[key]}
    assert changed == {("kubernetes:traefik.io/v1alpha1:TraefikService", "greeter-route-weighted")}


def test_plan_is_previewable():
    settings = load_settings(
        stack_config(services=[canary_config(steps=[5, 10, 20, 50], interval="2m", threshold=2)]),
        stack="local",
    )
    plan = canary_plan(settings.services[0].canary)
    assert [s["weight"] for s in plan["steps"]] == [5, 10, 20, 50]
    assert plan["steps"][-1]["analysisAfter"] == "8m"
    assert plan["minTimeToPromote"] == "8m"
    assert plan["timeToRollback"] == "4m"
    assert plan["analysis"] == {"successRateMin": 99.0, "latencyP99MaxMs": 500}


def test_canary_track_has_no_autoscaler():
    settings = load_settings(
        stack_config(
            services=[
                {
                    **canary_config(replicas=2),
                    "autoscaling": {"minReplicas": 2, "maxReplicas": 5},
                }
            ]
        ),
        stack="local",
    )
    track = canary_service(settings.services[0])
    assert (track.image, track.replicas, track.autoscaling, track.canary) == (
        CANARY_IMAGE,
        2,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("canary", "expected"),
    [
        (
            {"steps": [10, 5, 50]},
            "go-platform:services[0].canary.steps[1]: 5 does not increase on the step before (10)",
        ),
        (
            {"steps": [10, 10, 50]},
            "go-platform:services[0].canary.steps[1]: 10 does not increase on the step before (10)",
        ),
        (
            {"steps": [0, 50]},
            "go-platform:services[0].canary.steps[0]: must be within 1..100 (got 0)",
        ),
        (
            {"steps": [10, 40]},
            "go-platform:services[0].canary.steps: the last step is 40 but maxWeight is 50: the plan could never promote",
        ),
        (
            {"steps": []},
            "go-platform:services[0].canary.steps: must have at least 1 item(s) (got [])",
        ),
        (
            {"weight": 30},
            "go-platform:services[0].canary.weight: must be 0 or one of the steps [10, 25, 50] (got 30)",
        ),
        (
            {"interval": "fast"},
            "go-platform:services[0].canary.interval: 'fast' is not a duration (examples: 30s, 1m, 1m30s, 2h)",
        ),
        ({"threshold": 0}, "go-platform:services[0].canary.threshold: must be at least 1 (got 0)"),
        (
            {"analysis": {"successRate": 120}},
            "go-platform:services[0].canary.analysis.successRate: must be at most 100.0 (got 120)",
        ),
        (
            {"analysis": {"maxLatencyMs": 5000}},
            "go-platform:services[0].canary.analysis.maxLatencyMs: must be below 5000 (got "
            "5000): Traefik's latency histogram ends at 5 s, so any slower p99 reads as 5000 "
            "and could never fail the check",
        ),
        ({"mirror": 0}, "go-platform:services[0].canary.mirror: must be at least 1 (got 0)"),
        (
            {"stepWeight": 5},
            "go-platform:services[0].canary.stepWeight: unknown key (did you mean 'maxWeight'?)",
        ),
    ],
)
def test_bad_plans_name_their_key(canary, expected):
    with pytest.raises(ConfigError) as caught:
        load_settings(stack_config(services=[canary_config(**canary)]), stack="local")
    assert [str(p) for p in caught.value.problems] == [expected]


def test_canary_needs_a_route():
    with pytest.raises(ConfigError) as caught:
        load_settings(
            stack_config(services=[service_config(canary={"image": CANARY_IMAGE})]), stack="local"
        )
    assert [str(p) for p in caught.value.problems] == [
        "go-platform:services[0].canary: needs `route`: a canary is reached through the gateway"
    ]


def test_mutable_canary_image_outside_local_and_dev():
    with pytest.raises(ConfigError) as caught:
        load_settings(
            stack_config(
                domain="example.com",
                services=[
                    service_config(
                        route={"host": "a.example.com"},
                        canary={"image": "ghcr.io/acme/greeter:latest"},
                    )
                ],
            ),
            stack="staging",
        )
    assert [p.path for p in caught.value.problems] == ["services[0].canary.image"]
