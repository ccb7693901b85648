"""`make env`: the exports that let `pulumi` (and, for the local stack, `kubectl`) run in a
person's own shell as the Makefile's targets run them (`eval "$(make -s env)"`, README).

Invariants guarded:
- evaluated in bash, the exports put the toolchain's CLI first on PATH and name the project's
  file backend; for the local stack, the embedded cluster's kubeconfig and its kubectl;
- the passphrase is exported only when it is the Makefile's documented default: one the
  person set is never printed.
"""

from __future__ import annotations

import os
import subprocess

from tests.conftest import REPO

OWN_PASSPHRASE = "a-passphrase-of-my-own-4c1d"


def evaluated(*make_args: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """What the exports set, read back in the bash that evaluated them; and what was printed."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PULUMI_") and k not in ("KUBECONFIG", "MAKEFLAGS", "MAKELEVEL")
    }
    script = (
        f'printed="$(make -s env {" ".join(make_args)})" || exit 1\n'
        'eval "$printed"\n'
        'printf "%s\\0" "$printed" "$PATH" "${PULUMI_BACKEND_URL-}" '
        '"${PULUMI_CONFIG_PASSPHRASE-}" "${KUBECONFIG-}" "${PULUMI_HOME-}"\n'
    )
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=REPO,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    names = ("printed", "PATH", "PULUMI_BACKEND_URL", "passphrase", "KUBECONFIG", "PULUMI_HOME")
    return dict(zip(names, done.stdout.split("\0"), strict=False))


def test_the_local_stacks_exports():
    env = evaluated()

    path = env["PATH"].split(":")
    # The cluster's kubectl, then the toolchain's CLI, before anything the shell had.
    assert path[0] == f"{REPO}/.state/cluster/bin"
    assert "/pulumi-v" in path[1]
    assert path[1].endswith("/bin")
    assert env["PULUMI_HOME"]
    assert env["PULUMI_BACKEND_URL"] == f"file://{REPO}/.state/backend"
    assert env["passphrase"] == "go-platform-local"
    assert env["KUBECONFIG"] == f"{REPO}/.state/cluster/kubeconfig"


def test_another_stack_keeps_the_persons_kubeconfig():
    env = evaluated("STACK=dev", env={"KUBECONFIG": "/home/me/.kube/prod-like"})

    assert env["KUBECONFIG"] == "/home/me/.kube/prod-like"
    assert "export KUBECONFIG" not in env["printed"]
    assert "/pulumi-v" in env["PATH"].split(":")[0]


def test_a_passphrase_of_ones_own_is_never_printed():
    env = evaluated(env={"PULUMI_CONFIG_PASSPHRASE": OWN_PASSPHRASE})

    assert OWN_PASSPHRASE not in env["printed"]
    assert "PULUMI_CONFIG_PASSPHRASE" not in env["printed"]
    assert env["passphrase"] == OWN_PASSPHRASE  # still the shell's own
