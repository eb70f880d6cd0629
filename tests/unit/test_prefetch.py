"""A load's batch files are fetched at once (warehouse/prefetch.py)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from playlog.errors import ObjectMissing
from playlog.storage.local import LocalStore
from playlog.warehouse.prefetch import Prefetched


class GatedStore(LocalStore):
    """A store whose GETs each wait until ``gate`` of them are in flight: fetched one
    after another, the first would wait forever (here: time out and fail)."""

    def __init__(self, root: Path, gate: int) -> None:
        super().__init__(root)
        self._barrier = threading.Barrier(gate, timeout=10)

    def get(self, key: str) -> bytes:
        self._barrier.wait()
        return super().get(key)


def test_the_files_of_a_load_are_fetched_together(tmp_path: Path) -> None:
    store = GatedStore(tmp_path, gate=3)
    for n in range(3):
        store.put(f"f{n}", b"x" * n)
    files = Prefetched(store, ["f0", "f1", "f2"])
    assert [files.get(f"f{n}") for n in range(3)] == [b"", b"x", b"xx"]


def test_a_failed_get_is_raised_where_its_file_is_read(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("here", b"1")
    files = Prefetched(store, ["here", "gone"])
    assert files.get("here") == b"1"
    with pytest.raises(ObjectMissing):
        files.get("gone")


def test_a_key_not_prefetched_is_read_from_the_store(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("late", b"2")
    assert Prefetched(store, []).get("late") == b"2"
