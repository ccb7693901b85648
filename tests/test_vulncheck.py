"""The build gate's reading of govulncheck's output and of the database, without running it
(`tests/integration/test_vulncheck_gate.py` runs the real govulncheck).

Invariants guarded:
- only findings whose trace starts at a function are reachable; the first trace of each
  vulnerability is its call path, shown from the module's own code to the vulnerable
  symbol, callers with the position of their call, methods with their receiver;
  module- and package-level findings are listed as not called;
- the database and scanner version are the ones govulncheck reports;
- a database setting is a URL as given or a directory made a `file://` URL;
- entries are read from `ID/<id>.json` of a directory and `ID/<id>.json.gz` over HTTP(S);
  an unreadable entry is a reason, never a pass;
- the report lists failing findings first, then those below the threshold, then the ones
  not called; no govulncheck or no go.mod is a GateError saying what to do.
"""

from __future__ import annotations

import gzip
import http.server
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from go_platform_core.severity import Severity
from go_platform_core.vulncheck import (
    Audit,
    Finding,
    GateError,
    GateSettings,
    call_path,
    database_url,
    finding_of,
    govulncheck_binary,
    main,
    messages,
    read_entry,
    read_scan,
    run_govulncheck,
)
from tests.loopback import serving

SYMBOL = {
    "module": "example.com/dep",
    "version": "v1.0.0",
    "package": "example.com/dep/client",
    "function": "Do",
    "receiver": "*Client",
    "position": {"filename": "client.go", "line": 40, "column": 6},
}
CALLER = {
    "module": "example.com/app",
    "package": "example.com/app/api",
    "function": "handle",
    "position": {"filename": "api/handler.go", "line": 12, "column": 17},
}
ENTRY = {
    "module": "example.com/app",
    "package": "example.com/app",
    "function": "main",
    "position": {"filename": "main.go", "line": 7, "column": 8},
}


def stream(*objects: dict) -> str:
    return "\n".join(json.dumps(o, indent=2) for o in objects)


SCAN = stream(
    {"config": {"db": "file:///db", "scanner_name": "govulncheck", "scanner_version": "v1.10.0"}},
    {"progress": {"message": "Scanning your code..."}},
    {"osv": {"id": "GO-2026-0001"}},
    {"finding": {"osv": "GO-2026-0001", "trace": [{"module": "example.com/dep"}]}},
    {"finding": {"osv": "GO-2026-0002", "trace": [{"module": "example.com/dep"}]}},
    {"finding": {"osv": "GO-2026-0002", "trace": [{"module": "m", "package": "p"}]}},
    {
        "finding": {
            "osv": "GO-2026-0001",
            "fixed_version": "v1.0.1",
            "trace": [SYMBOL, CALLER, ENTRY],
        }
    },
    {"finding": {"osv": "GO-2026-0001", "trace": [SYMBOL, ENTRY]}},
)


def test_reachable_findings_are_the_symbol_level_ones():
    scan = read_scan(SCAN)

    assert scan.database == "file:///db"
    assert scan.scanner == "govulncheck@v1.10.0"
    assert list(scan.traces) == ["GO-2026-0001"]
    assert scan.traces["GO-2026-0001"]["trace"] == [SYMBOL, CALLER, ENTRY]  # the first one
    assert scan.not_called == ("GO-2026-0002",)


def test_the_call_path_runs_from_our_code_to_the_vulnerable_symbol():
    assert call_path([SYMBOL, CALLER, ENTRY]) == (
        "example.com/app.main (main.go:7:8)",
        "example.com/app/api.handle (api/handler.go:12:17)",
        "example.com/dep/client.Client.Do",
    )


def test_garbage_is_not_a_stream():
    assert messages("") == []
    with pytest.raises(GateError, match="not its JSON stream"):
        messages('{"config": {}}\nno json here')


@pytest.mark.parametrize(
    ("setting", "url"),
    [
        ("https://vulndb.example.com/go", "https://vulndb.example.com/go"),
        ("file:///srv/vulndb", "file:///srv/vulndb"),
        ("mirror/vulndb", "file:///work/mirror/vulndb"),
        ("/srv/vulndb", "file:///srv/vulndb"),
    ],
)
def test_database_settings_become_urls(setting: str, url: str):
    assert database_url(setting, Path("/work")) == url


def test_entries_are_read_from_a_directory(tmp_path: Path):
    (tmp_path / "ID").mkdir()
    (tmp_path / "ID" / "GO-2026-0001.json").write_text('{"id": "GO-2026-0001"}')

    assert read_entry(tmp_path.as_uri(), "GO-2026-0001") == {"id": "GO-2026-0001"}
    with pytest.raises(GateError, match=r"its entry could not be read \(.*No such file"):
        read_entry(tmp_path.as_uri(), "GO-2026-0002")


