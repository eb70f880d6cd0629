"""Idempotency-key claims and answers of concurrent requests share one catalog
transaction (one flush to disk), and each request still learns whether it holds its key."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

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
    run_each = catalog._run_each

    def counting(sql: str, rows: Sequence[Sequence[Any]]) -> list[int]:
        transactions.append(len(rows))
        return run_each(sql, rows)

    catalog._run_each = counting  # type: ignore[method-assign]
    results: dict[int, bool] = {}
    with catalog._lock:  # the catalog busy (another statement)
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
        while len(catalog._claims._queue) < 5:
            threading.Event().wait(0.001)
    for thread in threads:
        thread.join(10)
    assert results == dict.fromkeys(range(6), True)
    assert transactions == [1, 5]
    catalog.answer_key("g1", "k3", "c3", '{"status": 202}', 9e9)
    state = catalog.key_state("g1", "k3")
    assert state is not None and state[1] == '{"status": 202}'
