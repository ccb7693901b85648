"""The helpers tools/gobuild shares between the toolchain bootstrap and the cluster tool.

Invariants guarded:
- durations read `7s`, `2m05s`, with a tenth only below the caller's threshold;
- a failing command is a StepError naming its last line of output and the shell line that
  reruns it; a command that is not installed is one line, not a traceback;
- a logged command appends to its log, beats its heart with the caller's count, and on
  failure shows the log's last lines;
- the module proxy's answer is read out of the go command's error: every HTTP status, the
  first 4xx as a refusal, the server's response, checksum and unknown-revision failures;
- `go mod download -json`'s stream of answers becomes Modules and error texts;
- the releases listed beyond a pin leave out older ones and pre-releases; a later commit, or a
  first release, is newer than a pseudo-version pin;
- the cache root honours GO_PLATFORM_CACHE and XDG_CACHE_HOME and is never in the repo; a
  command suggested to the user carries GO_PLATFORM_CACHE (absolute) unless it is the default;
- a stamp is `present` only for the same recipe and pins with every output a file;
- files are written and installed atomically, with the mode asked for;
- a subcommand's expected failure is exit status 1 with one line, an interrupt 130;
- an operating system error (a lock file of another user's, a full disk, a certificate
  OpenSSL refuses) is exit status 1 with one line naming the path, the reason and what to do;
- SIGTERM and SIGHUP end a tool as Ctrl-C does, 128 + the signal's number: a logged command
  (go build) and its process group go with it; SIGKILL takes the command too (Linux);
- progress and the final report carry on quietly once nobody reads stderr (a closed terminal);
- a pin file that is missing, unreadable (a directory, no permission, not UTF-8, under a file)
  or malformed is one line in the tool's words, naming the path and what is wrong.
"""

from __future__ import annotations

import errno
import fcntl
import io
import json
import os
import pwd
import random
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO

sys.path.append(str(REPO / "tools"))  # for `gobuild`, as the tools' entry points do

from gobuild import commands
from gobuild.cache import (
    ToolCache,
    cache_root,
    cache_selection,
    exclusive,
    fresh_directory,
    install,
    read_stamp,
    sha256,
    stamp_status,
    symlink_atomically,
    write_atomically,
    write_json,
    write_last_build,
    write_stamp,
)
from gobuild.cli import exit_status
from gobuild.commands import (
    capture,
    command_line,
    count_lines,
    run_logged,
    shell_command,
    tail,
)
from gobuild.errors import StepError, ToolError
from gobuild.modules import (
    GoMod,
    Module,
    ProxyAnswer,
    Replace,
    commit_after,
    is_pseudo_version,
    read_downloads,
    releases_after,
    unavailable,
    version_key,
)
from gobuild.pins import is_release, read_toml
from gobuild.progress import Progress, duration

# What the go command prints when the proxy refuses a version (the host is made up).
REFUSED = (
    "example.com/mod@v1.2.3: reading https://proxy.invalid/example.com/mod/@v/v1.2.3.info:"
    " 403 Forbidden\n\tserver response: This module version is not available."
)


def lines_of(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


# --- progress ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "tenths_below", "expected"),
    [
        (0.4, 0.0, "0s"),
        (7.4, 0.0, "7s"),
        (0.4, 10.0, "0.4s"),
        (9.96, 10.0, "10.0s"),
        (12.4, 10.0, "12s"),
        (59.6, 0.0, "1m00s"),
        (125.0, 0.0, "2m05s"),
        (125.0, 10.0, "2m05s"),
    ],
)
def test_duration(seconds: float, tenths_below: float, expected: str):
    assert duration(seconds, tenths_below=tenths_below) == expected


def test_progress_step_reports_start_and_duration_in_its_style():
    class Tenths(Progress):
        tenths_below = 10.0

    whole, tenths = io.StringIO(), io.StringIO()
    with Progress(whole).step("resolve"):
        pass
    with Tenths(tenths).step("resolve"):
        pass

    assert lines_of(whole) == ["    resolve ...", "    resolve: done in 0s"]
    assert lines_of(tenths) == ["    resolve ...", "    resolve: done in 0.0s"]
    assert Tenths(tenths).duration(3.21) == "3.2s"


