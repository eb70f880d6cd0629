"""``playlog reconcile``: is any batch file lost between the store and the warehouse?

Lists the object store, reads the loader group's pending tasks on the copy topic and
the ledger (``playlog.load_ledger``, through the running server or the DuckDB file),
and reports (load/reconcile.py) files never loaded and ledger rows whose file is
gone. It changes nothing unless ``--apply``: then each lost file's COPY task goes
onto the copy topic, and the loader loads it through the ledger, once, however often
reconcile runs; reconcile waits (``--wait``) until the ledger shows them.

The copy topic is read before and after the ledger: a task the loader commits
meanwhile is in the ledger by then (it commits offsets after the load), and one the
processor appends meanwhile is on the topic by the second read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import Progress

from playlog.cli.query import run_query
from playlog.contracts import CopyTask
from playlog.errors import PlaylogError
from playlog.load.reconcile import Findings, classify, pending_keys, queue, task_for_file
from playlog.log.base import Log
from playlog.log.factory import open_log
from playlog.settings import Settings
from playlog.storage.base import ObjectStore
from playlog.storage.factory import open_store

PAGE = 1_000  # ledger keys per query
Query = Callable[[str], list[list[Any]]]


@dataclass
class Report:
    findings: Findings
    files: int  # batch files and other objects in the store
    applied: bool = False
    queued: int = 0  # tasks appended to the copy topic
    loaded: int = 0  # of those, in the ledger before --wait ran out
    unreadable: dict[str, str] = field(default_factory=dict)  # key -> why no task

    def as_json(self) -> str:
        findings = asdict(self.findings)
        extra = {k: v for k, v in asdict(self).items() if k != "findings"}
        return json.dumps({**findings, **extra, "clean": self.findings.clean})


def _quiet(count: int) -> None:
    """No progress to show."""


def column_values(
    query: Query, table: str, column: str, where: str = "", seen: Callable[[int], None] = _quiet
) -> set[str]:
    """Every value of ``column``, a page at a time in value order (a page may be cut
    by query.max_rows: the next starts after its last value all the same)."""
    values: set[str] = set()
    after = ""
    while True:
        condition = " AND ".join(filter(None, [f"{column} > {_quoted(after)}", where]))
        sql = f"SELECT {column} FROM {table} WHERE {condition} ORDER BY {column} LIMIT {PAGE}"
        page = [str(row[0]) for row in query(sql)]
        if not page:
            return values
        values.update(page)
        seen(len(values))
        after = page[-1]


def find(
    settings: Settings, query: Query, store: ObjectStore, log: Log, say: Callable[[str], None]
) -> Report:
    copy, group = settings.log.copy_topic, settings.load.group
    say("listing the object store")
    stored = list(store.list_keys())
    say("reading the copy topic")
    pending = pending_keys(log, copy, group)
    loaded = column_values(
        query, "playlog.load_ledger", "file_key", seen=lambda n: say(f"reading the ledger: {n}")
    )
    failed = column_values(query, "playlog.failed_events", "source", "stage = 'load'")
    pending |= pending_keys(log, copy, group)
    findings = classify(stored, loaded, pending, failed, settings.log.data_topic)
    return Report(findings, len(stored))


def apply(report: Report, settings: Settings, store: ObjectStore, log: Log) -> list[CopyTask]:
    """Queue the lost files' tasks; a file that cannot make one is reported instead."""
    tasks = []
    for key in report.findings.unloaded:
        try:
            tasks.append(task_for_file(store, key, settings.log.data_topic))
        except PlaylogError as exc:
            report.unreadable[key] = exc.message
    queue(log, settings.log.copy_topic, tasks)
    report.applied, report.queued = True, len(tasks)
    return tasks


def wait_loaded(query: Query, keys: Iterable[str], timeout_s: float, err: Console) -> int:
    """How many of ``keys`` the ledger holds once all are there or ``timeout_s`` passed."""
    waiting, done = sorted(set(keys)), 0
    deadline = time.monotonic() + timeout_s
    with Progress(console=err, transient=True, disable=not err.is_terminal) as progress:
        bar = progress.add_task("loading", total=len(waiting))
        while waiting:
            in_ledger = _in_ledger(query, waiting)
            done, waiting = done + len(in_ledger), [k for k in waiting if k not in in_ledger]
            progress.update(bar, completed=done)
            if not waiting or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
    return done


def _in_ledger(query: Query, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), PAGE):
        listed = ", ".join(_quoted(k) for k in keys[start : start + PAGE])
        sql = f"SELECT file_key FROM playlog.load_ledger WHERE file_key IN ({listed})"
        found.update(str(row[0]) for row in query(sql))
    return found


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def run_reconcile(
    settings: Settings, url: str | None, act: bool, wait_s: float, console: Console, err: Console
) -> Report:
    def query(sql: str) -> list[list[Any]]:
        return run_query(settings, url, sql)[1]

    if settings.log.kind == "embedded" and not settings.log_path.exists():
        # Opening would create an empty pipeline there: a mistyped --data-dir.
        raise PlaylogError(
            f"no playlog data in {settings.data_dir} (run `playlog up` first, or pass --data-dir)"
        )
    store, log = open_store(settings), open_log(settings)
    try:
        with err.status("comparing store, copy topic and ledger") as status:
            report = find(settings, query, store, log, status.update)
        tasks = apply(report, settings, store, log) if act else []
    finally:
        log.close()
    if tasks and wait_s > 0:
        report.loaded = wait_loaded(query, [t.key for t in tasks], wait_s, err)
    return report


def render(report: Report, console: Console) -> None:
    found = report.findings
    lines = [
        (found.unloaded, "batch file never loaded", "batch files never loaded"),
        (found.missing, "ledger row whose file is gone", "ledger rows whose file is gone"),
        (found.pending, "file waiting on the copy topic", "files waiting on the copy topic"),
        (found.failed, "file the loader dead-lettered", "files the loader dead-lettered"),
    ]
    for keys, one, many in lines:
        if keys:
            console.print(f"{len(keys)} {one if len(keys) == 1 else many}:")
            for key in keys:
                console.print(f"  {key}", soft_wrap=True, highlight=False)
    for key, why in report.unreadable.items():
        console.print(f"cannot queue {key}: {why}", soft_wrap=True, highlight=False)
    console.print(_summary(report), highlight=False)


def _summary(report: Report) -> str:
    found = report.findings
    head = f"{report.files} objects in the store: "
    if found.clean:
        return head + "nothing lost"
    if not report.applied:
        return head + "dry run, nothing changed (--apply queues the lost files for loading)"
    return head + f"queued {report.queued} files for loading, {report.loaded} loaded so far"
