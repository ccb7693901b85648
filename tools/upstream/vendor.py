#!/usr/bin/env python3
"""Keep schema-only copies of upstream CRDs and Helm values schemas in `upstream/`.

The local stack installs upstream CustomResourceDefinitions and the tests validate against
them and against the Traefik chart's values schema. The project carries its own copies so a
clone needs nothing beside it. A copy is the upstream file with the `description` prose of
its schemas removed and everything structural kept; `upstream/PROVENANCE.md` records, per
copy, the project, version, source file and the SHA-256 of both source and copy.

    vendor.py update PROJECT VERSION SOURCE... [--kind KIND]... [--check]
    vendor.py verify

A SOURCE is a chart directory (its `crds/` and `values.schema.json`), a directory of CRD
manifests, a CRD manifest, or a `*.json` values schema. `update` replaces what was vendored
for PROJECT (its CRDs when CRD sources are given, its values schema when one is given);
with `--check` it writes nothing and fails when the committed copies differ from what it
would write. `verify` checks the committed copies against their provenance, without sources.

Standard library and PyYAML only, so it runs before the virtualenv exists. docs/upstream.md
explains what is vendored and why.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "upstream"
CRD_DIR = "crds"
VALUES_DIR = "helm-values-schemas"
PROVENANCE = "PROVENANCE.md"
CRD_API_VERSION = "apiextensions.k8s.io/v1"
# A project names a directory and a version a file name, so neither may hold a path.
PROJECT_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")
RELEASE_VERSION = re.compile(r"v?[0-9]+(\.[0-9]+)*([-+][0-9A-Za-z.-]+)?")

# JSON-Schema keywords whose values are schemas (or maps/lists of schemas). Everything else
# in a schema node is data (`default`, `enum`, `example`, `x-kubernetes-*`, ...) and is
# copied untouched, so a `description` key inside a default value is kept.
SCHEMA_MAPS = frozenset(
    {"properties", "patternProperties", "definitions", "$defs", "dependentSchemas"}
)
SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
SCHEMA_ONE = frozenset(
    {
        "additionalProperties",
        "additionalItems",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "propertyNames",
        "unevaluatedProperties",
        "unevaluatedItems",
    }
)

PROVENANCE_INTRO = """\
# Upstream schemas: provenance

