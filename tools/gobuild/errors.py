"""Expected failures: reported as a short message, never as a traceback."""

from __future__ import annotations

from pathlib import Path


class ToolError(Exception):
    """An expected failure: reported as a short message, never as a traceback.

    Each tool raises a subclass of its own; the shared helpers raise ToolError itself, so
    whatever reports failures catches ToolError."""


class StepError(ToolError):
    """A command of a build step exited non-zero."""

    def __init__(self, step: str, command: str, log: Path | None, detail: str) -> None:
        self.step = step
        self.command = command
        self.log = log
        self.detail = detail
        super().__init__(f"step '{step}' failed: {detail}")

    def rerun_lines(self) -> list[str]:
        """Where the command's output is (if it was logged) and the line that reruns it."""
        logged = [f"  log:   {self.log}"] if self.log else []
        return [*logged, f"  rerun: {self.command}"]
