"""`__main__.py` as the engine runs it, under mocks, for every stack file in the repo.

Invariants guarded:
- every `Pulumi.<stack>.yaml` in the repo validates and builds: a namespace enforcing the
  restricted Pod Security Standard and one GoServiceStack per configured service;
- secrets named by `secretEnv` are read from config as secrets and stay secret;
- callers declared through egress are let in by the callee's NetworkPolicy;
- every Kubernetes object carries the annotation that makes the platform own the fields it
  declares (drift is repaired, not a Server-Side Apply conflict); an autoscaled Deployment
  declares no replicas;
- images the program builds pass the vulnerability gate (`go-platform:vulnerabilityGate`)
  before they are built, unless it is turned off;
- invalid config stops the program with one clean error, logged to the engine, and the exit
  status that says it was reported (32: no traceback, and no "unhandled error" line from
  the engine) before any resource is registered;
- the program's imports leave out the docker SDK, which only a service that builds its
  image loads (0.1 s of every run otherwise);
- every registration declines resource references (a component's children come back as
  URNs, not fetched and decoded), unless the environment asks for them;
- the SDK's own debug messages are dropped, unless the environment asks for them, and each
  run follows its own environment; what the program logs at info still reaches the engine;
- the program hands each layer over to the engine before it builds the next.
"""

from __future__ import annotations

import ast
import logging
import os
import runpy
import subprocess
import sys

import pulumi
import pytest
import yaml

import wiring
import wiring.foundation
import wiring.gateway
import wiring.module_proxy
import wiring.observability
import wiring.services
from components.resources import with_owned_fields
from tests.conftest import (
    OMIT,
    REPO,
    STACK_FILES,
    run_under_mocks,
    service_config,
    stack_config,
    stack_file_config,
)
from wiring.foundation import RESOURCE_REFERENCES_ENV, SDK_DEBUG_ENV, quiet_sdk_debug_messages

MAIN = str(REPO / "__main__.py")


def run_main(pulumi_program, *, stack, config):
    return pulumi_program(
        lambda: runpy.run_path(MAIN, run_name="__main__"), stack=stack, config=config
    )


def test_the_repo_has_a_stack_file_per_environment():
    assert [p.name for p in STACK_FILES] == [
        "Pulumi.dev.yaml",
        "Pulumi.local.yaml",
        "Pulumi.prod.yaml",
        "Pulumi.staging.yaml",
    ]


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=lambda p: p.stem.split(".")[1])
def test_every_stack_file_builds(pulumi_program, stack_file):
    stack = stack_file.stem.split(".")[1]
    recording = run_main(pulumi_program, stack=stack, config=stack_file_config(stack_file))

    namespace = recording.one("Namespace", name="apps-namespace")
    assert (
        namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    )
    services = yaml.safe_load(stack_file.read_text())["config"]["go-platform:services"]
    configured = [s["name"] for s in services]
    # A service with a canary runs a second track, `<name>-canary`.
    tracks = configured + [f"{s['name']}-canary" for s in services if "canary" in s]
    top_level = [r.name for r in recording.top_level("GoServiceStack")]
    assert sorted(top_level) == sorted(tracks)
    for name in configured:
        assert (
            recording.one("Deployment", parent=name).inputs["metadata"]["namespace"]
            == (namespace.inputs["metadata"]["name"])
        )


@pytest.mark.parametrize(
    ("gate", "hooks"), [({}, ("greeter-vulncheck",)), ({"enabled": False}, ())]
)
def test_built_images_are_audited_unless_the_gate_is_off(pulumi_program, gate, hooks):
    build = {"context": "services/greeter", "repository": "registry.example.com/greeter"}
    config = stack_config(
        environment="dev",
        domain="example.com",
        services=[service_config(image=OMIT, build=build)],
        vulnerabilityGate=gate,
    )
    recording = run_main(pulumi_program, stack="dev", config=config)

    image = recording.one("Image")
    assert image.hooks.get("before_create", ()) == hooks
    assert image.hooks.get("before_update", ()) == hooks


