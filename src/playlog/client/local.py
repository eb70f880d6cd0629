"""Where the running server is and its admin key, for commands on the same machine."""

from __future__ import annotations

import json
import os
from pathlib import Path

from playlog.contracts import server_file


def server_url(data_dir: Path, explicit: str | None = None) -> str | None:
    """--url, else PLAYLOG_URL, else what a running server wrote in the data dir."""
    if explicit:
        return explicit.rstrip("/")
    if os.environ.get("PLAYLOG_URL"):
        return os.environ["PLAYLOG_URL"].rstrip("/")
    marker = server_file(data_dir)
    try:
        found = json.loads(marker.read_text())
        os.kill(int(found["pid"]), 0)  # a marker left by a killed server is stale
        return str(found["url"])
    except (OSError, ValueError, KeyError):
        return None


def admin_key_of(data_dir: Path) -> str | None:
    if os.environ.get("PLAYLOG_ADMIN_KEY"):
        return os.environ["PLAYLOG_ADMIN_KEY"]
    path = data_dir / "admin_key"
    return path.read_text().strip() if path.exists() else None
