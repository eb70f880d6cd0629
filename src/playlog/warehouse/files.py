"""Reading a COPY task's batch file, with the errors a loader can act on."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from playlog.contracts import CopyTask
from playlog.errors import ObjectMissing, TransientError, WarehouseError, WarehouseUnavailable
from playlog.storage.base import ObjectStore


def read_batch_file(store: ObjectStore, task: CopyTask, columns: tuple[str, ...]) -> pa.Table:
    """The file's ``columns``. A missing or unreadable file is a ``WarehouseError``
    (that task is dead-lettered, the others load); a store outage is
    ``WarehouseUnavailable`` (the loader pauses and retries)."""
    try:
        data = store.get(task.key)
    except ObjectMissing as exc:
        raise WarehouseError(f"batch file {task.key} is missing: {exc}") from exc
    except TransientError as exc:
        raise WarehouseUnavailable(f"object store: {exc}") from exc
    try:
        return pq.read_table(io.BytesIO(data), columns=list(columns)).select(list(columns))
    except (pa.ArrowException, KeyError, ValueError) as exc:
        raise WarehouseError(f"{task.key}: not a loadable Parquet file: {exc}") from exc
