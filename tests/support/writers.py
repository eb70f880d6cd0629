"""Object Container Files written by real Avro writers, generated at test time (nothing
fetched is committed): Avro Java 1.8.2 (Debian's libavro-java; interop/AvroWriter.java,
compiled once per session) and Apache's Python `avro` package. Plus what it takes to
check a loaded file exactly: the file's own values read back by fastavro (or, where
fastavro cannot read the header, by `avro`), in one comparable form."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import fastavro
import pytest

from tests.support import apt

HERE = Path(__file__).parent / "interop"
# interop: the common types and the logical types Avro Java 1.8 writes; columnar: its
# fields of the types the columnar fast path takes; avrointerop and weather: those of
# Avro's own test files.
SCHEMAS = {
    name: json.loads((HERE / f"{name}.avsc").read_text())
    for name in ("interop", "columnar", "avrointerop", "weather")
}
ROWS = 300
JARS = "/usr/share/java"
CLASSPATH = [
    f"{JARS}/{name}.jar"
    for name in ("avro", "jackson-core-asl", "jackson-mapper-asl", "snappy-java", "xz",
                 "commons-compress", "slf4j-api", "slf4j-nop", "paranamer")
]  # fmt: skip
JAVA_CODECS = ("null", "deflate", "snappy", "bzip2", "xz")  # Avro 1.8.2: zstandard came in 1.9
PYTHON_CODECS = ("null", "deflate", "snappy", "zstandard", "bzip2")  # avro 1.12: no xz
RUN_S = 120


@dataclass(frozen=True)
class JavaOutput:
    files: dict[str, Path]  # "interop-snappy" -> its container file
    single: dict[str, Path]  # "interop-single" -> its rows single-object encoded
    fingerprints: dict[str, str]  # schema name -> parsingFingerprint64, single-object order


def java_files(out: Path) -> JavaOutput:
    """Compile AvroWriter.java and run it into ``out``; skips with the reason where Avro
    Java or a JDK is missing and cannot be installed."""
    if shutil.which("javac") is None or shutil.which("java") is None:
        pytest.skip("no JDK (javac, java) on this machine")
    if not all(Path(jar).exists() for jar in CLASSPATH):
        reason = apt.install(["libavro-java"])  # pulls in its codecs' jars
        if not all(Path(jar).exists() for jar in CLASSPATH):
            pytest.skip(reason or "libavro-java's jars not found after installing")
    classpath = os.pathsep.join(CLASSPATH)
    source = HERE / "AvroWriter.java"
    _run(["javac", "-d", str(out), "-cp", classpath, str(source)])
    args = [str(out), str(HERE), str(ROWS)]
    lines = _run(["java", "-cp", os.pathsep.join([str(out), classpath]), "AvroWriter", *args])
    files, single, fingerprints = {}, {}, {}
    for line in lines.splitlines():
        kind, *rest = line.split()
        path = Path(rest[0])
        if kind == "file" and path.suffix == ".avro":
            files[path.stem] = path
        elif kind == "file":
            single[path.stem] = path
        elif kind == "fingerprint":
            fingerprints[rest[0]] = rest[1]
    return JavaOutput(files, single, fingerprints)


def _run(args: list[str]) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=RUN_S)
    assert done.returncode == 0, f"{args[0]} failed: {done.stderr[-2000:]}"
    return done.stdout


def python_avro_files(out: Path) -> dict[str, Path]:
    """One file per schema and codec of Apache's Python ``avro`` package."""
    import avro.datafile
    import avro.io
    import avro.schema

    files = {}
    for name, schema in SCHEMAS.items():
        parsed = avro.schema.parse(json.dumps(schema))
        rows = {"weather": WEATHER_ROWS, "avrointerop": avro_interop_rows(ROWS)}.get(name)
        rows = rows or interop_rows(ROWS)
        for codec in PYTHON_CODECS:
            path = out / f"{name}-{codec}.avro"
            with path.open("wb") as f:
                writer = avro.datafile.DataFileWriter(f, avro.io.DatumWriter(), parsed, codec)
                for row in rows:
                    writer.append({f["name"]: row[f["name"]] for f in schema["fields"]})
                writer.close()
            files[path.stem] = path
    return files


