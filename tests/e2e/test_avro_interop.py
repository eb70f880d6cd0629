"""Files of real Avro writers through the HTTP API of `playlog up`: Avro Java 1.8.2 with
every codec it has (and a header as its generated code writes it, one with a metadata
value that is not UTF-8 and holds the sync marker, and its single-object encoding,
BinaryMessageEncoder), Apache's Python `avro` with every codec it has. Registration
gives Java's fingerprint; every value in the warehouse is exactly what the file holds,
as fastavro reads it (tests/support/writers.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support import writers
from tests.support.events import fresh_game
from tests.support.server import Server

SINGLE_OBJECT = "application/vnd.apache.avro+binary"

# The embedded setup only: the checks' SQL (hex, epoch_us) is DuckDB's; the warehouse
# contract suite covers the type mapping on PostgreSQL.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("shared_server", ["embedded"], indirect=True),
]


def load_and_compare(
    server: Server, writer: str, files: dict[str, Path], java_fingerprints: dict[str, str]
) -> None:
    """Each file to the game of its writer and codec ("single" for single objects; a
    game holds a schema once), under its schema's event type; then every table holds
    exactly its file's rows."""
    sent: list[tuple[str, str, list[list[Any]]]] = []
    keys: dict[str, str] = {}  # game -> its API key
    prefix = fresh_game(writer)  # the server is shared: games of this test's own
    for stem, path in sorted(files.items()):
        name, codec = stem.split("-")
        game = f"{prefix}_{codec}"
        if game not in keys:
            keys[game] = server.game(game)
        response = server.register(game, name, writers.SCHEMAS[name])
        assert response.status_code == 201, (stem, response.text)
        assert response.json()["fingerprint"] == java_fingerprints[name], stem
        content_type = SINGLE_OBJECT if path.suffix == ".bin" else "application/avro"
        response = server.send(game, keys[game], path.read_bytes(), content_type)
        assert response.status_code == 202, (stem, response.text)
        expected = writers.expected_rows(writers.SCHEMAS[name], writers.written(path))
        assert response.json() == {"accepted": len(expected)}, stem
        sent.append((f"{game}.{name}", name, expected))
    for table, name, expected in sent:
        schema = writers.SCHEMAS[name]
        assert server.wait_for_rows(table, len(expected)) == len(expected), table
        rows = server.query(f"select {writers.select_list(schema)} from {table} order by _event_id")
        assert [writers.row_values(schema, row) for row in rows] == expected, table


def test_avro_java_files_of_every_codec_load_exactly(
    shared_server: Server, avro_java: writers.JavaOutput
) -> None:
    assert len(avro_java.files) == 4 * len(writers.JAVA_CODECS) + 2
    files = {**avro_java.files, **avro_java.single}
    load_and_compare(shared_server, "java", files, avro_java.fingerprints)


def test_python_avro_files_of_every_codec_load_exactly(
    shared_server: Server, avro_python: dict[str, Path], avro_java: writers.JavaOutput
) -> None:
    assert len(avro_python) == 4 * len(writers.PYTHON_CODECS)
    load_and_compare(shared_server, "python", avro_python, avro_java.fingerprints)
