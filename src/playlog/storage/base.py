"""The ``ObjectStore`` port: put and get whole objects by key.

Batch files are small enough to move whole (a ranged read against some S3 APIs costs
a round trip per range), and keys are deterministic, so a put of an existing key
simply replaces it with the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically: readers see all of it or nothing."""

    def get(self, key: str) -> bytes:
        """The object's bytes; raises ``ObjectMissing`` when missing,
        ``StoreUnavailable`` when the store cannot answer now."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        """Every object key starting with ``prefix``, in key order (``playlog
        reconcile`` lists the store); raises ``StoreUnavailable`` like ``get``."""

    def uri(self, key: str) -> str:
        """Where the warehouse can find the object (``file://...``, ``s3://...``)."""
