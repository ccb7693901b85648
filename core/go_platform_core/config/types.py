"""Value types of the config: annotated strings and numbers with their rules, each naming its
format (`Format`) for the config reference."""

from __future__ import annotations

import ipaddress
import math
import re
import urllib.parse
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from go_platform_core.config.base import INT32_MAX
from go_platform_core.config.errors import shorten
from go_platform_core.images import parse_image
from go_platform_core.kube import label_value
from go_platform_core.units import parse_duration, parse_quantity

# Names the platform derives from a service name ("<name>-canary", "<name>-env-1a2b3c4d")
# must stay within the 63 characters of a DNS label.
MAX_SERVICE_NAME = 40


@dataclass(frozen=True)
class Format:
    """Names the format of a value type (`Annotated` metadata); the config reference lists
    every format with its rule."""

    name: str
    rule: str


def _matching(pattern: str, what: str, *, echo: bool = True) -> AfterValidator:
    """A text rule; `echo=False` for values that may be secrets pasted in the wrong place,
    which the error then names by key path only."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            shown = shown_value(value) if echo else "the value (not shown: it may be a secret)"
            raise ValueError(f"{shown} is not {what}")
        return value

    return AfterValidator(check)


SHOWN_LENGTH = 100
"""The most of a value a message shows (`shown_value`): a value pasted or decoded in the wrong
place (a file, 100,000 brackets) would otherwise fill the terminal; a label of 63 characters
still shows whole."""


def shown_value(value: Any) -> str:
    """`value` as a message quotes it: its repr, cut to `SHOWN_LENGTH` characters."""
    return shorten(value, SHOWN_LENGTH)


def _quoting_shortly(err: ValueError, value: Any) -> ValueError:
    """`err`, a message quoting `value` in full (from `units`, `images`), quoting it cut."""
    return ValueError(str(err).replace(repr(value), shown_value(value)))


_KEY_NAME_SHAPE = re.compile(r"([a-z][-a-z0-9]*:)?[A-Za-z][a-z0-9]*([-_.A-Z][A-Za-z0-9]*)*")


def _looks_like_token(part: str) -> bool:
    """16 or more letters and digits that read as a credential rather than a word of a name:
    with two digits or more (`ghp_…`, base64), or with digits and no lower case (`AKIA…`)."""
    if len(part) < 16 or not part.isalnum():
        return False
    digits = sum(c.isdigit() for c in part)
    return digits >= 2 or (digits >= 1 and not any(c.islower() for c in part))


def shown_key(key: str) -> str:
    """A config key for a message, unless it looks like a credential pasted where a key's
    name belongs (an access key ID, a token): then it is not shown."""
    segments = re.split(r"[-_.:]", key)
    if (
        len(key) <= 64
        and _KEY_NAME_SHAPE.fullmatch(key)
        and not any(_looks_like_token(part) for part in segments)
    ):
        return repr(key)
    return "(the key this setting names; not shown: it looks like a secret value)"


def _quantity_text(value: Any) -> Any:
    """YAML turns `cpu: 1` into a number; a quantity is checked as the text it reads as."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return value


