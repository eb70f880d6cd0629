"""Idempotency-key claims and answers of concurrent requests share one catalog
transaction (one flush to disk), and each request still learns whether it holds its key."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from tests.support.catalogs import watch_statements

from playlog.ingest.idempotency import Claim, IdempotencyKeys
from playlog.registry.catalog import Catalog


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    opened = Catalog(tmp_path / "catalog.sqlite")
    yield opened
    opened.close()


def test_of_concurrent_claims_of_one_key_exactly_one_holds_it(catalog: Catalog) -> None:
    def claim(n: int) -> bool:
        return catalog.claim_key("g1", f"key-{n % 5}", f"claim-{n}", 1.0, 9e9)

    with ThreadPoolExecutor(8) as pool:
        held = list(pool.map(claim, range(40)))
    assert sum(held) == 5  # one claim per key, whatever the grouping
    for k in range(5):
        state = catalog.key_state("g1", f"key-{k}")
        assert state is not None and state[1] is None
        winners = [n for n in range(40) if held[n] and n % 5 == k]
        assert [f"claim-{n}" for n in winners] == [state[0]]


def test_claims_waiting_for_the_catalog_share_one_transaction(catalog: Catalog) -> None:
    transactions: list[int] = []
    write_together = catalog._key_writes._write_all

    def counting(writes: Sequence[Any]) -> Sequence[int]:
        transactions.append(len(writes))
        return write_together(writes)

    catalog._key_writes._write_all = counting
    results: dict[int, bool] = {}
    with catalog._db._lock:  # the catalog busy (another statement)
        threads = [
            threading.Thread(
                target=lambda n=n: results.__setitem__(
                    n, catalog.claim_key("g1", f"k{n}", f"c{n}", 1.0, 9e9)
                )
            )
            for n in range(6)
        ]
        threads[0].start()
        while not transactions:  # the first leads and waits for the connection
            threading.Event().wait(0.001)
        for thread in threads[1:]:
            thread.start()
        while len(catalog._key_writes._queue) < 5:
            threading.Event().wait(0.001)
    for thread in threads:
        thread.join(10)
    assert results == dict.fromkeys(range(6), True)
    assert transactions == [1, 5]
    catalog.answer_key("g1", "k3", "c3", '{"status": 202}', 9e9)
    state = catalog.key_state("g1", "k3")
    assert state is not None and state[1] == '{"status": 202}'


def test_claims_skip_the_flush_and_every_other_write_keeps_it(catalog: Catalog) -> None:
    """A claim's commit does not wait for the disk (catalog.claim_key says why); the
    connection is FULL again after it, for answers and everything else."""
    levels: list[int] = []

    def at_commit(db: Any, sql: str) -> None:
        if sql == "COMMIT":
            levels.append(db.execute("PRAGMA synchronous").fetchone()[0])

    unwatch = watch_statements(catalog, at_commit)
    assert catalog.claim_key("g1", "k", "c", 1.0, 9e9)
    catalog.answer_key("g1", "k", "c", "{}", 9e9)
    assert levels == [1, 2]  # NORMAL (no flush), then FULL
    unwatch()
    level = catalog._db._with_connection(lambda db: db.execute("PRAGMA synchronous").fetchone()[0])
    assert level == 2


def test_a_claim_whose_commit_reply_was_lost_is_still_ours(tmp_path: Path) -> None:
    """The claim committed but the connection broke before the reply: the retried
    transaction finds the row (rowcount 0). The request holds its own claim: it goes
    on at once, not 409 until the claim goes stale."""

    class ReplyLost(Catalog):
        def claim_key(self, game: str, key: str, claim: str, now: float, exp: float) -> bool:
            super().claim_key(game, key, claim, now, exp)
            return False

    catalog = ReplyLost(tmp_path / "catalog.sqlite")
    try:
        claimed = IdempotencyKeys(catalog, 60).begin("g1", "k")
        assert isinstance(claimed, Claim)
        state = catalog.key_state("g1", "k")
        assert state is not None and state[0] == claimed.token
    finally:
        catalog.close()
