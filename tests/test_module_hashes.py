"""The pinned modules' hashes (tools/gobuild/sums.py) as both build tools check them, with
the go command's downloads stubbed: nothing here needs the network or builds anything.

Invariants guarded:
- the committed toolchain.toml and versions.toml commit a zip hash and a go.mod hash for
  every module version they pin (versions.toml's staging lines at the release's
  v0.<minor>.<patch>);
- a downloaded module whose zip or go.mod hash differs from the committed one is one error
  naming the module, the version, the hash expected and the one got, and what to do, raised
  before any build step runs: the cluster's wrapper is not completed, no toolchain component
  runs the go command past the download, and no stamp is written;
- a pin without committed hashes fails the same way, with the go.sum lines to commit, whether
  the checksum database vouched for them, and the lines of the old version they replace;
- matching hashes pass; the cluster wrapper's go.sum holds the downloaded modules' own lines
  and every line of their go.sum files, as the toolchain's wrappers' do; two sources that
  disagree on a hash are an error;
- a `go_sum` that is not go.sum lines, or two lines that disagree, is one error naming the
  file and the table;
- the checksum database is off for a module as the go command decides it: GOSUMDB=off, or a
  GONOSUMDB pattern (GOPRIVATE's by default) matching as many leading elements of its path;
- the doctor reports a pin without hashes as a problem, and whether the checksum database is
  on for the pinned modules (neither is a problem), naming the manifest whose hashes verify
  them either way.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.test_toolchain_cli import bootstrap as run_bootstrap

CLUSTER_TOOL = REPO / "tools" / "cluster"
sys.path.append(str(CLUSTER_TOOL))  # for `localcluster`
sys.path.append(str(REPO / "tools"))  # for `gobuild`
sys.path.append(str(REPO / "tools" / "toolchain"))  # for `bootstrap`

import bootstrap  # noqa: E402
from gobuild.errors import ToolError  # noqa: E402
from gobuild.modules import GoMod, Module, Replace  # noqa: E402
from gobuild.sums import (  # noqa: E402
    ChecksumDatabase,
    GoSum,
    ModuleHashError,
    ModuleHashes,
    matches_prefix_patterns,
)
from localcluster import build as cluster_build  # noqa: E402
from localcluster.base import Cache, Progress, Versions  # noqa: E402

SUMDB_OFF = ChecksumDatabase(gosumdb="off", gonosumdb="", goprivate="")
SUMDB_ON = ChecksumDatabase(gosumdb="", gonosumdb="", goprivate="")


def h1(seed: str) -> str:
    """A well-formed go.sum hash, different for every seed."""
    return "h1:" + base64.b64encode(hashlib.sha256(seed.encode()).digest()).decode()


def make_module(
    root: Path,
    path: str,
    version: str,
    *,
    zip_hash: str = "",
    go_mod_hash: str = "",
    go_sum: Sequence[str] = (),
) -> Module:
    """A module as `go mod download -json` reports it, in a directory of its own; its
    hashes are those of its seed unless given."""
    directory = root / "modcache" / f"{path}@{version}"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "go.mod").write_text(f"module {path}\n", encoding="utf-8")
    if go_sum:
        (directory / "go.sum").write_text("".join(f"{line}\n" for line in go_sum), "utf-8")
    return Module(
        path=path,
        version=version,
        dir=directory,
        go_mod=directory / "go.mod",
        sum=zip_hash or h1(f"{path}@{version}"),
        go_mod_sum=go_mod_hash or h1(f"{path}@{version}/go.mod"),
    )


def assert_names_the_mismatch(
    message: str, pinned: Module, altered: Mapping[str, str], pins: Path, docs: str
) -> None:
    """`message` is the one error for `pinned` served with the `altered` hash: the module,
    which hash, expected and got, the pins file and the docs."""
    assert message.startswith(f"{pinned.path}@{pinned.version} is not the module version pinned")
    what, expected, got = (
        ("zip", pinned.sum, altered["zip_hash"])
        if "zip_hash" in altered
        else ("go.mod", pinned.go_mod_sum, altered["go_mod_hash"])
    )
    assert f"downloaded {what} hash {got}, expected {expected}" in message
    assert f"in {pins}" in message
    assert docs in message


def go_sum_lines(*modules: Module) -> list[str]:
    lines = []
    for module in modules:
        lines.append(f"{module.path} {module.version} {module.sum}")
        lines.append(f"{module.path} {module.version}/go.mod {module.go_mod_sum}")
    return lines


def go_sum_block(*modules: Module) -> str:
    return 'go_sum = """\n' + "".join(f"{line}\n" for line in go_sum_lines(*modules)) + '"""\n'


def hashes_of(tmp_path: Path, **tables: Sequence[Module]) -> ModuleHashes:
    text = "".join(f"[{name}]\n{go_sum_block(*modules)}" for name, modules in tables.items())
    file = tmp_path / "pins.toml"
    file.write_text(text, encoding="utf-8")
    data = bootstrap.read_toml(file, missing="{path}", invalid="{path}: {error}")
    return ModuleHashes.read(file, data, "docs/x.md#module-hashes")


# --- ModuleHashes ---------------------------------------------------------------------------


def test_matching_hashes_pass(tmp_path: Path):
    module = make_module(tmp_path, "example.com/m", "v1.2.3")
    hashes = hashes_of(tmp_path, m=[module])

    hashes.check([(module, "m")], SUMDB_OFF)

    assert hashes.expected("example.com/m", "v1.2.3") == (module.sum, module.go_mod_sum)
    assert hashes.unhashed([("example.com/m", "v1.2.3"), ("example.com/m", "v1.2.4")]) == [
        ("example.com/m", "v1.2.4")
    ]


@pytest.mark.parametrize("which", ["zip", "go.mod", "both"])
def test_a_different_hash_is_one_error_naming_expected_and_got(tmp_path: Path, which: str):
    pinned = make_module(tmp_path, "example.com/m", "v1.2.3")
    hashes = hashes_of(tmp_path, m=[pinned])
    served = make_module(
        tmp_path,
        "example.com/m",
        "v1.2.3",
        zip_hash=h1("other zip") if which in {"zip", "both"} else "",
        go_mod_hash=h1("other go.mod") if which in {"go.mod", "both"} else "",
    )

    with pytest.raises(ModuleHashError) as raised:
        hashes.check([(served, "m")], SUMDB_ON)

    message = str(raised.value)
    assert message.count("\n") == 0
    assert message.startswith("example.com/m@v1.2.3 is not the module version pinned: downloaded")
    if which in {"zip", "both"}:
        assert f"zip hash {h1('other zip')}, expected {pinned.sum}" in message
    if which in {"go.mod", "both"}:
        assert f"go.mod hash {h1('other go.mod')}, expected {pinned.go_mod_sum}" in message
    assert f"[m] go_sum in {tmp_path / 'pins.toml'}" in message
    assert "If you changed the pin or its lines on purpose" in message
    assert "docs/x.md#module-hashes" in message
    assert "GOPROXY served other content than the release pinned" in message


@pytest.mark.parametrize(
    ("database", "trust"),
    [
        (SUMDB_ON, "the go command checked them against the checksum database (GOSUMDB)"),
        (SUMDB_OFF, "the checksum database is off for it (GOSUMDB=off), so compare them"),
    ],
)
def test_a_pin_without_hashes_fails_with_the_lines_to_commit(
    tmp_path: Path, database: ChecksumDatabase, trust: str
):
    old = make_module(tmp_path, "example.com/m", "v1.2.3")
    hashes = hashes_of(tmp_path, m=[old])
    bumped = make_module(tmp_path, "example.com/m", "v1.2.4")

    with pytest.raises(ModuleHashError) as raised:
        hashes.check([(bumped, "m")], database)

    first, *lines = str(raised.value).splitlines()
    assert first.startswith(
        f"example.com/m@v1.2.4: [m] go_sum in {tmp_path / 'pins.toml'} commits no hash of it."
        " If you changed the pin on purpose, add these lines there in place of those of v1.2.3"
    )
    assert trust in first
    assert lines == [f"    {line}" for line in go_sum_lines(bumped)]


def test_every_module_that_fails_is_named_in_the_one_error(tmp_path: Path):
    a, b = (
        make_module(tmp_path, "example.com/a", "v1.0.0"),
        make_module(tmp_path, "b.org/b", "v2.0.0"),
    )
    hashes = hashes_of(tmp_path, a=[a])
    altered = make_module(tmp_path, "example.com/a", "v1.0.0", zip_hash=h1("altered"))

    with pytest.raises(ModuleHashError) as raised:
        hashes.check([(altered, "a"), (b, "b")], SUMDB_ON)

    message = str(raised.value)
    assert "example.com/a@v1.0.0 is not the module version pinned" in message
    assert "b.org/b@v2.0.0: [b] go_sum" in message


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[m]\ngo_sum = 3\n", "[m].go_sum must be a string of go.sum lines"),
        (
            '[m]\ngo_sum = """\nexample.com/m v1.0.0 sha256:abc\n"""\n',
            "line 1 of [m].go_sum is not a go.sum line",
        ),
        (
            '[m]\ngo_sum = """\n\nexample.com/m v1.0.0\n"""\n',
            "line 2 of [m].go_sum is not a go.sum line",
        ),
        (
            f'[a]\ngo_sum = "example.com/m v1.0.0 {h1("x")}"\n'
            f'[b]\ngo_sum = "example.com/m v1.0.0 {h1("y")}"\n',
            f"example.com/m v1.0.0 is committed twice with different hashes ({h1('x')} in [a],"
            f" {h1('y')} in [b])",
        ),
    ],
)
def test_a_malformed_go_sum_is_one_error_naming_the_file(tmp_path: Path, text: str, says: str):
    file = tmp_path / "pins.toml"
    file.write_text(text, encoding="utf-8")
    data = bootstrap.read_toml(file, missing="{path}", invalid="{path}: {error}")

    with pytest.raises(ToolError) as raised:
        ModuleHashes.read(file, data, "docs")

    assert str(raised.value).startswith(f"{file}: ")
    assert says in str(raised.value)


# --- the checksum database ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patterns", "path", "matched"),
    [
        ("k8s.io", "k8s.io/api", "k8s.io"),
        ("k8s", "k8s.io/api", ""),
        ("*", "github.com/pulumi/pulumi/pkg/v3", "*"),
        ("github.com/pulumi", "github.com/pulumi/pulumi/pkg/v3", "github.com/pulumi"),
        ("github.com/pulumi/", "github.com/pulumi/pulumi/pkg/v3", "github.com/pulumi"),
        ("github.com/pulumi-", "github.com/pulumi-kubernetes/provider/v4", ""),
        ("*.corp,, github.com/*/pulumi", "github.com/pulumi/pulumi/sdk/v3", "github.com/*/pulumi"),
        ("*.corp", "git.corp/x", "*.corp"),
        ("a/b/c/d", "a/b", ""),
        ("", "k8s.io/api", ""),
    ],
)
def test_patterns_match_leading_path_elements_as_the_go_command_does(
    patterns: str, path: str, matched: str
):
    assert matches_prefix_patterns(patterns, path) == matched


@pytest.mark.parametrize(
    ("env", "why"),
    [
        ({"GOSUMDB": "sum.example"}, ""),
        ({"GOSUMDB": "off"}, "GOSUMDB=off"),
        ({"GONOSUMDB": "k8s.io", "GOPRIVATE": ""}, "GONOSUMDB pattern k8s.io"),
        ({"GONOSUMDB": "*", "GOPRIVATE": "*"}, "GOPRIVATE pattern *"),
        ({"GONOSUMDB": "sigs.k8s.io", "GOPRIVATE": "sigs.k8s.io"}, ""),
    ],
)
def test_the_checksum_database_is_off_as_go_env_says(env: dict[str, str], why: str):
    assert ChecksumDatabase.of(env).off_for("k8s.io/kubernetes") == why


def test_a_build_notes_when_the_checksum_database_is_off(tmp_path: Path):
    paths = ["k8s.io/kubernetes", "sigs.k8s.io/kwok"]
    assert SUMDB_ON.note(paths, tmp_path / "pins.toml") == ""
    note = ChecksumDatabase.of({"GONOSUMDB": "k8s.io"}).note(paths, tmp_path / "pins.toml")
    assert note.startswith("the checksum database is off for 1 pinned module(s) (GONOSUMDB")
    assert f"verified against the hashes committed in {tmp_path / 'pins.toml'}" in note


# --- seeding a wrapper's go.sum --------------------------------------------------------------


def test_go_sum_holds_the_modules_own_lines_and_their_go_sum(tmp_path: Path):
    dependency = f"example.com/dep v1.0.0 {h1('dep')}"
    a = make_module(tmp_path, "example.com/a", "v1.0.0", go_sum=[dependency, "not a line", ""])
    b = make_module(tmp_path, "example.com/b", "v1.0.0", go_sum=[dependency])
    sums = GoSum()

    sums.add_module(a)
    sums.add_module(b)
    sums.write(tmp_path)

    assert (tmp_path / "go.sum").read_text(encoding="utf-8").splitlines() == sorted(
        [*go_sum_lines(a, b), dependency]
    )


def test_go_sum_sources_that_disagree_are_an_error(tmp_path: Path):
    a = make_module(
        tmp_path, "example.com/a", "v1.0.0", go_sum=[f"example.com/dep v1.0.0 {h1('1')}"]
    )
    b = make_module(
        tmp_path, "example.com/b", "v1.0.0", go_sum=[f"example.com/dep v1.0.0 {h1('2')}"]
    )
    sums = GoSum()
    sums.add_module(a)

    with pytest.raises(
        ToolError,
        match=r"example\.com/dep v1\.0\.0: the go\.sum of example\.com/a@v1\.0\.0 records",
    ):
        sums.add_module(b)


# --- the cluster ------------------------------------------------------------------------------

VERSIONS = Versions(kubernetes="1.36.3", etcd="3.6.8", kwok="0.8.0")
NOT_SERVED = "reading the module proxy's answer: 404 Not Found"


class ClusterModules:
    """What the stubbed go command serves: the three releases, one published staging module
    and one that is not served; Kubernetes' go.mod replaces both with its own directories."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.served: dict[str, Module] = {
            cluster_build.KUBERNETES_MODULE: make_module(
                root,
                cluster_build.KUBERNETES_MODULE,
                "v1.36.3",
                go_sum=[f"example.com/kube-dep v1.0.0 {h1('kube-dep')}"],
            ),
            cluster_build.ETCD_MODULE: make_module(
                root,
                cluster_build.ETCD_MODULE,
                "v3.6.8",
                go_sum=[f"example.com/etcd-dep v2.0.0/go.mod {h1('etcd-dep')}"],
            ),
            cluster_build.KWOK_MODULE: make_module(root, cluster_build.KWOK_MODULE, "v0.8.0"),
            "k8s.io/api": make_module(
                root,
                "k8s.io/api",
                "v0.36.3",
                go_sum=[f"example.com/api-dep v3.0.0 {h1('api-dep')}"],
            ),
        }
        self.downloads: list[list[tuple[str, str]]] = []

    def pinned(self) -> Sequence[Module]:
        return [self.served[cluster_build.KUBERNETES_MODULE], self.served["k8s.io/api"]]

    def versions_file(self, **tables: Sequence[Module]) -> Path:
        defaults = {
            "kubernetes": self.pinned(),
            "etcd": [self.served[cluster_build.ETCD_MODULE]],
            "kwok": [self.served[cluster_build.KWOK_MODULE]],
        }
        defaults.update(tables)
        versions = {"kubernetes": "1.36.3", "etcd": "3.6.8", "kwok": "0.8.0"}
        text = "".join(
            f'[{name}]\nversion = "{versions[name]}"\n{go_sum_block(*modules) if modules else ""}'
            for name, modules in defaults.items()
        )
        path = self.root / "versions.toml"
        path.write_text(text, encoding="utf-8")
        return path

    def download(
        self, wanted: Sequence[tuple[str, str]], cwd: Path, env: Mapping[str, str]
    ) -> dict[str, Module | str]:
        self.downloads.append(list(wanted))
        return {path: self.served.get(path, NOT_SERVED) for path, _ in wanted}


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ClusterModules:
    """The cluster build with the go command stubbed: downloads come from ClusterModules,
    Kubernetes' go.mod is read as below, and any other go command is a test failure."""
    modules = ClusterModules(tmp_path)
    kubernetes_mod = GoMod(
        module=cluster_build.KUBERNETES_MODULE,
        go="1.25.0",
        requires={},
        replaces=tuple(
            Replace(path, "v0.0.0", f"./staging/src/{path}", "")
            for path in ("k8s.io/api", "k8s.io/sample-cli-plugin")
        ),
    )

    def no_go_command(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"a build step ran: {args[:2]}")

    monkeypatch.setattr(cluster_build, "download", modules.download)
    monkeypatch.setattr(cluster_build, "read_go_mod", lambda go_mod: kubernetes_mod)
    monkeypatch.setattr(cluster_build, "run_logged", no_go_command)
    monkeypatch.setattr(cluster_build, "capture", no_go_command)
    monkeypatch.setattr(
        cluster_build, "_go_env", lambda: {"GOVERSION": "go1.26.8", "GOSUMDB": "off"}
    )
    return modules


