"""S3 (or any S3 API: MinIO, moto, R2...) as object store.

Objects move whole: one PUT (multipart above 64 MiB) and one GET per file. Ranged
reads are avoided on purpose: some S3 APIs pay a round trip per range (moto ~0.15 s).
boto3 is untyped, so the client stays behind this class as ``Any``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)

from playlog.errors import (
    ConfigError,
    ObjectMissing,
    PlaylogError,
    StoreUnavailable,
)
from playlog.settings import StorageSettings

MULTIPART_THRESHOLD = 64 * 1024 * 1024

# Codes worth retrying later (botocore already retried them a few times).
_TRANSIENT_CODES = {
    "InternalError",
    "RequestTimeout",
    "ServiceUnavailable",
    "SlowDown",
    "Throttling",
    "ThrottlingException",
}
_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}


class S3Store:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self.bucket = bucket
        # The prefix is a folder: "a/b" and "a/b/" both put objects under "a/b/".
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._region = region
        config = Config(
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        )
        # Credentials left as None fall back to boto3's chain (env, profile, IAM role).
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )
        self._transfer = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=16 * 1024 * 1024
        )
        self._ensure_bucket()

    @classmethod
    def from_settings(cls, settings: StorageSettings) -> S3Store:
        secret = settings.secret_access_key
        return cls(
            bucket=settings.bucket,
            prefix=settings.prefix,
            endpoint_url=settings.endpoint_url,
            region=settings.region,
            access_key_id=settings.access_key_id,
            secret_access_key=secret.get_secret_value() if secret is not None else None,
        )

    def _ensure_bucket(self) -> None:
        # HEAD first: it needs only read rights, which a production role may be limited to.
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return
        except (ClientError, BotoCoreError) as exc:
            if _code(exc) not in _MISSING_CODES | {"NoSuchBucket"}:
                raise _translate(exc, f"bucket {self.bucket}") from exc
        extra: dict[str, Any] = {}
        if self._region != "us-east-1":  # the one region that rejects a LocationConstraint
            extra["CreateBucketConfiguration"] = {"LocationConstraint": self._region}
        try:
            self._client.create_bucket(Bucket=self.bucket, **extra)
        except (ClientError, BotoCoreError) as exc:
            # Another process created it between our HEAD and CREATE.
            if _code(exc) != "BucketAlreadyOwnedByYou":
                raise _translate(exc, f"create bucket {self.bucket}") from exc

    def _key(self, key: str) -> str:
        # Same keys as the local store, which refuses keys that leave its folder.
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ConfigError(f"invalid object key {key!r}")
        return self.prefix + key

    def put(self, key: str, data: bytes) -> None:
        full = self._key(key)
        try:
            if len(data) < MULTIPART_THRESHOLD:
                # One PUT: no transfer threads for the common small file.
                self._client.put_object(Bucket=self.bucket, Key=full, Body=data)
            else:
                # A completed multipart upload appears at once, like a single PUT.
                self._client.upload_fileobj(
                    io.BytesIO(data), self.bucket, full, Config=self._transfer
                )
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, f"put {full}") from exc
        except S3UploadFailedError as exc:  # a multipart part failed after its retries
            raise StoreUnavailable(f"s3: put {full}: {exc}") from exc

    def get(self, key: str) -> bytes:
        full = self._key(key)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=full)
            body: bytes = response["Body"].read()
            return body
        except (ClientError, BotoCoreError) as exc:
            if _code(exc) in _MISSING_CODES:
                raise ObjectMissing(f"no object {full!r} in s3://{self.bucket}") from exc
            raise _translate(exc, f"get {full}") from exc

    def exists(self, key: str) -> bool:
        full = self._key(key)
        try:
            self._client.head_object(Bucket=self.bucket, Key=full)
            return True
        except (ClientError, BotoCoreError) as exc:
            if _code(exc) in _MISSING_CODES:
                return False
            raise _translate(exc, f"head {full}") from exc

    def delete(self, key: str) -> None:
        full = self._key(key)
        try:
            self._client.delete_object(Bucket=self.bucket, Key=full)  # absent: no error
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, f"delete {full}") from exc

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        pages = self._client.get_paginator("list_objects_v2")
        try:  # S3 lists in UTF-8 binary order, a page of up to 1000 at a time
            for page in pages.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for entry in page.get("Contents", []):
                    yield str(entry["Key"])[len(self.prefix) :]
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, f"list {self.prefix + prefix}") from exc

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"


def _code(exc: ClientError | BotoCoreError) -> str:
    """S3's error code ("" for trouble before any answer: connection, credentials)."""
    if not isinstance(exc, ClientError):
        return ""
    return str(exc.response.get("Error", {}).get("Code", ""))


def _translate(exc: ClientError | BotoCoreError, what: str) -> PlaylogError:
    """Connection trouble and throttling: retry later. Anything else S3 refuses
    (access denied, no such bucket, bad credentials) is a configuration problem."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | ParamValidationError):
        return ConfigError(f"s3: {what}: {exc} (check the storage settings and credentials)")
    if isinstance(exc, BotoCoreError):  # connection refused, reset, timed out...
        return StoreUnavailable(f"s3: {what}: {exc}")
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if status >= 500 or _code(exc) in _TRANSIENT_CODES:
        return StoreUnavailable(f"s3: {what}: {exc}")
    return ConfigError(f"s3: {what}: {exc} (check the storage settings and credentials)")
