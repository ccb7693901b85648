"""Certificates and keys for the control plane, made with the `openssl` command.

One local CA signs the API server's serving certificate and a client certificate per
identity; the service-account token key pair stands apart. Everything is reused across
restarts (so kubeconfigs and issued tokens stay valid) and remade when a certificate is
about to expire or the CA changed.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

from localcluster.base import ClusterError

CA_DAYS = 3650
LEAF_DAYS = 365
# Remake leaf certificates that expire within this many seconds (30 days).
RENEW_BEFORE_SECONDS = 30 * 24 * 3600

# The API server answers on loopback; in-cluster clients would use the Service names.
APISERVER_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


@dataclasses.dataclass(frozen=True)
class Identity:
    """A client certificate: who a component is to the API server's RBAC."""

    name: str
    common_name: str
    organization: str = ""


# Components log in as the identities the API server's bootstrap RBAC policy knows; kwok
# plays every kubelet, so it acts as a cluster admin, as kwokctl sets it up.
# The name the API server accepts on front-proxy (aggregation layer) requests.
FRONT_PROXY_CLIENT = "front-proxy-client"

IDENTITIES = (
    Identity("admin", "go-platform-admin", "system:masters"),
    Identity("controller-manager", "system:kube-controller-manager"),
    Identity("scheduler", "system:kube-scheduler"),
    Identity("kwok", "kwok-controller", "system:masters"),
)


@dataclasses.dataclass(frozen=True)
class Pki:
    """Paths of the files under <data-dir>/pki."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def apiserver_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def apiserver_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def service_account_key(self) -> Path:
        return self.directory / "service-account.key"

    @property
    def service_account_pub(self) -> Path:
        return self.directory / "service-account.pub"

    def client_cert(self, identity: str) -> Path:
        return self.directory / f"{identity}.crt"

    def client_key(self, identity: str) -> Path:
        return self.directory / f"{identity}.key"

    @property
    def front_proxy_ca_cert(self) -> Path:
        return self.directory / "front-proxy-ca.crt"

    @property
    def front_proxy_ca_key(self) -> Path:
        return self.directory / "front-proxy-ca.key"

    @property
    def front_proxy_client_cert(self) -> Path:
        return self.directory / "front-proxy-client.crt"

    @property
    def front_proxy_client_key(self) -> Path:
        return self.directory / "front-proxy-client.key"

    def ensure(self, service_ip: str) -> bool:
        """Create what is missing or expiring; True when anything was (re)made."""
        if shutil.which("openssl") is None:
            raise ClusterError("the openssl command is not on PATH; install openssl")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        made = False
        # The aggregation layer's CA stands apart, as on a kubeadm cluster: a certificate of
        # the cluster CA must not pass as the front proxy, nor the other way round.
        for cert, key, name in (
            (self.ca_cert, self.ca_key, "go-platform-local-ca"),
            (self.front_proxy_ca_cert, self.front_proxy_ca_key, "go-platform-front-proxy-ca"),
        ):
            if not self._valid(cert, key):
                _make_ca(cert, key, name)
                made = True
        leaves = [
            _Leaf(
                self.apiserver_cert, self.apiserver_key, "/CN=kube-apiserver",
                _server_extensions(service_ip), self.ca_cert, self.ca_key,
            ),
            _Leaf(
                self.front_proxy_client_cert, self.front_proxy_client_key,
                f"/CN={FRONT_PROXY_CLIENT}", _client_extensions(),
                self.front_proxy_ca_cert, self.front_proxy_ca_key,
            ),
        ]  # fmt: skip
        for identity in IDENTITIES:
            subject = f"/CN={identity.common_name}"
            if identity.organization:
                subject += f"/O={identity.organization}"
            leaves.append(
                _Leaf(
                    self.client_cert(identity.name), self.client_key(identity.name), subject,
                    _client_extensions(), self.ca_cert, self.ca_key,
                )
            )  # fmt: skip
        for leaf in leaves:
            if made or not self._valid(leaf.cert, leaf.key):
                leaf.make()
                made = True
        if not (self.service_account_key.is_file() and self.service_account_pub.is_file()):
            _new_key(self.service_account_key)
            _openssl(
                "service-account public key",
                "pkey", "-in", str(self.service_account_key), "-pubout",
                "-out", str(self.service_account_pub),
            )  # fmt: skip
            made = True
        return made

    def _valid(self, cert: Path, key: Path) -> bool:
        if not (cert.is_file() and key.is_file()):
            return False
        check = subprocess.run(
            ["openssl", "x509", "-noout", "-checkend", str(RENEW_BEFORE_SECONDS), "-in", str(cert)],
            capture_output=True,
            check=False,
        )
        return check.returncode == 0


def _make_ca(cert: Path, key: Path, common_name: str) -> None:
    _new_key(key)
    config = cert.with_suffix(".cnf")
    config.write_text(
        _config(
            f"/CN={common_name}",
            "basicConstraints = critical, CA:TRUE\n"
            "keyUsage = critical, keyCertSign, cRLSign, digitalSignature\n"
            "subjectKeyIdentifier = hash\n",
        ),
        encoding="utf-8",
    )
    _openssl(
        f"CA certificate {cert.name}",
        "req", "-x509", "-new", "-config", str(config), "-extensions", "extensions",
        "-key", str(key), "-days", str(CA_DAYS), "-out", str(cert),
    )  # fmt: skip
    config.unlink()


@dataclasses.dataclass(frozen=True)
class _Leaf:
    cert: Path
    key: Path
    subject: str
    extensions: str
    ca_cert: Path
    ca_key: Path

    def make(self) -> None:
        _new_key(self.key)
        config = self.cert.with_suffix(".cnf")
        config.write_text(_config(self.subject, self.extensions), encoding="utf-8")
        _openssl(
            f"certificate {self.cert.name}",
            "req", "-x509", "-new", "-config", str(config), "-extensions", "extensions",
            "-key", str(self.key), "-CA", str(self.ca_cert), "-CAkey", str(self.ca_key),
            "-days", str(LEAF_DAYS), "-out", str(self.cert),
        )  # fmt: skip
        config.unlink()


def _server_extensions(service_ip: str) -> str:
    names = [f"DNS:{name}" for name in APISERVER_NAMES] + ["IP:127.0.0.1", f"IP:{service_ip}"]
    return (
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature, keyEncipherment\n"
        "extendedKeyUsage = serverAuth\n"
        f"subjectAltName = {', '.join(names)}\n"
    )


def _client_extensions() -> str:
    return (
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature, keyEncipherment\n"
        "extendedKeyUsage = clientAuth\n"
    )


def _config(subject: str, extensions: str) -> str:
    """A self-contained openssl config, so the system's defaults add no extension of theirs."""
    fields = "\n".join(part.replace("=", " = ", 1) for part in subject.strip("/").split("/"))
    return (
        "[req]\nprompt = no\ndistinguished_name = subject\n\n"
        f"[subject]\n{fields}\n\n[extensions]\n{extensions}"
    )


def _new_key(path: Path) -> None:
    path.unlink(missing_ok=True)
    _openssl(
        f"key {path.name}",
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path),
    )  # fmt: skip
    path.chmod(0o600)


def _openssl(what: str, *args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        raise ClusterError(f"openssl could not make the {what}: {lines[-1] if lines else '?'}")