def _not_a_boolean(value: Any) -> Any:
    """Pydantic would take `true` for 1: a boolean where a number belongs is a mistake. NaN
    and infinity (`.nan`, `.inf` in YAML) are no amount of anything either."""
    if isinstance(value, bool):
        raise ValueError(
            f"must be a number, not {str(value).lower()}; write the number itself (`2`)"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must be a finite number, not {_NON_FINITE[str(value)]}")
    if isinstance(value, str):  # pydantic reads "nan" and "inf" as numbers
        try:
            number = float(value)
        except ValueError:
            return value
        if not math.isfinite(number):
            raise ValueError(f"must be a finite number (got {shown_value(value)})")
    return value


_NON_FINITE = {"nan": "NaN", "inf": "infinity", "-inf": "-infinity"}

MAX_CPU = Decimal(1024)
"""The largest CPU quantity taken: a pod runs on one node, and no machine a Go service is
scheduled on has more cores (the largest cloud instances have 448 to 896 vCPUs). Above it is a
misplaced suffix or exponent (`1e+30`, `500` for `500m`), not a size."""
MAX_MEMORY = Decimal(2) ** 44
"""The largest memory quantity taken, 16Ti: above the memory of any machine offered for
general workloads (the 24 and 32 TiB instances are for SAP HANA), and so a typo (`512Ti`,
`1e+30`) rather than a size; `GOMEMLIMIT` is derived from it."""


def _quantity(value: str) -> Decimal:
    try:
        return parse_quantity(value)
    except ValueError as err:
        raise _quoting_shortly(err, value) from None


def _cpu(value: str) -> str:
    amount = _quantity(value)
    if amount < Decimal("0.001"):
        raise ValueError(f"{shown_value(value)} is below the smallest CPU amount, 1m")
    if amount > MAX_CPU:
        raise ValueError(
            f"{shown_value(value)} is above {MAX_CPU} CPUs, more than a node has; "
            "check the suffix (`500m` is half a CPU)"
        )
    return value


def _byte_amount(value: str) -> Decimal:
    amount = _quantity(value)
    if amount < 2**20:
        raise ValueError(
            f"{shown_value(value)} is below 1Mi (memory is in bytes: write 128Mi, not 128m)"
        )
    return amount


def _bytes(value: str) -> str:
    _byte_amount(value)
    return value


def _memory(value: str) -> str:
    if _byte_amount(value) > MAX_MEMORY:
        raise ValueError(
            f"{shown_value(value)} is above 16Ti, more memory than a node has; "
            "check the suffix (`512Mi`, `2Gi`)"
        )
    return value


def _duration(value: str) -> str:
    try:
        parse_duration(value)
    except ValueError as err:
        raise _quoting_shortly(err, value) from None
    return value


def _image(value: str) -> str:
    try:
        parse_image(value)
    except ValueError as err:
        raise _quoting_shortly(err, value) from None
    return value


def _cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            # ipaddress's own reason only quotes the value again.
            raise ValueError(f"{shown_value(value)} is not a CIDR block") from None
        raise ValueError(f"{value!r} is not a CIDR block ({value} has host bits set)") from None
    return value


GO_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)? [+-][0-9]{4} \S+"
)
"""Go's text of a time (`2024-01-01 00:00:00 +0000 UTC`): what the Pulumi CLI passes for a
date or time YAML read from an unquoted `2024-01-01`."""
NOT_A_DATE = (
    'must be text, not a date; quote it so YAML keeps it as written (`"2024-01-01"`, not '
    "`2024-01-01`, which YAML reads as a timestamp and Pulumi passes on as "
    "`2024-01-01 00:00:00 +0000 UTC`)"
)


def _not_a_date(value: str) -> str:
    """As a number where text belongs (`errors._not_text`): an unquoted date, converted. The
    value is not shown: it may be a secret in the wrong place."""
    if GO_TIME.fullmatch(value):
        raise ValueError(NOT_A_DATE)
    return value


_DOCKER_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def _docker_tag(value: str) -> str:
    _not_a_date(value)
    if not _DOCKER_TAG.fullmatch(value):
        raise ValueError(
            f"{shown_value(value)} is not an image tag: at most 128 letters, digits, `_`, `.` "
            "or `-`, not starting with `.` or `-`"
        )
    return value


def go_pattern_problem(pattern: str) -> str | None:
    """Why Go's `path.Match` rejects `pattern` (its ErrBadPattern), or None when it takes it.

    The grammar is Go's: `*`, `?`, `\\c` for a literal c, and classes `[...]` or `[^...]`
    of at least one character or `lo-hi` range, where `-` and `]` need `\\`.
    """
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            if i + 1 == len(pattern):
                return "it ends in a lone `\\` (write `\\\\` for a backslash)"
            i += 2
        elif pattern[i] == "[":
            i += 2 if pattern[i + 1 : i + 2] == "^" else 1
            ranges = 0
            while not (pattern[i : i + 1] == "]" and ranges):
                i, problem = _class_char(pattern, i, after_dash=False)
                if problem is None and pattern[i] == "-":
                    i, problem = _class_char(pattern, i + 1, after_dash=True)
                if problem:
                    return problem
                ranges += 1
            i += 1
        else:
            i += 1
    return None


