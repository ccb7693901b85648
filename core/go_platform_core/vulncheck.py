"""The Go build gate: govulncheck on a module; reachable findings at or above a severity fail.

govulncheck (golang.org/x/vuln; `make toolchain` builds it and puts it on the toolchain's
PATH) checks a module's code against a vulnerability database. Its `-format json` output is
a stream of messages (`config`, `SBOM`, `progress`, `osv`, `finding`). A finding whose trace
starts at a function is *reachable*: the trace is a call path from the module's own code to
a vulnerable symbol. Findings without a function only say that a vulnerable module or
package is required or imported, never called; they are reported but never fail the gate.

govulncheck's JSON keeps only the OSV fields it uses, dropping `severity` and
`database_specific`, so the gate reads each reachable finding's entry from the database
itself: `ID/<id>.json` in a local directory (the layout govulncheck reads: `index/db.json`,
`index/modules.json`, `ID/<id>.json`), `ID/<id>.json.gz` from an HTTP(S) database. How a
severity is derived from an entry, and what an unknown one counts as:
`core/go_platform_core/severity.py`. An entry that cannot be read has an unknown severity.

The database is a setting: unset, govulncheck uses its own default, the public Go
vulnerability database (it needs the network); air-gapped CI points it at a directory (or a
`file://` URL) holding a copy in that layout. The gate fails closed: if govulncheck cannot
run, cannot load the code or cannot read the database, the build fails with its error.

Standard library only, so a service's Makefile can run it with any python3:
`python3 -m go_platform_core.vulncheck --fail-on high services/greeter` from the project root.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from go_platform_core.severity import Severity, describe, fails, osv_severity

GOVULNCHECK_ENV = "GOVULNCHECK"
"""Names the govulncheck binary to run; by default the one on PATH."""
ENTRY_TIMEOUT_SECONDS = 10.0
MAX_ENTRY_BYTES = 4 * 2**20
STDERR_LINES = 20


class GateError(Exception):
    """govulncheck could not give a verdict (not found, failed, no database); the message
    says why. The build fails on it as on a finding: the gate never passes blind."""


@dataclass(frozen=True)
class GateSettings:
    """How a build is audited."""

    database: str | None = None
    """A URL (`https://`, `file://`) or a directory; None: govulncheck's default, the
    public Go vulnerability database."""
    fail_on: Severity = Severity.HIGH
    """Reachable findings at or above this severity fail the build."""
    unknown_severity: Severity = Severity.CRITICAL
    """What a finding without a usable severity counts as."""


@dataclass(frozen=True)
class Finding:
    """One vulnerability the audited code calls."""

    id: str
    module: str
    """`example.com/dep@v1.0.0`: the module holding the vulnerable symbol."""
    fixed_version: str
    call_path: tuple[str, ...]
    """From the module's own code to the vulnerable symbol: `app.main (main.go:9:26)`, ...."""
    severity: Severity | None
    note: str = ""
    """Why the severity is unknown, when the entry could not be read."""

    def line(self, unknown: Severity) -> str:
        """`GO-2026-0001 (high) in example.com/dep@v1.0.0, fixed in v1.0.1: a -> b`."""
        fixed = f", fixed in {self.fixed_version}" if self.fixed_version else ", no fixed version"
        note = f"; {self.note}" if self.note else ""
        return (
            f"{self.id} ({describe(self.severity, unknown)}{note}) in {self.module}{fixed}: "
            + " -> ".join(self.call_path)
        )


@dataclass(frozen=True)
class Audit:
    """govulncheck's verdict on one module, under the gate's settings."""

    module_dir: Path
    settings: GateSettings
    database: str
    """The database govulncheck read, as it reports it."""
    scanner: str
    """`govulncheck@v1.10.0`."""
    reachable: tuple[Finding, ...]
    not_called: tuple[str, ...] = field(default=())
    """IDs of vulnerabilities in required modules or imported packages, never called."""

    @property
    def failing(self) -> tuple[Finding, ...]:
        """The reachable findings at or above the threshold."""
        settings = self.settings
        return tuple(
            f
            for f in self.reachable
            if fails(f.severity, settings.fail_on, settings.unknown_severity)
        )

    @property
    def passed(self) -> bool:
        return not self.failing

    def report(self) -> list[str]:
        """What the build prints: the verdict, then one line per reachable finding."""
        threshold = self.settings.fail_on.label
        failing = self.failing
        where = f"{self.module_dir} ({self.scanner}, database {self.database})"
        if failing:
            head = (
                f"vulnerability gate: {where}: {len(failing)} reachable finding(s) at or above "
                f"{threshold}; upgrade the module (or stop calling the symbol) and rebuild:"
            )
        else:
            head = f"vulnerability gate: {where}: no reachable finding at or above {threshold}"
        lines = [head]
        unknown = self.settings.unknown_severity
        lines += [f"  FAIL {finding.line(unknown)}" for finding in failing]
        lines += [
            f"  below {threshold}: {finding.line(unknown)}"
            for finding in self.reachable
            if finding not in failing
        ]
        if self.not_called:
            lines.append(
                f"  required or imported but not called (not failing): {', '.join(self.not_called)}"
            )
        return lines


