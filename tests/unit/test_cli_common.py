"""The commands' shared settings: a flag given is a flag used, even when it is 0."""

from __future__ import annotations

from pathlib import Path

from playlog.cli.common import settings_of
from playlog.ingest.listen import listen


def test_port_0_asks_for_any_free_port(tmp_path: Path) -> None:
    settings = settings_of(None, tmp_path, port=0)
    assert settings.server.port == 0  # not the default 8080
    sock = listen(settings.server.host, settings.server.port)
    try:
        assert sock.getsockname()[1] > 0
    finally:
        sock.close()
    assert settings_of(None, tmp_path).server.port == 8080
