"""docs/driver.md is the driver's reference: it must say what the code does.

Invariants guarded:
- every command of the command line has a row in the commands table;
- the exit-code table lists exactly the codes of `ExitCode`, with their numbers;
- the JSON summary example parses and satisfies the published schema.
"""

from __future__ import annotations

import json
import re

import jsonschema
import typer

from go_platform.cli import app
from go_platform.exit_codes import ExitCode
from go_platform.summary import schema
from tests.conftest import REPO

DOC = (REPO / "docs" / "driver.md").read_text()


def section(title: str) -> str:
    start = DOC.index(f"\n## {title}\n")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end != -1 else None]


def command_names() -> list[str]:
    root = typer.main.get_command(app)
    names = []
    for name, command in root.commands.items():
        children = getattr(command, "commands", None)
        names += [f"{name} {child}" for child in children] if children else [name]
    return names


def test_every_command_has_a_row():
    table = section("Commands")
    rows = re.findall(r"^\| `([a-z ]+?)(?: --| \[|`)", table, flags=re.MULTILINE)

    assert sorted(set(rows)) == sorted(command_names())


def test_the_exit_code_table_is_the_codes():
    table = section("Exit codes")
    listed = [int(code) for code in re.findall(r"^\| (\d+) \|", table, flags=re.MULTILINE)]

    assert listed == [int(code) for code in ExitCode]


def test_the_summary_example_satisfies_the_schema():
    example = DOC.split("### JSON summary", 1)[1].split("```json\n", 1)[1].split("```", 1)[0]

    jsonschema.validate(json.loads(example), schema())
