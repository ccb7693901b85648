"""The README's config reference is the models' own.

Invariants guarded:
- the generated section between the markers equals what `go_platform_core.reference` renders
  now, so a new key, default or description cannot land without its documentation;
- every key of every model appears in it.
"""

from __future__ import annotations

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
