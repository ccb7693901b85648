#!/usr/bin/env python3
"""go-platform's embedded Kubernetes control plane: build it from Go modules, run it locally.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler of one Kubernetes
release, with kwok playing the kubelet of one or more fake nodes (it marks them Ready and
runs their pods' lifecycle without containers). Everything listens on 127.0.0.1 only.
See docs/cluster.md.

Subcommands:
    build                  build what is missing into the versioned cache (seconds if present)
    start                  start the control plane (does nothing if it runs and is healthy)
    stop [--purge]         stop every process; --purge also deletes what start made there
    status [--json]        what runs, where, whether it answers (exit 0 running, 3 stopped,
                           1 degraded)
    kubeconfig             print the kubeconfig path

Environment:
    GO_PLATFORM_CACHE          cache root (default ${XDG_CACHE_HOME:-~/.cache}/go-platform)
    GO_PLATFORM_CLUSTER_DIR    data directory (default .state/cluster in the repository)
    GO_PLATFORM_CLUSTER_PORT   API server port (default: the last one used, else a free one)
    GO_PLATFORM_CLUSTER_NODES  number of fake nodes (default: as many as last time, else 1)

Expected failures, and failures of the system (a directory another user owns, a full disk),
are one line on stderr (plus, for a component that fails to start, the tail of its log and
its command line) and exit status 1; never a traceback. SIGTERM and SIGHUP end it as Ctrl-C
does: a `start` stops the components it started.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/, for gobuild
from gobuild.cache import not_a_directory
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
    """The data directory the arguments or the environment name, checked: an empty value
    is a mistake (not the default), and no part of the path may be a file."""
    if args.data_dir is not None:
        source, chosen = "--data-dir", args.data_dir
    elif "GO_PLATFORM_CLUSTER_DIR" in os.environ:
        source, chosen = "GO_PLATFORM_CLUSTER_DIR", os.environ["GO_PLATFORM_CLUSTER_DIR"]
    else:
        return DataDir(DEFAULT_DATA_DIR)
    if not chosen.strip():
        raise ClusterError(f"{source} is empty; give a directory (default {DEFAULT_DATA_DIR})")
    path = Path(chosen).expanduser().resolve()
    problem = not_a_directory(path)
    if problem is not None:
        raise ClusterError(f"{source}: {problem}")
    return DataDir(path)


def _integer(name: str, source: str | None, text: str, low: int, high: int) -> int:
    """`text` as a number in [low, high]; `source` names where it came from in errors."""
    where = f" ({source})" if source else ""
    try:
        value = int(text)
    except ValueError:
        raise ClusterError(f"{name}{where} must be a number, got {text!r}") from None
    if not low <= value <= high:
        raise ClusterError(f"{name}{where} must be between {low} and {high}, got {value}")
    return value


def _setting(args_value: str | None, option: str, variable: str) -> tuple[str, str] | None:
    """An option's value and its name, else the environment variable's, else None."""
    if args_value:
        return args_value, option
    if os.environ.get(variable):
        return os.environ[variable], variable
    return None


def command_build(args: argparse.Namespace) -> int:
    build(Versions.load(), Cache.from_environment(), Progress())
    return 0


def command_start(args: argparse.Namespace) -> int:
    versions = Versions.load()
    port = _setting(args.port, "--port", "GO_PLATFORM_CLUSTER_PORT")
    nodes = _setting(args.nodes, "--nodes", "GO_PLATFORM_CLUSTER_NODES")
    # The arguments first: a mistyped one is told before anything is looked for.
    data = _data_dir(args)
    node_count = _integer("the number of nodes", nodes[1], nodes[0], 1, 50) if nodes else None
    api_port = _integer("the API server port", port[1], port[0], 1, 65535) if port else None
    settings = Settings(
        data=data,
        versions=versions,
        binaries=binaries_or_hint(versions, Cache.from_environment()),
        nodes=node_count,
        port=api_port,
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
    report = status(_data_dir(args), Binaries.of(Cache.from_environment(), Versions.load()))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_status(report)
    return {"running": 0, "stopped": EXIT_STOPPED}.get(report["status"], 1)


def _print_status(report: dict[str, Any]) -> None:
    label = ", ".join(f"{name} v{version}" for name, version in report["versions"].items())
    print(f"cluster: {report['status']}" + (f" ({label})" if label else ""))
    if report["status"] == "stopped":
        start = _start_command(Path(report["data_dir"]))
        print(f"  data: {report['data_dir']}; start it with `{start}`")
        return
    if report["untracked_pids"]:
        pids = ", ".join(map(str, report["untracked_pids"]))
        print(f"  component processes its state does not track: {pids}; `stop` ends them")
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
    """What starts the cluster of `data_dir`, as a person would type it."""
    if data_dir == DEFAULT_DATA_DIR:
        return "make cluster-start"
    tool = shlex.join([_python(), str(Path(__file__).resolve())])
    return f"{tool} start --data-dir {shlex.quote(str(data_dir))}"


def _python() -> str:
    """`python3` when that is the interpreter running this tool, else its path."""
    found = shutil.which("python3")
    if found and os.path.samefile(found, sys.executable):
        return "python3"
    return sys.executable


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
