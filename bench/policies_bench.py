"""What the policy pack costs: evaluation per resource, stack checks, gRPC, start-up.

    venv/bin/python bench/policies_bench.py            # a table
    venv/bin/python bench/policies_bench.py --json     # the same figures, for tooling

Measured on the resources the program registers for every stack (the mocks recorder of
the unit tests) plus the fixture workloads of the policy tests, with each stack
environment's committed config:

- resource policies: every resource policy of the pack run on one resource, as the
  analyzer does per registration; signature fetches are excluded (the verifier's cache
  is warmed first, as it is after the first sight of an image in a run); target < 1 ms;
- stack policies: all stack policies over one whole stack;
- gRPC `Analyze` round trip to a running pack (what the engine pays per resource);
- pack start-up: `python -m pulumi.policy` until the port is printed and the first
  `GetAnalyzerInfo` is answered (what every `pulumi preview` pays once).
"""

from __future__ import annotations

import argparse
import json
import runpy
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for entry in (str(REPO), str(REPO / "policies")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from arguments import count, run  # noqa: E402
from google.protobuf import empty_pb2  # noqa: E402
from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy  # noqa: E402

from go_platform_policies import POLICIES  # noqa: E402
from go_platform_policies.core import Workload  # noqa: E402
from go_platform_policies.images import image_signature_policy  # noqa: E402
from go_platform_policies.pack_config import config_path, load_config  # noqa: E402
from tests.conftest import STACK_FILES, run_under_mocks, stack_file_config  # noqa: E402
from tests.fake_registry import KEY, public_pem, verifier_for  # noqa: E402
from tests.integration.test_policy_analyzer import analyze_request, serve  # noqa: E402
from tests.policy_fixtures import Resource, check_resource, check_stack  # noqa: E402
from tests.test_policies_pod_security import CASES as POD_CASES  # noqa: E402
from tests.test_policies_program import (  # noqa: E402
    environment,
    level_and_settings,
    signed_registry,
    stack_name,
)
from tests.test_policies_workloads import CASES as WORKLOAD_CASES  # noqa: E402


def timed(action: Callable[[], Any], repeat: int) -> list[float]:
    """Seconds per call of `action`, `repeat` times."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return samples


def summary(samples: Sequence[float], unit: float) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "mean": statistics.fmean(ordered) / unit,
        "median": ordered[len(ordered) // 2] / unit,
        "p95": ordered[int(len(ordered) * 0.95)] / unit,
        "max": ordered[-1] / unit,
    }


def stacks() -> list[tuple[str, list[Resource]]]:
    found = []
    for stack_file in STACK_FILES:
        name = stack_name(stack_file)
        recording = run_under_mocks(
            lambda: runpy.run_path(str(REPO / "__main__.py"), run_name="__main__"),
            stack=name,
            config=stack_file_config(stack_file),
        )
        found.append((name, [Resource(r.type, r.inputs, r.name) for r in recording.resources]))
    return found


def policies_for(name: str, resources: list[Resource]) -> list[tuple[Any, dict[str, Any]]]:
    """Every policy with the settings of the stack's environment; signatures from a warm
    in-memory registry, so no fetch is timed."""
    config = load_config(config_path(environment(name)))
    chosen = []
    for policy in POLICIES:
        _, settings = level_and_settings(config.get(policy.name, "advisory"))
        if policy.name == "image-signature-verified":
            policy = image_signature_policy(verifier_for(signed_registry(resources)))
            settings = {**settings, "publicKeys": [public_pem(KEY)]}
        chosen.append((policy, settings))
    return chosen


def time_resources(
    resources: Sequence[Resource],
    policies: Sequence[tuple[ResourceValidationPolicy, dict[str, Any]]],
    repeat: int,
) -> tuple[list[float], list[float]]:
    """Seconds per evaluation of every policy on one resource: (workloads, other)."""
    workloads: list[float] = []
    other: list[float] = []
    for resource in resources:

        def evaluate(resource: Resource = resource) -> None:
            for policy, settings in policies:
                check_resource(policy, resource, settings)

        evaluate()  # warm: settings parsed, signatures cached
        is_workload = Workload.of(resource.type, resource.props) is not None
        (workloads if is_workload else other).extend(timed(evaluate, repeat))
    return workloads, other


def bench_resources(repeat: int) -> dict[str, Any]:
    workload_samples: list[float] = []
    other_samples: list[float] = []
    stack_samples: list[float] = []
    fixtures = [c.resources[0] for c in [*WORKLOAD_CASES, *POD_CASES] if len(c.resources) == 1]
    # The fixtures once (with prod's settings), then each stack with its own.
    sampled = [("prod", fixtures, False)] + [(name, found, True) for name, found in stacks()]
    for name, resources, is_stack in sampled:
        chosen = policies_for(name, resources)
        resource_policies = [(p, s) for p, s in chosen if isinstance(p, ResourceValidationPolicy)]
        stack_policies = [(p, s) for p, s in chosen if isinstance(p, StackValidationPolicy)]
        workloads, other = time_resources(resources, resource_policies, repeat)
        workload_samples += workloads
        other_samples += other
        if not is_stack:
            continue

        def evaluate_stack(
            resources: list[Resource] = resources,
            stack_policies: list[tuple[Any, dict[str, Any]]] = stack_policies,
        ) -> None:
            for policy, settings in stack_policies:
                check_stack(policy, resources, settings)

        evaluate_stack()
        stack_samples.extend(timed(evaluate_stack, repeat))
    return {
        "resource_policies": sum(isinstance(p, ResourceValidationPolicy) for p in POLICIES),
        "stack_policies": sum(isinstance(p, StackValidationPolicy) for p in POLICIES),
        "workload_resources": len(workload_samples) // repeat,
        "other_resources": len(other_samples) // repeat,
        "per_workload_ms": summary(workload_samples, 1e-3),
        "per_other_resource_ms": summary(other_samples, 1e-3),
        "per_stack_all_stack_policies_ms": summary(stack_samples, 1e-3),
    }


def bench_grpc(repeat: int) -> dict[str, Any]:
    pack = serve("prod")
    try:
        workload = WORKLOAD_CASES[0].resources[0]
        request = analyze_request(workload)
        pack.stub.Analyze(request)
        samples = timed(lambda: pack.stub.Analyze(request), repeat)
    finally:
        pack.stop()
    return {"analyze_round_trip_ms": summary(samples, 1e-3)}


def bench_startup(repeat: int) -> dict[str, Any]:
    to_port, to_info = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        pack = serve("prod")
        to_port.append(time.perf_counter() - start)
        pack.stub.GetAnalyzerInfo(empty_pb2.Empty())
        to_info.append(time.perf_counter() - start)
        pack.stop()
    return {
        "startup_to_port_s": summary(to_port, 1.0),
        "startup_to_first_answer_s": summary(to_info, 1.0),
    }


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--repeat", type=count, default=200, help="runs per resource")
    parser.add_argument("--startups", type=count, default=5, help="pack start-ups to time")
    args = parser.parse_args(argv)

    results = {
        **bench_resources(args.repeat),
        **bench_grpc(args.repeat),
        **bench_startup(args.startups),
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(
        f"{results['resource_policies']} resource policies and {results['stack_policies']} "
        f"stack policies; {results['workload_resources']} workloads and "
        f"{results['other_resources']} other resources from "
        f"{len(STACK_FILES)} stacks and the fixtures"
    )
    for key, value in results.items():
        if isinstance(value, dict):
            unit = "s" if key.endswith("_s") else "ms"
            print(
                f"  {key:36} mean {value['mean']:8.3f} {unit}  median {value['median']:8.3f}  "
                f"p95 {value['p95']:8.3f}  max {value['max']:8.3f}"
            )
    return 0


if __name__ == "__main__":
    run(main)
