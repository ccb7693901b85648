"""Canary analysis against a real Prometheus (Debian's `prometheus`, started on 127.0.0.1
with a temporary config and data directory) scraping, every second, a small exporter on
127.0.0.1 that serves Traefik-style request counters and latency histograms the test
controls. The deployment side is a recording `Deployer` (the driver's own interface);
`test_driver_engine.py` runs the same promotion through the real engine.

Invariants guarded:
- the driver's PromQL reads Traefik's metrics as Prometheus stores them: success rate
  from `traefik_service_requests_total` by code, p99 from the duration histogram;
- a healthy canary is promoted through every step of its plan, one analysis per step;
- a canary answering 5xx (or answering slowly) is held, then rolled back to weight 0
  after `threshold` failed checks, and each check says why it failed;
- a canary with no metric at all fails its checks ("no data") and is rolled back: a
  missing metric is never a pass;
- an unreachable Prometheus fails the check with the reason, it does not pass it.
"""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from go_platform.canary import CanaryState, Promotion, SystemClock
from go_platform.driver import PrometheusMetrics
from go_platform.prometheus import Prometheus, latency_p99_query, success_rate_query
from go_platform_core.kube import workload_name
from go_platform_core.telemetry import traefik_service
from tests.conftest import canary_service_settings
from tests.loopback import free_port

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
NAMESPACE = "apps"
CANARY = traefik_service(NAMESPACE, workload_name("greeter", "canary"))
STABLE = traefik_service(NAMESPACE, workload_name("greeter", "stable"))
BUCKETS = ("0.1", "0.3", "1.2", "5", "+Inf")
START_TIMEOUT = 60.0

pytestmark = pytest.mark.skipif(
    not Path(PROMETHEUS).is_file(),
    reason="prometheus is not installed (`apt-get install prometheus`, or `make system-deps`)",
)


# --- the exporter --------------------------------------------------------------------


@dataclass
class Behaviour:
    """Requests a Traefik service answers per tick (10 ticks a second)."""

    ok: int = 20
    errors: int = 0
    seconds: float = 0.05
    """Latency of every request."""


