"""Engine events -> progress, policy violations, errors and counts; and drift from a
refresh's events. Events are built from the JSON the engine writes to its event log.

Invariants guarded:
- a resource counts towards the total when its step starts and as done when it
  finishes (outputs or failure), a component at the latest when the operation ends;
  the total never shows less than the resources the stack held after its last update;
- failed steps are listed; the engine's summary gives the operation counts;
- policy violations keep policy, pack, level, resource and message, without duplicates;
  mandatory ones are told apart from advisory ones;
- error diagnostics are kept without the engine's color directives, naming the resource;
- in a CI log (no terminal) every changed resource is one line with done/total and
  elapsed time; unchanged ones print nothing;
- drift names each resource the refresh found changed (update, delete, refresh with
  diffs) with the changed paths, and never a component, provider or unchanged resource.
"""

from __future__ import annotations

import io
from itertools import count

from pulumi.automation import EngineEvent
from rich.console import Console

from go_platform.drift import changed_paths, drifted_resources, readable
from go_platform.progress import (
    ProgressTracker,
    ProgressView,
    describe_urn,
    operation_counts_line,
    policy_pack_versions,
)

PET = "urn:pulumi:dev::go-platform::random:index/randomPet:RandomPet::pet"
DEPLOY = "urn:pulumi:dev::go-platform::go-platform:index:GoServiceStack$kubernetes:apps/v1:Deployment::greeter"
COMPONENT = "urn:pulumi:dev::go-platform::go-platform:index:GoServiceStack::greeter"
_sequence = count()


