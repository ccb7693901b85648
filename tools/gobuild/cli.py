"""A subcommand's exit status, as both tools' main() report it."""

from __future__ import annotations

import sys
from collections.abc import Callable

from gobuild.errors import ToolError


def exit_status(
    tool: str,
    command: Callable[[], int],
    describe: Callable[[ToolError], list[str]] | None = None,
) -> int:
    """Run `command` (the chosen subcommand) and return the status to exit with: its own;
    1 for an expected failure, reported on stderr as `<tool>: error: <message>` (or as the
    lines `describe` makes of it); 130 for an interrupt. Never a traceback for either."""
    try:
        return int(command())
    except ToolError as error:
        for line in describe(error) if describe else [f"{tool}: error: {error}"]:
            print(line, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{tool}: interrupted", file=sys.stderr)
        return 130