Written by `tools/upstream/vendor.py`; do not edit by hand (see docs/upstream.md). Each
vendored file is its upstream source with the `description` prose of its schemas removed;
the SHA-256 columns are of the source file as published and of the vendored file.
"""
PROVENANCE_COLUMNS = (
    "project",
    "version",
    "source file",
    "source SHA-256",
    "vendored file",
    "vendored SHA-256",
)


class VendorError(Exception):
    """A source that cannot be vendored, or a problem the caller must fix."""


# --- stripping ---------------------------------------------------------------------------


def strip_schema(node: Any) -> Any:
    """A schema without its `description` prose; every other keyword and all data kept.

    Walks only into keywords that hold schemas, so a property *named* `description`
    (a key of `properties`) survives, and so does a `description` key in a default value.
    """
    if not isinstance(node, dict):
        return node  # `true`/`false` schemas, or malformed input left for the checks
    stripped: dict[str, Any] = {}
    for key, value in node.items():
        if key == "description" and isinstance(value, str):
            continue
        if key in SCHEMA_MAPS and isinstance(value, dict):
            stripped[key] = {name: strip_schema(sub) for name, sub in value.items()}
        elif key in SCHEMA_LISTS and isinstance(value, list):
            stripped[key] = [strip_schema(sub) for sub in value]
        elif key in SCHEMA_ONE or key == "items":
            stripped[key] = (
                [strip_schema(sub) for sub in value]
                if isinstance(value, list)
                else strip_schema(value)
            )
        elif key == "dependencies" and isinstance(value, dict):
            # Draft 7: a schema, or a list of property names.
            stripped[key] = {name: strip_schema(sub) for name, sub in value.items()}
        else:
            stripped[key] = value
    return stripped


def strip_crd(crd: dict[str, Any]) -> dict[str, Any]:
    """The CRD with each version's openAPIV3Schema stripped; nothing else changes
    (printer columns, subresources, conversion and metadata stay as published)."""
    spec = dict(crd["spec"])
    versions = []
    for version in spec["versions"]:
        version = dict(version)
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if schema is not None:
            version["schema"] = {
                **version["schema"],
                "openAPIV3Schema": strip_schema(schema),
            }
        versions.append(version)
    spec["versions"] = versions
    return {**crd, "spec": spec}


# --- checks ------------------------------------------------------------------------------


def schema_nodes(
    node: Any, path: str = "", at: tuple[Any, ...] = ()
) -> Iterator[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    """Every schema node under `node`: the property path it describes (`.spec.routes[].kind`,
    `{}` for additionalProperties values), where it sits in the document, the node."""
    if not isinstance(node, dict):
        return
    yield path, at, node
    for key, value in node.items():
        here = (*at, key)
        if key in SCHEMA_MAPS and isinstance(value, dict):
            for name, sub in value.items():
                if key == "properties":
                    below = f"{path}.{name}"
                elif key == "patternProperties":
                    below = f"{path}{{{name}}}"
                else:
                    below = f"{path}#{key}/{name}"
                yield from schema_nodes(sub, below, (*here, name))
        elif key in SCHEMA_LISTS and isinstance(value, list):
            for index, sub in enumerate(value):
                yield from schema_nodes(sub, path, (*here, index))
        elif key == "items" and isinstance(value, list):
            for index, sub in enumerate(value):
                yield from schema_nodes(sub, f"{path}[]", (*here, index))
        elif key == "items":
            yield from schema_nodes(value, f"{path}[]", here)
        elif key == "additionalProperties":
            yield from schema_nodes(value, f"{path}{{}}", here)
        elif key in SCHEMA_ONE:
            yield from schema_nodes(value, path, here)
        elif key == "dependencies" and isinstance(value, dict):
            for name, sub in value.items():
                yield from schema_nodes(sub, path, (*here, name))


def property_paths(schema: Any) -> set[str]:
    return {path for path, _, _ in schema_nodes(schema)}


def description_locations(schema: Any, at: tuple[Any, ...] = ()) -> set[tuple[Any, ...]]:
    """Where in the document the schema's description prose sits."""
    return {
        (*where, "description")
        for _, where, node in schema_nodes(schema, at=at)
        if isinstance(node.get("description"), str)
    }


