"""An optional webhook (``monitor.webhook_url``): JSON POSTed when something an
on-call engineer cares about changes state, for chat rooms and pagers without a
Prometheus. A POST that fails is logged and sent again at each next check while the
state lasts (a change that is over before it was delivered is not sent: the receiver
last heard the state it is back to); it never stops or slows the pipeline (it runs
on its own thread, with a short timeout).

One POST per change::

    {"source": "playlog", "event": "loader_failing", "subject": "loader",
     "state": "failing", "previous": "ok", "detail": "permission denied ...",
     "at": "2026-12-02T04:30:00+00:00"}

Events: ``canary_failing`` / ``canary_recovered``, ``loader_failing`` /
``loader_recovered``, ``freshness_over_slo`` / ``freshness_recovered`` (subject:
the table)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

import httpx

from playlog.monitor import snapshot
from playlog.monitor.snapshot import Snapshot

log = logging.getLogger("playlog.monitor")

TIMEOUT_S = 5.0
# subject -> (state, detail); "ok" is every subject's state before the first look.
States = dict[str, tuple[str, str | None]]


def states(now: Snapshot, freshness_slo_s: float) -> States:
    """The state of each watched subject in ``now`` (unknown ones are left out)."""
    out: States = {}
    if now.canary_ok is not None:
        out["canary"] = ("ok", None) if now.canary_ok else ("failing", "did not arrive in time")
    if now.loader_state is not None:
        failing = now.loader_state == "failing"
        out["loader"] = ("failing", now.loader_reason) if failing else ("ok", None)
    for table, age in now.freshness_s.items():
        over = age > freshness_slo_s
        detail = f"newest loaded event {age:.0f} s old; SLO {freshness_slo_s:g} s"
        out[table] = ("over_slo", detail) if over else ("ok", None)
    return out


def _event(subject: str, state: str) -> str:
    kind = subject if subject in ("canary", "loader") else "freshness"
    return f"{kind}_{'recovered' if state == 'ok' else state}"


class Webhook:
    def __init__(
        self,
        url: str,
        freshness_slo_s: float,
        take: Callable[[], Snapshot] = snapshot.take,
    ) -> None:
        self._url = url
        self._slo_s = freshness_slo_s
        self._take = take
        self._known: States = {}

    def check(self) -> list[dict[str, Any]]:
        """Post one message per change since the last check; the messages."""
        now = self._take()
        messages = []
        for subject, (state, detail) in states(now, self._slo_s).items():
            previous = self._known.get(subject, ("ok", None))[0]
            if state == previous:
                continue
            message = self._message(subject, state, previous, detail, now.at)
            messages.append(message)
            if self._post(message):  # else the receiver has not heard: say it again next time
                self._known[subject] = (state, detail)
        return messages

    def _message(
        self, subject: str, state: str, previous: str, detail: str | None, at: float
    ) -> dict[str, Any]:
        return {
            "source": "playlog",
            "event": _event(subject, state),
            "subject": subject,
            "state": state,
            "previous": previous,
            "detail": detail,
            "at": dt.datetime.fromtimestamp(at, dt.UTC).isoformat(),
        }

    def _post(self, message: dict[str, Any]) -> bool:
        """Whether the receiver took it (a 2xx)."""
        try:
            httpx.post(self._url, json=message, timeout=TIMEOUT_S).raise_for_status()
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            log.warning("webhook %s: %s not delivered: %s", self._url, message["event"], exc)
            return False
        return True

    def run(self, stop: threading.Event, every_s: float) -> None:
        while not stop.wait(every_s):
            try:
                self.check()
            except Exception:  # a bug here must not stop the stages beside it
                log.exception("webhook check failed")
