"""The module proxy's Athens, run for real with the configuration ModuleProxy generates.

Athens (the release ModuleProxy deploys, built by `make test-deps` from its module) runs on
127.0.0.1 with ModuleProxy's environment and its generated download-mode and filter files,
the container's directories mapped into the test's tmp dir. Its upstream is a recording
proxy on 127.0.0.1 in front of the Go module proxy this machine uses (`go env GOPROXY`).

Invariants guarded:
- Athens starts with what ModuleProxy generates and answers its probes' paths (/healthz,
  /readyz) and the ServiceMonitor's (/metrics, Prometheus exposition);
- a developer's `go mod download` with ModuleProxy's client environment fetches a public
  module through Athens, which fetched it through the upstream and stored it on disk:
  asked again, it answers without the upstream;
- a private module (`moduleProxy.private`) is never asked of the upstream, by Athens or by
  the `go` command it runs;
- Athens stops on SIGTERM.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.module_proxy import (
    CONFIG_DIR,
    CREDENTIALS_DIR,
    HOME_DIR,
    SCRATCH_DIR,
    STORAGE_DIR,
    athens_env,
    client_env,
    download_mode_file,
    filter_file,
)
from go_platform_core.config import ModuleProxySettings, load_settings
from tests.conftest import REPO, stack_config
from tests.loopback import free_port, serving

sys.path.append(str(REPO / "tools" / "toolchain"))

import bootstrap

PUBLIC = ("github.com/google/uuid", "v1.6.0")
PRIVATE_PATTERN = "example.invalid/*"
PRIVATE = "example.invalid/secret"
PRIVATE_MODULE = "private.example.invalid/team/Lib"
"""A private pattern naming one module, with a capital letter (escaped in URLs)."""


def machine_goproxy() -> str:
    """The first proxy of this machine's GOPROXY: the registry Athens's upstream forwards to."""
    first = subprocess.run(
        ["go", "env", "GOPROXY"], capture_output=True, text=True, check=True
    ).stdout.strip()
    first = first.replace("|", ",").split(",")[0]
    if not first.startswith(("http://", "https://")):
        pytest.fail(f"go env GOPROXY starts with {first!r}: the test needs a module proxy URL")
    return first.rstrip("/")


class Recording:
    """A GOPROXY in front of another: forwards every GET and records its path."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.paths: list[str] = []
        self.lock = threading.Lock()

    def handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        recording = self

        class Forward(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with recording.lock:
                    recording.paths.append(self.path)
                request = urllib.request.Request(recording.target + self.path)
                try:
                    with urllib.request.urlopen(request, timeout=60) as answer:
                        status, body = answer.status, answer.read()
                        kind = answer.headers.get("Content-Type", "application/octet-stream")
                except urllib.error.HTTPError as refused:
                    status, body, kind = refused.code, refused.read(), "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        return Forward


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=120) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()


@pytest.fixture(scope="module")
def athens_binary() -> Path:
    manifest = bootstrap.Manifest.load(bootstrap.DEFAULT_MANIFEST)
    layout = bootstrap.Layout.from_environment()
    binary = layout.tool_dir("athens", manifest.athens_version) / "athens"
    if not binary.is_file():
        pytest.fail(f"{binary} is not built: `make test-deps` builds it")
    return binary


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, Recording]]:
    recording = Recording(machine_goproxy())
    with serving(recording.handler()) as url:
        yield url, recording


@dataclass(frozen=True)
class Athens:
    url: str
    storage: Path
    process: subprocess.Popen[str]
    private: tuple[str, ...]


def local_paths(value: str, root: Path) -> str:
    """`value` with the container's directories mapped below `root`."""
    for directory in (CONFIG_DIR, CREDENTIALS_DIR, STORAGE_DIR, SCRATCH_DIR, HOME_DIR):
        value = value.replace(directory, str(root / directory.strip("/")))
    return value


