"""`tools/stack_summary.py`, what `make up` prints after the update and `make credentials`.

Invariants guarded:
- the summary names every service's route, in-cluster URL and image, a canary's weight and
  how to promote it (with the Prometheus URL the driver needs when the stack runs none),
  the platform's URLs and users, how to show the credentials, and what to run next; never a
  credential;
- for a stack on the embedded cluster it suggests the kubectl built with the cluster, with
  the cluster's kubeconfig; for any other stack, no kubectl line;
- `--credentials` prints the generated passwords when the outputs carry them, and refuses,
  in one line, outputs whose secrets are masked.
"""

from __future__ import annotations

import io
import json
import sys
from typing import Any

import pytest

from tools import stack_summary

OUTPUTS: dict[str, Any] = {
    "environment": "local",
    "namespace": "apps",
    "services": {
        "greeter": {
            "route": "https://greeter.go-platform.localhost",
            "url": "http://greeter.apps.svc.cluster.local:8080",
            "image": "ghcr.io/go-platform/greeter:0.1.0",
            "canary": {
                "image": "ghcr.io/go-platform/greeter:0.2.0",
                "weight": 10,
                "traefikService": "greeter-weighted",
            },
        }
    },
    "gateway": {
        "dashboardUrl": "https://traefik.go-platform.localhost/dashboard/",
        "dashboardUser": "admin",
        "dashboardPassword": "dashboard-secret-value",
    },
    "moduleProxy": {
        "externalUrl": "https://goproxy.go-platform.localhost",
        "user": "go",
        "password": "proxy-secret-value",
    },
    "observability": {},
}

SECRETS = ("dashboard-secret-value", "proxy-secret-value")


def masked(outputs: dict[str, Any]) -> dict[str, Any]:
    """The outputs as `pulumi stack output --json` prints them without --show-secrets."""
    copy = json.loads(json.dumps(outputs))
    copy["gateway"]["dashboardPassword"] = stack_summary.MASKED
    copy["moduleProxy"]["password"] = stack_summary.MASKED
    return copy


def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], outputs: Any, *args: str
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(outputs)))
    code = stack_summary.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_summary_says_where_everything_is_and_what_next(monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, masked(OUTPUTS), "--stack", "dev")

    assert code == 0
    assert "stack dev is up (local environment)" in out
    assert "greeter        https://greeter.go-platform.localhost" in out
    assert (
        "http://greeter.apps.svc.cluster.local:8080  image ghcr.io/go-platform/greeter:0.1.0" in out
    )
    assert (
        "canary ghcr.io/go-platform/greeter:0.2.0 at 10% (TraefikService greeter-weighted)" in out
    )
    assert "its steps: venv/bin/go-platform canary plan --stack dev --service greeter" in out
    assert (
        "promote: venv/bin/go-platform canary promote --stack dev --service greeter"
        " --prometheus-url URL (the stack runs no Prometheus to judge the canary by)"
    ) in out
    assert "https://traefik.go-platform.localhost/dashboard/ (user admin)" in out
    assert "https://goproxy.go-platform.localhost (user go)" in out
    assert "make credentials STACK=dev" in out
    assert "make down STACK=dev" in out
    assert "kubectl" not in out  # not on the embedded cluster
    assert stack_summary.MASKED not in out


def test_a_stack_with_prometheus_is_promoted_against_it(monkeypatch, capsys):
    outputs = masked(OUTPUTS)
    outputs["observability"] = {"prometheusUrl": "http://prometheus.monitoring.svc:9090"}

    code, out, _ = run(monkeypatch, capsys, outputs, "--stack", "dev")

    assert code == 0
    promote = [line.strip() for line in out.splitlines() if "canary promote" in line]
    assert promote == ["promote: venv/bin/go-platform canary promote --stack dev --service greeter"]
    assert "canary plan" not in out


def test_the_embedded_clusters_stack_suggests_its_own_kubectl(monkeypatch, capsys):
    code, out, _ = run(
        monkeypatch,
        capsys,
        masked(OUTPUTS),
        "--stack",
        "local",
        "--kubeconfig",
        "/repo/.state/cluster/kubeconfig",
        "--kubectl",
        "/repo/.state/cluster/bin/kubectl",
    )

    assert code == 0
    assert (
        "KUBECONFIG=/repo/.state/cluster/kubeconfig /repo/.state/cluster/bin/kubectl get"
        " deployments,services,traefikservices -A"
    ) in out


def test_the_summary_never_prints_a_credential(monkeypatch, capsys):
    _, out, err = run(monkeypatch, capsys, OUTPUTS, "--stack", "local")

    assert not any(secret in out + err for secret in SECRETS)


def test_credentials_are_printed_when_shown(monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, OUTPUTS, "--credentials")

    assert code == 0
    assert "dashboard      dashboard-secret-value" in out
    assert "module proxy   proxy-secret-value" in out


def test_masked_credentials_are_refused_in_one_line(monkeypatch, capsys):
    code, out, err = run(monkeypatch, capsys, masked(OUTPUTS), "--credentials")

    assert code == 1
    assert out == ""
    assert err.strip().splitlines() == [
        "stack_summary: the outputs are masked; pass --show-secrets"
    ]


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("", "no stack outputs on standard input"),
        ("\n", "no stack outputs on standard input"),
        ("{", "standard input is not JSON: Expecting property name enclosed in double quotes"),
        ("[]", "standard input is not a stack's outputs (a JSON object)"),
        ("null", "standard input is not a stack's outputs (a JSON object)"),
    ],
)
@pytest.mark.parametrize("args", [[], ["--credentials"]])
def test_no_outputs_is_one_line(monkeypatch, capsys, given, says, args):
    monkeypatch.setattr(sys, "stdin", io.StringIO(given))
    code = stack_summary.main(args)
    out, err = capsys.readouterr()

    assert code == 1
    assert out == ""
    [line] = err.splitlines()
    assert line.startswith(f"stack_summary: {says}")
