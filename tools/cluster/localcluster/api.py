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
import random
import socket
import ssl
from pathlib import Path
from typing import Any

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
        self.context = ssl.create_default_context(cafile=str(ca))
        self.context.load_cert_chain(str(cert), str(key))

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


def http_ok(url_host: str, port: int, path: str, *, tls: bool, timeout: float = 2.0) -> bool:
    """True when GET answers 200. For components' own /healthz on loopback, whose serving
    certificates are self-signed by the components themselves."""
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
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


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
