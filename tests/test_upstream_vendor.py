"""tools/upstream/vendor.py and the schema-only upstream copies it keeps in `upstream/`.

Invariants guarded:
- stripping removes the `description` prose of every schema node (root, properties, items,
  additionalProperties, anyOf branches, definitions) and nothing else: a property NAMED
  `description`, a `description` key inside a default value, printer-column descriptions,
  enums, patterns, formats, defaults, x-kubernetes-* extensions, versions and subresources
  all survive, leaf for leaf;
- the checks catch a copy that lost a property, an enum value, a data `description` or kept
  prose, and a CRD the API server would refuse;
- `update` writes one file per CRD (`crds/<project>/<group>_<plural>.yaml`) and the values
  schema (`helm-values-schemas/<project>-<version>.values.schema.json`), and a provenance
  row per file whose SHA-256 are those of the source and of the copy; a chart directory is
  a source; `--kind` narrows; bad sources are refused in one line with the file named, and
  a PROJECT or VERSION that is no name (`../x`, the two swapped) before anything is read;
- running it again changes nothing, `--check` passes then and fails (writing nothing) once
  a source changes; a bump replaces the project's previous copies and leaves others alone;
- `verify` flags hand edits, missing, stray and re-described files, and a --root with no
  PROVENANCE.md;
- the committed copies verify against their own provenance, are the releases the program
  installs, and are what the local stack's default CRD sources match; no tracked code or
  config reads outside the repository.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from go_platform_core.config import LOCAL_CRD_SOURCES, CertManagerSettings, GatewaySettings
from tests.conftest import REPO, UPSTREAM

SCRIPT = REPO / "tools" / "upstream" / "vendor.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("upstream_vendor", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through it
    spec.loader.exec_module(module)
    return module


vendor = _load_script()


def widget_crd(**overrides: Any) -> dict[str, Any]:
    """A CRD exercising every place prose and look-alike data can hide."""
    v2_schema = {
        "description": "Widget is a test resource.",
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion defines..."},
            "spec": {
                "description": "Spec of the widget.",
                "type": "object",
                "required": ["size"],
                "properties": {
                    "description": {
                        "description": "A field that happens to be called description.",
                        "type": "string",
                        "maxLength": 64,
                    },
                    "size": {
                        "description": "How big.",
                        "x-kubernetes-int-or-string": True,
                        "anyOf": [
                            {"type": "integer", "description": "As a number."},
                            {"type": "string", "pattern": "^[0-9]+(Mi|Gi)$"},
                        ],
                    },
                    "mode": {
                        "type": "string",
                        "enum": ["Fast", "Safe"],
                        "default": "Safe",
                        "description": "Which mode.",
                    },
                    "labels": {
                        "type": "object",
                        "description": "Free-form labels.",
                        "additionalProperties": {"type": "string", "description": "A value."},
                    },
                    "rules": {
                        "type": "array",
                        "description": "The rules.",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {
                            "type": "object",
                            "description": "One rule.",
                            "required": ["name"],
                            "properties": {
                                "name": {"type": "string", "format": "hostname"},
                                "meta": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                    "default": {"description": "data, not prose"},
                                },
                            },
                            "x-kubernetes-validations": [
                                {"rule": "self.name != ''", "message": "name is required"}
                            ],
                        },
                    },
                },
            },
        },
    }
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": "widgets.example.com",
            "annotations": {"controller-gen.kubebuilder.io/version": "v0.19.0"},
        },
        "spec": {
            "group": "example.com",
            "names": {
                "kind": "Widget",
                "listKind": "WidgetList",
                "plural": "widgets",
                "singular": "widget",
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": False,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "Old widget.",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                },
                {
                    "name": "v2",
                    "served": True,
                    "storage": True,
                    "additionalPrinterColumns": [
                        {
                            "name": "Mode",
                            "type": "string",
                            "jsonPath": ".spec.mode",
                            "description": "Printer columns are kept whole.",
                        }
                    ],
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": v2_schema},
                },
            ],
        },
    }
    crd["spec"].update(overrides)
    return crd


# Every prose entry of widget_crd(), by its place in the document.
WIDGET_PROSE = {
    ".spec.versions[0].schema.openAPIV3Schema.description",
    ".spec.versions[1].schema.openAPIV3Schema.description",
    ".spec.versions[1].schema.openAPIV3Schema.properties.apiVersion.description",
    ".spec.versions[1].schema.openAPIV3Schema.properties.spec.description",
    ".spec.versions[1].schema.openAPIV3Schema.properties.spec.properties.description.description",
    ".spec.versions[1].schema.openAPIV3Schema.properties.spec.properties.size.description",
    ".spec.versions[1].schema.openAPIV3Schema.properties.spec.properties.size.anyOf[0].description",
    ".spec.versions[1].schema.openAPIV3Schema.properties.spec.properties.mode.description",
    ".spec.versions[1].schema.openAPIV3Schema.properties.spec.properties.labels.description",
    ".spec.versions[1].schema.openAPIV3Schema.properties.spec.properties.labels"
    ".additionalProperties.description",
    ".spec.versions[1].schema.openAPIV3Schema.properties.spec.properties.rules.description",
    ".spec.versions[1].schema.openAPIV3Schema.properties.spec.properties.rules.items.description",
}

VALUES_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Chart values",
    "type": "object",
    "description": "Values of the chart.",
    "definitions": {"port": {"type": "integer", "description": "A port.", "maximum": 65535}},
    "properties": {
        "description": {"type": "string", "description": "A value called description."},
        "ports": {
            "type": "object",
            "description": "Entrypoints.",
            "additionalProperties": {"$ref": "#/definitions/port"},
            "default": {"web": 8000},
        },
        "image": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"tag": {"type": ["string", "null"], "description": "Image tag."}},
        },
    },
}


def leaf_paths(document: Any) -> dict[str, Any]:
    return {vendor._dotted(path): value for path, value in vendor.leaves(document)}


def write_yaml(path: Path, *documents: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return path


def write_json(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=4))
    return path


def run(*args: Any, root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """An upstream checkout: two CRDs of project `acme` in one folder, and a values schema."""
    gadget = widget_crd(names={"kind": "Gadget", "plural": "gadgets", "singular": "gadget"})
    gadget["metadata"]["name"] = "gadgets.example.com"
    write_yaml(tmp_path / "src" / "crds" / "example.com_widgets.yaml", widget_crd())
    write_yaml(tmp_path / "src" / "crds" / "example.com_gadgets.yaml", gadget)
    write_json(tmp_path / "src" / "values.schema.json", VALUES_SCHEMA)
    return tmp_path / "src"


# --- stripping -----------------------------------------------------------------------------


def test_descriptions_are_stripped_but_fields_named_description_kept():
    stripped = vendor.strip_crd(widget_crd())
    spec = stripped["spec"]["versions"][1]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["description"] == {"type": "string", "maxLength": 64}
    rules = spec["properties"]["rules"]["items"]["properties"]
    assert rules["meta"]["default"] == {"description": "data, not prose"}
    columns = stripped["spec"]["versions"][1]["additionalPrinterColumns"]
    assert columns[0]["description"] == "Printer columns are kept whole."
    assert "description" not in spec
    assert "description" not in spec["properties"]["size"]["anyOf"][0]
    assert "description" not in spec["properties"]["labels"]["additionalProperties"]


def test_only_the_prose_is_removed_leaf_for_leaf():
    source = widget_crd()
    before, after = leaf_paths(source), leaf_paths(vendor.strip_crd(source))
    assert set(before) - set(after) == WIDGET_PROSE
    assert {path: before[path] for path in after} == after


def test_values_schema_is_stripped_the_same_way():
    stripped = vendor.strip_schema(VALUES_SCHEMA)
    removed = set(leaf_paths(VALUES_SCHEMA)) - set(leaf_paths(stripped))
    assert removed == {
        ".description",
        ".definitions.port.description",
        ".properties.description.description",
        ".properties.ports.description",
        ".properties.image.properties.tag.description",
    }
    assert stripped["properties"]["description"] == {"type": "string"}
    assert stripped["title"] == "Chart values"
    assert vendor.values_schema_problems(VALUES_SCHEMA, stripped, "values") == []


def test_stripping_an_already_stripped_copy_changes_nothing():
    once = vendor.strip_crd(widget_crd())
    assert vendor.strip_crd(copy.deepcopy(once)) == once


# --- checks --------------------------------------------------------------------------------


def _v2(crd: dict[str, Any]) -> dict[str, Any]:
    return crd["spec"]["versions"][1]["schema"]["openAPIV3Schema"]["properties"]["spec"]


def _lose_mode(crd):
    del _v2(crd)["properties"]["mode"]


def _lose_description_field(crd):
    del _v2(crd)["properties"]["description"]


def _change_enum(crd):
    _v2(crd)["properties"]["mode"]["enum"] = ["Fast"]


def _drop_data_description(crd):
    _v2(crd)["properties"]["rules"]["items"]["properties"]["meta"]["default"] = {}


def _keep_prose(crd):
    _v2(crd)["description"] = "Spec of the widget."


def _two_storage_versions(crd):
    crd["spec"]["versions"][0]["storage"] = True


def _rename_version(crd):
    crd["spec"]["versions"][0]["name"] = "v1beta1"


CHECK_CASES = [
    pytest.param(_lose_mode, "widgets v2: property .spec.mode lost", id="lost-property"),
    pytest.param(
        _lose_description_field,
        "widgets v2: property .spec.description lost",
        id="lost-field-named-description",
    ),
    pytest.param(
        _change_enum,
        "widgets: .spec.versions[1].schema.openAPIV3Schema.properties.spec.properties.mode"
        ".enum[1] was lost",
        id="changed-enum",
    ),
    pytest.param(
        _drop_data_description,
        "widgets: .spec.versions[1].schema.openAPIV3Schema.properties.spec.properties.rules"
        ".items.properties.meta.default.description was lost",
        id="dropped-data-description",
    ),
    pytest.param(_keep_prose, "widgets v2: .spec still has a description", id="prose-left"),
    pytest.param(
        _two_storage_versions,
        "widgets: exactly one version must be the storage version",
        id="two-storage-versions",
    ),
    pytest.param(_rename_version, "widgets: kind or versions differ from the source", id="version"),
]


@pytest.mark.parametrize(("mutate", "expected"), CHECK_CASES)
def test_checks_catch_a_copy_that_is_not_source_minus_prose(mutate, expected):
    source = widget_crd()
    output = vendor.strip_crd(source)
    assert vendor.crd_problems(source, output, "widgets") == []
    mutate(output)
    assert expected in vendor.crd_problems(source, output, "widgets")


# --- update --------------------------------------------------------------------------------


def test_update_writes_copies_and_provenance(sources, tmp_path):
    root = tmp_path / "upstream"
    result = run(
        "update", "acme", "1.2.3", sources / "crds", sources / "values.schema.json", root=root
    )
    assert result.returncode == 0, result.stderr
    assert sorted(tree(root)) == [
        "PROVENANCE.md",
        "crds/acme/example.com_gadgets.yaml",
        "crds/acme/example.com_widgets.yaml",
        "helm-values-schemas/acme-1.2.3.values.schema.json",
    ]
    rows = {row.vendored: row for row in vendor.read_provenance(root)}
    widgets = rows["crds/acme/example.com_widgets.yaml"]
    assert (widgets.project, widgets.version, widgets.source) == (
        "acme",
        "1.2.3",
        "crds/example.com_widgets.yaml",
    )
    assert rows["helm-values-schemas/acme-1.2.3.values.schema.json"].source == "values.schema.json"
    source_files = {
        "crds/acme/example.com_widgets.yaml": sources / "crds" / "example.com_widgets.yaml",
        "crds/acme/example.com_gadgets.yaml": sources / "crds" / "example.com_gadgets.yaml",
        "helm-values-schemas/acme-1.2.3.values.schema.json": sources / "values.schema.json",
    }
    for vendored, source in source_files.items():
        row = rows[vendored]
        assert row.source_sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
        assert row.vendored_sha256 == hashlib.sha256((root / vendored).read_bytes()).hexdigest()
    written = yaml.safe_load((root / "crds/acme/example.com_widgets.yaml").read_text())
    assert written == vendor.strip_crd(widget_crd())
    schema = json.loads((root / "helm-values-schemas/acme-1.2.3.values.schema.json").read_text())
    assert schema == vendor.strip_schema(VALUES_SCHEMA)
    assert vendor.verify(root) == []


def test_update_is_reproducible_and_check_catches_drift(sources, tmp_path):
    root = tmp_path / "upstream"
    args = ("update", "acme", "1.2.3", sources / "crds", sources / "values.schema.json")
    assert run(*args, root=root).returncode == 0
    first = tree(root)
    assert run(*args, root=root).returncode == 0
    assert tree(root) == first
    assert run(*args, "--check", root=root).returncode == 0

    changed = widget_crd()
    _v2(changed)["properties"]["mode"]["enum"].append("Careful")
    write_yaml(sources / "crds" / "example.com_widgets.yaml", changed)
    check = run(*args, "--check", root=root)
    assert check.returncode == 1
    assert check.stderr.splitlines() == [
        "crds/acme/example.com_widgets.yaml would change",
        "PROVENANCE.md would change",
    ]
    assert tree(root) == first


def test_bump_replaces_the_previous_release_only(sources, tmp_path):
    root = tmp_path / "upstream"
    other = write_yaml(
        tmp_path / "other" / "crds.yaml",
        widget_crd(group="other.io") | {"metadata": {"name": "widgets.other.io"}},
    )
    assert run("update", "other", "0.1.0", other, root=root).returncode == 0
    args = (sources / "crds", sources / "values.schema.json")
    assert run("update", "acme", "1.2.3", *args, root=root).returncode == 0
    (sources / "crds" / "example.com_gadgets.yaml").unlink()

    assert run("update", "acme", "1.3.0", *args, root=root).returncode == 0
    assert sorted(tree(root)) == [
        "PROVENANCE.md",
        "crds/acme/example.com_widgets.yaml",
        "crds/other/other.io_widgets.yaml",
        "helm-values-schemas/acme-1.3.0.values.schema.json",
    ]
    versions = {(row.project, row.version) for row in vendor.read_provenance(root)}
    assert versions == {("acme", "1.3.0"), ("other", "0.1.0")}
    assert vendor.verify(root) == []


def test_a_chart_directory_is_a_source_and_kind_narrows(sources, tmp_path):
    (sources / "Chart.yaml").write_text("apiVersion: v2\nname: acme\nversion: 1.2.3\n")
    root = tmp_path / "upstream"
    result = run("update", "acme", "1.2.3", sources, "--kind", "Gadget", root=root)
    assert result.returncode == 0, result.stderr
    assert sorted(row.source for row in vendor.read_provenance(root)) == [
        "src/crds/example.com_gadgets.yaml",
        "src/values.schema.json",
    ]


def _templated(tmp_path):
    path = tmp_path / "crds" / "templated.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("{{- if .Values.crds }}\nkind: {{ .Kind }}\n")
    return [path], "templated.yaml: not YAML (a templated file?)"


def _no_crd(tmp_path):
    return [write_yaml(tmp_path / "ns.yaml", {"apiVersion": "v1", "kind": "Namespace"})], (
        "the sources hold no CustomResourceDefinition"
    )


def _no_versions(tmp_path):
    return [write_yaml(tmp_path / "bad.yaml", widget_crd(versions=[]))], (
        "bad.yaml: spec.versions is empty"
    )


def _defined_twice(tmp_path):
    paths = [write_yaml(tmp_path / n, widget_crd()) for n in ("a.yaml", "b.yaml")]
    return paths, "widgets.example.com is defined in both a.yaml and b.yaml"


def _missing(tmp_path):
    return [tmp_path / "nowhere"], "nowhere: no such file or directory"


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(_templated, id="templated"),
        pytest.param(_no_crd, id="no-crd"),
        pytest.param(_no_versions, id="no-versions"),
        pytest.param(_defined_twice, id="defined-twice"),
        pytest.param(_missing, id="missing"),
    ],
)
def test_bad_sources_are_refused_naming_the_file(case, tmp_path):
    paths, expected = case(tmp_path)
    result = run("update", "acme", "1.0.0", *paths, root=tmp_path / "upstream")
    assert result.returncode == 2
    assert expected in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert not (tmp_path / "upstream").exists()


NAME = "lowercase letters, digits and dashes (traefik, cert-manager)"
RELEASE = "a release version (39.0.0, v1.17.2)"


@pytest.mark.parametrize(
    ("project", "version", "says"),
    [
        ("../acme", "1.0.0", f"PROJECT '../acme': {NAME}"),
        ("Acme", "1.0.0", f"PROJECT 'Acme': {NAME}"),
        ("acme", "../../x", f"VERSION '../../x': {RELEASE}"),
        ("1.0.0", "acme", f"PROJECT '1.0.0': {NAME}"),  # the two swapped
    ],
)
def test_a_project_or_version_that_is_no_name_is_refused(sources, tmp_path, project, version, says):
    result = run("update", project, version, sources / "crds", root=tmp_path / "upstream")

    assert result.returncode == 2
    assert result.stderr == f"vendor.py: {says}\n"
    assert not (tmp_path / "upstream").exists()


def test_verify_of_a_directory_without_provenance_says_so(tmp_path):
    result = run("verify", root=tmp_path / "nowhere")

    assert result.returncode == 1
    assert result.stderr == (
        f"{tmp_path / 'nowhere' / 'PROVENANCE.md'}: not found; is --root the directory of the copies?\n"
    )


def test_an_unknown_kind_is_refused(sources, tmp_path):
    result = run("update", "acme", "1.0.0", sources / "crds", "--kind", "Sprocket", root=tmp_path)
    assert result.returncode == 2
    assert "no CRD of kind Sprocket in the sources" in result.stderr


# --- verify --------------------------------------------------------------------------------


def _edit(root):
    path = root / "crds/acme/example.com_widgets.yaml"
    path.write_text(path.read_text() + "# tuned by hand\n")
    return (
        "crds/acme/example.com_widgets.yaml: SHA-256 differs from PROVENANCE.md (edited by hand?)"
    )


def _reformat(root):
    path = root / "crds/acme/example.com_widgets.yaml"
    path.write_text(yaml.safe_dump(yaml.safe_load(path.read_text()), indent=4))
    return "crds/acme/example.com_widgets.yaml: not as tools/upstream/vendor.py writes it"


def _describe_again(root):
    path = root / "helm-values-schemas/acme-1.2.3.values.schema.json"
    path.write_text(json.dumps(VALUES_SCHEMA, indent=2) + "\n")
    return "helm-values-schemas/acme-1.2.3.values.schema.json: . still has a description"


def _delete(root):
    (root / "crds/acme/example.com_gadgets.yaml").unlink()
    return "crds/acme/example.com_gadgets.yaml: listed in PROVENANCE.md but missing"


def _stray(root):
    write_yaml(root / "crds/acme/example.com_sprockets.yaml", widget_crd())
    return "crds/acme/example.com_sprockets.yaml: not listed in PROVENANCE.md"


@pytest.mark.parametrize("tamper", [_edit, _reformat, _describe_again, _delete, _stray])
def test_verify_flags_what_update_did_not_write(tamper, sources, tmp_path):
    root = tmp_path / "upstream"
    args = ("update", "acme", "1.2.3", sources / "crds", sources / "values.schema.json")
    assert run(*args, root=root).returncode == 0
    expected = tamper(root)
    result = run("verify", root=root)
    assert result.returncode == 1
    assert expected in result.stderr.splitlines()


# --- the committed copies ------------------------------------------------------------------


def test_committed_copies_verify_against_their_provenance():
    assert vendor.verify(UPSTREAM) == []


def test_committed_copies_are_the_releases_the_program_installs():
    versions = {row.project: row.version for row in vendor.read_provenance(UPSTREAM)}
    chart = GatewaySettings.model_fields["chart"].get_default(call_default_factory=True)
    cert_manager = CertManagerSettings.model_fields["chart"].get_default(call_default_factory=True)
    assert versions["traefik"] == chart.version
    assert versions["cert-manager"] == cert_manager.version
    assert (UPSTREAM / vendor.values_file("traefik", chart.version)).is_file()


def test_the_local_stacks_crd_sources_are_committed_copies():
    committed = set((UPSTREAM / "crds").rglob("*.yaml"))
    assert {REPO / source for source in LOCAL_CRD_SOURCES} <= committed


def test_nothing_tracked_reads_outside_the_repository():
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=False
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    outside = "../" + "shared"
    code = [
        name
        for name in listed.stdout.split("\0")
        if name.endswith((".py", ".yaml", ".yml", ".toml", ".mk", "Makefile"))
        and (REPO / name).is_file()
        and outside in (REPO / name).read_text(errors="replace")
    ]
    assert code == []
