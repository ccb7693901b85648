"""What go-platform's Python language host costs the engine, measured side by side.

    venv/bin/python bench/language_host_bench.py            # a table
    venv/bin/python bench/language_host_bench.py --json     # the same figures, for tooling

Needs `make toolchain` (the host is found through `bootstrap.py doctor --json`).

- start-up: process start until the port line is printed (what the engine waits for before
  its first call, once per host launch; a preview launches two, an update three);
  target < 50 ms;
- GetPluginInfo round trip (the first call after every launch);
- GetRequiredPackages on this project's virtualenv: with the environment unchanged since the
  last call (the host's kept listing, checked against the paths it watches), and listed
  (the kept listing deleted first: the host's single `importlib.metadata` pass), beside
  `pip list` (what the SDK's toolchain package runs) for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from pathlib import Path

import grpc
from arguments import count, run
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import language_pb2, language_pb2_grpc

REPO = Path(__file__).resolve().parents[1]
BOOTSTRAP = REPO / "tools" / "toolchain" / "bootstrap.py"
VENV = Path(sys.prefix)
START_UP_TARGET_MS = 50.0


def host_binary() -> Path:
    report = subprocess.run(
        [sys.executable, str(BOOTSTRAP), "doctor", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    bin_dir = Path(json.loads(report.stdout)["bin_dir"])
    host = (bin_dir / "pulumi-language-python").resolve()
    if not host.is_file():
        sys.exit("the language host is not built: run `make toolchain`")
    return host


def timed(action: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def stand_in_engine() -> tuple[grpc.Server, str]:
    """A gRPC server with no services, on loopback: the host's health check of its engine
    takes any answer but "unavailable", so this keeps the host serving."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"


def start_up(host: Path, engine: str) -> float:
    """Milliseconds from spawning the host until it prints its port."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(host), engine], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    process.stdout.readline()
    elapsed = (time.perf_counter() - started) * 1000
    process.kill()
    process.wait()
    return elapsed


def summary(name: str, samples: list[float], target: float | None = None) -> dict[str, object]:
    ordered = sorted(samples)
    return {
        "measure": name,
        "runs": len(samples),
        "median_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 2),
        "target_ms": target,
    }


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--runs", type=count, default=30, help="runs of each measurement")
    args = parser.parse_args(argv)

    host = host_binary()
    engine, engine_address = stand_in_engine()
    rows = [
        summary(
            "host start-up (spawn to port)",
            [start_up(host, engine_address) for _ in range(args.runs)],
            START_UP_TARGET_MS,
        )
    ]

    cache = Path(tempfile.mkdtemp(prefix="language-host-bench-"))
    listings = cache / "go-platform" / "python-packages"
    process = subprocess.Popen(
        [str(host), engine_address],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "XDG_CACHE_HOME": str(cache)},
    )
    try:
        port = int(process.stdout.readline())
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        client = language_pb2_grpc.LanguageRuntimeStub(channel)
        options = struct_pb2.Struct()
        options.update({"virtualenv": str(VENV)})
        info = language_pb2.ProgramInfo(
            root_directory=str(REPO), program_directory=str(REPO), entry_point=".", options=options
        )
        rows.append(
            summary(
                "GetPluginInfo round trip",
                timed(lambda: client.GetPluginInfo(empty_pb2.Empty()), args.runs),
            )
        )
        request = language_pb2.GetRequiredPackagesRequest(info=info)
        packages = client.GetRequiredPackages(request)
        runs = max(3, args.runs // 5)
        rows.append(
            summary(
                "GetRequiredPackages, unchanged",
                timed(lambda: client.GetRequiredPackages(request), args.runs),
            )
        )

        def listed() -> None:
            shutil.rmtree(listings, ignore_errors=True)
            client.GetRequiredPackages(request)

        rows.append(summary("GetRequiredPackages, listed", timed(listed, runs)))
        pip_list = [str(VENV / "bin" / "python"), "-m", "pip", "list", "--format", "json"]
        rows.append(
            summary(
                "  for comparison: pip list",
                timed(lambda: subprocess.run(pip_list, capture_output=True, check=True), runs),
            )
        )
        channel.close()
    finally:
        process.kill()
        process.wait()
        engine.stop(grace=None)
        shutil.rmtree(cache, ignore_errors=True)

    found = sorted(f"{p.name} {p.version}" for p in packages.packages)
    if args.json:
        print(json.dumps({"host": str(host), "packages": found, "results": rows}, indent=2))
        return 0
    print(f"host {host}; required packages: {', '.join(found)}")
    print(f"{'measure':<34} {'runs':>5} {'median ms':>10} {'p95 ms':>8} {'target':>8}")
    for row in rows:
        target = f"< {row['target_ms']:.0f}" if row["target_ms"] else ""
        print(
            f"{row['measure']:<34} {row['runs']:>5} {row['median_ms']:>10} {row['p95_ms']:>8} {target:>8}"
        )
    return 0


if __name__ == "__main__":
    run(main)
