"""``make demo`` on a fresh machine installs for about two minutes: it must show that
it is working (a line per step and pip's own progress), not sit silent."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_install_shows_its_progress(tmp_path: Path) -> None:
    # What `make demo` would run on a machine without .venv (-n: print, run nothing).
    dry = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "demo", f"VENV={tmp_path / 'venv'}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    steps = [line for line in dry.splitlines() if line.startswith("echo")]
    assert len(steps) == 3 and "[3/3] installing playlog" in steps[2]
    installs = [line for line in dry.splitlines() if "pip install -e ." in line]
    assert len(installs) == 1 and " -q" not in installs[0]