def test_the_cluster_wrapper_go_sum_is_seeded_with_the_downloaded_modules(
    cluster: ClusterModules, tmp_path: Path
):
    work = tmp_path / "work"
    work.mkdir()
    hashes = Versions.hashes(cluster.versions_file())
    stream = io.StringIO()

    wrapper, _ = cluster_build._prepare_wrapper(
        VERSIONS, work, "go1.26.8", Progress(stream), hashes, SUMDB_OFF
    )

    seeded = (work / "go.sum").read_text(encoding="utf-8").splitlines()
    served = list(cluster.served.values())
    assert seeded == sorted(
        [
            *go_sum_lines(*served),
            f"example.com/kube-dep v1.0.0 {h1('kube-dep')}",
            f"example.com/etcd-dep v2.0.0/go.mod {h1('etcd-dep')}",
            f"example.com/api-dep v3.0.0 {h1('api-dep')}",
        ]
    )
    assert wrapper.stubs == ["k8s.io/sample-cli-plugin"]
    assert "k8s.io/api => k8s.io/api v0.36.3" in (work / "go.mod").read_text(encoding="utf-8")
    assert "the checksum database is off for 4 pinned module(s) (GOSUMDB=off)" in stream.getvalue()


@pytest.mark.parametrize(
    ("path", "altered"),
    [
        (cluster_build.KWOK_MODULE, {"zip_hash": h1("altered kwok")}),
        (cluster_build.ETCD_MODULE, {"go_mod_hash": h1("altered etcd go.mod")}),
        (cluster_build.KUBERNETES_MODULE, {"zip_hash": h1("altered kubernetes")}),
        ("k8s.io/api", {"zip_hash": h1("altered api")}),
    ],
)
def test_a_cluster_module_other_than_committed_fails_before_any_build_step(
    cluster: ClusterModules, tmp_path: Path, path: str, altered: dict[str, str]
):
    versions_file = cluster.versions_file()
    pinned = cluster.served[path]
    cluster.served[path] = make_module(tmp_path / "proxy", path, pinned.version, **altered)
    cache = Cache(tmp_path / "cache")

    with pytest.raises(ModuleHashError) as raised:
        cluster_build.build(VERSIONS, cache, Progress(io.StringIO()), versions_file)

    assert_names_the_mismatch(
        str(raised.value), pinned, altered, versions_file, "docs/cluster.md#module-hashes"
    )
    work = cache.work_dir(
        "+".join(f"{c.name}-v{c.version}" for c in cluster_build.components(VERSIONS))
    )
    assert not (work / "go.mod").exists(), "the wrapper was written"
    assert not list(cache.root.glob("*/stamp.json"))


