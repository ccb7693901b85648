"""The driver's hold on the state, with the real CLI, language host and random provider:
an S3 backend served by moto's server mode on 127.0.0.1, the stack's lock, and an update
that dies. The program and pack are `test_driver_engine.py`'s (`fixtures/driver/`); the
module is its own so that the scheduler can run it beside that one.

Invariants guarded:
- preview, up, outputs and destroy work on an S3 backend as on a file one (the state
  object is where Pulumi's layout puts it);
- two concurrent `up` runs on one S3-backed stack: one wins, the other exits 6 saying the
  stack is locked, and the state stays whole (the resources are there, the lock is gone);
- a driver killed (SIGKILL, its whole process group) while the engine creates a resource
  leaves its lock and a pending create: the next `up` exits 7 naming the resource and how
  to clear it, changing nothing; `refresh --clear-pending-creates` is refused on the lock
  (6) until `pulumi cancel` removes it, then clears the pending create, and `up` deploys;
- a stack locked by an update that died exits 6 on `refresh` and `destroy`, and neither
  the lock nor the state is touched;
- a SIGTERM or a SIGINT sent to the driver alone (CI cancelling its job, `kill -INT`), or a
  Ctrl-C at its terminal (a pseudo-terminal here: a SIGINT to its whole foreground process
  group), mid-`up` or the moment the CLI has taken the stack's lock (before its engine
  runs, when a SIGINT would kill it), ends it as Ctrl-C does: exit 1, "interrupted" in the
  output and the summary, no traceback, the stack's lock released and no plugin left
  running; the next `up` needs no `pulumi cancel`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import select
import signal
import subprocess
import termios
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.integration.conftest import kill_with_plugins, processes_working_in, run_command
from tests.integration.test_driver_engine import (  # noqa: F401 (fixtures)
    DRIVER_TIMEOUT,
    GO_PLATFORM,
    STACK,
    DriverRun,
    cli_engine,
    drive,
    driver_engine,
    lifecycle,
    must,
    policy,
    program,
    pulumi,
    stack_resources,
)

if TYPE_CHECKING:
    from tests.integration.conftest import Engine

REGION = "us-east-1"


# --- S3 backend ----------------------------------------------------------------------


@dataclass
class S3Backend:
    url: str
    env: dict[str, str]
    client: Any
    bucket: str

    def locks(self) -> list[str]:
        found = self.client.list_objects_v2(Bucket=self.bucket, Prefix=".pulumi/locks/")
        return [item["Key"] for item in found.get("Contents") or []]


@pytest.fixture
def s3_backend() -> Iterator[S3Backend]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto keeps its buckets per process, not per server: a bucket of its own per test.
    bucket = f"state-{uuid.uuid4().hex[:12]}"
    url = f"s3://{bucket}?region={REGION}&endpoint={endpoint}&s3ForcePathStyle=true"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "PULUMI_BACKEND_URL": url,
    }
    client = boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=bucket)
    try:
        yield S3Backend(
            url=url,
            env=env,
            client=client,
            bucket=bucket,
        )
    finally:
        server.stop()


def test_lifecycle_on_an_s3_backend(driver_engine, program, policy, s3_backend):  # noqa: F811
    lifecycle(driver_engine, program, policy, env=s3_backend.env)

    keys = [
        item["Key"]
        for item in s3_backend.client.list_objects_v2(Bucket=s3_backend.bucket).get("Contents")
        or []
    ]
    assert any(
        key.startswith(".pulumi/stacks/") and key.endswith(f"/{STACK}.json") for key in keys
    ), keys


def test_concurrent_ups_one_fails_on_the_lock_and_the_state_stays_whole(
    driver_engine,  # noqa: F811
    program,  # noqa: F811
    policy,  # noqa: F811
    s3_backend,
):
    engine = driver_engine
    env = s3_backend.env
    stack_args = ("--stack", STACK, "--policy-pack", str(policy), "--backend", s3_backend.url)
    preview = ("preview", *stack_args)
    up = ("up", "--skip-preflight", *stack_args)
    must(drive(engine, program, *preview, env=env))
    # The first update holds the lock until the second has met it, however slow the
    # machine: its program waits for this file before it declares anything (so no
    # operation is pending meanwhile).
    release = engine.root / "release-the-first-up"
    pulumi(
        engine,
        program,
        "config",
        "set",
        "fixture:holdUntil",
        str(release),
        "--stack",
        STACK,
        env=env,
    )
    first: dict[str, DriverRun] = {}

    def run_first() -> None:
        first["run"] = drive(engine, program, *up, env=env)

    thread = threading.Thread(target=run_first)
    thread.start()
    deadline = time.monotonic() + 120
    while not s3_backend.locks():
        assert time.monotonic() < deadline, "the first up never took the lock"
        assert thread.is_alive(), first.get("run")
        time.sleep(0.2)

    second = drive(engine, program, *up, env=env)
    release.touch()
    thread.join(timeout=DRIVER_TIMEOUT)

    must(second, 6)
    assert "stack 'dev' is locked by another update; no resource was changed" in second.output
    assert second.summary["result"] == "locked"
    must(first["run"])
    assert not s3_backend.locks()
    assert any("RandomPet::pet" in urn for urn in stack_resources(engine, program, env=env))
    settled = must(drive(engine, program, *preview, env=env))
    assert set(settled.summary["operations"]) == {"same"}


@dataclass(frozen=True)
class Cancel:
    """How a running driver is cancelled: whether it runs at a terminal of its own (a
    pseudo-terminal, so a Ctrl-C there reaches its whole process group as a person's
    does), and what is sent."""

    at_a_terminal: bool
    send: Callable[[subprocess.Popen[str], int | None], None]
    """(the driver, the terminal's master side when it has one)."""


def take_the_terminal() -> None:
    """In the new session's leader: its stdin, a pseudo-terminal, becomes its terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


CANCELS = {
    # CI cancelling its job: the driver's process only, not its group.
    "sigterm": Cancel(False, lambda driver, _tty: driver.send_signal(signal.SIGTERM)),
    # `kill -INT`, `timeout -s INT`, a container's stop signal: the driver alone.
    "sigint-to-the-driver": Cancel(False, lambda driver, _tty: driver.send_signal(signal.SIGINT)),
    # A person's Ctrl-C: the terminal signals its foreground process group, the CLI too.
    "ctrl-c-at-a-terminal": Cancel(True, lambda _driver, tty: os.write(tty, b"\x03")),
}


WHEN = {
    # The CLI has written the lock and not yet started its engine, the moment Go's default
    # would end it on a SIGINT, lock held: the driver holds the signal back until then.
    "as-the-lock-is-taken": 0.0,
    # The engine is creating the fixture's slow resource.
    "mid-update": 2.0,
}


@pytest.mark.parametrize("when", list(WHEN.values()), ids=list(WHEN))
@pytest.mark.parametrize("cancel", list(CANCELS.values()), ids=list(CANCELS))
def test_a_cancelled_driver_ends_like_ctrl_c_and_releases_the_lock(
    driver_engine,  # noqa: F811
    program,  # noqa: F811
    policy,  # noqa: F811
    cancel,
    when,
):
    """CI cancelling a job signals the driver's process, not the CLI it runs; at a
    terminal the CLI runs in a session of its own, out of the Ctrl-C's reach. Either way
    the driver passes a SIGINT on once the engine runs, so the CLI cancels as on Ctrl-C
    and releases the stack's lock, whenever the signal comes."""
    engine = driver_engine
    pack = ("--policy-pack", str(policy))
    must(drive(engine, program, "preview", "--stack", STACK, *pack))
    pulumi(engine, program, "config", "set", "fixture:sleepSeconds", "10", "--stack", STACK)
    summary = engine.root / "sigterm-summary.json"
    terminal, at_it = pty.openpty() if cancel.at_a_terminal else (None, None)
    driver = subprocess.Popen(
        [*GO_PLATFORM, "up", "--stack", STACK, "--skip-preflight", *pack, "--json", str(summary)],
        cwd=program,
        env=engine.env,
        stdin=at_it,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=take_the_terminal if cancel.at_a_terminal else None,
    )
    if at_it is not None:
        os.close(at_it)
    locks = engine.state / ".pulumi" / "locks"
    try:
        wait_for_the_lock(driver, locks, poll=0.0005)
        time.sleep(when)
        cancel.send(driver, terminal)
        output, _ = driver.communicate(timeout=DRIVER_TIMEOUT)

        assert "interrupted" in output
        # The CLI cancelled the update: it did not run to its end before the driver stopped.
        assert "up: stopped" in output, output
        interrupted_and_released(engine, driver, summary, output)
    finally:  # whatever failed, nothing of this run is left running
        kill_with_plugins(driver, engine.root)
        if terminal is not None:
            os.close(terminal)

    up_and_destroy_without_the_pause(engine, program, pack)


def test_a_closed_terminal_cancels_the_update_like_ctrl_c_and_releases_the_lock(
    driver_engine,  # noqa: F811
    program,  # noqa: F811
    policy,  # noqa: F811
):
    """A dropped SSH session mid-`up`: the terminal the driver prints to hangs up, its
    foreground process group gets SIGHUP. The driver cancels as on Ctrl-C; what it prints
    afterwards, to a terminal that is gone, fails nothing."""
    engine = driver_engine
    pack = ("--policy-pack", str(policy))
    must(drive(engine, program, "preview", "--stack", STACK, *pack))
    pulumi(engine, program, "config", "set", "fixture:sleepSeconds", "10", "--stack", STACK)
    summary = engine.root / "sighup-summary.json"
    terminal, at_it = pty.openpty()
    driver = subprocess.Popen(
        [*GO_PLATFORM, "up", "--stack", STACK, "--skip-preflight", *pack, "--json", str(summary)],
        cwd=program,
        env=engine.env,
        stdin=at_it,
        stdout=at_it,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=take_the_terminal,
    )
    os.close(at_it)
    stop_draining = threading.Event()
    drainer = threading.Thread(target=drain, args=(terminal, stop_draining))
    drainer.start()
    locks = engine.state / ".pulumi" / "locks"
    try:
        wait_for_the_lock(driver, locks, poll=0.05)
        time.sleep(2.0)  # the engine is creating the fixture's slow resource
        stop_draining.set()
        drainer.join()
        os.close(terminal)  # the terminal hangs up
        terminal = None
        _, errors = driver.communicate(timeout=DRIVER_TIMEOUT)

        interrupted_and_released(engine, driver, summary, errors)
    finally:
        stop_draining.set()
        drainer.join()
        kill_with_plugins(driver, engine.root)
        if terminal is not None:
            os.close(terminal)

    up_and_destroy_without_the_pause(engine, program, pack)


def wait_for_the_lock(driver: subprocess.Popen[str], locks: Path, *, poll: float) -> None:
    """Until the driver's `up` has taken the stack's lock (the file backend's lock file)."""
    deadline = time.monotonic() + 120
    while not list(locks.rglob("*.json")):
        assert time.monotonic() < deadline, "the up never took the lock"
        assert driver.poll() is None, f"the up ended on its own ({driver.returncode})"
        time.sleep(poll)


def interrupted_and_released(
    engine: Engine, driver: subprocess.Popen[str], summary: Path, shown: str
) -> None:
    """The driver ended as on Ctrl-C (exit 1, `interrupted` last in its summary, no
    traceback in what it showed), the stack's lock is released and no plugin is left."""
    assert driver.returncode == 1, shown
    assert "Traceback" not in shown
    reported = json.loads(summary.read_text())
    assert (reported["result"], reported["errors"][-1]) == ("failed", "interrupted")
    locks = engine.state / ".pulumi" / "locks"
    assert not list(locks.rglob("*.json")), f"the CLI died holding the lock:\n{shown}"
    deadline = time.monotonic() + 30
    while processes_working_in(engine.root):  # the plugins end with the CLI
        assert time.monotonic() < deadline, processes_working_in(engine.root)
        time.sleep(0.5)


def up_and_destroy_without_the_pause(engine: Engine, project: Path, pack: tuple[str, ...]) -> None:
    """The next `up` needs no `pulumi cancel`; then the stack is emptied."""
    pulumi(engine, project, "config", "set", "fixture:sleepSeconds", "0", "--stack", STACK)
    must(drive(engine, project, "up", "--stack", STACK, "--skip-preflight", *pack))
    must(drive(engine, project, "destroy", "--stack", STACK, "--yes"))


def drain(terminal: int, stop: threading.Event) -> None:
    """Read what the driver prints to its terminal, so that it never waits to print, until
    `stop` (a read in progress would keep the terminal open past its close)."""
    while not stop.is_set():
        ready, _, _ = select.select([terminal], [], [], 0.1)
        if ready:
            with contextlib.suppress(OSError):  # the driver has closed its side
                os.read(terminal, 1 << 16)


def deployment(engine: Engine, project: Path) -> dict[str, Any]:
    """The stack's state as `pulumi stack export` shows it; empty when it cannot be read."""
    result = run_command(
        ["pulumi", "stack", "export", "--stack", STACK],
        cwd=project,
        env=engine.env,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        return {}
    return json.loads(result.stdout)["deployment"]


def pending_operations(engine: Engine, project: Path) -> list[dict[str, Any]]:
    return deployment(engine, project).get("pending_operations") or []


def only_the_markers_create_pending(state: dict[str, Any]) -> bool:
    """The marker's create is pending and nothing else is: the RandomPet, created beside
    it, is done (a kill while its create is pending too leaves two pending operations)."""
    pending = [op["resource"]["urn"] for op in state.get("pending_operations") or []]
    created = [resource["urn"] for resource in state.get("resources") or []]
    return (
        bool(pending)
        and all(urn.endswith("::marker") for urn in pending)
        and any(urn.endswith("::pet") for urn in created)
    )


def test_a_driver_killed_mid_up_leaves_a_pending_create_the_next_run_reports_and_clears(
    driver_engine,  # noqa: F811
    program,  # noqa: F811
    policy,  # noqa: F811
):
    engine = driver_engine
    pack = ("--policy-pack", str(policy))
    must(drive(engine, program, "preview", "--stack", STACK, *pack))
    # The dynamic provider's create writes the marker; a FIFO nobody reads holds it there,
    # so the engine has recorded the create as pending when the driver is killed.
    fifo = engine.root / "marker.fifo"
    os.mkfifo(fifo)
    pulumi(engine, program, "config", "set", "fixture:markerPath", str(fifo), "--stack", STACK)
    killed = subprocess.Popen(
        [*GO_PLATFORM, "up", "--stack", STACK, "--skip-preflight", *pack],
        cwd=program,
        env=engine.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        # The marker's own pending create, alone: the program's other resource (the RandomPet)
        # is pending for a moment too, and a kill then would leave it pending as well.
        while not only_the_markers_create_pending(deployment(engine, program)):
            assert time.monotonic() < deadline, "the engine never recorded the pending create"
            assert killed.poll() is None, f"the up ended on its own ({killed.returncode})"
            time.sleep(0.3)
    finally:
        # The plugins left running include the dynamic provider blocked on the FIFO.
        kill_with_plugins(killed, engine.root)
    fifo.unlink()
    locks = engine.state / ".pulumi" / "locks"
    assert list(locks.rglob("*.json")), "the killed update left no lock"

    after = must(drive(engine, program, "up", "--stack", STACK, "--skip-preflight", *pack), 7)

    text = " ".join(after.output.split())
    assert "1 pending operation(s) left by an update that was interrupted" in text
    assert "creating pulumi-python:dynamic:Resource marker" in text
    assert f"go-platform refresh --stack {STACK} --clear-pending-creates" in text
    assert f"pulumi cancel --stack {STACK} --yes" in text
    assert after.summary["result"] == "pending-operations"
    assert [op["type"] for op in pending_operations(engine, program)] == ["creating"]

    clear = ("refresh", "--stack", STACK, "--clear-pending-creates")
    locked = must(drive(engine, program, *clear), 6)
    assert "pulumi cancel" in locked.output
    pulumi(engine, program, "cancel", "--yes", "--stack", STACK)
    assert not list(locks.rglob("*.json"))
    must(drive(engine, program, *clear))
    assert pending_operations(engine, program) == []

    marker = engine.root / "marker.txt"
    pulumi(engine, program, "config", "set", "fixture:markerPath", str(marker), "--stack", STACK)
    must(drive(engine, program, "up", "--stack", STACK, "--skip-preflight", *pack))
    assert marker.read_text() == "v1"
    assert any("::marker" in urn for urn in stack_resources(engine, program))
    must(drive(engine, program, "destroy", "--stack", STACK, "--yes"))


def test_a_stack_locked_by_a_dead_update_exits_6_and_stays_as_it_was(
    cli_engine,  # noqa: F811
    program,  # noqa: F811
    s3_backend,
):
    engine, env = cli_engine, s3_backend.env
    pulumi(engine, program, "stack", "init", STACK, env=env)
    lock = f".pulumi/locks/organization/go-platform/{STACK}/{uuid.uuid4()}.json"
    s3_backend.client.put_object(
        Bucket=s3_backend.bucket,
        Key=lock,
        Body=json.dumps(
            {
                "pid": 4242,
                "username": "ci",
                "hostname": "runner-7",
                "timestamp": "2026-01-01T00:00:00Z",
            }
        ),
    )
    state_key = f".pulumi/stacks/go-platform/{STACK}.json"
    before = s3_backend.client.get_object(Bucket=s3_backend.bucket, Key=state_key)["Body"].read()

    refresh = must(drive(engine, program, "refresh", "--stack", STACK, env=env), 6)
    destroy = must(drive(engine, program, "destroy", "--stack", STACK, "--yes", env=env), 6)

    for run in (refresh, destroy):
        assert "stack 'dev' is locked by another update; no resource was changed" in run.output
        assert "currently locked by 1 lock(s)" in run.output
        assert run.summary["result"] == "locked"
    assert s3_backend.locks() == [lock]
    assert (
        s3_backend.client.get_object(Bucket=s3_backend.bucket, Key=state_key)["Body"].read()
        == before
    )
