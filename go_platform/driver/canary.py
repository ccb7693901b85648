"""The canary commands: `plan`, `promote` and `rollback` of one service, on a real stack.

`go_platform.canary` is the promotion state machine (no I/O); this module gives it what it
drives: a `StackDeployer` (config writes, then `up` with the policy pack) and
`PrometheusMetrics` (Traefik's numbers for the canary track), and turns its outcome into the
exit code, the summary and the lines that say how to go on from a stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pulumi import automation as auto
from rich.markup import escape

from go_platform import canary as canary_machine
from go_platform.canary import (
    CanaryState,
    Measurement,
    Promotion,
    SystemClock,
    plan_lines,
    state_key,
)
from go_platform.driver.core import Driver
from go_platform.exit_codes import DriverError, ExitCode, unexpected, usage_error
from go_platform.prometheus import (
    Prometheus,
    PrometheusError,
    latency_p99_query,
    success_rate_query,
    url_problem,
)
from go_platform.workspace import command_error_lines
from go_platform_core.canary import canary_plan
from go_platform_core.config import CONFIG_NAMESPACE, PlatformSettings, ServiceSettings, StackConfig
from go_platform_core.kube import workload_name
from go_platform_core.telemetry import TRAEFIK_SCRAPE_SECONDS, traefik_service
from go_platform_core.units import format_duration


def canary_context(driver: Driver, service_name: str) -> CanaryContext:
    stack = driver.session.select()
    settings, config = driver.settings(stack)
    if settings is None:
        raise usage_error(f"canary needs the go-platform project (this is {driver.project})")
    found = [(i, s) for i, s in enumerate(settings.services) if s.name == service_name]
    if not found:
        names = ", ".join(s.name for s in settings.services) or "none"
        raise usage_error(
            f"no service {service_name!r} in stack {stack.name!r} (services: {names})"
        )
    [(index, service)] = found
    if service.canary is None:
        raise usage_error(
            f"{CONFIG_NAMESPACE}:services[{index}] ({service_name}) has no canary block"
        )
    recorded_text = config.values.get(state_key(service_name))
    recorded = CanaryState.from_config(recorded_text, service_name) if recorded_text else None
    return CanaryContext(stack, settings, config, index, service, recorded)


def _say(driver: Driver, line: str) -> None:
    """A line of the promotion's own, printed as it is (no markup, no highlighting)."""
    driver.console.print(escape(line), highlight=False)


def _promotion(
    driver: Driver,
    context: CanaryContext,
    metrics: canary_machine.Metrics,
    clock: canary_machine.Clock,
) -> tuple[StackDeployer, Promotion]:
    """The promotion state machine of one service, deploying through the stack."""
    deployer = StackDeployer(driver, context, driver.policy_args())
    promotion = Promotion(
        service=context.service,
        deployer=deployer,
        metrics=metrics,
        clock=clock,
        report=lambda line: _say(driver, line),
    )
    return deployer, promotion


def plan(driver: Driver, service_name: str) -> None:
    context = canary_context(driver, service_name)
    assert context.service.canary is not None
    for line in plan_lines(context.service.canary, context.recorded):
        _say(driver, line)
    driver.summary.canary = context.summary("plan", decision="planned")


