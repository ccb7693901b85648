"""A vulnerability database and Go modules that tests write themselves, for the build gate.

`write_database` lays OSV entries out as govulncheck reads a local database:
`index/db.json` (when it was last modified), `index/modules.json` (which vulnerabilities
affect which module) and `ID/<id>.json` (the entries).

`GoModules` writes a fake dependency, `example.com/fakedep` v1.0.0 with a vulnerable, a
dormant and a safe function, and serves it from a `file://` module proxy in the test's tmp
dir, so nothing is fetched from the network. A local `replace` directive would be simpler,
but govulncheck looks a replaced module up by its replacement, a directory path no database
lists; served by a proxy, the fake dependency is found exactly as a real one is. Its
`app(...)` writes a main module that requires the dependency and calls what the test says.
"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEPENDENCY = "example.com/fakedep"
DEPENDENCY_VERSION = "v1.0.0"
CALLED = "GO-2026-0001"
"""The vulnerability of `fakedep.Vulnerable`, which `app(calls="Vulnerable")` calls."""
NOT_CALLED = "GO-2026-0002"
"""The vulnerability of `fakedep.Dormant`, which no app calls."""
MODIFIED = "2026-11-01T00:00:00Z"

CRITICAL_VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
MEDIUM_VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N"  # 5.3

DEPENDENCY_SOURCE = """package fakedep

// Vulnerable is what the database says is vulnerable, and what an app may call.
func Vulnerable(input string) string { return "vulnerable:" + input }

// Dormant is vulnerable too, but no app calls it.
func Dormant() string { return "dormant" }

// Safe is in the same package and not vulnerable.
func Safe() string { return "safe" }
"""


def osv_entry(
    vulnerability: str,
    symbol: str,
    *,
    module: str = DEPENDENCY,
    package: str = DEPENDENCY,
    fixed: str = "1.0.1",
    cvss: str | None = CRITICAL_VECTOR,
    label: str | None = None,
) -> dict[str, Any]:
    """An OSV entry in the Go database's form: `symbol` of `package` is vulnerable below
    `fixed`; rated by a CVSS v3 vector and/or a `database_specific.severity` label."""
    entry: dict[str, Any] = {
        "schema_version": "1.3.1",
        "id": vulnerability,
        "modified": MODIFIED,
        "published": MODIFIED,
        "summary": f"{symbol} mishandles its input",
        "details": f"A test vulnerability in {package}.{symbol}.",
        "affected": [
            {
                "package": {"name": module, "ecosystem": "Go"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
                "ecosystem_specific": {"imports": [{"path": package, "symbols": [symbol]}]},
            }
        ],
    }
    if cvss:
        entry["severity"] = [{"type": "CVSS_V3", "score": cvss}]
    if label:
        entry["database_specific"] = {"severity": label}
    return entry


def write_database(root: Path, entries: Sequence[Mapping[str, Any]]) -> Path:
    """`entries` in the layout govulncheck reads from a directory; returns `root`."""
    (root / "index").mkdir(parents=True)
    (root / "ID").mkdir()
    modules: dict[str, list[dict[str, str]]] = {}
    for entry in entries:
        (root / "ID" / f"{entry['id']}.json").write_text(json.dumps(entry), encoding="utf-8")
        for affected in entry["affected"]:
            fixed = affected["ranges"][0]["events"][-1].get("fixed", "")
            modules.setdefault(affected["package"]["name"], []).append(
                {"id": entry["id"], "modified": MODIFIED, "fixed": fixed}
            )
    (root / "index" / "db.json").write_text(json.dumps({"modified": MODIFIED}), encoding="utf-8")
    (root / "index" / "modules.json").write_text(
        json.dumps([{"path": path, "vulns": vulns} for path, vulns in sorted(modules.items())]),
        encoding="utf-8",
    )
    return root


def fakedep_database(root: Path, **called: Any) -> Path:
    """The two fakedep vulnerabilities; `called` rates the called one (`osv_entry` keywords)."""
    return write_database(
        root, [osv_entry(CALLED, "Vulnerable", **called), osv_entry(NOT_CALLED, "Dormant")]
    )


@dataclass
class GoModules:
    """A file:// module proxy serving fakedep, and the Go settings that use only it."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        proxy = self.root / "proxy"
        versions = proxy / DEPENDENCY / "@v"
        versions.mkdir(parents=True)
        go_mod = f"module {DEPENDENCY}\n\ngo 1.22\n"
        prefix = f"{DEPENDENCY}@{DEPENDENCY_VERSION}"
        with zipfile.ZipFile(versions / f"{DEPENDENCY_VERSION}.zip", "w") as archive:
            archive.writestr(f"{prefix}/go.mod", go_mod)
            archive.writestr(f"{prefix}/fakedep.go", DEPENDENCY_SOURCE)
        (versions / f"{DEPENDENCY_VERSION}.mod").write_text(go_mod, encoding="utf-8")
        (versions / f"{DEPENDENCY_VERSION}.info").write_text(
            json.dumps({"Version": DEPENDENCY_VERSION, "Time": MODIFIED}), encoding="utf-8"
        )
        (versions / "list").write_text(f"{DEPENDENCY_VERSION}\n", encoding="utf-8")
        self.env = {
            **os.environ,
            "GOPROXY": proxy.as_uri(),
            "GONOSUMDB": DEPENDENCY,
            "GOMODCACHE": str(self.root / "modcache"),
            "GOFLAGS": "-modcacherw -mod=mod",
            "GOWORK": "off",
            "GOTOOLCHAIN": "local",
        }

    def app(self, name: str, calls: str) -> Path:
        """A main module `example.com/<name>` whose main prints `fakedep.<calls>(...)`, with
        the builtin `println`: importing no standard-library package keeps govulncheck's
        call-graph analysis of the module to a tenth of a second (2.3 s with `fmt`)."""
        directory = self.root / name
        directory.mkdir()
        (directory / "go.mod").write_text(
            f"module example.com/{name}\n\ngo 1.22\n\nrequire {DEPENDENCY} {DEPENDENCY_VERSION}\n",
            encoding="utf-8",
        )
        argument = '"hello"' if calls == "Vulnerable" else ""
        (directory / "main.go").write_text(
            "package main\n\n"
            'import "example.com/fakedep"\n\n'
            f"func main() {{\n\tprintln(fakedep.{calls}({argument}))\n}}\n",
            encoding="utf-8",
        )
        subprocess.run(
            ["go", "mod", "tidy"], cwd=directory, env=self.env, check=True, capture_output=True
        )
        return directory