# --- reading govulncheck's output --------------------------------------------------------


def messages(stream: str) -> list[dict[str, Any]]:
    """The JSON objects of govulncheck's `-format json` stream, in order."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    position = 0
    while True:
        while position < len(stream) and stream[position].isspace():
            position += 1
        if position >= len(stream):
            return found
        try:
            message, position = decoder.raw_decode(stream, position)
        except json.JSONDecodeError as err:
            raise GateError(f"govulncheck's output is not its JSON stream ({err})") from None
        if isinstance(message, dict):
            found.append(message)


def frame_name(frame: Mapping[str, Any]) -> str:
    """`example.com/app.main`, or `example.com/dep.Client.Do` for a method."""
    receiver = str(frame.get("receiver") or "").lstrip("*")
    parts = [str(frame.get("package") or frame.get("module") or "?")]
    parts += [receiver] if receiver else []
    parts.append(str(frame.get("function")))
    return ".".join(parts)


def call_path(trace: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """A finding's trace as a call path, from the module's own code to the vulnerable
    symbol; each caller shows where it makes the call (`main.go:9:26`)."""
    steps = []
    for index, frame in enumerate(reversed(trace)):
        name = frame_name(frame)
        position = frame.get("position") or {}
        is_symbol = index == len(trace) - 1
        if position.get("filename") and not is_symbol:
            name += (
                f" ({position['filename']}:{position.get('line', 0)}:{position.get('column', 0)})"
            )
        steps.append(name)
    return tuple(steps)


@dataclass(frozen=True)
class ScanResult:
    """What one govulncheck run reported."""

    database: str
    scanner: str
    traces: dict[str, dict[str, Any]]
    """OSV id -> its first symbol-level finding (the representative call path)."""
    not_called: tuple[str, ...]


def read_scan(stream: str) -> ScanResult:
    """The database, the scanner and the reachable findings of govulncheck's JSON stream."""
    database, scanner = "", "govulncheck"
    traces: dict[str, dict[str, Any]] = {}
    affected: list[str] = []
    for message in messages(stream):
        config = message.get("config")
        if isinstance(config, dict):
            database = str(config.get("db") or "")
            name = config.get("scanner_name") or "govulncheck"
            version = config.get("scanner_version")
            scanner = f"{name}@{version}" if version else str(name)
        finding = message.get("finding")
        if not isinstance(finding, dict) or not isinstance(finding.get("osv"), str):
            continue
        trace = finding.get("trace") or []
        if trace and isinstance(trace[0], dict) and trace[0].get("function"):
            traces.setdefault(finding["osv"], finding)
        elif finding["osv"] not in affected:
            affected.append(finding["osv"])
    return ScanResult(
        database=database,
        scanner=scanner,
        traces=traces,
        not_called=tuple(sorted(i for i in affected if i not in traces)),
    )


# --- the database ----------------------------------------------------------------------


def database_url(database: str, base: Path) -> str:
    """The `-db` value for a setting: URLs as they are, a directory (relative to `base`) as
    a `file://` URL."""
    if urllib.parse.urlsplit(database).scheme in {"http", "https", "file"}:
        return database
    return (base / database).resolve().as_uri()


