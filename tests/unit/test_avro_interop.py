"""Files of real Avro writers -- Avro Java 1.8.2 (every codec it has, a header as its
generated code writes it, and one whose metadata is not UTF-8 and holds the sync
marker) and Apache's Python `avro` package -- through the processor's columnar fast
path and row by row: the batch file holds exactly what the file holds, as fastavro
reads it (tests/support/writers.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import fastavro
import pytest
from tests.support import writers
from tests.support.columnar import batch_file, watch_groups

from playlog.avro.schema import EventSchema, fingerprint_of
from playlog.contracts import FORMAT_OCF, FORMAT_SINGLE_OBJECT
from playlog.log.base import Record
from playlog.storage.local import LocalStore

# plus a header as Java's generated code writes it ("avro.java.string" on its strings)
# and one with a metadata value that is not UTF-8 and holds the sync marker
JAVA = [f"{s}-{c}" for s in writers.SCHEMAS for c in writers.JAVA_CODECS]
JAVA += ["columnar-javastring", "weather-syncinmeta"]
PYTHON = [f"{s}-{c}" for s in writers.SCHEMAS for c in writers.PYTHON_CODECS]
PATHS = ["fast", "rows"]


# Documented to go row by row: decimals, times and uuids (interop), unions of several
# types and recursive records (avrointerop)
COLUMNAR = {"interop": False, "columnar": True, "avrointerop": False, "weather": True}


def batch_file_rows(
    path: Path, fast: bool, tmp_path: Path, registered: str | None = None
) -> tuple[list[list[object]], int]:
    """``path``'s containers (or single objects) through the processor, its schema
    registered as the .avsc spells it (or as ``registered``): the batch file's rows, in
    the schema's field order and ``writers.comparable`` form, and how many container
    groups the columnar path decoded."""
    schema = writers.SCHEMAS[path.stem.split("-")[0]]
    text = registered or json.dumps(schema)
    event_schema = EventSchema("g", schema["name"].lower(), 1, fingerprint_of(text), text)
    fmt = FORMAT_SINGLE_OBJECT if path.suffix == ".bin" else FORMAT_OCF
    headers = {"game": "g", "format": fmt, "received_at_ms": "1700000000000"}
    record = Record("events", 0, 9, b"g", path.read_bytes(), headers, 0)
    with pytest.MonkeyPatch.context() as patch:
        groups = watch_groups(patch)
        table, _ = batch_file(LocalStore(tmp_path), [record], event_schema, fast)
    names = [f["name"] for f in schema["fields"]]
    columns = [table.column(name.lower()).to_pylist() for name in names]
    rows = [writers.row_values(schema, list(row)) for row in zip(*columns, strict=True)]
    return rows, groups.count("columnar")


def assert_exact(path: Path, fast: bool, tmp_path: Path, registered: str | None = None) -> None:
    name = path.stem.split("-")[0]
    schema = writers.SCHEMAS[name]
    expected = writers.expected_rows(schema, writers.written(path))
    assert len(expected) in (writers.ROWS, len(writers.WEATHER_ROWS))
    rows, columnar_groups = batch_file_rows(path, fast, tmp_path, registered)
    assert rows == expected
    assert columnar_groups == (1 if fast and COLUMNAR[name] else 0)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", JAVA)
def test_avro_java_files_reach_the_batch_file_exactly(
    avro_java: writers.JavaOutput, name: str, path: str, tmp_path: Path
) -> None:
    assert_exact(avro_java.files[name], path == "fast", tmp_path)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", PYTHON)
def test_python_avro_files_reach_the_batch_file_exactly(
    avro_python: dict[str, Path], name: str, path: str, tmp_path: Path
) -> None:
    assert_exact(avro_python[name], path == "fast", tmp_path)


@pytest.mark.parametrize("path", PATHS)
def test_a_schema_registered_as_java_generated_code_spells_it_loads_exactly(
    avro_java: writers.JavaOutput, path: str, tmp_path: Path
) -> None:
    file = avro_java.files["columnar-javastring"]
    header = fastavro.reader(io.BytesIO(file.read_bytes())).metadata["avro.schema"]
    assert '"avro.java.string":"String"' in header
    assert_exact(file, path == "fast", tmp_path, registered=header)


@pytest.mark.parametrize("name", list(writers.SCHEMAS))
def test_avro_java_single_objects_reach_the_batch_file_exactly(
    avro_java: writers.JavaOutput, name: str, tmp_path: Path
) -> None:
    """Java's BinaryMessageEncoder: its headers name playlog's fingerprint, and the
    rows are the same as its container files'."""
    single = avro_java.single[f"{name}-single"]
    fingerprint = fingerprint_of(json.dumps(writers.SCHEMAS[name]))
    assert single.read_bytes()[:10] == b"\xc3\x01" + bytes.fromhex(fingerprint)
    ocf_rows = writers.written(avro_java.files[f"{name}-null"])
    assert writers.written(single) == ocf_rows
    rows, columnar_groups = batch_file_rows(single, True, tmp_path)
    assert (rows, columnar_groups) == (writers.expected_rows(writers.SCHEMAS[name], ocf_rows), 0)


def test_fingerprints_equal_avro_javas(avro_java: writers.JavaOutput) -> None:
    """playlog's schema hash is Java's SchemaNormalization.parsingFingerprint64."""
    mine = {name: fingerprint_of(json.dumps(s)) for name, s in writers.SCHEMAS.items()}
    assert mine == avro_java.fingerprints


def test_the_weather_files_hold_avros_own_readings(avro_java: writers.JavaOutput) -> None:
    """The reference reader agrees with the writer on what it wrote (a check of the
    check): Avro's weather readings, also behind a header fastavro cannot decode."""
    for name in ("weather-snappy", "weather-syncinmeta"):
        assert writers.written(avro_java.files[name]) == writers.WEATHER_ROWS
