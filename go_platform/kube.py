"""The driver's Kubernetes access (preflight): which kubeconfig and context a stack uses,
and JSON from its API server through the official `kubernetes` client, which does the
credentials as kubectl does: CA and client certificates, bearer tokens and token files,
exec credential plugins (`KUBERNETES_EXEC_INFO`, refresh on expiry), `tls-server-name`,
`insecure-skip-tls-verify`, the proxy variables.

What stays here is what the library does not say in one line: choosing the kubeconfig (the
stack's `kubernetes:kubeconfig`, a path or the document itself; else `KUBECONFIG`, files
merged as kubectl merges them; else ~/.kube/config) with messages that name where it came
from and never quote it, and turning every failure into one `KubeError` line. The document
is loaded into a `Configuration` of its own, with no persister: a refreshed token is never
written back to the user's kubeconfig, and the library's default configuration is left
alone.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import logging
import os
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from go_platform.paths import PathKind, UnusablePathError, path_kind
from go_platform.textfile import UnreadableTextError, read_text

DEFAULT_KUBECONFIG = Path("~/.kube/config")
CONFIG_SOURCE = "stack config kubernetes:kubeconfig"
CONFIG_PATH_SOURCE = "named by stack config kubernetes:kubeconfig"


class KubeError(Exception):
    """The cluster cannot be used; the message is one line for a person."""


@dataclass(frozen=True)
class ClusterAccess:
    """How to reach one cluster: the server and the credentials of one context."""

    server: str
    context: str
    source: str
    """Where the kubeconfig came from (a path, or `stack config kubernetes:kubeconfig`)."""
    document: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """The kubeconfig itself (it may hold credentials: never shown)."""


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
        present = [p for p in paths if _is_file(p, "KUBECONFIG")]
        if not present:
            raise KubeError(f"KUBECONFIG names no file that exists ({env['KUBECONFIG']})")
        return merge_kubeconfigs([_read(p) for p in present]), os.pathsep.join(map(str, present))
    path = Path(os.path.expanduser(str(DEFAULT_KUBECONFIG)))
    if not _is_file(path, "kubeconfig"):
        raise KubeError(
            f"no kubeconfig: set kubernetes:kubeconfig in the stack, or KUBECONFIG, or create {path}"
        )
    return _read(path), str(path)


def _is_file(path: Path, source: str) -> bool:
    """Whether `path` is a file; a KubeError naming `source` and the path when the system
    will not say (a name too long, a directory that may not be searched)."""
    try:
        return path_kind(path) is PathKind.FILE
    except UnusablePathError as error:
        raise KubeError(f"{source} {path}: {error}") from None


def _read(path: Path, *, shown: str | None = None) -> dict[str, Any]:
    """The kubeconfig at `path`; errors call it `shown` (default: the path)."""
    shown = shown or str(path)
    try:
        text = read_text(path)
    except UnreadableTextError as error:
        raise KubeError(f"kubeconfig {shown} {error}") from None
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

    for section, key in (
        (cluster, "certificate-authority-data"),
        (user, "client-certificate-data"),
        (user, "client-key-data"),
    ):
        try:
            _decoded(section.get(key))
        except (ValueError, TypeError):  # binascii.Error and UnicodeDecodeError are ValueErrors
            raise KubeError(
                f"kubeconfig {source}: {key} of context {name!r} is not base64 PEM"
            ) from None
    return ClusterAccess(
        server=str(server).rstrip("/"), context=name, source=source, document=document
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
    """Sends JSON requests to one cluster's API server with the official client."""

    def __init__(self, access: ClusterAccess, *, timeout: float = 5.0) -> None:
        self.access = access
        self.timeout = timeout
        self._api: Any = None

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
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        access = self.access
        api = self._client()
        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            with _plugin_failures() as failures:
                # Runs the exec credential plugin again when its token has expired.
                api.update_params_for_auth(headers, [], ["BearerToken"])
            _raise_plugin_failure(access, failures)
            answer = api.rest_client.request(
                method,
                f"{api.configuration.host}{path}",
                headers=headers,
                body=body,
                _preload_content=False,
                _request_timeout=self.timeout,
            )
        except ApiException as error:
            if error.status in (401, 403):
                raise KubeError(
                    f"{access.server} refused the credentials of context "
                    f"{access.context!r} ({error.status} {error.reason})"
                ) from None
            if error.status:
                raise KubeError(
                    f"{access.server}{path} answered {error.status} {error.reason}"
                ) from None
            raise self._unreachable(error) from None  # status 0: TLS failed
        except (HTTPError, OSError) as error:
            raise self._unreachable(error) from None
        try:
            return json.loads(answer.data or b"null")
        except ValueError:
            raise KubeError(f"{access.server}{path} did not answer with JSON") from None

    def _client(self) -> Any:
        """An ApiClient on a Configuration of its own, loaded from the access's kubeconfig."""
        if self._api is not None:
            return self._api
        # Imported here: the client is large, and most commands never talk to a cluster.
        from kubernetes.client import ApiClient, Configuration
        from kubernetes.config.config_exception import ConfigException
        from kubernetes.config.kube_config import KubeConfigLoader

        access = self.access
        server = urlsplit(access.server)
        if server.scheme not in ("http", "https") or not server.netloc:
            raise KubeError(f"the server of context {access.context!r} is not an https:// URL")
        configuration = Configuration()
        configuration.retries = False  # one attempt: preflight reports, kubectl-style
        loader = KubeConfigLoader(
            config_dict=copy.deepcopy(dict(access.document)),
            active_context=access.context,
            config_base_path="",
            config_persister=None,  # never write a refreshed token back to the kubeconfig
        )
        try:
            with _plugin_failures() as failures:
                loader.load_and_set(configuration)
        except OSError as error:
            raise KubeError(
                f"the token file of context {access.context!r} cannot be read ({_reason(error)})"
            ) from None
        except ConfigException as error:
            # "File does not exist: <path>" for a certificate file; other messages may quote
            # the kubeconfig, so they are not shown.
            text = str(error)
            shown = text if text.startswith("File does not exist") else "not usable"
            raise KubeError(
                f"the certificates of context {access.context!r} cannot be used ({shown})"
            ) from None
        _raise_plugin_failure(access, failures)
        try:
            _check_certificates(configuration)
        except (ssl.SSLError, OSError, ValueError) as error:
            raise KubeError(
                f"the certificates of context {access.context!r} cannot be used ({_reason(error)})"
            ) from None
        self._api = ApiClient(configuration)
        return self._api

    def _unreachable(self, error: BaseException) -> KubeError:
        cause = _root_cause(error)
        if _is_timeout(cause):
            return KubeError(f"{self.access.server} did not answer within {self.timeout:g}s")
        return KubeError(f"cannot reach {self.access.server}: {_reason(cause)}")


