"""Just enough Kubernetes client for preflight: read a kubeconfig the way kubectl and the
Kubernetes provider do, and GET JSON from the API server over HTTPS with its credentials
(CA, client certificate, bearer token, token file, or an exec credential plugin).

Standard library only (urllib, ssl): preflight must not need more than the driver does.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_KUBECONFIG = Path("~/.kube/config")
CONFIG_SOURCE = "stack config kubernetes:kubeconfig"
CONFIG_PATH_SOURCE = "named by stack config kubernetes:kubeconfig"
EXEC_TIMEOUT_SECONDS = 30


class KubeError(Exception):
    """The cluster cannot be used; the message is one line for a person."""


@dataclass(frozen=True)
class ClusterAccess:
    """How to reach one cluster: the server and the credentials of one context."""

    server: str
    context: str
    source: str
    """Where the kubeconfig came from (a path, or `stack config kubernetes:kubeconfig`)."""
    ca_data: str | None = None
    ca_file: str | None = None
    insecure: bool = False
    cert_data: str | None = None
    key_data: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    token: str | None = None
    token_file: str | None = None
    exec_spec: Mapping[str, Any] | None = field(default=None, compare=False)


# --- kubeconfig ----------------------------------------------------------------------


def kubeconfig_document(
    *,
    config_value: str | None,
    env: Mapping[str, str],
    project_dir: Path,
) -> tuple[dict[str, Any], str]:
    """The kubeconfig to use and where it came from: the stack's `kubernetes:kubeconfig`
    (a path, or the document itself, as the provider accepts), else KUBECONFIG (files
    merged, first wins), else ~/.kube/config."""
    if config_value:
        # The value is often a secret (the document itself): messages name the key only.
        parsed = _parse(config_value, CONFIG_SOURCE, quiet=True)
        if isinstance(parsed, dict) and "clusters" in parsed:
            return parsed, CONFIG_SOURCE
        if isinstance(parsed, dict | list) or "\n" in config_value.strip():
            raise KubeError(
                f"{CONFIG_SOURCE} is neither a kubeconfig document (it has no clusters) nor "
                "the path of one"
            )
        path = Path(os.path.expanduser(config_value.strip()))
        path = path if path.is_absolute() else project_dir / path
        return _read(path, shown=CONFIG_PATH_SOURCE), CONFIG_PATH_SOURCE
    if env.get("KUBECONFIG"):
        paths = [Path(os.path.expanduser(p)) for p in env["KUBECONFIG"].split(os.pathsep) if p]
        present = [p for p in paths if p.is_file()]
        if not present:
            raise KubeError(f"KUBECONFIG names no file that exists ({env['KUBECONFIG']})")
        return merge_kubeconfigs([_read(p) for p in present]), os.pathsep.join(map(str, present))
    path = Path(os.path.expanduser(str(DEFAULT_KUBECONFIG)))
    if not path.is_file():
        raise KubeError(
            f"no kubeconfig: set kubernetes:kubeconfig in the stack, or KUBECONFIG, or create {path}"
        )
    return _read(path), str(path)


def _read(path: Path, *, shown: str | None = None) -> dict[str, Any]:
    """The kubeconfig at `path`; errors call it `shown` (default: the path)."""
    shown = shown or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise KubeError(f"kubeconfig {shown} cannot be read ({error.strerror})") from None
    parsed = _parse(text, shown)
    if not isinstance(parsed, dict):
        raise KubeError(f"kubeconfig {shown} is not a kubeconfig document")
    return parsed


def _parse(text: str, source: str, *, quiet: bool = False) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        if quiet:
            return None
        # The parser's own message quotes the offending line, which may hold a token.
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise KubeError(f"kubeconfig {source} is not YAML ({problem}{where})") from None


def merge_kubeconfigs(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """kubectl's merge of KUBECONFIG files: named entries and current-context, first wins."""
    merged: dict[str, Any] = {"clusters": [], "users": [], "contexts": [], "current-context": ""}
    for document in documents:
        for section in ("clusters", "users", "contexts"):
            known = {entry.get("name") for entry in merged[section]}
            merged[section] += [
                entry
                for entry in document.get(section) or []
                if isinstance(entry, dict) and entry.get("name") not in known
            ]
        if not merged["current-context"] and document.get("current-context"):
            merged["current-context"] = document["current-context"]
    return merged


def cluster_access(
    document: Mapping[str, Any], *, context: str | None, source: str
) -> ClusterAccess:
    """The server and credentials of `context` (default: the current context)."""
    name = context or document.get("current-context") or ""
    if not name:
        raise KubeError(f"kubeconfig {source} has no current context; set kubernetes:context")
    entry = _named(document, "contexts", name)
    if entry is None:
        raise KubeError(f"kubeconfig {source} has no context {name!r}")
    details = entry.get("context") or {}
    cluster_entry = _named(document, "clusters", details.get("cluster", ""))
    if cluster_entry is None:
        raise KubeError(
            f"kubeconfig {source}: context {name!r} names cluster "
            f"{details.get('cluster')!r}, which it does not define"
        )
    cluster = cluster_entry.get("cluster") or {}
    user_entry = _named(document, "users", details.get("user", ""))
    user = (user_entry or {}).get("user") or {}
    server = cluster.get("server")
    if not server:
        raise KubeError(f"kubeconfig {source}: cluster {details.get('cluster')!r} has no server")

    def decoded(section: Mapping[str, Any], field: str) -> str | None:
        try:
            return _decoded(section.get(field))
        except (ValueError, TypeError):  # binascii.Error and UnicodeDecodeError are ValueErrors
            raise KubeError(
                f"kubeconfig {source}: {field} of context {name!r} is not base64 PEM"
            ) from None

    return ClusterAccess(
        server=str(server).rstrip("/"),
        context=name,
        source=source,
        ca_data=decoded(cluster, "certificate-authority-data"),
        ca_file=cluster.get("certificate-authority"),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        cert_data=decoded(user, "client-certificate-data"),
        key_data=decoded(user, "client-key-data"),
        cert_file=user.get("client-certificate"),
        key_file=user.get("client-key"),
        token=user.get("token"),
        token_file=user.get("tokenFile"),
        exec_spec=user.get("exec"),
    )


