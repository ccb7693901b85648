"""The pack on its own: the bundle `make policy-bundle` builds, installed the way Pulumi
installs a published pack.

`tools/policy_bundle.py` writes the bundle (the pack, the core package's wheel, requirements
that find it) into a tmp dir outside the repository; `pulumi install` in the bundle, through
our toolchain and with no PYTHONPATH, VIRTUAL_ENV or PYTHONHOME, makes the language host
(`InstallDependencies`) create `<bundle>/venv` from the bundle's requirements alone, as
`pulumi policy publish`'s consumers do. The pack is then started from that virtualenv the way
the language host starts it, and finally run by the engine itself.

Invariants guarded:
- `pulumi install` in the bundle creates its own virtualenv with the pins of
  `policies/requirements.txt`, the core package among them, and every distribution they
  bring at the version `policies/constraints.txt` pins;
- the bundled pack imports the core from its own virtualenv, not from the repository, and
  describes every policy;
- under the real engine, `pulumi preview --policy-pack <bundle>` of a stack on the embedded
  cluster runs the bundled pack from the bundle, and its mandatory policy stops a
  privileged container, naming the policy and the resource.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import empty_pb2

from tests.conftest import REPO
from tests.integration.conftest import Engine, Toolchain
from tests.integration.test_driver_preflight import embedded_kubeconfig  # noqa: F401 (fixture)
from tests.integration.test_language_host import STACK, new_stack, set_config
from tests.integration.test_policy_analyzer import pack_env, serve
from tests.test_policy_pack import pins

# isort: split
from go_platform_policies import POLICIES

sys.path.append(str(REPO / "tools"))  # the bundle tool is a script
from policy_bundle import normalized

BOOTSTRAP = REPO / "tools" / "toolchain" / "bootstrap.py"
INSTALL_TIMEOUT = 600


def run(*command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


NOT_OUTSIDE = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
"""What would let the bundle see this repository or the project's virtualenv."""


def outside_the_project(env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default: ours) as on a machine where only the bundle and its virtualenv exist."""
    return {k: v for k, v in (os.environ if env is None else env).items() if k not in NOT_OUTSIDE}


@pytest.fixture(scope="module")
def bundle(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundle, built by the bundle tool and installed by `pulumi install`."""
    toolchain.require("cli", "language-python")
    bundle = tmp_path_factory.mktemp("standalone") / "policy-pack"
    env = outside_the_project()
    run(sys.executable, REPO / "tools" / "policy_bundle.py", "--output", bundle, env=env)
    run(sys.executable, BOOTSTRAP, "run", "--", "pulumi", "install", cwd=bundle, env=env)
    return bundle


def python_of(bundle: Path) -> Path:
    return bundle / "venv" / "bin" / "python"


def test_pulumi_install_gives_the_bundle_its_own_virtualenv_with_the_packs_pins(bundle):
    listed = run(
        python_of(bundle), "-m", "pip", "list", "--format=freeze", env=outside_the_project()
    )
    installed = {
        normalized(name): version
        for name, _, version in (line.partition("==") for line in listed.split())
    }
    wanted = pins(REPO / "policies" / "requirements.txt")
    wanted |= pins(REPO / "policies" / "constraints.txt")  # everything those bring, too
    assert len(wanted) > 20
    assert {name: installed.get(name) for name in wanted} == wanted


def test_the_bundle_imports_the_core_from_its_own_virtualenv(bundle):
    found = run(
        python_of(bundle),
        "-c",
        "import go_platform_core, go_platform_policies.shared as s; "
        "print(go_platform_core.__file__); print(s.__file__)",
        cwd=bundle,
        env=outside_the_project(),
    ).split()
    assert Path(found[0]).is_relative_to(bundle / "venv")
    assert Path(found[1]).is_relative_to(bundle)


def test_the_bundle_starts_with_its_own_requirements_and_describes_every_policy(bundle):
    pack = serve(
        directory=bundle, env=outside_the_project(pack_env("staging")), python=python_of(bundle)
    )
    try:
        info = pack.stub.GetAnalyzerInfo(empty_pb2.Empty())
    finally:
        pack.stop()
    assert info.name == "go-platform"
    assert [p.name for p in info.policies] == [p.name for p in POLICIES]


def test_the_engine_runs_the_bundle_and_its_mandatory_policy_stops_a_privileged_container(
    bundle: Path, toolchain: Toolchain, engine: Engine, request: pytest.FixtureRequest
):
    toolchain.require("cli", "language-python", "kubernetes")
    kubeconfig = request.getfixturevalue("embedded_kubeconfig")
    engine.env = outside_the_project(engine.env) | {"KUBECONFIG": str(kubeconfig)}
    project = new_stack(engine, "violating-program")
    # dev: privileged containers are mandatory there, the `:latest` tag only advisory.
    set_config(engine, project, "go-platform:environment", "dev")

    preview = ("preview", "--stack", STACK, "--non-interactive", "--policy-pack", str(bundle))
    result = engine.run(*preview, cwd=project, check=False)

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert re.search(rf"go-platform@v\S* \(local: {re.escape(str(bundle))}\)", output), output
    findings = re.findall(
        r"\[(mandatory|advisory)\] (?:\[severity: \w+\] )?\s*(\S+)\s+\((\S+): (\S+)\)", output
    )
    assert {(p, k, n) for level, p, k, n in findings if level == "mandatory"} == {
        ("container-privileged-disallowed", "kubernetes:apps/v1:Deployment", "unsafe")
    }, output
    assert ("advisory", "image-tag-not-latest", "kubernetes:apps/v1:Deployment", "unsafe") in (
        findings
    ), output
    assert "securityContext.privileged is true" in output, output
