"""One driver per processor group: two would plan overlapping ranges with different
bounds, hence different file keys and task ids, and the loader would load both.

The lease is an object in the store next to the plans: the holder's identity and a
heartbeat. A fresh lease of another live holder refuses the start; a holder that
died on this host (its pid is gone) or stopped heart-beating is taken over.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid

from playlog.errors import ConfigError, ObjectMissing
from playlog.storage.base import ObjectStore

LEASE_TTL_S = 30.0


class Lease:
    def __init__(self, store: ObjectStore, group: str) -> None:
        self._store = store
        self._key = f"_plans/{group}/lease.json"
        self._group = group
        self._me = {"host": socket.gethostname(), "pid": os.getpid(), "id": uuid.uuid4().hex}
        self._renewed = 0.0

    def acquire(self) -> None:
        holder = self._holder()
        if holder is not None and holder.get("id") != self._me["id"] and self._alive(holder):
            raise ConfigError(
                f"another processor of group {self._group!r} is running "
                f"(host {holder.get('host')}, pid {holder.get('pid')}); run exactly one "
                f"per group, or wait {LEASE_TTL_S:.0f}s after it died"
            )
        self.renew(force=True)

    def renew(self, force: bool = False) -> None:
        if force or time.time() - self._renewed >= LEASE_TTL_S / 6:
            self._renewed = time.time()
            body = {**self._me, "heartbeat": self._renewed}
            self._store.put(self._key, json.dumps(body).encode())

    def release(self) -> None:
        holder = self._holder()
        if holder is not None and holder.get("id") == self._me["id"]:
            self._store.delete(self._key)

    def _holder(self) -> dict[str, object] | None:
        try:
            found = json.loads(self._store.get(self._key))
        except (ObjectMissing, ValueError):
            return None
        return found if isinstance(found, dict) else None

    def _alive(self, holder: dict[str, object]) -> bool:
        heartbeat = holder.get("heartbeat")
        if not isinstance(heartbeat, int | float) or time.time() - heartbeat > LEASE_TTL_S:
            return False
        pid = holder.get("pid")
        if holder.get("host") == self._me["host"] and isinstance(pid, int):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False  # died on this host: no need to wait for the heartbeat
            except PermissionError:
                return True
        return True
