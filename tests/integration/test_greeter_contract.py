"""The Go service contract, end to end: GoServiceStack's pod spec run against the real greeter.

Invariants guarded:
- the greeter starts with exactly the environment GoServiceStack gives its container
  (GOMEMLIMIT, SHUTDOWN_*, OTEL_* with `$(POD_NAME)` expanded as the kubelet does);
- the probe paths and ports the Deployment declares answer as Kubernetes expects;
- every Go runtime and process metric the service dashboard queries is exposed on
  the port the ServiceMonitor scrapes;
- SIGTERM fails readiness, then exits 0 within the grace period the pod spec gives.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from components.go_service import GoServiceStack, GoServiceStackArgs, ObservabilityBinding
from go_platform_core.config import load_settings
from go_platform_core.telemetry import service_dashboard, traefik_service
from tests.conftest import REPO, run_under_mocks, service_config, stack_config
from tests.loopback import free_port
from tests.test_telemetry import dashboard_exprs, metric_names

GREETER = REPO / "services" / "greeter"


@pytest.fixture(scope="module")
def greeter_binary(tmp_path_factory):
    out = tmp_path_factory.mktemp("greeter") / "greeter"
    # The build settings of the greeter's `go vet` (its own `make test`), so the two share
    # compiled packages: with -trimpath a cold build cache compiled every one of them twice.
    subprocess.run(["go", "build", "-o", str(out), "."], cwd=GREETER, check=True, timeout=600)
    return out


@pytest.fixture(scope="module")
def pod_spec():
    config = stack_config(services=[service_config(env={"LOG_LEVEL": "debug"})])
    spec = load_settings(config, stack="local").services[0]

    def program():
        GoServiceStack(
            "greeter",
            GoServiceStackArgs(
                service=spec,
                namespace="apps",
                environment="local",
                observability=ObservabilityBinding(
                    namespace="monitoring", otlp_endpoint="http://127.0.0.1:4317"
                ),
            ),
        )

    recording = run_under_mocks(program, stack="local", config=config)
    return recording.one("Deployment").inputs["spec"]["template"]["spec"], recording.one(
        "ConfigMap", name="greeter-env"
    ).inputs["data"]


def container_env(pod, config_map, ports) -> dict[str, str]:
    """The container's environment as the kubelet builds it (envFrom, then env, `$(VAR)`)."""
    env = dict(config_map)
    for entry in pod["containers"][0]["env"]:
        if "valueFrom" in entry:
            env[entry["name"]] = "greeter-7d9f-abcde"  # metadata.name
            continue
        value = entry["value"]
        for name, known in env.items():
            value = value.replace(f"$({name})", known)
        env[entry["name"]] = value
    env["PORT"], env["ADMIN_PORT"] = str(ports["http"]), str(ports["admin"])
    return env


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_until(predicate, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_greeter_runs_as_go_service_stack_deploys_it(greeter_binary, pod_spec):
    pod, config_map = pod_spec
    container = pod["containers"][0]
    ports = {"http": free_port(), "admin": free_port()}
    env = container_env(pod, config_map, ports)
    assert "$(" not in env["OTEL_RESOURCE_ATTRIBUTES"]
    # Shorter than the pod spec's, yet long enough to see readiness fail on a loaded machine.
    env["SHUTDOWN_DELAY"] = "3s"
    process = subprocess.Popen(
        [str(greeter_binary)],
        env={"PATH": os.environ["PATH"], **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def probe(name):
            http_get = container[name]["httpGet"]
            return get(f"http://127.0.0.1:{ports[http_get['port']]}{http_get['path']}")

        wait_until(lambda: probe("readinessProbe")[0] == 200)
        assert probe("livenessProbe")[0] == 200
        assert probe("startupProbe")[0] == 200
        assert get(f"http://127.0.0.1:{ports['http']}/v1/greetings/platform")[0] == 200

        monitor_port = ports["admin"]  # the ServiceMonitor scrapes the admin port
        status, metrics = get(f"http://127.0.0.1:{monitor_port}/metrics")
        assert status == 200
        exposed = {
            line.split("{")[0].split(" ")[0]
            for line in metrics.splitlines()
            if line and not line.startswith("#")
        }
        wanted = set()
        traffic = (traefik_service("apps", "greeter"),)  # every panel, the gateway's too
        for expr in dashboard_exprs(service_dashboard("greeter", "apps", traffic)):
            wanted |= {name for name in metric_names(expr) if not name.startswith("traefik_")}
        missing = {
            name for name in wanted if not any(e == name or e.startswith(name) for e in exposed)
        }
        assert not missing, f"dashboard queries metrics the service does not expose: {missing}"

        process.send_signal(signal.SIGTERM)
        wait_until(lambda: probe("readinessProbe")[0] == 503, timeout=3)  # the SHUTDOWN_DELAY
        code = process.wait(timeout=pod["terminationGracePeriodSeconds"])
        assert code == 0, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
