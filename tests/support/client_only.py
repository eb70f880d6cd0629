"""Python code run as a client-only install would: importing anything outside the
standard library, playlog and fastavro fails, as it would after
``pip install --no-deps playlog fastavro`` (the README's client-alone install)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import playlog

CLIENT_DEPENDENCIES = ("fastavro",)

_PRELUDE = f"""
import importlib.abc, sys

class ClientOnlyInstall(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        top = name.partition(".")[0]
        if top in sys.stdlib_module_names or top in ("playlog", *{CLIENT_DEPENDENCIES!r}):
            return None
        raise ModuleNotFoundError(f"No module named {{name!r}} (a client-only install)", name=name)

sys.meta_path.insert(0, ClientOnlyInstall())
"""


def run_client_only(code: str, timeout_s: float = 120) -> str:
    """Run ``code`` in a fresh interpreter limited to the client's dependencies; its
    standard output (a failure raises with its standard error)."""
    src = str(Path(playlog.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": src}  # playlog only: not the tests' helpers
    done = subprocess.run(
        [sys.executable, "-c", _PRELUDE + code],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout_s,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout
