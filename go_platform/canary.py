"""Metric-gated canary promotion: the state machine, free of I/O.

For each step of the service's plan (`go_platform_core.canary.canary_plan`): set the
canary's weight and deploy; wait `interval`; measure the canary's success rate and p99
latency over that interval; a check passes when both are within `analysis`. A pass moves
to the next step, or after the last step promotes. A failure is counted (over the whole
promotion) and the same step is analysed again after another interval; at `threshold`
failures the canary is rolled back to weight 0. No data is a failure, never a pass.

Promotion ends in two deployments, so traffic never lands on pods that have not rolled
out: first stable takes the canary's image (the canary keeps its weight meanwhile), then
the weight goes back to 0. The `canary` block stays, with weight 0 and the image stable
now runs: the next release only changes `canary.image`.

The state is recorded in the stack config under `go-platform-canary:<service>` (a
namespace the program ignores) before every deployment, so an interrupted promotion is
resumed, or rolled back, from where it stopped. Deployment, metrics and time are
interfaces (`Deployer`, `Metrics`, `Clock`): tests drive the machine with fakes.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from go_platform.exit_codes import DriverError, usage_error
from go_platform_core.canary import canary_plan
from go_platform_core.config import CanaryAnalysisSettings, CanarySettings, ServiceSettings
from go_platform_core.units import format_duration, parse_duration

STATE_NAMESPACE = "go-platform-canary"
Phase = Literal["progressing", "promoting", "promoted", "rolling-back", "rolled-back"]
Decision = Literal["advance", "hold", "promote", "rollback"]
PHASES: tuple[Phase, ...] = ("progressing", "promoting", "promoted", "rolling-back", "rolled-back")


def state_key(service: str) -> str:
    """The config key holding a service's promotion state."""
    return f"{STATE_NAMESPACE}:{service}"


# --- values --------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """What the metrics said about the canary over one interval (None: no data)."""

    success_rate: float | None
    """Percent of non-5xx responses."""
    latency_p99_ms: float | None
    success_rate_error: str | None = None
    """Why the success rate could not be measured (Prometheus unreachable, a bad answer)."""
    latency_error: str | None = None


@dataclass(frozen=True)
class Check:
    """One analysis: what was measured, whether it passed, and what was decided."""

    step: int
    weight: int
    at: str
    success_rate: float | None
    latency_p99_ms: float | None
    passed: bool
    reasons: tuple[str, ...]
    failed_checks: int
    decision: Decision

    def as_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "weight": self.weight,
            "at": self.at,
            "successRate": _rounded(self.success_rate),
            "latencyP99Ms": _rounded(self.latency_p99_ms),
            "passed": self.passed,
            "reasons": list(self.reasons),
            "failedChecks": self.failed_checks,
            "decision": self.decision,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Check:
        return cls(
            step=int(data["step"]),
            weight=int(data["weight"]),
            at=str(data["at"]),
            success_rate=data.get("successRate"),
            latency_p99_ms=data.get("latencyP99Ms"),
            passed=bool(data["passed"]),
            reasons=tuple(data.get("reasons") or ()),
            failed_checks=int(data["failedChecks"]),
            decision=data["decision"],
        )

    def line(self, steps: int) -> str:
        verdict = "passed" if self.passed else "FAILED"
        measured = (
            f"success {_show(self.success_rate, '%')}, p99 {_show(self.latency_p99_ms, 'ms')}"
        )
        why = f" ({'; '.join(self.reasons)})" if self.reasons else ""
        return (
            f"step {self.step}/{steps} at {self.weight}%: {measured}: {verdict}{why} -> "
            f"{self.decision} (failed checks {self.failed_checks})"
        )


