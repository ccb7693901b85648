"""Checks to run before `pulumi up`: fail fast, with one clear line, instead of pods that
crash-loop on a bucket that is missing or credentials that cannot write."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

PROBE_PREFIX = ".go-platform-preflight/"


@dataclass(frozen=True)
class BucketAccess:
    """How to reach one bucket; no keys means the ambient AWS credentials."""

    bucket: str
    region: str
    endpoint: str | None = None
    force_path_style: bool = False
    access_key_id: str | None = None
    secret_access_key: str | None = None


def check_bucket(access: BucketAccess, *, timeout_seconds: float = 10) -> list[str]:
    """Problems found writing, reading and deleting a probe object; empty when all work.

    Each problem is one line naming the bucket and what failed.
    """
    # boto3 is imported here, when a bucket is checked: importing it takes about 0.2 s,
    # which every start of the driver would pay whether its stack has buckets or not.
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    name = f"s3://{access.bucket}"
    try:
        client = boto3.client(
            "s3",
            region_name=access.region,
            endpoint_url=access.endpoint,
            aws_access_key_id=access.access_key_id,
            aws_secret_access_key=access.secret_access_key,
            config=Config(
                connect_timeout=timeout_seconds,
                read_timeout=timeout_seconds,
                retries={"max_attempts": 1},
                s3={"addressing_style": "path" if access.force_path_style else "auto"},
            ),
        )
    except (ValueError, BotoCoreError) as error:  # an endpoint or region boto refuses
        return [f"{name}: no client for its endpoint and region ({type(error).__name__})"]
    try:
        client.head_bucket(Bucket=access.bucket)
    except ClientError as error:
        return [f"{name}: {_explain(error, 'cannot be reached')}"]
    except BotoCoreError as error:
        return [f"{name}: cannot be reached ({error})"]

    key = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    body = b"go-platform preflight"
    steps = (
        ("write", lambda: client.put_object(Bucket=access.bucket, Key=key, Body=body)),
        ("read", lambda: client.get_object(Bucket=access.bucket, Key=key)["Body"].read()),
        ("delete", lambda: client.delete_object(Bucket=access.bucket, Key=key)),
    )
    for verb, step in steps:
        try:
            result = step()
        except ClientError as error:
            return [f"{name}: cannot {verb} objects ({_explain(error, 'failed')})"]
        except BotoCoreError as error:
            return [f"{name}: cannot {verb} objects ({error})"]
        if verb == "read" and result != body:
            return [f"{name}: an object read back differs from what was written"]
    return []


def _explain(error: ClientError, fallback: str) -> str:
    code = str(error.response.get("Error", {}).get("Code", ""))
    known = {
        "404": "does not exist",
        "NoSuchBucket": "does not exist",
        "403": "access denied: check the credentials and the bucket policy",
        "AccessDenied": "access denied: check the credentials and the bucket policy",
        "InvalidAccessKeyId": "the access key id is not known",
        "SignatureDoesNotMatch": "the secret access key does not match the access key id",
    }
    return known.get(code, f"{fallback}: {code or error}")
