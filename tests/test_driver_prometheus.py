"""The canary's Prometheus queries and how their answers are read.

Invariants guarded:
- the success rate counts non-5xx responses of exactly the canary's Traefik service and
  still answers when it never returned a 5xx (`or vector(0)`); the p99 reads the duration
  histogram of the same service, in milliseconds;
- an answer with one value gives it, an empty one gives None (no data), a scalar gives
  its value; several series or an error status are errors, never a number.
"""

from __future__ import annotations

import math

import pytest

from go_platform.prometheus import (
    PrometheusError,
    instant_value,
    latency_p99_query,
    success_rate_query,
)

SERVICE = "apps-greeter-canary-http@kubernetescrd"


def test_success_rate_query():
    query = success_rate_query(SERVICE, "1m")

    assert query == (
        '100 * (sum(rate(traefik_service_requests_total{service="apps-greeter-canary-http@kubernetescrd",'
        'code!~"5.."}[1m])) or vector(0)) / sum(rate(traefik_service_requests_total'
        '{service="apps-greeter-canary-http@kubernetescrd"}[1m]))'
    )


def test_latency_query():
    assert latency_p99_query(SERVICE, "30s") == (
        "1000 * histogram_quantile(0.99, sum by (le) (rate(traefik_service_request_duration_"
        'seconds_bucket{service="apps-greeter-canary-http@kubernetescrd"}[30s])))'
    )


def vector(*values: str) -> dict:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": {}, "value": [1.0, v]} for v in values],
        },
    }


def test_reading_answers():
    assert instant_value(vector("99.5")) == 99.5
    assert instant_value(vector()) is None
    assert math.isnan(instant_value(vector("NaN")))
    assert (
        instant_value({"status": "success", "data": {"resultType": "scalar", "result": [1.0, "3"]}})
        == 3.0
    )


def test_bad_answers_are_errors():
    with pytest.raises(PrometheusError, match="2 series"):
        instant_value(vector("1", "2"))
    with pytest.raises(PrometheusError, match="parse error"):
        instant_value({"status": "error", "error": "parse error at char 3"})
