"""Integration tests run against real servers started once per session (tests/peers.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE.parent))  # tests/: makes `peers` importable however pytest runs

import peers as _peers  # noqa: E402

Peers = _peers.Peers


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Hooks in a conftest see every collected item, not only this directory's.
    for item in items:
        if _HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.integration)


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