def test_secrets_flow_from_config_to_a_kubernetes_secret(pulumi_program):
    config = stack_config(
        secrets={"greeterApiKey": "s3cr3t-value"},
        services=[service_config(secretEnv={"API_KEY": "greeterApiKey"})],
    )
    recording = run_main(pulumi_program, stack="local", config=config)
    secret = recording.one("Secret", parent="greeter")
    assert secret.inputs["stringData"] == {"API_KEY": "s3cr3t-value"}
    assert secret.has_secret("stringData")


def test_callers_are_let_in(pulumi_program):
    config = stack_config(
        services=[
            service_config(name="api", egress=[{"service": "users", "ports": [8080]}]),
            service_config(name="users"),
        ]
    )
    recording = run_main(pulumi_program, stack="local", config=config)
    ingress = recording.one("NetworkPolicy", parent="users").inputs["spec"]["ingress"]
    selectors = [
        peer["podSelector"] for rule in ingress for peer in rule["from"] if "podSelector" in peer
    ]
    assert selectors == [
        {
            "matchExpressions": [
                {"key": "app.kubernetes.io/name", "operator": "In", "values": ["api"]}
            ]
        }
    ]


def test_invalid_config_is_reported_once_and_stops_before_any_resource(pulumi_program, caplog):
    """The problems go to the engine as one error, and the program exits with the status
    that says it reported its error itself (so the engine adds no line of its own)."""
    config = stack_config(
        services=[service_config(replicas=0), service_config(name="b", image="x:1", port=0)]
    )
    with pytest.raises(SystemExit) as caught:
        run_main(pulumi_program, stack="local", config=config)
    assert caught.value.code == 32
    [logged] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert logged.getMessage().splitlines() == [
        "invalid stack configuration (2 problems):",
        "  - go-platform:services[0].replicas: must be at least 1 (got 0)",
        "  - go-platform:services[1].port: must be at least 1 (got 0)",
    ]


def test_nothing_is_registered_when_config_is_invalid(pulumi_program, caplog):
    def program():
        with pytest.raises(SystemExit):
            runpy.run_path(MAIN, run_name="__main__")
        assert any("services[0].image" in r.getMessage() for r in caplog.records)

    config = stack_config(
        domain="example.com", services=[service_config(image="ghcr.io/acme/greeter:latest")]
    )
    assert pulumi_program(program, stack="prod", config=config).resources == []


def test_the_platform_owns_the_fields_it_declares(pulumi_program):
    """Every Kubernetes object carries the patch-force annotation, so drift made by hand
    (`kubectl scale`, `kubectl label`) is repaired by the next `up` instead of failing on a
    Server-Side Apply conflict; an autoscaled Deployment declares no replicas to fight over."""
    recording = run_main(
        pulumi_program, stack="local", config=stack_file_config(REPO / "Pulumi.local.yaml")
    )

    objects = [
        r
        for r in recording.resources
        if r.type.startswith("kubernetes:") and "metadata" in r.inputs
    ]
    assert len(objects) > 20
    unowned = [
        f"{r.type} {r.name}"
        for r in objects
        if (r.inputs["metadata"].get("annotations") or {}).get("pulumi.com/patchForce") != "true"
    ]
    assert unowned == []


def test_owned_fields_keep_the_annotations_already_there():
    metadata = with_owned_fields({"name": "x", "annotations": {"team": "payments"}})
    assert metadata == {
        "name": "x",
        "annotations": {"team": "payments", "pulumi.com/patchForce": "true"},
    }


def test_an_autoscaled_deployment_leaves_replicas_to_the_autoscaler(pulumi_program):
    # Its floor when created, ignored after (ignore_changes; the mocks do not record
    # options: tests/integration/test_local_stack.py proves the autoscaler is never fought).
    service = service_config(autoscaling={"minReplicas": 2, "maxReplicas": 4})
    recording = run_main(pulumi_program, stack="local", config=stack_config(services=[service]))

    deployment = recording.one("Deployment", parent=service["name"])
    assert deployment.inputs["spec"]["replicas"] == 2
    assert deployment.inputs["metadata"]["annotations"]["pulumi.com/patchForce"] == "true"


