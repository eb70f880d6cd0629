"""One driver per processor group: two would plan overlapping ranges with different
bounds, hence different file keys and task ids, and the loader would load both.

The lease is a row in the catalog (SQLite on one machine, PostgreSQL shared by all
nodes): holder, expiry and a fencing token. Every write is a compare-and-set on the
token, so of two drivers starting together exactly one wins, and a takeover (after
the holder's lease expired, or its pid died on this host) increments the token: the
old holder's next renewal or check fails. The holder renews from its own thread
(every third of the TTL), so a long batch keeps its lease; a stopped process
(SIGSTOP, a long GC pause, a frozen VM) stops renewing and loses it. The driver calls
``check`` before it saves plans, publishes tasks and commits: a lost lease raises
``LeaseLost`` and the batch stops there.

Expiry compares wall clocks of the nodes: keep them within a small fraction of the
TTL (NTP does).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid

from playlog.errors import ConfigError, TransientError
from playlog.registry.catalog import Catalog

LEASE_TTL_S = 30.0

log = logging.getLogger("playlog.process")


class LeaseLost(TransientError):
    """Another driver took over this group: stop the batch, re-read state."""

    code = "lease_lost"


class Lease:
    def __init__(self, catalog: Catalog, group: str, ttl_s: float = LEASE_TTL_S) -> None:
        self._catalog = catalog
        self._group = group
        self._ttl = ttl_s
        self._me = {"host": socket.gethostname(), "pid": os.getpid(), "id": uuid.uuid4().hex}
        self._holder = json.dumps(self._me, sort_keys=True)
        self._lock = threading.Lock()
        self._token: int | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._frozen = False
        catalog.on_close(self._stop_renewer)

    @property
    def token(self) -> int | None:
        """The fencing token while held, else None."""
        return self._token

    def try_acquire(self) -> bool:
        """Take the lease if it is free, expired, or its holder died on this host."""
        found = self._catalog.lease(self._group)
        if found is not None:
            holder, token, expires_at = found
            if holder == self._holder:
                seen: int | None = token  # ours (e.g. after a failed renewal): retake
            elif self._alive(holder, expires_at):
                return False
            else:
                seen = token
        else:
            seen = None
        if not self._catalog.take_lease(self._group, self._holder, seen, self._expiry()):
            return False  # someone else won the compare-and-set
        with self._lock:
            self._token = 1 if seen is None else seen + 1
        self._start_renewer()
        log.info("processor lease of group %r acquired (token %d)", self._group, self._token)
        return True

    def acquire(self) -> None:
        if not self.try_acquire():
            found = self._catalog.lease(self._group)
            who = json.loads(found[0]) if found else {}
            raise ConfigError(
                f"another processor of group {self._group!r} is running "
                f"(host {who.get('host')}, pid {who.get('pid')}); run exactly one "
                f"per group, or wait {self._ttl:.0f}s after it died"
            )

    def check(self) -> int:
        """Renew now; the token. Raises ``LeaseLost`` when another driver holds it."""
        if self._token is None:
            self.acquire()
        if not self._renew():
            raise LeaseLost(f"processor lease of group {self._group!r} was taken over")
        assert self._token is not None
        return self._token

    def release(self) -> None:
        self._stop.set()
        with self._lock:
            token, self._token = self._token, None
        if token is not None:
            self._catalog.renew_lease(self._group, self._holder, token, 0.0)

    def freeze(self) -> None:
        """Stop renewing from the timer (tests: what a stopped process does)."""
        self._frozen = True

    def _renew(self) -> bool:
        with self._lock:
            token = self._token
            if token is None:
                return False
            if self._catalog.renew_lease(self._group, self._holder, token, self._expiry()):
                return True
            self._token = None
        log.error("processor lease of group %r lost: another driver took over", self._group)
        return False

    def _start_renewer(self) -> None:
        self._stop.set()  # a previous renewer (before a loss) ends
        self._stop = stop = threading.Event()
        self._renewer = threading.Thread(
            target=self._renew_loop, args=(stop,), name="lease", daemon=True
        )
        self._renewer.start()

    def _stop_renewer(self) -> None:
        """End the renewer before the catalog closes: on a closed catalog every renewal
        would fail and warn. The lease is left to expire (``release`` gives it up)."""
        self._stop.set()
        renewer = self._renewer
        if renewer is not None and renewer is not threading.current_thread():
            renewer.join(timeout=self._ttl)  # a renewal under way finishes first

    def _renew_loop(self, stop: threading.Event) -> None:
        while not stop.wait(self._ttl / 3):
            if self._frozen:
                continue
            try:
                if not self._renew():
                    return
            except Exception as exc:  # the catalog is down: check() will tell the driver
                log.warning("processor lease renewal failed: %s", exc)

    def _expiry(self) -> float:
        return time.time() + self._ttl

    def _alive(self, holder: str, expires_at: float) -> bool:
        if time.time() > expires_at:
            return False
        try:
            who = json.loads(holder)
        except ValueError:
            return True
        pid = who.get("pid")
        if who.get("host") == self._me["host"] and isinstance(pid, int):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False  # died on this host: no need to wait for the expiry
            except PermissionError:
                return True
        return True
