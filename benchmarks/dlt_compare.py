"""P3: the same events loaded by dlt and by playlog's process+load path, into DuckDB and
into PostgreSQL, in one run. Needs the `bench` extra (dlt); PostgreSQL comes from
tests/peers.py (a running server, or one started from the pgserver package).

    python benchmarks/dlt_compare.py [--events 210000] [--event-types 70] [--no-postgres]

The events: the issue-11 mix (benchmarks/harness.py), --events over --event-types
types. Each loader gets a fresh DuckDB file or PostgreSQL database of its own, so that
none of them pays for the tables another one grew. dlt loads them in three ways: Python
dicts by its default path, the same dicts with loader_file_format="parquet", and one
Arrow table per type (its Arrow path). playlog: the events as OCF requests are first
accepted by `playlog ingest` (not timed), then `playlog up` is started on that data dir
and timed from when it answers until every event is queryable: what the processor and
the loader take.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import GAME, Server, mix_schema, poll_until, serving

from playlog.cli.traffic import synthetic_events
from playlog.client import Client
from playlog.client.ocf import ocf_body

ROOT = Path(__file__).resolve().parent.parent
PER_CONTAINER = 500
Events = dict[str, list[dict[str, Any]]]  # event type -> its events


LOADERS = ("dlt default", "dlt parquet", "dlt arrow", "playlog")


@dataclass(frozen=True)
class Target:
    """A fresh warehouse: a DuckDB file, or a PostgreSQL database (``dsn``)."""

    duckdb: Path | None
    dsn: str = ""

    def dlt_destination(self) -> Any:
        import dlt
        from psycopg.conninfo import conninfo_to_dict

        if self.duckdb is not None:
            return dlt.destinations.duckdb(str(self.duckdb))
        p = conninfo_to_dict(self.dsn)
        user, password = p.get("user", "postgres"), p.get("password", "")
        url = f"postgresql://{user}:{password}@{p['host']}:{p.get('port', 5432)}/{p['dbname']}"
        return dlt.destinations.postgres(url)

    def playlog_config(self, tmp: Path) -> Path | None:
        if self.duckdb is not None:
            return None  # the embedded default: a DuckDB file in the data dir
        path = tmp / "playlog.toml"
        path.write_text(f'[warehouse]\nkind = "postgres"\ndsn = "{self.dsn}"\n')
        return path


Fresh = Callable[[Path], contextlib.AbstractContextManager[Target]]


def make_events(total: int, types: int) -> Events:
    """``total`` events spread evenly over ``types`` types, as the Avro writer takes them
    (``ts`` in epoch milliseconds; ``region`` only where the schema has it)."""
    rng = random.Random(3)
    events = {}
    for i in range(types):
        fields = {f["name"] for f in mix_schema(i)["fields"]}
        batch = synthetic_events(total // types, rng)
        events[f"evt_{i}"] = [{k: v for k, v in e.items() if k in fields} for e in batch]
    return events


def as_python(events: Events) -> Events:
    """What a Python program would hand dlt: ``ts`` as a datetime."""
    return {
        t: [{**e, "ts": datetime.fromtimestamp(e["ts"] / 1000, UTC)} for e in rows]
        for t, rows in events.items()
    }


def timed(load: Callable[[], None], events: int) -> float:
    started = time.monotonic()
    load()
    return events / (time.monotonic() - started)


def dlt_rate(target: Target, events: Events, how: str, tmp: Path) -> float:
    import dlt
    import pyarrow as pa

    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{how}", pipelines_dir=str(tmp / "dlt"),
        destination=target.dlt_destination(), dataset_name=f"dlt_{how}",
    )  # fmt: skip
    rows = as_python(events)
    data: Any = rows if how != "arrow" else {t: pa.Table.from_pylist(r) for t, r in rows.items()}
    resources = [dlt.resource(d, name=t) for t, d in data.items()]
    kwargs = {"loader_file_format": "parquet"} if how == "parquet" else {}
    count = sum(len(r) for r in rows.values())
    return timed(lambda: pipeline.run(resources, **kwargs).raise_on_failed_jobs(), count)


def playlog_rate(target: Target, events: Events, tmp: Path) -> float:
    config, data_dir = target.playlog_config(tmp), tmp / "playlog"
    with serving(config, stages="ingest", data_dir=data_dir) as server:
        key = server.register(len(events))
        sender = Client(server.url, key)
        for i, rows in enumerate(events.values()):
            for at in range(0, len(rows), PER_CONTAINER):
                body = ocf_body(mix_schema(i), rows[at : at + PER_CONTAINER])
                sender.send(GAME, body, "application/avro")
    expected = {t: len(rows) for t, rows in events.items()}
    with serving(config, stages="up", data_dir=data_dir) as server:
        started = time.monotonic()
        if not poll_until(lambda: loaded(server, expected), 600, 0.1):
            raise SystemExit(f"playlog did not load exactly {expected} in 600 s")
        return sum(expected.values()) / (time.monotonic() - started)


def loaded(server: Server, expected: dict[str, int]) -> bool:
    """Whether every table holds exactly its events. The ledger's row count (one small
    table) is asked first: counting the 70 tables ten times a second took a tenth of
    the server's CPU while it loaded (py-spy), a cost of the measuring, not of playlog.
    The ledger commits with the rows, so the tables are counted once it is complete."""
    ledger = f"select coalesce(sum(row_count), 0) from playlog.load_ledger where {_OF_GAME}"
    if int(server.admin.query(ledger)["rows"][0][0]) < sum(expected.values()):
        return False
    return server.count(list(expected)) == expected


_OF_GAME = f"table_name like '{GAME}.%'"


def load_with(loader: str, target: Target, events: Events, tmp: Path) -> float:
    if loader == "playlog":
        return playlog_rate(target, events, tmp)
    return dlt_rate(target, events, loader.removeprefix("dlt "), tmp)


@contextlib.contextmanager
def fresh_duckdb(tmp: Path) -> Iterator[Target]:
    yield Target(tmp / "warehouse.duckdb")


@contextlib.contextmanager
def postgres(stack: contextlib.ExitStack) -> Iterator[Fresh]:
    """A fresh database per loader on the test peers' PostgreSQL."""
    sys.path.insert(0, str(ROOT))
    from tests import peers
    from tests.cluster import fresh_database

    running = stack.enter_context(peers.session())

    @contextlib.contextmanager
    def fresh(tmp: Path) -> Iterator[Target]:
        with fresh_database(running.postgres_dsn) as dsn:
            yield Target(None, dsn)

    yield fresh


def run(warehouses: dict[str, Fresh], total: int, types: int) -> dict[tuple[str, str], float]:
    """Events/s per (warehouse, loader)."""
    events = make_events(total, types)
    rates = {}
    for name, fresh in warehouses.items():
        for loader in LOADERS:
            with tempfile.TemporaryDirectory(prefix="playlog-p3-") as tmp, fresh(Path(tmp)) as t:
                rates[(name, loader)] = load_with(loader, t, events, Path(tmp))
                print(f"{name}, {loader}: {rates[(name, loader)]:,.0f} events/s", flush=True)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=210_000)
    parser.add_argument("--event-types", type=int, default=70)
    parser.add_argument("--no-postgres", action="store_true", help="DuckDB only")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        warehouses: dict[str, Fresh] = {"DuckDB": fresh_duckdb}
        if not args.no_postgres:
            warehouses["PostgreSQL"] = stack.enter_context(postgres(stack))
        run(warehouses, args.events, args.event_types)


if __name__ == "__main__":
    main()
