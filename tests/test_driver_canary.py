"""The canary promotion state machine, driven by a fake clock, fake metrics and a
recording deployer (no engine, no Prometheus, no waiting).

Invariants guarded:
- a healthy canary moves through every step of its plan in order, waiting `interval`
  before each analysis, then is promoted in two deployments: stable takes the canary's
  image first, the weight goes back to 0 after;
- an unhealthy canary is held at its step and rolled back to weight 0 when the failed
  checks reach `threshold`, counted over the whole promotion; a later pass does not
  reset the count;
- no data (a missing metric, no requests, a failed query) is a failed check, never a pass;
- every check records what was measured, why it failed and what was decided;
- the state is recorded with every deployment and after every held check, round-trips
  through its config text, and a recorded promotion resumes at its step; a rolled-back
  canary is not retried unless asked, an unfinished rollback is not promoted;
- the promotion state lives in a config namespace `load_settings` ignores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from go_platform.canary import (
    CanaryState,
    Measurement,
    Promotion,
    decide,
    evaluate,
    plan_lines,
    state_key,
)
from go_platform.exit_codes import DriverError, ExitCode
from go_platform_core.config import CanaryAnalysisSettings, load_settings
from tests.conftest import canary_service_settings, service_config, stack_config

HEALTHY = Measurement(success_rate=99.9, latency_p99_ms=120.0)
SLOW = Measurement(success_rate=99.9, latency_p99_ms=900.0)
MISSING = Measurement(success_rate=None, latency_p99_ms=None)


@dataclass
class FakeClock:
    moment: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    slept: list[float] = field(default_factory=list)

    def now(self) -> datetime:
        return self.moment

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.moment += timedelta(seconds=seconds)


@dataclass
class ScriptedMetrics:
    """Answers with the given measurements in order, then repeats the last one."""

    answers: list[Measurement]
    windows: list[int] = field(default_factory=list)

    def measure(self, window_seconds: int) -> Measurement:
        self.windows.append(window_seconds)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@dataclass
class RecordingDeployer:
    events: list[tuple[str, object, str]] = field(default_factory=list)
    saved: list[CanaryState] = field(default_factory=list)

    def deploy_weight(self, weight: int, state: CanaryState) -> None:
        self.events.append(("weight", weight, state.phase))
        self.saved.append(state)

    def deploy_promotion(self, state: CanaryState) -> None:
        self.events.append(("promote", state.canary_image, state.phase))
        self.saved.append(state)

    def save(self, state: CanaryState) -> None:
        self.saved.append(state)

    @property
    def deployed(self) -> list[tuple[str, object]]:
        return [(kind, value) for kind, value, _ in self.events]


def promotion(service, answers):
    lines: list[str] = []
    run = Promotion(
        service=service,
        deployer=RecordingDeployer(),
        metrics=ScriptedMetrics(list(answers)),
        clock=FakeClock(),
        report=lines.append,
    )
    return run, lines


# --- whole promotions ----------------------------------------------------------------


def test_a_healthy_canary_moves_through_every_step_then_is_promoted():
    service = canary_service_settings()
    run, lines = promotion(service, [HEALTHY])

    final = run.run(run.start(None))

    assert run.deployer.deployed == [
        ("weight", 10),
        ("weight", 25),
        ("weight", 50),
        ("promote", "ghcr.io/acme/greeter:v1.3.0"),
        ("weight", 0),
    ]
    assert final.phase == "promoted"
    assert final.weight == 0
    assert [c.decision for c in run.checks] == ["advance", "advance", "promote"]
    assert run.clock.slept == [60, 60, 60]
    assert run.metrics.windows == [60, 60, 60]
    assert any("promoted" in line for line in lines)


def test_stable_takes_the_image_while_the_canary_still_has_its_weight():
    run, _ = promotion(canary_service_settings(), [HEALTHY])

    run.run(run.start(None))

    promote, back_to_zero = run.deployer.events[-2:]
    assert promote == ("promote", "ghcr.io/acme/greeter:v1.3.0", "promoting")
    assert back_to_zero == ("weight", 0, "promoted")


def test_an_unhealthy_canary_is_held_then_rolled_back_at_the_threshold():
    run, _ = promotion(canary_service_settings(threshold=2), [SLOW])

    final = run.run(run.start(None))

    assert run.deployer.deployed == [("weight", 10), ("weight", 0)]
    assert [c.decision for c in run.checks] == ["hold", "rollback"]
    assert [c.failed_checks for c in run.checks] == [1, 2]
    assert final.phase == "rolled-back"
    assert final.weight == 0
    assert run.deployer.saved[-1].phase == "rolled-back"
    assert run.checks[0].reasons == ("p99 latency 900ms is above 500ms",)


def test_failed_checks_count_over_the_whole_promotion():
    run, _ = promotion(canary_service_settings(threshold=2), [SLOW, HEALTHY, SLOW])

    final = run.run(run.start(None))

    assert [(c.step, c.decision) for c in run.checks] == [
        (1, "hold"),
        (1, "advance"),
        (2, "rollback"),
    ]
    assert final.phase == "rolled-back"


def test_a_missing_metric_is_a_failed_check_not_a_pass():
    run, _ = promotion(canary_service_settings(threshold=1), [MISSING])

    final = run.run(run.start(None))

    assert final.phase == "rolled-back"
    check = run.checks[0]
    assert not check.passed
    assert check.reasons == (
        "success rate: no data (the canary's request metric is missing)",
        "p99 latency: no data (the canary's latency metric is missing)",
    )


def test_a_held_check_is_recorded_before_the_next_interval():
    run, _ = promotion(canary_service_settings(threshold=3), [SLOW, HEALTHY])

    run.run(run.start(None))

    held = [s for s in run.deployer.saved if s.failed_checks == 1 and s.step == 1]
    assert held, "the held check was never recorded"
    assert held[0].checks[-1].decision == "hold"


# --- analysis and decisions ----------------------------------------------------------

ANALYSIS = CanaryAnalysisSettings.model_validate({"successRate": 99, "maxLatencyMs": 500})


@pytest.mark.parametrize(
    ("measurement", "reasons"),
    [
        (Measurement(99.5, 499.0), ()),
        (Measurement(99.0, 500.0), ()),
        (Measurement(98.9, 100.0), ("success rate 98.90% is below 99%",)),
        (Measurement(100.0, 501.0), ("p99 latency 501ms is above 500ms",)),
        (
            Measurement(math.nan, math.nan),
            (
                "success rate: no requests reached the canary in the interval",
                "p99 latency: no requests reached the canary in the interval",
            ),
        ),
        (
            Measurement(None, 100.0),
            ("success rate: no data (the canary's request metric is missing)",),
        ),
        (
            Measurement(
                None,
                None,
                success_rate_error="cannot reach http://prom: refused",
                latency_error="cannot reach http://prom: refused",
            ),
            (
                "success rate: cannot reach http://prom: refused",
                "p99 latency: cannot reach http://prom: refused",
            ),
        ),
    ],
)
def test_evaluate(measurement, reasons):
    assert evaluate(measurement, ANALYSIS) == (not reasons, reasons)


@pytest.mark.parametrize(
    ("step", "passed", "failed", "expected"),
    [
        (1, True, 0, "advance"),
        (2, True, 1, "advance"),
        (3, True, 1, "promote"),
        (1, False, 1, "hold"),
        (3, False, 1, "hold"),
        (2, False, 2, "rollback"),
    ],
)
def test_decide(step, passed, failed, expected):
    assert decide(step=step, steps=3, passed=passed, failed_checks=failed, threshold=2) == expected


# --- state, resume -------------------------------------------------------------------


def test_state_round_trips_through_its_config_text():
    run, _ = promotion(canary_service_settings(threshold=3), [SLOW, HEALTHY])
    run.run(run.start(None))
    state = run.deployer.saved[-1]

    assert CanaryState.from_config(state.to_config(), "greeter") == state


def test_unreadable_state_names_its_key():
    with pytest.raises(DriverError) as raised:
        CanaryState.from_config('{"phase": "sideways"}', "greeter")

    assert raised.value.code == ExitCode.USAGE
    assert "go-platform-canary:greeter" in raised.value.lines[0]


def test_a_recorded_promotion_resumes_at_its_step():
    service = canary_service_settings()
    first, _ = promotion(service, [HEALTHY])
    recorded = first.start(None)
    recorded = CanaryState(**{**recorded.__dict__, "step": 2, "weight": 25, "failed_checks": 1})
    run, lines = promotion(service, [HEALTHY])

    final = run.run(run.start(recorded))

    assert run.deployer.deployed[:2] == [("weight", 25), ("weight", 50)]
    assert final.phase == "promoted"
    assert final.failed_checks == 1
    assert any("re-applying weight 25%" in line for line in lines)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"step": 99, "weight": 50}, "is at step 99, but canary.steps has 3"),
        ({"step": -1}, "is at step -1, but canary.steps has 3"),
        ({"step": 1, "weight": 250}, "has weight 250%, not a percentage"),
        ({"step": 1, "failed_checks": 2}, "has 2 failed checks, the threshold being 2"),
    ],
)
def test_a_recorded_state_past_the_plan_is_refused_never_promoted(changes, says):
    # A hand-edited state, or canary.steps shortened since it was recorded: resuming it
    # would skip every step and promote without one analysis.
    service = canary_service_settings()
    run, _ = promotion(service, [HEALTHY])
    recorded = CanaryState(**{**run.start(None).__dict__, **changes})

    with pytest.raises(DriverError) as raised:
        run.start(recorded)

    assert raised.value.code == ExitCode.USAGE
    assert says in raised.value.lines[0]
    assert "--restart" in raised.value.lines[0]
    with pytest.raises(DriverError, match=says):
        run.run(recorded)
    assert run.deployer.deployed == []
    assert "it cannot be resumed" in plan_lines(service.canary, recorded)[-1]
    assert run.start(recorded, restart=True).step == 0


def test_an_interrupted_promotion_phase_finishes_the_promotion():
    service = canary_service_settings()
    run, _ = promotion(service, [HEALTHY])
    state = run.start(None)
    state = CanaryState(**{**state.__dict__, "phase": "promoting", "step": 3, "weight": 50})

    final = run.run(state)

    assert run.deployer.deployed == [("promote", "ghcr.io/acme/greeter:v1.3.0"), ("weight", 0)]
    assert final.phase == "promoted"


def test_a_rolled_back_canary_is_not_retried_unless_restarted():
    service = canary_service_settings()
    run, _ = promotion(service, [HEALTHY])
    rolled_back = CanaryState(**{**run.start(None).__dict__, "phase": "rolled-back"})

    with pytest.raises(DriverError) as raised:
        run.start(rolled_back)
    assert raised.value.code == ExitCode.USAGE
    assert "--restart" in raised.value.lines[0]
    assert run.start(rolled_back, restart=True).phase == "progressing"


def test_an_unfinished_rollback_is_not_promoted():
    run, _ = promotion(canary_service_settings(), [HEALTHY])
    rolling_back = CanaryState(**{**run.start(None).__dict__, "phase": "rolling-back"})

    with pytest.raises(DriverError, match="canary rollback"):
        run.start(rolling_back)


def test_a_state_for_another_canary_image_starts_over():
    run, _ = promotion(canary_service_settings(), [HEALTHY])
    old = CanaryState(
        **{
            **run.start(None).__dict__,
            "canary_image": "ghcr.io/acme/greeter:v1.2.9",
            "phase": "rolled-back",
        }
    )

    state = run.start(old)

    assert (state.step, state.phase, state.canary_image) == (
        0,
        "progressing",
        "ghcr.io/acme/greeter:v1.3.0",
    )


def test_an_explicit_rollback_sets_weight_zero_and_records_it():
    run, _ = promotion(canary_service_settings(), [HEALTHY])
    state = CanaryState(**{**run.start(None).__dict__, "step": 2, "weight": 25})

    final = run.roll_back(state, reason="requested")

    assert run.deployer.events == [("weight", 0, "rolling-back")]
    assert final.phase == "rolled-back"
    assert run.deployer.saved[-1] == final


def test_the_promotion_records_what_stable_ran_before_it():
    service = canary_service_settings()
    run, _ = promotion(service, [HEALTHY])

    run.run(run.start(None))

    promoting = next(state for state in run.deployer.saved if state.phase == "promoting")
    assert promoting.stable_image == service.image != service.canary.image
    read_back = CanaryState.from_config(promoting.to_config(), service.name)
    assert read_back.stable_image == service.image


@pytest.mark.parametrize("phase", ["promoting", "promoted"])
def test_a_rollback_once_stable_took_the_canary_image_changes_nothing(phase):
    run, _ = promotion(canary_service_settings(), [HEALTHY])
    state = CanaryState(
        **{**run.start(None).__dict__, "phase": phase, "stable_image": "ghcr.io/acme/greeter:v1"}
    )

    with pytest.raises(DriverError) as raised:
        run.roll_back(state, reason="requested")

    assert raised.value.code == ExitCode.USAGE
    assert "set the service's `image` to `ghcr.io/acme/greeter:v1`" in raised.value.lines[-1]
    assert run.deployer.events == []
    assert run.deployer.saved == []


def test_plan_lines_show_steps_timings_and_recorded_progress():
    service = canary_service_settings()
    run, _ = promotion(service, [HEALTHY])
    state = CanaryState(**{**run.start(None).__dict__, "step": 2, "weight": 25})

    lines = plan_lines(service.canary, state)

    assert "  step 2: weight 25%, analysed at +2m" in lines
    assert any("at least 3m" in line and "within 2m" in line for line in lines)
    assert lines[-1].startswith("recorded: progressing at step 2 (weight 25%)")


def test_load_settings_ignores_the_promotion_state_namespace():
    config = stack_config(
        environment="dev",
        domain="example.com",
        services=[
            service_config(
                route={"host": "greeter.example.com"},
                canary={"image": "ghcr.io/acme/greeter:v2", "steps": [50], "maxWeight": 50},
            )
        ],
    )
    with_state = type(config)(
        values={**config.values, state_key("greeter"): '{"phase": "progressing"}'},
        secret_keys=config.secret_keys,
        project_dir=config.project_dir,
    )

    assert load_settings(with_state, stack="dev") == load_settings(config, stack="dev")
