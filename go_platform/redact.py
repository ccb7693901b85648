"""Keeping values that may be secrets out of what the driver prints and writes.

The driver names keys and flags, never their values, in its own messages. Two kinds of
text it shows come from elsewhere and may hold a value: the config validation's problems
(`go_platform_core.config`) and preflight's lines. Those pass through `scrub`, which hides the
values a stack's config marks as sensitive (`sensitive_values`): every secret key's value,
and every value a setting gives as the *name* of a secret key (`secretEnv`, `...Secret`),
where a secret pasted by mistake would otherwise be shown back in full.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from go_platform_core.config import StackConfig

HIDDEN = "[hidden]"
MIN_HIDDEN_LENGTH = 3
"""Shorter values are not hidden: they would blank out ordinary words of a message."""
SECRET_NAMES_KEY = "secretEnv"
SECRET_NAME_SUFFIX = "Secret"


# A URL's scheme, then its user information up to the last `@` before the host (a password
# may hold an `@`); the host and what follows are kept.
_URL_CREDENTIALS = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#'\"]+@")
# The same URL percent-encoded, as a query parameter's value should be written
# (`endpoint=http%3A%2F%2Fuser%3Apassword%40host`): up to the value's last `%40`.
_ENCODED_URL_CREDENTIALS = re.compile(
    r"(\b[A-Za-z][A-Za-z0-9+.-]*%3A%2F%2F)[^\s/?#&'\"]+%40", re.IGNORECASE
)


def hide_url_credentials(text: str) -> str:
    """`text` with the `user:password@` of every URL in it, wherever it stands (an S3
    backend's `endpoint=http://user:password@host` query parameter included, percent-encoded
    or not), made `***@`:
    for what other programs say about a URL they were given (the CLI quotes a backend URL it
    cannot open), and for the URLs the driver shows itself (a backend, a Prometheus)."""
    return _ENCODED_URL_CREDENTIALS.sub(r"\1***%40", _URL_CREDENTIALS.sub(r"\1***@", text))


def sensitive_values(config: StackConfig) -> frozenset[str]:
    """Values of `config` no message may show: secret keys' values (and their JSON
    leaves), and the values settings give as names of secret keys."""
    found: set[str] = set()
    for key, text in config.values.items():
        if key in config.secret_keys:
            found.add(text)
            found.update(_strings(_json(text)))
        elif key.rsplit(":", 1)[-1].endswith(SECRET_NAME_SUFFIX):
            found.add(text)
        else:
            found.update(_secret_names(_json(text)))
    return frozenset(value for value in found if len(value.strip()) >= MIN_HIDDEN_LENGTH)


def scrub(text: str, values: Iterable[str]) -> str:
    """`text` with each of `values` that stands as a word of its own replaced by HIDDEN."""
    for value in sorted(values, key=len, reverse=True):
        if value in text:
            pattern = rf"(?<![\w.:/+=-]){re.escape(value)}(?![\w./+=-])"
            text = re.sub(pattern, HIDDEN, text)
    return text


def _json(text: str) -> Any:
    """`text` as JSON; None when it is not JSON Python reads (not JSON at all, an integer
    past Python's 4300 digits, arrays or objects nested past its recursion limit)."""
    try:
        return json.loads(text)
    except (ValueError, TypeError, RecursionError):
        return None


def _nodes(value: Any) -> Iterator[tuple[Any, Any]]:
    """Every (key, value) pair of `value`'s mappings and every item of its lists (key None),
    at any depth; walked without recursion, however deep `value` nests."""
    pending: list[Any] = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            items: Iterable[tuple[Any, Any]] = node.items()
        elif isinstance(node, list):
            items = ((None, item) for item in node)
        else:
            continue
        for key, item in items:
            yield key, item
            pending.append(item)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    yield from (item for _, item in _nodes(value) if isinstance(item, str))


def _secret_names(value: Any) -> Iterator[str]:
    """Strings found where settings name secret keys, at any depth."""
    for key, item in _nodes(value):
        if key == SECRET_NAMES_KEY and isinstance(item, dict):
            yield from (name for name in item.values() if isinstance(name, str))
        elif isinstance(key, str) and key.endswith(SECRET_NAME_SUFFIX) and isinstance(item, str):
            yield item