# --- commands ------------------------------------------------------------------------------


def test_command_line_reruns_the_step_as_it_ran(tmp_path: Path):
    line = command_line(["go", "build", "-o", "a b"], tmp_path / "w d", {"GOFLAGS": "-mod=mod x"})

    assert line == f"cd '{tmp_path}/w d' && GOFLAGS='-mod=mod x' go build -o 'a b'"
    assert command_line(["go", "env"], tmp_path, {}) == f"cd {tmp_path} && go env"


def test_shell_command_quotes_the_assignments_and_words():
    line = shell_command(["python3", "a b.py"], {"GO_PLATFORM_CACHE": "/c d", "X": "1"})

    assert line == "GO_PLATFORM_CACHE='/c d' X=1 python3 'a b.py'"
    assert shell_command(["make", "toolchain"], {}) == "make toolchain"


def test_capture_returns_the_output_and_adds_the_environment(tmp_path: Path):
    result = capture("echo", ["sh", "-c", 'echo "$GREETING"'], tmp_path, {"GREETING": "hello"})

    assert result.stdout == "hello\n"


def test_capture_failure_names_the_last_line_and_the_rerun_command(tmp_path: Path):
    argv = ["sh", "-c", "echo first >&2; echo last >&2; exit 3"]

    with pytest.raises(StepError) as caught:
        capture("probe", argv, tmp_path, {"A": "1"})

    assert str(caught.value) == "step 'probe' failed: last"
    assert caught.value.command == command_line(argv, tmp_path, {"A": "1"})
    assert caught.value.log is None
    assert caught.value.rerun_lines() == [f"  rerun: {caught.value.command}"]


def test_capture_failure_without_output_names_the_exit_status(tmp_path: Path):
    with pytest.raises(StepError, match=r"^step 'quiet' failed: exit status 4$"):
        capture("quiet", ["sh", "-c", "exit 4"], tmp_path)


def test_capture_unchecked_returns_the_failure(tmp_path: Path):
    result = capture("probe", ["sh", "-c", "echo out; exit 2"], tmp_path, check=False)

    assert (result.returncode, result.stdout) == (2, "out\n")


def test_a_missing_command_is_one_line_not_a_step_failure(tmp_path: Path):
    with pytest.raises(ToolError) as caught:
        capture("go env", ["no-such-command-gobuild"], tmp_path)

    assert type(caught.value) is ToolError
    assert str(caught.value) == "step 'go env': command not found: no-such-command-gobuild"


def test_run_logged_appends_the_command_and_its_output(tmp_path: Path):
    log = tmp_path / "logs" / "build.log"
    progress = io.StringIO()

    run_logged("one", ["sh", "-c", "echo one"], tmp_path, log, Progress(progress))
    run_logged("two", ["sh", "-c", "echo two >&2"], tmp_path, log, Progress(progress), {"X": "y"})

    assert log.read_text(encoding="utf-8") == (
        f"\n$ cd {tmp_path} && sh -c 'echo one'\none\n"
        f"\n$ cd {tmp_path} && X=y sh -c 'echo two >&2'\ntwo\n"
    )
    assert progress.getvalue() == ""


def test_run_logged_failure_shows_the_log_tail_and_names_the_log(tmp_path: Path):
    log = tmp_path / "build.log"
    progress = io.StringIO()
    argv = ["sh", "-c", "for i in $(seq 1 30); do echo line $i; done; exit 1"]

    with pytest.raises(StepError) as caught:
        run_logged("go build", argv, tmp_path, log, Progress(progress))

    said = lines_of(progress)
    assert said[0] == f"      last lines of {log}:"
    assert said[1:] == [f"      | line {i}" for i in range(6, 31)]
    assert str(caught.value) == "step 'go build' failed: exit status 1"
    assert caught.value.rerun_lines() == [
        f"  log:   {log}",
        f"  rerun: {command_line(argv, tmp_path, {})}",
    ]


