"""Where the driver's stacks live and how it reaches them: the project directory, the
state backend, the secrets provider, the Pulumi CLI, and a LocalWorkspace over them.

Backends: a local file backend by default (`file://<project>/.state/backend`, ignored by
git) or S3 (`s3://bucket?region=...&endpoint=...`), from `--backend`, else
`PULUMI_BACKEND_URL`. Secrets: the passphrase provider unless `--secrets-provider`
names a KMS URL; the passphrase comes from `PULUMI_CONFIG_PASSPHRASE(_FILE)`, and on a
file backend defaults to the documented local one. The CLI is `pulumi` on PATH, else the
one `tools/toolchain/bootstrap.py` built (with the environment `bootstrap.py env` gives).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml
from pulumi import automation as auto
from semver import VersionInfo

from go_platform import interrupt
from go_platform.exit_codes import DriverError, ExitCode, usage_error
from go_platform.paths import PathKind, checked_kind
from go_platform.redact import hide_url_credentials
from go_platform.summary import blocking_file
from go_platform.textfile import UnreadableTextError, read_text
from go_platform_core.config import StackConfig, value_kind

DEFAULT_LOCAL_PASSPHRASE = "go-platform-local"
"""The passphrase of stacks on a local file backend unless PULUMI_CONFIG_PASSPHRASE is set."""
PASSPHRASE_VARIABLES = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
KMS_SCHEMES = ("awskms", "gcpkms", "azurekeyvault", "hashivault")
REPO = Path(__file__).resolve().parents[1]
"""The go-platform checkout this package was installed from (editable install)."""

# Engine settings every run wants unless the caller set them: no update check against the
# network, and a missing plugin fails at once, naming it, instead of a download attempt.
ENGINE_DEFAULTS = {
    "PULUMI_SKIP_UPDATE_CHECK": "true",
    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
}

SKIP_CHECKPOINTS_ENV = {"PULUMI_SKIP_CHECKPOINTS": "true"}
"""The CLI saves the state once, when the command ends, instead of after every step (the
whole state, serialised and written with its `.bak` copy each time: the CLI at 3.276.0 has
no incremental checkpoint for the file and S3 backends). Two kinds of run use it:
- commands that write no state (a preview, `refresh --preview-only`): the CLI keeps a
  snapshot manager for them too, and hands every step's serialisation to a persister that
  discards it, work that grows with the square of the stack's size (57% of the CLI's CPU in
  a preview of 100 services); such a command writes nothing either way;
- updates of a stack on the embedded cluster (`update_env`).
Other updates, refreshes and destroys keep their checkpoints: they are the record of what an
interrupted update did (docs/driver.md, "Checkpoints")."""


# --- pure resolution -----------------------------------------------------------------


def find_project_dir(start: Path) -> Path:
    """The nearest directory at or above `start` holding a Pulumi.yaml."""
    for directory in (start, *start.parents):
        marker = directory / "Pulumi.yaml"
        if checked_kind(marker, str(marker)) is PathKind.FILE:
            return directory
    raise usage_error(
        f"no Pulumi.yaml in {start} or above it: run from the project, or pass --project-dir"
    )


def yaml_problem(error: yaml.YAMLError) -> str:
    """A YAML parse error in one line, with the line it is on: PyYAML's own message spans
    several, quoting the document around the mistake."""
    mark = getattr(error, "problem_mark", None)
    where = f"line {mark.line + 1}: " if mark else ""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"not valid YAML ({where}{problem})"


def read_yaml(path: Path) -> Any:
    """The YAML document in `path`; a usage error naming the file and what is wrong (one
    line) when it cannot be read or parsed."""
    try:
        return yaml.safe_load(read_text(path))
    except UnreadableTextError as error:
        raise usage_error(f"{path}: {error}") from None
    except yaml.YAMLError as error:
        raise usage_error(f"{path}: {yaml_problem(error)}") from None


def project_name(project_dir: Path) -> str:
    """The `name` of the project's Pulumi.yaml."""
    path = project_dir / "Pulumi.yaml"
    document = read_yaml(path)
    name = document.get("name") if isinstance(document, dict) else None
    if not isinstance(name, str) or not name:
        raise usage_error(f"{path}: has no project `name`")
    return name


def policy_pack_virtualenv(pack: Path) -> Path | None:
    """The virtualenv `pack`'s PulumiPolicy.yaml names (runtime option `virtualenv`, relative
    to the pack), or None when it names none and the language host picks a Python itself."""
    document = read_yaml(pack / "PulumiPolicy.yaml")
    runtime = document.get("runtime") if isinstance(document, dict) else None
    options = runtime.get("options") if isinstance(runtime, dict) else None
    virtualenv = options.get("virtualenv") if isinstance(options, dict) else None
    if not isinstance(virtualenv, str) or not virtualenv:
        return None
    return Path(os.path.normpath(pack / virtualenv))


