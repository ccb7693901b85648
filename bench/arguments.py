"""What the benches share on their command line.

- `count`: an argparse type for how many runs, repeats or services, a whole number of at
  least one (zero runs has no median to report; zero services is no stack).
- `run`: runs a bench's `main`, and makes a SIGTERM (`timeout`, a CI job cancelled) stop it
  as Ctrl-C does: through its cleanup, so the clusters, servers and programs it started are
  stopped and its scratch directory removed, then one line and exit 130. A second SIGTERM
  during that cleanup ends it at once.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import NoReturn

INTERRUPTED = 130


def count(text: str) -> int:
    """A whole number of at least one."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _interrupt(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the next one ends the cleanup too
    raise KeyboardInterrupt


def run(main: Callable[[Sequence[str]], int]) -> NoReturn:
    """Exit with what `main(sys.argv[1:])` returns, or 130 if interrupted."""
    name = Path(sys.argv[0]).name
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        code = main(sys.argv[1:])
    except KeyboardInterrupt:
        print(f"{name}: interrupted; what it started is stopped", file=sys.stderr)
        code = INTERRUPTED
    sys.exit(code)
