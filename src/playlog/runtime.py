"""Run stages: all of them in one process (``playlog up``) or one each.

The HTTP server owns the main thread (uvicorn turns SIGINT/SIGTERM into a graceful
stop); the processor and the loader run in threads and stop after it: the processor
finishes its micro-batch, the loader its transactions. Whatever was not committed is
replayed on the next start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable

import uvicorn
from prometheus_client import start_http_server

from playlog.contracts import server_file
from playlog.errors import ConfigError, PlaylogError
from playlog.ingest.app import create_app
from playlog.load.loader import Loader
from playlog.log.embedded import EmbeddedLog
from playlog.monitor.canary import Canary
from playlog.process.processor import Processor
from playlog.settings import Settings
from playlog.wiring import Services, admin_key, open_engine

log = logging.getLogger("playlog")

STAGES = ("ingest", "process", "load")


def configure_logging(level: str = "INFO") -> None:
    """One line per event, key=value friendly, to stderr."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s level=%(levelname)s logger=%(name)s thread=%(threadName)s %(message)s",
    )
    for chatty in ("httpx", "httpcore", "py4j"):  # a line per request drowns ours
        logging.getLogger(chatty).setLevel(logging.WARNING)


def _crash_stops_all(name: str, target: Callable[[threading.Event], None]) -> Callable[..., None]:
    """A stage thread that fails takes the process down (exit code 1), so that a
    supervisor restarts it and it resumes from committed offsets: a half-dead process
    that still answers 202 while nothing is loaded would be worse."""

    def guarded(stop: threading.Event) -> None:
        try:
            target(stop)
        except BaseException:
            log.exception("stage %s failed; stopping the process", name)
            _failed.set()
            os.kill(os.getpid(), signal.SIGTERM)

    return guarded


_failed = threading.Event()


def _background(
    services: Services, stages: Iterable[str], stop: threading.Event
) -> list[threading.Thread]:
    threads = []
    if "process" in stages:
        engine = open_engine(services.settings, services.log, services.registry, services.store)
        processor = Processor(services.settings, services.log, services.store, engine)
        run_process = _crash_stops_all("process", processor.run)
        threads.append(threading.Thread(target=run_process, args=(stop,), name="process"))
    if "load" in stages:
        assert services.warehouse is not None
        loader = Loader(services.settings, services.log, services.warehouse)
        run_load = _crash_stops_all("load", loader.run)
        threads.append(threading.Thread(target=run_load, args=(stop,), name="load"))
    if isinstance(services.log, EmbeddedLog) and "process" in stages:
        trim = _retention(services.log)
        threads.append(threading.Thread(target=trim, args=(stop,), name="retention"))
    for thread in threads:
        thread.start()
    return threads


def _retention(embedded: EmbeddedLog, every_s: float = 600.0) -> Callable[[threading.Event], None]:
    """The embedded log keeps records for log.retention_hours, and always until every
    consumer group has committed past them (Kafka's retention is the broker's job)."""

    def trim(stop: threading.Event) -> None:
        while not stop.wait(every_s):
            try:
                deleted = embedded.trim()
            except PlaylogError as exc:
                log.warning("log retention: %s", exc)
                continue
            if deleted:
                log.info("log retention: deleted %d records", deleted)

    return trim


def run(settings: Settings, stages: Iterable[str] = STAGES) -> None:
    """Run ``stages`` until SIGINT/SIGTERM."""
    stages = tuple(stages)
    services = Services.open(settings, with_warehouse="ingest" in stages or "load" in stages)
    stop = threading.Event()
    threads = _background(services, stages, stop)

    def start_canary(url: str) -> None:
        """With the HTTP API in this process, the canary probes it once it listens."""
        interval = settings.monitor.canary_interval_s
        if interval > 0 and "process" in stages and "load" in stages:
            key, _ = admin_key(settings)
            canary = Canary(url, key, interval, settings.monitor.canary_timeout_s)
            thread = threading.Thread(target=canary.run, args=(stop,), name="canary")
            thread.start()
            threads.append(thread)

    try:
        if "ingest" in stages:
            _serve(services, start_canary)
        else:
            _serve_metrics(settings)
            _wait_for_signal(stop)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        services.close()
        if _failed.is_set():
            log.error("stopped after a stage failed")
            sys.exit(1)
        log.info("stopped cleanly")


def _serve(services: Services, on_ready: Callable[[str], None] | None) -> None:
    settings = services.settings
    key, created = admin_key(settings)
    if created:
        print(
            f"admin key (shown once, stored in {settings.data_dir / 'admin_key'}): {key}",
            flush=True,
        )
    app = create_app(services, key)
    config = uvicorn.Config(
        app,
        host=settings.server.host,
        port=settings.server.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    url = f"http://{settings.server.host}:{settings.server.port}"
    marker = server_file(settings.data_dir)

    def announce() -> None:
        """Tell CLI commands where we are, once the socket listens."""
        while not server.started and not server.should_exit:
            threading.Event().wait(0.02)
        if server.started:
            marker.write_text(json.dumps({"url": url, "pid": os.getpid()}))
            log.info("serving on %s", url)
            if on_ready:
                on_ready(url)

    threading.Thread(target=announce, name="announce", daemon=True).start()
    # uvicorn re-raises SIGTERM after its shutdown, which would kill us before the
    # processor and loader finish; we take the signals and ask it to exit instead.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: setattr(server, "should_exit", True))
    try:
        server.run()
    finally:
        marker.unlink(missing_ok=True)


def run_monitor(settings: Settings) -> None:
    """``playlog monitor``: the canary against an ingest node, and /metrics."""
    key = os.environ.get("PLAYLOG_ADMIN_KEY")
    if not key:
        raise ConfigError("playlog monitor needs the admin key in PLAYLOG_ADMIN_KEY")
    stop = threading.Event()
    _serve_metrics(settings)
    interval = settings.monitor.canary_interval_s
    if interval <= 0:
        raise ConfigError("playlog monitor runs the canary: set monitor.canary_interval_s > 0")
    canary = Canary(settings.monitor.ingest_url, key, interval, settings.monitor.canary_timeout_s)
    thread = threading.Thread(target=canary.run, args=(stop,), name="canary")
    thread.start()
    _wait_for_signal(stop)
    thread.join()


def _serve_metrics(settings: Settings) -> None:
    port = settings.monitor.metrics_port
    if port is not None:
        start_http_server(port, addr=settings.server.host)
        log.info("metrics on http://%s:%d/metrics", settings.server.host, port)


def _wait_for_signal(stop: threading.Event) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
