"""Run stages: all of them in one process (``playlog up``) or one each.

A ``Supervisor`` owns every stage thread (ingest's HTTP server, process, load,
retention, canary, metrics) and the main thread waits for SIGINT/SIGTERM. On a
signal every stage stops cleanly (exit code 0): the HTTP server stops answering, the
processor finishes its micro-batch, the loader its transactions. A stage that fails
stops the others and the process exits with code 1. Whatever was not committed is
replayed on the next start.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Iterable

import uvicorn
from prometheus_client import start_http_server

from playlog.contracts import server_file
from playlog.errors import ConfigError, PlaylogError
from playlog.ingest.app import create_app
from playlog.ingest.listen import listen
from playlog.ingest.protocol import limited_protocol
from playlog.ingest.tls import uvicorn_tls
from playlog.load.failed import FailedEventSink
from playlog.load.ledger import ledger_retention
from playlog.load.loader import Loader
from playlog.log.base import Log
from playlog.monitor import metrics
from playlog.monitor.canary import Canary
from playlog.monitor.history import HISTORY
from playlog.monitor.seed import seed_freshness
from playlog.monitor.webhook import Webhook
from playlog.process.processor import Processor
from playlog.runtime_child import ProcessorProcess, in_child_process
from playlog.settings import Settings
from playlog.supervisor import Stage, Supervisor
from playlog.wiring import Services, announce_admin_key, open_engine

log = logging.getLogger("playlog")

STAGES = ("ingest", "process", "load")
RETENTION_EVERY_S = 600.0


def configure_logging(level: str = "INFO") -> None:
    """One line per event, key=value friendly, to stderr."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s level=%(levelname)s logger=%(name)s thread=%(threadName)s %(message)s",
    )
    for chatty in ("httpx", "httpcore", "py4j"):  # a line per request drowns ours
        logging.getLogger(chatty).setLevel(logging.WARNING)


def run(settings: Settings, stages: Iterable[str] = STAGES) -> None:
    """Run ``stages`` until SIGINT/SIGTERM (returns) or a stage fails (``SystemExit(1)``)."""
    stages = tuple(stages)
    listening = None
    if "ingest" in stages:  # a bad certificate or a port in use stops us before anything opens
        uvicorn_tls(settings.server)
        listening = listen(settings.server.host, settings.server.port)
    try:
        services = Services.open(settings, with_warehouse="ingest" in stages or "load" in stages)
        try:
            with Supervisor() as supervisor:
                _start(supervisor, services, stages, listening)
                supervisor.run()
        finally:
            services.close()
    finally:
        if listening is not None:
            listening.close()
    _exit(supervisor)


def _start(
    supervisor: Supervisor,
    services: Services,
    stages: tuple[str, ...],
    listening: socket.socket | None,
) -> None:
    settings = services.settings
    if "process" in stages:
        _start_processor(supervisor, services, stages)
        # One process per log trims it: the processor's (a no-op where the broker does).
        supervisor.start("retention", retention(services.log))
    if "load" in stages:
        assert services.warehouse is not None
        supervisor.start("load", Loader(settings, services.log, services.warehouse).run)
        supervisor.start("freshness", freshness_seeder(services))
        sink = FailedEventSink(settings, services.log, services.warehouse)
        supervisor.start("failed-events", sink.run)
        if settings.load.ledger_retention_hours is not None:
            stage = ledger_retention(settings, services.warehouse, services.store)
            supervisor.start("ledger-retention", stage)
    if "process" in stages or "load" in stages:
        supervisor.start("lag", lag_observer(services, stages))
    supervisor.start("labels", label_pruner(services))
    _start_webhook(supervisor, settings)
    if listening is not None:
        canary = "process" in stages and "load" in stages
        _start_ingest(supervisor, services, listening, with_canary=canary)
    else:
        _start_metrics(supervisor, settings)


def _start_processor(supervisor: Supervisor, services: Services, stages: tuple[str, ...]) -> None:
    settings = services.settings
    if in_child_process(settings, stages):
        child = ProcessorProcess(settings)
        supervisor.start("process", child.run, on_stop=child.terminate)
        return
    engine = open_engine(settings, services.log, services.registry, services.store)
    processor = Processor(settings, services.log, services.store, engine, services.catalog)
    supervisor.start("process", processor.run)


def retention(log_: Log, every_s: float = RETENTION_EVERY_S) -> Stage:
    """A stage that trims expired records from the log every ``every_s``."""

    def trim(stop: threading.Event) -> None:
        while not stop.wait(every_s):
            try:
                deleted = log_.trim_expired()
            except PlaylogError as exc:
                log.warning("log retention: %s", exc)
                continue
            if deleted:
                log.debug("log retention: deleted %d records", deleted)

    return trim


def lag_observer(services: Services, stages: tuple[str, ...]) -> Stage:
    """A stage that sets the lag gauges of this process's consumer groups every
    heartbeat: the processor's on the data topic, the loader's on the copy topic,
    each against its topic's retention (an alert fires before records go unread)."""
    settings = services.settings
    hour = 3600.0
    watched = [
        (settings.process.group, settings.log.data_topic, settings.log.retention_hours * hour)
    ] * ("process" in stages)
    watched += [
        (settings.load.group, settings.log.copy_topic, settings.log.copy_retention_hours * hour)
    ] * ("load" in stages)

    def observe(stop: threading.Event) -> None:
        while not stop.wait(settings.monitor.heartbeat_interval_s):
            for group, topic, retention_s in watched:
                try:
                    metrics.observe_lag(services.log, group, topic, retention_s)
                except PlaylogError as exc:
                    log.debug("lag of %s on %s unknown now: %s", group, topic, exc)

    return observe


