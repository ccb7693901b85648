"""Engine events -> what a person (and the JSON summary) needs: resources done out of total,
elapsed time, each finished change, policy violations, errors and the operation counts.

`ProgressTracker` is plain state fed one `EngineEvent` at a time (tests feed it events
built from the engine's JSON); `ProgressView` renders it with rich: a live line on a
terminal, one line per changed resource in a CI log.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pulumi.automation import EngineEvent, StepEventMetadata
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

# Operations that leave a resource as it was; the progress lines skip them.
UNCHANGED_OPS = frozenset({"same", "read", "refresh"})

_DONE_VERBS = {
    "create": "created",
    "update": "updated",
    "delete": "deleted",
    "replace": "replaced",
    "create-replacement": "created replacement",
    "delete-replaced": "deleted replaced",
    "read": "read",
    "read-replacement": "read replacement",
    "refresh": "refreshed",
    "discard": "discarded",
    "discard-replaced": "discarded replaced",
    "import": "imported",
    "import-replacement": "imported replacement",
    "remove-pending-replace": "removed pending replace",
    "same": "unchanged",
}
_PLANNED_VERBS = {
    "create": "to create",
    "update": "to update",
    "delete": "to delete",
    "replace": "to replace",
    "create-replacement": "to create replacement",
    "delete-replaced": "to delete replaced",
    "import": "to import",
    "same": "unchanged",
    "refresh": "to refresh",
}
_COLOR_TAG = re.compile(r"<\{%[^%]*%\}>")


def plain(text: str) -> str:
    """Engine text without the engine's color directives (`<{%reset%}>`), trimmed."""
    return _COLOR_TAG.sub("", text).strip()


def resource_name(urn: str) -> str:
    """The logical name at the end of a URN (`urn:pulumi:dev::proj::a:b:C::name` -> `name`)."""
    return urn.rsplit("::", 1)[-1] if "::" in urn else urn


def resource_kind(type_token: str) -> str:
    """The last part of a type token (`kubernetes:apps/v1:Deployment` -> `Deployment`)."""
    return type_token.rsplit(":", 1)[-1] or type_token


def urn_type(urn: str) -> str:
    """The resource's own type token in a URN (parent types come before a `$`)."""
    parts = urn.split("::")
    return parts[2].rsplit("$", 1)[-1] if len(parts) >= 4 else ""


def describe_urn(urn: str) -> str:
    """`Deployment greeter` for a URN: what a person calls the resource."""
    kind = resource_kind(urn_type(urn))
    return f"{kind} {resource_name(urn)}" if kind else resource_name(urn)


def format_elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


@dataclass
class StepRecord:
    """One resource step the engine started, and whether it finished."""

    urn: str
    type: str
    op: str
    planning: bool
    started: float
    finished: float | None = None
    failed: bool = False
    component: bool = False
    """A component resource: no work of its own, and one constructed by a provider (a
    `ConfigGroup`) gets no outputs event in an update."""

    @property
    def name(self) -> str:
        return resource_name(self.urn)

    @property
    def verb(self) -> str:
        verbs = _PLANNED_VERBS if self.planning else _DONE_VERBS
        return "failed" if self.failed else verbs.get(self.op, self.op)


@dataclass(frozen=True)
class PolicyViolation:
    """One violation the policy pack reported."""

    policy: str
    pack: str
    enforcement: str
    """`mandatory`, `advisory` or `remediate`."""
    resource: str | None
    """URN of the resource, or None for a stack-level policy."""
    message: str

    @property
    def mandatory(self) -> bool:
        return self.enforcement == "mandatory"

    def line(self) -> str:
        """One line: level, policy, resource and what the policy found. The engine sends the
        policy's description on the message's first line and the violation's own words on
        the lines after it; those are what a person needs (the policy is already named)."""
        where = describe_urn(self.resource) if self.resource else "the stack"
        lines = [line.strip() for line in self.message.splitlines() if line.strip()]
        found = "; ".join(lines[1:]) or (lines[0] if lines else "")
        return f"{self.enforcement}: {self.policy} on {where}: {found}"

    def as_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "pack": self.pack,
            "enforcementLevel": self.enforcement,
            "resource": self.resource,
            "message": self.message,
        }


