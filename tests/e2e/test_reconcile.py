"""`playlog reconcile` against the real pipeline (`playlog up`, embedded): a batch file
whose COPY task was lost is reported, then loaded exactly once through the loader and
its ledger; a second run finds nothing; a ledger row whose file is gone is reported."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from playlog.contracts import OffsetRange
from playlog.process.transform import file_key
from playlog.settings import Settings
from playlog.storage.local import LocalStore
from tests.e2e.test_failed_events import playlog
from tests.support.avro import ocf
from tests.support.events import SCORE, score
from tests.support.server import Server

pytestmark = pytest.mark.e2e


@pytest.fixture
def loaded(tmp_path: Path) -> Iterator[tuple[Server, LocalStore, str]]:
    """`playlog up` (embedded: the test writes to its local store) with two events of
    g1.score loaded; the store and the key of their batch file."""
    embedded = Server(tmp_path / "data")
    try:
        embedded.start()
        yield from _loaded(embedded)
    finally:
        embedded.kill()


def _loaded(embedded: Server) -> Iterator[tuple[Server, LocalStore, str]]:
    key = embedded.game("g1")
    assert embedded.register("g1", "score", SCORE).status_code == 201
    body = ocf(SCORE, [score("ann", 1), score("bo", 2)])
    assert embedded.send("g1", key, body, "application/avro").status_code == 202
    assert embedded.wait_for_rows("g1.score", 2) == 2
    store = LocalStore(Settings.read(data_dir=embedded.data_dir).storage_root)
    [original] = store.list_keys("g1/")  # the canary game has files of its own
    yield embedded, store, original


def lost_batch(store: LocalStore, original: str) -> str:
    """A batch file the processor wrote (offsets 900..901 of partition 0, events of
    their own) whose COPY task never reached the copy topic."""
    table = pq.read_table(io.BytesIO(store.get(original)))
    shifted = pc.add(table["_event_id"], 1_000_000)
    table = table.set_column(table.schema.get_field_index("_event_id"), "_event_id", shifted)
    day = original.split("/")[2].removeprefix("dt=")
    key = file_key(OffsetRange("playlog.events", 0, 900, 901), "g1", "score", day)
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    store.put(key, out.getvalue())
    return key


def reconcile(server: Server, *flags: str) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(playlog(server, "reconcile", "--json", *flags))
    return report


def test_a_file_whose_task_was_lost_is_reported_then_loaded_exactly_once(
    loaded: tuple[Server, LocalStore, str],
) -> None:
    server, store, original = loaded
    lost = lost_batch(store, original)

    dry = reconcile(server)  # the default: report, change nothing
    assert (dry["unloaded"], dry["missing"], dry["queued"], dry["loaded"]) == ([lost], [], 0, 0)
    assert dry["applied"] is False
    assert server.count("g1.score") == 2

    applied = reconcile(server, "--apply")
    assert (applied["unloaded"], applied["queued"], applied["loaded"]) == ([lost], 1, 1)
    assert server.wait_for_rows("g1.score", 4) == 4
    assert (
        server.query("select count(*) from playlog.load_ledger where file_key = '" + lost + "'")[0][
            0
        ]
        == 1
    )

    again = reconcile(server, "--apply")  # nothing lost any more: nothing sent
    assert (again["unloaded"], again["pending"], again["queued"]) == ([], [], 0)
    assert server.wait_for_rows("g1.score", 4) == 4
    assert sorted(r[0] for r in server.query("select player from g1.score")) == [
        "ann", "ann", "bo", "bo",
    ]  # fmt: skip


def test_a_ledger_row_whose_file_is_gone_is_reported(
    loaded: tuple[Server, LocalStore, str],
) -> None:
    server, store, original = loaded
    store.delete(original)
    report = reconcile(server, "--apply")
    assert (report["missing"], report["unloaded"], report["queued"]) == ([original], [], 0)
    text = playlog(server, "reconcile")
    assert "1 ledger row whose file is gone" in text and original in text
    assert "dry run" in text
    assert server.count("g1.score") == 2  # the rows stay: only the file went


def test_a_clean_pipeline_reconciles_to_nothing(loaded: tuple[Server, LocalStore, str]) -> None:
    server, _, _ = loaded
    report = reconcile(server)
    assert (report["unloaded"], report["missing"], report["pending"]) == ([], [], [])
    assert report["files"] >= 1 and report["clean"] is True
    assert "nothing lost" in playlog(server, "reconcile")
