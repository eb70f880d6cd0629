"""This process's metrics plus those of its child processes, as one registry.

``playlog up`` runs the processor in a process of its own (runtime_child.py); its
counters and heartbeat live in that process's registry, which serves them on a private
localhost port. ``EXPOSED`` is what /metrics, ``GET /v1/status`` and the status page
read: every family of this process, merged family by family with the child's (one
family per name, so a scrape never repeats one). A series both export goes to its
owner: the child's for ``playlog_process_*`` (the parent's are the unused zeros of a
processor it does not run), this process's for the rest (the child's ingest and load
series are the zeros). Only ``playlog_*`` families come from a child: the runtime's own
(``python_*``, ``process_*``) describe this process.
"""

from __future__ import annotations

import logging
import threading
import urllib.request
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families

log = logging.getLogger("playlog")

Source = Callable[[], Iterable[Metric]]

CHILD_OWNS = ("playlog_process_",)
SCRAPE_TIMEOUT_S = 2.0
_OPENMETRICS = "application/openmetrics-text; version=1.0.0"


class MergedRegistry(CollectorRegistry):
    """``base`` plus the families of attached sources (child processes)."""

    def __init__(self, base: CollectorRegistry) -> None:
        super().__init__(auto_describe=False)
        self._base = base
        self._sources: dict[str, Source] = {}
        self._sources_lock = threading.Lock()

    def attach(self, name: str, source: Source) -> None:
        with self._sources_lock:
            self._sources[name] = source

    def detach(self, name: str) -> None:
        with self._sources_lock:
            self._sources.pop(name, None)

    def collect(self) -> Iterator[Metric]:
        families = {family.name: family for family in self._base.collect()}
        with self._sources_lock:
            sources = list(self._sources.values())
        for source in sources:
            for theirs in source():
                if not theirs.name.startswith("playlog_"):
                    continue
                ours = families.get(theirs.name)
                if ours is None:
                    families[theirs.name] = theirs
                elif theirs.name.startswith(CHILD_OWNS):
                    families[theirs.name] = _merged(theirs, ours)
                else:
                    families[theirs.name] = _merged(ours, theirs)
        yield from families.values()


def _merged(owner: Metric, other: Metric) -> Metric:
    """``owner``'s family with the series of ``other`` that ``owner`` lacks."""
    merged = Metric(owner.name, owner.documentation, owner.type, owner.unit)
    merged.samples = list(owner.samples)
    known = {(s.name, tuple(sorted(s.labels.items()))) for s in owner.samples}
    merged.samples += [
        s for s in other.samples if (s.name, tuple(sorted(s.labels.items()))) not in known
    ]
    return merged


def scraped(url: str) -> Source:
    """The families a ``/metrics`` endpoint serves now; none while it does not answer
    (a child that is starting or stopping): a scrape of ours never fails for it."""

    def families() -> list[Metric]:
        request = urllib.request.Request(url, headers={"Accept": _OPENMETRICS})
        try:
            with urllib.request.urlopen(request, timeout=SCRAPE_TIMEOUT_S) as answer:
                text = answer.read().decode()
            return list(text_string_to_metric_families(text))  # type: ignore[no-untyped-call]
        except (OSError, ValueError) as exc:
            log.debug("metrics of %s unknown now: %s", url, exc)
            return []

    return families


EXPOSED = MergedRegistry(REGISTRY)

__all__ = ["EXPOSED", "MergedRegistry", "scraped"]