def _class_char(pattern: str, i: int, *, after_dash: bool) -> tuple[int, str | None]:
    """Past one character of a class at `i` (Go's `getEsc`), or why there is none."""
    unclosed = "a `[` class is never closed with `]` (write `\\[` for a literal bracket)"
    c = pattern[i : i + 1]
    if not c:
        return i, unclosed
    if c == "]":
        return i, (
            "a range in `[...]` has no upper end (`a-z`)"
            if after_dash
            else "`[]` is an empty class; a class needs a character (write `\\]` for a literal)"
        )
    if c == "-":
        return i, "a `-` in `[...]` must sit between two characters (write `\\-` for a literal)"
    if c == "\\":
        i += 1
        if i == len(pattern):
            return i, unclosed
    i += 1
    return i, None if i < len(pattern) else unclosed


def _module_pattern(value: str) -> str:
    problem = go_pattern_problem(value)
    if problem:
        raise ValueError(f"{shown_value(value)} is not a Go path pattern: {problem}")
    return value


_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS_NAME = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*"
_LABEL_RULE = (
    "at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit"
)


def _label_key(value: str) -> str:
    prefix, slash, name = value.rpartition("/")
    if not (
        _LABEL_NAME.fullmatch(name)
        and len(name) <= 63
        and (not slash or (re.fullmatch(_DNS_NAME, prefix) and len(prefix) <= 253))
    ):
        raise ValueError(
            f"{shown_value(value)} is not a Kubernetes label key: a name of {_LABEL_RULE}, "
            "optionally after a DNS name and `/` (`release`, `example.com/team`)"
        )
    return value


def _label_value(value: str) -> str:
    if value and not (_LABEL_NAME.fullmatch(value) and len(value) <= 63):
        fixed = label_value(value)
        instead = f"; write e.g. {fixed!r}" if fixed else ""
        raise ValueError(
            f"{shown_value(value)} is not a Kubernetes label value: empty, or "
            f"{_LABEL_RULE}{instead}"
        )
    return value


