#!/usr/bin/env python3
"""Build the policy pack as `pulumi policy publish` takes it: a directory that installs and
runs on a machine without this repository.

    python3 tools/policy_bundle.py [--output DIR] [--pack policies] [--core core]

The default output is `policy-pack/` in go-platform's cache
(${GO_PLATFORM_CACHE:-${XDG_CACHE_HOME:-~/.cache}/go-platform}), outside the repository.

The bundle is a copy of the pack without its virtualenv and bytecode, the core package's
wheel (built without its dependencies, which the pack's requirements pin) in `wheels/`, and
a requirements.txt that starts with `--find-links wheels`. pip reads a relative
`--find-links` in a requirements file against that file's directory, so `pulumi install`
in the bundle (the language host's pip) and `pip install -r <bundle>/requirements.txt` from
any directory both find `go-platform-core` there, while the pin stays a name and a version
that an organisation's own index may serve instead. (A relative path to the wheel as the
requirement would be read against pip's working directory instead, and drop the pin.)

`pulumi policy publish` archives the directory it runs in, leaving out what any
`.gitignore` in it or above it ignores. The bundle's own `.gitignore` keeps the virtualenv
that `pulumi install` makes there out of the archive; a bundle inside a directory git
ignores would be archived empty, which is why the default lies outside the repository, and
the tool says so when an --output is ignored.

The core version `core/pyproject.toml` declares must be the one `policies/requirements.txt`
pins, else nothing is built. Standard library only; bad arguments are one line.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import NoReturn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))  # gobuild: the cache root the toolchain uses
from gobuild.cache import cache_root, not_a_directory  # noqa: E402
from gobuild.errors import ToolError  # noqa: E402

CORE_PROJECT = "go-platform-core"
WHEELS = "wheels"
LEFT_OUT = ("venv", "__pycache__", "*.pyc")
"""What of the pack a bundle never holds: its virtualenv (PulumiPolicy.yaml's, `venv`) and
bytecode. The installing machine makes its own."""
BUILD_LEFTOVERS = ("build", "*.egg-info", "dist")
"""What an earlier build or editable install left in `core/`; not copied into the build."""


class BundleError(Exception):
    """A problem with the inputs or the build, told in one line."""


def normalized(name: str) -> str:
    """A distribution name as the packaging standards compare them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_version(requirements: str, project: str = CORE_PROJECT) -> str:
    """The version `requirements` pins `project` to (`project==version`)."""
    for raw in requirements.splitlines():
        line = raw.split("#", 1)[0].strip()
        found = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\S.*)?", line)
        if not found or normalized(found.group(1)) != normalized(project):
            continue
        pin = re.fullmatch(r"==\s*([^\s,;]+)", found.group(2) or "")
        if pin is None:
            raise BundleError(f"names {project} as {line!r}; pin it with ==<version>")
        return pin.group(1)
    raise BundleError(f"does not name {project}")


def declared_version(pyproject: str, project: str = CORE_PROJECT) -> str:
    """The version a pyproject.toml declares for `project`."""
    try:
        table = tomllib.loads(pyproject).get("project", {})
    except tomllib.TOMLDecodeError as error:
        raise BundleError(f"is not valid TOML ({error})") from None
    if normalized(str(table.get("name", ""))) != normalized(project):
        raise BundleError(f"declares project {table.get('name')!r}, not {project}")
    version = table.get("version")
    if not isinstance(version, str) or not version:
        raise BundleError("declares no static [project] version")
    return version


def check_core_pin(pinned: str, declared: str) -> None:
    """The pack's pin and the core package's version must agree, or the bundle's wheel would
    not satisfy its own requirements."""
    if pinned != declared:
        raise BundleError(
            f"the pack pins {CORE_PROJECT}=={pinned} but the core package declares "
            f"version {declared}; make policies/requirements.txt and core/pyproject.toml agree"
        )


def bundle_requirements(requirements: str, wheels: str = WHEELS) -> str:
    """The pack's requirements, with the core wheel's directory (relative to the file) as a
    place to find packages."""
    return (
        f"# Bundled by tools/policy_bundle.py: {CORE_PROJECT} is the wheel in {wheels}/, which\n"
        "# pip reads relative to this file.\n"
        f"--find-links {wheels}\n{requirements}"
    )


def bundle_gitignore() -> str:
    """The bundle's .gitignore: what `pulumi policy publish` must not archive, such as the
    virtualenv `pulumi install` makes in the bundle."""
    return "".join(f"{pattern}\n" for pattern in LEFT_OUT)


def output_problem(output: Path, pack: Path) -> str | None:
    """Why `output` cannot take a bundle of `pack` (both resolved), or None. A bundle replaces
    only an earlier bundle or an empty directory."""
    if output == pack or output.is_relative_to(pack) or pack.is_relative_to(output):
        return f"--output {output}: must lie outside the pack {pack}, and not contain it"
    if output.exists() and not output.is_dir():
        return f"--output {output}: is a file, not a directory"
    in_the_way = not_a_directory(output.parent)
    if in_the_way:
        return f"--output {output}: {in_the_way}"
    if output.is_dir() and any(output.iterdir()) and not is_bundle(output):
        return f"--output {output}: exists and is not a policy bundle; name another directory"
    return None


