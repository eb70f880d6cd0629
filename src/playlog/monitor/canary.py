"""The end-to-end canary: one real event through the public API, timed until it can
be queried in the warehouse. If anything between the two is stuck, it shows here
(``playlog_canary_ok`` drops to 0) even when every stage reports itself alive."""

from __future__ import annotations

import json
import logging
import threading
import time

from playlog.client import ApiError, Client
from playlog.errors import PlaylogError
from playlog.monitor import metrics
from playlog.names import CANARY_GAME

log = logging.getLogger("playlog.monitor")

__all__ = ["CANARY_GAME", "Canary"]

CANARY_TYPE = "canary"
CANARY_SCHEMA = {
    "type": "record",
    "name": "playlog_canary",
    "doc": "sent by playlog's monitor; one row per canary",
    "fields": [{"name": "id", "type": "long"}, {"name": "sent_at_ms", "type": "long"}],
}


class Canary:
    def __init__(
        self,
        url: str,
        admin_key: str,
        interval_s: float,
        timeout_s: float = 300,
        verify: bool = True,
    ) -> None:
        self._verify = verify
        self._admin = Client(url, admin_key, verify=verify)
        self._url = url
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._game_client: Client | None = None

    def _setup(self) -> Client:
        """The canary game, its table and a key (a new key per start: keys are shown
        only when made)."""
        try:
            key = self._admin.create_game(CANARY_GAME)["api_key"]
        except ApiError as exc:
            if exc.status != 409:
                raise
            key = self._admin.add_key(CANARY_GAME)["api_key"]
        self._admin.register(CANARY_GAME, CANARY_TYPE, CANARY_SCHEMA)
        return Client(self._url, key, verify=self._verify)

    def probe(self, stop: threading.Event) -> float | None:
        """Send one canary and wait for it; its latency in seconds, None on timeout."""
        if self._game_client is None:
            self._game_client = self._setup()
        canary_id = time.time_ns()
        sent = time.monotonic()
        event = {
            "event_type": CANARY_TYPE,
            "data": {"id": canary_id, "sent_at_ms": canary_id // 1_000_000},
        }
        self._game_client.send(CANARY_GAME, json.dumps([event]).encode(), "application/json")
        sql = f"select count(*) from {CANARY_GAME}.{CANARY_TYPE} where id = {canary_id}"
        while not stop.is_set() and time.monotonic() - sent < self._timeout_s:
            if self._admin.query(sql)["rows"][0][0]:
                return time.monotonic() - sent
            stop.wait(0.2)
        return None

    def run(self, stop: threading.Event) -> None:
        arriving: bool | None = None  # INFO on a change only: a line per probe is noise
        while not stop.is_set():
            metrics.HEARTBEAT.labels(stage="canary").set_to_current_time()
            try:
                latency = self.probe(stop)
            except PlaylogError as exc:
                log.warning("canary failed: %s", exc)
                latency = None
            if latency is not None:
                metrics.set_canary(latency)
                level = logging.DEBUG if arriving else logging.INFO
                log.log(level, "canary arrived in %.2fs", latency)
                arriving = True
            elif not stop.is_set():
                metrics.set_canary(None)
                log.error("canary did not arrive within %.0fs", self._timeout_s)
                arriving = False
            stop.wait(self._interval_s)