def test_run_logged_heartbeat_uses_the_callers_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(commands, "HEARTBEAT_SECONDS", 0.05)
    log = tmp_path / "build.log"
    log.write_text("earlier\n", encoding="utf-8")
    progress = io.StringIO()
    counts: list[tuple[int, int]] = []

    def count(now: int, start: int) -> str:
        counts.append((now, start))
        return f"{now - start} written"

    # The last heartbeat must come after `echo a`: a window of the sleep, wide for a loaded machine.
    run_logged(
        "slow", ["sh", "-c", "echo a; sleep 2"], tmp_path, log, Progress(progress), count=count
    )

    beats = lines_of(progress)
    assert beats, "no heartbeat"
    assert all(re.fullmatch(r"      still running: slow \(\ds, \d written\)", b) for b in beats)
    # The log had one line and then the command's header (a blank line and `$ ...`).
    assert {start for _, start in counts} == {3}
    assert beats[-1].endswith(", 1 written)")


def test_the_default_heartbeat_counts_what_the_command_wrote():
    assert commands.lines_written(12, 2) == "10 log lines"


def test_tail_and_count_lines_of_a_missing_log(tmp_path: Path):
    assert tail(tmp_path / "absent.log") == []
    assert count_lines(tmp_path / "absent.log") == 0


# --- modules -------------------------------------------------------------------------------


def test_proxy_answer_reads_a_refusal():
    answer = ProxyAnswer.read(REFUSED)

    assert answer.statuses == ("403 Forbidden",)
    assert answer.status == answer.refusal == "403 Forbidden"
    assert answer.server_response == "This module version is not available."
    assert answer.no_such_version
    assert not answer.checksum


def test_proxy_answer_a_server_fault_is_not_a_refusal():
    answer = ProxyAnswer.read(
        "m@v1.0.0: reading https://proxy.invalid/m/@v/v1.0.0.zip: 502 Bad Gateway"
    )

    assert answer.status == "502 Bad Gateway"
    assert answer.refusal == ""
    assert not answer.no_such_version


def test_proxy_answer_finds_the_first_refusal_after_other_statuses():
    answer = ProxyAnswer.read("tried 500 Internal Server Error, then 404 Not Found")

    assert answer.statuses == ("500 Internal Server Error", "404 Not Found")
    assert (answer.status, answer.refusal) == ("500 Internal Server Error", "404 Not Found")


def test_proxy_answer_unknown_revision_and_checksum():
    assert ProxyAnswer.read("m@v0.0.1: invalid version: unknown revision v0.0.1").no_such_version
    assert ProxyAnswer.read("verifying m@v1.0.0: checksum mismatch").checksum
    assert ProxyAnswer.read("m@v1.0.0: sumdb lookup failed").checksum
    assert ProxyAnswer.read("dial tcp: i/o timeout") == ProxyAnswer((), "", False, False)


def test_unavailable_is_one_line():
    assert unavailable("m", "v1.0.0", REFUSED, "403 Forbidden") == (
        "m@v1.0.0 is not available from GOPROXY (403 Forbidden)"
    )
    assert unavailable("m", "v1.0.0", "dial tcp:\n\ti/o   timeout", "") == (
        "m@v1.0.0: dial tcp: i/o timeout"
    )


def module_json(path: str, version: str, root: Path, **extra: str) -> dict[str, str]:
    return {
        "Path": path,
        "Version": version,
        "Dir": str(root / f"{path}@{version}"),
        "GoMod": str(root / f"{path}@{version}.mod"),
        **extra,
    }


def test_read_downloads_maps_each_module_to_its_answer(tmp_path: Path):
    info = tmp_path / "v1.0.0.info"
    info.write_text('{"Version": "v1.0.0", "Time": "2024-05-06T07:08:09Z"}', encoding="utf-8")
    stdout = (
        json.dumps(module_json("a", "v1.0.0", tmp_path, Info=str(info), Sum="h1:x"), indent="\t")
        + "\n"
        + json.dumps({"Path": "b", "Version": "v2.0.0", "Error": REFUSED}, indent="\t")
        + "\n"
    )

    found = read_downloads(stdout, "some stderr\n", ["a", "b", "c"])

    module = found["a"]
    assert isinstance(module, Module)
    assert (module.path, module.version, module.sum, module.go_mod_sum) == (
        "a",
        "v1.0.0",
        "h1:x",
        "",
    )
    assert module.dir == tmp_path / "a@v1.0.0"
    assert module.time == "2024-05-06T07:08:09Z"
    assert found["b"] == REFUSED
    assert found["c"] == "some stderr"


