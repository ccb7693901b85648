"""Kubernetes quantities and durations, parsed into plain numbers.

Pure functions: the config validation compares requests with limits and derives
GOMEMLIMIT from them, so it needs the value behind "250m" or "512Mi".
"""

from __future__ import annotations

import re
from decimal import Decimal

_BINARY_SUFFIXES = {
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_DECIMAL_SUFFIXES = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
# The grammar of k8s.io/apimachinery resource.Quantity, without the sign (we never want
# negative amounts): a number, then a binary or decimal suffix or a decimal exponent.
_QUANTITY = re.compile(
    r"^(?P<number>\+?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)

_DURATION = re.compile(r"^(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?$")


def parse_quantity(text: str) -> Decimal:
    """The value of a Kubernetes quantity: "250m" -> 0.25, "1Gi" -> 1073741824.

    Raises ValueError with a message fit for a user when `text` is not a quantity,
    including the common near-misses ("12Gb", "1.5 Gi", "-1").
    """
    match = _QUANTITY.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (examples: 250m, 0.5, 128Mi, 1Gi)")
    number = Decimal(match["number"])
    suffix = match["suffix"] or ""
    if suffix in _BINARY_SUFFIXES:
        return number * _BINARY_SUFFIXES[suffix]
    if suffix in _DECIMAL_SUFFIXES:
        return number * _DECIMAL_SUFFIXES[suffix]
    # Absurd exponents (1e1000000, 9e999999, an exponent of thousands of digits) overflow
    # the decimal context or int(); ArithmeticError covers every decimal signal.
    try:
        return number * (Decimal(10) ** int(suffix[1:]))
    except (ArithmeticError, ValueError) as err:
        raise ValueError(f"{text!r} is out of range for a Kubernetes quantity") from err


def parse_duration(text: str) -> int:
    """Whole seconds in a duration written as Go and Flagger write them: "90s", "1m30s", "2h".

    Raises ValueError for anything else, including zero and sub-second units.
    """
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if match is None or not any(match.groupdict().values()):
        raise ValueError(f"{text!r} is not a duration (examples: 30s, 1m, 1m30s, 2h)")
    seconds = int(match["h"] or 0) * 3600 + int(match["m"] or 0) * 60 + int(match["s"] or 0)
    if seconds == 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return seconds


def format_duration(seconds: int) -> str:
    """The shortest duration text for `seconds`: 90 -> "1m30s", 3600 -> "1h"."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts) or "0s"
