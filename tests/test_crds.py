"""Upstream CRDs and the order the program creates things in.

Invariants guarded:
- the local stack installs the upstream CRDs (traefik.io, cert-manager.io,
  monitoring.coreos.com) from configured sources; other environments leave it to charts;
- each definition is a resource of its own, adopting by alias the identity the former
  ConfigGroup gave it (nothing is replaced on upgrade);
- each custom resource waits for its own definition and nothing else does; where charts
  bring the definitions (dev, staging, prod), every child of every service waits for the
  gateway instead, and without charts nothing waits for the platform's objects;
- sources are files, globs or URLs; one that matches no file, cannot be read or fetched, or
  holds something other than definitions is one error naming `crds.sources[i]`, before any
  resource is registered.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import runpy
import threading
from collections.abc import Iterator
from pathlib import Path

import pulumi
import pytest
import yaml

from components.config import ConfigError, load_settings
from components.crds import CrdSourceError, definitions_in, group_and_kind, source_texts
from tests.conftest import REPO, service_config, stack_config


def as_doubles(value: object) -> object:
    return json.loads(json.dumps(value), parse_int=float)


def crd(plural: str) -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.example.com"},
        "spec": {"group": "example.com", "names": {"kind": plural.title()[:-1], "plural": plural}},
    }


@contextlib.contextmanager
def served(directory: Path) -> Iterator[str]:
    """`directory` over HTTP on 127.0.0.1, stopped on exit."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def run(pulumi_program, stack="local", **keys):
    return pulumi_program(
        lambda: runpy.run_path(str(REPO / "__main__.py"), run_name="__main__"),
        stack=stack,
        config=stack_config(**keys),
    )


UPSTREAM_DEFINITIONS = sorted(
    yaml.safe_load(path.read_text())["metadata"]["name"]
    for path in (REPO / "upstream" / "crds").rglob("*.yaml")
)


def test_local_installs_the_upstream_crds(pulumi_program):
    recording = run(pulumi_program)
    definitions = recording.children("crds")
    assert sorted(d.inputs["metadata"]["name"] for d in definitions) == UPSTREAM_DEFINITIONS
    assert {d.kind for d in definitions} == {"CustomResourceDefinition"}
    vendored = yaml.safe_load(
        (REPO / "upstream/crds/traefik/traefik.io_ingressroutes.yaml").read_text()
    )
    ingress_routes = recording.one("CustomResourceDefinition", name="crds-ingressroutes.traefik.io")
    # unmodified, as the engine sees numbers (doubles: int64 bounds round)
    assert as_doubles(ingress_routes.inputs["spec"]) == as_doubles(vendored["spec"])


def test_definitions_keep_the_identity_the_former_config_group_gave_them(pulumi_program):
    """Stacks deployed before the definitions were resources of their own adopt them by
    alias: no definition (and so no custom resource) is deleted and created again."""
    recording = run(pulumi_program)
    component = recording.one("UpstreamCrds", name="crds")
    former_group = (
        f"{component.urn.replace('::crds', '')}$kubernetes:yaml/v2:ConfigGroup::crds-definitions"
    )
    for definition in recording.children("crds"):
        name = definition.inputs["metadata"]["name"]
        assert f"{former_group}::crds-definitions:{name}" in definition.aliases, name


def test_other_environments_leave_crds_to_the_charts(pulumi_program):
    recording = run(pulumi_program, "dev", domain="dev.example.com")
    assert recording.of_kind("CustomResourceDefinition") == []
    assert recording.of_kind("UpstreamCrds") == []


def test_each_custom_resource_waits_for_its_own_definition_only(pulumi_program):
    recording = run(
        pulumi_program, services=[service_config(route={"host": "greeter.go-platform.localhost"})]
    )
    definitions = {
        (d.inputs["spec"]["group"], d.inputs["spec"]["names"]["kind"]): d.urn
        for d in recording.children("crds")
    }
    custom = [r for r in recording.resources if group_and_kind(r.type) in definitions]
    assert {r.kind for r in custom} >= {
        "IngressRoute",
        "Middleware",
        "Certificate",
        "ServiceMonitor",
    }
    for resource in custom:
        waits_for = resource.dependencies & set(definitions.values())
        assert waits_for == {definitions[group_and_kind(resource.type)]}, resource.name
    for resource in recording.resources:
        if resource.kind in ("Deployment", "Service", "ConfigMap", "ServiceAccount"):
            assert not resource.dependencies & set(definitions.values()), resource.name


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


