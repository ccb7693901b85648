"""Certificates and keys for the control plane, made with the `openssl` command.

One local CA signs the API server's serving certificate and a client certificate per
identity; the aggregation layer has a CA of its own; the service-account token key pair
stands apart. The CAs are valid for CA_DAYS (10 years), the others for LEAF_DAYS (365 days),
each from an hour before it was made.

Everything is reused across restarts (so kubeconfigs and issued tokens stay valid). Each
`start` checks every certificate (Pair.problem) and remakes, with a new key, one that is
missing, expires within 30 days, is not valid yet, does not match its key, does not verify
against its CA as that is now, or lacks a name the API server must answer to now; the
leaves of a remade CA are remade with it. A cluster that keeps running is not checked:
only a start renews (docs/cluster.md).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from localcluster.base import ClusterError

CA_DAYS = 3650
LEAF_DAYS = 365
# Remake certificates that expire within this many seconds (30 days).
RENEW_BEFORE_SECONDS = 30 * 24 * 3600
# New certificates are valid from this long ago: a clock stepped back (NTP, a VM resumed)
# must not make them "not yet valid".
BACKDATE_SECONDS = 3600

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

    def pairs(self, service_ip: str) -> list[Pair]:
        """Every certificate with its key, CAs first, as `ensure` wants them now."""
        # The aggregation layer's CA stands apart, as on a kubeadm cluster: a certificate of
        # the cluster CA must not pass as the front proxy, nor the other way round.
        ca = Pair(self.ca_cert, self.ca_key, "/CN=go-platform-local-ca", _CA_EXTENSIONS, CA_DAYS)
        front_proxy_ca = Pair(
            self.front_proxy_ca_cert, self.front_proxy_ca_key, "/CN=go-platform-front-proxy-ca",
            _CA_EXTENSIONS, CA_DAYS,
        )  # fmt: skip
        names = (*(f"DNS:{name}" for name in APISERVER_NAMES), "IP:127.0.0.1", f"IP:{service_ip}")
        pairs = [
            ca,
            front_proxy_ca,
            Pair(
                self.apiserver_cert, self.apiserver_key, "/CN=kube-apiserver",
                _server_extensions(names), LEAF_DAYS, ca, names,
            ),
            Pair(
                self.front_proxy_client_cert, self.front_proxy_client_key,
                f"/CN={FRONT_PROXY_CLIENT}", _CLIENT_EXTENSIONS, LEAF_DAYS, front_proxy_ca,
            ),
        ]  # fmt: skip
        for identity in IDENTITIES:
            subject = f"/CN={identity.common_name}"
            if identity.organization:
                subject += f"/O={identity.organization}"
            pairs.append(
                Pair(
                    self.client_cert(identity.name), self.client_key(identity.name), subject,
                    _CLIENT_EXTENSIONS, LEAF_DAYS, ca,
                )
            )  # fmt: skip
        return pairs

    def ensure(self, service_ip: str) -> dict[str, str]:
        """(Re)make every certificate that does not hold (see Pair.problem), the leaves of a
        remade CA, and a service-account key pair that is missing or does not match: what
        was (re)made, file name to why (`missing` for new ones); empty when nothing was."""
        if shutil.which("openssl") is None:
            raise ClusterError("the openssl command is not on PATH; install openssl")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        made: dict[str, str] = {}
        remade_cas: set[Path] = set()
        pairs = self.pairs(service_ip)
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(pairs)) as pool:
            problems = list(pool.map(Pair.problem, pairs))  # each runs openssl three times
        for pair, problem in zip(pairs, problems, strict=True):
            if pair.issuer is not None and pair.issuer.cert in remade_cas:
                problem = f"its CA {pair.issuer.cert.name} was remade"
            if problem is not None:
                pair.make()
                made[pair.cert.name] = problem
                if pair.issuer is None:
                    remade_cas.add(pair.cert)
        problem = self._service_account_problem()
        if problem is not None:
            with _scratch(self.directory) as scratch:
                key, pub = scratch / "key", scratch / "pub"
                _new_key(key)
                _openssl(
                    "service-account public key",
                    "pkey",
                    "-in",
                    str(key),
                    "-pubout",
                    "-out",
                    str(pub),
                )
                pub.chmod(0o644)
                os.replace(key, self.service_account_key)
                os.replace(pub, self.service_account_pub)
            made[self.service_account_key.name] = problem
        return made

    def _service_account_problem(self) -> str | None:
        if not (self.service_account_key.is_file() and self.service_account_pub.is_file()):
            return "missing"
        derived = _run("pkey", "-in", str(self.service_account_key), "-pubout")
        if derived.returncode != 0 or derived.stdout.strip() != _read(self.service_account_pub):
            return f"{self.service_account_pub.name} is not the public half of it"
        return None


@dataclasses.dataclass(frozen=True)
class Pair:
    """A certificate and its key, as they should be: the subject, extensions and names
    wanted now, issued by `issuer` (a CA's own pair; None for a CA, which signs itself)."""

    cert: Path
    key: Path
    subject: str
    extensions: str
    days: int
    issuer: Pair | None = None
    names: tuple[str, ...] = ()
    """The subject alternative names wanted: `DNS:localhost`, `IP:127.0.0.1`."""

    def problem(self) -> str | None:
        """Why the pair must be (re)made, in a few words; None when it holds: both files
        there, the certificate valid for RENEW_BEFORE_SECONDS more, of the subject wanted,
        its key the one in the key file, verified by its issuer's current certificate (a
        CA's by itself), which also finds one not valid yet (a clock set back), and naming
        every name wanted now."""
        if not (self.cert.is_file() and self.key.is_file()):
            return "missing"
        args = ["x509", "-noout", "-subject", "-nameopt", "compat", "-pubkey"]
        args += ["-checkend", str(RENEW_BEFORE_SECONDS), "-in", str(self.cert)]
        if self.names:
            args += ["-ext", "subjectAltName"]
        shown = _run(*args)
        public = _PUBLIC_KEY.search(shown.stdout)
        if public is None:
            return f"it cannot be read: {_last_line(shown.stderr)}"
        if shown.returncode != 0:
            return f"it expires within {RENEW_BEFORE_SECONDS // 86400} days"
        subject = re.search(r"^subject=\s*(.*)$", shown.stdout, re.MULTILINE)
        if subject is None or subject.group(1).strip() != self.subject:
            return f"its subject is not {self.subject}"
        key = _run("pkey", "-in", str(self.key), "-pubout")
        key_public = _PUBLIC_KEY.search(key.stdout) if key.returncode == 0 else None
        if key_public is None:
            return f"its key {self.key.name} cannot be read: {_last_line(key.stderr)}"
        if key_public.group(0) != public.group(0):
            return f"its key {self.key.name} does not match it"
        authority = self.issuer.cert if self.issuer is not None else self.cert
        verified = _run("verify", "-CAfile", str(authority), str(self.cert))
        if verified.returncode != 0:
            lookup = re.search(
                r"error \d+ at \d+ depth lookup: (.*)", verified.stderr + verified.stdout
            )
            why = lookup.group(1) if lookup else _last_line(verified.stderr)
            return f"it does not verify against {authority.name}: {why}"
        missing = [name for name in self.names if name not in _alternative_names(shown.stdout)]
        if missing:
            return f"it does not name {', '.join(missing)}"
        return None

    def make(self) -> None:
        """A new key and certificate, put in place key first: should we stop between the
        two, the next check finds a key that does not match and makes them again. Valid
        from BACKDATE_SECONDS ago, so that a clock stepped back a little keeps them valid."""
        with _scratch(self.cert.parent) as scratch:
            key, request, cert = scratch / "key", scratch / "csr", scratch / "crt"
            config = scratch / "openssl.cnf"
            config.write_text(_config(scratch, self.subject, self.extensions), encoding="utf-8")
            _new_key(key)
            _openssl(
                f"request for {self.cert.name}",
                "req", "-new", "-config", str(config), "-key", str(key), "-out", str(request),
            )  # fmt: skip
            if self.issuer is None:
                signer = ["-selfsign", "-keyfile", str(key)]
            else:
                signer = ["-cert", str(self.issuer.cert), "-keyfile", str(self.issuer.key)]
            now = datetime.datetime.now(datetime.UTC)
            _openssl(
                f"certificate {self.cert.name}",
                "ca", "-batch", "-config", str(config), *signer, "-in", str(request),
                "-out", str(cert), "-notext", "-extfile", str(config), "-extensions", "extensions",
                "-startdate", _asn1_time(now - datetime.timedelta(seconds=BACKDATE_SECONDS)),
                "-enddate", _asn1_time(now + datetime.timedelta(days=self.days)),
            )  # fmt: skip
            cert.chmod(0o644)
            os.replace(key, self.key)
            os.replace(cert, self.cert)


_PUBLIC_KEY = re.compile(r"-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----", re.DOTALL)

_CA_EXTENSIONS = (
    "basicConstraints = critical, CA:TRUE\n"
    "keyUsage = critical, keyCertSign, cRLSign, digitalSignature\n"
    "subjectKeyIdentifier = hash\n"
)

_CLIENT_EXTENSIONS = (
    "basicConstraints = critical, CA:FALSE\n"
    "keyUsage = critical, digitalSignature, keyEncipherment\n"
    "extendedKeyUsage = clientAuth\n"
    "subjectKeyIdentifier = hash\n"
    "authorityKeyIdentifier = keyid\n"
)


def _server_extensions(names: tuple[str, ...]) -> str:
    return (
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature, keyEncipherment\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid\n"
        f"subjectAltName = {', '.join(names)}\n"
    )


def _alternative_names(shown: str) -> set[str]:
    """The subject alternative names `openssl x509 -ext subjectAltName` printed, in the
    words of a config: `DNS:localhost`, `IP:127.0.0.1`."""
    lines = shown.splitlines()
    for index, line in enumerate(lines[:-1]):
        if line.strip().startswith("X509v3 Subject Alternative Name"):
            entries = lines[index + 1].split(",")
            return {entry.strip().replace("IP Address:", "IP:", 1) for entry in entries}
    return set()


def _config(scratch: Path, subject: str, extensions: str) -> str:
    """A self-contained openssl config for `req` and `ca` (a throwaway CA database in
    `scratch`), so the system's defaults add no extension of theirs."""
    fields = "\n".join(part.replace("=", " = ", 1) for part in subject.strip("/").split("/"))
    serial = scratch / "serial"
    serial.write_text(f"{secrets.randbits(127) | 1 << 126:x}\n", encoding="ascii")
    (scratch / "index.txt").write_text("", encoding="ascii")
    return (
        "[ca]\ndefault_ca = signing\n\n"
        f"[signing]\ndatabase = {scratch / 'index.txt'}\nserial = {serial}\n"
        f"new_certs_dir = {scratch}\ndefault_md = sha256\npolicy = policy\n"
        "email_in_dn = no\nunique_subject = no\npreserve = yes\n\n"
        "[policy]\ncommonName = supplied\norganizationName = optional\n\n"
        "[req]\nprompt = no\ndistinguished_name = subject\n\n"
        f"[subject]\n{fields}\n\n[extensions]\n{extensions}"
    )


def _asn1_time(moment: datetime.datetime) -> str:
    """A time as `openssl ca -startdate` takes it: UTCTime until 2050, as RFC 5280 wants."""
    return moment.strftime("%y%m%d%H%M%SZ" if moment.year < 2050 else "%Y%m%d%H%M%SZ")


@contextlib.contextmanager
def _scratch(directory: Path) -> Iterator[Path]:
    """A private directory beside the files being made (the same file system: they are
    moved in place in one step), deleted afterwards."""
    with tempfile.TemporaryDirectory(dir=directory, prefix=".new-") as name:
        yield Path(name)


def _new_key(path: Path) -> None:
    path.unlink(missing_ok=True)
    _openssl(
        f"key {path.name}",
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path),
    )  # fmt: skip
    path.chmod(0o600)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "?"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)


def _openssl(what: str, *args: str) -> None:
    result = _run(*args)
    if result.returncode != 0:
        raise ClusterError(f"openssl could not make the {what}: {_last_line(result.stderr)}")
