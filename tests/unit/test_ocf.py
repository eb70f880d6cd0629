"""Walking Avro Object Container Files without decoding: counts, offsets, damage."""

from __future__ import annotations

import io
import json
from typing import Any, cast

import fastavro
import pytest
from tests.support.avro import ocf as container

from playlog.avro.ocf import MAGIC, SYNC_SIZE, read_long, walk
from playlog.errors import InvalidPayload

LOGIN = {
    "type": "record",
    "name": "Login",
    "fields": [{"name": "player", "type": "string"}, {"name": "level", "type": "int"}],
}
PURCHASE = {
    "type": "record",
    "name": "Purchase",
    "fields": [{"name": "item", "type": "string"}, {"name": "price", "type": "double"}],
}
QUIT = {"type": "record", "name": "Quit", "fields": [{"name": "at", "type": "long"}]}


def logins(n: int) -> list[dict[str, Any]]:
    return [{"player": f"player-{i}", "level": i} for i in range(n)]


def purchases(n: int) -> list[dict[str, Any]]:
    return [{"item": f"sword-{i}", "price": i + 0.5} for i in range(n)]


def read_back(data: bytes) -> list[dict[str, Any]]:
    return [cast(dict[str, Any], row) for row in fastavro.reader(io.BytesIO(data))]


def block_count(data: bytes) -> int:
    return sum(1 for _ in fastavro.block_reader(io.BytesIO(data)))


def refused(body: bytes) -> str:
    with pytest.raises(InvalidPayload) as info:
        walk(body)
    assert info.value.status == 422
    return info.value.message


# --- read_long ----------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, 1, 63, -64, 64, 2**31, -(2**31), -(2**63), 2**63 - 1])
def test_read_long_decodes_fastavro_long_encoding(value: int) -> None:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, "long", value)
    encoded = out.getvalue()
    # Decoding starts at an offset and reports the position just after the varint.
    assert read_long(b"\xff" + encoded + b"\x00", 1) == (value, 1 + len(encoded))


def test_read_long_past_the_end_is_truncation() -> None:
    with pytest.raises(InvalidPayload, match="varint runs past the end"):
        read_long(b"\x80\x80", 0)


def test_read_long_longer_than_ten_bytes_is_corrupt() -> None:
    with pytest.raises(InvalidPayload, match="longer than 10 bytes"):
        read_long(b"\xff" * 11 + b"\x01", 0)


# --- walking valid bodies ---------------------------------------------------------


@pytest.mark.parametrize("codec", ["null", "deflate"])
def test_one_container_with_many_blocks(codec: str) -> None:
    data = container(LOGIN, logins(200), codec=codec, sync_interval=64)
    assert block_count(data) > 3  # the walk really crosses several blocks

    (found,) = walk(data)

    assert (found.start, found.end, found.count, found.codec) == (0, len(data), 200, codec)
    assert json.loads(found.schema_json) == LOGIN
    assert data[found.header_end - SYNC_SIZE : found.header_end] == data[-SYNC_SIZE:]


def test_containers_back_to_back_keep_their_own_counts_codecs_and_schemas() -> None:
    parts = [
        container(LOGIN, logins(120), codec="null", sync_interval=50),
        container(PURCHASE, purchases(7), codec="deflate"),
        container(QUIT, [], codec="null"),  # a header without blocks holds 0 events
        container(LOGIN, logins(33), codec="deflate", sync_interval=100),
    ]
    body = b"".join(parts)

    found = walk(body)

    assert [(c.count, c.codec) for c in found] == [
        (120, "null"),
        (7, "deflate"),
        (0, "null"),
        (33, "deflate"),
    ]
    assert [json.loads(c.schema_json)["name"] for c in found] == [
        "Login",
        "Purchase",
        "Quit",
        "Login",
    ]
    starts = [0, len(parts[0]), len(parts[0]) + len(parts[1]), len(b"".join(parts[:3]))]
    assert [c.start for c in found] == starts
    assert [c.end for c in found] == [*starts[1:], len(body)]
    # Each slice is a whole container file fastavro reads on its own.
    assert read_back(body[found[0].start : found[0].end]) == logins(120)
    assert read_back(body[found[1].start : found[1].end]) == purchases(7)
    assert read_back(body[found[2].start : found[2].end]) == []
    assert read_back(body[found[3].start : found[3].end]) == logins(33)
    assert found[2].header_end == found[2].end


def test_header_end_is_where_the_first_block_starts() -> None:
    data = container(LOGIN, logins(5))
    (found,) = walk(data)
    header_only = container(LOGIN, [])
    # Same schema, same metadata size: only the sync marker differs.
    assert found.header_end == len(header_only)
    assert data[: found.header_end - SYNC_SIZE] == header_only[:-SYNC_SIZE]


