"""``playlog up|ingest|process|load|monitor``: run the pipeline's stages, all in one
process or one each, until Ctrl-C / SIGTERM."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from playlog.cli.common import ConfigOpt, DataDirOpt, settings_of

HostOpt = Annotated[str | None, typer.Option("--host", help="Default 127.0.0.1")]
PortOpt = Annotated[int | None, typer.Option("--port", help="Default 8080")]
TlsCertOpt = Annotated[
    Path | None, typer.Option("--tls-cert", help="Serve HTTPS: PEM certificate chain")
]
TlsKeyOpt = Annotated[Path | None, typer.Option("--tls-key", help="Its PEM private key")]


def _run_stages(
    stages: tuple[str, ...],
    config: Path | None,
    data_dir: Path | None,
    host: str | None,
    port: int | None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> None:
    from playlog import runtime

    settings = settings_of(config, data_dir, host, port, tls_cert=tls_cert, tls_key=tls_key)
    runtime.configure_logging()
    runtime.run(settings, stages)


def up(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    host: HostOpt = None,
    port: PortOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
) -> None:
    """Run every stage in one process (ingest, process, load) until Ctrl-C / SIGTERM."""
    from playlog.runtime import STAGES

    _run_stages(STAGES, config, data_dir, host, port, tls_cert, tls_key)


def ingest(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    host: HostOpt = None,
    port: PortOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
) -> None:
    """Run the HTTP API alone (events, registry, queries)."""
    _run_stages(("ingest",), config, data_dir, host, port, tls_cert, tls_key)


def process(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Run the processor alone: data topic -> batch files -> COPY tasks."""
    _run_stages(("process",), config, data_dir, None, None)


def load(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Run the loader alone: COPY tasks -> warehouse."""
    _run_stages(("load",), config, data_dir, None, None)


def monitor(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Run the end-to-end canary against monitor.ingest_url and serve /metrics."""
    from playlog import runtime

    settings = settings_of(config, data_dir)
    runtime.configure_logging()
    runtime.run_monitor(settings)
