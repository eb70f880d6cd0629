"""The operator's commands against a running ``playlog up``: ``status`` (table and
JSON), ``game list``/``game delete``, ``sql`` truncation and formatting on both paths,
``loadtest`` cleaning up after itself, and one-line errors for every user mistake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from playlog.cli.demo import free_port
from playlog.monitor.canary import CANARY_TYPE
from playlog.names import CANARY_GAME
from tests.e2e.test_cli import README_LINE, create_game_and_schema, ok, playlog, wait_for_rows
from tests.support.deadline import scaled, wait_until
from tests.support.events import fresh_game
from tests.support.server import PACE_ENV, Server

pytestmark = pytest.mark.e2e


def one_line_error(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_status_shows_stages_lag_tables_and_failed_counts(
    shared_server: Server, tmp_path: Path
) -> None:
    server, game = shared_server, fresh_game("st")
    key, _ = create_game_and_schema(server, tmp_path, game)
    ok("send", game, "--key", key, "--url", server.url, stdin=README_LINE)
    wait_for_rows(server, f"{game}.levelup", 1)

    def report_with_lag() -> dict[str, Any] | None:
        found: dict[str, Any] = json.loads(ok("status", "--json", "--url", server.url))
        return found if len(found.get("lag", [])) == 2 else None  # observed every few s

    report = wait_until(report_with_lag, 60, "lag of both consumer groups", interval=0.5)
    assert report is not None
    assert report["ready"] is True and report["url"] == server.url
    assert report["checks"]["log"] == "ok" and report["checks"]["warehouse"] == "ok"
    assert {"ingest", "process", "load"} <= set(report["stages"])
    assert report["loader"]["state"] == "consuming"
    groups = {lag["consumer"].split(" on ")[0] for lag in report["lag"]}
    # playlog-process/-load by default, the configured groups on the cluster setup
    kinds = sorted("process" if "process" in g else "load" if "load" in g else g for g in groups)
    assert kinds == ["load", "process"], groups
    (mine,) = [t for t in report["tables"] if t["table"] == f"{game}.levelup"]
    assert mine["rows"] == 1 and mine["failed"] == 0 and mine["stale"] is False
    assert "history" not in report  # the page's charts are no terminal's business

    table = ok("status", "--url", server.url)
    assert f"playlog at {server.url}: ready" in table
    assert f"{game}.levelup" in table and "consuming" in table
    for title in ("stages", "lag", "tables"):
        assert title in table


def test_status_without_the_admin_key_shows_readiness_and_why_no_more(
    shared_server: Server, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYLOG_")}
    done = subprocess.run(
        [sys.executable, "-m", "playlog", "status", "--json", "--url", shared_server.url,
         "--data-dir", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=scaled(60),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ready"] is True and "admin key" in report["status_error"]
    assert "tables" not in report


def test_game_delete_asks_then_drops_tables_and_keys(shared_server: Server, tmp_path: Path) -> None:
    server, game = shared_server, fresh_game("del")
    key, _ = create_game_and_schema(server, tmp_path, game)
    ok("send", game, "--key", key, "--url", server.url, stdin=README_LINE)
    wait_for_rows(server, f"{game}.levelup", 1)
    assert game in ok("game", "list", "--url", server.url).split()

    declined = playlog("game", "delete", game, "--url", server.url, stdin="n\n")
    assert declined.returncode == 1 and "Aborted" in declined.stdout + declined.stderr
    assert server.count(f"{game}.levelup") == 1  # nothing changed

    out = ok("game", "delete", game, "--yes", "--url", server.url)
    assert f"deleted game {game} (tables dropped: {game}.levelup)" in out
    listed = ok("game", "list", "--url", server.url).split()
    assert game not in listed and "playlog_canary" not in listed
    gone = playlog("sql", f"select * from {game}.levelup", "--url", server.url)
    # the database's message, with its own pointer into the SQL under the first line
    assert gone.returncode == 1 and gone.stderr.startswith("error: query failed")
    assert "does not exist" in gone.stderr and "Traceback" not in gone.stderr
    refused = playlog("send", game, "--key", key, "--url", server.url, stdin=README_LINE)
    one_line_error(refused)
    one_line_error(playlog("game", "delete", game, "--yes", "--url", server.url), "no game")


def test_sql_says_when_it_cut_the_result(shared_server: Server) -> None:
    out = ok("sql", "select * from generate_series(1, 10001)", "--url", shared_server.url)
    assert "(10000 rows) truncated: more rows exist" in out
    out = ok("sql", "select * from generate_series(1, 10000)", "--url", shared_server.url)
    assert out.rstrip().endswith("(10000 rows)")


@pytest.mark.parametrize("server", ["embedded"], indirect=True)  # the DuckDB file
def test_sql_prints_values_alike_through_the_server_and_from_the_file(
    server: Server, tmp_path: Path
) -> None:
    key, _ = create_game_and_schema(server, tmp_path, "mygame")
    ok("send", "mygame", "--key", key, "--url", server.url, stdin=README_LINE)
    wait_for_rows(server, "mygame.levelup", 1)
    query = "select player, level, ts, cast(ts as date) as day, null as nothing from mygame.levelup"
    served = ok("sql", query, "--url", server.url)
    assert "2026-11-26T10:00:00" in served and "NULL" in served
    assert server.stop() == 0

    from_file = ok("sql", query, "--data-dir", str(server.data_dir))
    assert from_file == served
    cut = ok("sql", "select * from generate_series(1, 10001)", "--data-dir", str(server.data_dir))
    assert "(10000 rows) truncated" in cut


def test_loadtest_shows_progress_and_deletes_its_game(shared_server: Server) -> None:
    args = ("loadtest", "--seconds", "2", "--event-types", "2", "--events-per-request", "50")

    def game_of(out: str) -> str:
        game = out.split("game ", 1)[1].split(":", 1)[0]
        assert game.startswith("load"), out
        return game

    out = ok(*args, "--url", shared_server.url)
    game = game_of(out)
    assert "events accepted" in out
    assert f"deleted game {game} and its tables" in out and "loaded:" in out
    assert game not in ok("game", "list", "--url", shared_server.url).split()

    kept = ok(*args, "--keep", "--url", shared_server.url)
    game = game_of(kept)
    assert f"kept game {game}" in kept
    assert game in ok("game", "list", "--url", shared_server.url).split()
    ok("game", "delete", game, "--yes", "--url", shared_server.url)


def test_every_user_mistake_is_one_line(shared_server: Server, tmp_path: Path) -> None:
    url, game = shared_server.url, fresh_game("err")
    create_game_and_schema(shared_server, tmp_path, game)
    nowhere = f"http://127.0.0.1:{free_port()}"
    missing = str(tmp_path / "missing.avsc")
    binary = tmp_path / "binary.avsc"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    bad_port = tmp_path / "bad_port.toml"
    bad_port.write_text('[server]\nport = "x"\n')
    cases = [
        (("schema", "register", game, "levelup", missing, "--url", url), [missing]),
        (("schema", "register", game, "levelup", str(binary), "--url", url), ["not a text"]),
        (("schema", "register", game, "levelup", str(tmp_path), "--url", url), [str(tmp_path)]),
        (("send", game, missing, "--key", "pl_x_y", "--url", url), [missing]),
        (("send", game, "--url", url), ["PLAYLOG_GAME_KEY"]),
        (("game", "create", "Bad-Name", "--url", url), ["game"]),
        (("game", "create", game, "--url", url), ["exists already"]),
        (("game", "key", "nosuch", "--url", url), ["no game"]),
        (("game", "list", "--url", nowhere), ["cannot reach playlog"]),
        (("status", "--url", nowhere), ["cannot reach playlog"]),
        (("sql", "select 1", "--data-dir", str(tmp_path / "empty")), ["no warehouse"]),
        (("failed", "--since", "yesterday", "--url", url), ["--since"]),
        (("up", "--config", str(tmp_path / "missing.toml")), ["missing.toml"]),
        (("up", "--config", str(bad_port)), ["server.port: Input should be a valid integer"]),
        (("up", "--port", "99999", "--data-dir", str(tmp_path)), ["server.port", "65535"]),
        (("up", "--host", "256.1.1.1", "--data-dir", str(tmp_path / "up")), ["cannot listen on"]),
    ]
    # Each case is a process of its own that changes nothing: run them side by side
    # (mostly Python starting up), check each as before.
    with ThreadPoolExecutor(4) as pool:
        done = list(pool.map(lambda case: playlog(*case[0]), cases))
    for (_, needles), result in zip(cases, done, strict=True):
        one_line_error(result, *needles)


def _start_up(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYLOG_")}
    env.update(PACE_ENV)
    env["PLAYLOG_MONITOR__HEARTBEAT_INTERVAL_S"] = "0.2"  # many beats: none may log at INFO
    env["PLAYLOG_MONITOR__CANARY_INTERVAL_S"] = "0.5"
    command = [sys.executable, "-m", "playlog", "up", "--data-dir", str(data_dir)]
    return subprocess.Popen(
        [*command, "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip


def _lines_until(child: subprocess.Popen[str], needle: str) -> list[str]:
    assert child.stdout is not None
    lines = []
    for line in child.stdout:
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} never came:\n{''.join(lines)}")


def _stop(child: subprocess.Popen[str]) -> list[str]:
    child.terminate()
    out, _ = child.communicate(timeout=scaled(90))
    assert child.returncode == 0, out
    return out.splitlines()


def test_up_says_where_the_admin_key_is_refuses_a_taken_port_and_logs_changes_only(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    first = _start_up(data_dir, 0)  # any free port: no race with other processes for one
    try:
        started = _lines_until(first, "serving on")
        port = int(started[-1].rsplit(":", 1)[1])
        stored = data_dir / "admin_key"
        said = [line for line in started if line.startswith("admin key")]
        assert said == [f"admin key (shown once, stored in {stored}): {stored.read_text()}"]

        clash = subprocess.run(
            [sys.executable, "-m", "playlog", "up", "--data-dir", str(tmp_path / "other"),
             "--port", str(port)],
            capture_output=True, text=True, timeout=scaled(60),
        )  # fmt: skip
        one_line_error(clash, "address in use", str(port))
        assert "stopped cleanly" not in clash.stderr

        # Three canaries (one row each): two arrivals after the first, and a dozen
        # heartbeats meanwhile, none of which may log at INFO.
        admin = {"Authorization": f"Bearer {stored.read_text().strip()}"}
        sql = {"sql": f"select count(*) from {CANARY_GAME}.{CANARY_TYPE}"}

        def canaries() -> int:
            found = httpx.post(f"http://127.0.0.1:{port}/v1/query", json=sql, headers=admin)
            return int(found.json()["rows"][0][0]) if found.status_code == 200 else 0

        wait_until(lambda: canaries() >= 3, 60, "three canaries", interval=0.2)
    finally:
        later = _stop(first)
    info = [line for line in later if "level=INFO" in line]
    assert not [line for line in info if "heartbeat" in line or "batch done" in line], info
    assert len([line for line in info if "canary arrived" in line]) <= 1, info

    again = _start_up(data_dir, 0)
    try:
        said = [line for line in _lines_until(again, "serving on") if "admin key" in line]
        assert said == [f"admin key: in {stored}\n"]
    finally:
        _stop(again)
