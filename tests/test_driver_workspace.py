"""Where the driver finds the project, the backend, the secrets and the CLI (pure parts).

Invariants guarded:
- the backend is `--backend`, else PULUMI_BACKEND_URL, else the project's git-ignored
  `.state/backend`; only absolute file:// paths and s3:// URLs naming a bucket pass, and a
  rejected one is a usage error saying what to write;
- the passphrase provider gets the documented local passphrase on a file backend when none
  is set, never overrides one that is set, and on a shared backend asks for one; KMS URLs
  need no passphrase; an unknown provider is a usage error;
- a stack file's recorded secrets provider is read, so an existing KMS stack needs no
  passphrase;
- `bootstrap.py env` output is read with `$PATH` expanded;
- a failed CLI command is shown by its `error:` lines, and lock conflicts are recognised
  by type and by the file backend's message;
- the project is the nearest directory with a Pulumi.yaml, named by it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pulumi.automation import CommandResult, ConcurrentUpdateError
from pulumi.automation.errors import CommandError

from go_platform.exit_codes import DriverError, ExitCode
from go_platform.workspace import (
    DEFAULT_LOCAL_PASSPHRASE,
    check_backend,
    check_secrets_provider,
    command_error_lines,
    embedded_kubeconfig,
    find_project_dir,
    is_lock_conflict,
    kubeconfig_override,
    lock_error,
    parse_exports,
    passphrase_environment,
    project_name,
    resolve_backend,
    stack_secrets_provider,
)

PROJECT = Path("/srv/go-platform")


def test_the_backend_option_wins_then_the_environment_then_local_state():
    env = {"PULUMI_BACKEND_URL": "s3://from-env?region=eu-west-1"}

    assert resolve_backend("file:///tmp/state", env, PROJECT) == "file:///tmp/state"
    assert resolve_backend(None, env, PROJECT) == "s3://from-env?region=eu-west-1"
    assert resolve_backend(None, {}, PROJECT) == "file:///srv/go-platform/.state/backend"


@pytest.mark.parametrize(
    "url",
    [
        "file:///var/lib/state",
        "file://~/.pulumi-state",
        "s3://state-bucket",
        "s3://state-bucket?region=eu-west-1&endpoint=127.0.0.1:9000&s3ForcePathStyle=true",
    ],
)
def test_supported_backends(url):
    assert check_backend(url) == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("file://relative/state", "absolute path"),
        ("s3://", "name the bucket"),
        ("s3://?region=eu-west-1", "name the bucket"),
        ("gs://bucket", "is not supported"),
        ("https://api.example.com", "is not supported"),
        ("/plain/path", "is not supported"),
    ],
)
def test_rejected_backends_are_usage_errors_saying_what_to_write(url, says):
    with pytest.raises(DriverError) as raised:
        check_backend(url)

    assert raised.value.code == ExitCode.USAGE
    assert says in raised.value.lines[0]
    assert len(raised.value.lines) == 1


def test_the_local_passphrase_is_the_default_on_a_file_backend_only():
    assert passphrase_environment("passphrase", "file:///x", {}) == {
        "PULUMI_CONFIG_PASSPHRASE": DEFAULT_LOCAL_PASSPHRASE
    }
    assert (
        passphrase_environment("passphrase", "file:///x", {"PULUMI_CONFIG_PASSPHRASE": "mine"})
        == {}
    )
    assert (
        passphrase_environment("passphrase", "s3://b", {"PULUMI_CONFIG_PASSPHRASE_FILE": "/p"})
        == {}
    )
    assert passphrase_environment("awskms://alias/state", "s3://b", {}) == {}
    with pytest.raises(DriverError, match="PULUMI_CONFIG_PASSPHRASE") as raised:
        passphrase_environment("passphrase", "s3://b", {})
    assert raised.value.code == ExitCode.USAGE


def test_secrets_providers():
    assert check_secrets_provider("passphrase") == "passphrase"
    assert check_secrets_provider("awskms://alias/go-platform?region=eu-west-1")
    assert check_secrets_provider("hashivault://go-platform")
    with pytest.raises(DriverError, match="not supported"):
        check_secrets_provider("rot13")


def test_a_stack_file_tells_its_secrets_provider(tmp_path):
    (tmp_path / "Pulumi.kms.yaml").write_text(
        "secretsprovider: awskms://alias/x\nencryptedkey: abc\n"
    )
    (tmp_path / "Pulumi.pass.yaml").write_text("encryptionsalt: v1:abc\nconfig: {}\n")
    (tmp_path / "Pulumi.new.yaml").write_text("config: {}\n")

    assert stack_secrets_provider(tmp_path, "kms") == "awskms://alias/x"
    assert stack_secrets_provider(tmp_path, "pass") == "passphrase"
    assert stack_secrets_provider(tmp_path, "new") is None
    assert stack_secrets_provider(tmp_path, "missing") is None


def test_bootstrap_env_output_is_read_with_path_expanded():
    text = (
        'export PATH=/cache/pulumi-v3/bin:"$PATH"\n'
        "export PULUMI_HOME=/cache/home\n"
        "export PULUMI_SKIP_UPDATE_CHECK=true\n"
    )

    assert parse_exports(text, {"PATH": "/usr/bin"}) == {
        "PATH": "/cache/pulumi-v3/bin:/usr/bin",
        "PULUMI_HOME": "/cache/home",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }


def failure(stderr: str, kind: type[CommandError] = CommandError) -> CommandError:
    return kind(CommandResult(stdout="Updating (dev)\n", stderr=stderr, code=255))


def test_a_failed_command_shows_its_error_lines():
    error = failure("warning: something\nerror: update failed\nerror: 1 resource failed\n")

    assert command_error_lines(error) == ["error: update failed", "error: 1 resource failed"]
    assert command_error_lines(failure("just text\n"))[-1] == "just text"


def test_lock_conflicts_are_recognised():
    file_backend = failure(
        "error: the stack is currently locked by 1 lock(s). Either wait for the other "
        "process(es) to end or delete the lock file with `pulumi cancel`.\n"
    )

    assert is_lock_conflict(failure("", ConcurrentUpdateError))
    assert is_lock_conflict(file_backend)
    assert not is_lock_conflict(failure("error: boom\n"))
    locked = lock_error("dev", file_backend)
    assert locked.code == ExitCode.LOCKED
    assert "locked by another update" in locked.lines[0]
    assert "currently locked" in locked.lines[1]


def test_the_project_is_the_nearest_pulumi_yaml(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: go-platform\nruntime: python\n")
    nested = tmp_path / "services" / "greeter"
    nested.mkdir(parents=True)

    assert find_project_dir(nested) == tmp_path
    assert project_name(tmp_path) == "go-platform"
    with pytest.raises(DriverError, match="--project-dir"):
        find_project_dir(Path("/"))


def test_the_local_environment_always_uses_the_embedded_cluster():
    embedded = Path("/repo/.state/cluster/kubeconfig")

    def locate():
        return embedded

    assert kubeconfig_override("local", {}, locate) == embedded
    assert kubeconfig_override("local", {"kubernetes:kubeconfig": "/k"}, locate) is None
    assert kubeconfig_override("dev", {}, locate) is None
    assert kubeconfig_override("local", {}, lambda: None) is None


def test_the_embedded_kubeconfig_comes_from_the_cluster_tool(tmp_path):
    from tests.conftest import REPO

    assert (
        embedded_kubeconfig(REPO, {"GO_PLATFORM_CLUSTER_DIR": str(tmp_path)})
        == tmp_path / "kubeconfig"
    )
    assert embedded_kubeconfig(tmp_path, {}) is None
