"""Preflight against real services: an embedded control plane the tests start, reached
through its own kubeconfig, and S3 served by moto's server mode on
127.0.0.1 reached through an endpoint, path-style, as a MinIO-backed stack would be.

Invariants guarded:
- the kubeconfig's CA and client certificate get an answer from the real API server, and
  the API groups the stack needs are judged against its real discovery document: every
  needed group it lacks is one line, and only those;
- an API server that is not listening is one line naming the server;
- over HTTP to an S3 endpoint, a writable bucket passes and leaves no probe object, and a
  missing one is one line naming the bucket and the key that names it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml
from moto.server import ThreadedMotoServer

from go_platform.kube import KubeClient, cluster_access, kubeconfig_document
from go_platform.preflight import required_api_groups, run_preflight
from go_platform_core.config import load_settings
from go_platform_core.preflight import PROBE_PREFIX
from tests.conftest import service_config, stack_config
from tests.integration.test_cluster import running_cluster

REGION = "us-east-1"


@pytest.fixture(scope="module")
def embedded_kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The kubeconfig of an embedded control plane the tests start (and stop) themselves."""
    with running_cluster(tmp_path_factory.mktemp("cluster")) as kubeconfig:
        yield kubeconfig


@pytest.fixture
def s3_server(monkeypatch) -> Iterator[str]:
    """moto's S3 on 127.0.0.1 (random port); its endpoint URL."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def bring_your_own(**settings):
    config = stack_config(
        environment="dev",
        domain="example.com",
        gateway={"install": False},
        observability={"install": False},
        **settings,
    )
    return load_settings(config, stack="dev"), config


def test_the_embedded_cluster_answers_and_its_discovery_decides(embedded_kubeconfig, tmp_path):
    settings, config = bring_your_own()
    document, source = kubeconfig_document(
        config_value=None, env={"KUBECONFIG": str(embedded_kubeconfig)}, project_dir=tmp_path
    )
    client = KubeClient(cluster_access(document, context=None, source=source))
    served = {
        version["groupVersion"]
        for group in client.get("/apis")["groups"]
        for version in group["versions"]
    }
    missing = [
        n.group_version for n in required_api_groups(settings) if n.group_version not in served
    ]

    results = run_preflight(
        settings, config, env={"KUBECONFIG": str(embedded_kubeconfig)}, project_dir=tmp_path
    )

    cluster = results[0]
    assert (cluster.check, cluster.ok) == ("cluster", True)
    assert "Kubernetes v" in cluster.message
    reported = [r.message.split()[5] for r in results if r.check == "api-groups" and not r.ok]
    assert reported == missing


def test_an_api_server_that_is_not_listening_is_one_line(embedded_kubeconfig, tmp_path):
    document = yaml.safe_load(embedded_kubeconfig.read_text())
    closed = "https://127.0.0.1:9"  # discard's port, which nothing here listens on
    document["clusters"][0]["cluster"]["server"] = closed
    moved = tmp_path / "kubeconfig"
    moved.write_text(yaml.safe_dump(document))
    settings, config = bring_your_own()

    results = run_preflight(settings, config, env={"KUBECONFIG": str(moved)}, project_dir=tmp_path)

    assert [r.message for r in results if not r.ok] == [
        f"cluster: cannot reach {closed}: connection refused"
    ]


class ClusterAnswers:
    """A cluster stand-in for the S3 test (which needs no cluster)."""

    def __init__(self, access):
        pass

    def get(self, path):
        return {"gitVersion": "v1.36.3"} if path == "/version" else {"groups": []}


def test_s3_buckets_through_an_endpoint(s3_server, tmp_path):
    storage = {"region": REGION, "endpoint": s3_server, "forcePathStyle": True}
    config = stack_config(
        environment="prod",
        domain="example.com",
        services=[service_config(replicas=2)],
        moduleProxy={"storage": {"s3": {"bucket": "go-modules", **storage}}},
        observability={
            "storage": {
                "s3": {
                    "lokiChunksBucket": "logs-chunks",
                    "lokiRulerBucket": "logs-ruler",
                    "tempoBucket": "traces",
                    **storage,
                }
            }
        },
    )
    settings = load_settings(config, stack="prod")
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=s3_server)
    for bucket in ("go-modules", "logs-chunks", "traces"):
        s3.create_bucket(Bucket=bucket)

    results = run_preflight(
        settings,
        config,
        env={},
        project_dir=tmp_path,
        client_factory=ClusterAnswers,
    )

    buckets = [(r.ok, r.message) for r in results if r.check == "buckets"]
    assert buckets == [
        (True, "s3://go-modules is writable"),
        (True, "s3://logs-chunks is writable"),
        (
            False,
            "s3://logs-ruler: does not exist (go-platform:observability.storage.s3.lokiRulerBucket)",
        ),
        (True, "s3://traces is writable"),
    ]
    assert s3.list_objects_v2(Bucket="go-modules", Prefix=PROBE_PREFIX).get("KeyCount") == 0
