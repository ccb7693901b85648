"""Canary releases as values: the canary track of a service, the promotion plan that
`pulumi preview` shows and the driver follows, the header rule that overrides weights."""

from __future__ import annotations

from typing import Any

from go_platform_core.config import CanarySettings, ServiceSettings
from go_platform_core.units import format_duration, parse_duration


def canary_service(service: ServiceSettings) -> ServiceSettings:
    """The canary track of `service`: its image and replica count, no autoscaler."""
    canary = service.canary
    assert canary is not None
    return service.model_copy(
        update={
            "image": canary.image,
            "build": None,
            "replicas": canary.replicas,
            "autoscaling": None,
            "canary": None,
        }
    )


def canary_plan(canary: CanarySettings) -> dict[str, Any]:
    """The promotion plan as `pulumi preview` shows it and the driver follows it.

    At each step the canary gets `weight` percent for `interval`, then is analysed;
    `threshold` failed analyses roll it back; after the last step it is promoted.
    """
    interval = parse_duration(canary.interval)
    return {
        "currentWeight": canary.weight,
        "steps": [
            {"step": index, "weight": weight, "analysisAfter": format_duration(interval * index)}
            for index, weight in enumerate(canary.steps, start=1)
        ],
        "interval": format_duration(interval),
        "threshold": canary.threshold,
        "analysis": {
            "successRateMin": canary.analysis.success_rate,
            "latencyP99MaxMs": canary.analysis.max_latency_ms,
        },
        "minTimeToPromote": format_duration(interval * len(canary.steps)),
        "timeToRollback": format_duration(interval * canary.threshold),
    }


def header_match(route_match: str, header: str, value: str) -> str:
    return f"{route_match} && Header(`{header}`, `{value}`)"
