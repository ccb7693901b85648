#!/usr/bin/env python3
"""go-platform's embedded Kubernetes control plane: build it from Go modules, run it locally.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler of one Kubernetes
release, with kwok playing the kubelet of one or more fake nodes (it marks them Ready and
runs their pods' lifecycle without containers). Everything listens on 127.0.0.1 only.
See docs/cluster.md.

Subcommands:
    build                  build what is missing into the versioned cache (seconds if present)
    start                  start the control plane (does nothing if it runs and is healthy)
    stop [--purge]         stop every process; --purge also deletes the data directory
    status [--json]        what runs, where, whether it answers (exit 0 running, 3 stopped,
                           1 degraded)
    kubeconfig             print the kubeconfig path

Environment:
    GO_PLATFORM_CACHE          cache root (default ${XDG_CACHE_HOME:-~/.cache}/go-platform)
    GO_PLATFORM_CLUSTER_DIR    data directory (default .state/cluster in the repository)
    GO_PLATFORM_CLUSTER_PORT   API server port (default: the last one used, else a free one)
    GO_PLATFORM_CLUSTER_NODES  number of fake nodes (default: as many as last time, else 1)

Expected failures are one line on stderr (plus, for a component that fails to start, the
tail of its log and its command line) and exit status 1; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/, for gobuild
from gobuild.cli import exit_status
from gobuild.errors import StepError, ToolError
from localcluster.base import DEFAULT_DATA_DIR, Binaries, Cache, ClusterError, Progress, Versions
from localcluster.build import binaries_or_hint, build
from localcluster.control_plane import (
    ComponentError,
    DataDir,
    Settings,
    reported_failure,
    start,
    status,
    stop,
)

EXIT_STOPPED = 3


def _data_dir(args: argparse.Namespace) -> DataDir:
    chosen = args.data_dir or os.environ.get("GO_PLATFORM_CLUSTER_DIR") or DEFAULT_DATA_DIR
    return DataDir(Path(chosen).expanduser().resolve())


def _integer(name: str, text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ClusterError(f"{name} must be a number, got {text!r}") from None
    if not low <= value <= high:
        raise ClusterError(f"{name} must be between {low} and {high}, got {value}")
    return value


def command_build(args: argparse.Namespace) -> int:
    build(Versions.load(), Cache.from_environment(), Progress())
    return 0


def command_start(args: argparse.Namespace) -> int:
    versions = Versions.load()
    port_text = args.port or os.environ.get("GO_PLATFORM_CLUSTER_PORT")
    nodes_text = args.nodes or os.environ.get("GO_PLATFORM_CLUSTER_NODES")
    settings = Settings(
        data=_data_dir(args),
        versions=versions,
        binaries=binaries_or_hint(versions, Cache.from_environment()),
        nodes=_integer("the number of nodes", nodes_text, 1, 50) if nodes_text else None,
        port=_integer("the API server port", port_text, 1, 65535) if port_text else None,
    )
    progress = Progress()
    with reported_failure(progress):
        start(settings, progress)
    print(settings.data.kubeconfig)
    return 0


def command_stop(args: argparse.Namespace) -> int:
    binaries = Binaries.of(Cache.from_environment(), Versions.load())
    stop(_data_dir(args), binaries, Progress(), purge=args.purge)
    return 0


def command_status(args: argparse.Namespace) -> int:
    report = status(_data_dir(args))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_status(report)
    return {"running": 0, "stopped": EXIT_STOPPED}.get(report["status"], 1)


def _print_status(report: dict[str, Any]) -> None:
    label = ", ".join(f"{name} v{version}" for name, version in report["versions"].items())
    print(f"cluster: {report['status']}" + (f" ({label})" if label else ""))
    if report["status"] == "stopped":
        print(f"  data: {report['data_dir']}; start it with `make cluster-start`")
        return
    for name, info in report["components"].items():
        if info["running"]:
            state = "healthy" if info["healthy"] else "NOT ANSWERING"
            where = f"127.0.0.1:{info['port']}"
            print(f"  {name:<24} pid {info['pid']:<8} {where:<16} {state}")
        else:
            print(f"  {name:<24} {'not running':<29} log {info['log']}")
    if report["nodes"]:
        listed = ", ".join(
            f"{name} {'Ready' if ready else 'NotReady'}" for name, ready in report["nodes"].items()
        )
        print(f"  nodes: {listed}")
    print(f"  API server: {report['server']}  (since {report['started_at']})")
    print(f"  kubeconfig: {report['kubeconfig']}")
    print(f"  kubectl:    {report['kubectl']}  (built with it; use it with the kubeconfig)")


def _start_command(data_dir: Path) -> str:
    if data_dir == DEFAULT_DATA_DIR:
        return "make cluster-start"
    return f"{Path(__file__).resolve()} start --data-dir {shlex.quote(str(data_dir))}"


def command_kubeconfig(args: argparse.Namespace) -> int:
    print(_data_dir(args).kubeconfig)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cluster.py", description="Build and run go-platform's embedded control plane."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def with_data_dir(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument(
            "--data-dir",
            help="where the cluster keeps its state (default $GO_PLATFORM_CLUSTER_DIR or .state/cluster)",
        )
        return sub

    commands.add_parser("build", help="build missing binaries from Go modules").set_defaults(
        handler=command_build
    )
    start_parser = with_data_dir(commands.add_parser("start", help="start the control plane"))
    start_parser.add_argument("--port", help="API server port on 127.0.0.1")
    start_parser.add_argument(
        "--nodes", help="number of fake nodes (default: as many as last time, else 1)"
    )
    start_parser.set_defaults(handler=command_start)
    stop_parser = with_data_dir(commands.add_parser("stop", help="stop every component"))
    stop_parser.add_argument("--purge", action="store_true", help="also delete the data")
    stop_parser.set_defaults(handler=command_stop)
    status_parser = with_data_dir(commands.add_parser("status", help="what runs, and where"))
    status_parser.add_argument("--json", action="store_true", help="machine-readable report")
    status_parser.set_defaults(handler=command_status)
    with_data_dir(commands.add_parser("kubeconfig", help="print the kubeconfig path")).set_defaults(
        handler=command_kubeconfig
    )
    return parser


def _error_lines(error: ToolError) -> list[str]:
    """How an expected failure is reported on stderr: one line, and what to do about it."""
    if isinstance(error, ComponentError):
        return [
            f"cluster: error: {error}; log {error.log}",
            f"cluster: once fixed, rerun `{_start_command(error.data_dir)}`",
        ]
    rerun = error.rerun_lines() if isinstance(error, StepError) else []
    return [f"cluster: error: {error}", *rerun]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return exit_status("cluster", lambda: args.handler(args), _error_lines)


if __name__ == "__main__":
    sys.exit(main())