@dataclass(frozen=True)
class CanaryState:
    """Where a promotion stands; recorded in the stack config as JSON."""

    service: str
    canary_image: str
    phase: Phase
    step: int
    """1-based index of the step whose weight is deployed; 0 before the first."""
    weight: int
    failed_checks: int = 0
    checks: tuple[Check, ...] = ()
    started_at: str = ""
    updated_at: str = ""
    stable_image: str = ""
    """The image stable ran before the promotion gave it the canary's; "" until then (or
    when it was not known)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "canaryImage": self.canary_image,
            "phase": self.phase,
            "step": self.step,
            "weight": self.weight,
            "failedChecks": self.failed_checks,
            "checks": [check.as_json() for check in self.checks],
            "startedAt": self.started_at,
            "updatedAt": self.updated_at,
            "stableImage": self.stable_image,
        }

    def undo_lines(self) -> list[str]:
        """How to go back once stable has taken the canary's image (phase promoting or
        promoted), which no canary weight undoes."""
        before = f"`{self.stable_image}`" if self.stable_image else "the image it ran before"
        return [
            f"{self.service}'s stable track was given the canary's image {self.canary_image} "
            f"(the promotion is {self.phase}); setting the canary's weight to 0 would not undo "
            "that",
            f"to go back: set the service's `image` to {before} (and restore its `build` "
            "block, if it had one), then `go-platform up`",
        ]

    def to_config(self) -> str:
        return json.dumps(self.as_json(), separators=(",", ":"))

    @classmethod
    def from_config(cls, text: str, service: str) -> CanaryState:
        """The state recorded for `service`; a usage error naming the key when unreadable."""
        # Errors name the key and what is wrong, never quote it: it could hold anything.
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise _unreadable(service, "not JSON") from None
        try:
            phase = data["phase"]
            if phase not in PHASES:
                raise _unreadable(service, "unknown phase")
            return cls(
                service=str(data["service"]),
                canary_image=str(data["canaryImage"]),
                phase=phase,
                step=int(data["step"]),
                weight=int(data["weight"]),
                failed_checks=int(data.get("failedChecks", 0)),
                checks=tuple(Check.from_json(c) for c in data.get("checks") or ()),
                started_at=str(data.get("startedAt", "")),
                updated_at=str(data.get("updatedAt", "")),
                stable_image=str(data.get("stableImage", "")),
            )
        except KeyError as error:
            raise _unreadable(service, f"no field {error}") from None
        except (ValueError, TypeError, AttributeError):
            raise _unreadable(service, "a field has the wrong type") from None


def progress_problem(state: CanaryState, steps: int, threshold: int) -> str | None:
    """What makes a readable recorded state one this plan cannot resume, in words (a step
    past the plan's `steps`, as after `canary.steps` was shortened, or a count out of range);
    None when it can."""
    if not 0 <= state.step <= steps:
        return f"is at step {state.step}, but canary.steps has {steps}"
    if not 0 <= state.weight <= 100:
        return f"has weight {state.weight}%, not a percentage"
    if not 0 <= state.failed_checks < threshold:
        return f"has {state.failed_checks} failed checks, the threshold being {threshold}"
    return None


def _unreadable(service: str, why: str) -> DriverError:
    return usage_error(
        f"{state_key(service)}: the recorded promotion state is unreadable ({why}); "
        "remove it with `pulumi config rm` to start over"
    )


# --- pure decisions ------------------------------------------------------------------


def evaluate(
    measurement: Measurement, analysis: CanaryAnalysisSettings
) -> tuple[bool, tuple[str, ...]]:
    """Whether a measurement passes the analysis, and why not. No data never passes."""
    reasons = [
        _judge(
            "success rate",
            measurement.success_rate,
            measurement.success_rate_error,
            "request",
            lambda rate: rate < analysis.success_rate,
            lambda rate: f"{rate:.2f}% is below {analysis.success_rate:g}%",
        ),
        _judge(
            "p99 latency",
            measurement.latency_p99_ms,
            measurement.latency_error,
            "latency",
            lambda ms: ms > analysis.max_latency_ms,
            lambda ms: f"{ms:.0f}ms is above {analysis.max_latency_ms}ms",
        ),
    ]
    found = tuple(reason for reason in reasons if reason)
    return not found, found


def _judge(
    what: str,
    value: float | None,
    error: str | None,
    metric: str,
    bad: Callable[[float], bool],
    explain: Callable[[float], str],
) -> str | None:
    if error:
        return f"{what}: {error}"
    if value is None:
        return f"{what}: no data (the canary's {metric} metric is missing)"
    if math.isnan(value):
        return f"{what}: no requests reached the canary in the interval"
    return f"{what} {explain(value)}" if bad(value) else None


def decide(*, step: int, steps: int, passed: bool, failed_checks: int, threshold: int) -> Decision:
    """What follows an analysis at `step` (1-based) given the failures counted so far."""
    if not passed:
        return "rollback" if failed_checks >= threshold else "hold"
    return "promote" if step >= steps else "advance"


def plan_lines(canary: CanarySettings, state: CanaryState | None) -> list[str]:
    """The plan and its timings as a person reads them, with where a resume would start."""
    plan = canary_plan(canary)
    analysis = plan["analysis"]
    lines = [
        f"canary {canary.image}: {len(plan['steps'])} steps, {plan['interval']} each, "
        f"rolled back after {plan['threshold']} failed checks",
        f"healthy: success rate >= {analysis['successRateMin']:g}%, "
        f"p99 latency <= {analysis['latencyP99MaxMs']}ms",
    ]
    lines += [
        f"  step {s['step']}: weight {s['weight']}%, analysed at +{s['analysisAfter']}"
        for s in plan["steps"]
    ]
    lines.append(
        f"promotion takes at least {plan['minTimeToPromote']}; a failing canary is rolled "
        f"back within {plan['timeToRollback']} of failing"
    )
    if state is not None and state.canary_image == canary.image:
        lines.append(
            f"recorded: {state.phase} at step {state.step} (weight {state.weight}%), "
            f"{state.failed_checks} failed check(s)"
        )
        problem = progress_problem(state, len(canary.steps), canary.threshold)
        if problem is not None and state.phase in ("progressing", "promoting"):
            lines.append(f"  it cannot be resumed (it {problem}): promote --restart starts over")
    return lines


# --- the machine ---------------------------------------------------------------------


class Deployer(Protocol):
    """Changes the stack: writes config (the state always with it) and deploys."""

    def deploy_weight(self, weight: int, state: CanaryState) -> None: ...

    def deploy_promotion(self, state: CanaryState) -> None:
        """Stable takes the canary's image; the weight stays as it is."""
        ...

    def save(self, state: CanaryState) -> None:
        """Record the state without deploying."""
        ...


class Metrics(Protocol):
    def measure(self, window_seconds: int) -> Measurement: ...


class Clock(Protocol):
    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        # In slices: a SIGTERM the kernel hands to another thread (a gRPC one the SDK left)
        # runs its handler only when the main thread next runs Python code.
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.5))


