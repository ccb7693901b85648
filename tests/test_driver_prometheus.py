"""The canary's Prometheus queries and how their answers are read.

Invariants guarded:
- the success rate counts non-5xx responses of exactly the canary's Traefik service and
  still answers when it never returned a 5xx (`or vector(0)`); the p99 reads the duration
  histogram of the same service, in milliseconds; a canary that answered nothing but
  successes measures exactly 100 (promtool evaluates the query), so a successRate of 100
  admits it;
- an answer with one value gives it, an empty one gives None (no data), a scalar gives
  its value; several series, an error status or a document of another shape are
  PrometheusErrors (a failed check), never a number and never another exception;
- an analysis looks back over at least four of Traefik's scrapes, whatever the interval;
- a base URL is http(s) with a host, an optional port and path, and nothing else; what is
  wrong with one is said without quoting it; a server that cannot be reached is a
  PrometheusError whose message never shows credentials.
"""

from __future__ import annotations

import math
import shutil
import subprocess

import pytest
import yaml

from go_platform.driver import PrometheusMetrics
from go_platform.prometheus import (
    Prometheus,
    PrometheusError,
    instant_value,
    latency_p99_query,
    success_rate_query,
    url_problem,
)

SERVICE = "apps-greeter-canary-http@kubernetescrd"


def test_success_rate_query():
    query = success_rate_query(SERVICE, "1m")

    assert query == (
        '100 * ((sum(rate(traefik_service_requests_total{service="apps-greeter-canary-http@kubernetescrd",'
        'code!~"5.."}[1m])) or vector(0)) / sum(rate(traefik_service_requests_total'
        '{service="apps-greeter-canary-http@kubernetescrd"}[1m])))'
    )


@pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool not installed: run `make system-deps` (Debian package `prometheus`)",
)
def test_a_canary_with_only_successes_measures_exactly_100(tmp_path):
    # Scraped every 30 s, 10 requests each time, all 200. `== bool` is exact: the query
    # written as (100 * ok) / all came out as 99.99999999999999 here, which a successRate
    # of 100 refuses.
    spec = {
        "rule_files": [],
        "evaluation_interval": "30s",
        "tests": [
            {
                "interval": "30s",
                "input_series": [
                    {
                        "series": f'traefik_service_requests_total{{service="{SERVICE}",code="200"}}',
                        "values": "0+10x20",
                    }
                ],
                "promql_expr_test": [
                    {
                        "expr": f"({success_rate_query(SERVICE, '1m')}) == bool 100",
                        "eval_time": "5m10s",
                        "exp_samples": [{"labels": "{}", "value": 1}],
                    }
                ],
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(spec))
    result = subprocess.run(
        ["promtool", "test", "rules", "test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


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


@pytest.mark.parametrize(
    "document",
    [
        [],
        "success",
        {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}}]}},
        {"status": "success", "data": {"resultType": "vector", "result": [{"value": [1]}]}},
        {"status": "success", "data": {"resultType": "vector", "result": [{"value": [1, "x"]}]}},
        {"status": "success", "data": {"resultType": "scalar", "result": None}},
        {"status": "success", "data": {"resultType": "vector", "result": "nope"}},
        {"status": "success", "data": ["not", "a", "mapping"]},
    ],
)
def test_answers_of_another_shape_are_prometheus_errors(document):
    with pytest.raises(PrometheusError):
        instant_value(document)


@pytest.mark.parametrize(
    "url",
    [
        "http://prometheus.monitoring:9090",
        "https://prometheus.example.com",
        "http://127.0.0.1:9090/",
        "http://[::1]:9090",
        "https://metrics.example.com/prometheus",
    ],
)
def test_prometheus_base_urls(url):
    assert url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not-a-url", "is not an http:// or https:// URL"),
        ("", "is not an http:// or https:// URL"),
        ("prometheus:9090", "is not an http:// or https:// URL"),
        ("ftp://prometheus:9090", "is not an http:// or https:// URL"),
        ("http://", "names no valid host"),
        ("http://:9090", "names no valid host"),
        ("http://prom etheus:9090", "names no valid host"),
        ("http://[::1:9090", "is not a URL"),
        ("http://prometheus:port", "has a port that is not a number from 1 to 65535"),
        ("http://prometheus:99999", "has a port that is not a number from 1 to 65535"),
        ("http://prometheus:0", "has a port that is not a number from 1 to 65535"),
        ("http://prometheus:9090/?query=up", "has a query or fragment"),
        ("http://prometheus:9090/#graph", "has a query or fragment"),
        ("http://admin:hunter2@prometheus:9090", "holds credentials"),
    ],
)
def test_what_is_wrong_with_a_prometheus_url_is_said_without_quoting_it(url, says):
    problem = url_problem(url)

    assert problem is not None
    assert problem.startswith(says)
    assert repr(url) not in problem
    assert "hunter2" not in problem


def test_an_unreachable_server_is_a_prometheus_error_without_credentials():
    with pytest.raises(PrometheusError, match="cannot reach http://") as raised:
        Prometheus("http://admin:hunter2@127.0.0.1:9", timeout=2).query("up")

    assert "hunter2" not in str(raised.value)


class Recorded:
    """A Prometheus that answers every query with 100 and remembers the queries."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def query(self, query: str) -> float:
        self.queries.append(query)
        return 100.0


@pytest.mark.parametrize(
    ("interval", "window"),
    [(30, "[2m]"), (60, "[2m]"), (120, "[2m]"), (300, "[5m]")],
    ids=["30s", "1m", "2m", "5m"],
)
def test_an_analysis_looks_back_over_four_scrapes_at_least(interval, window):
    # Traefik is scraped every 30 s: a window of one or two scrapes is empty or rests on a
    # single pair of samples, so a short step interval still looks back two minutes.
    prometheus = Recorded()
    PrometheusMetrics(prometheus, SERVICE).measure(interval)
    assert len(prometheus.queries) == 2
    assert all(window in query for query in prometheus.queries), prometheus.queries
