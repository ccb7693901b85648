"""Upstream CRDs and the order the program creates things in.

Invariants guarded:
- the local stack installs the upstream CRDs (traefik.io, cert-manager.io,
  monitoring.coreos.com) from configured sources; other environments leave it to charts;
- it installs the definitions of exactly the kinds the program creates in some committed
  stack file: none missing, none that nothing creates;
- custom resources, and nothing else, wait for the definitions; where charts bring the
  definitions (dev, staging, prod) each custom resource of a service or the module proxy
  waits for the chart of its API group instead (and a monitor for no gateway chart), and
  nothing else of theirs for the platform's objects; without charts no workload waits for
  the platform's objects;
- CRD sources that match no file are an error naming `crds.sources[i]`, as are sources that
  are empty, absolute or outside the project, match a directory, or are URLs carrying
  credentials; none raises.
"""

from __future__ import annotations

import dataclasses
import runpy

import pytest
import yaml

from components.crds import api_group
from go_platform_core.config import LOCAL_CRD_SOURCES, ConfigError, load_settings
from tests.conftest import REPO, STACK_FILES, service_config, stack_config, stack_file_config


def run(pulumi_program, stack="local", **keys):
    return pulumi_program(
        lambda: runpy.run_path(str(REPO / "__main__.py"), run_name="__main__"),
        stack=stack,
        config=stack_config(**keys),
    )


def test_local_installs_the_upstream_crds(pulumi_program):
    recording = run(pulumi_program)
    group = recording.one("ConfigGroup", parent="crds").inputs
    assert group["files"] == list(LOCAL_CRD_SOURCES)


def defined_kinds(sources) -> set[tuple[str, str]]:
    """(group, kind) of every definition in the files `sources` names."""
    documents = [yaml.safe_load((REPO / source).read_text()) for source in sources]
    return {(d["spec"]["group"], d["spec"]["names"]["kind"]) for d in documents}


def created_kinds(recording) -> set[tuple[str, str]]:
    """(group, kind) of every custom resource the program registered."""
    custom = [r for r in recording.resources if api_group(r.type) is not None]
    return {(r.type.split(":")[1].split("/")[0], r.kind) for r in custom}


def test_local_installs_the_definitions_of_exactly_the_kinds_the_program_creates(
    pulumi_program,
):
    created = set()
    for stack_file in STACK_FILES:
        stack = stack_file.stem.split(".")[1]
        recording = pulumi_program(
            lambda: runpy.run_path(str(REPO / "__main__.py"), run_name="__main__"),
            stack=stack,
            config=stack_file_config(stack_file),
        )
        created |= created_kinds(recording)
    assert ("traefik.io", "TraefikService") in created  # the local stack's canary
    assert defined_kinds(LOCAL_CRD_SOURCES) == created


def test_other_environments_leave_crds_to_the_charts(pulumi_program):
    assert run(pulumi_program, "dev", domain="dev.example.com").of_kind("ConfigGroup") == []


def test_only_custom_resources_wait_for_the_definitions(pulumi_program):
    recording = run(
        pulumi_program, services=[service_config(route={"host": "greeter.go-platform.localhost"})]
    )
    definitions = recording.one("ConfigGroup", parent="crds").urn
    custom = [r for r in recording.resources if api_group(r.type) is not None]
    assert {r.kind for r in custom} >= {
        "IngressRoute",
        "Middleware",
        "Certificate",
        "ServiceMonitor",
    }
    for resource in custom:
        assert definitions in resource.dependencies, resource.name
    for resource in recording.resources:
        if api_group(resource.type) is None:
            assert definitions not in resource.dependencies, resource.name


def test_without_charts_no_workload_waits_for_the_platform(pulumi_program):
    recording = run(
        pulumi_program, services=[service_config(route={"host": "greeter.go-platform.localhost"})]
    )
    platform = {r.urn for r in recording.children("gateway") + recording.children("observability")}
    workloads = [
        r
        for r in recording.children("greeter")
        if r.kind in ("Deployment", "Service", "ConfigMap", "ServiceAccount", "NetworkPolicy")
    ]
    assert len(workloads) >= 4
    for child in workloads:
        assert not platform & child.dependencies, child.name