def leaves(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, value) of every scalar, empty map and empty list in a document."""
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from leaves(value, (*path, key))
    elif isinstance(node, list) and node:
        for index, value in enumerate(node):
            yield from leaves(value, (*path, index))
    else:
        yield path, node


def only_descriptions_removed(
    source: Any, output: Any, prose: set[tuple[Any, ...]], where: str
) -> list[str]:
    """Problems unless `output` is `source` minus the description prose at `prose`.

    Compares every leaf of both documents, so a lost enum, a changed default, a reordered
    list or a dropped `description` that was data, not prose, shows up whatever the
    stripping did."""
    before = dict(leaves(source))
    after = dict(leaves(output))
    problems = [
        f"{where}: {_dotted(path)} is not in the source"
        for path in after
        if path not in before or before[path] != after[path]
    ]
    problems += [
        f"{where}: {_dotted(path)} was lost"
        for path in before
        if path not in after and path not in prose
    ]
    return problems


def _dotted(path: Iterable[Any]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path) or "."


def crd_shape_problems(crd: Any, where: str) -> list[str]:
    """What keeps `crd` from being a CustomResourceDefinition the API server accepts."""
    if not isinstance(crd, dict):
        return [f"{where}: not a mapping"]
    problems = []
    if crd.get("apiVersion") != CRD_API_VERSION or crd.get("kind") != "CustomResourceDefinition":
        problems.append(f"{where}: not an {CRD_API_VERSION} CustomResourceDefinition")
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural = spec.get("group"), names.get("plural")
    if not (group and plural and names.get("kind")):
        problems.append(f"{where}: spec.group, spec.names.kind and spec.names.plural are required")
    elif (crd.get("metadata") or {}).get("name") != f"{plural}.{group}":
        problems.append(f"{where}: metadata.name must be {plural}.{group}")
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        problems.append(f"{where}: spec.scope must be Namespaced or Cluster")
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        return [*problems, f"{where}: spec.versions is empty"]
    for i, version in enumerate(versions):
        at = f"{where}: spec.versions[{i}]"
        if not isinstance(version, dict) or not version.get("name"):
            problems.append(f"{at}.name is required")
            continue
        if not isinstance(version.get("served"), bool) or not isinstance(
            version.get("storage"), bool
        ):
            problems.append(f"{at}: served and storage must be booleans")
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            problems.append(f"{at}.schema.openAPIV3Schema must be an object schema")
    if sum(1 for v in versions if isinstance(v, dict) and v.get("storage") is True) != 1:
        problems.append(f"{where}: exactly one version must be the storage version")
    return problems


def identity(crd: dict[str, Any]) -> tuple[Any, ...]:
    """Group, kind, plural, scope and (name, served, storage) of every version."""
    spec = crd["spec"]
    return (
        spec["group"],
        spec["names"]["kind"],
        spec["names"]["plural"],
        spec["scope"],
        tuple((v["name"], v["served"], v["storage"]) for v in spec["versions"]),
    )


def leftover_descriptions(schema: Any, where: str) -> list[str]:
    return [
        f"{where}: {path or '.'} still has a description"
        for path, _, node in schema_nodes(schema)
        if isinstance(node.get("description"), str)
    ]


def crd_problems(source: dict[str, Any], output: dict[str, Any], where: str) -> list[str]:
    """Checks a vendored CRD against its source: a valid CRD, the same kind and versions,
    the same property paths, no description left, and nothing else changed."""
    problems = crd_shape_problems(output, where)
    if problems:
        return problems
    if identity(source) != identity(output):
        problems.append(f"{where}: kind or versions differ from the source")
    by_name = {v["name"]: v for v in source["spec"]["versions"]}
    prose: set[tuple[Any, ...]] = set()
    for i, version in enumerate(source["spec"]["versions"]):
        at = ("spec", "versions", i, "schema", "openAPIV3Schema")
        prose |= description_locations(version.get("schema", {}).get("openAPIV3Schema"), at)
    for version in output["spec"]["versions"]:
        schema = version["schema"]["openAPIV3Schema"]
        at = f"{where} {version['name']}"
        original = by_name.get(version["name"], {}).get("schema", {}).get("openAPIV3Schema")
        lost = property_paths(original) - property_paths(schema)
        gained = property_paths(schema) - property_paths(original)
        problems += [f"{at}: property {p} lost" for p in sorted(lost)]
        problems += [f"{at}: property {p} not in the source" for p in sorted(gained)]
        problems += leftover_descriptions(schema, at)
    return problems + only_descriptions_removed(source, output, prose, where)


def values_schema_problems(source: Any, output: Any, where: str) -> list[str]:
    if not isinstance(output, dict) or not (
        "properties" in output or "type" in output or "$schema" in output
    ):
        return [f"{where}: not a JSON schema"]
    problems = []
    lost = property_paths(source) - property_paths(output)
    problems += [f"{where}: property {p} lost" for p in sorted(lost)]
    problems += leftover_descriptions(output, where)
    prose = description_locations(source)
    return problems + only_descriptions_removed(source, output, prose, where)


# --- reading sources ---------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One upstream file: how provenance names it, and its bytes."""

    label: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Artifact:
    """One file to write under the root, with its provenance row."""

    relative: str
    text: str
    source: Source

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def collect_sources(arguments: Sequence[Path]) -> tuple[list[Source], list[Source]]:
    """(CRD manifests, values schemas) named by the SOURCE arguments."""
    manifests: list[Source] = []
    schemas: list[Source] = []
    for argument in arguments:
        base = argument.resolve().parent

        def source(path: Path, base: Path = base) -> Source:
            return Source(path.resolve().relative_to(base).as_posix(), path.read_bytes())

        if argument.is_dir() and (argument / "Chart.yaml").is_file():
            manifests += [source(p) for p in _manifests_in(argument / "crds")]
            if (argument / "values.schema.json").is_file():
                schemas.append(source(argument / "values.schema.json"))
        elif argument.is_dir():
            found = _manifests_in(argument)
            if not found:
                raise VendorError(f"{argument}: no *.yaml or *.yml files")
            manifests += [source(p) for p in found]
        elif argument.is_file() and argument.suffix == ".json":
            schemas.append(source(argument))
        elif argument.is_file():
            manifests.append(source(argument))
        else:
            raise VendorError(f"{argument}: no such file or directory")
    if len(schemas) > 1:
        raise VendorError("give at most one values schema per project")
    return manifests, schemas