def test_read_downloads_without_any_answer():
    assert read_downloads("", "", ["a"]) == {"a": "no answer from go mod download"}


def test_read_downloads_refuses_an_unreadable_answer():
    with pytest.raises(ToolError, match=r"^go mod download gave no readable answer: boom here$"):
        read_downloads("not json", "boom\n here", ["a"])


def test_a_module_without_info_has_no_time(tmp_path: Path):
    module = Module.from_json(module_json("a", "v1.0.0", tmp_path))
    gone = Module.from_json(module_json("a", "v1.0.0", tmp_path, Info=str(tmp_path / "gone")))

    assert module.info is None
    assert module.time == gone.time == ""


def test_go_mod_from_json_and_its_local_replaces():
    go_mod = GoMod.from_json(
        {
            "Module": {"Path": "k8s.io/kubernetes"},
            "Go": "1.25.0",
            "Require": [{"Path": "k8s.io/api", "Version": "v0.0.0"}],
            "Replace": [
                {"Old": {"Path": "k8s.io/api"}, "New": {"Path": "./staging/src/k8s.io/api"}},
                {
                    "Old": {"Path": "github.com/x/y", "Version": "v1.0.0"},
                    "New": {"Path": "github.com/z/y", "Version": "v1.0.1"},
                },
            ],
        }
    )

    assert (go_mod.module, go_mod.go, go_mod.requires) == (
        "k8s.io/kubernetes",
        "1.25.0",
        {"k8s.io/api": "v0.0.0"},
    )
    assert go_mod.local_replaces == {"k8s.io/api": "./staging/src/k8s.io/api"}
    assert [r.directive() for r in go_mod.replaces] == [
        "k8s.io/api => ./staging/src/k8s.io/api",
        "github.com/x/y v1.0.0 => github.com/z/y v1.0.1",
    ]
    assert GoMod.from_json({"Module": {"Path": "m"}}) == GoMod("m", "", {}, ())
    assert Replace("a", "", "./a", "").is_local


def test_version_key_compares_go_and_module_versions():
    assert version_key("go1.26.8") == (1, 26, 8)
    assert version_key("v0.36.3-rc.1") == (0, 36, 3)
    assert version_key("go1.25") < version_key("1.25.0") < version_key("go1.26rc1")


def test_releases_after_a_pin_leave_out_older_ones_and_pre_releases():
    listed = [
        "v3.274.1",
        "v3.279.0",
        "v3.276.0",
        "v3.278.0-rc.1",
        "v3.277.0",
        "v3.280.0+incompatible",
    ]

    assert releases_after("v3.276.0", listed) == ["v3.277.0", "v3.279.0", "v3.280.0+incompatible"]
    assert releases_after("v3.280.0", listed) == []
    assert releases_after("v3.276.0", []) == []


def test_a_later_commit_or_a_first_release_is_newer_than_a_pseudo_version():
    pin = "v4.0.0-20260115033456-f47bc2d6f199"

    assert is_pseudo_version(pin)
    assert is_pseudo_version("v1.2.4-0.20260115033456-f47bc2d6f199")
    assert is_pseudo_version("v1.2.3-pre.0.20260115033456-f47bc2d6f199")
    assert not is_pseudo_version("v4.25.0")
    assert not is_pseudo_version("v4.25.0-rc.1")
    assert commit_after(pin, "v4.0.0-20260301000000-0123456789ab")
    assert commit_after(pin, "v4.26.0")
    assert not commit_after(pin, pin)
    assert not commit_after(pin, "v4.0.0-20251201000000-0123456789ab")
    assert not commit_after(pin, "")


# --- cache ---------------------------------------------------------------------------------