def _start_webhook(supervisor: Supervisor, settings: Settings) -> None:
    monitor = settings.monitor
    if monitor.webhook_url is not None:
        hook = Webhook(monitor.webhook_url, monitor.freshness_slo_s)
        supervisor.start("webhook", lambda stop: hook.run(stop, monitor.heartbeat_interval_s))


def freshness_seeder(services: Services) -> Stage:
    """A stage that reads each table's freshness from the warehouse once, then waits."""

    def seed(stop: threading.Event) -> None:
        assert services.warehouse is not None
        registry = services.registry
        try:
            tables = [(g, e) for g in services.catalog.games() for e in registry.event_types(g)]
        except PlaylogError as exc:  # each table shows once it loads
            log.warning("freshness unknown until tables load: %s", exc)
        else:
            seed_freshness(services.warehouse, tables, stop)
        stop.wait()

    return seed


def label_pruner(services: Services) -> Stage:
    """A stage that drops the metric series of games no longer in the catalog (a
    loadtest's game, a deleted one), whichever process deleted them."""

    def prune(stop: threading.Event) -> None:
        while not stop.wait(services.settings.monitor.heartbeat_interval_s):
            try:
                metrics.keep_only_games(set(services.catalog.games()))
            except PlaylogError as exc:
                log.debug("games unknown now, series kept: %s", exc)

    return prune


class _HeartbeatServer(uvicorn.Server):
    """uvicorn with ingest's heartbeat, set from the event loop's own tick: it stops
    when the loop is stuck (a blocking call on it), not only when the process dies."""

    async def on_tick(self, counter: int) -> bool:
        if counter % 10 == 0:  # ticks are 0.1 s apart
            metrics.HEARTBEAT.labels(stage="ingest").set_to_current_time()
        return await super().on_tick(counter)


def _start_ingest(
    supervisor: Supervisor, services: Services, listening: socket.socket, *, with_canary: bool
) -> None:
    settings = services.settings
    key = announce_admin_key(settings)
    config = uvicorn.Config(
        create_app(services, key),
        host=settings.server.host,
        port=settings.server.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        http=limited_protocol(settings.server.max_header_bytes),
        **uvicorn_tls(settings.server),
    )
    # Off the main thread uvicorn installs no signal handlers: the supervisor has them.
    server = _HeartbeatServer(config)
    port = listening.getsockname()[1]
    url = f"{settings.server.scheme}://{settings.server.host}:{port}"
    marker = server_file(settings.data_dir)

    def announce() -> None:
        """Tell CLI commands where we are once the socket listens; then the canary."""
        while not server.started and not supervisor.stopping.wait(0.02):
            pass
        if not server.started:
            return
        marker.write_text(json.dumps({"url": url, "pid": os.getpid()}))
        log.info("serving on %s", url)
        interval = settings.monitor.canary_interval_s
        if with_canary and interval > 0:
            # It calls this very process: its certificate needs no checking here.
            canary = Canary(url, key, interval, settings.monitor.canary_timeout_s, verify=False)
            supervisor.start("canary", canary.run)

    def serve(_stop: threading.Event) -> None:
        threading.Thread(target=announce, name="announce", daemon=True).start()
        try:
            server.run(sockets=[listening])
        finally:
            marker.unlink(missing_ok=True)

    def request_exit() -> None:
        server.should_exit = True

    supervisor.start("ingest", serve, on_stop=request_exit)
    # The status page's charts: sampled where the page is served.
    every_s = settings.monitor.heartbeat_interval_s
    supervisor.start("status", lambda stop: HISTORY.run(stop, every_s))


def _start_metrics(supervisor: Supervisor, settings: Settings) -> None:
    """/metrics for stages without the HTTP API, if monitor.metrics_port is set."""
    port = settings.monitor.metrics_port
    if port is None:
        return
    serve_metrics(supervisor, settings.server.host, port)
    log.info("metrics on http://%s:%d/metrics", settings.server.host, port)


def serve_metrics(supervisor: Supervisor, host: str, port: int) -> int:
    """This process's registry on ``host:port`` (0: any free port) until the
    supervisor stops; returns the port."""
    httpd, _ = start_http_server(port, addr=host)

    def serve(stop: threading.Event) -> None:
        stop.wait()
        httpd.shutdown()
        httpd.server_close()

    supervisor.start("metrics", serve)
    return int(httpd.server_port)


def run_monitor(settings: Settings) -> None:
    """``playlog monitor``: the canary against an ingest node, and /metrics."""
    key = os.environ.get("PLAYLOG_ADMIN_KEY")
    if not key:
        raise ConfigError("playlog monitor needs the admin key in PLAYLOG_ADMIN_KEY")
    interval = settings.monitor.canary_interval_s
    if interval <= 0:
        raise ConfigError("playlog monitor runs the canary: set monitor.canary_interval_s > 0")
    canary = Canary(settings.monitor.ingest_url, key, interval, settings.monitor.canary_timeout_s)
    with Supervisor() as supervisor:
        _start_metrics(supervisor, settings)
        _start_webhook(supervisor, settings)
        supervisor.start("canary", canary.run)
        supervisor.run()
    _exit(supervisor)


def _exit(supervisor: Supervisor) -> None:
    if supervisor.failure is not None:
        log.error("stopped after stage %s failed", supervisor.failure[0])
        raise SystemExit(1)
    log.info("stopped cleanly")


__all__ = ["STAGES", "configure_logging", "retention", "run", "run_monitor"]