def test_the_program_loads_the_docker_sdk_only_to_build_an_image():
    tree = ast.parse((REPO / "__main__.py").read_text())
    modules = [
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    ] + [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ]
    check = (
        f"import sys; [__import__(m) for m in {modules!r}]; print('pulumi_docker' in sys.modules)"
    )

    loaded = subprocess.run(
        [sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True, check=True
    )

    assert "wiring.services" in modules
    assert loaded.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("environment", "accepted"), [(None, False), ("false", True), ("true", False)]
)
def test_registrations_decline_resource_references_unless_the_environment_asks(
    pulumi_program, monkeypatch, environment, accepted
):
    if environment is not None:
        monkeypatch.setenv(RESOURCE_REFERENCES_ENV, environment)
    config = stack_file_config(REPO / "Pulumi.local.yaml")

    recording = run_main(pulumi_program, stack="local", config=config)

    assert recording.one("ConfigGroup", parent="crds").accepts_resources is accepted
    assert {r.accepts_resources for r in recording.resources} == {accepted}


def test_a_program_run_leaves_the_process_environment_as_it_found_it(monkeypatch):
    # Module fixtures run the program outside the pulumi_program fixture: a switch it left
    # set would reach every later test in the worker, and the processes they start.
    monkeypatch.delenv(RESOURCE_REFERENCES_ENV, raising=False)
    config = stack_file_config(REPO / "Pulumi.local.yaml")

    run_main(run_under_mocks, stack="local", config=config)

    assert RESOURCE_REFERENCES_ENV not in os.environ


@pytest.mark.parametrize(("environment", "kept"), [(None, False), ("false", False), ("true", True)])
def test_the_sdks_debug_messages_are_dropped_unless_the_environment_asks(
    pulumi_program, monkeypatch, caplog, environment, kept
):
    if environment is not None:
        monkeypatch.setenv(SDK_DEBUG_ENV, environment)
    caplog.set_level(logging.DEBUG)  # where the mocks' engine writes what the SDK logs
    config = stack_file_config(REPO / "Pulumi.local.yaml")

    recording = run_main(pulumi_program, stack="local", config=config)

    messages = [record.getMessage() for record in caplog.records]
    registered = {
        m.rsplit("urn=", 1)[-1]
        for m in messages
        if m.startswith("resource registration successful")
    }
    assert registered >= {r.urn for r in recording.resources} if kept else not registered
    pulumi.info("an info message")  # what the program reports itself still reaches the engine
    assert "an info message" in [record.getMessage() for record in caplog.records]


def test_each_run_sets_the_sdks_debug_logging_as_its_environment_says(monkeypatch):
    # A process that runs the program again (tests, an inline program) follows each run's
    # environment, whatever an earlier run set.
    original = pulumi.log.debug
    try:
        quiet_sdk_debug_messages()
        assert pulumi.log.debug is not original
        monkeypatch.setenv(SDK_DEBUG_ENV, "true")
        quiet_sdk_debug_messages()
        assert pulumi.log.debug is original
    finally:
        pulumi.log.debug = original


def test_the_program_hands_each_layer_over_before_building_the_next(pulumi_program, monkeypatch):
    # The SDK sends registrations only while the program awaits: between two layers the
    # program yields, so the engine (and the providers and the pack) work on the first layers
    # while it builds the rest. What that gains is measured (docs/PERFORMANCE.md).
    calls: list[str] = []

    def recorded(name, function):
        def run(*args):
            calls.append(name)
            return function(*args)

        return run

    async def handed_over():
        calls.append("handed over")

    monkeypatch.setattr(wiring, "handed_over", handed_over)
    layers = (
        wiring.foundation,
        wiring.gateway,
        wiring.observability,
        wiring.module_proxy,
        wiring.services,
    )
    for module in layers:
        name = f"setup_{module.__name__.rsplit('.', 1)[-1]}"
        monkeypatch.setattr(module, name, recorded(name, getattr(module, name)))
    config = stack_file_config(REPO / "Pulumi.local.yaml")

    recording = run_main(pulumi_program, stack="local", config=config)

    assert calls == [
        "setup_foundation",
        "handed over",
        "setup_gateway",
        "handed over",
        "setup_observability",
        "handed over",
        "setup_module_proxy",
        "handed over",
        "setup_services",
    ]
    assert recording.one("Deployment", parent="greeter")  # built to the end, and awaited
