"""The project virtualenv as `make venv` builds it.

Invariant guarded: the packages that the Python processes of every engine command import
(the program, the policy pack, the driver: the Pulumi SDKs, the policy SDK, gRPC, protobuf,
pydantic, the Kubernetes client) are installed with their bytecode, so those processes do not
compile them from source on each start, as they would wherever bytecode cannot be written
(PYTHONDONTWRITEBYTECODE, a read-only checkout): about 4 s of CPU per program run
(Makefile, `--compile-bytecode`; docs/PERFORMANCE.md).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

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


def uncompiled(package: str) -> list[Path]:
    """The package's source files that have no bytecode beside them."""
    spec = importlib.util.find_spec(package)
    assert spec is not None, f"{package} is not installed"
    assert spec.submodule_search_locations, f"{package} is not a package"
    root = Path(next(iter(spec.submodule_search_locations)))
    return [
        source
        for source in root.rglob("*.py")
        if not Path(importlib.util.cache_from_source(str(source))).is_file()
    ]


@pytest.mark.parametrize("package", ENGINE_IMPORTS)
def test_what_engine_processes_import_is_installed_compiled(package: str) -> None:
    missing = uncompiled(package)
    assert not missing, (
        f"{len(missing)} modules of {package} have no bytecode (first: {missing[0]}); "
        "the virtualenv predates `--compile-bytecode`: rm -rf venv && make venv"
    )