class _Database(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/go/ID/GO-2026-0001.json.gz":
            self.send_response(404)
            self.end_headers()
            return
        body = gzip.compress(json.dumps({"id": "GO-2026-0001"}).encode())
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_database() -> Iterator[str]:
    with serving(_Database) as url:
        yield f"{url}/go"


def test_entries_are_read_compressed_over_http(http_database: str):
    assert read_entry(http_database, "GO-2026-0001") == {"id": "GO-2026-0001"}
    with pytest.raises(GateError, match="HTTP Error 404"):
        read_entry(http_database, "GO-2026-0002")


def test_an_unreadable_entry_leaves_the_severity_unknown_with_the_reason(tmp_path: Path):
    scan = read_scan(SCAN.replace("file:///db", tmp_path.as_uri()))

    finding = finding_of(scan, "GO-2026-0001")

    assert finding.severity is None
    assert finding.note.startswith("its entry could not be read (")
    assert finding.module == "example.com/dep@v1.0.0"
    assert finding.fixed_version == "v1.0.1"


def finding(vulnerability: str, severity: Severity | None) -> Finding:
    path = ("a.main (m.go:1:2)", "dep.F")
    return Finding(vulnerability, "example.com/dep@v1.0.0", "", path, severity)


def test_the_report_lists_failing_then_passing_then_not_called():
    result = Audit(
        module_dir=Path("services/orders"),
        settings=GateSettings(fail_on=Severity.HIGH),
        database="file:///db",
        scanner="govulncheck@v1.10.0",
        reachable=(finding("GO-1", Severity.LOW), finding("GO-2", None)),
        not_called=("GO-3",),
    )

    assert not result.passed
    assert result.report() == [
        "vulnerability gate: services/orders (govulncheck@v1.10.0, database file:///db): 1 "
        "reachable finding(s) at or above high; upgrade the module (or stop calling the "
        "symbol) and rebuild:",
        "  FAIL GO-2 (unknown (counted as critical)) in example.com/dep@v1.0.0, no fixed "
        "version: a.main (m.go:1:2) -> dep.F",
        "  below high: GO-1 (low) in example.com/dep@v1.0.0, no fixed version: "
        "a.main (m.go:1:2) -> dep.F",
        "  required or imported but not called (not failing): GO-3",
    ]


def test_without_govulncheck_the_gate_says_how_to_get_it(tmp_path: Path):
    with pytest.raises(GateError, match=r"govulncheck not found \(not on PATH\): run `make"):
        govulncheck_binary({"PATH": str(tmp_path)})
    with pytest.raises(GateError, match=r"govulncheck not found \(/nowhere/govulncheck\)"):
        govulncheck_binary({"PATH": str(tmp_path), "GOVULNCHECK": "/nowhere/govulncheck"})


def test_a_directory_without_go_mod_is_not_audited(tmp_path: Path):
    with pytest.raises(GateError, match="is not a Go module"):
        run_govulncheck(tmp_path, GateSettings(), base=tmp_path)


def audited_settings(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> GateSettings:
    """The settings `main` audits with, for `argv` and the environment monkeypatch set."""
    seen: list[GateSettings] = []

    def audit(module: Path, settings: GateSettings) -> Audit:
        seen.append(settings)
        return Audit(module, settings, database="db", scanner="s", reachable=())

    monkeypatch.setattr("go_platform_core.vulncheck.audit", audit)
    assert main([*argv, "services/greeter"]) == 0
    [settings] = seen
    return settings


def test_the_thresholds_come_from_flags_then_the_environment_then_the_defaults(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.delenv("VULN_FAIL_ON", raising=False)
    monkeypatch.delenv("VULN_UNKNOWN_SEVERITY", raising=False)
    defaults = audited_settings(monkeypatch, [])
    assert (defaults.fail_on, defaults.unknown_severity) == (Severity.HIGH, Severity.CRITICAL)

    monkeypatch.setenv("VULN_FAIL_ON", "medium")
    monkeypatch.setenv("VULN_UNKNOWN_SEVERITY", "low")
    from_env = audited_settings(monkeypatch, [])
    assert (from_env.fail_on, from_env.unknown_severity) == (Severity.MEDIUM, Severity.LOW)

    flagged = audited_settings(monkeypatch, ["--fail-on", "critical"])
    assert flagged.fail_on == Severity.CRITICAL


@pytest.mark.parametrize(
    ("variable", "says"),
    [
        ("VULN_FAIL_ON", "VULN_FAIL_ON: 'bogus' is not one of low, medium, high, critical"),
        (
            "VULN_UNKNOWN_SEVERITY",
            "VULN_UNKNOWN_SEVERITY: 'bogus' is not one of none, low, medium, high, critical",
        ),
    ],
)
def test_a_bad_threshold_in_the_environment_is_named_by_its_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, says: str
):
    monkeypatch.setenv(variable, "bogus")

    with pytest.raises(SystemExit) as exited:
        main(["services/greeter"])

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].endswith(f"error: {says}")
    assert "--fail-on" not in err.strip().splitlines()[-1]


def test_a_folder_that_is_no_database_fails_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # govulncheck reads an empty folder as a database that lists nothing: every module passes.
    module = tmp_path / "app"
    module.mkdir()
    (module / "go.mod").write_text("module example.com/app\n")
    (tmp_path / "empty-db").mkdir()
    monkeypatch.setenv("GOVULNCHECK", "/bin/true")

    with pytest.raises(GateError, match=r"empty-db is not a vulnerability database \(no index"):
        run_govulncheck(module, GateSettings(database="empty-db"), base=tmp_path)
