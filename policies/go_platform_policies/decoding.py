"""Decode each resource's properties once per engine call, not once per policy.

The policy SDK (pulumi-policy 1.21) turns a request's protobuf properties into Python values
inside its loop over policies, then wraps them in its unknown-value checking proxy (a new
copy of every dict and list in them): for one `Analyze` call of a resource, 30 resource
policies mean 30 conversions and 30 proxies of the same message; for `AnalyzeStack`, every
resource once per stack policy. A CustomResourceDefinition's schema makes that the pack's
main cost in the engine (measured in docs/PERFORMANCE.md). `decode_once()` makes the SDK
reuse the first conversion and the first proxy of a message for the rest of the call: the
policies see equal values, and none of ours changes the props it is given (remediation,
which does, decodes on its own path into fresh values each call, so nothing it changes is
shared).

The SDK's decoding helpers are module globals of `pulumi_policy.policy`; they are replaced by
memoizing wrappers around the originals. `tests/test_policies_decoding.py` fails if an SDK
upgrade moves them, so the pin in requirements.txt cannot drift past this unnoticed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import pulumi_policy.policy as sdk
from google.protobuf import json_format

T = TypeVar("T")

REMEMBERED = 8192
"""Conversions remembered: two per resource (message -> dict -> values), so one
`AnalyzeStack` of a 4,000-resource stack is decoded once; as many proxies."""


class IdentityMemo:
    """`compute(source)` remembered by the identity of `source`, for the last `size` sources.

    Each entry keeps its source alive, so an id is never reused for another object while it
    is remembered. Safe across the pack's gRPC threads.
    """

    def __init__(self, size: int = REMEMBERED) -> None:
        self._size = size
        self._entries: OrderedDict[int, tuple[object, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, source: object, compute: Callable[[], T]) -> T:
        key = id(source)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] is source:
                self._entries.move_to_end(key)
                return entry[1]
        value = compute()
        with self._lock:
            self._entries[key] = (source, value)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)


class _JsonFormat:
    """protobuf's `json_format` module with `MessageToDict` replaced."""

    def __init__(self, message_to_dict: Callable[..., Any]) -> None:
        self.MessageToDict = message_to_dict

    def __getattr__(self, name: str) -> Any:
        return getattr(json_format, name)


def decode_once(size: int = REMEMBERED) -> None:
    """Install the memoizing decoders into the policy SDK (idempotent)."""
    if getattr(sdk, "_go_platform_decode_once", False):
        return
    original_deserialize = sdk.deserialize_properties
    memo = IdentityMemo(size)

    def message_to_dict(message: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:
            return json_format.MessageToDict(message, *args, **kwargs)
        return memo(message, lambda: json_format.MessageToDict(message))

    def deserialize_properties(props: dict[str, Any], proxy_secrets: bool = False) -> Any:
        if proxy_secrets:  # remediation: its props are changed in place, so never shared
            return original_deserialize(props, proxy_secrets)
        return memo(props, lambda: original_deserialize(props))

    original_proxy = sdk.unknown_checking_proxy
    proxies = IdentityMemo(size)  # apart: a value may be the same object as its source

    def unknown_checking_proxy(props: dict[str, Any]) -> Any:
        return proxies(props, lambda: original_proxy(props))

    sdk.json_format = _JsonFormat(message_to_dict)  # type: ignore[assignment]
    sdk.deserialize_properties = deserialize_properties  # type: ignore[assignment]
    sdk.unknown_checking_proxy = unknown_checking_proxy  # type: ignore[assignment]
    sdk._go_platform_decode_once = True  # type: ignore[attr-defined]
