"""S3Store against a real S3 API (moto server, started by tests/peers.py)."""

from __future__ import annotations

import os
import uuid
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from pydantic import SecretStr

from playlog.errors import ConfigError, ObjectMissing, StoreUnavailable
from playlog.settings import StorageSettings
from playlog.storage.s3 import MULTIPART_THRESHOLD, S3Store
from tests.proxy import TcpProxy


def _store(endpoint: str, bucket: str, prefix: str = "") -> S3Store:
    return S3Store(bucket, prefix, endpoint, "us-east-1", "testing", "testing")


def _raw_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def bucket() -> str:
    return f"playlog-{uuid.uuid4().hex[:12]}"


def test_put_get_round_trip_and_overwrite(s3_endpoint: str, bucket: str) -> None:
    store = _store(s3_endpoint, bucket)
    key = "g1/login/dt=2024-01-01/playlog.events-0-0-9.parquet"
    assert not store.exists(key)
    store.put(key, b"first")
    assert store.exists(key)
    assert store.get(key) == b"first"
    store.put(key, b"second, longer")  # a replayed batch rewrites the same key
    assert store.get(key) == b"second, longer"
    store.put("empty", b"")
    assert store.get("empty") == b""
    store.delete(key)
    store.delete(key)  # deleting what is gone is fine
    assert not store.exists(key)


def test_missing_key_is_not_found(s3_endpoint: str, bucket: str) -> None:
    store = _store(s3_endpoint, bucket)
    with pytest.raises(ObjectMissing):
        store.get("no/such/key.parquet")


def test_keys_that_leave_the_store_are_refused(s3_endpoint: str, bucket: str) -> None:
    store = _store(s3_endpoint, bucket)
    for key in ("", "/abs", "a/../b", "a//b", "./a"):
        with pytest.raises(ConfigError):
            store.put(key, b"x")


def test_uri_and_prefix(s3_endpoint: str, bucket: str) -> None:
    store = _store(s3_endpoint, bucket, prefix="/env/prod/")
    assert store.uri("g1/e/f.parquet") == f"s3://{bucket}/env/prod/g1/e/f.parquet"
    store.put("g1/e/f.parquet", b"data")
    raw = _raw_client(s3_endpoint)
    listed = raw.list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["env/prod/g1/e/f.parquet"]
    # Another prefix in the same bucket is another store.
    other = _store(s3_endpoint, bucket, prefix="env/dev")
    assert not other.exists("g1/e/f.parquet")
    assert _store(s3_endpoint, bucket).uri("k") == f"s3://{bucket}/k"


def test_existing_bucket_is_reused(s3_endpoint: str, bucket: str) -> None:
    _store(s3_endpoint, bucket).put("k", b"v")
    settings = StorageSettings(
        kind="s3",
        bucket=bucket,
        endpoint_url=s3_endpoint,
        access_key_id="testing",
        secret_access_key=SecretStr("testing"),
    )
    assert S3Store.from_settings(settings).get("k") == b"v"


def test_big_object_goes_multipart(s3_endpoint: str, bucket: str) -> None:
    store = _store(s3_endpoint, bucket)
    data = os.urandom(1 << 20) * 70  # 70 MiB
    assert len(data) > MULTIPART_THRESHOLD
    store.put("big.bin", data)
    # A multipart upload's ETag is "<md5 of part md5s>-<number of parts>".
    etag = _raw_client(s3_endpoint).head_object(Bucket=bucket, Key="big.bin")["ETag"]
    assert "-" in etag
    assert store.get("big.bin") == data


def test_keys_lists_every_object_under_a_prefix_past_one_page(
    s3_endpoint: str, bucket: str
) -> None:
    store = _store(s3_endpoint, bucket, "lake")
    keys = [f"g1/login/{i:04d}.parquet" for i in range(1005)]  # more than one page
    for key in [*keys, "g2/x.parquet"]:
        store.put(key, b"x")
    assert list(store.list_keys("g1/")) == keys
    assert list(store.list_keys())[-1] == "g2/x.parquet"
    assert len(list(store.list_keys())) == 1006


def test_an_s3_that_went_away_is_unavailable_not_missing(s3_endpoint: str, bucket: str) -> None:
    # No answer at all (connection refused) is retried later: never "no such object",
    # which would make a lost batch file of a file that is only out of reach.
    address = urlsplit(s3_endpoint)
    proxy = TcpProxy(address.hostname or "127.0.0.1", address.port or 80)
    try:
        store = _store(f"http://127.0.0.1:{proxy.port}", bucket)
        store.put("k", b"v")
        proxy.cut()
        with pytest.raises(StoreUnavailable, match="s3: get k"):
            store.get("k")
        with pytest.raises(StoreUnavailable, match="s3: head k"):
            store.exists("k")
        with pytest.raises(StoreUnavailable, match=f"s3: bucket {bucket}"):
            _store(f"http://127.0.0.1:{proxy.port}", bucket)
    finally:
        proxy.close()
