#!/usr/bin/env python3
"""What a person wants after `make up`: where things are, how to get the credentials, what next.

Reads `pulumi stack output --json` on standard input (secrets masked, or shown with
`--credentials`) and prints a short summary:

    pulumi stack output --json --stack local | python3 tools/stack_summary.py --stack local
    pulumi stack output --json --show-secrets --stack local | python3 tools/stack_summary.py --credentials

Standard library only: it runs before and outside the virtualenv.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from typing import Any

MASKED = "[secret]"


def _line(label: str, value: object) -> str:
    return f"  {label:<14} {value}"


def services(outputs: Mapping[str, Any], stack: str) -> Iterator[str]:
    # A promotion reads the canary's health from Prometheus: the stack's own, else one the
    # person names (the local stack runs none).
    prometheus = (outputs.get("observability") or {}).get("prometheusUrl")
    for name, service in sorted((outputs.get("services") or {}).items()):
        yield _line(name, service.get("route") or "(no route)")
        yield _line("", f"in the cluster: {service.get('url')}  image {service.get('image')}")
        canary = service.get("canary")
        if canary:
            yield _line(
                "",
                f"canary {canary.get('image')} at {canary.get('weight')}%"
                f" (TraefikService {canary.get('traefikService')})",
            )
            command = f"venv/bin/go-platform canary {{}} --stack {stack} --service {name}"
            if prometheus:
                yield _line("", f"promote: {command.format('promote')}")
            else:
                yield _line("", f"its steps: {command.format('plan')}")
                yield _line(
                    "",
                    f"promote: {command.format('promote')} --prometheus-url URL"
                    " (the stack runs no Prometheus to judge the canary by)",
                )


def platform(outputs: Mapping[str, Any]) -> Iterator[str]:
    gateway = outputs.get("gateway") or {}
    if gateway.get("dashboardUrl"):
        yield _line("dashboard", f"{gateway['dashboardUrl']} (user {gateway.get('dashboardUser')})")
    proxy = outputs.get("moduleProxy") or {}
    if proxy.get("externalUrl"):
        yield _line("module proxy", f"{proxy['externalUrl']} (user {proxy.get('user')})")
    observability = outputs.get("observability") or {}
    if observability.get("grafanaUrl"):
        yield _line(
            "grafana", f"{observability['grafanaUrl']} (user {observability.get('grafanaUser')})"
        )


def credentials(outputs: Mapping[str, Any]) -> Iterator[str]:
    """Every generated credential, as `pulumi stack output --show-secrets` gave it."""
    found = {
        "dashboard": (outputs.get("gateway") or {}).get("dashboardPassword"),
        "module proxy": (outputs.get("moduleProxy") or {}).get("password"),
        "grafana": (outputs.get("observability") or {}).get("grafanaPassword"),
    }
    for label, value in found.items():
        if value:
            yield _line(label, value)


def summary(
    outputs: Mapping[str, Any], *, stack: str, kubeconfig: str | None, kubectl: str = "kubectl"
) -> str:
    lines = [f"go-platform: stack {stack} is up ({outputs.get('environment')} environment)."]
    lines += ["", "Services (namespace " + str(outputs.get("namespace")) + "):"]
    lines += list(services(outputs, stack)) or ["  (none configured)"]
    platform_lines = list(platform(outputs))
    if platform_lines:
        lines += ["", "Platform:", *platform_lines]
    lines += [
        "",
        "Generated credentials are stored encrypted in the stack; show them with",
        f"  make credentials STACK={stack}",
    ]
    if kubeconfig:
        lines += [
            "",
            "The embedded cluster runs no containers (kwok marks pods Ready), so the routes",
            "do not answer; everything the stack created is on its API server:",
            f"  KUBECONFIG={kubeconfig} {kubectl} get deployments,services,traefikservices -A",
        ]
    lines += [
        "",
        f"Next: make status STACK={stack} | make preview STACK={stack} | make down STACK={stack}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="local")
    parser.add_argument(
        "--kubeconfig", help="the embedded cluster's kubeconfig, if the stack uses it"
    )
    parser.add_argument(
        "--kubectl",
        default="kubectl",
        help="the kubectl to suggest with the kubeconfig (the one built with the cluster)",
    )
    parser.add_argument(
        "--credentials", action="store_true", help="print the generated credentials"
    )
    args = parser.parse_args(argv)
    text = sys.stdin.read()
    if not text.strip():
        print("stack_summary: no stack outputs on standard input", file=sys.stderr)
        return 1
    try:
        outputs = json.loads(text)
    except json.JSONDecodeError as error:
        print(f"stack_summary: standard input is not JSON: {error}", file=sys.stderr)
        return 1
    if not isinstance(outputs, dict):
        print(
            "stack_summary: standard input is not a stack's outputs (a JSON object), "
            "as `pulumi stack output --json` prints them",
            file=sys.stderr,
        )
        return 1
    if args.credentials:
        lines = list(credentials(outputs))
        if any(MASKED in line for line in lines):
            print("stack_summary: the outputs are masked; pass --show-secrets", file=sys.stderr)
            return 1
        print("\n".join(lines) if lines else "no generated credentials in this stack")
        return 0
    print(summary(outputs, stack=args.stack, kubeconfig=args.kubeconfig, kubectl=args.kubectl))
    return 0


if __name__ == "__main__":
    sys.exit(main())
