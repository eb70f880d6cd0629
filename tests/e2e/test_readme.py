"""The README's "Send your own event type" section, run as a new user would: its two
shell blocks, one after the other, in a fresh directory, against the ``playlog up``
the first block starts. Only what a user would change is changed: the port (8080 may
be taken on this machine), the key a user pastes where the README says ``pl_...``,
and a wait for the server after ``playlog up &`` (a user types slower than bash)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from playlog.cli.demo import free_port
from tests.support import processes
from tests.support.deadline import scaled, wait_until

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
PASTE_KEY = """$(playlog game key mygame | python -c 'import json, sys; print(json.load(sys.stdin)["api_key"])')"""  # noqa: E501


def section_blocks() -> list[str]:
    section = README.read_text().split("## Send your own event type\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def as_script(blocks: list[str], port: int) -> str:
    own, over_http = blocks
    lines = [line for line in own.splitlines() if line != "source .venv/bin/activate"]
    assert lines[0].startswith("playlog up &"), lines[0]
    lines[0] = (
        f"playlog up --port {port} >up.log 2>&1 &\n"  # not our pipe: it outlives bash
        "until playlog status >/dev/null 2>&1; do sleep 0.2; done"
    )
    script = "\n".join(lines).replace("PLAYLOG_GAME_KEY=pl_...", f"PLAYLOG_GAME_KEY={PASTE_KEY}")
    return (
        "set -euo pipefail\n"
        # the virtualenv's commands, as `source .venv/bin/activate` would give them
        f'playlog() {{ "{sys.executable}" -m playlog "$@"; }}\n'
        f'python() {{ "{sys.executable}" "$@"; }}\n'
        f"{script}\n{over_http.replace('localhost:8080', f'localhost:{port}')}"
    )


def test_the_readme_sections_run_as_written(tmp_path: Path) -> None:
    blocks = section_blocks()
    assert len(blocks) == 2 and "$GAME_KEY" in blocks[1]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYLOG_")}
    shell = processes.spawn(
        "readme", ["bash", "-c", as_script(blocks, port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        out = shell.communicate(timeout=scaled(180))[0].decode()
        assert shell.returncode == 0, out
        assert '"accepted":1' in out  # the curl's answer
        assert out.count('"api_key"') >= 2  # the created game's, and othergame's

        def sql(query: str) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "playlog", "sql", query, "--data-dir", ".playlog"],
                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=scaled(60),
            )  # fmt: skip
            return done.stdout

        rows = "select player from mygame.levelup"
        wait_until(lambda: "(2 rows)" in sql(rows), 90, "both events loaded", interval=0.5)
        players = sql("select player, level from mygame.levelup order by level")
        assert re.search(r"ann\s+│\s+3", players) and re.search(r"bo\s+│\s+4", players)
    finally:
        processes.release(shell.pid, grace=30)  # the `playlog up &` of the README too
