"""Validate custom resources against the upstream CRDs vendored in `upstream/crds/`.

A typo in an IngressRoute or a Certificate then fails a unit test in milliseconds, as it
would fail at apply time on a real API server.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jsonschema
import yaml

from tests.conftest import UPSTREAM

CRD_DIR = UPSTREAM / "crds"


@cache
def _schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema of every served version of every CRD."""
    schemas = {}
    for path in sorted(CRD_DIR.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if not document or document.get("kind") != "CustomResourceDefinition":
                continue
            spec = document["spec"]
            for version in spec["versions"]:
                if version.get("served"):
                    key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                    schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


def _to_json_schema(node: Any) -> Any:
    """OpenAPI v3 structural schema -> JSON Schema, read as strict field validation reads it:
    unknown fields are errors (not pruned), int-or-string and nullable fields allowed."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {
        k: _to_json_schema(v) for k, v in node.items() if not k.startswith("x-kubernetes-")
    }
    if isinstance(node.get("pattern"), str):
        converted["pattern"] = _python_pattern(node["pattern"])
    if node.get("x-kubernetes-int-or-string"):
        converted.pop("type", None)
        converted["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in converted:
        converted["type"] = [converted["type"], "null"]
    converted.pop("nullable", None)
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        converted["additionalProperties"] = False
    return converted


def _python_pattern(pattern: str) -> str:
    """A Go (RE2) pattern as Python reads it: RE2 allows `^(?i)...`, Python wants the flag
    first."""
    if pattern.startswith("^(?i)"):
        return "(?i)^" + pattern.removeprefix("^(?i)")
    return pattern


def validate_custom_resource(api_version: str, kind: str, spec: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when `spec` breaks the CRD's schema."""
    schema = _schemas().get((api_version, kind))
    if schema is None:
        raise LookupError(f"no upstream CRD serves {kind} in {api_version}")
    spec_schema = _to_json_schema(schema["properties"]["spec"])
    jsonschema.validate(spec, spec_schema, cls=jsonschema.Draft7Validator)
