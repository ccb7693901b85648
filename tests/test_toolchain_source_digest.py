"""When the toolchain rebuilds a component from this repository's Go source.

Invariants guarded:
- a Go module's digest covers go.mod, go.sum, its non-test .go files and the files they
  embed (`//go:embed`): editing any of them makes the component stale; a test file or a
  file the build does not read does not;
- the language host's digest covers the Python runner it embeds.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.conftest import REPO

sys.path.append(str(REPO / "tools" / "toolchain"))

import bootstrap


def test_the_digest_covers_embedded_files_and_nothing_unbuilt(tmp_path: Path):
    files = {
        "go.mod": "module example.com/m\n\ngo 1.22\n",
        "main.go": 'package main\n\nimport _ "embed"\n\n//go:embed runner.py\nvar s string\n',
        "runner.py": "print('one')\n",
        "main_test.go": "package main\n",
        "README.md": "notes\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    digests = [bootstrap.source_digest(tmp_path)]

    for name, edit in [
        ("README.md", "other notes\n"),
        ("main_test.go", "package main // edited\n"),
        ("runner.py", "print('two')\n"),
        ("main.go", files["main.go"] + "// edited\n"),
    ]:
        (tmp_path / name).write_text(edit)
        digests.append(bootstrap.source_digest(tmp_path))

    unbuilt, test_file, embedded, source = digests[1:]
    assert digests[0] == unbuilt == test_file
    assert len({test_file, embedded, source}) == 3


def test_the_language_host_digest_covers_its_runner():
    host = REPO / "tools" / "language-python"
    embedded = set().union(*(bootstrap.embedded_files(p) for p in host.glob("*.go")))
    assert host / "runner.py" in embedded