PACK_CONFIG_CHECK = "go_platform_policies.pack_config"
"""The checker of go-platform's own pack for a policy config file (`make policy-config`)."""
PACK_CONFIG_INVALID = 65
"""Its exit status for a file with problems (its `INVALID`; a crash exits 1)."""
PACK_CONFIG_TIMEOUT_SECONDS = 60


def pack_config_problems(pack: Path, python: Path, config: Path) -> list[str]:
    """What go-platform's own pack finds wrong in a policy config file (unknown policies and
    keys, bad values), checked by the pack's own interpreter, as the pack reads it at start;
    [] when it is sound. A checker that gives no verdict (it crashed, hung, or could not
    start) is a DriverError: the file was not found sound, so nothing may run with it. What
    it wrote then is not shown: a traceback may quote the file's values."""
    command = f"`{python} -m {PACK_CONFIG_CHECK} {config}` in {pack}"
    try:
        done = subprocess.run(
            [str(python), "-m", PACK_CONFIG_CHECK, str(config)],
            cwd=pack,
            env={**os.environ, "PYTHONPATH": str(pack)},
            capture_output=True,
            text=True,
            check=False,
            timeout=PACK_CONFIG_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        failure = f"gave no answer in {PACK_CONFIG_TIMEOUT_SECONDS} s"
    except OSError as error:
        failure = f"could not start ({error.strerror or error.__class__.__name__})"
    else:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        if done.returncode == 0:
            return []
        if done.returncode == PACK_CONFIG_INVALID and lines:
            return lines
        failure = f"failed (exit {done.returncode}) without a verdict"
    raise DriverError(
        ExitCode.FAILED,
        f"--policy-pack-config {config}: the policy pack's check of it {failure}; nothing was run",
        f"run {command} to see why",
    )


def default_backend(project_dir: Path) -> str:
    return f"file://{project_dir / '.state' / 'backend'}"


def check_backend(url: str) -> str:
    """`url` if it names a backend the driver supports; a usage error saying why not."""
    shown = hide_url_credentials(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = urlsplit("")
    if parts.scheme == "file":
        path = url[len("file://") :].split("?", 1)[0]
        if not (path.startswith("/") or path.startswith("~")):
            raise usage_error(
                f"backend {shown!r}: a file backend needs an absolute path (file:///srv/state)"
            )
        return url
    if parts.scheme == "s3":
        if not parts.netloc:
            raise usage_error(f"backend {shown!r}: name the bucket (s3://bucket?region=eu-west-1)")
        problem = s3_query_problem(parts.query)
        if problem is not None:
            raise usage_error(f"backend {shown!r}: {problem}")
        return url
    raise usage_error(
        f"backend {shown!r} is not supported: use file://<absolute path> or "
        "s3://<bucket>?region=<region>[&endpoint=<host:port>&s3ForcePathStyle=true]"
    )


GO_BOOLEANS = frozenset(
    {"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"}
)
"""What Go's strconv.ParseBool, which reads the S3 backend's flags, accepts."""


def s3_query_problem(query: str) -> str | None:
    """What the CLI would refuse in an S3 backend URL's parameters, only once a command ran
    (exit 1): a `region` given empty, an `s3ForcePathStyle` that is not a boolean. Others
    are the CLI's to judge: which parameters it accepts depends on its version."""
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "region" and not value.strip():
            return "region= is empty; name the bucket's region (region=eu-west-1)"
        if name == "s3ForcePathStyle" and value not in GO_BOOLEANS:
            return f"{name} must be true or false"
    return None


def resolve_backend(option: str | None, env: Mapping[str, str], project_dir: Path) -> str:
    """The backend: `--backend`, else PULUMI_BACKEND_URL, else the project's local state.

    An empty `--backend ""` is a mistake (an unset CI variable), not a request for the
    default; a file backend whose directory is a file is refused here, before the CLI's
    login fails on it half-way through a command."""
    if option is not None and not option.strip():
        raise usage_error(
            "--backend: empty; give file://<absolute path> or s3://<bucket>?region=<region>"
        )
    url = check_backend(option or env.get("PULUMI_BACKEND_URL") or default_backend(project_dir))
    directory = file_backend_dir(url)
    problem = blocking_file(directory / ".pulumi") if directory is not None else None
    if problem is not None:
        source = (
            "--backend"
            if option
            else "PULUMI_BACKEND_URL"
            if env.get("PULUMI_BACKEND_URL")
            else "backend"
        )
        raise usage_error(f"{source} {hide_url_credentials(url)}: {problem}")
    return url


def file_backend_dir(backend: str) -> Path | None:
    """A file backend's directory (None for other backends)."""
    if not backend.startswith("file://"):
        return None
    return Path(os.path.expanduser(backend.removeprefix("file://").split("?")[0]))


DIY_ORGANIZATION = "organization"
"""The one organization a file or S3 backend has: a qualified stack name there is
`organization/<project>/<stack>` (or `organization/<stack>`)."""


STACK_NAME = re.compile(r"([A-Za-z0-9_.-]+/){0,2}[A-Za-z0-9_.-]{1,100}")
"""What the CLI takes as a stack name: `[org/[project/]]stack`, ASCII letters, digits, `-`,
`_` and `.`, the stack's own name at most 100 of them."""


def check_stack_name_form(name: str, *, option: str = "--stack") -> str:
    """`name` if it has the form of a stack name (`STACK_NAME`); else a usage error naming
    `option` and the rule. Checked before anything else is read."""
    if not STACK_NAME.fullmatch(name):
        raise usage_error(
            f"{option} {name!r} is not a stack name (letters, digits, '-', '_', '.'; "
            "optionally org/project/stack)"
        )
    return name


def check_stack_name(name: str, *, project: str, option: str = "--stack") -> str:
    """`name` if a file or S3 backend takes it; else a usage error naming `option` and the
    rule. It must have the form of a stack name (`check_stack_name_form`): the CLI would
    refuse it only once a command runs. So would it another organization or project
    (exit 1, the flag unnamed); and a `.` or `..` segment becomes a path in the backend's
    directory (`organization/<project>/..` writes over its stack list)."""
    check_stack_name_form(name, option=option)
    segments = name.split("/")
    if any(segment in (".", "..") for segment in segments):
        raise usage_error(f"{option} {name!r}: '.' and '..' are not stack names")
    qualified = f"{DIY_ORGANIZATION}/{project}/<stack>"
    if (len(segments) > 1 and segments[0] != DIY_ORGANIZATION) or (
        len(segments) == 3 and segments[1] != project
    ):
        raise usage_error(
            f"{option} {name!r}: on a file or S3 backend a qualified stack name is {qualified}"
        )
    return name


def stack_short_name(stack: str) -> str:
    """A stack's own name: `dev` for `organization/go-platform/dev`."""
    return stack.rpartition("/")[2]


def stack_file(project_dir: Path, stack: str) -> Path:
    """The stack's settings file, `Pulumi.<stack>.yaml`: named, as the CLI names it, by the
    stack's own name, without `organization/<project>/`."""
    return project_dir / f"Pulumi.{stack_short_name(stack)}.yaml"


def check_stack_file(path: Path) -> None:
    """A usage error naming `path` and what is wrong when the CLI could not read it as a
    stack's settings: not YAML, not a mapping, or a `config` that is not a mapping. Checked
    before the CLI reads it, which says only `invalid YAML file` or `unmarshal errors`, after
    its passphrase, as an engine failure. A missing file is the CLI's to handle (a stack may
    live without one)."""
    if checked_kind(path, str(path)) is not PathKind.FILE:
        return
    document = read_yaml(path)
    if document is None:
        return
    if not isinstance(document, dict):
        raise usage_error(f"{path}: must be a mapping of settings (got {value_kind(document)})")
    config = document.get("config")
    if config is not None and not isinstance(config, dict):
        raise usage_error(
            f"{path}: `config` must be a mapping of keys to values (got {value_kind(config)})"
        )


DECRYPTION_WORDS = re.compile(r"passphrase|decrypt|secrets manager|kms|vault", re.I)
"""Words of the CLI's errors when a stack's secrets cannot be decrypted."""


def check_secrets_provider(provider: str) -> str:
    if not provider.strip():
        raise usage_error(
            "--secrets-provider: empty; give passphrase or a KMS URL "
            f"({', '.join(f'{s}://...' for s in KMS_SCHEMES)})"
        )
    if provider == "passphrase":
        return provider
    scheme = provider.split("://", 1)[0] if "://" in provider else ""
    if scheme in KMS_SCHEMES:
        return provider
    # Never the value itself: a passphrase pasted here would be shown back.
    what = f"the scheme {scheme}:// is" if re.fullmatch(r"[a-z0-9+.-]{1,20}", scheme) else "it is"
    raise usage_error(
        f"--secrets-provider: {what} not supported: use passphrase or a KMS URL "
        f"({', '.join(f'{s}://...' for s in KMS_SCHEMES)})"
    )


def stack_secrets_provider(project_dir: Path, stack: str) -> str | None:
    """The secrets provider a stack's Pulumi.<stack>.yaml records, if it records one."""
    path = stack_file(project_dir, stack)
    try:
        document = yaml.safe_load(read_text(path))
    except (UnreadableTextError, yaml.YAMLError):
        return None  # read_yaml says what is wrong when the stack file is read for its config
    if not isinstance(document, dict):
        return None
    if document.get("secretsprovider"):
        return str(document["secretsprovider"])
    return "passphrase" if document.get("encryptionsalt") else None


def passphrase_environment(provider: str, backend: str, env: Mapping[str, str]) -> dict[str, str]:
    """What to add to the environment so the passphrase provider has its passphrase."""
    if provider != "passphrase" or any(env.get(name) for name in PASSPHRASE_VARIABLES):
        return {}
    if backend.startswith("file://"):
        return {"PULUMI_CONFIG_PASSPHRASE": DEFAULT_LOCAL_PASSPHRASE}
    raise usage_error(
        "the passphrase secrets provider needs PULUMI_CONFIG_PASSPHRASE (or "
        "PULUMI_CONFIG_PASSPHRASE_FILE) for a shared backend; or pass "
        "--secrets-provider awskms://..."
    )


def parse_exports(text: str, env: Mapping[str, str]) -> dict[str, str]:
    """`export NAME=value` lines (as `bootstrap.py env` prints them) as a mapping, with
    `$NAME` references expanded from `env`."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if len(words) != 2 or words[0] != "export" or "=" not in words[1]:
            continue
        name, _, value = words[1].partition("=")
        found[name] = Template(value).safe_substitute(env).rstrip(os.pathsep)
    return found


# --- the embedded cluster ------------------------------------------------------------

EMBEDDED_ENVIRONMENT = "local"


def update_env(environment: str) -> dict[str, str]:
    """What an update (`up`) of a stack of `environment` runs with.

    The embedded cluster's stack skips its checkpoints (`SKIP_CHECKPOINTS_ENV`). Every
    object of it is applied server-side, which creates what is missing and takes over what is
    there (the program's objects with force, components/resources.py; the definitions with
    the same content), and its other resources are random values; so an update that dies
    before its one save leaves nothing the next `up` cannot adopt. In exchange its first
    `up` no longer serialises the whole state once for each of its steps
    (docs/PERFORMANCE.md). Every other environment keeps the per-step record, and so does
    every destroy: one killed before its save would leave the state listing objects it
    deleted, which an `up` without `--refresh` would not make again.
    """
    return dict(SKIP_CHECKPOINTS_ENV) if environment == EMBEDDED_ENVIRONMENT else {}


def embedded_kubeconfig(project_dir: Path, env: Mapping[str, str]) -> Path | None:
    """The embedded control plane's kubeconfig path, as `tools/cluster/cluster.py
    kubeconfig` prints it (it honours GO_PLATFORM_CLUSTER_DIR); None without that tool.

    A tool that fails is an error, never a fall back to whatever KUBECONFIG names: that
    could be any cluster, and the local stack would deploy to it, or destroy in it.
    """
    tool = project_dir / "tools" / "cluster" / "cluster.py"
    if checked_kind(tool, str(tool)) is not PathKind.FILE:
        return None
    command = f"{tool.relative_to(project_dir)} kubeconfig"
    output, failure = ask_tool(tool, "kubeconfig", env=env, cwd=project_dir)
    path = output.strip()
    if not failure and path:
        return Path(path)
    raise DriverError(
        ExitCode.FAILED,
        "the local stack deploys only to the embedded cluster, whose kubeconfig "
        f"`{command}` did not give: it {failure or 'printed no path'}",
    )


TOOL_TIMEOUT_SECONDS = 60
"""How long a tool of the project (`cluster.py kubeconfig`, `bootstrap.py env`) may take;
each only reads its state and pins."""


def ask_tool(
    script: Path, *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> tuple[str, str]:
    """What the project's Python tool `script` printed, and what it did instead of
    answering (`exited 1: <its last line on stderr>`, `gave no answer in 60 s`, `could not
    run: ...`), empty when it exited 0."""
    try:
        result = subprocess.run(
            [sys.executable, str(script), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=TOOL_TIMEOUT_SECONDS,
            env=dict(env) if env is not None else None,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired:
        return "", f"gave no answer in {TOOL_TIMEOUT_SECONDS} s"
    except OSError as error:
        return "", f"could not run: {error.strerror or error}"
    if result.returncode != 0:
        said = result.stderr.strip().splitlines()
        return "", f"exited {result.returncode}" + (f": {said[-1]}" if said else "")
    return result.stdout, ""


def kubeconfig_override(
    environment: str, config: Mapping[str, str], locate: Callable[[], Path | None]
) -> Path | None:
    """The kubeconfig a stack must use whatever KUBECONFIG says: the `local` environment
    talks to the embedded cluster only (as `make up` does), unless its config names a
    kubeconfig itself."""
    if environment != EMBEDDED_ENVIRONMENT or config.get("kubernetes:kubeconfig"):
        return None
    return locate()


# --- the CLI -------------------------------------------------------------------------


@dataclass(frozen=True)
class Cli:
    """The Pulumi CLI to run, and the environment it needs."""

    executable: Path
    """The `pulumi` executable itself, symbolic links resolved: any directory layout."""
    env: dict[str, str]


def locate_cli(env: Mapping[str, str], project_dir: Path) -> Cli:
    """`pulumi` on PATH, else the toolchain build; a clear error when there is neither."""
    found = shutil.which("pulumi", path=env.get("PATH"))
    if found:
        return Cli(executable=Path(found).resolve(), env={})
    failures: list[str] = []
    for checkout in dict.fromkeys((project_dir, REPO)):
        bootstrap = checkout / "tools" / "toolchain" / "bootstrap.py"
        if checked_kind(bootstrap, str(bootstrap)) is not PathKind.FILE:
            continue
        exports, failure = toolchain_exports(bootstrap, env)
        if failure:
            failures.append(failure)
        # Without a PATH, `which` would search this process's own.
        found = shutil.which("pulumi", path=exports["PATH"]) if exports.get("PATH") else None
        if found:
            added = {k: v for k, v in exports.items() if k == "PATH" or not env.get(k)}
            return Cli(executable=Path(found).resolve(), env=added)
    raise DriverError(
        ExitCode.FAILED,
        "the pulumi CLI was not found: put it on PATH, or build it with `make toolchain` "
        "(docs/toolchain.md)" + "".join(f"; {failure}" for failure in failures),
    )


def toolchain_exports(bootstrap: Path, env: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """What `bootstrap.py env` exports, and why it exported nothing (empty when it ran)."""
    output, failure = ask_tool(bootstrap, "env")
    if failure:
        return {}, f"`{bootstrap} env` {failure}"
    return parse_exports(output, env), ""


SKIP_VERSION_CHECK = "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK"
"""The SDK's variable that turns its CLI version check off."""


class ExecutableCommand(auto.PulumiCommand):
    """`auto.PulumiCommand` for a CLI at any path.

    The SDK's own constructor takes a root and runs `<root>/bin/pulumi`, which fits only a
    `bin/` layout (not the release archive's `pulumi/pulumi`, nor a Nix or Homebrew link
    farm). What it inherits needs only `command`, the executable's absolute path: `run`
    also puts that directory first on PATH, where the CLI's bundled plugins are.
    """

    def __init__(self, cli: Cli, env: Mapping[str, str], minimum: VersionInfo) -> None:
        self.command = str(cli.executable)
        try:
            result = subprocess.run(
                [self.command, "version"],
                capture_output=True,
                text=True,
                check=False,
                timeout=60,
                env={**env, **cli.env, "PULUMI_SKIP_UPDATE_CHECK": "true"},
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise DriverError(
                ExitCode.FAILED, f"pulumi CLI {self.command} does not run: {error}"
            ) from None
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise DriverError(
                ExitCode.FAILED,
                f"pulumi CLI {self.command} does not run: `pulumi version` exited "
                f"{result.returncode}: {last}",
            )
        skip = bool({**env, **cli.env}.get(SKIP_VERSION_CHECK))
        self.version = check_cli_version(self.command, result.stdout.strip(), minimum, skip=skip)

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: auto.OnOutput | None = None,
        on_error: auto.OnOutput | None = None,
    ) -> auto.CommandResult:
        """The SDK's `run`, which the Automation API calls for every CLI command, with the
        CLI started so that only the driver signals it (go_platform/interrupt.py): at a
        terminal in a session of its own, and recorded while it runs."""
        separator = args.index("--") if "--" in args else len(args)
        if "--non-interactive" not in args[:separator]:  # prompts fail instead of hanging
            args = ["--non-interactive", *args]
        env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        # Plugins installed beside the CLI come first, as the SDK has them.
        env["PATH"] = os.pathsep.join([str(Path(self.command).parent), env.get("PATH", "")])
        own_session = interrupt.in_terminal_foreground()  # out of the Ctrl-C's reach
        interrupted: BaseException | None = None
        with interrupt.running_cli(shares_our_group=not own_session) as started:
            process = subprocess.Popen(
                [self.command, *args],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL if own_session else None,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                encoding="utf-8",
                errors="replace",  # a reader that stopped on a bad byte would block the CLI
                start_new_session=own_session,
            )
            started(process.pid)
            streams = [
                StreamReader(process.stdout, on_output),
                StreamReader(process.stderr, on_error),
            ]
            while True:
                try:
                    code = wait_for(process, streams)
                    break
                except BaseException as error:
                    # A second signal: the engine, if it ran, was told to stop at once;
                    # wait for it. A third one does not (the stack keeps its lock).
                    if interrupted is not None:
                        process.kill()
                    interrupted = interrupted or error
        if interrupted is not None:
            raise interrupted
        stdout, stderr = (stream.text() for stream in streams)
        result = auto.CommandResult(stdout=stdout, stderr=stderr, code=code)
        if code != 0:
            raise auto.errors.create_command_error(result)
        return result


class StreamReader:
    """A thread that reads a CLI's output stream line by line, passing each line on."""

    def __init__(self, stream: Any, on_line: auto.OnOutput | None) -> None:
        self._stream = stream
        self._on_line = on_line
        self._lines: list[str] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with self._stream:
            for line in iter(self._stream.readline, ""):
                line = line.rstrip()
                if self._on_line is not None:
                    self._on_line(line)
                self._lines.append(line)

    def text(self) -> str:
        return "\n".join(self._lines)


def wait_for(process: subprocess.Popen[str], streams: list[StreamReader]) -> int:
    """The exit code of `process`, once it and its output streams have ended.

    It waits in slices: a signal the kernel hands to another of the driver's threads (the
    SDK's event server, a reader) runs its handler only when the main thread next runs
    Python code, and a wait without end would hold a cancel back until the CLI is done."""
    for stream in streams:
        while stream.thread.is_alive():
            stream.thread.join(timeout=WAIT_SLICE_SECONDS)
    while True:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return process.wait(timeout=WAIT_SLICE_SECONDS)


WAIT_SLICE_SECONDS = 0.1
"""How long the main thread blocks at a time while a CLI runs (wait_for)."""


def check_cli_version(
    where: str, text: str, minimum: VersionInfo, *, skip: bool = False
) -> VersionInfo | None:
    """The CLI's version from `pulumi version` output, when it is at least `minimum` (the
    SDK's) within the same major version; the SDK's own rule, and its opt-out variable."""
    try:
        version: VersionInfo | None = VersionInfo.parse(text.removeprefix("v"))
    except ValueError:
        version = None
    if skip:
        return version
    if version is None:
        raise DriverError(
            ExitCode.FAILED,
            f"pulumi CLI {where}: its version {text!r} cannot be read; set "
            f"{SKIP_VERSION_CHECK}=true to run it anyway",
        )
    if version.major != minimum.major or version.compare(minimum) < 0:
        raise DriverError(
            ExitCode.FAILED,
            f"pulumi CLI {where} is version {version}; the Automation API SDK needs a "
            f"{minimum.major}.x CLI of at least {minimum}",
        )
    return version


def pulumi_command(cli: Cli, env: Mapping[str, str]) -> auto.PulumiCommand:
    """The CLI as the Automation API runs it, checked to be at least the SDK's version."""
    return ExecutableCommand(cli, env, VersionInfo.parse(metadata.version("pulumi")))


# --- command errors ------------------------------------------------------------------


def command_error_lines(error: BaseException, limit: int = 12) -> list[str]:
    """The lines of a failed CLI command worth showing: its `error:` lines, else the tail
    of its stderr (of its stdout when stderr is empty)."""
    text = str(error)
    stdout, stderr = "", text
    if "\n stderr:" in text:
        head, stderr = text.split("\n stderr:", 1)
        stdout = head.split("\n stdout:", 1)[1] if "\n stdout:" in head else ""

    def lines(part: str) -> list[str]:
        return [line.strip() for line in part.splitlines() if line.strip()]

    errors = [line for line in lines(stderr) + lines(stdout) if line.startswith("error:")]
    chosen = errors or (lines(stderr) or lines(stdout))[-limit:]
    return list(dict.fromkeys(chosen))[:limit]


def is_lock_conflict(error: BaseException) -> bool:
    text = str(error)
    return isinstance(error, auto.ConcurrentUpdateError) or (
        "currently locked" in text or "Another update is currently in progress" in text
    )


@dataclass(frozen=True)
class PendingOperation:
    """An operation the state records as started and never finished (`pending_operations`
    of `pulumi stack export`): the update that began it was killed or lost its backend."""

    kind: str
    """`creating`, `updating`, `deleting`, `reading` or `importing`."""
    urn: str

    def line(self) -> str:
        qualified, _, name = self.urn.rpartition("::")
        resource_type = qualified.rpartition("::")[2].rpartition("$")[2]
        return f"  {self.kind} {resource_type} {name} ({self.urn})"


def pending_operations(deployment: Mapping[str, Any]) -> list[PendingOperation]:
    """The pending operations of a state document (`pulumi stack export`'s `deployment`)."""
    return [
        PendingOperation(kind=str(item.get("type", "?")), urn=str(item["resource"]["urn"]))
        for item in deployment.get("pending_operations") or []
        if isinstance(item, Mapping) and isinstance(item.get("resource"), Mapping)
    ]


@dataclass(frozen=True)
class StackState:
    """What the driver reads of a stack's state before an operation."""

    resources: int
    """Resources the state holds, the stack itself and its providers included: the steps
    an operation over them takes, which is the progress total."""
    pending: list[PendingOperation]


def stack_state(deployment: Mapping[str, Any]) -> StackState:
    """The `StackState` of a state document (`pulumi stack export`'s `deployment`)."""
    resources = deployment.get("resources")
    return StackState(
        resources=len(resources) if isinstance(resources, list) else 0,
        pending=pending_operations(deployment),
    )


def pending_error(stack: str, pending: list[PendingOperation]) -> DriverError:
    """Exit 7: what was left pending, and the two ways to clear it."""
    return DriverError(
        ExitCode.PENDING,
        f"stack {stack!r} has {len(pending)} pending operation(s) left by an update that was "
        "interrupted; nothing was changed:",
        *[operation.line() for operation in pending],
        "each may or may not have happened: check the resource with its provider (the "
        "cluster, the cloud console), then clear them:",
        f"  `go-platform refresh --stack {stack} --clear-pending-creates` (or `pulumi refresh "
        "--clear-pending-creates`) forgets pending creates and refreshes the rest;",
        f"  or `pulumi stack export --stack {stack} --file state.json`, remove its "
        f"`pending_operations` (import what was created with `pulumi import`), and "
        f"`pulumi stack import --stack {stack} --file state.json`.",
        "The interrupted update may also have left its lock: if a command then says the stack "
        f"is locked and no update runs, `pulumi cancel --stack {stack} --yes` removes it.",
        "(An update of this stack that is running now, another job's, shows its steps in "
        "flight as pending too: wait for it to end, then run this again.)",
    )


def lock_error(stack: str, error: BaseException) -> DriverError:
    detail = next((line for line in command_error_lines(error) if "lock" in line), "")
    return DriverError(
        ExitCode.LOCKED,
        f"stack {stack!r} is locked by another update; no resource was changed. Wait for it to "
        "finish (or, if it died, remove its lock with `pulumi cancel`).",
        *([detail] if detail else []),
    )


# --- the workspace -------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One stack of one project, and where its state and secrets live."""

    project_dir: Path
    stack: str
    backend: str
    secrets_provider: str | None = None
    """Provider for stacks the driver creates; None: passphrase."""

    @property
    def project(self) -> str:
        return project_name(self.project_dir)


class Session:
    """A LocalWorkspace on the target's project with the backend, secrets and CLI set."""

    def __init__(self, target: Target, env: Mapping[str, str] | None = None) -> None:
        self.target = target
        env = dict(os.environ if env is None else env)
        provider = check_secrets_provider(
            target.secrets_provider
            or stack_secrets_provider(target.project_dir, target.stack)
            or "passphrase"
        )
        cli = locate_cli(env, target.project_dir)
        # The engine's temp dir is the driver's own and goes when it exits: the kubernetes
        # provider writes a copy of a stack's `kubernetes:kubeconfig`, credentials and all,
        # into the temp dir on every run and never removes it.
        parent = env.get("TMPDIR")
        self.scratch = Path(
            tempfile.mkdtemp(
                prefix="go-platform-", dir=parent if parent and os.path.isdir(parent) else None
            )
        )
        atexit.register(shutil.rmtree, self.scratch, ignore_errors=True)
        self.env_vars = {
            **{k: v for k, v in ENGINE_DEFAULTS.items() if not env.get(k)},
            **cli.env,
            **passphrase_environment(provider, target.backend, env),
            "PULUMI_BACKEND_URL": target.backend,
            "TMPDIR": str(self.scratch),
        }
        self.pulumi_home = self.env_vars.get("PULUMI_HOME") or env.get("PULUMI_HOME")
        self.workspace = auto.LocalWorkspace(
            work_dir=str(target.project_dir),
            pulumi_home=self.pulumi_home,
            env_vars=self.env_vars,
            secrets_provider=target.secrets_provider or "passphrase",
            pulumi_command=pulumi_command(cli, env),
        )

    def set_env(self, name: str, value: str) -> None:
        """Set a variable for every later CLI run (and so for the program and providers)."""
        self.env_vars[name] = value
        self.workspace.env_vars = self.env_vars

    @contextlib.contextmanager
    def running_with(self, env: Mapping[str, str]) -> Iterator[None]:
        """CLI runs inside the block run with `env` on top of the session's variables."""
        self.workspace.env_vars = {**self.env_vars, **env}
        try:
            yield
        finally:
            self.workspace.env_vars = self.env_vars

    def dry_run(self) -> contextlib.AbstractContextManager[None]:
        """CLI runs inside the block write no state: they skip checkpoints."""
        return self.running_with(SKIP_CHECKPOINTS_ENV)

    # --- stacks --------------------------------------------------------------------

    @property
    def state_dir(self) -> Path | None:
        """A file backend's directory (None for other backends). It is made only when a
        stack is created: the CLI's login would otherwise make it (and its `.pulumi`) for a
        mistyped `--backend` on a command that only reads."""
        return file_backend_dir(self.target.backend)

    def _backend_missing(self) -> bool:
        """A file backend whose directory does not exist: it holds no stack."""
        if self.state_dir is None:
            return False
        shown = f"backend {hide_url_credentials(self.target.backend)}"
        return checked_kind(self.state_dir, shown) is not PathKind.DIRECTORY

    def stack_exists(self, name: str) -> bool:
        return any(summary.name == name for summary in self._stacks())

    def _stacks(self) -> list[auto.StackSummary]:
        if self._backend_missing():
            return []
        try:
            return self.workspace.list_stacks()
        except auto.CommandError as error:
            raise DriverError(
                ExitCode.FAILED,
                f"cannot list the stacks of backend {self.target.backend}",
                *command_error_lines(error),
            ) from None

    def select(self, name: str | None = None) -> auto.Stack:
        """The existing stack `name` (default: the target's)."""
        name = name or self.target.stack
        stack = self._select_existing(name)
        if stack is None:
            raise usage_error(f"no stack named {name!r} in backend {self.target.backend}")
        return stack

    def select_or_create_declared(self) -> auto.Stack:
        """The target's stack, created on first use when the project declares it with a
        Pulumi.<stack>.yaml (a typo in --stack never creates a stack). Selected without
        listing the backend's stacks first: one CLI run fewer before every operation."""
        name = self.target.stack
        stack = self._select_existing(name)
        if stack is not None:
            return stack
        declared = stack_file(self.target.project_dir, name)
        if checked_kind(declared, str(declared)) is not PathKind.FILE:
            raise usage_error(
                f"no stack named {name!r} in backend {self.target.backend}, and the project "
                f"has no {declared.name} declaring it"
            )
        check_stack_file(declared)  # a stack file the CLI cannot read creates no stack
        return self.create(name)

    def _select_existing(self, name: str) -> auto.Stack | None:
        """The stack `name`, or None when the backend has none of that name."""
        if self._backend_missing():
            return None
        try:
            return auto.Stack.select(name, self.workspace)
        except auto.StackNotFoundError:
            return None
        except auto.CommandError as error:
            raise DriverError(
                ExitCode.FAILED, f"cannot select stack {name!r}", *command_error_lines(error)
            ) from None

    def create(self, name: str) -> auto.Stack:
        interrupt.raise_if_requested()  # a cancelled job creates no stack (preview, up)
        if self.state_dir is not None:
            try:
                self.state_dir.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise DriverError(
                    ExitCode.FAILED,
                    f"cannot create stack {name!r}: backend directory {self.state_dir}: "
                    f"{error.strerror}",
                ) from None
        try:
            return auto.Stack.create(name, self.workspace)
        except auto.CommandError as error:
            raise DriverError(
                ExitCode.FAILED, f"cannot create stack {name!r}", *command_error_lines(error)
            ) from None

    def remove_stack(self, name: str) -> None:
        """Remove a stack with no resources left, and its history."""
        try:
            self.workspace.remove_stack(name)
        except auto.CommandError as error:
            raise DriverError(
                ExitCode.FAILED, f"cannot remove stack {name!r}", *command_error_lines(error)
            ) from None

    # --- config and outputs --------------------------------------------------------

    def stack_config(self, stack: auto.Stack) -> StackConfig:
        """The stack's config as the program will see it (secrets decrypted). A stack file
        that is no stack file is a usage error naming it; the passphrase is suspected only
        when the CLI's error is about decryption."""
        check_stack_file(stack_file(self.target.project_dir, stack.name))
        try:
            values = stack.get_all_config()
        except auto.CommandError as error:
            lines = command_error_lines(error)
            hint = (
                " (is the passphrase or KMS key right?)"
                if any(DECRYPTION_WORDS.search(line) for line in lines)
                else ""
            )
            raise DriverError(
                ExitCode.FAILED, f"cannot read the config of stack {stack.name!r}{hint}", *lines
            ) from None
        return StackConfig(
            values={key: value.value for key, value in values.items()},
            secret_keys=frozenset(key for key, value in values.items() if value.secret),
            project_dir=self.target.project_dir,
        )

    def state(self, stack: auto.Stack) -> StackState:
        """How many resources the stack's state holds and what an interrupted update left
        pending in it (read, no lock): one `stack export` before each operation.

        Exported without `--show-secrets`, which the SDK's `export_stack` always passes:
        nothing here needs a secret, and decrypting every one of them cost about a second
        of each `up` and `destroy` of the local stack (docs/PERFORMANCE.md)."""
        result = self.run_cli(
            "stack",
            "export",
            "--stack",
            stack.name,
            failure=f"cannot read the state of stack {stack.name!r}",
        )
        try:
            document = json.loads(result.stdout or "{}")
        except json.JSONDecodeError:
            raise DriverError(
                ExitCode.FAILED, f"cannot read the state of stack {stack.name!r}: not JSON"
            ) from None
        deployment = document.get("deployment") if isinstance(document, dict) else None
        return stack_state(deployment if isinstance(deployment, dict) else {})

    def masked_outputs(self, stack: auto.Stack) -> dict[str, Any]:
        """Stack outputs with every secret value, nested ones too, shown as `[secret]`."""
        result = self.run_cli("stack", "output", "--json", "--stack", stack.name)
        document = json.loads(result.stdout or "{}")
        return document if isinstance(document, dict) else {}

    def run_cli(self, *args: str, failure: str = "") -> auto.CommandResult:
        """Run `pulumi <args>` in the workspace's directory and environment; a failure is
        a DriverError led by `failure` (by default, the command)."""
        env = dict(self.workspace.env_vars)
        if self.pulumi_home:
            env["PULUMI_HOME"] = self.pulumi_home
        try:
            return self.workspace.pulumi_command.run(
                list(args), cwd=str(self.target.project_dir), additional_env=env
            )
        except auto.CommandError as error:
            raise DriverError(
                ExitCode.FAILED,
                failure or f"`pulumi {' '.join(args[:3])}` failed",
                *command_error_lines(error),
            ) from None
