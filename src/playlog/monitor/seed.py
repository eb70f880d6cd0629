"""Freshness after a restart: the loader records the newest ``_received_at`` only as
it loads, so a table that loaded before a restart, and nothing since, would have no
freshness at all: exactly the stalled table an alert must see. On start, each
table's newest ``_received_at`` is read from the warehouse once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from playlog.contracts import RECEIVED_AT
from playlog.errors import PlaylogError
from playlog.monitor import metrics
from playlog.names import quote, quoted_table

if TYPE_CHECKING:
    from playlog.warehouse.base import Warehouse

log = logging.getLogger("playlog.monitor")


def newest_received_sql(game: str, event_type: str) -> str:
    column = quote(RECEIVED_AT)
    # A double everywhere (PostgreSQL's extract answers numeric, a Decimal in Python).
    epoch = f"cast(extract(epoch from max({column})) as double precision)"
    return f"select {epoch} from {quoted_table(game, event_type)}"


def seed_freshness(
    warehouse: Warehouse, tables: Iterable[tuple[str, str]], stop: threading.Event
) -> int:
    """Record each table's newest loaded receive time; how many tables had rows. A
    table that cannot be read now is left out (it shows once it loads)."""
    seeded = 0
    for game, event_type in tables:
        if stop.is_set():  # a warehouse that hangs must not hold up a shutdown
            break
        try:
            newest = warehouse.query(newest_received_sql(game, event_type)).rows[0][0]
        except PlaylogError as exc:
            log.debug("freshness of %s.%s unknown until it loads: %s", game, event_type, exc)
            continue
        if isinstance(newest, int | float):
            metrics.count_loaded(f"{game}.{event_type}", 0, int(float(newest) * 1000))
            seeded += 1
    return seeded
