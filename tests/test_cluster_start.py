"""A failed `start` of the embedded cluster (`tools/cluster/localcluster/control_plane.py`),
with stand-in components: scripts that log a cause and then never become healthy.

Invariants guarded:
- the log tail a failed start shows is the failing component's own, as it was when it
  failed: the cause it logged, not the lines it logs while `start` stops it afterwards;
- the error names the last reason the readiness check failed (refused, a TLS failure, the
  failing checks of /readyz), not only that it timed out;
- the components started so far are stopped, also when `cluster.py start` is ended by
  SIGTERM, or by SIGHUP with nobody reading its output any more (a closed terminal), while
  it waits for one.
"""

from __future__ import annotations

import io
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

CLUSTER_TOOL = REPO / "tools" / "cluster"
sys.path.append(str(CLUSTER_TOOL))  # for `localcluster`, the tool's own package
sys.path.append(str(CLUSTER_TOOL.parent))  # for `gobuild`, which it shares with the toolchain

from localcluster import control_plane, processes  # noqa: E402
from localcluster.api import check_failure, not_ready  # noqa: E402
from localcluster.base import Binaries, Cache, Progress, Versions  # noqa: E402
from localcluster.control_plane import (  # noqa: E402
    ComponentError,
    DataDir,
    Settings,
    State,
    reported_failure,
    run_tail,
    start,
)
from localcluster.processes import start_ticks  # noqa: E402

# Every component: logs its CAUSE, then (as etcd with FAKE_ETCD_ANSWERS) answers /health,
# (as kube-apiserver) serves TLS with a certificate no client trusts, or does nothing; logs
# 30 lines when stopped, as kube-apiserver does.
FAKE_COMPONENT = """\
import http.server, os, signal, ssl, sys, time

name = os.path.basename(sys.argv[0])
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)


def stop(signum, frame):
    for step in range(30):
        print(f"{name}: shutting down, step {step}", flush=True)
    os._exit(0)


signal.signal(signal.SIGTERM, stop)
print(f"{name}: CAUSE of the failure", flush=True)


class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_):
        pass


if name == "etcd" and os.environ.get("FAKE_ETCD_ANSWERS"):
    port = int(args["listen-client-urls"].rsplit(":", 1)[1])
    http.server.HTTPServer(("127.0.0.1", port), Ok).serve_forever()
elif name == "kube-apiserver":
    server = http.server.HTTPServer(("127.0.0.1", int(args["secure-port"])), Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # The front proxy's client certificate: its CA is not the one the clients trust.
    context.load_cert_chain(args["proxy-client-cert-file"], args["proxy-client-key-file"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()
while True:
    time.sleep(0.1)
"""


def fake_settings(tmp_path: Path) -> Settings:
    """Stand-ins for every binary, in the cache GO_PLATFORM_CACHE=<tmp_path>/cache selects."""
    binaries = Binaries.of(Cache(tmp_path / "cache" / Cache.subdirectory), Versions.load())
    for path in [*binaries.executables(), binaries.kubectl]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"#!{sys.executable}\n{FAKE_COMPONENT}", encoding="utf-8")
        path.chmod(0o755)
    binaries.kwok_stages.mkdir(parents=True)
    (binaries.kwok_stages / "stage.yaml").write_text("")
    return Settings(data=DataDir(tmp_path / "data"), versions=Versions.load(), binaries=binaries)


@pytest.mark.parametrize(
    ("failing", "etcd_answers", "last_check"),
    [
        ("etcd", False, "(last check: connection refused)"),
        ("kube-apiserver", True, "(last check: [SSL: CERTIFICATE_VERIFY_FAILED] certificate"),
    ],
)
def test_a_failed_start_shows_the_cause_not_the_shutdown(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
    etcd_answers: bool,
    last_check: str,
):
    # Long enough for the stand-ins (Python) to start and log their cause on a loaded machine.
    monkeypatch.setattr(control_plane, "COMPONENT_TIMEOUT", 10.0)
    monkeypatch.setattr(control_plane, "APISERVER_TIMEOUT", 10.0)
    if etcd_answers:
        monkeypatch.setenv("FAKE_ETCD_ANSWERS", "1")
    else:
        monkeypatch.delenv("FAKE_ETCD_ANSWERS", raising=False)
    settings = fake_settings(tmp_path)
    said = io.StringIO()
    progress = Progress(said)

    with pytest.raises(ComponentError) as raised, reported_failure(progress):
        start(settings, progress)

    error = raised.value
    assert str(error).startswith(f"{failing} did not become healthy within 10s ")
    assert last_check in str(error)
    reported = said.getvalue()
    shown = reported.split(f"cluster: last lines of {error.log}:\n", 1)[1]
    assert f"  | {failing}: CAUSE of the failure" in shown
    assert "shutting down" not in shown
    # What it hid: the component logged its shutdown after it failed.
    assert f"{failing}: shutting down, step 29" in error.log.read_text()
    assert State.load(settings.data).processes == {}
    assert not [p for p in error.tail if "step" in p]


