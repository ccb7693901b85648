"""Preflight before `up`: what the stack needs, each failure as one line; the S3 checks
against moto, the Kubernetes client against an HTTPS server on 127.0.0.1 with its own CA.

Invariants guarded:
- API groups are required only for add-ons the stack brings its own of, and never when
  the program installs the definitions (`crds.install`); a missing one names the group,
  the key that makes it needed and the fix;
- every S3 bucket the stack uses is checked once, with the stack's own credentials when
  the config names them; a missing bucket is one line naming bucket and key path;
- a secret the settings name with an empty value is one line naming the key path;
- an unreachable cluster is one line (and the API groups are then not asked);
- the kubeconfig comes from the stack (`kubernetes:kubeconfig` as a path or a document,
  `kubernetes:context`), else KUBECONFIG (files merged, first wins), and a broken one
  says what is wrong with it;
- the client speaks TLS with the kubeconfig's CA and client certificate, or a bearer
  token (also from an exec credential plugin); an untrusted server, refused credentials,
  a failing credential plugin and a closed port are each one clear line, and nothing the
  plugin printed reaches the terminal;
- the client never writes to the kubeconfig it read, nor changes the `kubernetes`
  package's default configuration.
"""

from __future__ import annotations

import base64
import datetime
import http.server
import ipaddress
import json
import re
import ssl
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from moto import mock_aws

from go_platform.kube import (
    ClusterAccess,
    KubeClient,
    KubeError,
    cluster_access,
    kubeconfig_document,
    merge_kubeconfigs,
)
from go_platform.preflight import (
    bucket_accesses,
    required_api_groups,
    run_preflight,
    secret_problems,
    served_problems,
)
from go_platform_core.config import load_settings
from tests.conftest import service_config, stack_config

REGION = "eu-west-1"
ALL_GROUPS = {
    "groups": [
        {"name": g.split("/")[0], "versions": [{"groupVersion": g}]}
        for g in ("traefik.io/v1alpha1", "cert-manager.io/v1", "monitoring.coreos.com/v1")
    ]
}


def bring_your_own(**settings):
    """A dev stack on a cluster that runs its own Traefik, cert-manager and Prometheus."""
    defaults = {"gateway": {"install": False}, "observability": {"install": False}}
    return stack_config(environment="dev", domain="example.com", **{**defaults, **settings})


def settings_of(config, stack="dev"):
    return load_settings(config, stack=stack)


class FakeCluster:
    def __init__(self, answers: dict[str, object]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, access: ClusterAccess) -> FakeCluster:
        self.access = access
        return self

    def get(self, path: str) -> object:
        self.asked.append(path)
        answer = self.answers[path]
        if isinstance(answer, Exception):
            raise answer
        return answer


def kubeconfig_file(
    tmp_path: Path, server: str = "https://127.0.0.1:6443", name: str = "kind"
) -> Path:
    path = tmp_path / f"{name}.kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": name, "cluster": {"server": server}}],
                "users": [{"name": name, "user": {"token": "t0ken"}}],
                "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
                "current-context": name,
            }
        )
    )
    return path


# --- what the stack needs ------------------------------------------------------------


def test_bring_your_own_add_ons_need_their_api_groups():
    needs = required_api_groups(settings_of(bring_your_own()))

    assert [(n.group_version, n.reason) for n in needs] == [
        ("traefik.io/v1alpha1", "gateway.install is false"),
        ("cert-manager.io/v1", "gateway.certManager.install is false"),
        ("monitoring.coreos.com/v1", "observability.install is false"),
    ]


def test_installed_add_ons_and_installed_crds_need_no_api_group():
    assert (
        required_api_groups(settings_of(stack_config(environment="dev", domain="example.com")))
        == []
    )
    local = settings_of(stack_config(environment="local"), stack="local")
    assert local.crds.install
    assert required_api_groups(local) == []
    own_cert_manager = bring_your_own(gateway={"install": False, "certManager": {"install": True}})
    assert "cert-manager.io/v1" not in [
        n.group_version for n in required_api_groups(settings_of(own_cert_manager))
    ]