def promote(
    driver,
    service_name: str,
    *,
    prometheus_url: str | None,
    dry_run: bool,
    restart: bool,
    skip_preflight: bool,
    clock: canary_machine.Clock | None = None,
    metrics: canary_machine.Metrics | None = None,
) -> None:
    # Every argument is checked before anything changes: the URL's shape first, then
    # the stack, the service and its config, the policy pack, the URL the stack exports.
    if prometheus_url is not None:
        check_prometheus_url(prometheus_url, "--prometheus-url")
    context = canary_context(driver, service_name)
    canary = context.service.canary
    assert canary is not None
    deployer, promotion = _promotion(
        driver,
        context,
        metrics or prometheus_metrics(driver, context, prometheus_url),
        clock or SystemClock(),
    )
    state = promotion.start(context.recorded, restart=restart)
    for line in plan_lines(canary, state if state is context.recorded else None):
        _say(driver, line)
    if dry_run:
        start = max(state.step, 1)
        driver.console.print(
            f"dry run: would {'resume at' if state is context.recorded else 'start at'} "
            f"step {start} ({state.phase}); nothing changed"
        )
        driver.summary.canary = context.summary(
            "promote", decision="planned", state=state, dry_run=True
        )
        return
    if skip_preflight:
        driver.console.print("preflight: skipped (--skip-preflight)")
    else:
        driver.preflight(context.settings, context.config)
    final: CanaryState | None = None
    try:
        final = promotion.run(state)
    except DriverError as error:
        raise DriverError(error.code, *error.lines, *stopped_lines(context, deployer)) from None
    except KeyboardInterrupt:  # Ctrl-C, or CI cancelling the job (SIGTERM)
        raise DriverError(
            ExitCode.FAILED, "interrupted", *stopped_lines(context, deployer)
        ) from None
    except auto.CommandError as error:  # a config write failed
        raise DriverError(
            ExitCode.FAILED,
            "pulumi failed:",
            *command_error_lines(error),
            *stopped_lines(context, deployer),
        ) from None
    except Exception as error:  # a bug in the analysis: stop where the state says
        raise DriverError(
            ExitCode.FAILED,
            f"canary promotion of {service_name} stopped: {unexpected(error)}",
            *stopped_lines(context, deployer),
        ) from None
    finally:
        decision = {"promoted": "promoted", "rolled-back": "rolled-back"}.get(
            final.phase if final else "", "interrupted"
        )
        driver.summary.canary = context.summary(
            "promote",
            decision=decision,
            state=final or deployer.recorded,
            checks=promotion.checks,
        )
    if final.phase == "rolled-back":
        raise DriverError(
            ExitCode.ROLLED_BACK,
            f"canary {canary.image} of {service_name} failed {final.failed_checks} check(s) "
            "and was rolled back to weight 0",
        )


def rollback(driver: Driver, service_name: str) -> None:
    context = canary_context(driver, service_name)
    canary = context.service.canary
    assert canary is not None
    deployer, promotion = _promotion(driver, context, _NoMetrics(), SystemClock())
    state = context.recorded
    if state is None or state.canary_image != canary.image:
        state = promotion.start(None)
    if state.phase in ("promoting", "promoted"):  # nothing is changed: see undo_lines
        raise usage_error(*state.undo_lines())
    final = None
    try:
        final = promotion.roll_back(state, reason="requested")
    except DriverError as error:
        raise DriverError(error.code, *error.lines, *stopped_lines(context, deployer)) from None
    except KeyboardInterrupt:
        raise DriverError(
            ExitCode.FAILED, "interrupted", *stopped_lines(context, deployer)
        ) from None
    finally:
        driver.summary.canary = context.summary(
            "rollback",
            decision="rolled-back" if final else "interrupted",
            state=final or deployer.recorded,
        )


def prometheus_metrics(
    driver: Driver, context: CanaryContext, url: str | None
) -> PrometheusMetrics:
    if url is None:
        outputs = driver.session.masked_outputs(context.stack)
        observability = outputs.get("observability")
        url = observability.get("prometheusUrl") if isinstance(observability, dict) else None
        if url == "[secret]":
            raise usage_error(
                "the stack output observability.prometheusUrl is a secret, which the "
                "driver does not read; pass --prometheus-url"
            )
        if not isinstance(url, str) or not url:
            raise usage_error(
                "no Prometheus URL: the stack exports no observability.prometheusUrl; "
                "pass --prometheus-url"
            )
        check_prometheus_url(url, "the stack output observability.prometheusUrl")
    label = traefik_service(
        context.settings.namespace, workload_name(context.service.name, "canary")
    )
    return PrometheusMetrics(Prometheus(url), label)