@contextlib.contextmanager
def running_athens(
    binary: Path, settings: ModuleProxySettings, root: Path, path: str = ""
) -> Iterator[Athens]:
    """Athens with ModuleProxy's environment and files for `settings`, the container's
    directories below `root`, on a free loopback port; `path` goes before PATH."""
    files = {
        "download.hcl": download_mode_file(
            settings.private, settings.public_mode, settings.upstream
        ),
        "filter.conf": filter_file(settings.private),
    }
    for name, text in files.items():
        file = root / CONFIG_DIR.strip("/") / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8")
    env = {name: local_paths(value, root) for name, value in athens_env(settings).items()}
    for directory in (STORAGE_DIR, SCRATCH_DIR, HOME_DIR):
        Path(local_paths(directory, root)).mkdir(parents=True, exist_ok=True)
    port = free_port()
    env["ATHENS_PORT"] = f"127.0.0.1:{port}"  # the container's `:3000`, on loopback only
    search = os.pathsep.join(filter(None, (path, os.environ["PATH"])))
    process = subprocess.Popen(
        [str(binary)],
        env={"PATH": search, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while get_quietly(f"{url}/readyz") != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"Athens did not become ready:\n{process.stdout.read()}")
            time.sleep(0.2)
        yield Athens(url, Path(env["ATHENS_DISK_STORAGE_ROOT"]), process, tuple(settings.private))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def disk_settings(
    secrets: dict[str, str] | None = None, **module_proxy: object
) -> ModuleProxySettings:
    """A dev stack's module proxy on disk, one replica, with `module_proxy` on top."""
    config = stack_config(
        secrets=secrets,
        domain="example.com",
        moduleProxy={
            "storage": {"type": "disk", "s3": None},
            "singleFlight": {"type": "memory", "endpoint": None},
            **module_proxy,
        },
    )
    return load_settings(config, stack="dev").module_proxy


@pytest.fixture(scope="module")
def athens(athens_binary, upstream, tmp_path_factory) -> Iterator[Athens]:
    upstream_url, _recording = upstream
    settings = disk_settings(private=[PRIVATE_PATTERN, PRIVATE_MODULE], upstream=upstream_url)
    with running_athens(athens_binary, settings, tmp_path_factory.mktemp("athens")) as athens:
        yield athens


def get_quietly(url: str) -> int | None:
    with contextlib.suppress(OSError):
        return get(url)[0]
    return None


def go_client(athens: Athens, work: Path) -> dict[str, str]:
    """A developer's `go` command as ModuleProxy's client environment sets it up. This
    machine reaches the checksum database only through its module proxy, so the client is
    told where (a real cluster's clients reach it through Athens)."""
    env = {
        **os.environ,
        **client_env(athens.url, list(athens.private)),
        "GOMODCACHE": str(work / "modcache"),
        "GOFLAGS": "-mod=mod",
        "GOSUMDB": f"sum.golang.org {machine_goproxy()}/sumdb/sum.golang.org",
    }
    env.pop("GONOSUMCHECK", None)
    return env


def test_athens_answers_its_probes_and_metrics_paths(athens):
    assert get(f"{athens.url}/healthz")[0] == 200
    assert get(f"{athens.url}/readyz")[0] == 200
    status, metrics = get(f"{athens.url}/metrics")
    assert status == 200
    assert b"# TYPE" in metrics


def test_a_public_module_comes_through_athens_and_stays_there(athens, upstream, tmp_path):
    _url, recording = upstream
    module, version = PUBLIC
    result = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        cwd=tmp_path,
        env=go_client(athens, tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    downloaded = json.loads(result.stdout)
    assert downloaded["Version"] == version
    assert "Error" not in downloaded
    assert any(module in path for path in recording.paths), recording.paths
    assert list(athens.storage.rglob("*.zip")), "Athens stored nothing on disk"

    with recording.lock:
        recording.paths.clear()
    status, info = get(f"{athens.url}/{module}/@v/{version}.info")
    assert status == 200
    assert json.loads(info)["Version"] == version
    assert recording.paths == [], "a stored module was asked of the upstream again"


def test_a_private_module_is_never_asked_of_the_upstream(athens, upstream):
    _url, recording = upstream
    status, _body = get(f"{athens.url}/{PRIVATE}/@v/v1.0.0.info")
    assert status >= 400  # its VCS does not exist; what matters is where Athens asked
    assert not [path for path in recording.paths if "example.invalid" in path]


@pytest.mark.parametrize(
    "lookup",
    [
        f"{PRIVATE}@v1.0.0",
        "private.example.invalid/team/!lib@v1.2.3",
        "private.example.invalid/team/!lib/v2@v2.0.0",
    ],
    ids=["under-a-wildcard", "the-module-itself", "its-major-version"],
)
def test_a_private_module_is_never_looked_up_in_the_checksum_database(athens, lookup):
    # Athens proxies the public checksum database; a lookup it lets through would leave
    # this machine (and fail there), so 403 means Athens itself refused it.
    status, _body = get(f"{athens.url}/sumdb/sum.golang.org/lookup/{lookup}")
    assert status == 403


FAKE_SSH = """#!/bin/sh
# Records how git called ssh, and refuses like a host that knows no such repository.
printf '%s\\n' "$@" > "$(dirname "$0")/ssh-called"
exit 128
"""


def test_a_private_module_is_fetched_over_ssh_with_the_key(athens_binary, tmp_path):
    # The go command asks git for https://github.com/...; the settings ModuleProxy gives
    # Athens's go must make git call ssh, with the mounted key, for the private prefix.
    settings = disk_settings(
        secrets={"key": "-----BEGIN OPENSSH PRIVATE KEY-----"},
        private=["github.com/go-platform-private/*"],
        credentials={"sshKeySecret": "key", "sshKnownHosts": "github.com ssh-ed25519 AAAA"},
    )
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "ssh").write_text(FAKE_SSH)
    (tools / "ssh").chmod(0o755)

    with running_athens(athens_binary, settings, tmp_path / "root", path=str(tools)) as athens:
        status, _body = get(f"{athens.url}/github.com/go-platform-private/lib/@v/v1.0.0.info")

    assert status >= 400  # the fake host has no repository
    called = (tools / "ssh-called").read_text().splitlines()
    key = tmp_path / "root" / CREDENTIALS_DIR.strip("/") / "ssh-key"
    assert called[:2] == ["-i", str(key)]
    assert "git@github.com" in called
    assert any("go-platform-private/lib" in word for word in called)


def test_athens_stops_on_sigterm(athens):
    athens.process.send_signal(signal.SIGTERM)
    assert athens.process.wait(timeout=30) == 0
