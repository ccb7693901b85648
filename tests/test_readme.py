"""The README's config reference is the models' own.

Invariants guarded:
- the generated section between the markers equals what `go_platform_core.reference` renders
  now, so a new key, default or description cannot land without its documentation;
- every key of every model appears in it; a pinned chart shows its pin;
- every code fence of the README and docs/ stands on its own line, and each opened is closed.
"""

from __future__ import annotations

import re

from go_platform_core.reference import markdown, replace_section, rows
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def test_readme_reference_is_current():
    assert replace_section(README) == README, "run `make docs` and commit README.md"


def test_reference_lists_every_key():
    section = markdown()
    keys = [key for key, *_ in rows()]
    assert "services[].resources.limits.memory" in keys
    assert "gateway.tls.clusterIssuer" in keys
    assert "services[].canary.steps" in keys
    for key in keys:
        assert f"| `{key}` |" in section


def test_every_code_fence_stands_on_its_own_line():
    # A closing fence with text after it never closes: everything below renders as code.
    for path in (REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))):
        fences = [
            (number, line)
            for number, line in enumerate(path.read_text().splitlines(), start=1)
            if line.lstrip().startswith("```")
        ]
        for number, line in fences:
            assert re.fullmatch(r"\s*```[\w-]*", line), f"{path.name}:{number}: {line!r}"
        assert len(fences) % 2 == 0, f"{path.name}: an unclosed code fence"


def test_a_pinned_chart_shows_its_pin():
    defaults = {key: default for key, _type, default, _ in rows()}
    assert defaults["gateway.chart.chart"] == "`traefik` (pinned)"
    assert defaults["gateway.chart.version"].startswith("`41.3.0` (pinned; required with")
    assert defaults["observability.charts.loki.repository"].endswith(", with the pinned chart")