def test_where_charts_bring_the_definitions_custom_resources_wait_for_their_chart(
    pulumi_program,
):
    recording = run(
        pulumi_program,
        "dev",
        domain="dev.example.com",
        services=[
            service_config(
                route={"host": "greeter.dev.example.com", "pathPrefix": "/api", "stripPrefix": True}
            )
        ],
    )
    chart_of = {
        "traefik.io": recording.one("Chart", name="gateway-traefik").urn,
        "cert-manager.io": recording.one("Chart", name="gateway-cert-manager").urn,
        "monitoring.coreos.com": recording.one("Chart", name="observability-kps").urn,
    }
    platform = {r.urn for r in recording.children("gateway") + recording.children("observability")}
    followers = [
        r
        for component in ("greeter", "module-proxy", "module-proxy-athens")
        for r in recording.children(component)
    ]
    assert {r.kind for r in followers} >= {
        "Deployment",
        "Service",
        "IngressRoute",
        "Middleware",
        "Certificate",
        "ServiceMonitor",
        "PrometheusRule",
    }
    for child in followers:
        group = api_group(child.type)
        if group is None:
            assert not platform & child.dependencies, child.name
        else:
            assert chart_of[group] in child.dependencies, child.name
    monitors = recording.of_kind("ServiceMonitor") + recording.of_kind("PrometheusRule")
    for monitor in (m for m in monitors if m in followers):
        gateway_charts = {chart_of["traefik.io"], chart_of["cert-manager.io"]}
        assert not gateway_charts & monitor.dependencies, monitor.name


@pytest.mark.parametrize(
    ("resource_type", "group"),
    [
        ("kubernetes:traefik.io/v1alpha1:IngressRoute", "traefik.io"),
        ("kubernetes:cert-manager.io/v1:Certificate", "cert-manager.io"),
        ("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "monitoring.coreos.com"),
        ("kubernetes:core/v1:Service", None),
        ("kubernetes:apps/v1:Deployment", None),
        ("kubernetes:networking.k8s.io/v1:NetworkPolicy", None),
        ("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition", None),
        ("kubernetes:helm.sh/v4:Chart", None),
        ("kubernetes:yaml/v2:ConfigGroup", None),
        ("random:index/randomPassword:RandomPassword", None),
        ("go-platform:index:GoServiceStack", None),
    ],
)
def test_custom_resources_are_told_apart_by_their_group(resource_type, group):
    assert api_group(resource_type) == group


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


def _source_problems(tmp_path, *sources):
    """The problems of `crds.sources`, relative to a project in `tmp_path` holding
    `crds/a.yaml` and the empty folder `crds/empty`."""
    (tmp_path / "crds" / "empty").mkdir(parents=True)
    (tmp_path / "crds" / "a.yaml").write_text("kind: CustomResourceDefinition\n")
    config = dataclasses.replace(
        stack_config(crds={"install": True, "sources": list(sources)}), project_dir=tmp_path
    )
    try:
        load_settings(config, stack="local")
    except ConfigError as error:
        return [str(p) for p in error.problems]
    return []


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("", "is empty; name a file or glob relative to the project (`crds/*.yaml`)"),
        (" ", "is empty; name a file or glob relative to the project (`crds/*.yaml`)"),
        ("/etc/crds/*.yaml", "'/etc/crds/*.yaml' is not relative to the project; name it from {}"),
        ("~/crds/a.yaml", "'~/crds/a.yaml' is not relative to the project; name it from {}"),
        ("../*", "'../*' reaches outside the project ({}); copy the files in"),
        ("crds/../../x.yaml", "'crds/../../x.yaml' reaches outside the project ({}); copy the files in"),
        ("crds", "'crds' matches the directory 'crds'; name the files in it (`crds/*.yaml`)"),
        ("crds/*", "'crds/*' matches the directory 'crds/empty'; name the files in it (`crds/empty/*.yaml`)"),
        (".", "'.' matches the directory '.'; name the files in it (`./*.yaml`)"),
        ("a" * 300, f"'{'a' * 96}... matches no file under {{}}"),
        ("crds/a\x00.yaml", "'crds/a\\x00.yaml' matches no file under {}"),
    ],
    ids=["empty", "blank", "absolute", "home", "parent", "parent inside", "directory",
         "glob of a directory", "dot", "name too long", "NUL"],
)  # fmt: skip
def test_a_source_that_names_no_readable_file_of_the_project_is_refused(tmp_path, source, reason):
    """Each once crashed the program (ValueError, NotImplementedError, OSError) or validated
    and then failed the deployment."""
    assert _source_problems(tmp_path, "crds/a.yaml", source) == [
        f"go-platform:crds.sources[1]: {reason.format(tmp_path)}"
    ]


def test_files_and_globs_of_files_in_the_project_are_taken(tmp_path):
    assert _source_problems(tmp_path, "crds/a.yaml", "crds/*.yaml", "./crds/a.yaml") == []


def test_a_source_url_with_credentials_is_refused_unshown(tmp_path):
    [problem] = _source_problems(tmp_path, "https://ci:S3cr3tT0ken@crds.example.com/a.yaml")
    assert problem == (
        "go-platform:crds.sources[0]: the value (not shown: it may hold credentials) carries a "
        "user or password: settings are stored and deployed in plain text, so keep "
        "credentials out of URLs"
    )