# Avro's weather test files' five readings
WEATHER_ROWS = [
    {"station": station, "time": time, "temp": temp}
    for station, time, temp in [
        ("011990-99999", -619524000000, 0),
        ("011990-99999", -619506000000, 22),
        ("011990-99999", -619484400000, -11),
        ("012650-99999", -655531200000, 111),
        ("012650-99999", -655509600000, 78),
    ]
]
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def interop_rows(count: int) -> list[dict[str, Any]]:
    """interop rows as the Python ``avro`` package takes them (its logical types as
    Python objects): the extremes first, then a spread, like AvroWriter.java's."""
    return [_interop_row(i) for i in range(count)]


def _interop_row(i: int) -> dict[str, Any]:
    at = dt.datetime(1, 1, 1, tzinfo=dt.UTC) if i == 0 else EPOCH + dt.timedelta(
        milliseconds=1_764_151_200_000 + (i - 150) * 3_600_123_457)  # fmt: skip
    return {
        "id": [-(2**63), 2**63 - 1][i] if i < 2 else i * 1_000_000_007,
        "flag": i % 2 == 0,
        "level": [-(2**31), 2**31 - 1][i] if i < 2 else -i,
        "score": i * 0.25 - 3.5,
        "ratio": 1.7976931348623157e308 if i == 1 else i / 7,
        "player": "" if i == 0 else f"plàyer-{i} 🎮",
        "payload": bytes((i * 31 + k * 97) % 256 for k in range(i % 5)),
        "kind": ("ALPHA", "BETA", "GAMMA")[i % 3],
        "tag": bytes([i % 256, (i >> 8) % 256, 0xFF, 0]),
        "price": Decimal("-9999999999.99") if i == 0 else Decimal(i * 12345 - 99999) / 100,
        "amount": Decimal("99999999999999.9999") if i == 0 else Decimal(-i * 7_654_321) / 10_000,
        "day": dt.date(1970, 1, 1) + dt.timedelta(days=i * 1000 - 40_000),
        "at_ms": at,
        "at_us": at + dt.timedelta(microseconds=i),
        "clock_ms": _clock(i * 1_234_567 % 86_400_000 * 1000),
        "clock_us": _clock(i * 1_234_567_891 % 86_400_000_000),
        "session": str(uuid.uuid5(uuid.NAMESPACE_OID, f"session {i}")),  # avro takes text
        "pos": {"x": i * 0.5, "zone": f'zone "{i % 4}"'},
        "items": [f"item-{k}" for k in range(i % 4)],
        "counters": {f"c{k}": i * k - 5 for k in range(i % 3)},
        "note": None if i % 3 == 0 else f"note {i}",
        "bonus": None if i % 2 == 0 else i,
        "currency": ("EUR", "USD", "JPY")[i % 3],
    }


def avro_interop_rows(count: int) -> list[dict[str, Any]]:
    """avrointerop rows, like AvroWriter.java's."""
    return [_avro_interop_row(i) for i in range(count)]


def _avro_interop_row(i: int) -> dict[str, Any]:
    return {
        "intField": i - 2,
        "longField": -i * 10**12,
        "stringField": f"ström {i}",
        "boolField": i % 2 == 1,
        "floatField": i * 1.5,
        "doubleField": -i / 3,
        "bytesField": bytes([i % 256, 0xFF]),
        "nullField": None,
        "arrayField": [i * 0.5, -1.25],
        "mapField": {f"k{i}": {"label": f"foo {i}"}},
        "unionField": [i % 2 == 0, i * 2.5, [bytes([1, i % 256])]][i % 3],
        "enumField": "ABC"[i % 3],
        "fixedField": bytes([i % 256]) * 16,
        "recordField": _node("root", i % 4),
        "stampOnField": 1_764_151_200_000 + i,
    }