def test_where_charts_bring_the_definitions_services_wait_for_the_platform(pulumi_program):
    recording = run(
        pulumi_program,
        "dev",
        domain="dev.example.com",
        services=[service_config(route={"host": "greeter.dev.example.com"})],
    )
    gateway_children = {r.urn for r in recording.children("gateway")}
    assert gateway_children
    for child in recording.children("greeter"):
        assert gateway_children <= child.dependencies, child.name


def test_the_type_token_names_the_group_and_kind():
    assert group_and_kind("kubernetes:traefik.io/v1alpha1:IngressRoute") == (
        "traefik.io",
        "IngressRoute",
    )
    assert group_and_kind("kubernetes:core/v1:Service") == ("core", "Service")
    assert group_and_kind("kubernetes:yaml/v2:ConfigGroup") == ("yaml", "ConfigGroup")
    assert group_and_kind("random:index/randomPassword:RandomPassword") is None
    assert group_and_kind("go-platform:index:GoServiceStack") is None


def test_sources_are_read_in_order_with_globs_expanded(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b.yaml").write_text(yaml.safe_dump(crd("gadgets")))
    (tmp_path / "a" / "a.yaml").write_text(yaml.safe_dump_all([crd("widgets"), crd("gadgets")]))
    found = definitions_in(source_texts(["a/*.yaml"], tmp_path))
    assert [d["metadata"]["name"] for d in found] == ["widgets.example.com", "gadgets.example.com"]


def test_a_url_source_is_fetched(tmp_path):
    (tmp_path / "crds.yaml").write_text(yaml.safe_dump(crd("widgets")))
    with served(tmp_path) as base_url:
        found = definitions_in(source_texts([f"{base_url}/crds.yaml"], tmp_path))
    assert [d["metadata"]["name"] for d in found] == ["widgets.example.com"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "kind: ConfigMap\nmetadata: {name: x}\n",
            "crds.sources[0] (x.yaml): holds a ConfigMap, not a CustomResourceDefinition",
        ),
        ("a: [\n", "crds.sources[0] (x.yaml): not YAML"),
    ],
)
def test_a_source_holding_something_else_is_refused(tmp_path, content, message):
    (tmp_path / "x.yaml").write_text(content)
    with pytest.raises(CrdSourceError) as caught:
        definitions_in(source_texts(["x.yaml"], tmp_path))
    assert str(caught.value).startswith(message)


def test_an_unreachable_url_names_the_source(tmp_path):
    with served(tmp_path) as base_url:
        pass  # stopped: nothing listens there any more
    with pytest.raises(CrdSourceError) as caught:
        definitions_in(
            source_texts(["upstream/crds/traefik/*.yaml", f"{base_url}/crds.yaml"], REPO)
        )
    assert str(caught.value).startswith(f"crds.sources[1]: cannot fetch {base_url}/crds.yaml: ")


def test_a_bad_source_fails_the_program_before_any_resource(pulumi_program, tmp_path):
    (tmp_path / "bad.yaml").write_text("kind: Secret\n")

    def program():
        with pytest.raises(pulumi.RunError) as caught:
            runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")
        assert str(caught.value) == (
            f"go-platform:crds.sources[0] ({tmp_path.name}/bad.yaml): "
            "holds a Secret, not a CustomResourceDefinition"
        )

    sources = {"install": True, "sources": [f"{tmp_path.name}/bad.yaml"]}
    with contextlib.chdir(tmp_path.parent):
        recording = pulumi_program(program, stack="local", config=stack_config(crds=sources))
    assert recording.resources == []


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