@dataclass
class TraefikExporter:
    """Serves `/metrics` as Traefik would for the services in `behaviours`."""

    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    buckets: dict[tuple[str, str], int] = field(default_factory=dict)
    sums: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def tick(self) -> None:
        with self.lock:
            for service, behaviour in self.behaviours.items():
                for code, number in (("200", behaviour.ok), ("500", behaviour.errors)):
                    if number:
                        self.counts[service, code] = self.counts.get((service, code), 0) + number
                total = behaviour.ok + behaviour.errors
                for bound in BUCKETS:
                    if bound == "+Inf" or behaviour.seconds <= float(bound):
                        self.buckets[service, bound] = self.buckets.get((service, bound), 0) + total
                    else:
                        self.buckets.setdefault((service, bound), 0)
                self.sums[service] = self.sums.get(service, 0.0) + total * behaviour.seconds

    def render(self) -> str:
        labels = 'method="GET",protocol="http",service="{}"'
        lines = ["# TYPE traefik_service_requests_total counter"]
        with self.lock:
            for (service, code), number in sorted(self.counts.items()):
                lines.append(
                    f'traefik_service_requests_total{{code="{code}",{labels.format(service)}}} {number}'
                )
            lines.append("# TYPE traefik_service_request_duration_seconds histogram")
            for service in sorted(self.sums):
                for bound in BUCKETS:
                    lines.append(
                        f'traefik_service_request_duration_seconds_bucket{{code="200",'
                        f'{labels.format(service)},le="{bound}"}} {self.buckets[service, bound]}'
                    )
                lines.append(
                    f'traefik_service_request_duration_seconds_sum{{code="200",{labels.format(service)}}} '
                    f"{self.sums[service]}"
                )
                lines.append(
                    f'traefik_service_request_duration_seconds_count{{code="200",{labels.format(service)}}} '
                    f"{self.buckets[service, '+Inf']}"
                )
        return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def exporter() -> Iterator[tuple[TraefikExporter, int]]:
    metrics = TraefikExporter()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = metrics.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stop = threading.Event()

    def traffic() -> None:
        while not stop.wait(0.1):
            metrics.tick()

    threads = [
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True),
        threading.Thread(target=traffic, daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        yield metrics, server.server_address[1]
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def prometheus(exporter, tmp_path_factory) -> Iterator[str]:
    """A Prometheus on 127.0.0.1 scraping the exporter every second; its base URL."""
    _, exporter_port = exporter
    root = tmp_path_factory.mktemp("prometheus")
    config = root / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: traefik\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{exporter_port}']\n"
    )
    port = free_port()
    log = (root / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_scraping(url, process, root / "prometheus.log")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def wait_until_scraping(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    client = Prometheus(url, timeout=2)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prometheus exited {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as answer:
                if answer.status == 200 and client.query('up{job="traefik"}') == 1.0:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"prometheus did not scrape the exporter within {START_TIMEOUT:.0f}s")


# --- the promotion -------------------------------------------------------------------


@dataclass
class RecordingDeployer:
    deployed: list[tuple[str, object]] = field(default_factory=list)
    saved: list[CanaryState] = field(default_factory=list)

    def deploy_weight(self, weight: int, state: CanaryState) -> None:
        self.deployed.append(("weight", weight))
        self.saved.append(state)

    def deploy_promotion(self, state: CanaryState) -> None:
        self.deployed.append(("promote", state.canary_image))
        self.saved.append(state)

    def save(self, state: CanaryState) -> None:
        self.saved.append(state)


def greeter(**canary):
    """The promoted service: a fast interval, so the real Prometheus sees several scrapes."""
    return canary_service_settings(
        **{"image": "ghcr.io/acme/greeter:v2.0.0", "interval": "3s", **canary}
    )


def promote(service, url: str, label: str = CANARY) -> tuple[Promotion, CanaryState]:
    run = Promotion(
        service=service,
        deployer=RecordingDeployer(),
        # This Prometheus scrapes every second (below), not every 30 s as Traefik's.
        metrics=PrometheusMetrics(Prometheus(url), label, scrape_seconds=1),
        clock=SystemClock(),
    )
    return run, run.run(run.start(None))


def serving(exporter, behaviour: Behaviour | None, settle: float = 3.5) -> None:
    """Make the canary behave so; wait until a full analysis window reflects it."""
    metrics, _ = exporter
    with metrics.lock:
        metrics.behaviours[STABLE] = Behaviour()
        if behaviour is None:
            metrics.behaviours.pop(CANARY, None)
        else:
            metrics.behaviours[CANARY] = behaviour
    time.sleep(settle)


def test_queries_read_traefik_metrics_as_prometheus_stores_them(exporter, prometheus):
    serving(exporter, Behaviour(ok=19, errors=1, seconds=0.2))
    client = Prometheus(prometheus)

    rate = client.query(success_rate_query(CANARY, "3s"))
    p99 = client.query(latency_p99_query(CANARY, "3s"))

    assert rate == pytest.approx(95.0, abs=0.5)
    # 0.2 s falls in Traefik's (0.1, 0.3] bucket: p99 interpolates to just under 300 ms.
    assert 250 < p99 <= 300
    assert client.query(success_rate_query("apps-nothing-http@kubernetescrd", "3s")) is None


def test_a_healthy_canary_is_promoted_through_every_step(exporter, prometheus):
    serving(exporter, Behaviour(ok=20, seconds=0.05))

    run, final = promote(greeter(), prometheus)

    assert run.deployer.deployed == [
        ("weight", 10),
        ("weight", 25),
        ("weight", 50),
        ("promote", "ghcr.io/acme/greeter:v2.0.0"),
        ("weight", 0),
    ]
    assert final.phase == "promoted"
    assert [(c.step, c.passed, c.decision) for c in run.checks] == [
        (1, True, "advance"),
        (2, True, "advance"),
        (3, True, "promote"),
    ]
    assert all(c.success_rate == pytest.approx(100.0) for c in run.checks)
    assert all(c.latency_p99_ms < 100 for c in run.checks)


def test_a_failing_canary_is_rolled_back_after_threshold_failed_checks(exporter, prometheus):
    serving(exporter, Behaviour(ok=15, errors=5, seconds=0.05))

    run, final = promote(greeter(threshold=2), prometheus)

    assert final.phase == "rolled-back"
    assert run.deployer.deployed == [("weight", 10), ("weight", 0)]
    assert [(c.passed, c.decision, c.failed_checks) for c in run.checks] == [
        (False, "hold", 1),
        (False, "rollback", 2),
    ]
    assert run.checks[0].success_rate == pytest.approx(75.0, abs=1.0)
    assert run.checks[0].reasons[0].startswith("success rate 7")
    assert run.checks[0].reasons[0].endswith("% is below 99%")


def test_a_slow_canary_is_rolled_back_on_latency(exporter, prometheus):
    serving(exporter, Behaviour(ok=20, seconds=0.8))

    run, final = promote(greeter(threshold=1), prometheus)

    assert final.phase == "rolled-back"
    check = run.checks[0]
    assert check.success_rate == pytest.approx(100.0)
    assert check.latency_p99_ms > 500
    assert check.reasons == (f"p99 latency {check.latency_p99_ms:.0f}ms is above 500ms",)


def test_a_missing_metric_is_a_failed_check(exporter, prometheus):
    serving(exporter, None, settle=0)
    unseen = traefik_service(NAMESPACE, "never-deployed-canary")

    run, final = promote(greeter(threshold=2), prometheus, label=unseen)

    assert final.phase == "rolled-back"
    assert [c.passed for c in run.checks] == [False, False]
    assert run.checks[0].success_rate is None
    assert run.checks[0].reasons == (
        "success rate: no data (the canary's request metric is missing)",
        "p99 latency: no data (the canary's latency metric is missing)",
    )


def test_an_unreachable_prometheus_fails_the_check():
    closed = f"http://127.0.0.1:{free_port()}"

    run, final = promote(greeter(threshold=1, interval="1s"), closed)

    assert final.phase == "rolled-back"
    check = run.checks[0]
    assert (check.passed, check.failed_checks, check.success_rate) == (False, 1, None)
    assert check.reasons[0].startswith(f"success rate: cannot reach {closed}")
    assert check.reasons[1].startswith(f"p99 latency: cannot reach {closed}")