def _named(document: Mapping[str, Any], section: str, name: str) -> dict[str, Any] | None:
    return next(
        (e for e in document.get(section) or [] if isinstance(e, dict) and e.get("name") == name),
        None,
    )


def _decoded(data: str | None) -> str | None:
    return base64.b64decode(data).decode("utf-8") if data else None


# --- the client ----------------------------------------------------------------------


class KubeClient:
    """GETs JSON from one cluster's API server."""

    def __init__(self, access: ClusterAccess, *, timeout: float = 5.0) -> None:
        self.access = access
        self.timeout = timeout

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
    ) -> Any:
        """Send one request; the answer's JSON, or a KubeError in one line."""
        access = self.access
        try:
            token, cert, key = self._credentials()
        except OSError as error:
            raise KubeError(
                f"the token file of context {access.context!r} cannot be read ({_reason(error)})"
            ) from None
        with tempfile.TemporaryDirectory(prefix="go-platform-kube-") as private:
            try:
                context = self._tls_context(Path(private), cert, key)
            except (ssl.SSLError, OSError, ValueError) as error:
                raise KubeError(
                    f"the certificates of context {access.context!r} cannot be used "
                    f"({_reason(error)})"
                ) from None
            data = json.dumps(body).encode() if body is not None else None
            try:
                request = urllib.request.Request(f"{access.server}{path}", data=data, method=method)
            except ValueError:
                raise KubeError(
                    f"the server of context {access.context!r} is not an https:// URL"
                ) from None
            request.add_header("Accept", "application/json")
            if data is not None:
                request.add_header("Content-Type", content_type)
            if token:
                request.add_header("Authorization", f"Bearer {token}")
            try:
                with urllib.request.urlopen(
                    request, context=context, timeout=self.timeout
                ) as answer:
                    return json.loads(answer.read() or b"null")
            except json.JSONDecodeError:
                raise KubeError(f"{access.server}{path} did not answer with JSON") from None
            except urllib.error.HTTPError as error:
                if error.code in (401, 403):
                    raise KubeError(
                        f"{access.server} refused the credentials of context "
                        f"{access.context!r} ({error.code} {error.reason})"
                    ) from None
                raise KubeError(
                    f"{access.server}{path} answered {error.code} {error.reason}"
                ) from None
            except urllib.error.URLError as error:
                raise KubeError(f"cannot reach {access.server}: {_reason(error.reason)}") from None
            except TimeoutError:
                raise KubeError(
                    f"{access.server} did not answer within {self.timeout:g}s"
                ) from None
            except (ssl.SSLError, OSError) as error:
                raise KubeError(f"cannot reach {access.server}: {_reason(error)}") from None

    def _credentials(self) -> tuple[str | None, str | None, str | None]:
        access = self.access
        token = access.token
        if not token and access.token_file:
            token = Path(access.token_file).read_text(encoding="utf-8").strip()
        cert, key = access.cert_data, access.key_data
        if access.exec_spec and not (token or cert):
            token, cert, key = exec_credential(access.exec_spec)
        return token, cert, key

    def _tls_context(self, private: Path, cert: str | None, key: str | None) -> ssl.SSLContext:
        access = self.access
        if access.insecure:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif access.ca_data:
            context = ssl.create_default_context(cadata=access.ca_data)
        else:
            context = ssl.create_default_context(cafile=access.ca_file)
        cert_file, key_file = access.cert_file, access.key_file
        if cert and key:
            cert_file, key_file = str(private / "client.crt"), str(private / "client.key")
            for path, text in ((cert_file, cert), (key_file, key)):
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
                    stream.write(text)
        if cert_file and key_file:
            context.load_cert_chain(cert_file, key_file)
        return context


def exec_credential(spec: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """Run a kubeconfig `exec` credential plugin: (token, client cert, client key)."""
    command = [str(spec.get("command", "")), *[str(a) for a in spec.get("args") or []]]
    env = dict(os.environ)
    env.update({str(e["name"]): str(e["value"]) for e in spec.get("env") or [] if "name" in e})
    env["KUBERNETES_EXEC_INFO"] = json.dumps(
        {
            "apiVersion": spec.get("apiVersion", "client.authentication.k8s.io/v1"),
            "kind": "ExecCredential",
            "spec": {"interactive": False},
        }
    )
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=env,
            timeout=EXEC_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise KubeError(f"credential plugin {command[0]!r} did not run: {error}") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise KubeError(f"credential plugin {command[0]!r} failed: {last}")
    try:
        status = json.loads(result.stdout).get("status") or {}
    except json.JSONDecodeError:
        raise KubeError(f"credential plugin {command[0]!r} printed no ExecCredential") from None
    return status.get("token"), status.get("clientCertificateData"), status.get("clientKeyData")


def _reason(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"the server's certificate is not trusted ({reason.verify_message})"
    if isinstance(reason, TimeoutError):
        return "no answer (timeout)"
    text = str(getattr(reason, "strerror", None) or reason)
    return text or reason.__class__.__name__
