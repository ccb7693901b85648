"""What each command does, on top of the Automation API: select the stack, validate its
config, run preflight, run the engine operation with progress, and turn the outcome into
an exit code and the JSON summary. `cli.py` only parses arguments and calls in here.

Every failure ends as a `DriverError` (exit code + a few lines); the engine's own
messages are kept, never a traceback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pulumi import automation as auto
from rich.console import Console
from rich.markup import escape

from components import canary_route
from go_platform import canary as canary_machine
from go_platform import ephemeral
from go_platform.canary import (
    CanaryState,
    Measurement,
    Promotion,
    SystemClock,
    plan_lines,
    state_key,
)
from go_platform.drift import drifted_resources
from go_platform.exit_codes import DriverError, ExitCode, unexpected, usage_error
from go_platform.preflight import run_preflight
from go_platform.progress import (
    ProgressTracker,
    ProgressView,
    expected_resources,
    operation_counts_line,
)
from go_platform.prometheus import (
    Prometheus,
    PrometheusError,
    latency_p99_query,
    success_rate_query,
    url_problem,
)
from go_platform.redact import scrub, sensitive_values, url_without_credentials
from go_platform.summary import RunSummary
from go_platform.workspace import (
    EMBEDDED_ENVIRONMENT,
    Session,
    Target,
    check_secrets_provider,
    command_error_lines,
    embedded_kubeconfig,
    find_project_dir,
    is_lock_conflict,
    kubeconfig_override,
    lock_error,
    pending_error,
    project_name,
    resolve_backend,
)
from go_platform_core.config import (
    CONFIG_NAMESPACE,
    ConfigError,
    PlatformSettings,
    ServiceSettings,
    StackConfig,
    load_settings,
)
from go_platform_core.kube import workload_name
from go_platform_core.telemetry import traefik_service
from go_platform_core.units import format_duration

OnEvent = Callable[[auto.EngineEvent], Any]


@dataclass(frozen=True)
class StackOptions:
    """The options every stack command takes."""

    stack: str
    backend: str | None = None
    secrets_provider: str | None = None
    project_dir: Path | None = None
    policy_pack: Path | None = None
    policy_pack_config: Path | None = None


@dataclass
class Driver:
    """Runs commands against one stack, recording what happened in `summary`."""

    options: StackOptions
    console: Console
    summary: RunSummary
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    session_factory: Callable[[Target, Mapping[str, str]], Session] | None = None
    """Makes the Session (tests pass fakes); default: a real one."""

    def __post_init__(self) -> None:
        project_dir = (self.options.project_dir or find_project_dir(Path.cwd())).resolve()
        if not (project_dir / "Pulumi.yaml").is_file():
            raise usage_error(f"--project-dir {project_dir}: no Pulumi.yaml there")
        self.project_dir = project_dir
        self.project = project_name(project_dir)
        self.target = Target(
            project_dir=project_dir,
            stack=self.options.stack,
            backend=resolve_backend(self.options.backend, self.env, project_dir),
            secrets_provider=(
                check_secrets_provider(self.options.secrets_provider)
                if self.options.secrets_provider
                else None
            ),
        )
        self.summary.stack = self.options.stack
        self.summary.project = self.project
        self.summary.backend = url_without_credentials(self.target.backend)
        self._session: Session | None = None
        self.sensitive: frozenset[str] = frozenset()
        """Config values no message may show (`redact.sensitive_values`), once read."""

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = (self.session_factory or Session)(self.target, self.env)
        return self._session

    @property
    def is_go_platform(self) -> bool:
        """The project is go-platform itself (its config is validated, preflight applies)."""
        return self.project == CONFIG_NAMESPACE

    # --- shared steps --------------------------------------------------------------

    def policy_args(self) -> dict[str, Any]:
        """The policy pack, always attached, and its config when one was given."""
        pack = (self.options.policy_pack or self.project_dir / "policies").resolve()
        if not (pack / "PulumiPolicy.yaml").is_file():
            raise usage_error(
                f"no policy pack at {pack} (no PulumiPolicy.yaml); pass --policy-pack DIR"
            )
        args: dict[str, Any] = {"policy_packs": [str(pack)]}
        if self.options.policy_pack_config is not None:
            config = self.options.policy_pack_config.resolve()
            if not config.is_file():
                raise usage_error(f"--policy-pack-config {config}: no such file")
            args["policy_pack_configs"] = [str(config)]
        return args

    def settings(self, stack: auto.Stack) -> tuple[PlatformSettings | None, StackConfig]:
        """The stack's validated settings (None for a project other than go-platform)."""
        config = self.session.stack_config(stack)
        self.sensitive = sensitive_values(config)
        if not self.is_go_platform:
            return None, config
        try:
            settings = load_settings(config, stack=stack.name)
        except ConfigError as error:
            # Its problems may quote a value: a secret pasted where a key's name belongs.
            lines = [scrub(line, self.sensitive) for line in str(error).splitlines()]
            raise DriverError(ExitCode.USAGE, *lines) from None
        kubeconfig = kubeconfig_override(
            settings.environment,
            config.values,
            lambda: embedded_kubeconfig(self.project_dir, self.env),
        )
        if kubeconfig is not None:
            self.env = {**self.env, "KUBECONFIG": str(kubeconfig)}
            self.session.set_env("KUBECONFIG", str(kubeconfig))
        return settings, config

    def preflight(self, settings: PlatformSettings | None, config: StackConfig) -> None:
        """Run the preflight checks; a PREFLIGHT error listing every failure."""
        if settings is None:
            self.console.print(f"preflight: skipped (project {self.project} is not go-platform)")
            return
        results = [
            replace(result, message=scrub(result.message, self.sensitive))
            for result in run_preflight(
                settings, config, env=self.env, project_dir=self.project_dir
            )
        ]
        self.summary.preflight = [result.as_json() for result in results]
        failures = [result.message for result in results if not result.ok]
        for result in results:
            mark = "[green]ok[/green]" if result.ok else "[red]FAILED[/red]"
            self.console.print(f"preflight {result.check:<10} {mark}  {escape(result.message)}")
        if failures:
            cluster_down = any(r.check == "cluster" and not r.ok for r in results)
            if cluster_down and settings.environment == EMBEDDED_ENVIRONMENT:
                failures.append(
                    "the local stack deploys to the embedded cluster: start it with "
                    "`make cluster-start`"
                )
            raise DriverError(
                ExitCode.PREFLIGHT,
                f"preflight failed ({len(results) - sum(r.ok for r in results)} problem(s)); "
                "nothing was deployed:",
                *failures,
            )

    def engine(
        self,
        operation: str,
        stack: auto.Stack,
        call: Callable[[OnEvent], Any],
        *,
        expected: int = 0,
    ) -> ProgressTracker:
        """Run one engine operation with progress; a failure becomes a DriverError."""
        tracker, error = self._run(operation, stack, call, expected=expected)
        if error is None:
            return tracker
        if is_lock_conflict(error):
            raise lock_error(stack.name, error)
        if tracker.mandatory_violations:
            violations = tracker.mandatory_violations
            raise DriverError(
                ExitCode.POLICY,
                f"{operation}: {len(violations)} mandatory policy violation(s); nothing was "
                "changed by them:",
                *[v.line() for v in violations],
            )
        raise DriverError(
            ExitCode.FAILED,
            f"{operation} of stack {stack.name!r} failed:",
            *(tracker.errors or command_error_lines(error)),
        )

    def _run(
        self,
        operation: str,
        stack: auto.Stack,
        call: Callable[[OnEvent], Any],
        *,
        expected: int,
    ) -> tuple[ProgressTracker, auto.CommandError | None]:
        tracker = ProgressTracker(expected_total=expected)
        view = ProgressView(self.console, f"{operation} {stack.name}", tracker)
        error: auto.CommandError | None = None
        try:
            with view.running():
                call(view.on_event)
        except auto.CommandError as failure:
            error = failure
        except RuntimeError as failure:  # the Automation API's "summary event never found"
            raise DriverError(ExitCode.FAILED, f"{operation}: {failure}") from None
        finally:
            self.summary.absorb(operation, tracker)
        self._report(operation, tracker, failed=error is not None)
        return tracker, error

    def _report(self, operation: str, tracker: ProgressTracker, *, failed: bool) -> None:
        for violation in tracker.violations:
            style = "red" if violation.mandatory else "yellow"
            self.console.print(f"[{style}]policy[/{style}] {escape(violation.line())}")
        for warning in tracker.warnings:
            self.console.print(f"[yellow]warning[/yellow] {escape(warning)}")
        outcome = "stopped" if failed else operation_counts_line(tracker.operations)
        self.console.print(
            f"{operation}: {outcome} ({tracker.done}/{tracker.total} resources, "
            f"{tracker.elapsed:.1f}s)",
            highlight=False,
        )

    def expected(self, stack: auto.Stack) -> int:
        """Resources the stack held after its last update (0 when unknown)."""
        try:
            last = stack.info(show_secrets=False)
        except auto.CommandError:
            return 0
        return expected_resources(last.resource_changes if last else None)

    def record_outputs(self, stack: auto.Stack) -> dict[str, Any]:
        outputs = self.session.masked_outputs(stack)
        self.summary.outputs = outputs
        return outputs

    # --- commands ------------------------------------------------------------------

    def preview(self) -> None:
        stack = self.session.select_or_create_declared()
        self.settings(stack)
        policies = self.policy_args()
        self.engine(
            "preview",
            stack,
            lambda on_event: stack.preview(
                on_event=on_event, color="never", diff=False, **policies
            ),
            expected=self.expected(stack),
        )

    def up(self, *, skip_preflight: bool = False, stack: auto.Stack | None = None) -> None:
        stack = stack or self.session.select_or_create_declared()
        settings, config = self.settings(stack)
        policies = self.policy_args()
        if skip_preflight:
            self.console.print("preflight: skipped (--skip-preflight)")
        else:
            self.preflight(settings, config)
        self.deploy(stack, "up", policies)
        outputs = self.record_outputs(stack)
        if outputs:
            self.console.print(f"outputs: {', '.join(sorted(outputs))}")

    def refuse_pending(self, stack: auto.Stack) -> None:
        """Exit 7 before an operation that changes resources when an interrupted update left
        operations pending: a pending create may have made a resource the state does not
        know, which a new `up` would make again (or fail on)."""
        pending = self.session.pending_operations(stack)
        if pending:
            raise pending_error(stack.name, pending)

    def deploy(self, stack: auto.Stack, operation: str, policies: dict[str, Any]) -> None:
        self.refuse_pending(stack)
        self.engine(
            operation,
            stack,
            lambda on_event: stack.up(on_event=on_event, color="never", **policies),
            expected=self.expected(stack),
        )

    def destroy(self, *, stack: auto.Stack | None = None) -> None:
        stack = stack or self.session.select()
        self.refuse_pending(stack)
        self.engine(
            "destroy",
            stack,
            lambda on_event: stack.destroy(on_event=on_event, color="never"),
            expected=self.expected(stack),
        )

    def refresh(self, *, clear_pending_creates: bool = False) -> None:
        stack = self.session.select()
        self.engine(
            "refresh",
            stack,
            lambda on_event: stack.refresh(
                on_event=on_event, color="never", clear_pending_creates=clear_pending_creates
            ),
            expected=self.expected(stack),
        )

    def drift(self) -> None:
        """A refresh in preview mode that expects no changes; DRIFT naming what changed."""
        stack = self.session.select()
        tracker, error = self._run(
            "drift",
            stack,
            lambda on_event: stack.preview_refresh(
                on_event=on_event, color="never", expect_no_changes=True
            ),
            expected=self.expected(stack),
        )
        if error is not None and is_lock_conflict(error):
            raise lock_error(stack.name, error)
        drifted = drifted_resources(tracker.finished_steps)
        self.summary.drift = [resource.as_json() for resource in drifted]
        changed = sum((tracker.operations or {}).get(op, 0) for op in ("update", "delete"))
        if drifted:
            raise DriverError(
                ExitCode.DRIFT,
                f"drift: {len(drifted)} resource(s) of stack {stack.name!r} changed outside "
                "Pulumi:",
                *[resource.line() for resource in drifted],
            )
        if changed:
            raise DriverError(
                ExitCode.DRIFT,
                f"drift: {changed} resource(s) of stack {stack.name!r} changed outside Pulumi "
                "(the engine did not name them; run `go-platform refresh` to see the diff)",
            )
        if error is not None:
            raise DriverError(
                ExitCode.FAILED,
                "drift check failed:",
                *(tracker.errors or command_error_lines(error)),
            )
        self.console.print(f"drift: none; stack {stack.name!r} matches its resources")

    def outputs(self, *, show_secrets: bool = False) -> dict[str, Any]:
        stack = self.session.select()
        masked = self.record_outputs(stack)
        if not show_secrets:
            return masked
        return {key: value.value for key, value in stack.outputs().items()}

    def run_preflight_only(self) -> None:
        stack = self.session.select_or_create_declared()
        settings, config = self.settings(stack)
        self.preflight(settings, config)

    # --- ephemeral stacks ------------------------------------------------------------

    def ephemeral_up(self, *, base: str, overrides: dict[str, str], skip_preflight: bool) -> None:
        name = ephemeral.check_name(self.options.stack, base=base)
        self.policy_args()  # a bad --policy-pack is refused before the stack is created
        session = self.session
        base_stack = session.select(base)
        if session.stack_exists(name):
            stack = session.select(name)
            tags = stack.list_tags()
            if tags.get(ephemeral.BASE_TAG) is None:
                raise usage_error(
                    f"stack {name!r} exists and is not an ephemeral stack; choose another name"
                )
            self.console.print(f"ephemeral: updating {name!r} (from {tags[ephemeral.BASE_TAG]})")
        else:
            stack = session.create(name)
            stack.set_tag(ephemeral.BASE_TAG, base)
            self.console.print(f"ephemeral: created {name!r} from {base!r}")
        # `config cp` re-encrypts secrets for the new stack; none travel on a command line.
        session.run_cli("config", "cp", "--stack", base_stack.name, "--dest", name)
        base_config = session.stack_config(base_stack).values
        # A promotion in progress on the base is the base's, not the copy's.
        canary_keys = [k for k in base_config if k.startswith(f"{canary_machine.STATE_NAMESPACE}:")]
        if canary_keys:
            stack.remove_all_config(canary_keys)
        plain = {**ephemeral.added_config(base_config, base), **overrides}
        if plain:
            stack.set_all_config({k: auto.ConfigValue(v) for k, v in plain.items()})
        self.up(skip_preflight=skip_preflight, stack=stack)

    def ephemeral_down(self, *, force: bool) -> None:
        name = ephemeral.check_name(self.options.stack, base="")
        session = self.session
        if not session.stack_exists(name):
            self.console.print(f"ephemeral: no stack {name!r}; nothing to destroy")
            return
        stack = session.select(name)
        if stack.list_tags().get(ephemeral.BASE_TAG) is None and not force:
            raise usage_error(
                f"stack {name!r} has no {ephemeral.BASE_TAG} tag: it was not created by "
                "`ephemeral up`; pass --force to destroy it anyway"
            )
        self.destroy(stack=stack)
        session.remove_stack(name)
        self.console.print(f"ephemeral: stack {name!r} destroyed and removed")

    # --- canary ----------------------------------------------------------------------

    def canary_context(self, service_name: str) -> CanaryContext:
        stack = self.session.select()
        settings, config = self.settings(stack)
        if settings is None:
            raise usage_error(f"canary needs the go-platform project (this is {self.project})")
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

    def canary_plan(self, service_name: str) -> None:
        context = self.canary_context(service_name)
        assert context.service.canary is not None
        for line in plan_lines(context.service.canary, context.recorded):
            self.console.print(escape(line), highlight=False)
        self.summary.canary = context.summary("plan", decision="planned")

    def canary_promote(
        self,
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
        context = self.canary_context(service_name)
        canary = context.service.canary
        assert canary is not None
        deployer = StackDeployer(self, context, self.policy_args())
        promotion = Promotion(
            service=context.service,
            deployer=deployer,
            metrics=metrics or self.prometheus_metrics(context, prometheus_url),
            clock=clock or SystemClock(),
            report=lambda line: self.console.print(escape(line), highlight=False),
        )
        state = promotion.start(context.recorded, restart=restart)
        for line in plan_lines(canary, state if state is context.recorded else None):
            self.console.print(escape(line), highlight=False)
        if dry_run:
            start = max(state.step, 1)
            self.console.print(
                f"dry run: would {'resume at' if state is context.recorded else 'start at'} "
                f"step {start} ({state.phase}); nothing changed"
            )
            self.summary.canary = context.summary(
                "promote", decision="planned", state=state, dry_run=True
            )
            return
        if skip_preflight:
            self.console.print("preflight: skipped (--skip-preflight)")
        else:
            self.preflight(context.settings, context.config)
        final: CanaryState | None = None
        try:
            final = promotion.run(state)
        except DriverError as error:
            raise DriverError(error.code, *error.lines, *stopped_lines(context, deployer)) from None
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
            self.summary.canary = context.summary(
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

    def canary_rollback(self, service_name: str) -> None:
        context = self.canary_context(service_name)
        canary = context.service.canary
        assert canary is not None
        deployer = StackDeployer(self, context, self.policy_args())
        promotion = Promotion(
            service=context.service,
            deployer=deployer,
            metrics=_NoMetrics(),
            report=lambda line: self.console.print(escape(line), highlight=False),
        )
        state = context.recorded
        if state is None or state.canary_image != canary.image:
            state = promotion.start(None)
        final = None
        try:
            final = promotion.roll_back(state, reason="requested")
        except DriverError as error:
            raise DriverError(error.code, *error.lines, *stopped_lines(context, deployer)) from None
        finally:
            self.summary.canary = context.summary(
                "rollback",
                decision="rolled-back" if final else "interrupted",
                state=final or deployer.recorded,
            )

    def prometheus_metrics(self, context: CanaryContext, url: str | None) -> PrometheusMetrics:
        if url is None:
            outputs = self.session.masked_outputs(context.stack)
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
            "plan": canary_route.canary_plan(self.service.canary),
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


class PrometheusMetrics:
    """The canary's `Metrics` from Prometheus: Traefik's numbers for the canary track."""

    def __init__(self, prometheus: Prometheus, traefik_service_label: str) -> None:
        self.prometheus = prometheus
        self.label = traefik_service_label

    def measure(self, window_seconds: int) -> Measurement:
        window = format_duration(window_seconds)
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
    return [
        f"{where}: `go-platform canary promote {flags}` resumes from there, "
        f"`go-platform canary rollback {flags}` sends every request back to stable"
    ]


def outputs_text(outputs: dict[str, Any]) -> str:
    return json.dumps(outputs, indent=2, sort_keys=True)
