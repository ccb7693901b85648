"""The project virtualenv as `make venv` builds it, and the policy pack's own as `make
policy-venv` builds it.

Invariant guarded: the packages that the Python processes of every engine command import
(the program and the driver from the project virtualenv: the Pulumi SDKs, the policy SDK,
gRPC, protobuf, pydantic, the Kubernetes client; the policy pack from `policies/venv`: the
Pulumi and policy SDKs, gRPC, protobuf, pydantic) are installed with their bytecode, so
those processes do not compile them from source on each start, as they would wherever
bytecode cannot be written (PYTHONDONTWRITEBYTECODE, a read-only checkout): about 4 s of CPU
per program run (Makefile, `--compile-bytecode`; docs/PERFORMANCE.md). Our own modules
(the program's, the pack's, the driver's) are compiled by `make venv` too (`bytecode`), since
the editable installs leave them as source.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

ENGINE_IMPORTS = (
    "pulumi",
    "pulumi_kubernetes",
    "pulumi_random",
    "pulumi_policy",
    "grpc",
    "google.protobuf",
    "pydantic",
    "kubernetes",
)


PACK_VENV = REPO / "policies" / "venv"
PACK_IMPORTS = ("pulumi", "pulumi_policy", "grpc", "google.protobuf", "pydantic")


def has_bytecode(source: Path) -> bool:
    """Whether the source file has bytecode (for this Python) beside it."""
    return Path(importlib.util.cache_from_source(str(source))).is_file()


def uncompiled_under(root: Path) -> list[Path]:
    """The source files under `root` that have no bytecode beside them."""
    return [source for source in root.rglob("*.py") if not has_bytecode(source)]


def uncompiled(package: str) -> list[Path]:
    """The package's source files, as this virtualenv has them, that have no bytecode."""
    spec = importlib.util.find_spec(package)
    assert spec is not None, f"{package} is not installed"
    assert spec.submodule_search_locations, f"{package} is not a package"
    return uncompiled_under(Path(next(iter(spec.submodule_search_locations))))


@pytest.mark.parametrize("package", ENGINE_IMPORTS)
def test_what_engine_processes_import_is_installed_compiled(package: str) -> None:
    missing = uncompiled(package)
    assert not missing, (
        f"{len(missing)} modules of {package} have no bytecode (first: {missing[0]}); "
        "the virtualenv predates `--compile-bytecode`: rm -rf venv && make venv"
    )


@pytest.mark.parametrize("package", PACK_IMPORTS)
def test_what_the_policy_pack_imports_is_installed_compiled_in_its_own_virtualenv(
    package: str,
) -> None:
    # The pack's virtualenv is made by the same Python as this one (the Makefile's $(PYTHON)).
    tag = f"python{sys.version_info.major}.{sys.version_info.minor}"
    root = PACK_VENV / "lib" / tag / "site-packages" / Path(*package.split("."))
    assert root.is_dir(), f"{root} is missing: make policy-venv"
    missing = uncompiled_under(root)
    assert not missing, (
        f"{len(missing)} modules of {package} in the pack's virtualenv have no bytecode "
        f"(first: {missing[0]}): rm -rf policies/venv && make policy-venv"
    )


def own_python() -> list[str]:
    """The paths the Makefile's `bytecode` target compiles (OWN_PYTHON)."""
    text = (REPO / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    found = re.search(r"^OWN_PYTHON := (.+)$", text, re.MULTILINE)
    assert found, "the Makefile has no OWN_PYTHON"
    return found.group(1).split()


def test_make_venv_compiles_every_package_the_engine_processes_import() -> None:
    # The program's and the pack's entry points, and every package of ours beside them: one
    # added later and not listed would be compiled from source on every engine command.
    listed = own_python()
    assert {"__main__.py", "policies/__main__.py"} <= set(listed)
    ours = [*REPO.glob("*/__init__.py"), *REPO.glob("*/*/__init__.py")]
    packages = {init.parent.relative_to(REPO) for init in ours}
    unlisted = [
        str(package)
        for package in packages
        if package.parts[0] not in ("tests", "bench", "tools")
        and not any(package.is_relative_to(path) for path in listed)
    ]
    assert not unlisted, f"not in the Makefile's OWN_PYTHON: {sorted(unlisted)}"


@pytest.mark.parametrize("path", own_python())
def test_our_own_modules_have_their_bytecode(path: str) -> None:
    source = REPO / path
    if source.is_dir():
        missing = uncompiled_under(source)
    else:
        missing = [] if has_bytecode(source) else [source]
    assert not missing, (
        f"{len(missing)} of our modules under {path} have no bytecode (first: {missing[0]}): "
        "make venv"
    )
