"""The machine summary `--json PATH` writes: one JSON document per command, for CI
annotations. Its shape is `summary.schema.json` (JSON Schema), which the tests check
every summary against; `schemaVersion` changes when a field changes meaning.

Secrets never reach it: outputs come from the engine's masked view (`[secret]`), policy
messages and errors are the engine's own text, which never holds secret values.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from go_platform.exit_codes import RESULTS, ExitCode
from go_platform.paths import PathKind, UnusablePathError, path_kind
from go_platform.progress import PolicyViolation, ProgressTracker
from go_platform.redact import hide_url_credentials

SCHEMA_VERSION = 1


def schema() -> dict[str, Any]:
    """The JSON Schema every summary satisfies."""
    text = resources.files("go_platform").joinpath("summary.schema.json").read_text("utf-8")
    return json.loads(text)


@dataclass
class RunSummary:
    """Everything one command did, as the JSON summary reports it."""

    command: str
    stack: str | None = None
    project: str | None = None
    backend: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    duration_seconds: float = 0.0
    exit_code: ExitCode = ExitCode.OK
    operations: dict[str, int] = field(default_factory=dict)
    resources_done: int = 0
    resources_total: int = 0
    failed_resources: list[str] = field(default_factory=list)
    policy_violations: list[PolicyViolation] = field(default_factory=list)
    policy_packs: dict[str, str] = field(default_factory=dict)
    """Packs the engine ran: name -> version."""
    outputs: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)
    preflight: list[dict[str, Any]] = field(default_factory=list)
    canary: dict[str, Any] | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    """Engine operations a command ran (canary promotion runs several `up`s)."""

    def absorb(self, operation: str, tracker: ProgressTracker) -> None:
        """Add what one engine operation reported."""
        for op, count in (tracker.operations or {}).items():
            self.operations[op] = self.operations.get(op, 0) + count
        self.resources_done += tracker.done
        self.resources_total += tracker.total
        self.failed_resources += [step.urn for step in tracker.failed]
        self.policy_violations += [v for v in tracker.violations if v not in self.policy_violations]
        self.policy_packs.update(tracker.policy_packs)
        self.errors += [e for e in tracker.errors if e not in self.errors]
        self.warnings += [w for w in tracker.warnings if w not in self.warnings]
        self.steps.append(
            {
                "operation": operation,
                "operations": dict(tracker.operations or {}),
                "durationSeconds": round(tracker.elapsed, 3),
            }
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "schemaVersion": SCHEMA_VERSION,
            "command": self.command,
            "stack": self.stack,
            "project": self.project,
            "backend": self.backend,
            "result": RESULTS[self.exit_code],
            "exitCode": int(self.exit_code),
            "startedAt": self.started_at.isoformat(timespec="seconds"),
            "durationSeconds": round(self.duration_seconds, 3),
            "operations": dict(sorted(self.operations.items())),
            "resources": {
                "done": self.resources_done,
                "total": self.resources_total,
                "failed": list(self.failed_resources),
            },
            "policyViolations": [v.as_json() for v in self.policy_violations],
            "policyPacks": dict(sorted(self.policy_packs.items())),
            "outputs": self.outputs,
            # Lines other programs wrote may quote a URL with its credentials.
            "errors": [hide_url_credentials(line) for line in self.errors],
            "warnings": [hide_url_credentials(line) for line in self.warnings],
            "drift": list(self.drift),
            "preflight": list(self.preflight),
            "canary": self.canary,
            "steps": list(self.steps),
        }


def summary_path_problem(path: Path) -> str | None:
    """Why the summary cannot be written to `path`, in a few words; None when it can.

    Meant to run before a command does anything: it creates the missing directories (the
    write would create them too) and writes and removes a file next to `path`, which
    answers for permissions, ACLs and read-only mounts alike.
    """
    problem = _path_problem(path)
    if problem is not None:
        return problem
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        return write_problem(path, error)
    return None


def write_problem(path: Path, error: OSError) -> str:
    """A precise reason for a failed write of the summary to `path`."""
    problem = _path_problem(path)
    if problem is not None:
        return problem
    directory = next((d for d in (path.parent, *path.parent.parents) if _is_dir(d)), path.parent)
    return f"cannot write in {directory}: {error.strerror or error.__class__.__name__}"


def _path_problem(path: Path) -> str | None:
    """What the path itself says against a write: `path` is a directory, one of its
    directories is something else, or the system will not look at it (a name too long)."""
    try:
        if path_kind(path) is PathKind.DIRECTORY:
            return f"{path} is a directory"
    except UnusablePathError as error:
        return str(error)
    return blocking_file(path)


def _is_dir(path: Path) -> bool:
    try:
        return path_kind(path) is PathKind.DIRECTORY
    except UnusablePathError:
        return False


def blocking_file(path: Path) -> str | None:
    """The first directory of `path`'s that exists as something else, said in words; or
    why the system will not say what one is (`file name too long`, `permission denied`)."""
    for ancestor in reversed(path.parents):
        try:
            kind = path_kind(ancestor)
        except UnusablePathError as error:
            return str(error)
        if kind is PathKind.DIRECTORY:
            continue
        if kind is PathKind.FILE:
            return f"{ancestor} is a file, not a directory"
        if kind is PathKind.BROKEN_LINK:
            return f"{ancestor} is a broken symbolic link"
        if kind is PathKind.OTHER:
            return f"{ancestor} is not a directory"
        return None
    return None


def write_summary(summary: RunSummary, path: Path) -> None:
    """Write the summary to `path` atomically (a reader never sees half a document)."""
    text = json.dumps(summary.as_json(), indent=2, sort_keys=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