def test_a_group_the_cluster_does_not_serve_is_one_line_with_the_fix():
    needs = required_api_groups(settings_of(bring_your_own()))
    discovery = {"groups": [g for g in ALL_GROUPS["groups"] if g["name"] != "cert-manager.io"]}

    assert served_problems(discovery, needs) == [
        "the cluster does not serve cert-manager.io/v1 (gateway.certManager.install is "
        "false): install that add-on and its CRDs, or set crds.install to true"
    ]
    assert served_problems(ALL_GROUPS, needs) == []


def test_every_bucket_is_checked_once_with_the_stacks_credentials():
    config = stack_config(
        environment="prod",
        domain="example.com",
        services=[service_config(replicas=2)],
        moduleProxy={"storage": {"s3": {"bucket": "traces"}}},
        observability={
            "storage": {"s3": {"accessKeyIdSecret": "s3KeyId", "secretAccessKeySecret": "s3Secret"}}
        },
        secrets={"s3KeyId": "AKIAEXAMPLE", "s3Secret": "shh"},
    )
    same_credentials = stack_config(
        environment="prod",
        domain="example.com",
        services=[service_config(replicas=2)],
        moduleProxy={"storage": {"s3": {"bucket": "traces"}}},
    )

    found = bucket_accesses(settings_of(config, "prod"), config)
    shared = bucket_accesses(settings_of(same_credentials, "prod"), same_credentials)

    assert [(path, access.bucket) for path, access in found] == [
        ("moduleProxy.storage.s3.bucket", "traces"),
        ("observability.storage.s3.lokiChunksBucket", "logs-chunks"),
        ("observability.storage.s3.lokiRulerBucket", "logs-ruler"),
        ("observability.storage.s3.tempoBucket", "traces"),
    ]
    assert found[0][1].access_key_id is None
    assert (found[1][1].access_key_id, found[1][1].secret_access_key) == ("AKIAEXAMPLE", "shh")
    assert [access.bucket for _, access in shared] == ["traces", "logs-chunks", "logs-ruler"]


def test_an_empty_secret_is_one_line_naming_the_setting_not_the_key_it_names():
    # The key's name is not shown: a secret pasted there by mistake would be.
    config = bring_your_own(
        services=[service_config(secretEnv={"DATABASE_URL": "greeterDb"})],
        secrets={"greeterDb": "  "},
    )

    assert secret_problems(settings_of(config), config) == [
        "go-platform:services[0].secretEnv.DATABASE_URL: the secret config key it names is "
        "empty; `pulumi config get --path go-platform:services[0].secretEnv.DATABASE_URL` "
        "shows which, `pulumi config set --secret <that key> <value>` sets it"
    ]


# --- running the checks --------------------------------------------------------------


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        for bucket in ("go-modules", "logs-chunks", "logs-ruler", "traces"):
            client.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
            )
        yield client


def prod_config(**settings):
    return stack_config(
        environment="prod", domain="example.com", services=[service_config(replicas=2)], **settings
    )


def test_a_ready_stack_passes_every_check(s3, tmp_path):
    config = prod_config()
    cluster = FakeCluster({"/version": {"gitVersion": "v1.36.3"}, "/apis": ALL_GROUPS})

    results = run_preflight(
        settings_of(config, "prod"),
        config,
        env={"KUBECONFIG": str(kubeconfig_file(tmp_path))},
        project_dir=tmp_path,
        client_factory=cluster,
    )

    assert all(result.ok for result in results), results
    assert [r.check for r in results] == [
        "cluster",
        "buckets",
        "buckets",
        "buckets",
        "buckets",
        "secrets",
    ]
    assert "Kubernetes v1.36.3" in results[0].message
    assert cluster.asked == ["/version"]  # prod installs its add-ons: no group to ask about


def test_a_missing_bucket_is_one_line_naming_bucket_and_key(s3, tmp_path):
    s3.delete_bucket(Bucket="logs-ruler")
    config = prod_config()

    results = run_preflight(
        settings_of(config, "prod"),
        config,
        env={"KUBECONFIG": str(kubeconfig_file(tmp_path))},
        project_dir=tmp_path,
        client_factory=FakeCluster({"/version": {}}),
    )

    assert [r.message for r in results if not r.ok] == [
        "s3://logs-ruler: does not exist (go-platform:observability.storage.s3.lokiRulerBucket)"
    ]