def test_a_cluster_pin_without_hashes_fails_before_any_build_step(
    cluster: ClusterModules, tmp_path: Path
):
    versions_file = cluster.versions_file(kwok=[])

    with pytest.raises(ModuleHashError) as raised:
        cluster_build.build(
            VERSIONS, Cache(tmp_path / "cache"), Progress(io.StringIO()), versions_file
        )

    first, *lines = str(raised.value).splitlines()
    assert first.startswith(
        f"sigs.k8s.io/kwok@v0.8.0: [kwok] go_sum in {versions_file} commits no hash"
    )
    assert "the checksum database is off for it (GOSUMDB=off)" in first
    assert lines == [
        f"    {line}" for line in go_sum_lines(cluster.served[cluster_build.KWOK_MODULE])
    ]
    assert cluster.downloads == [
        [
            (path, f"v{version}")
            for path, version in (
                (cluster_build.KUBERNETES_MODULE, "1.36.3"),
                (cluster_build.ETCD_MODULE, "3.6.8"),
                (cluster_build.KWOK_MODULE, "0.8.0"),
            )
        ]
    ], "the staging modules were asked for after a release failed its check"


def test_the_committed_versions_file_hashes_every_release_and_its_staging_modules():
    versions = Versions.load()
    hashes = Versions.hashes()
    releases = [
        (cluster_build.KUBERNETES_MODULE, f"v{versions.kubernetes}"),
        (cluster_build.ETCD_MODULE, f"v{versions.etcd}"),
        (cluster_build.KWOK_MODULE, f"v{versions.kwok}"),
    ]
    assert hashes.unhashed(releases) == []
    staging = {
        version
        for path, version in hashes.hashes
        if path.startswith("k8s.io/") and path != cluster_build.KUBERNETES_MODULE
    }
    assert staging == {versions.staging, f"{versions.staging}/go.mod"}


