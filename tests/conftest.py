"""Fixtures every test folder may use: the real servers of tests/peers.py, started
once per session and only when a test asks for them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import peers as _peers


@pytest.fixture(scope="session")
def peers() -> Iterator[_peers.Peers]:
    with _peers.session() as running:
        yield running


@pytest.fixture(scope="session")
def kafka_bootstrap(peers: _peers.Peers) -> str:
    return peers.kafka_bootstrap


@pytest.fixture(scope="session")
def s3_endpoint(peers: _peers.Peers) -> str:
    return peers.s3_endpoint


@pytest.fixture(scope="session")
def postgres_dsn(peers: _peers.Peers) -> str:
    return peers.postgres_dsn