# --- damage -------------------------------------------------------------------------


def test_empty_body_is_refused() -> None:
    assert refused(b"") == "empty body"


def test_bad_magic_is_refused() -> None:
    data = container(LOGIN, logins(3))
    message = refused(b"Obj\x02" + data[4:])
    assert message == "container at byte 0: not an Avro object container file (bad magic)"


def test_later_container_with_wrong_version_byte_is_refused() -> None:
    first = container(LOGIN, logins(3))
    second = container(PURCHASE, purchases(2))
    # After a container, anything but the magic is read as a block: b"Ob" is the
    # block header (count -40, size 49), which no writer produces.
    message = refused(first + b"Obj\x02" + second[4:])
    assert message == "container at byte 0: corrupt block header (count -40, size 49)"


def block_ends(data: bytes) -> set[int]:
    """Offsets where a block of a one-container ``data`` ends (a cut there is valid)."""
    (found,) = walk(data)
    ends = {found.header_end}
    pos = found.header_end
    while pos < len(data):
        _, pos = read_long(data, pos)
        size, pos = read_long(data, pos)
        pos += size + SYNC_SIZE
        ends.add(pos)
    return ends


@pytest.mark.parametrize("where", ["header", "sync", "first block", "middle", "last sync"])
def test_truncated_body_is_refused(where: str) -> None:
    data = container(LOGIN, logins(60), codec="deflate", sync_interval=80)
    (found,) = walk(data)
    ends = block_ends(data)
    assert len(ends) > 4
    cut = {
        "header": 20,  # inside the schema text
        "sync": found.header_end - 5,  # inside the header's sync marker
        "first block": found.header_end + 3,
        "middle": next(e for e in sorted(ends) if e > len(data) // 2) - SYNC_SIZE - 2,
        "last sync": len(data) - 1,
    }[where]
    assert cut not in ends
    assert "truncated" in refused(data[:cut])


def test_a_cut_at_a_block_boundary_is_a_shorter_valid_file() -> None:
    # The framing cannot tell this from a whole body: documents what "truncated" covers.
    data = container(LOGIN, logins(60), sync_interval=80)
    cut = sorted(block_ends(data))[2]
    (found,) = walk(data[:cut])
    assert found.count == len(read_back(data[:cut])) < 60


def test_truncated_inside_a_later_container_names_that_container() -> None:
    first = container(LOGIN, logins(3))
    second = container(PURCHASE, purchases(40), sync_interval=64)
    message = refused(first + second[:-7])
    assert message.startswith(f"container at byte {len(first)}: truncated block")


def test_corrupted_sync_marker_is_refused() -> None:
    data = bytearray(container(LOGIN, logins(60), sync_interval=64))
    (found,) = walk(bytes(data))
    sync = bytes(data[found.header_end - SYNC_SIZE : found.header_end])
    block_syncs = [i for i in range(found.header_end, len(data)) if data[i : i + SYNC_SIZE] == sync]
    assert len(block_syncs) >= 3
    data[block_syncs[1] + 7] ^= 0xFF  # the marker after the second block
    message = refused(bytes(data))
    assert message == "container at byte 0: block does not end with the sync marker"


def test_corrupted_header_sync_marker_is_refused() -> None:
    data = bytearray(container(LOGIN, logins(5)))
    (found,) = walk(bytes(data))
    data[found.header_end - 1] ^= 0x01
    assert "sync marker" in refused(bytes(data))


def test_unsupported_codec_is_refused() -> None:
    data = container(LOGIN, logins(3)).replace(b"\x08null", b"\x06lz4", 1)
    assert "lz4" in refused(data)


def test_missing_schema_is_refused() -> None:
    data = container(LOGIN, logins(3))
    assert data.count(b"avro.schema") == 1
    message = refused(data.replace(b"avro.schema", b"avro.schemX"))
    assert message == "container at byte 0: header has no avro.schema"


def test_non_utf8_schema_is_refused_as_payload_error() -> None:
    data = container(LOGIN, logins(3))
    # Same length, so the framing stays intact: only the text is not UTF-8.
    message = refused(data.replace(b'"Login"', b'"\xffogin"'))
    assert "not UTF-8" in message


def test_zero_count_block_is_refused() -> None:
    header = container(LOGIN, [])
    sync = header[-SYNC_SIZE:]
    message = refused(header + b"\x00\x00" + sync)  # count 0, size 0
    assert message == "container at byte 0: corrupt block header (count 0, size 0)"


def test_magic_alone_is_a_truncated_header() -> None:
    message = refused(MAGIC)
    assert "truncated" in message