def _check_certificates(configuration: Any) -> None:
    """Load the CA and client certificate the loader chose, so that a broken one is named
    as such instead of failing the TLS handshake as an unreachable server."""
    context = ssl.create_default_context()
    if configuration.verify_ssl and configuration.ssl_ca_cert:
        context.load_verify_locations(cafile=configuration.ssl_ca_cert)
    if configuration.cert_file and configuration.key_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)


@contextlib.contextmanager
def _plugin_failures() -> Iterator[list[str]]:
    """The official loader logs (on the root logger) why an exec credential plugin failed and
    goes on without credentials. Keep those lines off the terminal (they may quote the
    plugin's output) and hand them to the caller, which makes them one KubeError."""
    caught: list[str] = []

    def keep(record: logging.LogRecord) -> bool:
        if record.module in ("kube_config", "exec_provider"):
            caught.append(record.getMessage())
            return False
        return True

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield caught
    finally:
        root.removeFilter(keep)


def _raise_plugin_failure(access: ClusterAccess, failures: list[str]) -> None:
    if not failures:
        return
    user = _named(access.document, "users", _context_user(access)) or {}
    command = str(((user.get("user") or {}).get("exec") or {}).get("command", "?"))
    last = (failures[-1].strip().splitlines() or ["no output"])[-1]
    raise KubeError(f"credential plugin {command!r} failed: {last}")


def _context_user(access: ClusterAccess) -> str:
    entry = _named(access.document, "contexts", access.context) or {}
    return str((entry.get("context") or {}).get("user", ""))


def _root_cause(error: BaseException) -> BaseException:
    """The innermost exception under urllib3's and the client's wrappers."""
    seen: set[int] = set()
    current = error
    while id(current) not in seen:
        seen.add(id(current))
        inner = (
            getattr(current, "reason", None)
            if isinstance(getattr(current, "reason", None), BaseException)
            else None
        )
        inner = inner or current.__cause__ or current.__context__
        if inner is None:
            inner = next((a for a in current.args if isinstance(a, BaseException)), None)
        if inner is None:
            break
        current = inner
    return current


def _is_timeout(error: BaseException) -> bool:
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError

    if isinstance(error, NewConnectionError):  # a subclass of ConnectTimeoutError
        return False
    return isinstance(error, TimeoutError | ReadTimeoutError | ConnectTimeoutError)


def _reason(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"the server's certificate is not trusted ({reason.verify_message})"
    if isinstance(reason, TimeoutError):
        return "no answer (timeout)"
    text = str(getattr(reason, "strerror", None) or reason)
    return text or reason.__class__.__name__