def test_cache_root_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GO_PLATFORM_CACHE", str(tmp_path / "cache"))
    assert cache_root("toolchain", "toolchain cache") == tmp_path / "cache" / "toolchain"

    monkeypatch.delenv("GO_PLATFORM_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root("cluster", "binary cache") == tmp_path / "xdg" / "go-platform" / "cluster"

    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root("cluster", "binary cache") == tmp_path / "home/.cache/go-platform/cluster"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, {}),
        ({"GO_PLATFORM_CACHE": "{tmp}/cache"}, {"GO_PLATFORM_CACHE": "{tmp}/cache"}),
        ({"GO_PLATFORM_CACHE": "{tmp}/a/../cache"}, {"GO_PLATFORM_CACHE": "{tmp}/cache"}),
        ({"XDG_CACHE_HOME": "{tmp}/xdg"}, {"GO_PLATFORM_CACHE": "{tmp}/xdg/go-platform"}),
        ({"GO_PLATFORM_CACHE": "{tmp}/home/.cache/go-platform"}, {}),  # the default, spelt out
        ({"GO_PLATFORM_CACHE": ""}, {}),
    ],
)
def test_cache_selection_names_a_cache_other_than_the_default(
    tmp_path: Path, environ: dict[str, str], expected: dict[str, str]
):
    def filled(values: dict[str, str]) -> dict[str, str]:
        return {key: value.format(tmp=tmp_path) for key, value in values.items()}

    assert cache_selection(filled(environ), tmp_path / "home") == filled(expected)


def test_cache_root_inside_the_repository_is_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GO_PLATFORM_CACHE", str(REPO / ".cache"))

    with pytest.raises(ToolError) as caught:
        cache_root("cluster", "binary cache")

    assert str(caught.value) == (
        f"the binary cache {REPO / '.cache' / 'cluster'} is inside the repository;"
        " point GO_PLATFORM_CACHE somewhere else"
    )


def test_tool_cache_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    class Things(ToolCache):
        subdirectory = "things"
        description = "things cache"

    monkeypatch.setenv("GO_PLATFORM_CACHE", str(tmp_path))
    cache = Things.from_environment()

    assert type(cache) is Things
    assert cache.root == tmp_path / "things"
    assert cache.last_build == tmp_path / "things" / "last-build.json"
    assert cache.lock_file == tmp_path / "things" / ".lock"


def test_install_copies_or_moves_with_the_mode(tmp_path: Path):
    source = tmp_path / "out" / "tool"
    source.parent.mkdir()
    source.write_text("#!/bin/sh\n", encoding="utf-8")

    install(source, tmp_path / "bin" / "tool")
    install(source, tmp_path / "stages" / "tool.yaml", mode=0o644)
    install(source, tmp_path / "moved" / "tool", move=True)

    assert (tmp_path / "bin" / "tool").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "stages" / "tool.yaml").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "moved" / "tool").read_text(encoding="utf-8") == "#!/bin/sh\n"
    assert not source.exists()
    assert not list(tmp_path.rglob("*.partial"))


def test_write_atomically_leaves_no_partial_file(tmp_path: Path):
    path = tmp_path / "config" / "kubeconfig"

    write_atomically(path, "secret\n", mode=0o600)
    write_json(tmp_path / "state.json", {"b": 1, "a": [1]})

    assert path.read_text(encoding="utf-8") == "secret\n"
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "state.json").read_text(encoding="utf-8") == json.dumps(
        {"b": 1, "a": [1]}, indent=2
    ) + "\n"
    assert not list(tmp_path.rglob("*.partial"))


def test_symlink_atomically_repoints_a_link_in_one_step(tmp_path: Path):
    old, new = tmp_path / "tools" / "v1" / "tool", tmp_path / "tools" / "v2" / "tool"
    for target in (old, new):
        target.parent.mkdir(parents=True)
        target.write_text(target.parent.name, encoding="utf-8")
    link = tmp_path / "bin" / "tool"

    symlink_atomically(link, old)
    symlink_atomically(link, new)

    assert link.resolve() == new
    assert link.read_text(encoding="utf-8") == "v2"
    assert not list(tmp_path.rglob("*.partial"))