def test_an_unreachable_cluster_is_one_line_and_groups_are_not_asked(tmp_path):
    config = bring_your_own()
    cluster = FakeCluster(
        {"/version": KubeError("cannot reach https://127.0.0.1:6443: connection refused")}
    )

    results = run_preflight(
        settings_of(config),
        config,
        env={"KUBECONFIG": str(kubeconfig_file(tmp_path))},
        project_dir=tmp_path,
        client_factory=cluster,
    )

    assert [r.message for r in results if not r.ok] == [
        "cluster: cannot reach https://127.0.0.1:6443: connection refused"
    ]
    assert cluster.asked == ["/version"]


def test_missing_api_groups_fail_the_api_groups_check(tmp_path):
    config = bring_your_own()
    cluster = FakeCluster({"/version": {"gitVersion": "v1.36.3"}, "/apis": {"groups": []}})

    results = run_preflight(
        settings_of(config),
        config,
        env={"KUBECONFIG": str(kubeconfig_file(tmp_path))},
        project_dir=tmp_path,
        client_factory=cluster,
    )

    failed = [r for r in results if not r.ok]
    assert [r.check for r in failed] == ["api-groups"] * 3
    assert failed[0].message.startswith("the cluster does not serve traefik.io/v1alpha1")


def test_no_kubeconfig_at_all_is_one_line(tmp_path):
    config = bring_your_own()

    results = run_preflight(
        settings_of(config),
        config,
        env={"KUBECONFIG": str(tmp_path / "nope")},
        project_dir=tmp_path,
    )

    assert [r.message for r in results if not r.ok] == [
        f"cluster: KUBECONFIG names no file that exists ({tmp_path / 'nope'})"
    ]


# --- kubeconfig ----------------------------------------------------------------------


def test_the_stacks_kubeconfig_and_context_come_first(tmp_path):
    stack_file = kubeconfig_file(tmp_path, "https://stack:6443", name="stack")
    env_file = kubeconfig_file(tmp_path, "https://env:6443", name="env")

    document, source = kubeconfig_document(
        config_value=stack_file.name, env={"KUBECONFIG": str(env_file)}, project_dir=tmp_path
    )
    assert (source, cluster_access(document, context="stack", source=source).server) == (
        "named by stack config kubernetes:kubeconfig",
        "https://stack:6443",
    )
    inline, source = kubeconfig_document(
        config_value=env_file.read_text(), env={}, project_dir=tmp_path
    )
    assert source == "stack config kubernetes:kubeconfig"
    assert cluster_access(inline, context=None, source=source).server == "https://env:6443"


def test_kubeconfig_files_merge_first_wins(tmp_path):
    first = yaml.safe_load(kubeconfig_file(tmp_path, "https://first:6443", name="a").read_text())
    second = yaml.safe_load(kubeconfig_file(tmp_path, "https://second:6443", name="a").read_text())
    second["current-context"] = "b"

    merged = merge_kubeconfigs([first, second])

    assert merged["current-context"] == "a"
    assert cluster_access(merged, context=None, source="x").server == "https://first:6443"


@pytest.mark.parametrize(
    ("document", "context", "says"),
    [
        ({"contexts": []}, None, "has no current context"),
        ({"current-context": "x", "contexts": []}, None, "has no context 'x'"),
        (
            {"current-context": "x", "contexts": [{"name": "x", "context": {"cluster": "c"}}]},
            None,
            "names cluster 'c', which it does not define",
        ),
        (
            {
                "contexts": [{"name": "x", "context": {"cluster": "c"}}],
                "clusters": [{"name": "c", "cluster": {}}],
            },
            "x",
            "cluster 'c' has no server",
        ),
    ],
)
def test_broken_kubeconfigs_say_what_is_wrong(document, context, says):
    with pytest.raises(KubeError, match=says):
        cluster_access(document, context=context, source="k")


SECRET_TOKEN = "eyJhbGciOiJSUzI1NiJ9.c2VrcmV0.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("config_value", "says"),
    [
        (
            f"apiVersion: v1\nusers:\n- name: ci\n  user: {{token: {SECRET_TOKEN}}}\n",
            "stack config kubernetes:kubeconfig is neither a kubeconfig document",
        ),
        (
            f"clusters: [{{server: https://x, token: {SECRET_TOKEN}",
            "kubeconfig named by stack config kubernetes:kubeconfig cannot be read",
        ),
        (
            SECRET_TOKEN,
            "kubeconfig named by stack config kubernetes:kubeconfig cannot be read",
        ),
    ],
)
def test_a_kubeconfig_config_value_that_is_no_kubeconfig_is_named_never_shown(
    tmp_path, config_value, says
):
    with pytest.raises(KubeError) as raised:
        kubeconfig_document(config_value=config_value, env={}, project_dir=tmp_path)

    assert says in str(raised.value)
    assert SECRET_TOKEN not in str(raised.value)


