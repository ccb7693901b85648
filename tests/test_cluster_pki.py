"""The embedded cluster's certificates (`tools/cluster/localcluster/pki.py`), made with the
real `openssl` command in a temporary directory.

Invariants guarded:
- a start's check remakes a certificate that does not hold, and only that one (and the
  leaves of a remade CA): missing, expiring within 30 days, not valid yet, of a key other
  than its key file's, not verified by the current CA, not naming what is wanted now (the
  API server's Service address), of another subject; a service-account key pair that does
  not match;
- what holds is kept (kubeconfigs handed out stay valid);
- a new certificate is valid from an hour ago (a clock stepped back keeps it valid), and
  its key and certificate are put in place without leaving scratch files;
- a client certificate the TLS library refuses is one line naming it, not a traceback.
"""

from __future__ import annotations

import dataclasses
import datetime
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

CLUSTER_TOOL = REPO / "tools" / "cluster"
sys.path.append(str(CLUSTER_TOOL))  # for `localcluster`, the tool's own package
sys.path.append(str(CLUSTER_TOOL.parent))  # for `gobuild`, which it shares with the toolchain

from localcluster import pki as pki_module  # noqa: E402
from localcluster.api import ApiClient  # noqa: E402
from localcluster.base import ClusterError  # noqa: E402
from localcluster.pki import Pair, Pki  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