def test_fresh_directory_empties_what_was_there(tmp_path: Path):
    work = tmp_path / "work" / "cli-v1.0.0"
    work.mkdir(parents=True)
    (work / "old.log").write_text("old", encoding="utf-8")

    assert fresh_directory(work) == work
    assert list(work.iterdir()) == []


def test_a_stamp_counts_only_for_the_same_recipe_pins_and_outputs(tmp_path: Path):
    binary = tmp_path / "bin" / "etcd"
    binary.parent.mkdir()
    binary.write_bytes(b"etcd")
    stamp = tmp_path / "stamp.json"
    pins = {"go.etcd.io/etcd/server/v3": "v3.6.8"}

    assert stamp_status(read_stamp(stamp), recipe=2, pins=pins, outputs=[binary]) == "missing"
    write_stamp(
        stamp, component="etcd", version="3.6.8", recipe=2, pins=pins,
        modules={"m": "v1"}, go="go1.26.8", seconds=12.34, outputs=[binary, tmp_path / "absent"],
    )  # fmt: skip
    record = read_stamp(stamp)

    assert record is not None
    assert list(record) == [
        "component", "version", "recipe", "pins", "modules", "go", "build_seconds",
        "built_at", "files",
    ]  # fmt: skip
    assert record["build_seconds"] == 12.3
    assert record["files"] == {str(binary): sha256(binary)}
    assert stamp_status(record, recipe=2, pins=pins, outputs=[binary]) == "present"
    assert stamp_status(record, recipe=3, pins=pins, outputs=[binary]) == "stale"
    assert stamp_status(record, recipe=2, pins={"other": "v1"}, outputs=[binary]) == "stale"
    assert stamp_status(record, recipe=2, pins=pins, outputs=[tmp_path / "bin"]) == "missing"
    stamp.write_text("{not json", encoding="utf-8")
    assert read_stamp(stamp) is None


def test_write_last_build(tmp_path: Path):
    path = tmp_path / "last-build.json"

    write_last_build(path, seconds=1.26, go="go1.26.8", components=[], stubbed_modules=["x"])

    record = json.loads(path.read_text(encoding="utf-8"))
    assert list(record) == [
        "finished_at", "total_seconds", "go", "cpus", "components", "stubbed_modules",
    ]  # fmt: skip
    assert (record["total_seconds"], record["go"], record["stubbed_modules"]) == (
        1.3,
        "go1.26.8",
        ["x"],
    )


def test_exclusive_says_who_it_waits_for(tmp_path: Path):
    lock_file = tmp_path / "cache" / ".lock"
    quiet = io.StringIO()
    with exclusive(lock_file, Progress(quiet), tool="cluster", what="build"):
        pass
    assert quiet.getvalue() == ""

    said = io.StringIO()
    entered = threading.Event()

    def second() -> None:
        with exclusive(lock_file, Progress(said), tool="cluster", what="build"):
            entered.set()

    with lock_file.open("w") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        waiter = threading.Thread(target=second)
        waiter.start()
        deadline = time.monotonic() + 5
        while not said.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not entered.is_set()
    waiter.join(timeout=5)

    assert entered.is_set()
    assert lines_of(said) == [f"cluster: waiting for another build to release {lock_file}"]


# --- pins and the command line -------------------------------------------------------------


def test_read_toml_words_its_errors_as_the_tool_does(tmp_path: Path):
    path = tmp_path / "versions.toml"
    templates = {"missing": "version file not found: {path}", "invalid": "{path} bad: {error}"}

    with pytest.raises(ToolError, match=f"^version file not found: {re.escape(str(path))}$"):
        read_toml(path, **templates)
    path.write_text("x =", encoding="utf-8")
    with pytest.raises(ToolError, match=rf"^{re.escape(str(path))} bad: Invalid value"):
        read_toml(path, **templates)
    path.write_text('[etcd]\nversion = "3.6.8"\n', encoding="utf-8")
    assert read_toml(path, **templates) == {"etcd": {"version": "3.6.8"}}


def _unreadable_directory(tmp_path: Path) -> Path:
    (tmp_path / "versions.toml").mkdir()
    return tmp_path / "versions.toml"