def test_a_kubeconfig_file_that_is_not_text_is_one_error(tmp_path):
    path = tmp_path / "binary.kubeconfig"
    path.write_bytes(b"\x89PNG\r\n")

    with pytest.raises(KubeError) as raised:
        kubeconfig_document(config_value=None, env={"KUBECONFIG": str(path)}, project_dir=tmp_path)

    assert str(raised.value) == f"kubeconfig {path} is not UTF-8 text (byte 0: invalid start byte)"


def test_a_kubeconfig_file_that_is_not_yaml_is_located_not_quoted(tmp_path):
    path = tmp_path / "broken.kubeconfig"
    path.write_text(f"users:\n- user: {{token: {SECRET_TOKEN}, bad: [x}}\n")

    with pytest.raises(KubeError) as raised:
        kubeconfig_document(config_value=None, env={"KUBECONFIG": str(path)}, project_dir=tmp_path)

    assert str(raised.value).startswith(f"kubeconfig {path} is not YAML (")
    assert "at line 2, column" in str(raised.value)
    assert SECRET_TOKEN not in str(raised.value)


@pytest.mark.parametrize(
    ("cluster", "user", "says"),
    [
        ({"server": "https://127.0.0.1:1"}, {"tokenFile": "/nonexistent/token"}, "token file"),
        (
            {"server": "https://127.0.0.1:1", "certificate-authority": "/nonexistent/ca.crt"},
            {},
            "the certificates of context 'k' cannot be used",
        ),
        (
            {"server": "https://127.0.0.1:1", "certificate-authority-data": "bm90IGEgY2VydA=="},
            {},
            "the certificates of context 'k' cannot be used",
        ),
        (
            {"server": "https://127.0.0.1:1", "certificate-authority-data": "//79"},
            {},
            "certificate-authority-data of context 'k' is not base64 PEM",
        ),
        ({"server": "kube.example/api"}, {}, "the server of context 'k' is not an https:// URL"),
    ],
)
def test_unusable_credentials_and_servers_are_one_line_not_a_traceback(cluster, user, says):
    document = {
        "clusters": [{"name": "k", "cluster": cluster}],
        "users": [{"name": "k", "user": user}],
        "contexts": [{"name": "k", "context": {"cluster": "k", "user": "k"}}],
        "current-context": "k",
    }

    with pytest.raises(KubeError, match=re.escape(says)):
        KubeClient(cluster_access(document, context=None, source="k")).get("/version")


# --- the client against a real TLS server ---------------------------------------------