def is_bundle(directory: Path) -> bool:
    return (directory / "PulumiPolicy.yaml").is_file() and (directory / WHEELS).is_dir()


def build_wheel(core: Path, into: Path, scratch: Path) -> Path:
    """The core package's wheel, without its dependencies, built from a copy of `core` in
    `scratch` (a build writes beside the sources) into `into`."""
    source = scratch / "core"
    shutil.copytree(core, source, ignore=shutil.ignore_patterns(*BUILD_LEFTOVERS))
    built = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check"),
            *("--no-deps", "--wheel-dir", str(into), str(source)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        raise BundleError(f"pip wheel {core} failed: {pip_failure(built.stderr)}")
    wheels = sorted(into.glob("*.whl"))
    if len(wheels) != 1:
        raise BundleError(f"pip wheel {core} left {len(wheels)} wheels, expected one")
    return wheels[0]


def pip_failure(stderr: str) -> str:
    """Why pip failed, in one line: its last `ERROR:` line, which names the cause (a build
    requirement it could not find), rather than its closing note about subprocesses."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR:").strip() for line in lines if line.startswith("ERROR:")]
    return errors[-1] if errors else (lines[-1] if lines else "no output")


def ignored_by_git(directory: Path) -> bool:
    """Whether git ignores `directory`'s PulumiPolicy.yaml (always False outside a work
    tree): then a .gitignore above it hides the bundle from `pulumi policy publish` too."""
    try:
        checked = subprocess.run(
            ["git", "check-ignore", "--quiet", "PulumiPolicy.yaml"],
            cwd=directory,
            capture_output=True,
            check=False,
        )
    except OSError:  # no git: nothing to ask
        return False
    return checked.returncode == 0


def read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise BundleError(
            f"--{what} {path.parent}: no readable {path.name} ({error.strerror})"
        ) from None


def build_bundle(pack: Path, core: Path, output: Path) -> tuple[Path, str]:
    """Write the bundle of `pack` to `output` (replacing an earlier one); the wheel and the
    core version."""
    pack, core, output = pack.resolve(), core.resolve(), output.resolve()
    if not (pack / "PulumiPolicy.yaml").is_file():
        raise BundleError(f"--pack {pack}: no PulumiPolicy.yaml there")
    requirements = read(pack / "requirements.txt", "pack")
    pyproject = read(core / "pyproject.toml", "core")
    try:
        pinned = pinned_version(requirements)
    except BundleError as error:
        raise BundleError(f"{pack / 'requirements.txt'} {error}") from None
    try:
        declared = declared_version(pyproject)
    except BundleError as error:
        raise BundleError(f"{core / 'pyproject.toml'} {error}") from None
    check_core_pin(pinned, declared)
    problem = output_problem(output, pack)
    if problem:
        raise BundleError(problem)

    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        # Built beside the output and moved in at the end: a failed build leaves the old one.
        with tempfile.TemporaryDirectory(prefix=f".{output.name}-", dir=output.parent) as scratch:
            staged = Path(scratch) / "bundle"
            shutil.copytree(pack, staged, ignore=shutil.ignore_patterns(*LEFT_OUT))
            wheel = build_wheel(core, staged / WHEELS, Path(scratch))
            (staged / "requirements.txt").write_text(
                bundle_requirements(requirements), encoding="utf-8"
            )
            (staged / ".gitignore").write_text(bundle_gitignore(), encoding="utf-8")
            if output.exists():
                shutil.rmtree(output)
            staged.rename(output)
    except OSError as error:  # a directory that cannot be made or written, a full disk
        where = f" ({error.filename})" if error.filename else ""
        raise BundleError(
            f"--output {output}: cannot write the bundle{where}: {error.strerror}"
        ) from None
    return output / WHEELS / wheel.name, declared


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments are one line, not argparse's usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="policy_bundle.py", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--output", type=Path, help="the bundle directory (default: policy-pack/ in the cache)"
    )
    parser.add_argument("--pack", type=Path, default=REPO / "policies", help="the policy pack")
    parser.add_argument("--core", type=Path, default=REPO / "core", help="the core package")
    args = parser.parse_args(argv)
    try:
        output = args.output or cache_root("policy-pack", "policy bundle")
        wheel, version = build_bundle(args.pack, args.core, output)
    except (BundleError, ToolError) as error:
        print(f"policy_bundle.py: {error}", file=sys.stderr)
        return 1
    bundle = wheel.parents[1]
    print(f"policy bundle {bundle} ({CORE_PROJECT} {version}: {WHEELS}/{wheel.name})")
    if ignored_by_git(bundle):
        print(
            f"{bundle} is ignored by git, so `pulumi policy publish` would archive none of it; "
            "to publish, build it outside any git work tree (--output DIR; make: POLICY_BUNDLE=DIR)"
        )
    else:
        print(f"publish it: cd {bundle} && pulumi install && pulumi policy publish <org>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