def _manifests_in(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def _one_line(error: Exception) -> str:
    """A YAML or decoding error as one line: where, then what."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {error.problem}"
    return " ".join(str(error).split())


def read_crds(source: Source) -> list[dict[str, Any]]:
    try:
        documents = list(yaml.safe_load_all(source.data.decode()))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise VendorError(
            f"{source.label}: not YAML (a templated file?): {_one_line(error)}"
        ) from error
    crds = [
        d for d in documents if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"
    ]
    for crd in crds:
        problems = crd_shape_problems(crd, source.label)
        if problems:
            raise VendorError("\n".join(problems))
    return crds


# --- rendering ---------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style; multi-line strings (CEL rules) as literal blocks, as upstream writes them."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and value == value.strip(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def header(project: str, version: str, label: str) -> str:
    return (
        f"# {project} {version}: {label}\n"
        "# Schema only (upstream's description prose removed) by tools/upstream/vendor.py;\n"
        "# provenance in upstream/PROVENANCE.md. Do not edit: re-vendor (docs/upstream.md).\n"
    )


def render_crd(crd: dict[str, Any], project: str, version: str, label: str) -> str:
    body = yaml.dump(crd, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=4096)
    return header(project, version, label) + "---\n" + body


def render_values_schema(schema: Any) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def crd_file(project: str, crd: dict[str, Any]) -> str:
    spec = crd["spec"]
    return f"{CRD_DIR}/{project}/{spec['group']}_{spec['names']['plural']}.yaml"


def values_file(project: str, version: str) -> str:
    return f"{VALUES_DIR}/{project}-{version}.values.schema.json"


def build(
    project: str,
    version: str,
    manifests: Sequence[Source],
    schemas: Sequence[Source],
    kinds: Sequence[str] = (),
) -> list[Artifact]:
    """The files vendoring these sources produces, each checked against its source."""
    artifacts: list[Artifact] = []
    seen: dict[str, str] = {}
    found: set[str] = set()
    for source in manifests:
        for crd in read_crds(source):
            if kinds and crd["spec"]["names"]["kind"] not in kinds:
                continue
            relative = crd_file(project, crd)
            if relative in seen:
                raise VendorError(
                    f"{crd['metadata']['name']} is defined in both {seen[relative]} "
                    f"and {source.label}"
                )
            seen[relative] = source.label
            found.add(crd["spec"]["names"]["kind"])
            stripped = strip_crd(crd)
            text = render_crd(stripped, project, version, source.label)
            problems = crd_problems(crd, stripped, relative)
            problems += crd_problems(crd, yaml.safe_load(text), f"{relative} (as written)")
            if problems:
                raise VendorError("\n".join(problems))
            artifacts.append(Artifact(relative, text, source))
    missing = sorted(set(kinds) - found)
    if missing:
        raise VendorError(f"no CRD of kind {', '.join(missing)} in the sources")
    if manifests and not artifacts:
        raise VendorError("the sources hold no CustomResourceDefinition")
    for source in schemas:
        try:
            schema = json.loads(source.data)
        except json.JSONDecodeError as error:
            raise VendorError(f"{source.label}: not JSON: {error}") from error
        stripped = strip_schema(schema)
        relative = values_file(project, version)
        text = render_values_schema(stripped)
        problems = values_schema_problems(schema, json.loads(text), relative)
        if problems:
            raise VendorError("\n".join(problems))
        artifacts.append(Artifact(relative, text, source))
    return artifacts


# --- provenance --------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Row:
    project: str
    vendored: str
    version: str = field(compare=False)
    source: str = field(compare=False)
    source_sha256: str = field(compare=False)
    vendored_sha256: str = field(compare=False)

    @classmethod
    def of(cls, project: str, version: str, artifact: Artifact) -> Row:
        return cls(
            project,
            artifact.relative,
            version,
            artifact.source.label,
            artifact.source.sha256,
            artifact.sha256,
        )

    def cells(self) -> tuple[str, ...]:
        return (
            self.project,
            self.version,
            f"`{self.source}`",
            f"`{self.source_sha256}`",
            f"`{self.vendored}`",
            f"`{self.vendored_sha256}`",
        )

    @property
    def is_crd(self) -> bool:
        return self.vendored.startswith(f"{CRD_DIR}/")


def read_provenance(root: Path) -> list[Row]:
    path = root / PROVENANCE
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != len(PROVENANCE_COLUMNS):
            continue
        if cells[0] == PROVENANCE_COLUMNS[0] or set(cells[0]) <= {"-"}:
            continue
        project, version, source, source_sha, vendored, vendored_sha = cells
        rows.append(Row(project, vendored, version, source, source_sha, vendored_sha))
    return rows


def render_provenance(rows: Iterable[Row]) -> str:
    lines = [
        PROVENANCE_INTRO,
        "| " + " | ".join(PROVENANCE_COLUMNS) + " |",
        "|" + "---|" * len(PROVENANCE_COLUMNS),
    ]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in sorted(rows)]
    return "\n".join(lines) + "\n"


# --- commands ----------------------------------------------------------------------------


@dataclass
class Plan:
    """What `update` changes under the root."""

    write: dict[str, str]
    delete: list[str]
    provenance: str

    def differences(self, root: Path) -> list[str]:
        changes = [
            f"{name} would change"
            for name, text in sorted(self.write.items())
            if not (root / name).is_file() or (root / name).read_text() != text
        ]
        changes += [f"{name} would be removed" for name in self.delete if (root / name).exists()]
        current = root / PROVENANCE
        if not current.is_file() or current.read_text() != self.provenance:
            changes.append(f"{PROVENANCE} would change")
        return changes

    def apply(self, root: Path) -> None:
        for name in self.delete:
            (root / name).unlink(missing_ok=True)
            _remove_empty_parents(root / name, root)
        for name, text in self.write.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        (root / PROVENANCE).write_text(self.provenance)


def plan_update(
    root: Path, project: str, version: str, sources: Sequence[Path], kinds: Sequence[str] = ()
) -> Plan:
    if not PROJECT_NAME.fullmatch(project):
        raise VendorError(
            f"PROJECT {project!r}: lowercase letters, digits and dashes (traefik, cert-manager)"
        )
    if not RELEASE_VERSION.fullmatch(version):
        raise VendorError(f"VERSION {version!r}: a release version (39.0.0, v1.17.2)")
    manifests, schemas = collect_sources(sources)
    artifacts = build(project, version, manifests, schemas, kinds)
    rows = read_provenance(root)

    def replaced(row: Row) -> bool:
        return row.project == project and (
            (row.is_crd and bool(manifests)) or (not row.is_crd and bool(schemas))
        )

    written = {a.relative for a in artifacts}
    stale = sorted(r.vendored for r in rows if replaced(r) and r.vendored not in written)
    kept = [r for r in rows if not replaced(r)]
    clashes = sorted(written & {r.vendored for r in kept})
    if clashes:
        raise VendorError(f"already vendored for another project: {', '.join(clashes)}")
    new_rows = kept + [Row.of(project, version, a) for a in artifacts]
    return Plan({a.relative: a.text for a in artifacts}, stale, render_provenance(new_rows))


def verify(root: Path) -> list[str]:
    """Problems with the committed copies, judged by their own provenance: each listed file
    exists with its recorded hash, is in the form `update` writes, is a valid CRD (or JSON
    schema) without description prose; no unlisted file sits beside them."""
    if not (root / PROVENANCE).is_file():
        return [f"{root / PROVENANCE}: not found; is --root the directory of the copies?"]
    rows = read_provenance(root)
    if not rows:
        return [f"{root / PROVENANCE}: no provenance rows"]
    problems = []
    for row in rows:
        path = root / row.vendored
        if not path.is_file():
            problems.append(f"{row.vendored}: listed in {PROVENANCE} but missing")
            continue
        text = path.read_text()
        try:
            document = yaml.safe_load(text) if row.is_crd else json.loads(text)
        except (yaml.YAMLError, json.JSONDecodeError) as error:
            problems.append(f"{row.vendored}: does not parse: {error}")
            continue
        if hashlib.sha256(text.encode()).hexdigest() != row.vendored_sha256:
            problems.append(f"{row.vendored}: SHA-256 differs from {PROVENANCE} (edited by hand?)")
        if row.is_crd:
            crd = document
            shape = crd_shape_problems(crd, row.vendored)
            if shape:
                problems += shape
                continue
            for version in crd["spec"]["versions"]:
                schema = version["schema"]["openAPIV3Schema"]
                problems += leftover_descriptions(schema, f"{row.vendored} {version['name']}")
            canonical = render_crd(strip_crd(crd), row.project, row.version, row.source)
        else:
            schema = document
            problems += leftover_descriptions(schema, row.vendored)
            canonical = render_values_schema(strip_schema(schema))
        if canonical != text:
            problems.append(f"{row.vendored}: not as tools/upstream/vendor.py writes it")
    listed = {row.vendored for row in rows}
    for directory in (CRD_DIR, VALUES_DIR):
        for path in sorted((root / directory).rglob("*")):
            name = PurePosixPath(path.relative_to(root).as_posix())
            if path.is_file() and str(name) not in listed:
                problems.append(f"{name}: not listed in {PROVENANCE}")
    return problems


def _remove_empty_parents(path: Path, root: Path) -> None:
    parent = path.parent
    while parent != root and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vendor.py", description=__doc__.split("\n\n")[0].strip())
    parser.add_argument(
        "--root", type=Path, default=DEFAULT_ROOT, help="where the copies live (upstream/)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    update = commands.add_parser("update", help="vendor (or re-vendor) one project's schemas")
    update.add_argument("project", help="name of the upstream project, e.g. traefik")
    update.add_argument("version", help="its release, e.g. 41.3.0")
    update.add_argument(
        "sources",
        nargs="+",
        type=Path,
        metavar="SOURCE",
        help="chart directory, directory of CRD manifests, CRD manifest or values schema",
    )
    update.add_argument(
        "--kind", action="append", default=[], help="only this CRD kind (repeatable)"
    )
    update.add_argument(
        "--check", action="store_true", help="write nothing; fail if anything would change"
    )
    commands.add_parser("verify", help="check the committed copies against their provenance")
    args = parser.parse_args(argv)

    try:
        if args.command == "verify":
            problems = verify(args.root)
            for problem in problems:
                print(problem, file=sys.stderr)
            return 1 if problems else 0
        plan = plan_update(args.root, args.project, args.version, args.sources, args.kind)
        if args.check:
            changes = plan.differences(args.root)
            for change in changes:
                print(change, file=sys.stderr)
            return 1 if changes else 0
        plan.apply(args.root)
        print(f"{args.project} {args.version}: {len(plan.write)} file(s) in {args.root}")
        return 0
    except VendorError as error:
        print(f"vendor.py: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
