"""Write the policy pack's constraints: every distribution its virtualenv holds, pinned.

`policies/requirements.txt` names what the pack imports, pinned to the project's versions,
and ends with `-c constraints.txt`. This script resolves those requirements (the core package
from `core/`, with the project's own pins as constraints, so that a package both use is at
the project's version) and writes every other distribution they bring to
`policies/constraints.txt`, for any platform (`--universal`). pip and uv read a relative
`-c` in a requirements file against that file's directory, so `make policy-venv`, the
bundle's `pulumi install` (docs/policies.md#publishing) and a consumer's `pip install -r`
all install exactly the set the tests ran, and pip has nothing left to search.

    python3 tools/policy_constraints.py      # after changing a pin: make policy-constraints

It asks the package index (through uv, as `make venv` does), so it runs only when a pin
changes; `tests/test_policy_pack.py` checks the written file against the pack's virtualenv.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACK_REQUIREMENTS = REPO / "policies" / "requirements.txt"
PROJECT_REQUIREMENTS = REPO / "requirements.txt"
CONSTRAINTS = REPO / "policies" / "constraints.txt"
CORE = REPO / "core"
CORE_PROJECT = "go-platform-core"
UV = REPO / "venv" / "bin" / "uv"
PYTHON_VERSION = "3.11"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")

HEADER = """\
# Every distribution the policy pack's virtualenv holds, pinned; policies/requirements.txt
# applies them with `-c constraints.txt`. Written by tools/policy_constraints.py from that
# file and the project's pins (make policy-constraints); do not edit by hand.
"""


def pins(text: str) -> dict[str, str]:
    """`name -> version` of the `name==version` lines of requirements text (comments, options
    and other lines left out)."""
    found = {}
    for raw in text.splitlines():
        match = PIN.match(raw.split("#", 1)[0].strip())
        if match:
            found[match.group(1)] = match.group(2)
    return found


def resolve(pack: dict[str, str], project: dict[str, str]) -> str:
    """uv's resolution of the pack's pins (the core package from `core/`), constrained by
    the project's pins: `name==version` lines, with platform markers where they apply."""
    with tempfile.TemporaryDirectory(prefix="policy-constraints-") as scratch:
        inputs, constraints = Path(scratch) / "pack.in", Path(scratch) / "project.txt"
        requirements = [f"{n}=={v}" for n, v in pack.items() if n != CORE_PROJECT]
        inputs.write_text("\n".join([*requirements, f"{CORE_PROJECT} @ {CORE.as_uri()}", ""]))
        constraints.write_text("".join(f"{n}=={v}\n" for n, v in project.items()))
        done = subprocess.run(
            [str(UV), "pip", "compile", str(inputs), "-c", str(constraints), "--universal",
             "--python-version", PYTHON_VERSION, "--no-header", "--no-annotate",
             "--no-emit-package", CORE_PROJECT, "--quiet"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"uv pip compile failed:\n{done.stderr.strip()}")
    return done.stdout


def main() -> int:
    # No options: --help says what it writes instead of writing it, and a stray argument is
    # refused rather than ignored.
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    if not UV.is_file():
        sys.exit(f"{UV} is missing: run `make venv` first")
    pack = pins(PACK_REQUIREMENTS.read_text(encoding="utf-8"))
    project = pins(PROJECT_REQUIREMENTS.read_text(encoding="utf-8"))
    CONSTRAINTS.write_text(HEADER + resolve(pack, project), encoding="utf-8")
    print(f"wrote {CONSTRAINTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
