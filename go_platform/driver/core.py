"""The driver's core: one stack and the steps every command shares. It selects the stack,
validates its config, runs preflight, runs an engine operation with progress and turns the
outcome into an exit code and the JSON summary. The commands are functions of a `Driver`,
one module per command group: `stack.py`, `ephemeral.py`, `canary.py`.

Every failure ends as a `DriverError` (exit code + a few lines); the engine's own
messages are kept, never a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pulumi import automation as auto
from rich.console import Console
from rich.markup import escape

from go_platform import interrupt
from go_platform.exit_codes import DriverError, ExitCode, usage_error
from go_platform.paths import PathKind, checked_kind
from go_platform.preflight import run_preflight
from go_platform.progress import (
    ProgressTracker,
    ProgressView,
    operation_counts_line,
)
from go_platform.redact import hide_url_credentials, scrub, sensitive_values
from go_platform.summary import RunSummary
from go_platform.workspace import (
    EMBEDDED_ENVIRONMENT,
    Session,
    StackState,
    Target,
    check_secrets_provider,
    check_stack_name,
    command_error_lines,
    embedded_kubeconfig,
    find_project_dir,
    is_lock_conflict,
    kubeconfig_override,
    lock_error,
    pack_config_problems,
    pending_error,
    policy_pack_virtualenv,
    project_name,
    resolve_backend,
    stack_secrets_provider,
    update_env,
)
from go_platform_core.config import (
    CONFIG_NAMESPACE,
    ConfigError,
    PlatformSettings,
    StackConfig,
    declared_environment,
    load_settings,
)

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
    stack_option: str = "--stack"
    """The flag that named the stack (`ephemeral`: `--name`), for messages."""
    secrets_like: str | None = None
    """Without --secrets-provider, a stack this command creates takes this stack's
    provider (`ephemeral up`: its base's), so the base's secrets, copied into it, are
    never re-encrypted under a weaker one."""


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
        shown = f"--project-dir {project_dir}"
        if checked_kind(project_dir / "Pulumi.yaml", shown) is not PathKind.FILE:
            raise usage_error(f"{shown}: no Pulumi.yaml there")
        self.project_dir = project_dir
        self.project = project_name(project_dir)
        self.target = Target(
            project_dir=project_dir,
            stack=check_stack_name(
                self.options.stack, project=self.project, option=self.options.stack_option
            ),
            backend=resolve_backend(self.options.backend, self.env, project_dir),
            secrets_provider=(
                check_secrets_provider(self.options.secrets_provider)
                if self.options.secrets_provider is not None
                else self.inherited_secrets_provider(project_dir)
            ),
        )
        self.summary.stack = self.options.stack
        self.summary.project = self.project
        self.summary.backend = hide_url_credentials(self.target.backend)
        self._session: Session | None = None
        self.sensitive: frozenset[str] = frozenset()
        """Config values no message may show (`redact.sensitive_values`), once read."""
        self.deploy_env: dict[str, str] = {}
        """What an update of the stack runs with (`workspace.update_env`), once read."""

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
        """The policy pack, always attached, and its config when one was given. A pack whose
        virtualenv is missing is refused here, before any engine run, rather than by the
        language host half-way through one."""
        pack = (self.options.policy_pack or self.project_dir / "policies").resolve()
        shown = f"--policy-pack {pack}" if self.options.policy_pack else f"policy pack {pack}"
        if checked_kind(pack / "PulumiPolicy.yaml", shown) is not PathKind.FILE:
            raise usage_error(
                f"no policy pack at {pack} (no PulumiPolicy.yaml); pass --policy-pack DIR"
            )
        virtualenv = policy_pack_virtualenv(pack)
        own = self.is_go_platform and pack == self.project_dir / "policies"
        in_pack = f"policy pack {pack}: its virtualenv {virtualenv}"
        if (
            virtualenv is not None
            and not checked_kind(virtualenv / "bin" / "python", in_pack).exists
        ):
            found = (
                "has no bin/python"
                if checked_kind(virtualenv, in_pack).exists
                else "does not exist"
            )
            # Our own pack names the core package, which no index serves: only the Makefile
            # can install it (editable); any other pack installs from its requirements.
            create = "`make policy-venv`" if own else f"`pulumi install` in {pack}"
            raise usage_error(
                f"policy pack {pack}: its virtualenv {virtualenv} {found}; create it with {create}"
            )
        args: dict[str, Any] = {"policy_packs": [str(pack)]}
        if self.options.policy_pack_config is not None:
            config = self.options.policy_pack_config.resolve()
            kind = checked_kind(config, f"--policy-pack-config {config}")
            if kind is not PathKind.FILE:
                what = (
                    "is a directory, not a file" if kind is PathKind.DIRECTORY else "no such file"
                )
                raise usage_error(f"--policy-pack-config {config}: {what}")
            # Our own pack checks the file as it would at start; a mistake is then one
            # usage error here, not one violation on every resource of the stack.
            if own and virtualenv:
                problems = pack_config_problems(pack, virtualenv / "bin" / "python", config)
                if problems:
                    raise DriverError(
                        ExitCode.USAGE, f"--policy-pack-config: {problems[0]}", *problems[1:]
                    )
            args["policy_pack_configs"] = [str(config)]
        return args

    def settings(self, stack: auto.Stack) -> tuple[PlatformSettings | None, StackConfig]:
        """The stack's validated settings (None for a project other than go-platform), for
        the commands that run the program; the engine pointed at the stack's cluster."""
        config = self.read_config(stack)
        if not self.is_go_platform:
            return None, config
        settings = self.validated(config, stack=stack.name)
        self.use_cluster_of(settings.environment, config)
        self.deploy_env = update_env(settings.environment)
        return settings, config

    def validated(
        self, config: StackConfig, *, stack: str, hidden: frozenset[str] = frozenset()
    ) -> PlatformSettings:
        """`config`'s settings for `stack`, or a usage error listing every problem. Its
        problems may quote a value, which is hidden when it may be a secret (a secret pasted
        where a key's name belongs, or one of `hidden`)."""
        try:
            return load_settings(config, stack=stack)
        except ConfigError as error:
            sensitive = sensitive_values(config) | hidden
            lines = [scrub(line, sensitive) for line in str(error).splitlines()]
            raise DriverError(ExitCode.USAGE, *lines) from None

    def target_cluster(self, stack: auto.Stack) -> None:
        """The engine pointed at the stack's cluster, for the commands that work on its state
        and the cluster and never run the program (destroy, refresh, drift): they read only what
        picks the cluster, so a config the program would refuse does not keep a stack from
        being inspected or torn down, nor does a checkout without its stack file."""
        config = self.read_config(stack)
        if self.is_go_platform:
            self.use_cluster_of(declared_environment(config, stack=stack.name), config)

    def inherited_secrets_provider(self, project_dir: Path) -> str | None:
        """The provider of `options.secrets_like`'s stack file, when it names one."""
        like = self.options.secrets_like
        provider = stack_secrets_provider(project_dir, like) if like else None
        return check_secrets_provider(provider) if provider else None

    def read_config(self, stack: auto.Stack) -> StackConfig:
        config = self.session.stack_config(stack)
        self.sensitive = sensitive_values(config)
        return config

    def use_cluster_of(self, environment: str, config: StackConfig) -> None:
        """KUBECONFIG for the engine: a `local` stack's is the embedded cluster's, whatever
        the caller's environment says (`workspace.kubeconfig_override`)."""
        kubeconfig = kubeconfig_override(
            environment,
            config.values,
            lambda: embedded_kubeconfig(self.project_dir, self.env),
        )
        if kubeconfig is not None:
            self.env = {**self.env, "KUBECONFIG": str(kubeconfig)}
            self.session.set_env("KUBECONFIG", str(kubeconfig))

    def preflight(self, settings: PlatformSettings | None, config: StackConfig) -> None:
        """Run the preflight checks; a PREFLIGHT error listing every failure."""
        if settings is None:
            self.console.print(f"preflight: skipped (project {self.project} is not go-platform)")
            return
        # Messages quote what they reached (a kubeconfig's server, a storage endpoint):
        # secrets of the config and the credentials of any URL are hidden wherever they go.
        results = [
            replace(result, message=hide_url_credentials(scrub(result.message, self.sensitive)))
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
            embedded = settings.environment == EMBEDDED_ENVIRONMENT and not config.values.get(
                "kubernetes:kubeconfig"
            )
            if cluster_down and embedded:
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
        tracker, error = self.run_operation(operation, stack, call, expected=expected)
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
            *tracker.stderr,
            *(tracker.errors or command_error_lines(error)),
        )

    def run_operation(
        self,
        operation: str,
        stack: auto.Stack,
        call: Callable[[OnEvent], Any],
        *,
        expected: int,
    ) -> tuple[ProgressTracker, auto.CommandError | None]:
        # A cancel that ended a helper (a passed-on SIGINT) starts no engine operation.
        interrupt.raise_if_requested()
        tracker = ProgressTracker(expected_total=expected)
        view = ProgressView(self.console, f"{operation} {stack.name}", tracker)
        error: auto.CommandError | None = None

        def on_event(event: auto.EngineEvent) -> None:
            # The engine runs from its first event to its summary: the CLI cancels on a
            # SIGINT then, and dies of one otherwise (interrupt.py).
            interrupt.engine_event(
                running=event.summary_event is None and event.cancel_event is None
            )
            view.on_event(event)

        try:
            with view.running():
                call(on_event)
        except auto.CommandError as failure:
            error = failure
        except RuntimeError as failure:  # the Automation API's "summary event never found"
            raise DriverError(ExitCode.FAILED, f"{operation}: {failure}") from None
        finally:
            self.summary.absorb(operation, tracker)
        self._report(operation, tracker, failed=error is not None)
        # A SIGTERM passed on to the CLI as SIGINT ended it: now stop as on Ctrl-C.
        interrupt.raise_if_requested()
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

    def record_outputs(self, stack: auto.Stack) -> dict[str, Any]:
        outputs = self.session.masked_outputs(stack)
        self.summary.outputs = outputs
        return outputs

    def refuse_pending(self, stack: auto.Stack) -> StackState:
        """The stack's state; exit 7 instead before an operation that changes resources
        when an interrupted update left operations pending: a pending create may have made
        a resource the state does not know, which a new `up` would make again (or fail on)."""
        state = self.session.state(stack)
        if state.pending:
            raise pending_error(stack.name, state.pending)
        return state

    def deploy(
        self, stack: auto.Stack, operation: str, policies: dict[str, Any], *, refresh: bool = False
    ) -> None:
        """An update; with `refresh`, one that reads the resources first, so that drift is
        planned back to what the program declares (the platform owns those fields)."""
        state = self.refuse_pending(stack)
        with self.session.running_with(self.deploy_env):
            self.engine(
                operation,
                stack,
                # show_secrets=False: the summary the SDK reads after it goes unread (stack.py).
                lambda on_event: stack.up(
                    on_event=on_event,
                    color="never",
                    show_secrets=False,
                    refresh=refresh,
                    **policies,
                ),
                expected=state.resources,
            )
