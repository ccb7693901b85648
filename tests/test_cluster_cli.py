"""The embedded cluster's command line (`tools/cluster/cluster.py`) on bad input and on
directories that hold no cluster: what it says and what it leaves, with no control plane
running (the running one is tests/integration/test_cluster.py's).

Invariants guarded:
- a data directory that cannot be one (a part of its path is a file, it cannot be created)
  or is given empty is one line naming `--data-dir` or `GO_PLATFORM_CLUSTER_DIR`, exit 1,
  never a traceback, and nothing is made there;
- a bad port or node count names the option or variable it came from;
- `stop --purge` deletes only what a start makes, names what else is there and keeps it;
  on a directory that never held a cluster it deletes nothing and is an error; a plain
  `stop` there leaves no lock file behind;
- `status` of a stopped cluster outside the repository's default directory gives a start
  command that names that directory; missing binaries are told with the build command for
  the cache in use;
- a data directory another user owns (a `sudo make cluster-start` made it root's) is one
  line naming the lock it cannot take and the chown that gives it back, not a traceback.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

CLUSTER = REPO / "tools" / "cluster" / "cluster.py"
sys.path.append(str(CLUSTER.parent))  # for `localcluster`, the tool's own package
sys.path.append(str(CLUSTER.parent.parent))  # for `gobuild`, which it shares with the toolchain

from localcluster.api import condition_true  # noqa: E402
from localcluster.base import Binaries, Cache, Versions  # noqa: E402


def cluster(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # The developer's own cluster settings must not leak into these runs.
    base = {k: v for k, v in os.environ.items() if not k.startswith("GO_PLATFORM_CLUSTER_")}
    return subprocess.run(
        [sys.executable, str(CLUSTER), *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=60,
        check=False,
    )


def stand_in_build(cache: Path) -> dict[str, str]:
    """A cache holding empty stand-ins for the control plane's binaries, as the environment
    that points `cluster.py` at it: for tests that fail before any binary runs, so they do
    not depend on whether `make cluster-build` has run."""
    binaries = Binaries.of(Cache(cache / Cache.subdirectory), Versions.load())
    for path in [*binaries.executables(), binaries.kubectl]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
        path.chmod(0o755)
    binaries.kwok_stages.mkdir(parents=True)
    (binaries.kwok_stages / "stage.yaml").write_text("")
    assert not binaries.missing()
    return {"GO_PLATFORM_CACHE": str(cache)}


def one_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single error line of a failed run."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("command", ["start", "stop", "status", "kubeconfig"])
def test_a_data_directory_under_a_file_is_one_line(tmp_path, command):
    afile = tmp_path / "afile"
    afile.write_text("")

    for data_dir in (afile, afile / "sub"):
        line = one_error(cluster(command, "--data-dir", str(data_dir)))
        assert line == f"cluster: error: --data-dir: {afile} is a file, not a directory"
    assert afile.read_text() == ""


def test_the_environment_variable_is_named_when_it_is_the_source(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")

    line = one_error(cluster("status", env={"GO_PLATFORM_CLUSTER_DIR": str(afile)}))

    assert line == f"cluster: error: GO_PLATFORM_CLUSTER_DIR: {afile} is a file, not a directory"


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--data-dir", ""], {}, "--data-dir is empty; give a directory"),
        ([], {"GO_PLATFORM_CLUSTER_DIR": " "}, "GO_PLATFORM_CLUSTER_DIR is empty"),
    ],
)
def test_an_empty_data_directory_is_a_mistake_not_the_default(args, env, says):
    line = one_error(cluster("stop", *args, env=env))

    assert line.startswith(f"cluster: error: {says}")


def test_a_data_directory_that_cannot_be_created_is_one_line(tmp_path):
    parent = tmp_path / "read-only"
    parent.mkdir()
    parent.chmod(0o555)
    if os.access(parent, os.W_OK):  # root writes anywhere; /proc refuses even root
        parent = Path("/proc")

    line = one_error(
        cluster("start", "--data-dir", str(parent / "cluster"), env=stand_in_build(tmp_path / "c"))
    )

    assert line.startswith(f"cluster: error: cannot create the data directory {parent}/cluster: ")
    assert not (parent / "cluster").exists()


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--port", "abc"], {}, "the API server port (--port) must be a number, got 'abc'"),
        ([], {"GO_PLATFORM_CLUSTER_PORT": "70000"}, "(GO_PLATFORM_CLUSTER_PORT) must be between"),
        ([], {"GO_PLATFORM_CLUSTER_NODES": "x"}, "nodes (GO_PLATFORM_CLUSTER_NODES) must be a"),
        (["--nodes", "0"], {}, "the number of nodes (--nodes) must be between 1 and 50, got 0"),
    ],
)
def test_a_bad_port_or_node_count_names_where_it_came_from(tmp_path, args, env, says):
    line = one_error(cluster("start", "--data-dir", str(tmp_path / "c"), *args, env=env))

    assert says in line
    assert not (tmp_path / "c").exists()


def test_purge_leaves_a_directory_that_never_held_a_cluster(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a").write_text("keep")
    (tmp_path / "notes.txt").write_text("keep")
    (tmp_path / "bin").mkdir()  # a name a start also makes: still not the cluster's

    line = one_error(cluster("stop", "--purge", "--data-dir", str(tmp_path)))

    assert line == (
        f"cluster: error: {tmp_path} holds no cluster's data (no cluster.json, pki/ or etcd/); "
        "deleted nothing"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "notes.txt", "sub"]


def test_stop_of_a_directory_that_never_held_a_cluster_leaves_no_lock(tmp_path):
    (tmp_path / "notes.txt").write_text("keep")

    stopped = cluster("stop", "--data-dir", str(tmp_path))

    assert stopped.returncode == 0, stopped.stderr
    assert "nothing to stop" in stopped.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_purge_deletes_what_a_start_made_and_names_the_rest(tmp_path):
    for made in ("pki", "etcd/member", "config", "logs", "bin"):
        (tmp_path / made).mkdir(parents=True)
    (tmp_path / "etcd" / "member" / "wal").write_text("x")
    (tmp_path / "kubeconfig").write_text("x")
    (tmp_path / "bin" / "kubectl").symlink_to(tmp_path / "nowhere")
    (tmp_path / "mine.txt").write_text("keep")

    purged = cluster("stop", "--purge", "--data-dir", str(tmp_path))

    assert purged.returncode == 0, purged.stderr
    assert f"cluster: removed the data in {tmp_path}" in purged.stderr
    assert "cluster: left what it did not make there: mine.txt" in purged.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "mine.txt"]


def test_status_of_a_stopped_cluster_elsewhere_says_how_to_start_that_one(tmp_path):
    (tmp_path / "pki").mkdir()

    stopped = cluster("status", "--data-dir", str(tmp_path))

    assert stopped.returncode == 3, stopped.stderr
    hint = stopped.stdout.split("start it with `", 1)[1].split("`", 1)[0]
    python, tool, *rest = shlex.split(hint)
    assert Path(tool) == CLUSTER
    assert rest == ["start", "--data-dir", str(tmp_path)]
    version = subprocess.run([python, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("Python 3.")


def test_missing_binaries_say_how_to_build_them_into_the_cache_in_use(tmp_path):
    cache = tmp_path / "cache"

    line = one_error(
        cluster("start", "--data-dir", str(tmp_path / "c"), env={"GO_PLATFORM_CACHE": str(cache)})
    )

    assert line.startswith("cluster: error: control plane binaries missing (etcd, ")
    assert line.endswith(f"run `GO_PLATFORM_CACHE={cache} make cluster-build`")
    assert not (tmp_path / "c").exists()


READY = {"type": "Ready", "status": "True"}


@pytest.mark.parametrize(
    ("body", "ready"),
    [
        ({"status": {"conditions": [READY]}}, True),
        ({"status": {"conditions": [{"type": "Ready", "status": "False"}, READY]}}, True),
        ({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}, False),
        ({"status": {"conditions": [{**READY, "type": "Established"}]}}, False),
        # What the API returns before a controller has written the status: the wait goes on.
        ({"status": {"conditions": None}}, False),
        ({"status": None}, False),
        ({"metadata": {}}, False),
        ("404 page not found", False),
        ({"status": {"conditions": [None, "x", READY]}}, True),
    ],
)
def test_a_condition_is_read_from_whatever_status_the_api_returns(body, ready):
    assert condition_true(body, "Ready") is ready


def as_nobody() -> list[str] | None:
    """The words that run a Python (3.11 or later, as the tool needs) as the user nobody,
    or None: not root, no runuser, or no Python that user may run."""
    runuser = shutil.which("runuser")
    if os.geteuid() != 0 or runuser is None:
        return None
    for python in (sys.executable, "/usr/bin/python3", shutil.which("python3")):
        if python is None:
            continue
        words = [runuser, "-u", "nobody", "--", python]
        check = "import sys; sys.exit(sys.version_info < (3, 11))"
        probe = subprocess.run([*words, "-c", check], capture_output=True, check=False)
        if probe.returncode == 0:
            return words
    return None


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory every user can reach (pytest's own are root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="cluster-cli-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_a_data_directory_of_another_user_is_one_line_with_the_chown(shared_dir: Path):
    nobody = as_nobody()
    if nobody is None:
        pytest.skip("needs root, runuser and a Python 3.11 the user nobody may run")
    data = shared_dir / "data"
    (data / "pki").mkdir(parents=True)  # root's, as after `sudo make cluster-start`
    data.chmod(0o755)
    env = {"GO_PLATFORM_CACHE": str(shared_dir / "cache"), "PYTHONDONTWRITEBYTECODE": "1"}
    base = {k: v for k, v in os.environ.items() if not k.startswith("GO_PLATFORM_CLUSTER_")}

    result = subprocess.run(
        [*nobody, str(CLUSTER), "stop", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        env={**base, **env},
        timeout=60,
        check=False,
    )

    assert one_error(result) == (
        f"cluster: error: {data}/.lock: permission denied; {data} is owned by root, not nobody"
        f" (made by a `sudo` run?); give it back with `sudo chown -R nobody {data}`"
    )
