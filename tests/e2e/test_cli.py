"""The ``playlog`` command against a running ``playlog up``: the README's "Send your
own event type" flow, its error messages, and ``sql`` straight from the DuckDB file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.deadline import scaled
from tests.support.events import fresh_game
from tests.support.server import ADMIN_KEY, Server

pytestmark = pytest.mark.e2e

# The README's levelup.avsc, as written there.
LEVELUP_AVSC = """\
{"type": "record", "name": "levelup", "fields": [
  {"name": "player", "type": "string"},
  {"name": "level", "type": "int"},
  {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}}]}
"""
README_LINE = (
    '{"event_type": "levelup", "data": {"player": "ann", "level": 3, '
    '"ts": "2026-11-26T10:00:00Z"}}\n'
)
FILE_LINES = (
    '{"event_type": "levelup", "data": {"player": "bo", "level": 4, "ts": 1795687200000}}\n'
    "\n"  # blank lines are skipped
    '{"event_type": "levelup", "data": {"player": "cy", "level": 5, "ts": 1795687260000}}\n'
)


def playlog(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYLOG_")}
    env["PLAYLOG_ADMIN_KEY"] = ADMIN_KEY
    return subprocess.run(
        [sys.executable, "-m", "playlog", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=scaled(60),
    )


def ok(*args: str, stdin: str | None = None) -> str:
    done = playlog(*args, stdin=stdin)
    assert done.returncode == 0, f"playlog {args} failed:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    return done.stdout


def wait_for_rows(server: Server, table: str, expected: int) -> None:
    assert server.wait_for_rows(table, expected) == expected  # exactly once


def create_game_and_schema(server: Server, tmp_path: Path, game: str) -> tuple[str, dict[str, Any]]:
    created = json.loads(ok("game", "create", game, "--url", server.url))
    assert created["game"] == game and created["api_key"].startswith("pl_")
    schema_file = tmp_path / "levelup.avsc"
    schema_file.write_text(LEVELUP_AVSC)
    registered = json.loads(
        ok("schema", "register", game, "levelup", str(schema_file), "--url", server.url)
    )
    return str(created["api_key"]), registered


def test_readme_flow_from_game_to_sql(shared_server: Server, tmp_path: Path) -> None:
    server, game = shared_server, fresh_game("mygame")
    key, registered = create_game_and_schema(server, tmp_path, game)
    assert registered["table"] == f"{game}.levelup" and registered["version"] == 1
    assert len(registered["fingerprint"]) == 16

    out = ok("send", game, "--key", key, "--url", server.url, stdin=README_LINE)
    assert "accepted 1 events" in out
    lines = tmp_path / "events.jsonl"
    lines.write_text(FILE_LINES)
    out = ok("send", game, str(lines), "--key", key, "--url", server.url)
    assert "accepted 2 events" in out

    wait_for_rows(server, f"{game}.levelup", 3)
    out = ok(
        "sql",
        f"select player, level, ts, _schema_hash from {game}.levelup order by level",
        "--url",
        server.url,
    )
    rows = [line for line in out.splitlines() if "ann" in line or "bo" in line or "cy" in line]
    assert len(rows) == 3, out
    for row, (player, level, ts) in zip(
        rows,
        [("ann", 3, "10:00:00"), ("bo", 4, "10:00:00"), ("cy", 5, "10:01:00")],
        strict=True,
    ):
        cells = [c.strip() for c in row.strip("│ ").split("│")]
        assert cells[:2] == [player, str(level)]
        assert "2026-11-26" in cells[2] and ts in cells[2]
        assert cells[3] == registered["fingerprint"]  # the hash in full, never cut
    assert "(3 rows)" in out

    # the README's exact query works too, values in full even when piped
    out = ok("sql", f"select * from {game}.levelup", "--url", server.url)
    assert registered["fingerprint"] in out and "(3 rows)" in out

    status = json.loads(ok("status", "--json", "--url", server.url))
    assert status["ready"] is True and status["url"] == server.url


@pytest.mark.parametrize("server", ["embedded"], indirect=True)  # the DuckDB file
def test_sql_without_a_server_reads_the_duckdb_file(server: Server, tmp_path: Path) -> None:
    key, registered = create_game_and_schema(server, tmp_path, "mygame")
    ok("send", "mygame", "--key", key, "--url", server.url, stdin=README_LINE)
    wait_for_rows(server, "mygame.levelup", 1)
    assert server.stop() == 0

    out = ok(
        "sql",
        "select player, level, _schema_hash from mygame.levelup",
        "--data-dir",
        str(server.data_dir),
    )
    assert "ann" in out and registered["fingerprint"] in out and "(1 row)" in out


def test_refused_commands_exit_1_with_a_clear_message(
    shared_server: Server, tmp_path: Path
) -> None:
    server, game = shared_server, fresh_game("mygame")
    key, _ = create_game_and_schema(server, tmp_path, game)

    done = playlog("sql", f"delete from {game}.levelup", "--url", server.url)
    assert done.returncode == 1
    assert "only a single read-only SELECT" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout

    bad = tmp_path / "bad.jsonl"
    bad.write_text(README_LINE + "\n{not json\n" + README_LINE)
    done = playlog("send", game, str(bad), "--key", key, "--url", server.url)
    assert done.returncode == 1
    assert "line 3 is not JSON" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "accepted" not in done.stdout

    done = playlog(
        "send", game, "--key", key, "--url", server.url, stdin=README_LINE.replace("3", '"3"')
    )
    assert done.returncode == 1
    assert "level" in done.stderr  # the server's reason names the field
    assert "Traceback" not in done.stderr + done.stdout