def test_the_components_started_so_far_are_stopped(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(control_plane, "COMPONENT_TIMEOUT", 1.0)
    monkeypatch.delenv("FAKE_ETCD_ANSWERS", raising=False)
    settings = fake_settings(tmp_path)
    pids: list[int] = []
    launch = control_plane._Launcher.launch

    def recorded(self, component, env=None):
        launch(self, component, env)
        pids.append(self.state.processes[component].pid)

    monkeypatch.setattr(control_plane._Launcher, "launch", recorded)

    with pytest.raises(ComponentError):
        start(settings, Progress(io.StringIO()))

    assert pids
    assert all(start_ticks(pid) is None for pid in pids)
    # Nor left as zombies of this process: they were its own children.
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()]


@pytest.mark.parametrize(
    ("signum", "reader_left"),
    # SIGHUP as a closed terminal sends it: nobody reads what the tool writes any more.
    [(signal.SIGTERM, False), (signal.SIGHUP, True)],
)
def test_a_start_ended_by_a_signal_stops_what_it_started(
    tmp_path: Path, signum: int, reader_left: bool
):
    settings = fake_settings(tmp_path)  # etcd never answers: start waits for it
    data = settings.data.root
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GO_PLATFORM_", "FAKE_"))}
    env["GO_PLATFORM_CACHE"] = str(tmp_path / "cache")
    tool = subprocess.Popen(
        [sys.executable, str(CLUSTER_TOOL / "cluster.py"), "start", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    etcd = None
    stderr = ""
    try:
        deadline = time.monotonic() + 20
        while etcd is None and time.monotonic() < deadline:
            time.sleep(0.1)
            try:
                etcd = json.loads(settings.data.state_file.read_text())["processes"]["etcd"]
            except (OSError, ValueError, KeyError):
                continue
        assert etcd is not None, "etcd was not started"

        if reader_left:
            assert tool.stdout is not None
            assert tool.stderr is not None
            tool.stdout.close()
            tool.stderr.close()
            tool.send_signal(signum)
            tool.wait(timeout=30)
        else:
            tool.send_signal(signum)
            _, stderr = tool.communicate(timeout=30)
    finally:
        tool.kill()
        tool.wait()
        if etcd is not None and start_ticks(etcd["pid"]) == etcd["ticks"]:
            os.killpg(etcd["pid"], signal.SIGKILL)  # what the tool should have stopped

    assert start_ticks(etcd["pid"]) is None, "etcd outlived the start"
    assert State.load(settings.data).processes == {}
    assert tool.returncode == 128 + signum, stderr
    if not reader_left:
        assert "cluster: start failed; stopping the components started so far" in stderr
        assert stderr.endswith(f"cluster: terminated ({signal.Signals(signum).name})\n")


def test_the_tail_is_of_the_last_run_only(tmp_path: Path):
    log = tmp_path / "etcd.log"
    log.write_text(
        "\n=== 2026-01-01T00:00:00+0000 starting etcd\nold run\n"
        "\n=== 2026-01-02T00:00:00+0000 starting etcd\nnew run\n",
        encoding="utf-8",
    )

    assert run_tail(log) == ["new run"]
    assert run_tail(tmp_path / "missing.log") == []


def test_a_failed_check_in_a_few_words():
    refused = ConnectionRefusedError(111, "Connection refused")
    untrusted = ssl.SSLCertVerificationError(
        1,
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed:"
        " unable to get local issuer certificate (_ssl.c:1006)",
    )
    readyz = "[+]ping ok\n[-]etcd failed: reason withheld\n[-]informer-sync failed\nreadyz failed"

    assert check_failure(refused) == "connection refused"
    assert check_failure(untrusted) == (
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed:"
        " unable to get local issuer certificate"
    )
    assert check_failure(not_ready("/readyz", 500, readyz)) == (
        "GET /readyz: 500 [-]etcd failed: reason withheld, [-]informer-sync failed"
    )
    assert check_failure(not_ready("/x", 404, {"message": 'serviceaccounts "default" not found'}))
    assert str(not_ready("/x", 503, "")) == "GET /x: 503"


def test_a_grown_log_is_rotated_at_the_next_start(tmp_path, monkeypatch):
    monkeypatch.setattr(processes, "LOG_ROTATE_BYTES", 1024)
    log = tmp_path / "logs" / "etcd.log"
    log.parent.mkdir()
    log.write_bytes(b"old run\n" * 200)  # 1,600 bytes
    (tmp_path / "logs" / "etcd.log.1").write_bytes(b"older run\n")

    _tracked, process = processes.spawn("etcd", ["true"], log, tmp_path)
    process.wait()

    assert (tmp_path / "logs" / "etcd.log.1").read_bytes() == b"old run\n" * 200
    assert b"old run" not in log.read_bytes()
    assert b"starting etcd" in log.read_bytes()

    _tracked, process = processes.spawn("etcd", ["true"], log, tmp_path)
    process.wait()
    assert log.read_bytes().count(b"starting etcd") == 2  # small: appended, not rotated