def _unreadable_bytes(tmp_path: Path) -> Path:
    (tmp_path / "versions.toml").write_bytes(b'version = "\xff"\n')
    return tmp_path / "versions.toml"


def _unreadable_parent(tmp_path: Path) -> Path:
    (tmp_path / "file").write_text("", encoding="utf-8")
    return tmp_path / "file" / "versions.toml"


def _unreadable_permission(tmp_path: Path) -> Path:
    path = tmp_path / "versions.toml"
    path.write_text("", encoding="utf-8")
    path.chmod(0)
    return path


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_unreadable_directory, "it is a directory"),
        (_unreadable_bytes, "it is not UTF-8 text (byte 11)"),
        (_unreadable_parent, "a directory in its path is a file"),
        (_unreadable_permission, "permission denied"),
    ],
)
def test_read_toml_an_unreadable_file_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Callable[[Path], Path], reason: str
):
    path = make(tmp_path)
    if make is _unreadable_permission and os.geteuid() == 0:  # root reads it anyway

        def denied(*_: object, **__: object) -> str:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))

        monkeypatch.setattr(Path, "read_text", denied)
    templates = {"missing": "not found: {path}", "invalid": "{path} bad: {error}"}

    with pytest.raises(ToolError) as raised:
        read_toml(path, **templates)
    assert str(raised.value) == f"cannot read {path}: {reason}"
    with pytest.raises(ToolError) as raised:
        read_toml(path, **templates, unreadable="manifest {path}: {reason}")
    assert str(raised.value) == f"manifest {path}: {reason}"


@pytest.mark.parametrize(
    ("version", "expected"),
    [("3.6.8", True), ("v3.6.8", False), ("3.6", False), ("3.6.8-rc.1", False), (None, False)],
)
def test_is_release(version: object, expected: bool):
    assert is_release(version) is expected


def test_exit_status_of_a_subcommand(capsys: pytest.CaptureFixture[str]):
    def fails() -> int:
        raise ToolError("the binary cache is inside the repository")

    def interrupted() -> int:
        raise KeyboardInterrupt

    assert exit_status("cluster", lambda: 3) == 3
    assert exit_status("toolchain", fails) == 1
    assert (
        capsys.readouterr().err == "toolchain: error: the binary cache is inside the repository\n"
    )
    assert exit_status("cluster", fails, lambda error: [f"one: {error}", "two"]) == 1
    assert capsys.readouterr().err == "one: the binary cache is inside the repository\ntwo\n"
    assert exit_status("cluster", interrupted) == 130
    assert capsys.readouterr().err == "cluster: interrupted\n"


def test_exit_status_lets_unexpected_errors_through():
    def broken() -> int:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        exit_status("cluster", broken)


def test_exit_status_of_an_os_error_names_the_path_and_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    cache = tmp_path / "cache"
    cache.mkdir()
    lock = cache / ".lock"
    owner = cache.stat().st_uid

    def raises(error: OSError) -> Callable[[], int]:
        def command() -> int:
            raise error

        return command

    denied = raises(PermissionError(errno.EACCES, "Permission denied", str(lock)))
    full = raises(OSError(errno.ENOSPC, "No space left on device", str(cache / "go" / "a.o")))
    mismatch = raises(
        ssl.SSLError(116, "[X509: KEY_VALUES_MISMATCH] key values mismatch (_ssl.c:3926)")
    )

    assert exit_status("toolchain", denied) == 1
    assert capsys.readouterr().err == (
        f"toolchain: error: {lock}: permission denied; check its permissions: `ls -ld {cache}`\n"
    )
    assert exit_status("toolchain", full) == 1
    assert capsys.readouterr().err == (
        f"toolchain: error: {cache}/go/a.o: no space left on device; the file system is full;"
        f" free space there (`df -h {cache}`)\n"
    )
    assert exit_status("cluster", mismatch) == 1
    assert capsys.readouterr().err == (
        "cluster: error: [X509: KEY_VALUES_MISMATCH] key values mismatch\n"
    )
    # As another user than the owner (a `sudo make up` made the cache root's).
    monkeypatch.setattr(os, "geteuid", lambda: owner + 1)
    me, them = (pwd.getpwuid(uid).pw_name for uid in (owner + 1, owner))
    assert exit_status("toolchain", denied) == 1
    assert capsys.readouterr().err == (
        f"toolchain: error: {lock}: permission denied; {cache} is owned by {them}, not {me}"
        f" (made by a `sudo` run?); give it back with `sudo chown -R {me} {cache}`\n"
    )


