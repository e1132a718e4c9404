"""The S3 backend (any S3-compatible server: AWS, SeaweedFS, MinIO), through boto3.

boto3 because it is the reference client every S3-compatible server is
tested against, reads the standard AWS credential chain (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE, instance roles) as
users expect, retries throttling and connection errors itself, and its
clients are thread-safe, which the workers' background writers and the
API's thread pool need. The workers and the API call the store from
threads, so an async client would buy nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import botocore.exceptions as bce
from botocore.config import Config

from rnncast.common.artifacts.base import (
    ArtifactMissing,
    ArtifactStore,
    ObjectInfo,
    StoreMisconfigured,
    StoreUnavailable,
    check_key,
    sha256_of,
    verify,
)

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_MISSING = {"NoSuchKey", "404", "NotFound"}
_MISCONFIGURED = {"NoSuchBucket", "AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                  "InvalidBucketName", "AllAccessDisabled", "AuthorizationHeaderMalformed"}
_CONNECTION = (bce.EndpointConnectionError, bce.ConnectionClosedError, bce.ConnectTimeoutError,
               bce.ReadTimeoutError, bce.ProxyConnectionError, bce.ResponseStreamingError)


def parse_url(url: str) -> tuple[str, str]:
    """(bucket, key prefix) of `s3://bucket/prefix`."""
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET.fullmatch(bucket):
        raise StoreMisconfigured(f"RNNCAST_ARTIFACTS ({url!r}): {bucket!r} is not a valid S3 bucket name")
    prefix = prefix.strip("/")
    if prefix:
        check_key(prefix, prefix=True)
    return bucket, prefix


class S3Store(ArtifactStore):
    """Objects under `s3://bucket/prefix/`; each records its sha256 as user metadata."""

    def __init__(self, url: str, endpoint_url: str | None = None, timeout_s: float = 30.0) -> None:
        self.bucket, self.prefix = parse_url(url)
        self.url = url if endpoint_url is None else f"{url} at {endpoint_url}"
        session = boto3.session.Session()
        config = Config(
            retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=min(5.0, timeout_s),
            read_timeout=timeout_s, s3={"addressing_style": "path" if endpoint_url else "auto"},
            max_pool_connections=32,
        )
        self.client = session.client("s3", endpoint_url=endpoint_url, config=config,
                                     region_name=session.region_name or "us-east-1")

    def _key(self, key: str, prefix: bool = False) -> str:
        key = check_key(key, prefix=prefix).rstrip("/")
        full = f"{self.prefix}/{key}" if self.prefix and key else self.prefix or key
        return f"{full}/" if prefix and full else full

    @contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        try:
            yield
        except bce.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if code in _MISSING:
                raise ArtifactMissing(f"artifact {key!r} not found") from None
            if code in _MISCONFIGURED or status in (401, 403):
                raise StoreMisconfigured(self._reason(code, status)) from None
            raise StoreUnavailable(f"S3 store {self.url} answered {code or status}") from None
        except bce.NoCredentialsError:
            raise StoreMisconfigured(f"S3 store {self.url}: no credentials (set AWS_ACCESS_KEY_ID and "
                                     "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)") from None
        except _CONNECTION as exc:
            raise StoreUnavailable(f"S3 store {self.url} is unreachable: {exc}") from None

    def _reason(self, code: str, status: int) -> str:
        if code == "NoSuchBucket":
            return f"S3 bucket {self.bucket!r} does not exist ({self.url}); create it (rnncast artifacts init)"
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AuthorizationHeaderMalformed"):
            return (f"S3 store {self.url} refused the credentials ({code}): "
                    "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        return f"S3 store {self.url} refused access ({code or status}): check the credentials and the bucket policy"

    def put(self, key: str, data: bytes) -> ObjectInfo:
        digest = sha256_of(data)
        with self._errors(key):
            # A PUT replaces the object whole: readers see the old object or the new one.
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, Metadata={"sha256": digest})
        return ObjectInfo(key, digest, len(data))

    def get(self, key: str, sha256: str | None = None) -> bytes:
        with self._errors(key):
            answer: dict[str, Any] = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            data: bytes = answer["Body"].read()
        return verify(key, data, sha256 or answer.get("Metadata", {}).get("sha256"))

    def get_range(self, key: str, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        with self._errors(key):
            try:
                answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key),
                                                Range=f"bytes={start}-{start + length - 1}")
            except bce.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "InvalidRange":  # past the end
                    return b""
                raise
            data: bytes = answer["Body"].read()
        return data

    def exists(self, key: str) -> bool:
        try:
            with self._errors(key):
                self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ArtifactMissing:
            return False
        return True

    def delete(self, key: str) -> None:
        with self._errors(key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def _pages(self, prefix: str) -> Iterator[list[str]]:
        root = self._key(prefix, prefix=True)
        with self._errors(prefix):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=root):
                yield [obj["Key"] for obj in page.get("Contents", [])]

    def list(self, prefix: str) -> list[str]:
        skip = len(self.prefix) + 1 if self.prefix else 0
        return sorted(key[skip:] for page in self._pages(prefix) for key in page)

    def delete_prefix(self, prefix: str) -> int:
        if not check_key(prefix, prefix=True):
            raise ValueError("refusing to delete every artifact (an empty prefix)")
        count = 0
        for page in self._pages(prefix):  # at most 1,000 keys a page: one DeleteObjects call each
            if page:
                with self._errors(prefix):
                    answer = self.client.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in page], "Quiet": True})
                # A 200 may still refuse some keys: the delete is not done until every key is gone.
                if failed := answer.get("Errors"):
                    codes = sorted({str(e.get("Code")) for e in failed})
                    raise StoreUnavailable(f"S3 store {self.url} kept {len(failed)} objects under {prefix!r} "
                                           f"({', '.join(codes)})")
                count += len(page)
        return count

    def check(self) -> None:
        with self._errors(""):
            self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)

    def create(self) -> bool:
        with self._errors(""):
            try:
                self.client.head_bucket(Bucket=self.bucket)
                return False
            except bce.ClientError as exc:
                if int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0) != 404:
                    raise
            self.client.create_bucket(Bucket=self.bucket)
        return True
