"""The S3 preflight the Automation API driver runs before `up`, against moto's S3.

Invariants guarded:
- a bucket the credentials can write, read and delete in passes, and the probe object
  is gone afterwards;
- a missing bucket, unknown credentials, a bucket the credentials may not write, and an
  unreachable endpoint, and one boto cannot build a client for, each give one line naming
  the bucket and what failed.
"""

from __future__ import annotations

import json
import socket

import boto3
import pytest
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

from go_platform_core.preflight import PROBE_PREFIX, BucketAccess, check_bucket

REGION = "eu-west-1"


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(
            Bucket="modules", CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield client


def test_a_writable_bucket_passes_and_is_left_clean(s3):
    assert check_bucket(BucketAccess("modules", REGION)) == []
    assert s3.list_objects_v2(Bucket="modules", Prefix=PROBE_PREFIX).get("KeyCount") == 0


def test_a_missing_bucket(s3):
    assert check_bucket(BucketAccess("nope", REGION)) == ["s3://nope: does not exist"]


# moto checks IAM permissions after the given number of unauthenticated calls: here the
# three that create the read-only user.
@set_initial_no_auth_action_count(3)
def test_credentials_that_cannot_write(s3):
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="reader")
    iam.put_user_policy(
        UserName="reader",
        PolicyName="read-only",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["s3:List*", "s3:Get*", "s3:Head*"],
                        "Resource": "*",
                    }
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    access = BucketAccess(
        "modules",
        REGION,
        access_key_id=key["AccessKeyId"],
        secret_access_key=key["SecretAccessKey"],
    )
    assert check_bucket(access) == [
        "s3://modules: cannot write objects (access denied: check the credentials and the bucket policy)"
    ]


@set_initial_no_auth_action_count(0)
def test_unknown_credentials(s3):
    access = BucketAccess("modules", REGION, access_key_id="AKIAUNKNOWN", secret_access_key="x")
    assert check_bucket(access) == ["s3://modules: the access key id is not known"]


def test_an_unreachable_endpoint():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the socket closes
    problems = check_bucket(
        BucketAccess(
            "modules",
            REGION,
            endpoint=f"http://127.0.0.1:{port}",
            access_key_id="a",
            secret_access_key="b",
        ),
        timeout_seconds=1,
    )
    assert len(problems) == 1
    assert problems[0].startswith("s3://modules: cannot be reached (")


@set_initial_no_auth_action_count(2)
def test_a_wrong_secret_key(s3):
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="writer")
    key = iam.create_access_key(UserName="writer")["AccessKey"]
    access = BucketAccess(
        "modules", REGION, access_key_id=key["AccessKeyId"], secret_access_key="not-the-secret"
    )
    assert check_bucket(access) == [
        "s3://modules: the secret access key does not match the access key id"
    ]


def test_an_endpoint_boto_cannot_use_is_one_line_not_an_exception():
    # The config refuses an endpoint without a scheme; boto's own refusal is a failed
    # check here too, never an exception that ends the preflight and loses its results.
    assert check_bucket(BucketAccess("modules", REGION, endpoint="minio.storage:9000")) == [
        "s3://modules: no client for its endpoint and region (ValueError)"
    ]