def test_exit_status_of_sigterm_and_sighup(capsys: pytest.CaptureFixture[str]):
    def killed(signum: int) -> Callable[[], int]:
        def command() -> int:
            os.kill(os.getpid(), signum)
            time.sleep(5)
            return 0

        return command

    missed: list[int] = []

    def ours(signum: int, frame: object) -> None:  # should exit_status not handle them
        missed.append(signum)

    before = {signum: signal.signal(signum, ours) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        assert exit_status("cluster", killed(signal.SIGTERM)) == 128 + signal.SIGTERM
        assert capsys.readouterr().err == "cluster: terminated (SIGTERM)\n"
        assert exit_status("toolchain", killed(signal.SIGHUP)) == 128 + signal.SIGHUP
        assert capsys.readouterr().err == "toolchain: terminated (SIGHUP)\n"
        assert missed == []
        assert signal.getsignal(signal.SIGTERM) is ours  # put back as it was
        assert signal.getsignal(signal.SIGHUP) is ours
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


class _NobodyReads(io.StringIO):
    """A stream whose reader is gone: a closed terminal, a pipe nobody reads."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


def test_nobody_reading_stops_neither_progress_nor_the_exit_status(
    monkeypatch: pytest.MonkeyPatch,
):
    Progress(_NobodyReads()).say("cluster: start failed; stopping the components started so far")

    def fails() -> int:
        raise ToolError("it failed")

    monkeypatch.setattr(sys, "stderr", _NobodyReads())
    assert exit_status("cluster", fails) == 1


# A tool building with run_logged, as bootstrap.py and cluster.py run their go commands.
BUILDING_TOOL = f"""
import signal, sys
sys.path.insert(0, {str(REPO / "tools")!r})
from pathlib import Path
from gobuild.cli import exit_status
from gobuild.commands import run_logged
from gobuild.progress import Progress

signal.signal(signal.SIGHUP, signal.SIG_DFL)  # not ignored, whatever ran the tests
work = Path(sys.argv[1])
build = ["sleep", sys.argv[2]]
sys.exit(exit_status("toolchain", lambda: run_logged("go build", build, work, work / "log", Progress())))
"""


def _running(argv: list[str]) -> list[int]:
    """PIDs of live (not zombie) processes whose command line is `argv`."""
    wanted = "\0".join(argv).encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            matches = (entry / "cmdline").read_bytes() == wanted
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if matches and state not in {"Z", "X"}:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize(
    ("signum", "status"),
    [
        (signal.SIGTERM, 128 + signal.SIGTERM),
        (signal.SIGHUP, 128 + signal.SIGHUP),
        (signal.SIGKILL, -signal.SIGKILL),
    ],
)
def test_a_terminated_tool_takes_its_logged_command_with_it(
    tmp_path: Path, signum: int, status: int
):
    build = ["sleep", f"4242.{random.randrange(10**6)}"]  # ours alone
    tool = subprocess.Popen(
        [sys.executable, "-c", BUILDING_TOOL, str(tmp_path), build[1]],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60  # a Python start, then the command's, on a loaded machine
        while not _running(build) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _running(build), "the logged command did not start"

        tool.send_signal(signum)
        assert tool.wait(timeout=15) == status
        deadline = time.monotonic() + 10
        while _running(build) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(build), "the logged command outlived the tool"
    finally:
        tool.kill()
        tool.wait()
        for pid in _running(build):
            os.kill(pid, signal.SIGKILL)
    if signum != signal.SIGKILL:
        assert tool.stderr is not None
        assert tool.stderr.read() == f"toolchain: terminated ({signal.Signals(signum).name})\n"
