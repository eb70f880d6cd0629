"""Driver errors -> playlog's, by a table per dialect (dlt's ``raise_database_error``).

    POSTGRES_ERRORS.translate(pg_errors.DeadlockDetected("..."))  # WarehouseConflict

Whether to retry follows from the type: ``WarehouseConflict`` now, ``WarehouseUnavailable``
later (nothing was committed), ``WarehouseError`` never (the data or the SQL is bad).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from playlog.errors import PlaylogError, WarehouseConflict, WarehouseUnavailable

Classes = tuple[type[BaseException], ...]


@dataclass(frozen=True)
class ErrorTable:
    vendor: str  # prefix of every message: "postgres: ..."
    driver: Classes  # the driver's root error classes: what is translated at all
    rules: Sequence[tuple[Classes, type[PlaylogError]]]  # the first match wins
    otherwise: type[PlaylogError]
    conflict_text: re.Pattern[str] | None = None  # drivers that report conflicts in text
    # In a user's query these are the user's doing (BadRequest), not an outage.
    query_mistakes: Classes = ()
    # In a user's query only these driver errors are an outage (default: the rules').
    query_outages: Classes = ()

    def translate(self, exc: BaseException) -> PlaylogError:
        text = str(exc).strip() or type(exc).__name__
        diag = getattr(exc, "diag", None)
        detail = str(getattr(diag, "message_detail", None) or "")
        kind = self.otherwise
        if self.conflict_text is not None and (
            self.conflict_text.search(text) or self.conflict_text.search(detail)
        ):
            kind = WarehouseConflict
        else:
            kind = next((k for classes, k in self.rules if isinstance(exc, classes)), kind)
        return kind(f"{self.vendor}: {text}" + (f" ({detail})" if detail else ""))

    @contextmanager
    def translated(self) -> Iterator[None]:
        """Re-raise a driver error as the playlog error the table gives, ``from`` it."""
        try:
            yield
        except self.driver as exc:
            raise self.translate(exc) from exc

    def is_outage(self, error: PlaylogError) -> bool:
        """In a user's query: is ``error`` the warehouse's fault (not a conflict, not a
        mistake in the query)? Everything else is the query's (BadRequest)."""
        if not isinstance(error, WarehouseUnavailable) or isinstance(error, WarehouseConflict):
            return False
        cause = error.__cause__
        if isinstance(cause, self.query_mistakes):
            return False
        if self.query_outages and isinstance(cause, self.driver):
            return isinstance(cause, self.query_outages)
        return True
