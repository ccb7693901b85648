"""Human progress on stderr, so that stdout stays for what scripts read (paths, JSON)."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import TextIO


def duration(seconds: float, *, tenths_below: float = 0.0) -> str:
    """`7s`, `2m05s`; a duration shorter than `tenths_below` seconds keeps a tenth: `3.2s`."""
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:.1f}s" if seconds < tenths_below else f"{whole}s"
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m{rest:02d}s"


class Progress:
    """Progress lines on stderr: which step runs, and how long it took."""

    # Durations shorter than this many seconds are shown with a tenth (none by default).
    tenths_below = 0.0

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.started = time.monotonic()

    def say(self, message: str) -> None:
        """One line on the stream; none, without an error, once nobody reads it (its
        terminal closed, as with SIGHUP; the reader of its pipe gone): what the tool does
        then, such as stopping what it started, must not stop at its first word."""
        with contextlib.suppress(OSError):
            print(message, file=self.stream, flush=True)

    def duration(self, seconds: float) -> str:
        return duration(seconds, tenths_below=self.tenths_below)

    @contextlib.contextmanager
    def step(self, description: str) -> Iterator[None]:
        self.say(f"    {description} ...")
        started = time.monotonic()
        yield
        self.say(f"    {description}: done in {self.duration(time.monotonic() - started)}")

    def elapsed(self) -> float:
        """Seconds since this progress (the command) started."""
        return time.monotonic() - self.started
