"""The upstream CustomResourceDefinitions the program installs: model and rules."""

from __future__ import annotations

import glob
import os
from pathlib import Path, PurePath

from pydantic import Field

from go_platform_core.config.base import CamelModel
from go_platform_core.config.errors import Problem
from go_platform_core.config.types import carries_credentials, credentials_refused, shown_value


class CrdSettings(CamelModel):
    install: bool = Field(
        description="Install the CustomResourceDefinitions the program uses (traefik.io, "
        "cert-manager.io, monitoring.coreos.com) before anything else; off where the "
        "charts install them."
    )
    sources: list[str] = Field(
        default_factory=list,
        description="Files, globs (relative to the project, within it, matching files only) or "
        "URLs of the definitions.",
    )


def crd_problems(crds: CrdSettings, project_dir: Path) -> list[Problem]:
    if crds.install and not crds.sources:
        return [Problem("crds.sources", "is empty; name the definitions to install")]
    problems = []
    for j, source in enumerate(crds.sources):
        reason = _source_problem(source, project_dir)
        if reason:
            problems.append(Problem(f"crds.sources[{j}]", reason))
    return problems


def _source_problem(source: str, project_dir: Path) -> str | None:
    """Why `source` names no definitions the program can read: a URL with credentials, or a
    file or glob that is empty, absolute, outside the project, or matches no readable file."""
    if "://" in source:
        return credentials_refused() if carries_credentials(source) else None
    shown = shown_value(source)
    if not source.strip():
        return "is empty; name a file or glob relative to the project (`crds/*.yaml`)"
    path = PurePath(source)
    if path.is_absolute() or source.startswith("~"):
        return f"{shown} is not relative to the project; name it from {project_dir}"
    if ".." in path.parts:
        return f"{shown} reaches outside the project ({project_dir}); copy the files in"
    try:
        # As pathlib's glob reads it (`**` recursive), but saying "nothing" rather than
        # raising for what it cannot look up (a name too long, a NUL, `.`).
        matches = sorted(glob.glob(source, root_dir=project_dir, recursive=True))
        if not matches and os.path.isfile(project_dir / source):
            matches = [source]
    except (OSError, ValueError):
        matches = []
    for match in matches:
        if os.path.isdir(project_dir / match):
            relative = PurePath(match).as_posix()
            return (
                f"{shown} matches the directory {shown_value(relative)}; name the files in it "
                f"(`{relative}/*.yaml`)"
            )
        if not os.access(project_dir / match, os.R_OK):
            return f"{shown} matches {shown_value(match)}, which cannot be read"
    if not matches:
        return f"{shown} matches no file under {project_dir}"
    return None