@dataclass
class ProgressTracker:
    """What the engine reported during one operation, updated event by event."""

    expected_total: int = 0
    """Resources the stack is expected to hold; the total never shows less than seen."""
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    steps: dict[str, StepRecord] = field(default_factory=dict)
    violations: list[PolicyViolation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    """What the program or a plugin wrote to its standard error, as the engine relays it
    (severity `info#err`): the reason a policy pack or program could not start, whose
    error from the engine says only that it did not."""
    operations: dict[str, int] | None = None
    """Counts per operation from the engine's summary event (None until it arrives)."""
    finished_steps: list[StepEventMetadata] = field(default_factory=list)
    """Metadata of every step that finished, in order (drift reads a refresh's)."""
    policy_packs: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.started:
            self.started = self.clock()

    # --- reading ---------------------------------------------------------------------

    @property
    def done(self) -> int:
        return sum(1 for step in self.steps.values() if step.finished is not None)

    @property
    def total(self) -> int:
        return max(self.expected_total, len(self.steps))

    @property
    def failed(self) -> list[StepRecord]:
        return [step for step in self.steps.values() if step.failed]

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    @property
    def mandatory_violations(self) -> list[PolicyViolation]:
        return [v for v in self.violations if v.mandatory]

    def running(self) -> list[StepRecord]:
        return [step for step in self.steps.values() if step.finished is None]

    # --- updating --------------------------------------------------------------------

    def handle(self, event: EngineEvent) -> StepRecord | None:
        """Take in one event; returns the step it finished, if it finished one."""
        if event.resource_pre_event is not None:
            self._started(
                event.resource_pre_event.metadata, bool(event.resource_pre_event.planning)
            )
        elif event.res_outputs_event is not None:
            return self._finished(event.res_outputs_event.metadata, failed=False)
        elif event.res_op_failed_event is not None:
            return self._finished(event.res_op_failed_event.metadata, failed=True)
        elif event.policy_event is not None:
            self._policy(event)
        elif event.diagnostic_event is not None:
            self._diagnostic(event)
        elif event.summary_event is not None:
            summary = event.summary_event
            self.operations = {
                str(getattr(op, "value", op)): n for op, n in summary.resource_changes.items()
            }
            self.policy_packs = policy_pack_versions(summary.policy_packs or {})
            self._components_done()
        return None

    def _started(self, metadata: StepEventMetadata, planning: bool) -> None:
        self.steps[metadata.urn] = StepRecord(
            urn=metadata.urn,
            type=metadata.type,
            op=_op(metadata),
            planning=planning,
            started=self.clock(),
            component=_is_component(metadata),
        )

    def _components_done(self) -> None:
        """The operation has ended, so every component it started is done with it."""
        now = self.clock()
        for step in self.steps.values():
            if step.component and step.finished is None:
                step.finished = now

    def _finished(self, metadata: StepEventMetadata, *, failed: bool) -> StepRecord:
        step = self.steps.get(metadata.urn)
        if step is None:  # an outputs event without its pre event: count it all the same
            step = StepRecord(metadata.urn, metadata.type, _op(metadata), False, self.clock())
            self.steps[metadata.urn] = step
        step.finished = self.clock()
        step.failed = step.failed or failed
        if not failed:
            self.finished_steps.append(metadata)
        return step

    def _policy(self, event: EngineEvent) -> None:
        policy = event.policy_event
        assert policy is not None
        violation = PolicyViolation(
            policy=policy.policy_name,
            pack=policy.policy_pack_name,
            enforcement=policy.enforcement_level,
            resource=policy.resource_urn or None,
            message=plain(policy.message),
        )
        if violation not in self.violations:
            self.violations.append(violation)

    def _diagnostic(self, event: EngineEvent) -> None:
        diagnostic = event.diagnostic_event
        assert diagnostic is not None
        message = plain(diagnostic.message)
        if not message:
            return
        if diagnostic.urn and urn_type(diagnostic.urn) != "pulumi:pulumi:Stack":
            message = f"{describe_urn(diagnostic.urn)}: {message}"
        if diagnostic.severity == "error" and message not in self.errors:
            self.errors.append(message)
        elif diagnostic.severity == "warning" and message not in self.warnings:
            self.warnings.append(message)
        elif diagnostic.severity == "info#err" and message not in self.stderr:
            self.stderr.append(message)


def _op(metadata: StepEventMetadata) -> str:
    return str(getattr(metadata.op, "value", metadata.op))


def _is_component(metadata: StepEventMetadata) -> bool:
    """The engine marks a custom resource's state `custom`; a component's leaves it out."""
    state = metadata.new or metadata.old
    return state is not None and not state.custom


def operation_counts_line(operations: Mapping[str, int] | None) -> str:
    """`2 to create, 1 unchanged` style text of the engine's counts."""
    if not operations:
        return "no changes"
    order = ["create", "update", "replace", "delete", "import", "same"]
    keys = sorted(operations, key=lambda op: (order.index(op) if op in order else len(order), op))
    words = {"same": "unchanged"}
    return ", ".join(f"{operations[op]} {words.get(op, op)}" for op in keys if operations[op])


class ProgressView:
    """Renders a tracker while an operation runs. Engine events arrive on another thread."""

    def __init__(self, console: Console, title: str, tracker: ProgressTracker) -> None:
        self.console = console
        self.title = title
        self.tracker = tracker
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._task: Any = None

    def on_event(self, event: EngineEvent) -> None:
        with self._lock:
            finished = self.tracker.handle(event)
            if self._progress is not None:
                self._refresh_live()
            elif finished is not None and finished.op not in UNCHANGED_OPS:
                self._print_step(finished)

    def _print_step(self, step: StepRecord) -> None:
        tracker = self.tracker
        width = len(str(tracker.total))
        self.console.print(
            f"  [{tracker.done:>{width}}/{tracker.total}] {step.verb:<12} "
            f"{resource_kind(step.type)} {step.name}  "
            f"[dim]{format_elapsed(tracker.elapsed)}[/dim]",
            highlight=False,
        )

    def _refresh_live(self) -> None:
        assert self._progress is not None
        tracker = self.tracker
        running = tracker.running()
        current = (
            f"{running[-1].verb} {resource_kind(running[-1].type)} {running[-1].name}"
            if running
            else ""
        )
        self._progress.update(
            self._task,
            total=max(tracker.total, 1),
            completed=tracker.done,
            description=f"{self.title}: {tracker.done}/{tracker.total} resources",
            current=current,
        )

    @contextmanager
    def running(self) -> Iterator[ProgressView]:
        if self.console.is_terminal:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TimeElapsedColumn(),
                TextColumn("[dim]{task.fields[current]}"),
                console=self.console,
                transient=True,
            )
            self._task = self._progress.add_task(self.title, total=None, current="")
            self._progress.start()
        else:
            self.console.print(f"{self.title} ...", highlight=False)
        try:
            yield self
        finally:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None


def policy_pack_versions(reported: dict[str, str]) -> dict[str, str]:
    """The engine's summary names a local pack `name|local|path` (a published one
    `name|org|...`); the summary keeps the pack's name, with its version."""
    return {key.split("|", 1)[0]: version.removeprefix("v") for key, version in reported.items()}
