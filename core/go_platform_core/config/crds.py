"""The upstream CustomResourceDefinitions the program installs: model and rules."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from go_platform_core.config.base import CamelModel
from go_platform_core.config.errors import Problem


class CrdSettings(CamelModel):
    install: bool = Field(
        description="Install the CustomResourceDefinitions the program uses (traefik.io, "
        "cert-manager.io, monitoring.coreos.com) before anything else; off where the "
        "charts install them."
    )
    sources: list[str] = Field(
        default_factory=list,
        description="Files, globs (relative to the project) or URLs of the definitions.",
    )


def crd_problems(crds: CrdSettings, project_dir: Path) -> list[Problem]:
    if crds.install and not crds.sources:
        return [Problem("crds.sources", "is empty; name the definitions to install")]
    problems = []
    for j, source in enumerate(crds.sources):
        if "://" in source:
            continue
        if not list(project_dir.glob(source)) and not (project_dir / source).is_file():
            problems.append(
                Problem(f"crds.sources[{j}]", f"{source!r} matches no file under {project_dir}")
            )
    return problems