# --- the toolchain ----------------------------------------------------------------------------

PROVIDER = bootstrap.PROVIDER_RECIPES["kubernetes"].module
PROVIDER_VERSION = "v4.0.0-20260115033456-f47bc2d6f199"
PROVIDER_SDK = bootstrap.PROVIDER_RECIPES["kubernetes"].siblings[0]


class FakeGo(bootstrap.Go):
    """The go command as the recipes use it, serving `modules`; what it was asked for is
    recorded."""

    def __init__(self, modules: Mapping[str, Module], env: Mapping[str, str]) -> None:
        super().__init__()
        self.modules = dict(modules)
        self._env_cache = {"GOVERSION": "go1.26.8", **env}
        self.asked: list[tuple[str, str]] = []

    def download(self, path: str, version: str, cwd: Path) -> Module:
        self.asked.append((path, version))
        return self.modules[path]


@pytest.fixture
def served(tmp_path: Path) -> dict[str, Module]:
    root = tmp_path / "served"
    return {
        module.path: module
        for module in (
            make_module(root, bootstrap.PULUMI_PKG, "v3.276.0"),
            make_module(root, bootstrap.PULUMI_SDK, "v3.276.0"),
            make_module(root, PROVIDER, PROVIDER_VERSION),
            make_module(root, PROVIDER_SDK, "v4.25.0"),
            make_module(root, bootstrap.GOVULNCHECK_MODULE, "v1.10.0"),
            make_module(root, bootstrap.ATHENS_MODULE, "v0.18.0"),
        )
    }