Whole = Annotated[int, BeforeValidator(_not_a_boolean), Field(le=INT32_MAX)]
Number = Annotated[float, BeforeValidator(_not_a_boolean)]
DnsLabel = Annotated[
    str,
    Field(max_length=63),
    _matching(r"[a-z]([-a-z0-9]*[a-z0-9])?", "a DNS label (lower-case letters, digits, '-')"),
    Format(
        "DNS label",
        "lower-case letters, digits and `-`, starting with a letter and ending with a letter "
        "or digit; at most 63 characters",
    ),
]
ServiceName = Annotated[
    str,
    Field(max_length=MAX_SERVICE_NAME),
    _matching(r"[a-z]([-a-z0-9]*[a-z0-9])?", "a service name (lower-case letters, digits, '-')"),
    Format(
        "service name",
        f"a DNS label of at most {MAX_SERVICE_NAME} characters, leaving room for the names "
        "derived from it",
    ),
]
DomainName = Annotated[
    str,
    Field(max_length=253),
    _matching(_DNS_NAME, "a lower-case DNS name"),
    Format(
        "DNS name",
        "dot-separated labels of lower-case letters, digits and `-` (`greeter.example.com`); "
        "at most 253 characters",
    ),
]
EnvName = Annotated[
    str,
    _matching(r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name"),
    Format("variable name", "letters, digits and `_`, not starting with a digit"),
]
CONFIG_KEY_FORMAT = Format(
    "config key",
    "a key of this stack's config: `key` in `go-platform`, or `namespace:key` (a namespace "
    "the program does not read is then allowed for that key)",
)
ConfigKey = Annotated[
    str,
    _matching(
        r"([a-z][-a-z0-9]*:)?[A-Za-z][A-Za-z0-9_.-]*",
        "a config key (`key`, or `namespace:key` outside go-platform)",
        echo=False,
    ),
    CONFIG_KEY_FORMAT,
]
Port = Annotated[Whole, Field(ge=1, le=65535)]


NOT_SHOWN = "the value (not shown: it may hold credentials)"
IN_PLAIN_TEXT = "settings are stored and deployed in plain text, so keep credentials out of URLs"


def carries_credentials(value: str, *, bare: bool = False) -> bool:
    """Whether `value`, a URL (`scheme://user:password@host/...`), names a user or password;
    with `bare`, also a `host:port` without a scheme (`user:password@redis:6379`)."""
    _scheme, separator, rest = value.partition("://")
    if not separator and not bare:
        return False
    authority = re.split(r"[/?#]", rest if separator else value, maxsplit=1)[0]
    return "@" in authority


def credentials_refused(instead: str = IN_PLAIN_TEXT) -> str:
    """The reason for a URL with a user or password, the value never shown; `instead` says
    where the credentials go."""
    return f"{NOT_SHOWN} carries a user or password: {instead}"


def without_credentials(
    instead: str = IN_PLAIN_TEXT, *, bare: bool = False, separators: str = ""
) -> AfterValidator:
    """Refuses a URL with a user or password (`carries_credentials`); with `separators`, in
    any item of a list of them (`GOPROXY`'s `,` and `|`)."""

    def check(value: str) -> str:
        items = re.split(f"[{re.escape(separators)}]", value) if separators else [value]
        if any(carries_credentials(item.strip(), bare=bare) for item in items):
            raise ValueError(credentials_refused(instead))
        return value

    return AfterValidator(check)


def _endpoint_url(value: str) -> str:
    # Never echoed: an endpoint pasted with its user and password would be shown.
    parts = urllib.parse.urlsplit(value)
    try:
        host, _port = parts.hostname, parts.port
    except ValueError:
        host = None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(
            f"{NOT_SHOWN} is not an http:// or https:// URL with a host "
            "(`http://minio.storage:9000`)"
        )
    if carries_credentials(value):
        raise ValueError(
            credentials_refused(
                "name the keys with `accessKeyIdSecret` and `secretAccessKeySecret` "
                "(secret config keys) instead"
            )
        )
    return value


EndpointUrl = Annotated[
    str,
    AfterValidator(_endpoint_url),
    Format(
        "endpoint URL",
        "`http://` or `https://`, a host, an optional port and path, no credentials "
        "(`http://minio.storage:9000`)",
    ),
]
CpuQuantity = Annotated[
    str,
    BeforeValidator(_quantity_text),
    AfterValidator(_cpu),
    Format("CPU quantity", "a Kubernetes quantity from `1m` to `1024` (`250m`, `0.5`, `2`)"),
]
MemoryQuantity = Annotated[
    str,
    BeforeValidator(_quantity_text),
    AfterValidator(_memory),
    Format("memory quantity", "a Kubernetes quantity from `1Mi` to `16Ti` (`128Mi`, `1Gi`)"),
]
ByteQuantity = Annotated[
    str,
    BeforeValidator(_quantity_text),
    AfterValidator(_bytes),
    Format("byte quantity", "a Kubernetes quantity of at least `1Mi` (`128Mi`, `1Gi`)"),
]
"""A size that is not a container's memory (a volume's): no upper bound."""
EnvValue = Annotated[str, AfterValidator(_not_a_date)]
"""Text passed on as written (an environment variable, a build argument): never a date YAML
converted."""
ImageTag = Annotated[
    str,
    AfterValidator(_docker_tag),
    Format(
        "image tag",
        "at most 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`; quoted "
        'where YAML would read a number or a date (`"1.10"`, `"2024-01-01"`)',
    ),
]
ImageRef = Annotated[
    str,
    AfterValidator(_image),
    Format(
        "image reference",
        "`[registry/]repository[:tag][@sha256:digest]`, lower-case repository",
    ),
]
Duration = Annotated[
    str,
    AfterValidator(_duration),
    Format("duration", "hours, minutes and seconds, above zero (`30s`, `1m30s`, `2h`)"),
]
Cidr = Annotated[
    str, AfterValidator(_cidr), Format("CIDR", "an IP block with no host bits (`10.0.0.0/8`)")
]
ModulePattern = Annotated[
    str,
    _matching(r"[a-z0-9.-]+(/[^\s,;]+)*", "a module path pattern"),
    AfterValidator(_module_pattern),
    Format(
        "module path pattern",
        "a Go `path.Match` pattern of module path prefixes (`github.com/acme/*`): `*`, `?`, "
        "`[a-z]` and `[^...]` classes, `\\` escapes; no spaces, commas or semicolons",
    ),
]
LabelKey = Annotated[
    str,
    AfterValidator(_label_key),
    Format("label key", f"a name of {_LABEL_RULE}, optionally after a DNS name and `/`"),
]
LabelValue = Annotated[
    str,
    AfterValidator(_label_value),
    Format("label value", f"empty, or {_LABEL_RULE}"),
]
