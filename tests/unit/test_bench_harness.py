"""The benchmarks' own arithmetic (benchmarks/, run by `make bench`): what a request
body says it carries is what it holds, and the rate windows pick the right samples."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from playlog.avro.ocf import walk

sys.path.append(str(Path(__file__).resolve().parents[2] / "benchmarks"))  # after the stdlib

import freshness
import harness
import sustained


def test_request_bodies_count_their_events_per_type() -> None:
    bodies = harness.request_bodies(70, count=8, containers=5, per=100)
    assert len(bodies) == 8
    for body in bodies:
        held = Counter[str]()
        for container in walk(body.data):
            held[json.loads(container.schema_json)["name"]] += container.count
        assert dict(held) == body.per_type
        assert body.events == 500


def test_one_type_in_seven_has_the_string_default() -> None:
    with_region = [i for i in range(70) if len(harness.mix_schema(i)["fields"]) == 8]
    assert with_region == list(range(6, 70, 7))  # ten types; type 0 (P5's one) has none
    assert harness.mix_schema(6)["fields"][-1] == {
        "name": "region",
        "type": "string",
        "default": "eu",
    }


def test_rate_over_the_last_window() -> None:
    samples = [(0.0, 0), (30.0, 300), (60.0, 900), (90.0, 1500)]
    assert sustained._rate_over_last(samples, 60.0) == (1500 - 300) / 60
    assert sustained._rate_over_last(samples, 500.0) == 1500 / 90  # shorter run: all of it
    assert sustained._rate_over_last([(5.0, 10)], 60.0) == 0.0


def test_percentile_is_a_measured_value() -> None:
    lags = [float(i) for i in range(1, 101)]
    assert freshness._percentile(lags, 0.5) == 51.0
    assert freshness._percentile(lags, 0.99) == 99.0
    assert freshness._percentile([3.0], 0.99) == 3.0


def test_figure_cells_show_the_goal_and_verdict() -> None:
    assert harness.Figure("P5", 0.754, "", "≥ 0.8", False).cells() == ["P5", "0.75", "≥ 0.8", "NO"]
    assert harness.Figure("P1", 252_345.6, "events/s", "≥ 250,000", True).cells()[1:] == [
        "252,346 events/s",
        "≥ 250,000",
        "yes",
    ]


def test_every_benchmark_script_imports() -> None:
    """`make bench` runs them only there: a moved name must fail here first (shapes.py
    imported ocf_body from where it no longer lives)."""
    import importlib

    folder = Path(__file__).resolve().parents[2] / "benchmarks"
    for script in sorted(folder.glob("*.py")):
        importlib.import_module(script.stem)
