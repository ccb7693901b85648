"""The root of the `go-platform` command line: the app each command group registers on
(`stack.py`, `ephemeral.py`, `canary.py`), `run`, the one wrapper every command goes
through (human output, the exit code, the JSON summary; never a traceback), and `main`.

Exit codes are `exit_codes.ExitCode`: 0 ok, 1 engine/operation failure, 2 drift,
3 mandatory policy violation, 4 preflight failure, 5 canary rolled back, 6 stack locked,
64 bad arguments or invalid stack config. Click's own usage errors (exit 2 by default,
which would read as drift) are mapped to 64, reported like the driver's own: one line, and
the summary when `--json PATH` was given.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import typer
from pulumi.automation import CommandError
from rich.console import Console
from rich.markup import escape

# typer vendors click (typer._click) and raises its exceptions, not click's.
from typer._click.exceptions import ClickException, NoArgsIsHelpError

from go_platform import interrupt
from go_platform.driver import Driver, StackOptions
from go_platform.exit_codes import MEANINGS, DriverError, ExitCode, unexpected, usage_error
from go_platform.redact import hide_url_credentials
from go_platform.summary import RunSummary, summary_path_problem, write_problem, write_summary
from go_platform.workspace import command_error_lines

EPILOG = "Exit codes: " + "; ".join(f"{int(code)} {meaning}" for code, meaning in MEANINGS.items())

app = typer.Typer(
    name="go-platform",
    help="Run go-platform stacks from CI: preview, up, drift, ephemeral stacks, canary promotion.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: rich's panels show a flag as taking a value (`--refresh <bool>`).
    rich_markup_mode=None,
)


class DriverConsole(Console):
    """The driver's console. It never shows a URL's `user:password@`, whoever wrote the
    line (the CLI quotes a backend URL it cannot open in full). And when whoever reads its
    output goes away (`| head`, a closed CI log pipe), it stops printing and the command
    goes on: rich's default exits, from inside the engine's event callback, so events stop
    being read, the CLI blocks writing them, and the stack stays locked."""

    def print(self, *objects: Any, **options: Any) -> None:
        shown = (hide_url_credentials(o) if isinstance(o, str) else o for o in objects)
        super().print(*shown, **options)

    def on_broken_pipe(self) -> None:
        self.quiet = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self.file.fileno())  # what is still buffered goes nowhere
        finally:
            os.close(devnull)


def run(
    command: str,
    json_path: str | None,
    options: Callable[[], StackOptions],
    action: Callable[[Driver], None],
) -> None:
    """Run one command: human output, the exit code, and the JSON summary when asked."""
    to_stdout = json_path == "-"
    console = DriverConsole(stderr=to_stdout, highlight=False, soft_wrap=True)
    # Where the summary goes is checked first: every other outcome is reported there, and
    # nothing is deployed when it could not be.
    problem = json_path_problem(json_path)
    if problem is not None:
        _print_error(console, usage_error(problem, "nothing was run"))
        raise typer.Exit(int(ExitCode.USAGE))
    summary = RunSummary(command=command)
    started = time.monotonic()
    code = ExitCode.OK
    try:
        try:
            action(Driver(options(), console, summary))
        except CommandError as failure:
            # A CLI call outside an engine operation (config, tags, stack removal) failed.
            raise DriverError(
                ExitCode.FAILED, "pulumi failed:", *command_error_lines(failure)
            ) from None
    except DriverError as error:
        code = error.code
        _print_error(console, error)
        summary.errors += [line for line in error.lines if line not in summary.errors]
        if interrupt.requested():  # what failed was ended by the cancel
            code = ExitCode.FAILED
            console.print("[red]interrupted[/red]")
            summary.errors.append("interrupted")
    except KeyboardInterrupt:
        code = ExitCode.FAILED
        console.print("[red]interrupted[/red]")
        summary.errors.append("interrupted")
    except Exception as error:  # a bug: still one line, the summary and an exit code
        code = ExitCode.FAILED
        line = unexpected(error)
        _print_error(console, DriverError(code, line))
        summary.errors.append(line)
    summary.exit_code = code
    summary.duration_seconds = time.monotonic() - started
    written = _write_json(summary, json_path, console, command, code) if json_path else True
    if not written and code == ExitCode.OK:
        # CI reads the summary: a success without it is a failure. A failed command keeps
        # its own code, which says more.
        code = ExitCode.FAILED
    raise typer.Exit(int(code))


def json_path_problem(json_path: str | None) -> str | None:
    """What is wrong with `--json PATH`, as the line to print; None when it can be written."""
    if json_path is None or json_path == "-":
        return None
    if not json_path.strip():
        return "--json: give a file path, or - for stdout"
    problem = summary_path_problem(Path(json_path))
    return f"--json {json_path}: {problem}" if problem else None


def _print_error(console: Console, error: DriverError) -> None:
    first, *rest = error.lines or [str(error)]
    console.print(f"[red]error:[/red] {escape(first)}")
    for line in rest:
        console.print(f"  {escape(line)}")


def _write_json(
    summary: RunSummary, json_path: str, console: Console, command: str, code: ExitCode
) -> bool:
    """Write the summary; False (and the reason printed) when it could not be written."""
    if json_path == "-":
        try:
            sys.stdout.write(json.dumps(summary.as_json(), indent=2) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:  # its reader is gone: nothing to tell it on
            return False
        return True
    path = Path(json_path)
    try:
        write_summary(summary, path)
    except OSError as error:
        done = f"{command} succeeded, but " if code == ExitCode.OK else ""
        _print_error(
            console,
            DriverError(
                ExitCode.FAILED,
                f"{done}the summary cannot be written to {json_path}: {write_problem(path, error)}",
            ),
        )
        return False
    return True


# --- entry point -----------------------------------------------------------------------


def _usage_failure(error: ClickException, argv: list[str]) -> int:
    """Click's own usage error (an unknown option, a missing `--stack`) as the driver
    reports its own: one line and a pointer to the help, exit 64, and the summary when
    the arguments name a `--json PATH` that can be written."""
    json_path = _option_value(argv, "--json")
    console = DriverConsole(stderr=json_path == "-", highlight=False, soft_wrap=True)
    if isinstance(error, NoArgsIsHelpError):  # `go-platform canary`: its help is the answer
        console.print(error.format_message(), markup=False)
        return int(ExitCode.USAGE)
    command = _command_words(argv)
    line = _usage_line(error.format_message())
    _print_error(console, usage_error(line, f"see: {' '.join(['go-platform', *command])} --help"))
    if json_path is not None and json_path_problem(json_path) is None:
        summary = RunSummary(command=" ".join(command), stack=_option_value(argv, "--stack", "-s"))
        summary.exit_code = ExitCode.USAGE
        summary.errors.append(line)
        _write_json(summary, json_path, console, summary.command, ExitCode.USAGE)
    return int(ExitCode.USAGE)


def _command_words(argv: list[str]) -> list[str]:
    """The (sub)command the arguments name, as far as they name one (`canary plan`)."""
    command, words = typer.main.get_command(app), []
    for arg in argv:
        subcommands = getattr(command, "commands", {})
        if arg not in subcommands:
            break
        command = subcommands[arg]
        words.append(arg)
    return words


def _usage_line(message: str) -> str:
    """Click's message, without the arguments it could not place: one of them may be a
    value that lost its option (`--config TOKEN s3cret`), a secret among them."""
    if message.startswith("Got unexpected extra argument"):
        return "unexpected arguments that belong to no option (not shown: one may be a value)"
    return message.rstrip(".")


def _option_value(argv: list[str], *names: str) -> str | None:
    """The value of an option (`--json PATH`, `--json=PATH`) among arguments click could not
    parse; the last one given, as click takes it; None when it is not there."""
    value = None
    for index, arg in enumerate(argv):
        for name in names:
            if arg.startswith(f"{name}="):
                value = arg.removeprefix(f"{name}=")
            elif arg == name and index + 1 < len(argv):
                value = argv[index + 1]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: returns the exit code instead of raising SystemExit."""
    # CI cancels a job with SIGTERM, a person with Ctrl-C, a dropped SSH session with
    # SIGHUP: end so that the summary is still written and the engine releases the stack's
    # lock (interrupt.py). The handlers, and a cancel they recorded, last as long as the
    # command: a process that goes on after it (a test run) gets its own back.
    handlers = {
        signal.SIGTERM: interrupt.on_sigterm,
        signal.SIGINT: interrupt.on_sigint,
        signal.SIGHUP: interrupt.hangup_handler(),
    }
    previous = {sig: signal.getsignal(sig) for sig in handlers}
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    command = typer.main.get_command(app)
    try:
        result = command.main(
            args=list(sys.argv[1:] if argv is None else argv),
            prog_name="go-platform",
            standalone_mode=False,
        )
    except ClickException as error:
        # Click's usage errors exit 2, which CI would read as drift.
        return _usage_failure(error, list(sys.argv[1:] if argv is None else argv))
    except typer.Abort:
        return int(ExitCode.FAILED)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        interrupt.reset()
    return int(result) if isinstance(result, int) else int(ExitCode.OK)
