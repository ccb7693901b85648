"""A small Kubernetes API client on the standard library: enough to check health, create
the fake nodes and, in tests, create and read objects.

Why not the official `kubernetes` package, as the driver uses (`go_platform/kube.py`):
`tools/cluster/cluster.py` builds and starts the embedded cluster before the project's
virtualenv exists (`make cluster-start` runs on the system Python), so it can rely on
the standard library only; and the cluster's own kubeconfig needs nothing but a CA and a
client certificate.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import random
import socket
import ssl
from pathlib import Path
from typing import Any

from gobuild.errors import os_error_reason

from localcluster.base import ClusterError


@dataclasses.dataclass(frozen=True)
class Response:
    status: int
    body: Any
    """The decoded JSON body, or the text when it is not JSON."""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def message(self) -> str:
        """The API server's own explanation of a failure (a Status object's message)."""
        if isinstance(self.body, dict):
            return str(self.body.get("message", ""))
        return str(self.body)


class ApiClient:
    """HTTPS to one API server, authenticated with a client certificate."""

    def __init__(
        self, host: str, port: int, ca: Path, cert: Path, key: Path, timeout: float = 10.0
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        try:
            self.context = ssl.create_default_context(cafile=str(ca))
        except OSError as error:
            raise _unusable(error, (ca,), "the CA certificate") from None
        try:
            self.context.load_cert_chain(str(cert), str(key))
        except OSError as error:
            raise _unusable(error, (cert, key), f"the client certificate (key {key})") from None

    @property
    def server(self) -> str:
        return f"https://{self.host}:{self.port}"

    def request(self, method: str, path: str, body: Any = None, content_type: str = "") -> Response:
        """One request; connection failures surface as OSError."""
        connection = http.client.HTTPSConnection(
            self.host, self.port, context=self.context, timeout=self.timeout
        )
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = content_type or "application/json"
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            raw = response.read().decode("utf-8", errors="replace")
            received = dict(response.getheaders())
        finally:
            connection.close()
        try:
            decoded: Any = json.loads(raw)
        except json.JSONDecodeError:
            decoded = raw
        return Response(response.status, decoded, received)

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def create(self, path: str, body: Any) -> Response:
        return self.request("POST", path, body)

    def delete(self, path: str) -> Response:
        return self.request("DELETE", path)

    def merge_patch(self, path: str, body: Any) -> Response:
        return self.request("PATCH", path, body, "application/merge-patch+json")


def _unusable(error: OSError, files: tuple[Path, ...], what: str) -> OSError | ClusterError:
    """A certificate or key the TLS library refuses, as one line naming it; one it cannot
    read, as the OSError with the file named (the library names none)."""
    if isinstance(error, ssl.SSLError):
        return ClusterError(
            f"{files[0]}: {what} is unusable: {os_error_reason(error)}; a start checks the"
            " certificates and remakes those that do not hold (stop the cluster, start it again)"
        )
    if error.filename is None:
        unreadable = [path for path in files if not os.access(path, os.R_OK)]
        error.filename = str(unreadable[0] if unreadable else files[0])
    return error


def condition_true(body: Any, kind: str) -> bool:
    """Whether the object `body` (as the API returned it) has its condition `kind` True. Its
    status, or the status's conditions, is absent or null until a controller has written
    them (a definition just created, a Deployment just applied)."""
    status = body.get("status") if isinstance(body, dict) else None
    conditions = status.get("conditions") if isinstance(status, dict) else None
    return any(
        isinstance(c, dict) and c.get("type") == kind and c.get("status") == "True"
        for c in conditions or []
    )


class NotReadyError(Exception):
    """A health check answered, but not yet as wanted: the status and what the server said."""


CHECK_FAILURES = (OSError, http.client.HTTPException, NotReadyError)
"""What a health check raises when it fails: no answer (refused, TLS, timeout), a broken
one, or not the one wanted."""


def check_failure(error: BaseException) -> str:
    """A health check's failure in a few words: `connection refused`, OpenSSL's reason for a
    TLS failure, `GET /readyz: 500 [-]etcd failed`."""
    if isinstance(error, OSError):
        return os_error_reason(error)
    return str(error) or type(error).__name__


def not_ready(path: str, status: int, body: Any) -> NotReadyError:
    """Why `GET path` answering `status` is not ready: a /readyz or /healthz text answer's
    failing checks (`[-]etcd failed: reason withheld`), else the first line of the body."""
    text = body.get("message", "") if isinstance(body, dict) else str(body)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    failing = [line for line in lines if line.startswith("[-]")]
    detail = ", ".join(failing) if failing else (lines[0] if lines else "")
    return NotReadyError(f"GET {path}: {status}" + (f" {detail[:300]}" if detail else ""))


def http_check(url_host: str, port: int, path: str, *, tls: bool, timeout: float = 2.0) -> None:
    """Return when GET answers 200; else raise why not (one of CHECK_FAILURES). For
    components' own /healthz on loopback, whose serving certificates are self-signed by the
    components themselves."""
    connection: http.client.HTTPConnection
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection(url_host, port, context=context, timeout=timeout)
    else:
        connection = http.client.HTTPConnection(url_host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        if response.status != 200:
            raise not_ready(path, response.status, response.read(4096).decode(errors="replace"))
    finally:
        connection.close()


def http_ok(url_host: str, port: int, path: str, *, tls: bool, timeout: float = 2.0) -> bool:
    """True when GET answers 200 (see http_check)."""
    try:
        http_check(url_host, port, path, tls=tls, timeout=timeout)
    except CHECK_FAILURES:
        return False
    return True


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could listen on the port now (as Go servers do: connections of a
    stopped server lingering in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(host: str = "127.0.0.1", avoid: set[int] | None = None) -> int:
    """A free port below the kernel's ephemeral range, not one of `avoid`.

    Ports the kernel hands out for outgoing connections are avoided: any client on the
    machine could hold one of those the moment a component wants to listen on it again."""
    low = 20000
    high = max(low + 1000, _ephemeral_range()[0])
    for _ in range(200):
        port = random.randrange(low, high)
        if port not in (avoid or set()) and port_is_free(port, host):
            return port
    raise ClusterError(f"no free port between {low} and {high} on {host}")
