"""Drift: what a refresh in preview mode says changed outside Pulumi, per resource.

The engine decides whether a refreshed resource changed (for Kubernetes objects it
compares what the program set, so status churn is not drift) and reports it on the
step's outputs event: as an `update` or `delete` operation, or as a `refresh` with the
changed keys. Components and providers never drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pulumi.automation import StepEventMetadata

from go_platform.progress import resource_kind, resource_name

# Fields the API server rewrites on every change; listed only when nothing else changed.
BOOKKEEPING = ("metadata.resourceVersion", "metadata.managedFields", "metadata.generation")
MAX_PATHS = 8


@dataclass(frozen=True)
class DriftedResource:
    """One resource whose live state differs from the state Pulumi recorded."""

    urn: str
    type: str
    change: Literal["update", "delete"]
    paths: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return resource_name(self.urn)

    def line(self) -> str:
        what = f"{resource_kind(self.type)} {self.name}"
        if self.change == "delete":
            return f"- {what}: deleted outside Pulumi"
        changed = ", ".join(self.paths) if self.paths else "properties"
        return f"~ {what}: {changed} changed outside Pulumi"

    def as_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "change": self.change,
            "paths": list(self.paths),
        }


def drifted_resources(steps: Iterable[StepEventMetadata]) -> list[DriftedResource]:
    """The drifted resources among a refresh's finished steps, in the engine's order."""
    found: dict[str, DriftedResource] = {}
    for step in steps:
        drifted = _drift_of(step)
        if drifted is not None:
            found[drifted.urn] = drifted
    return list(found.values())


def _drift_of(step: StepEventMetadata) -> DriftedResource | None:
    state = step.old or step.new
    if state is not None and state.custom is False:
        return None
    if step.type.startswith("pulumi:providers:") or step.type == "pulumi:pulumi:Stack":
        return None
    op = str(getattr(step.op, "value", step.op))
    if op == "delete" or (op == "refresh" and step.new is None and step.old is not None):
        return DriftedResource(step.urn, step.type, "delete")
    paths = _reported_paths(step)
    if op == "update" or (op == "refresh" and paths):
        if not paths and step.old is not None and step.new is not None:
            paths = changed_paths(step.old.outputs or {}, step.new.outputs or {})
        return DriftedResource(step.urn, step.type, "update", tuple(readable(paths)))
    return None


def _reported_paths(step: StepEventMetadata) -> list[str]:
    if step.detailed_diff:
        return sorted(step.detailed_diff)
    return sorted(step.diffs or [])


def changed_paths(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths (`spec.replicas`, `data.KEY`, `ports[0]`) where `old` and `new` differ."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        paths: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            where = f"{prefix}.{key}" if prefix else str(key)
            if key not in old or key not in new:
                paths.append(where)
            else:
                paths += changed_paths(old[key], new[key], where)
        return paths
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        paths = []
        for index, (before, after) in enumerate(zip(old, new, strict=True)):
            paths += changed_paths(before, after, f"{prefix}[{index}]")
        return paths
    return [] if old == new else [prefix or "(value)"]


def readable(paths: Iterable[str]) -> list[str]:
    """`paths` without the API server's bookkeeping (unless that is all there is), at most
    MAX_PATHS of them."""
    paths = list(dict.fromkeys(paths))
    meaningful = [p for p in paths if not p.startswith(BOOKKEEPING)]
    chosen = meaningful or paths
    if len(chosen) > MAX_PATHS:
        return [*chosen[:MAX_PATHS], f"... {len(chosen) - MAX_PATHS} more"]
    return chosen