class Ticker:
    """A clock that moves one second per reading."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


def event(kind: str, body: dict) -> EngineEvent:
    return EngineEvent.from_json({"sequence": next(_sequence), "timestamp": 0, kind: body})


def metadata(urn: str, op: str, **extra) -> dict:
    return {
        "op": op,
        "urn": urn,
        "type": urn.split("::")[2].rsplit("$", 1)[-1],
        "provider": "",
        **extra,
    }


def pre(urn: str, op: str = "create", planning: bool = False, **extra) -> EngineEvent:
    return event("resourcePreEvent", {"metadata": metadata(urn, op, **extra), "planning": planning})


def state(urn: str, *, custom: bool | None) -> dict:
    """A step's resource state as the engine writes it: a component's has no `custom`."""
    body = {"type": urn.split("::")[2].rsplit("$", 1)[-1], "urn": urn}
    return body if custom is None else {**body, "custom": custom}


def done(urn: str, op: str = "create", **extra) -> EngineEvent:
    return event("resOutputsEvent", {"metadata": metadata(urn, op, **extra)})


def failed(urn: str, op: str = "create") -> EngineEvent:
    return event("resOpFailedEvent", {"metadata": metadata(urn, op), "status": 1, "steps": 1})


def policy(
    level: str, message: str = "container runs as root", urn: str | None = DEPLOY
) -> EngineEvent:
    body = {
        "message": message,
        "color": "never",
        "policyName": "pod-run-as-non-root",
        "policyPackName": "go-platform",
        "policyPackVersion": "0.1.0",
        "policyPackVersionTag": "0.1.0",
        "enforcementLevel": level,
    }
    if urn:
        body["resourceUrn"] = urn
    return event("policyEvent", body)


def diagnostic(severity: str, message: str, urn: str | None = None) -> EngineEvent:
    body = {"message": message, "color": "never", "severity": severity}
    if urn:
        body["urn"] = urn
    return event("diagnosticEvent", body)


def summary(changes: dict[str, int]) -> EngineEvent:
    return event(
        "summaryEvent",
        {
            "maybeCorrupt": False,
            "durationSeconds": 3,
            "resourceChanges": changes,
            "PolicyPacks": {},
        },
    )


def tracked(*events: EngineEvent, expected: int = 0) -> ProgressTracker:
    tracker = ProgressTracker(expected_total=expected, clock=Ticker())
    for item in events:
        tracker.handle(item)
    return tracker


# --- progress ------------------------------------------------------------------------


def test_a_step_counts_in_the_total_when_it_starts_and_as_done_when_it_ends():
    tracker = tracked(pre(PET), pre(DEPLOY))
    assert (tracker.done, tracker.total) == (0, 2)

    tracker.handle(done(PET))

    assert (tracker.done, tracker.total) == (1, 2)
    assert [step.name for step in tracker.running()] == ["greeter"]


def test_the_total_is_at_least_what_the_stack_holds():
    assert tracked(pre(PET), expected=12).total == 12
    assert tracked(pre(PET), pre(DEPLOY), expected=1).total == 2


def test_a_failed_step_is_done_and_listed():
    tracker = tracked(pre(PET), pre(DEPLOY), done(PET), failed(DEPLOY))

    assert tracker.done == 2
    assert [step.urn for step in tracker.failed] == [DEPLOY]
    assert tracker.failed[0].verb == "failed"


def test_components_the_engine_never_finishes_are_done_when_the_operation_ends():
    # In an update the engine sends no outputs event for a component a provider
    # constructs (the kubernetes ConfigGroup); its step is done when the operation is.
    group = "urn:pulumi:dev::go-platform::kubernetes:yaml/v2:ConfigGroup::crds"
    tracker = tracked(
        pre(group, "same", new=state(group, custom=None)),
        pre(PET, "same", new=state(PET, custom=True)),
        pre(DEPLOY, "same", new=state(DEPLOY, custom=True)),
        done(PET, "same"),
    )
    assert (tracker.done, tracker.total) == (1, 3)

    tracker.handle(summary({"same": 2}))

    # A custom resource still running (an operation that stopped) is not counted done.
    assert (tracker.done, tracker.total) == (2, 3)
    assert [step.urn for step in tracker.running()] == [DEPLOY]


def test_a_deleted_component_is_told_by_its_old_state():
    tracker = tracked(
        pre(COMPONENT, "delete", old=state(COMPONENT, custom=None)),
        pre(PET, "delete", old=state(PET, custom=True)),
        summary({"delete": 2}),
    )
    assert [step.urn for step in tracker.running()] == [PET]


def test_the_summary_event_gives_the_operation_counts():
    tracker = tracked(summary({"create": 2, "same": 5}))

    assert tracker.operations == {"create": 2, "same": 5}
    assert operation_counts_line(tracker.operations) == "2 create, 5 unchanged"
    assert operation_counts_line(None) == "no changes"


def test_policy_packs_are_named_as_the_user_knows_them():
    # The engine keys a local pack by name, origin and path.
    reported = {
        "go-platform|local|/work/main/policies": "0.1.0",
        "driver-fixture|local|/t/p": "v0.0.1",
    }

    assert policy_pack_versions(reported) == {"go-platform": "0.1.0", "driver-fixture": "0.0.1"}


def test_policy_violations_keep_their_details_without_duplicates():
    tracker = tracked(policy("mandatory"), policy("mandatory"), policy("advisory", "no probes"))

    assert len(tracker.violations) == 2
    assert [v.enforcement for v in tracker.mandatory_violations] == ["mandatory"]
    violation = tracker.mandatory_violations[0]
    assert violation.as_json() == {
        "policy": "pod-run-as-non-root",
        "pack": "go-platform",
        "enforcementLevel": "mandatory",
        "resource": DEPLOY,
        "message": "container runs as root",
    }
    assert violation.line() == (
        "mandatory: pod-run-as-non-root on Deployment greeter: container runs as root"
    )


def test_a_violation_line_shows_what_was_found_not_the_policys_description():
    """As the engine sends it: the policy's description, then the violation's own words."""
    message = (
        "Images are pinned by digest, so what runs is what was reviewed.\n"
        "container 'app' (spec.template.spec.containers[0]): image is 'greeter:1.0'; "
        "expected a reference pinned by digest"
    )
    [violation] = tracked(policy("advisory", message)).violations

    assert violation.line() == (
        "advisory: pod-run-as-non-root on Deployment greeter: container 'app' "
        "(spec.template.spec.containers[0]): image is 'greeter:1.0'; expected a reference "
        "pinned by digest"
    )
    assert violation.as_json()["message"] == message


def test_a_stack_policy_names_the_stack():
    tracker = tracked(policy("mandatory", "no NetworkPolicy in apps", urn=None))

    assert tracker.violations[0].line().startswith("mandatory: pod-run-as-non-root on the stack:")


def test_error_diagnostics_are_plain_text_naming_the_resource():
    tracker = tracked(
        diagnostic("error", "<{%fg 1%}>error: <{%reset%}>quota exceeded<{%reset%}>\n", urn=DEPLOY),
        diagnostic("warning", "deprecated field"),
        diagnostic("info", "hello from the program"),
    )

    assert tracker.errors == ["Deployment greeter: error: quota exceeded"]
    assert tracker.warnings == ["deprecated field"]


def test_what_a_plugin_wrote_to_stderr_is_kept_apart():
    tracker = tracked(
        diagnostic("info#err", "go-platform policy pack: invalid policy config x.json: ...\n"),
        diagnostic("info", "hello from the program"),
    )

    assert tracker.stderr == ["go-platform policy pack: invalid policy config x.json: ..."]
    assert tracker.errors == []


def test_describe_urn_uses_the_resources_own_type():
    assert describe_urn(DEPLOY) == "Deployment greeter"
    assert describe_urn("not-a-urn") == "not-a-urn"


def test_a_ci_log_gets_one_line_per_changed_resource():
    stream = io.StringIO()
    console = Console(file=stream, width=200, force_terminal=False)
    tracker = ProgressTracker(clock=Ticker())
    view = ProgressView(console, "up dev", tracker)

    with view.running():
        for item in (pre(PET), pre(DEPLOY, "same"), done(PET), done(DEPLOY, "same")):
            view.on_event(item)

    lines = stream.getvalue().splitlines()
    assert lines[0] == "up dev ..."
    assert len(lines) == 2
    assert "[1/2] created" in lines[1]
    assert "RandomPet pet" in lines[1]
    assert lines[1].rstrip().endswith("00:04")


def test_a_preview_line_says_what_is_planned():
    stream = io.StringIO()
    view = ProgressView(
        Console(file=stream, width=200), "preview dev", ProgressTracker(clock=Ticker())
    )

    with view.running():
        view.on_event(pre(PET, "update", planning=True))
        view.on_event(done(PET, "update"))

    assert "to update" in stream.getvalue()


# --- drift ---------------------------------------------------------------------------


def old_new(outputs_old: dict, outputs_new: dict | None, custom: bool = True) -> dict:
    state = {"type": "t", "urn": DEPLOY, "id": "x", "parent": "", "provider": "", "custom": custom}
    found = {"old": {**state, "outputs": outputs_old}}
    if outputs_new is not None:
        found["new"] = {**state, "outputs": outputs_new}
    return found


def test_drift_names_updated_and_deleted_resources_with_their_paths():
    tracker = tracked(
        done(PET, "same", **old_new({"id": "a"}, {"id": "a"})),
        done(
            DEPLOY,
            "update",
            diffs=["spec"],
            detailedDiff={"spec.replicas": {"diffKind": "update", "inputDiff": False}},
            **old_new({}, {}),
        ),
        done(
            "urn:pulumi:dev::p::kubernetes:core/v1:ConfigMap::env",
            "delete",
            **old_new({"data": {}}, None),
        ),
    )

    drifted = drifted_resources(tracker.finished_steps)

    assert [d.line() for d in drifted] == [
        "~ Deployment greeter: spec.replicas changed outside Pulumi",
        "- ConfigMap env: deleted outside Pulumi",
    ]
    assert drifted[0].as_json()["paths"] == ["spec.replicas"]


def test_a_refresh_step_with_diffs_or_a_vanished_resource_is_drift():
    tracker = tracked(
        done(DEPLOY, "refresh", diffs=["metadata"], **old_new({}, {})),
        done(PET, "refresh", **old_new({"id": "a"}, None)),
    )

    assert [(d.name, d.change, d.paths) for d in drifted_resources(tracker.finished_steps)] == [
        ("greeter", "update", ("metadata",)),
        ("pet", "delete", ()),
    ]


def test_components_providers_and_unchanged_resources_never_drift():
    tracker = tracked(
        done(COMPONENT, "update", **old_new({}, {"x": 1}, custom=False)),
        done(
            "urn:pulumi:dev::p::pulumi:providers:kubernetes::default", "update", **old_new({}, {})
        ),
        done(PET, "refresh", **old_new({"id": "a"}, {"id": "a"})),
    )

    assert drifted_resources(tracker.finished_steps) == []


def test_an_update_without_reported_keys_falls_back_to_comparing_outputs():
    tracker = tracked(
        done(
            DEPLOY,
            "update",
            **old_new(
                {"spec": {"replicas": 1}, "metadata": {"resourceVersion": "1"}},
                {"spec": {"replicas": 3}, "metadata": {"resourceVersion": "2"}},
            ),
        )
    )

    assert drifted_resources(tracker.finished_steps)[0].paths == ("spec.replicas",)


def test_changed_paths_and_readable():
    assert changed_paths({"a": {"b": 1, "c": [1, 2]}}, {"a": {"b": 2, "c": [1, 3]}, "d": 0}) == [
        "a.b",
        "a.c[1]",
        "d",
    ]
    assert changed_paths([1], [1, 2]) == ["(value)"]
    assert readable(["metadata.resourceVersion", "data.KEY"]) == ["data.KEY"]
    assert readable(["metadata.resourceVersion"]) == ["metadata.resourceVersion"]
    assert readable([f"k{i}" for i in range(10)])[-1] == "... 2 more"
