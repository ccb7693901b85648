"""Upstream CRDs and the order the program creates things in.

Invariants guarded:
- the local stack installs the upstream CRDs (traefik.io, cert-manager.io,
  monitoring.coreos.com) from configured sources; other environments leave it to charts;
- custom resources wait for their definitions: the gateway waits for the CRDs, every
  child of every service waits for the gateway (whose charts install CRDs elsewhere);
- CRD sources that match no file are an error naming `crds.sources[i]`.
"""

from __future__ import annotations

import runpy

import pytest

from components.config import ConfigError, load_settings
from tests.conftest import REPO, service_config, stack_config


def run(pulumi_program, stack="local", **keys):
    return pulumi_program(
        lambda: runpy.run_path(str(REPO / "__main__.py"), run_name="__main__"),
        stack=stack,
        config=stack_config(**keys),
    )


def test_local_installs_the_upstream_crds(pulumi_program):
    recording = run(pulumi_program)
    group = recording.one("ConfigGroup", parent="crds").inputs
    assert group["files"] == [
        "upstream/crds/traefik/*.yaml",
        "upstream/crds/cert-manager/*.yaml",
        "upstream/crds/prometheus-operator/*.yaml",
    ]


def test_other_environments_leave_crds_to_the_charts(pulumi_program):
    assert run(pulumi_program, "dev", domain="dev.example.com").of_kind("ConfigGroup") == []


def test_custom_resources_wait_for_their_definitions(pulumi_program):
    recording = run(
        pulumi_program, services=[service_config(route={"host": "greeter.go-platform.localhost"})]
    )
    definitions = recording.one("ConfigGroup", parent="crds")
    for child in recording.children("gateway"):
        assert definitions.urn in child.dependencies, child.name
    gateway_children = {r.urn for r in recording.children("gateway")}
    for child in recording.children("greeter"):
        assert gateway_children <= child.dependencies, child.name


def test_sources_must_exist():
    with pytest.raises(ConfigError) as caught:
        load_settings(stack_config(crds={"sources": ["crds/nothing-here/*.yaml"]}), stack="local")
    assert [str(p) for p in caught.value.problems] == [
        f"go-platform:crds.sources[0]: 'crds/nothing-here/*.yaml' matches no file under {REPO}"
    ]


def test_urls_are_taken_as_given():
    settings = load_settings(
        stack_config(crds={"sources": ["https://example.com/traefik/crds.yaml"]}), stack="local"
    )
    assert settings.crds.sources == ["https://example.com/traefik/crds.yaml"]


def test_install_needs_sources():
    with pytest.raises(ConfigError) as caught:
        load_settings(
            stack_config(environment="dev", domain="example.com", crds={"install": True}),
            stack="dev",
        )
    assert [str(p) for p in caught.value.problems] == [
        "go-platform:crds.sources: is empty; name the definitions to install"
    ]
