"""Prometheus instant queries, and the two the canary analysis asks about a Traefik service.

Traefik (v3) labels its service metrics with `service="<namespace>-<service>-<port>@kubernetescrd"`
(`go_platform_core.telemetry.traefik_service`): the canary track is its own leaf of the weighted
TraefikService, so its requests and latencies are measured apart from stable's.
"""

from __future__ import annotations

import http.client
import json
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from go_platform.redact import hide_url_credentials
from go_platform_core.telemetry import latency_quantile, success_ratio

HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|[0-9A-Fa-f:.]+")
"""A DNS name, an IPv4 address, or an IPv6 address (`urlsplit` drops its brackets)."""


class PrometheusError(Exception):
    """A query failed; the message is one line."""


def url_problem(url: str) -> str | None:
    """What is wrong with `url` as a Prometheus server's base URL, never quoting it (it may
    hold credentials); None when it is one: http or https, a host, an optional port and
    path, no query, fragment or credentials."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
    except ValueError:  # an unbalanced `[` of an IPv6 address
        return "is not a URL (e.g. http://prometheus.monitoring:9090)"
    try:
        port = parts.port
    except ValueError:
        return "has a port that is not a number from 1 to 65535"
    if parts.scheme not in ("http", "https"):
        return "is not an http:// or https:// URL (e.g. http://prometheus.monitoring:9090)"
    if "@" in parts.netloc:
        return "holds credentials, which are not supported: give the URL without user:password@"
    if not parts.hostname or not HOST.fullmatch(parts.hostname):
        return "names no valid host (e.g. http://prometheus.monitoring:9090)"
    if port == 0:
        return "has a port that is not a number from 1 to 65535"
    if parts.query or parts.fragment:
        return "has a query or fragment: give the server's base URL (http://host:9090[/prefix])"
    if any(c.isspace() for c in url.strip()):
        return "contains spaces"
    return None


def success_rate_query(traefik_service: str, window: str) -> str:
    """Percent of non-5xx responses of one Traefik service over `window` (see
    `go_platform_core.telemetry.success_ratio` for what empty and NaN mean)."""
    selector = f'service="{traefik_service}"'
    # The share first, then the percent: (100 * ok) / all rounds a perfect canary to
    # 99.99999999999999, below a successRate of 100; ok / all is exactly 1 there.
    return f"100 * ({success_ratio(selector, window)})"


def latency_p99_query(traefik_service: str, window: str) -> str:
    """p99 response time of one Traefik service over `window`, in milliseconds."""
    selector = f'service="{traefik_service}"'
    return f"1000 * {latency_quantile(selector, 0.99, window)}"


def instant_value(document: Mapping[str, Any]) -> float | None:
    """The single value of an instant query's answer; None when the answer is empty.

    A vector with several series is an error: the analysis queries aggregate to one.
    """
    if not isinstance(document, Mapping):
        raise PrometheusError("the answer is not a Prometheus API document")
    if document.get("status") != "success":
        raise PrometheusError(f"query failed: {document.get('error', 'unknown error')}")
    data = document.get("data") or {}
    try:
        result = data.get("result")
        if data.get("resultType") == "scalar":
            return float(result[1])
        if not result:
            return None
        if len(result) > 1:
            raise PrometheusError(f"query returned {len(result)} series where one was expected")
        return float(result[0]["value"][1])
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        raise PrometheusError("the answer is not an instant query's vector or scalar") from None


def is_number(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


class Prometheus:
    """A Prometheus server's HTTP API (`/api/v1/query`)."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.shown = hide_url_credentials(self.base_url)
        """The URL as messages show it."""
        self.timeout = timeout

    def query(self, promql: str) -> float | None:
        """Evaluate `promql` now; its single value, or None when it has none."""
        body = urllib.parse.urlencode({"query": promql}).encode()
        try:
            request = urllib.request.Request(
                f"{self.base_url}/api/v1/query",
                data=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                document = json.loads(answer.read())
        except urllib.error.HTTPError as error:
            try:
                detail = json.loads(error.read()).get("error", error.reason)
            except (json.JSONDecodeError, AttributeError):
                detail = error.reason
            raise PrometheusError(f"{self.shown} answered {error.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise PrometheusError(f"cannot reach {self.shown}: {reason}") from None
        except json.JSONDecodeError:
            raise PrometheusError(f"{self.shown} did not answer with JSON") from None
        except (ValueError, http.client.HTTPException) as error:
            # A URL urllib cannot use, or a broken HTTP exchange.
            raise PrometheusError(
                f"cannot query {self.shown}: {error.__class__.__name__}"
            ) from None
        return instant_value(document)
