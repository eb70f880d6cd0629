"""A supervisor: owns the stage threads of one process and stops them all, with a reason.

    supervisor = Supervisor()
    supervisor.start("process", processor.run)  # run(stop: threading.Event) -> None
    supervisor.start("ingest", server.run, on_stop=lambda: setattr(server, "should_exit", True))
    exit_code = supervisor.run()  # until SIGINT/SIGTERM or a stage fails

Every stage gets the same ``threading.Event`` and returns soon after it is set. A stage
that raises (or returns before it was asked to stop) calls ``stop(fail=exc)``: the other
stages stop cleanly, the failure is logged once with its stage, and ``run()`` answers 1,
so that whatever restarts the process does so, and it resumes from committed offsets (a
half-dead process that still answers 202 while nothing loads would be worse). SIGINT and
SIGTERM call ``stop()``: ``run()`` answers 0. Model: quix-streams ``Application.stop(fail=)``.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger("playlog")

Stage = Callable[[threading.Event], None]

_POLL_S = 0.1  # how soon the main thread acts on a signal


class StageEnded(RuntimeError):
    """A stage returned before the supervisor asked it to stop."""


class Supervisor:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._on_stop: list[Callable[[], None]] = []
        self._failure: tuple[str, BaseException] | None = None
        self._signal: int | None = None
        self._previous: dict[int, Any] | None = None  # the handlers before catch_signals()

    @property
    def stopping(self) -> threading.Event:
        """Set once ``stop`` was called; what every stage watches."""
        return self._stop

    @property
    def failure(self) -> tuple[str, BaseException] | None:
        """``(stage, exception)`` of the first failure, if any."""
        return self._failure

    def start(self, name: str, stage: Stage, on_stop: Callable[[], None] | None = None) -> None:
        """Run ``stage(stopping)`` in a thread called ``name``. ``on_stop`` (quick, never
        blocking: it runs in the thread that calls ``stop``) tells a stage that does not watch the
        event to stop, e.g. an HTTP server's ``should_exit``. Ignored once stopping."""
        thread = threading.Thread(target=self._guard, args=(name, stage), name=name)
        with self._lock:
            if self._stop.is_set():
                return
            self._threads.append(thread)
            if on_stop is not None:
                self._on_stop.append(on_stop)
            thread.start()  # under the lock: join() never sees a thread not yet started

    def _guard(self, name: str, stage: Stage) -> None:
        try:
            stage(self._stop)
        except BaseException as exc:  # SystemExit too: uvicorn exits when it cannot bind
            self.stop(fail=exc, stage=name)
            return
        if not self._stop.is_set():
            self.stop(fail=StageEnded(f"stage {name} ended on its own"), stage=name)

    def stop(self, fail: BaseException | None = None, *, stage: str | None = None) -> None:
        """Ask every stage to stop; with ``fail``, the process failed (exit code 1).

        Safe from any thread (not from a signal handler: ``run()`` handles signals).
        Only the first failure is logged with its traceback. ``stage`` defaults to the
        calling thread's name.
        """
        if fail is not None:
            name = stage or threading.current_thread().name
            with self._lock:
                first = self._failure is None
                if first:
                    self._failure = (name, fail)
            if first:
                log.error("stage %s failed; stopping every stage: %s", name, fail, exc_info=fail)
            else:
                log.warning("stage %s also failed while stopping: %r", name, fail)
        with self._lock:
            already = self._stop.is_set()
            self._stop.set()
            callbacks = list(self._on_stop)
        if not already:
            for callback in callbacks:
                callback()

    def catch_signals(self) -> None:
        """In the main thread: handle SIGINT/SIGTERM from now on (``run()`` does, and
        acts on one that came earlier), e.g. while the stages are being started."""
        if self._previous is None:
            handled = (signal.SIGINT, signal.SIGTERM)
            self._previous = {sig: signal.signal(sig, self._on_signal) for sig in handled}

    def run(self) -> int:
        """In the main thread: wait for a signal or a failure, then for every stage.

        Returns the exit code: 0 after SIGINT/SIGTERM or ``stop()``, 1 after a failure.
        """
        self.catch_signals()
        try:
            while not self._stop.wait(_POLL_S):
                if self._signal is not None:
                    log.info("%s received; stopping", signal.Signals(self._signal).name)
                    self.stop()
            self.join()
        finally:
            for sig, handler in (self._previous or {}).items():
                signal.signal(sig, handler)
            self._previous = None
        return 1 if self._failure is not None else 0

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # No locks here (stop() takes some, so might the main thread when the signal
        # lands): the main thread's loop in run() sees this and calls stop().
        self._signal = signum

    def join(self) -> None:
        """Wait for every stage thread, including ones started while stopping."""
        joined: set[threading.Thread] = set()
        while True:
            with self._lock:
                pending = [t for t in self._threads if t not in joined]
            if not pending:
                return
            for thread in pending:
                thread.join()
                joined.add(thread)

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc: Any) -> None:
        """Leaving the block by an exception stops and joins the stages started so far."""
        self.stop()
        self.join()


__all__ = ["Stage", "StageEnded", "Supervisor"]