def check_local_database(url: str) -> None:
    """GateError when a `file://` database is no vulnerability database: govulncheck reads
    a folder without its index as one that lists nothing, and every module would pass."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "file":
        return
    folder = Path(urllib.request.url2pathname(parts.path))
    # A missing folder is govulncheck's to refuse (it fails closed on it).
    if folder.is_dir() and not (folder / "index" / "db.json").is_file():
        raise GateError(
            f"{folder} is not a vulnerability database "
            "(no index/db.json): a copy of the OSV database in govulncheck's layout is needed"
        )


def read_entry(database: str, vulnerability: str, timeout: float = ENTRY_TIMEOUT_SECONDS) -> Any:
    """The OSV entry `vulnerability` of `database` (a URL, as govulncheck reports it), as
    stored; GateError saying why when it cannot be read."""
    parts = urllib.parse.urlsplit(database)
    name = urllib.parse.quote(vulnerability, safe="")
    try:
        if parts.scheme == "file":
            directory = Path(urllib.request.url2pathname(parts.path))
            return json.loads((directory / "ID" / f"{name}.json").read_bytes())
        if parts.scheme not in {"http", "https"}:
            raise GateError(f"no way to read database {database!r}")
        url = f"{database.rstrip('/')}/ID/{name}.json.gz"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read(MAX_ENTRY_BYTES + 1)
        if len(body) > MAX_ENTRY_BYTES:
            raise GateError(f"entry {url} is larger than {MAX_ENTRY_BYTES} bytes")
        return json.loads(gzip.decompress(body))
    except (OSError, EOFError, urllib.error.URLError, ValueError) as err:
        raise GateError(f"its entry could not be read ({err})") from None


def finding_of(scan: ScanResult, vulnerability: str) -> Finding:
    """The reachable finding `vulnerability`, with its severity from the database entry."""
    reported = scan.traces[vulnerability]
    trace = reported["trace"]
    symbol = trace[0]
    version = symbol.get("version")
    severity, note = None, ""
    try:
        entry = read_entry(scan.database, vulnerability)
        severity = osv_severity(entry) if isinstance(entry, Mapping) else None
    except GateError as err:
        note = str(err)
    return Finding(
        id=vulnerability,
        module=f"{symbol.get('module')}@{version}" if version else str(symbol.get("module")),
        fixed_version=str(reported.get("fixed_version") or ""),
        call_path=call_path(trace),
        severity=severity,
        note=note,
    )


# --- running it --------------------------------------------------------------------------


def govulncheck_binary(environ: Mapping[str, str] = os.environ) -> str:
    """`$GOVULNCHECK`, else `govulncheck` on PATH; GateError with what to do otherwise."""
    chosen = environ.get(GOVULNCHECK_ENV)
    found = shutil.which(chosen or "govulncheck", path=environ.get("PATH"))
    if found is None:
        raise GateError(
            f"govulncheck not found ({chosen or 'not on PATH'}): run `make toolchain`, which "
            "builds it and puts it on the toolchain's PATH (`python3 tools/toolchain/"
            f"bootstrap.py run -- ...`), or set {GOVULNCHECK_ENV} to a govulncheck binary"
        )
    return found


def run_govulncheck(
    module_dir: Path,
    settings: GateSettings,
    *,
    base: Path,
    environ: Mapping[str, str] = os.environ,
) -> str:
    """govulncheck's JSON stream for the packages of `module_dir`; GateError on failure."""
    if not (module_dir / "go.mod").is_file():
        raise GateError(f"{module_dir} is not a Go module (no go.mod)")
    argv = [govulncheck_binary(environ), "-format", "json"]
    if settings.database:
        url = database_url(settings.database, base)
        check_local_database(url)
        argv += ["-db", url]
    argv.append("./...")
    result = subprocess.run(
        argv, cwd=module_dir, env=dict(environ), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()[-STDERR_LINES:]
        raise GateError(
            f"govulncheck failed on {module_dir} (exit status {result.returncode}): "
            + " | ".join(line.strip() for line in lines if line.strip())
        )
    return result.stdout


def audit(
    module_dir: Path,
    settings: GateSettings,
    *,
    base: Path | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Audit:
    """Run govulncheck on `module_dir` and judge its reachable findings by `settings`.
    Relative paths (the module, a database directory) are taken from `base`, the current
    directory by default."""
    base = base or Path.cwd()
    directory = base / module_dir
    scan = read_scan(run_govulncheck(directory, settings, base=base, environ=environ))
    return Audit(
        module_dir=module_dir,
        settings=settings,
        database=scan.database,
        scanner=scan.scanner,
        reachable=tuple(finding_of(scan, vulnerability) for vulnerability in sorted(scan.traces)),
        not_called=scan.not_called,
    )


# --- the command line ------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Audit Go modules; exit 0 when every one passes, 1 when one fails, 2 when govulncheck
    could not give a verdict."""
    parser = argparse.ArgumentParser(
        prog="python3 -m go_platform_core.vulncheck",
        description="Run govulncheck on Go modules; fail on reachable findings at or above "
        "a severity (docs/policies.md#audited-go-builds).",
    )
    parser.add_argument("modules", nargs="+", type=Path, help="Go module directories")
    parser.add_argument(
        "--db",
        default=os.environ.get("GOVULNDB") or None,
        help="database URL or directory (default $GOVULNDB, else govulncheck's public one)",
    )
    thresholds = [s.label for s in Severity if s > Severity.NONE]
    ratings = [s.label for s in Severity]
    parser.add_argument(
        "--fail-on",
        choices=thresholds,
        help="the lowest severity that fails (default $VULN_FAIL_ON, else high)",
    )
    parser.add_argument(
        "--unknown-severity",
        choices=ratings,
        help="what an unrated finding counts as (default $VULN_UNKNOWN_SEVERITY, else critical)",
    )
    args = parser.parse_args(argv)

    def setting(given: str | None, variable: str, default: str, allowed: list[str]) -> Severity:
        """A flag's severity, else its environment variable's, else the default."""
        if given is not None:
            return Severity.named(given)
        value = os.environ.get(variable) or default
        if value not in allowed:
            parser.error(f"{variable}: {value!r} is not one of {', '.join(allowed)}")
        return Severity.named(value)

    settings = GateSettings(
        args.db,
        setting(args.fail_on, "VULN_FAIL_ON", "high", thresholds),
        setting(args.unknown_severity, "VULN_UNKNOWN_SEVERITY", "critical", ratings),
    )
    status = 0
    for module in args.modules:
        try:
            result = audit(module, settings)
        except GateError as error:
            print(f"vulnerability gate: {module}: {error}", file=sys.stderr)
            return 2
        for line in result.report():
            print(line, file=sys.stdout if result.passed else sys.stderr)
        status = status or (0 if result.passed else 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