@dataclass
class CanaryContext:
    """A service with a canary, in a selected stack."""

    stack: auto.Stack
    settings: PlatformSettings
    config: StackConfig
    index: int
    service: ServiceSettings
    recorded: CanaryState | None

    def key(self, path: str) -> str:
        return f"{CONFIG_NAMESPACE}:services[{self.index}].{path}"

    def summary(
        self,
        action: str,
        *,
        decision: str | None,
        state: CanaryState | None = None,
        checks: list[canary_machine.Check] | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        state = state or self.recorded
        return {
            "service": self.service.name,
            "action": action,
            "dryRun": dry_run,
            "plan": canary_plan(self.service.canary),
            "state": state.as_json() if state else None,
            "checks": [check.as_json() for check in checks or []],
            "decision": decision,
        }


class StackDeployer:
    """The canary's `Deployer` on a real stack: config writes, then `up` with the pack."""

    def __init__(self, driver: Driver, context: CanaryContext, policies: dict[str, Any]) -> None:
        self.driver = driver
        self.context = context
        self.policies = policies
        self.recorded: CanaryState | None = None
        """The last state written to the stack config by this run."""

    def _up(self, label: str) -> None:
        self.driver.deploy(self.context.stack, f"up ({label})", self.policies)

    def _write(self, values: dict[str, str], state: CanaryState) -> None:
        self.context.stack.set_all_config(
            {key: auto.ConfigValue(value) for key, value in values.items()}, path=True
        )
        self.recorded = state

    def deploy_weight(self, weight: int, state: CanaryState) -> None:
        self._write({self.context.key("canary.weight"): str(weight), **self._state(state)}, state)
        self._up(f"canary weight {weight}%")

    def deploy_promotion(self, state: CanaryState) -> None:
        service = self.context.service
        if service.build is not None:
            self.context.stack.remove_config(self.context.key("build"), path=True)
        self._write({self.context.key("image"): state.canary_image, **self._state(state)}, state)
        self._up("promote canary image")

    def save(self, state: CanaryState) -> None:
        self._write(self._state(state), state)

    def _state(self, state: CanaryState) -> dict[str, str]:
        return {state_key(state.service): state.to_config()}


SCRAPES_PER_WINDOW = 4
"""The fewest scrapes an analysis looks back over. A rate needs two samples inside its
window, and Prometheus 3 leaves a window's start out: a window of one scrape interval is
always empty, one of two rests on two samples and a single missed scrape empties it."""


class PrometheusMetrics:
    """The canary's `Metrics` from Prometheus: Traefik's numbers for the canary track, over
    the step's interval or, when that is shorter, `SCRAPES_PER_WINDOW` scrapes of Traefik."""

    def __init__(
        self,
        prometheus: Prometheus,
        traefik_service_label: str,
        scrape_seconds: int = TRAEFIK_SCRAPE_SECONDS,
    ) -> None:
        self.prometheus = prometheus
        self.label = traefik_service_label
        self.shortest = SCRAPES_PER_WINDOW * scrape_seconds

    def measure(self, window_seconds: int) -> Measurement:
        window = format_duration(max(window_seconds, self.shortest))
        values: dict[str, float | None] = {}
        errors: dict[str, str | None] = {}
        for name, query in (
            ("rate", success_rate_query(self.label, window)),
            ("latency", latency_p99_query(self.label, window)),
        ):
            try:
                values[name], errors[name] = self.prometheus.query(query), None
            except PrometheusError as error:
                values[name], errors[name] = None, str(error)
        return Measurement(
            success_rate=values["rate"],
            latency_p99_ms=values["latency"],
            success_rate_error=errors["rate"],
            latency_error=errors["latency"],
        )


class _NoMetrics:
    """A rollback measures nothing."""

    def measure(self, window_seconds: int) -> Measurement:
        raise AssertionError("a rollback does not analyse")


def check_prometheus_url(url: str, where: str) -> None:
    """A usage error naming `where` when `url` cannot be a Prometheus base URL."""
    problem = url_problem(url)
    if problem is not None:
        raise usage_error(f"{where} {problem}")


def stopped_lines(context: CanaryContext, deployer: StackDeployer) -> list[str]:
    """What a promotion that stopped half-way left recorded, and the ways on from there."""
    state = deployer.recorded or context.recorded
    flags = f"--stack {context.stack.name} --service {context.service.name}"
    if state is None:
        return ["nothing was recorded or changed"]
    where = f"the recorded state is {state.phase} at step {state.step} (weight {state.weight}%)"
    if state.phase == "rolling-back":
        return [f"{where}: `go-platform canary rollback {flags}` finishes it"]
    if state.phase in ("promoting", "promoted"):
        return [f"{where}: `go-platform canary promote {flags}` finishes it", *state.undo_lines()]
    return [
        f"{where}: `go-platform canary promote {flags}` resumes from there, "
        f"`go-platform canary rollback {flags}` sends every request back to stable"
    ]