class Pki:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all PEM."""

    def __init__(self, directory: Path) -> None:
        self.ca_key, self.ca = self._issue("go-platform-test-ca", None, None, ca=True)
        server_key, server = self._issue("127.0.0.1", self.ca_key, self.ca, server=True)
        client_key, client = self._issue("admin", self.ca_key, self.ca)
        self.ca_pem = self._pem(self.ca)
        self.server_cert = directory / "server.crt"
        self.server_key = directory / "server.key"
        self.server_cert.write_text(self._pem(server))
        self.server_key.write_text(self._key_pem(server_key))
        self.client_cert_pem = self._pem(client)
        self.client_key_pem = self._key_pem(client_key)

    @staticmethod
    def _issue(name, issuer_key, issuer, *, ca=False, server=False):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.subject if issuer else subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        return key, builder.sign(issuer_key or key, hashes.SHA256())

    @staticmethod
    def _pem(cert) -> str:
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    @staticmethod
    def _key_pem(key) -> str:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def pki(tmp_path) -> Pki:
    return Pki(tmp_path)


def api_server(pki: Pki, *, token: str | None) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 answering /version: client certificates signed by the
    CA when `token` is None, else the bearer `token`."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if token is not None and self.headers.get("Authorization") != f"Bearer {token}":
                self.send_response(401, "Unauthorized")
                self.end_headers()
                return
            body = json.dumps({"gitVersion": "v1.36.3"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    if token is None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=pki.ca_pem)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def cert_server(pki):
    yield from api_server(pki, token=None)


@pytest.fixture
def token_server(pki):
    yield from api_server(pki, token="s3cr3t")


def access_for(server: str, pki: Pki, **user) -> ClusterAccess:
    document = {
        "clusters": [
            {
                "name": "c",
                "cluster": {"server": server, "certificate-authority-data": b64(pki.ca_pem)},
            }
        ],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }
    return cluster_access(document, context=None, source="test")


def test_a_client_certificate_from_the_kubeconfig_is_accepted(cert_server, pki):
    access = access_for(
        cert_server,
        pki,
        **{
            "client-certificate-data": b64(pki.client_cert_pem),
            "client-key-data": b64(pki.client_key_pem),
        },
    )

    assert KubeClient(access).get("/version") == {"gitVersion": "v1.36.3"}


def test_a_server_the_ca_did_not_sign_is_not_trusted(cert_server, pki, tmp_path):
    (tmp_path / "other").mkdir()
    access = access_for(cert_server, Pki(tmp_path / "other"))

    with pytest.raises(KubeError, match="certificate is not trusted"):
        KubeClient(access).get("/version")


def test_a_bearer_token_is_sent_and_a_wrong_one_refused(token_server, pki):
    assert KubeClient(access_for(token_server, pki, token="s3cr3t")).get("/version")["gitVersion"]

    with pytest.raises(KubeError, match="refused the credentials of context 'ctx' \\(401"):
        KubeClient(access_for(token_server, pki, token="wrong")).get("/version")


def test_an_exec_credential_plugin_supplies_the_token(token_server, pki, tmp_path):
    plugin = tmp_path / "credential.py"
    plugin.write_text(
        "import json\n"
        'print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1",\n'
        '                  "kind": "ExecCredential", "status": {"token": "s3cr3t"}}))\n'
    )
    access = access_for(
        token_server,
        pki,
        exec={
            "command": sys.executable,
            "args": [str(plugin)],
            "apiVersion": "client.authentication.k8s.io/v1",
        },
    )

    assert KubeClient(access).get("/version")["gitVersion"] == "v1.36.3"


def test_a_closed_port_is_one_line(pki):
    with pytest.raises(KubeError, match=r"cannot reach https://127\.0\.0\.1:9: connection refused"):
        KubeClient(access_for("https://127.0.0.1:9", pki), timeout=2).get("/version")


def plugin_user(tmp_path: Path, script: str) -> dict[str, object]:
    plugin = tmp_path / "credential.py"
    plugin.write_text(script)
    return {
        "exec": {
            "command": sys.executable,
            "args": [str(plugin)],
            "apiVersion": "client.authentication.k8s.io/v1",
        }
    }


def test_a_failing_credential_plugin_is_one_line_and_prints_nothing(
    token_server, pki, tmp_path, capfd
):
    user = plugin_user(
        tmp_path,
        f"import sys\nsys.stderr.write('{SECRET_TOKEN}\\nlogin expired\\n')\nsys.exit(1)\n",
    )

    with pytest.raises(KubeError) as raised:
        KubeClient(access_for(token_server, pki, **user)).get("/version")

    assert str(raised.value) == f"credential plugin {sys.executable!r} failed: login expired"
    printed = capfd.readouterr()
    assert SECRET_TOKEN not in printed.out + printed.err


def test_the_kubeconfig_read_is_never_written_back(token_server, pki, tmp_path):
    from kubernetes.client import Configuration

    user = plugin_user(
        tmp_path,
        "import json\n"
        'print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1",\n'
        '                  "kind": "ExecCredential", "status": {"token": "s3cr3t",\n'
        '                  "expirationTimestamp": "2000-01-01T00:00:00Z"}}))\n',
    )
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(dict(access_for(token_server, pki, **user).document)))
    before = path.read_bytes()
    default_host = Configuration.get_default_copy().host

    document, source = kubeconfig_document(
        config_value=None, env={"KUBECONFIG": str(path)}, project_dir=tmp_path
    )
    client = KubeClient(cluster_access(document, context=None, source=source))
    # The token has expired: the second request runs the plugin again.
    assert client.get("/version") == client.get("/version") == {"gitVersion": "v1.36.3"}

    assert path.read_bytes() == before
    assert Configuration.get_default_copy().host == default_host