def _node(label: str, depth: int) -> dict[str, Any]:
    return {"label": label, "children": [_node(f"{label}/{depth}", depth - 1)] if depth else []}


def _clock(micros: int) -> dt.time:
    return (dt.datetime.min + dt.timedelta(microseconds=micros)).time()


SINGLE_OBJECT_HEADER = 10  # C3 01 and the 8 bytes of the fingerprint


def written(path: Path) -> list[dict[str, Any]]:
    """The file's rows as a reader sees them: fastavro, the reference; Apache's ``avro``
    where fastavro cannot read the header (metadata that is not UTF-8). A ``.bin`` file
    holds single-object encoded rows of the schema its name starts with."""
    data = path.read_bytes()
    if path.suffix == ".bin":
        schema = fastavro.parse_schema(SCHEMAS[path.stem.split("-")[0]])
        stream, rows = io.BytesIO(data), []
        while stream.tell() < len(data):
            stream.seek(SINGLE_OBJECT_HEADER, io.SEEK_CUR)
            rows.append(fastavro.schemaless_reader(stream, schema, None))
        return cast(list[dict[str, Any]], rows)
    try:
        return list(fastavro.reader(io.BytesIO(data)))  # type: ignore[arg-type]
    except UnicodeDecodeError:
        import avro.datafile
        import avro.io

        reader = avro.datafile.DataFileReader(io.BytesIO(data), avro.io.DatumReader())
        return [cast(dict[str, Any], row) for row in reader]


def comparable(value: Any) -> Any:
    """One form for a value read by fastavro, from a batch file or from a query of the
    columns ``select_list`` makes: bytes as upper-case hex, decimals, uuids as text,
    timestamps as epoch microseconds, dates and times in ISO form."""
    if isinstance(value, bytes):
        return value.hex().upper()
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, dt.datetime):
        return (value - EPOCH) // dt.timedelta(microseconds=1)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return value


def _kind(avro_type: Any) -> str:
    """The field's type name, its logical type where it has one; "json" for what the
    warehouse holds as JSON text (records, arrays, maps, unions other than [null, T])."""
    if isinstance(avro_type, list):
        return "json" if len(avro_type) != 2 or "null" not in avro_type else "nullable"
    if isinstance(avro_type, dict):
        kind = str(avro_type.get("logicalType") or avro_type["type"])
        return "json" if kind in ("record", "array", "map") else kind
    return str(avro_type)


def _json_form(value: Any) -> Any:
    """A nested value as the warehouse's JSON text holds it: bytes as base64."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, list):
        return [_json_form(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_form(v) for k, v in value.items()}
    return value


def select_list(schema: dict[str, Any]) -> str:
    """The columns of ``schema``'s table, each as SQL that ``comparable`` matches."""
    exprs = []
    for field in schema["fields"]:
        name, kind = field["name"], _kind(field["type"])
        if kind in ("bytes", "fixed"):
            exprs.append(f"hex({name})")
        elif kind in ("decimal", "uuid"):
            exprs.append(f"cast({name} as varchar)")
        elif kind.startswith("timestamp"):
            exprs.append(f"epoch_us({name})")
        else:
            exprs.append(name)
    return ", ".join(exprs)


def row_values(schema: dict[str, Any], row: list[Any]) -> list[Any]:
    """A query's (or batch file's) row in ``comparable`` form: nested values are JSON text."""
    kinds = [_kind(f["type"]) for f in schema["fields"]]
    return [
        json.loads(v) if kind == "json" and v is not None else comparable(v)
        for kind, v in zip(kinds, row, strict=True)
    ]


def expected_rows(schema: dict[str, Any], rows: list[dict[str, Any]]) -> list[list[Any]]:
    """The rows fastavro read, as ``row_values`` gives the loaded ones."""
    kinds = [(f["name"], _kind(f["type"])) for f in schema["fields"]]
    return [
        [_json_form(row[name]) if kind == "json" else comparable(row[name]) for name, kind in kinds]
        for row in rows
    ]