def toolchain_manifest(
    tmp_path: Path, served: Mapping[str, Module], *, leave_out: str = ""
) -> bootstrap.Manifest:
    """A manifest pinning what `served` serves, each table's go_sum as committed, but for
    the table `leave_out`."""

    def block(table: str, *paths: str) -> str:
        return "" if table == leave_out else go_sum_block(*(served[p] for p in paths))

    text = (
        f'[pulumi]\nversion = "3.276.0"\n{block("pulumi", bootstrap.PULUMI_PKG, bootstrap.PULUMI_SDK)}'
        f'[plugins.kubernetes]\nversion = "4.25.0"\nmodule_version = "{PROVIDER_VERSION}"\n'
        f"{block('plugins.kubernetes', PROVIDER, PROVIDER_SDK)}"
        f'[govulncheck]\nversion = "1.10.0"\n{block("govulncheck", bootstrap.GOVULNCHECK_MODULE)}'
        f'[athens]\nversion = "0.18.0"\n{block("athens", bootstrap.ATHENS_MODULE)}'
    )
    path = tmp_path / "toolchain.toml"
    path.write_text(text, encoding="utf-8")
    return bootstrap.Manifest.load(path)


@pytest.fixture
def no_build_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any go command past the (stubbed) download is a test failure; reading a go.mod of the
    repository (the language host's, to know whether it is current) is not."""
    read_go_mod = bootstrap.read_go_mod

    def no_go_command(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"a build step ran: {args[:2]}")

    def repository_go_mod(go_mod: Path) -> GoMod:
        if not go_mod.is_relative_to(REPO):
            raise AssertionError(f"read {go_mod} before its module was checked")
        return read_go_mod(go_mod)

    for name in ("run_logged", "capture", "go_build", "verify_dependencies"):
        monkeypatch.setattr(bootstrap, name, no_go_command)
    monkeypatch.setattr(bootstrap, "read_go_mod", repository_go_mod)


def context(tmp_path: Path, manifest: bootstrap.Manifest, go: FakeGo) -> bootstrap.BuildContext:
    return bootstrap.BuildContext(
        manifest, bootstrap.Layout(tmp_path / "cache"), go, bootstrap.Progress(io.StringIO())
    )


def component(
    manifest: bootstrap.Manifest, layout: bootstrap.Layout, name: str
) -> bootstrap.Component:
    return next(c for c in bootstrap.components(manifest, layout) if c.name == name)


@pytest.mark.parametrize(
    ("name", "path", "altered"),
    [
        ("cli", bootstrap.PULUMI_PKG, {"zip_hash": h1("altered pkg")}),
        ("cli", bootstrap.PULUMI_SDK, {"go_mod_hash": h1("altered sdk go.mod")}),
        ("language-python", bootstrap.PULUMI_SDK, {"zip_hash": h1("altered sdk")}),
        ("kubernetes", PROVIDER, {"zip_hash": h1("altered provider")}),
        ("govulncheck", bootstrap.GOVULNCHECK_MODULE, {"go_mod_hash": h1("altered vuln")}),
        ("athens", bootstrap.ATHENS_MODULE, {"zip_hash": h1("altered athens")}),
    ],
)
@pytest.mark.usefixtures("no_build_steps")
def test_a_toolchain_module_other_than_committed_fails_before_any_build_step(
    tmp_path: Path, served: dict[str, Module], name: str, path: str, altered: dict[str, str]
):
    manifest = toolchain_manifest(tmp_path, served)
    pinned = served[path]
    go = FakeGo(
        {**served, path: make_module(tmp_path / "proxy", path, pinned.version, **altered)}, {}
    )
    ctx = context(tmp_path, manifest, go)
    built = component(manifest, ctx.layout, name)

    outcome = bootstrap._build_one(ctx, built, cli_failed=False)

    assert outcome["status"] == "failed"
    assert_names_the_mismatch(
        outcome["reason"], pinned, altered, manifest.path, "docs/toolchain.md#module-hashes"
    )
    assert built.read_stamp() is None
    log = ctx.progress.stream.getvalue()
    assert f"failed: {path}@{pinned.version} is not the module version pinned" in log
    assert "once fixed, rerun:" in log


@pytest.mark.usefixtures("no_build_steps")
def test_a_toolchain_pin_without_hashes_fails_before_any_build_step(
    tmp_path: Path, served: dict[str, Module]
):
    manifest = toolchain_manifest(tmp_path, served, leave_out="plugins.kubernetes")
    ctx = context(tmp_path, manifest, FakeGo(served, {"GOSUMDB": "off"}))

    outcome = bootstrap._build_one(
        ctx, component(manifest, ctx.layout, "kubernetes"), cli_failed=False
    )

    first, *lines = outcome["reason"].splitlines()
    assert first.startswith(
        f"{PROVIDER}@{PROVIDER_VERSION}: [plugins.kubernetes] go_sum in {manifest.path} commits no hash"
    )
    assert lines == [f"    {line}" for line in go_sum_lines(served[PROVIDER])]


def test_every_toolchain_pin_downloads_and_passes_with_matching_hashes(
    tmp_path: Path, served: dict[str, Module]
):
    manifest = toolchain_manifest(tmp_path, served)
    go = FakeGo(served, {})
    ctx = context(tmp_path, manifest, go)

    for pin in bootstrap.pinned_modules(manifest):
        assert ctx.download_pinned(pin.path, pin.version, tmp_path, pin.table) == served[pin.path]

    assert sorted(go.asked) == sorted((m.path, m.version) for m in served.values())


def test_the_toolchain_wrapper_go_sum_is_seeded_as_the_clusters(tmp_path: Path):
    dependency = f"example.com/dep v1.0.0 {h1('dep')}"
    module = make_module(tmp_path, bootstrap.ATHENS_MODULE, "v0.18.0", go_sum=[dependency])
    wrapper = bootstrap.WrapperModule("athens", tmp_path / "work")

    wrapper.require(module)
    wrapper.write()

    seeded = (tmp_path / "work" / "go.sum").read_text(encoding="utf-8").splitlines()
    assert seeded == sorted([*go_sum_lines(module), dependency])


def test_the_committed_manifest_hashes_every_module_it_pins():
    manifest = bootstrap.Manifest.load(bootstrap.DEFAULT_MANIFEST)
    pins = [(p.path, p.version) for p in bootstrap.pinned_modules(manifest)]

    assert all(version for _, version in pins)
    assert manifest.hashes.unhashed(pins) == []


# --- the doctor -------------------------------------------------------------------------------


def test_the_doctor_says_whether_the_checksum_database_is_on(
    tmp_path: Path, served: dict[str, Module]
):
    manifest = toolchain_manifest(tmp_path, served, leave_out="athens")

    on = bootstrap._hash_findings(manifest, {"GOSUMDB": "sum.example"})
    off = bootstrap._hash_findings(manifest, {"GOSUMDB": "off"})
    private = bootstrap._hash_findings(
        manifest, {"GONOSUMDB": "github.com/pulumi", "GOPRIVATE": "github.com/pulumi"}
    )

    no_hash = [(f.section, f.component, f.status) for f in on if f.status == "no-hash"]
    assert no_hash == [("consistency", "athens", "no-hash")]
    assert f"[athens] go_sum in {manifest.path} has no hash of v0.18.0" in on[0].detail
    checksums = {
        name: next(f for f in findings if f.section == "checksums")
        for name, findings in (("on", on), ("off", off), ("private", private))
    }
    assert {name: f.status for name, f in checksums.items()} == {
        "on": "on",
        "off": "off",
        "private": "off",
    }
    assert checksums["off"].detail.startswith("for all 6 pinned modules (GOSUMDB=off): the hashes")
    assert checksums["private"].detail.startswith(
        f"for {PROVIDER}, {PROVIDER_SDK}, {bootstrap.PULUMI_PKG}, {bootstrap.PULUMI_SDK}"
        " (GOPRIVATE pattern github.com/pulumi)"
    )
    for finding in checksums.values():
        assert f"the hashes committed in {manifest.path}" in finding.detail


def test_the_doctor_reports_the_checksum_database_off_and_no_problem_for_it(tmp_path: Path):
    ran = run_bootstrap(
        "doctor",
        "--json",
        GOSUMDB="off",
        GO_PLATFORM_CACHE=str(tmp_path / "cache"),
        GO_PLATFORM_TOOLCHAIN_MANIFEST=str(bootstrap.DEFAULT_MANIFEST),  # the committed one
    )

    findings = json.loads(ran.stdout)["findings"]
    assert [f["status"] for f in findings if f["section"] == "checksums"] == ["off"]
    assert not [f for f in findings if f["status"] == "no-hash"]
