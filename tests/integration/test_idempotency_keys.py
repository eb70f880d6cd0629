"""Idempotency keys in a PostgreSQL catalog shared by two ingest nodes (issue 9,
finding 10): of many concurrent requests with one key, on either node, one appends."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from playlog.ingest import idempotency
from playlog.ingest.idempotency import Answer, Claim, IdempotencyKeys
from playlog.registry.catalog import Catalog
from tests.cluster import fresh_database
from tests.support.catalogs import watch_statements


@pytest.fixture
def nodes(postgres_dsn: str) -> Iterator[tuple[Catalog, Catalog]]:
    with fresh_database(postgres_dsn) as dsn:
        first, second = Catalog(dsn=dsn), Catalog(dsn=dsn)
        try:
            yield first, second
        finally:
            first.close()
            second.close()


def test_one_key_on_two_nodes_appends_once(
    nodes: tuple[Catalog, Catalog], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idempotency, "WAIT_S", 30.0)
    appended: list[str] = []
    lock = threading.Lock()

    def request(node: Catalog) -> Answer:
        keys = IdempotencyKeys(node, window_s=3600)
        claimed = keys.begin("g1", "batch-1")
        if isinstance(claimed, Answer):
            return claimed
        with lock:
            appended.append(claimed.token)
        answer = Answer(202, {"accepted": 3}, claimed.token)
        keys.finish(claimed, answer)
        return answer

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(request, [nodes[i % 2] for i in range(16)]))

    assert len(appended) == 1
    assert {a.request_id for a in answers} == set(appended)


def test_a_released_claim_lets_the_other_node_claim(nodes: tuple[Catalog, Catalog]) -> None:
    one, other = (IdempotencyKeys(node, window_s=3600) for node in nodes)
    claim = one.begin("g1", "k")
    assert isinstance(claim, Claim)
    one.release(claim)  # its append failed
    assert isinstance(other.begin("g1", "k"), Claim)
    assert isinstance(one.begin("g2", "k"), Claim)  # another game, another key


def test_a_claim_on_postgresql_waits_for_the_flush(nodes: tuple[Catalog, Catalog]) -> None:
    """A PostgreSQL catalog can fail alone (another host, a failover) while the node
    that claimed lives on: a claim it lost would let a retry on the other node append
    the same batch again. So no claim's transaction turns synchronous_commit off."""
    first, _ = nodes
    statements: list[str] = []
    watch_statements(first, lambda _db, sql: statements.append(sql))
    assert first.claim_key("g1", "k", "c", 1.0, 9e9)
    first.answer_key("g1", "k", "c", "{}", 9e9)
    assert statements.count("COMMIT") == 2
    # (the test database itself runs with synchronous_commit off: tests/cluster.py)
    assert not [sql for sql in statements if "synchronous_commit" in sql]
