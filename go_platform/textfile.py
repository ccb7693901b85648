"""Reading a text file a person pointed the driver at (a Pulumi.yaml, a stack file, a
kubeconfig), with why it cannot be read said in a few words, for a one-line error that
names the file."""

from __future__ import annotations

from pathlib import Path


class UnreadableTextError(Exception):
    """Why a file's text cannot be had: its message completes "<the file> ..."."""


def read_text(path: Path) -> str:
    """The UTF-8 text of `path`; UnreadableTextError when it cannot be read or is not UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise UnreadableTextError(f"cannot be read ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise UnreadableTextError(
            f"is not UTF-8 text (byte {error.start}: {error.reason})"
        ) from None