@dataclass
class Promotion:
    """Drives one service's canary to promotion or rollback."""

    service: ServiceSettings
    deployer: Deployer
    metrics: Metrics
    clock: Clock = field(default_factory=SystemClock)
    report: Callable[[str], None] = lambda line: None
    checks: list[Check] = field(default_factory=list)
    """The checks this run made (the state holds those of earlier runs too)."""

    @property
    def canary(self) -> CanarySettings:
        assert self.service.canary is not None
        return self.service.canary

    def _stamp(self, state: CanaryState, **changes: Any) -> CanaryState:
        now = self.clock.now().isoformat(timespec="seconds")
        return replace(state, updated_at=now, **changes)

    def start(self, recorded: CanaryState | None, *, restart: bool = False) -> CanaryState:
        """The state to run from: the recorded one for this canary image, else a new one."""
        canary = self.canary
        if recorded is not None and recorded.canary_image == canary.image and not restart:
            if recorded.phase == "rolled-back":
                raise usage_error(
                    f"canary {canary.image} of {self.service.name} was rolled back "
                    f"({recorded.updated_at}); set a new canary.image, or pass --restart to try "
                    "it again"
                )
            if recorded.phase == "rolling-back":
                raise usage_error(
                    f"the rollback of {self.service.name}'s canary did not finish; run "
                    f"`go-platform canary rollback --service {self.service.name}`"
                )
            problem = progress_problem(recorded, len(canary.steps), canary.threshold)
            if problem is not None:
                raise usage_error(
                    f"{state_key(self.service.name)}: the recorded promotion {problem}; "
                    "pass --restart to start this canary over from its first step"
                )
            return recorded
        now = self.clock.now().isoformat(timespec="seconds")
        return CanaryState(
            service=self.service.name,
            canary_image=canary.image,
            phase="progressing",
            step=0,
            weight=0,
            started_at=now,
            updated_at=now,
        )

    def run(self, state: CanaryState) -> CanaryState:
        """Promote or roll back from `state`; returns the final state."""
        if state.phase == "promoted":
            self.report(f"{self.service.name}: canary {state.canary_image} is already promoted")
            return state
        if state.phase == "promoting":
            return self._promote(state)
        steps = self.canary.steps
        problem = progress_problem(state, len(steps), self.canary.threshold)
        if problem is not None:  # start() refuses such a state; run() never resumes one
            raise usage_error(f"{state_key(self.service.name)}: the recorded promotion {problem}")
        first = max(state.step, 1)
        for step in range(first, len(steps) + 1):
            weight = steps[step - 1]
            resumed = step == state.step
            state = self._stamp(state, step=step, weight=weight)
            self.report(
                f"step {step}/{len(steps)}: {'re-applying' if resumed else 'setting'} "
                f"weight {weight}%"
            )
            self.deployer.deploy_weight(weight, state)
            decision, state = self._analyse_step(state)
            if decision == "rollback":
                return self._roll_back(state, reason="failed checks reached the threshold")
            if decision == "promote":
                return self._promote(state)
        # The last step's analysis either promotes or rolls back: never promote without one.
        raise AssertionError(f"the promotion of {self.service.name} left its last step")

    def _analyse_step(self, state: CanaryState) -> tuple[Decision, CanaryState]:
        """Analyse the deployed step until it passes or the failures reach the threshold."""
        canary = self.canary
        interval = parse_duration(canary.interval)
        while True:
            self.report(
                f"step {state.step}/{len(canary.steps)}: waiting {format_duration(interval)} "
                "before the analysis"
            )
            self.clock.sleep(interval)
            measured = self.metrics.measure(interval)
            passed, reasons = evaluate(measured, canary.analysis)
            failed = state.failed_checks + (0 if passed else 1)
            decision = decide(
                step=state.step,
                steps=len(canary.steps),
                passed=passed,
                failed_checks=failed,
                threshold=canary.threshold,
            )
            check = Check(
                step=state.step,
                weight=state.weight,
                at=self.clock.now().isoformat(timespec="seconds"),
                success_rate=measured.success_rate,
                latency_p99_ms=measured.latency_p99_ms,
                passed=passed,
                reasons=reasons,
                failed_checks=failed,
                decision=decision,
            )
            self.checks.append(check)
            self.report(check.line(len(canary.steps)))
            state = self._stamp(state, failed_checks=failed, checks=(*state.checks, check))
            if decision != "hold":
                return decision, state
            self.deployer.save(state)

    def _promote(self, state: CanaryState) -> CanaryState:
        # Recorded with the image change itself, so a promotion that stops half-way still
        # says what stable ran (a resumed one has it already, and its config the new image).
        stable = state.stable_image or (
            self.service.image if self.service.image != state.canary_image else ""
        )
        state = self._stamp(state, phase="promoting", stable_image=stable)
        self.report(f"promoting: {self.service.name} takes the canary's image {state.canary_image}")
        self.deployer.deploy_promotion(state)
        state = self._stamp(state, phase="promoted", weight=0)
        self.report("promoted: canary weight back to 0%; stable serves every request")
        self.deployer.deploy_weight(0, state)
        return state

    def roll_back(self, state: CanaryState, *, reason: str) -> CanaryState:
        """Weight 0 for a canary still being analysed; a usage error, changing nothing, once
        stable has taken the canary's image, which the weight does not undo."""
        if state.phase in ("promoting", "promoted"):
            raise usage_error(*state.undo_lines())
        return self._roll_back(state, reason=reason)

    def _roll_back(self, state: CanaryState, *, reason: str) -> CanaryState:
        self.report(f"rolling back ({reason}): canary weight to 0%")
        state = self._stamp(state, phase="rolling-back", weight=0)
        self.deployer.deploy_weight(0, state)
        state = self._stamp(state, phase="rolled-back")
        self.deployer.save(state)
        self.report(f"rolled back: {self.service.name} serves every request from stable")
        return state


def _rounded(value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return None
    return round(value, 3)


def _show(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    if math.isnan(value):
        return "no requests"
    return f"{value:.2f}{unit}" if unit == "%" else f"{value:.0f}{unit}"
