"""``playlog --help`` answers at once: it loads no runtime and no heavy library (the
commands import what they need when they run)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = {"pyarrow", "polars", "duckdb", "numpy", "uvicorn", "fastavro", "httpx"}


def _imported(*args: str) -> set[str]:
    """The top-level packages that ``python -m playlog ARGS`` imports."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "playlog", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Usage" in run.stdout
    lines = [line for line in run.stderr.splitlines() if line.startswith("import time:")]
    assert lines, "no -X importtime output"
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in lines}


def test_help_imports_no_heavy_library() -> None:
    imported = _imported("--help")
    assert "typer" in imported  # the check sees imports at all
    assert imported & (HEAVY | {"pydantic"}) == set()  # no settings either


def test_help_of_a_command_imports_no_heavy_library() -> None:
    # (typer itself loads pydantic for a command's help)
    assert _imported("up", "--help") & HEAVY == set()
    assert _imported("sql", "--help") & HEAVY == set()
    assert _imported("loadtest", "--help") & HEAVY == set()  # its OCF encoder is the client's