SERVICE_IP = "10.96.0.1"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete set, made once: tests copy it rather than make their own (seconds)."""
    directory = tmp_path_factory.mktemp("pki") / "pki"
    assert set(Pki(directory).ensure(SERVICE_IP).values()) >= {"missing"}
    return directory


@pytest.fixture
def pki(made: Path, tmp_path: Path) -> Pki:
    shutil.copytree(made, tmp_path / "pki")
    return Pki(tmp_path / "pki")


def pair(pki: Pki, cert: Path, service_ip: str = SERVICE_IP) -> Pair:
    return next(p for p in pki.pairs(service_ip) if p.cert == cert)


def not_before(cert: Path) -> datetime.datetime:
    shown = subprocess.run(
        ["openssl", "x509", "-noout", "-startdate", "-in", str(cert)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    text = shown.strip().split("=", 1)[1]
    return datetime.datetime.strptime(text, "%b %d %H:%M:%S %Y GMT").replace(tzinfo=datetime.UTC)


def test_a_complete_set_holds_and_is_kept(pki: Pki):
    before = {path.name: path.read_bytes() for path in pki.directory.iterdir()}

    assert [p.problem() for p in pki.pairs(SERVICE_IP)] == [None] * 8
    assert pki.ensure(SERVICE_IP) == {}
    assert {path.name: path.read_bytes() for path in pki.directory.iterdir()} == before


def test_new_certificates_are_valid_from_an_hour_ago_and_leave_no_scratch(made: Path):
    now = datetime.datetime.now(datetime.UTC)
    for cert in made.glob("*.crt"):
        started = not_before(cert)
        assert now - datetime.timedelta(minutes=70) < started < now - datetime.timedelta(minutes=50)
    assert not [path for path in made.iterdir() if path.name.startswith(".")]


def test_a_key_that_does_not_match_its_certificate_is_remade(pki: Pki):
    shutil.copy(pki.client_key("kwok"), pki.client_key("admin"))
    kept = pki.client_cert("kwok").read_bytes()

    assert pair(pki, pki.client_cert("admin")).problem() == "its key admin.key does not match it"
    assert pki.ensure(SERVICE_IP) == {"admin.crt": "its key admin.key does not match it"}
    assert pair(pki, pki.client_cert("admin")).problem() is None
    assert pki.client_cert("kwok").read_bytes() == kept


def test_a_leaf_of_another_ca_is_remade(pki: Pki, tmp_path: Path):
    other = Pki(tmp_path / "other")
    other.ensure(SERVICE_IP)
    shutil.copy(other.apiserver_cert, pki.apiserver_cert)
    shutil.copy(other.apiserver_key, pki.apiserver_key)

    problem = pair(pki, pki.apiserver_cert).problem()

    assert problem == "it does not verify against ca.crt: unable to get local issuer certificate"
    assert pki.ensure(SERVICE_IP) == {"apiserver.crt": problem}
    assert pair(pki, pki.apiserver_cert).problem() is None


def test_a_certificate_not_valid_yet_is_remade(pki: Pki, monkeypatch: pytest.MonkeyPatch):
    scheduler = pair(pki, pki.client_cert("scheduler"))
    monkeypatch.setattr(pki_module, "BACKDATE_SECONDS", -2 * 3600)  # valid from 2 h ahead
    scheduler.make()
    monkeypatch.undo()

    problem = scheduler.problem()

    assert problem == "it does not verify against ca.crt: certificate is not yet valid"
    assert pki.ensure(SERVICE_IP) == {"scheduler.crt": problem}


def test_a_ca_not_valid_yet_is_remade_with_its_leaves(pki: Pki, monkeypatch):
    front_proxy_ca = pair(pki, pki.front_proxy_ca_cert)
    monkeypatch.setattr(pki_module, "BACKDATE_SECONDS", -2 * 3600)
    front_proxy_ca.make()
    monkeypatch.undo()

    assert pki.ensure(SERVICE_IP) == {
        "front-proxy-ca.crt": "it does not verify against front-proxy-ca.crt:"
        " certificate is not yet valid",
        "front-proxy-client.crt": "its CA front-proxy-ca.crt was remade",
    }


def test_a_certificate_expiring_within_30_days_is_remade(pki: Pki):
    dataclasses.replace(pair(pki, pki.client_cert("kwok")), days=29).make()

    assert pki.ensure(SERVICE_IP) == {"kwok.crt": "it expires within 30 days"}


def test_a_serving_certificate_without_the_names_wanted_now_is_remade(pki: Pki):
    changed = pki.ensure("10.97.0.1")

    assert changed == {"apiserver.crt": "it does not name IP:10.97.0.1"}
    assert pair(pki, pki.apiserver_cert, "10.97.0.1").problem() is None


def test_a_certificate_of_another_subject_is_remade(pki: Pki):
    admin = pair(pki, pki.client_cert("admin"))
    dataclasses.replace(admin, subject="/CN=go-platform-admin").make()  # no O=system:masters

    assert admin.problem() == "its subject is not /CN=go-platform-admin/O=system:masters"


def test_a_missing_or_unreadable_certificate_is_remade(pki: Pki):
    pki.client_cert("scheduler").unlink()
    pki.client_cert("controller-manager").write_text("not a certificate")

    changed = pki.ensure(SERVICE_IP)

    assert changed["scheduler.crt"] == "missing"
    assert changed["controller-manager.crt"].startswith("it cannot be read: ")
    assert set(changed) == {"scheduler.crt", "controller-manager.crt"}


def test_a_service_account_key_pair_that_does_not_match_is_remade(pki: Pki, tmp_path: Path):
    other = Pki(tmp_path / "other")
    other.ensure(SERVICE_IP)
    shutil.copy(other.service_account_pub, pki.service_account_pub)

    assert pki.ensure(SERVICE_IP) == {
        "service-account.key": "service-account.pub is not the public half of it"
    }
    assert pki.ensure(SERVICE_IP) == {}


def test_a_client_certificate_tls_refuses_is_one_line_naming_it(pki: Pki):
    cert, wrong_key = pki.client_cert("admin"), pki.client_key("kwok")

    with pytest.raises(ClusterError) as raised:
        ApiClient("127.0.0.1", 1, pki.ca_cert, cert, wrong_key)
    assert str(raised.value).startswith(
        f"{cert}: the client certificate (key {wrong_key}) is unusable:"
        " [X509: KEY_VALUES_MISMATCH] key values mismatch; a start checks the certificates"
    )
    with pytest.raises(FileNotFoundError) as missing:
        ApiClient("127.0.0.1", 1, pki.ca_cert, cert, pki.directory / "nothing.key")
    assert missing.value.filename == str(pki.directory / "nothing.key")
    with pytest.raises(ClusterError, match=f"^{pki.apiserver_key}: the CA certificate"):
        ApiClient("127.0.0.1", 1, pki.apiserver_key, cert, pki.client_key("admin"))
