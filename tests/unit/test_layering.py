"""The package boundaries the architecture draws: stages meet only in contracts."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from tests.support.client_only import run_client_only

import playlog

SRC = Path(playlog.__file__).parent


def _package_of(module: str) -> str:
    """``playlog.load.loader`` -> ``load``; top-level modules are their own package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _imports() -> dict[str, set[str]]:
    """Package -> the playlog packages its modules import (at any depth, lazily too)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for path in SRC.rglob("*.py"):
        module = ".".join(("playlog", *path.relative_to(SRC).with_suffix("").parts))
        source = _package_of(module.removesuffix(".__init__"))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                if target.startswith("playlog.") and _package_of(target) != source:
                    edges[source].add(_package_of(target))
    return edges


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_between_packages() -> None:
    assert _cycle(_imports()) is None


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_stages_do_not_import_each_other() -> None:
    # Every stage may report to monitor's metrics; no stage reaches into another.
    stages = {"ingest", "process", "load", "monitor"}
    edges = _imports()
    crossing = {(a, b) for a in stages for b in edges.get(a, set()) & stages if b != "monitor"}
    assert crossing == set()
    assert edges["monitor"] & stages == set()


def test_client_imports_no_columnar_or_warehouse_library() -> None:
    # httpx too: it alone takes most of the tracker's import budget (the admin Client,
    # which uses it, loads it when first named).
    code = (
        "import sys, playlog.client; "
        "print(sorted(m for m in ('pyarrow', 'polars', 'duckdb', 'numpy', 'httpx', 'pydantic') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_admin_client_still_loads_by_its_name() -> None:
    code = "from playlog.client import Client; print(Client.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "playlog.client.admin"


def _import_cpu_seconds(module: str) -> float:
    """The CPU time importing ``module`` takes in a fresh interpreter: wall time on a
    shared machine measures the other processes as much as the import."""
    code = (
        "import time; started = time.process_time(); "
        f"import {module}; print(time.process_time() - started)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(run.stdout)


def test_the_client_imports_in_under_a_fifth_of_a_second() -> None:
    # Measured 0.11-0.13 s CPU (0.10 s wall on a quiet 2-core machine), fastavro included.
    assert min(_import_cpu_seconds("playlog.client") for _ in range(3)) < 0.2


def test_the_client_needs_no_library_but_fastavro() -> None:
    # What the README's client-alone install (`pip install --no-deps`) brings.
    out = run_client_only("import playlog.client; print(sorted(playlog.client.__all__))")
    assert "Tracker" in out


def test_a_client_only_interpreter_refuses_any_other_library() -> None:
    with pytest.raises(AssertionError, match=r"No module named 'cramjam' \(a client-only"):
        run_client_only("import cramjam")
