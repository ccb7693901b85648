"""Runs the Python SDK's executor script for go-platform's language host (embedded in it).

    python -u -c RUNNER run   RECORD EXECUTOR [ARGS...]     run the executor now
    python -u -c RUNNER warm  RECORD EXECUTOR               import, then wait for the run
    python -u -c RUNNER early RECORD EXECUTOR SOCKET OWNER  the same, claimed over SOCKET (fd 3)

`warm` is the host's warm start: the host starts it when a policy pack starts (most of a
second before the engine asks for the run, which waits for the pack), and it imports the
installed packages the program's last run imported, from RECORD, until the run arrives: one
JSON line on standard input, {"dir": ..., "env": {...}, "args": [...]}. It takes that working
directory, environment and arguments, and runs the executor as `run` would; the program
imports whatever was not preloaded yet. Nothing of the program's own is imported before its
environment is in place: only modules from the interpreter's site-packages are recorded, and
the Pulumi SDK reads its configuration from the environment when asked, not at import.

`early` is the same warm start begun sooner, from the host the CLI asks `About` as its
command starts (a process of its own, gone before the host that runs the program starts).
That host binds the abstract Unix socket named SOCKET and hands it over listening, as
descriptor 3 (so a claim made while this interpreter still starts waits in its queue). The
runner takes a connection only from a process of its own user: the host that runs the
program connects (claims it), reads {"pid": N} (this process, whose interrupts and end it
then watches), sends the same JSON line, with the standard output and error the program
is to write to (SCM_RIGHTS), and reads back one line when the run is over: {"exit": N}.
Until it is claimed it lives only as long as the process OWNER (the CLI) does, ten minutes
at most; claimed, it ends if the claimer does.

Every mode, interrupted (SIGINT): the engine ends an operation by interrupting the host's
process group, the program included, and the host passes the interrupt on to what it started
(Cancel, or its own SIGINT), so the program gets one or two while the engine has already
reported why. The first stops the program (a KeyboardInterrupt, through its `finally` blocks
and the executor's cleanup); later ones are ignored while it stops (the host kills it if that
takes over 5 s); and the interrupt ends the process without a traceback, by SIGINT, as
Python ends an interrupted program. Any other exception keeps its traceback.

Every mode, when the executor is done: record what this run imported from site-packages, for
the next warm start, and freeze the garbage collector's objects, so that the interpreter's
exit skips its final collection over them (about 0.25 s for a program that loaded the
kubernetes SDK; the engine waits for that exit). The rest of the exit is as usual:
non-daemon threads are joined and atexit handlers run. docs/PERFORMANCE.md (eighth round)
has the figures.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import json
import os
import runpy
import signal
import socket
import struct
import sys
import sysconfig
import threading
import time


def preload(record: str, run_arrived: threading.Event) -> None:
    """Import the modules RECORD names, in the order the last run loaded them, until the
    run arrives (the program then imports the rest itself); one that fails now is left for
    the program to meet.

    A module is imported only if running its packages did not import it. Pulumi's SDKs load
    subpackages lazily (a `_LazyModule`, run at its first attribute access) and bind names
    like their submodules' (`from .CustomResource import *` binds the class
    `CustomResource`). A submodule imported by name into a lazy package not yet run is set
    on the package as an attribute, and when the package does run, the lazy module puts
    that attribute back over the class. So each lazy package is run first, as the program's
    own attribute access did.
    """
    try:
        with open(record, encoding="utf-8") as f:
            names = json.load(f)
    except (OSError, ValueError):
        return
    for name in names if isinstance(names, list) else ():
        if run_arrived.is_set():
            return
        if not isinstance(name, str) or name in sys.modules:
            continue
        parts = name.split(".")
        for depth in range(1, len(parts)):  # outermost first
            package = sys.modules.get(".".join(parts[:depth]))
            if type(package).__name__ == "_LazyModule":
                with contextlib.suppress(Exception):
                    getattr(package, "__go_platform_warm_start__", None)  # runs it
        if name not in sys.modules:
            with contextlib.suppress(Exception):  # the program's own import reports it
                importlib.import_module(name)


UNCLAIMED_LIFETIME = 600.0
"""An early process not claimed this long after it started ends, even if its owner runs on
(a CLI waiting at a prompt before it runs the program)."""


class EarlyRequest:
    """The run, sent by the host that claims this process over a Unix socket, with the
    standard output and error the program writes to; read on a thread of its own, as
    RunRequest's is. Until the claim, the process ends with its owner (the CLI); after it,
    with the claimer."""

    LISTENER_FD = 3
    """The socket, bound and listening, as the host that started this process passed it."""

    def __init__(self, owner: int) -> None:
        self.arrived = threading.Event()
        self.connection: socket.socket | None = None
        self._line = b""
        self._streams: list[int] = []
        self._claim = threading.Lock()
        listener = socket.socket(fileno=self.LISTENER_FD)
        threading.Thread(
            target=self._accept, args=(listener,), name="early-start-run", daemon=True
        ).start()
        threading.Thread(
            target=self._watch, args=(owner,), name="early-start-owner", daemon=True
        ).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            connection, _ = listener.accept()
            uid = struct.unpack(
                "3i",
                connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")),
            )[1]
            if uid == os.getuid():
                break
            connection.close()  # anyone may connect to the name: never another user's run
        with self._claim:
            self.connection = connection
            listener.close()
        try:
            connection.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
            data, streams, _, _ = socket.recv_fds(connection, 1 << 20, 2)
            chunks = [data]
            while data and not data.endswith(b"\n"):
                data = connection.recv(1 << 20)
                chunks.append(data)
        except OSError:  # the claimer went before it sent the run
            os._exit(1)
        self._line = b"".join(chunks)
        self._streams = list(streams)
        self.arrived.set()
        # The claimer sends nothing more; its end (the host killed) ends the run, as the
        # host's process group would have ended a process of its own.
        with contextlib.suppress(OSError):
            while connection.recv(1 << 10):
                pass
        os._exit(1)

    def _watch(self, owner: int) -> None:
        deadline = time.monotonic() + UNCLAIMED_LIFETIME
        while time.monotonic() < deadline:
            try:
                os.kill(owner, 0)
            except ProcessLookupError:
                break
            except PermissionError:
                pass
            time.sleep(0.1)
            if self.connection is not None:
                return
        with self._claim:
            if self.connection is not None:
                return
            os._exit(0)

    def wait(self) -> dict | None:
        """The run, its streams in place, or None when the claimer went without sending one."""
        self.arrived.wait()
        if not self._line.endswith(b"\n") or len(self._streams) != 2:
            return None
        for target, stream in zip((1, 2), self._streams, strict=True):
            os.dup2(stream, target)
            os.close(stream)
        return json.loads(self._line)

    def report(self, status: int) -> None:
        """Tell the claimer the run's exit status, as the last thing the process does."""
        if self.connection is not None:
            with contextlib.suppress(OSError):
                self.connection.sendall(json.dumps({"exit": status}).encode() + b"\n")


def exit_status(code: object) -> int:
    """The status `sys.exit(code)` leaves the process with."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code % 256
    return 1


class RunRequest:
    """The one line the host sends, read on a thread of its own, so that preloading can stop
    the moment it arrives."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self._line = b""
        threading.Thread(target=self._read, name="warm-start-run", daemon=True).start()

    def _read(self) -> None:
        # Straight from the descriptor: a thread blocked in sys.stdin's buffered reader holds
        # its lock, and an interpreter interrupted meanwhile aborts at exit ("could not acquire
        # lock for <stdin> at interpreter shutdown") instead of ending quietly.
        chunks = []
        while chunk := os.read(0, 1 << 16):
            chunks.append(chunk)
            if b"\n" in chunk:
                break
        self._line = b"".join(chunks)
        self.arrived.set()

    def wait(self) -> dict | None:
        """The run, or None when the host closed the pipe without one."""
        self.arrived.wait()
        if not self._line:
            return None
        # The program reads nothing from the host: its standard input is empty, as when cold.
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        return json.loads(self._line)


RECORD_LIFETIME = 14 * 24 * 3600
"""A record not rewritten for this long (its program not run) is deleted by the next run that
writes one: programs in temporary directories (tests) leave records behind."""


def remember(record: str) -> None:
    """Write the names of the modules imported from site-packages, in import order, and
    delete the records of programs not run for RECORD_LIFETIME."""
    roots = tuple(
        os.path.join(path, "")
        for path in {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    )
    names = [
        name
        for name, module in list(sys.modules.items())
        if (getattr(module, "__file__", None) or "").startswith(roots)
    ]
    partial = f"{record}.{os.getpid()}"
    with contextlib.suppress(OSError):  # a read-only cache costs the next run its warm start
        os.makedirs(os.path.dirname(record), exist_ok=True)
        with open(partial, "w", encoding="utf-8") as f:
            json.dump(names, f)
        os.replace(partial, record)
        stale = time.time() - RECORD_LIFETIME
        for entry in os.scandir(os.path.dirname(record)):
            if entry.name.endswith(".json") and entry.stat().st_mtime < stale:
                os.remove(entry.path)


def interrupt_once(signum: int, frame: object) -> None:
    """The SIGINT handler: stop the program at the first interrupt, ignore the rest."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def quiet_interrupt(kind: type[BaseException], value: BaseException, tb: object) -> None:
    """sys.excepthook: no traceback for an interrupt, the usual one for anything else. The
    interpreter still ends an interrupted process by SIGINT once its exit handlers ran."""
    if not issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)  # type: ignore[arg-type]


def stop_quietly_when_interrupted() -> None:
    """Interrupts stop the run as the module docstring says (unless SIGINT is ignored, as
    for a background job, or handled otherwise: then that stays)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, interrupt_once)
    sys.excepthook = quiet_interrupt


def main(argv: list[str]) -> None:
    stop_quietly_when_interrupted()
    mode, record, executor = argv[:3]
    sys.path[0] = os.path.dirname(executor)  # as if the executor were run as a script
    args = argv[3:]
    early = None
    if mode in ("warm", "early"):
        sys.argv = [executor]  # what modules that look at it see, until the run's arguments
        if mode == "early":
            # Registered first, so it runs last of the exit handlers: the status is sent
            # once the program's own handlers have run.
            early = EarlyRequest(int(args[1]))  # args[0], the socket's name, names it in ps
            status = [1]
            atexit.register(lambda: early.report(status[0]))
        request = early or RunRequest()
        if record:
            preload(record, request.arrived)
        run = request.wait()
        if run is None:
            return
        os.chdir(run["dir"])
        os.environ.clear()
        os.environ.update(run["env"])
        args = run["args"]
    sys.argv = [executor, *args]
    try:
        runpy.run_path(executor, run_name="__main__")
        if early:
            status[0] = 0
    except SystemExit as stop:
        if early:
            status[0] = exit_status(stop.code)
        raise
    finally:
        if record:
            remember(record)
        gc.freeze()


main(sys.argv[1:])
