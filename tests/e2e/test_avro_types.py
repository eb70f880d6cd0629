"""Avro as the world writes it, through the HTTP API: containers of every codec, and
every type and logical type sent as OCF, single-object and JSON, land exactly."""

from __future__ import annotations

import json

import pytest

from tests.support.avro import CODECS, compress, ocf, ocf_block
from tests.support.avro_types import CASES
from tests.support.events import fresh_game, single_objects
from tests.support.server import Server

pytestmark = pytest.mark.e2e

OCF = "application/avro"
DATUM = b"\x02\x02x"  # seq 1, player "x"
CODEC_SCHEMA = {
    "type": "record",
    "name": "codec",
    "fields": [{"name": "seq", "type": "long"}, {"name": "player", "type": "string"}],
}


def test_containers_of_every_codec_load_exactly(shared_server: Server) -> None:
    server, game = shared_server, fresh_game("codecs")
    key = server.game(game)
    assert server.register(game, "codec", CODEC_SCHEMA).status_code == 201
    expected = []
    for index, codec in enumerate(CODECS):
        rows = [{"seq": index * 1000 + i, "player": f"{codec}-{i}" * (i % 4)} for i in range(300)]
        expected += [[r["seq"], r["player"]] for r in rows]
        body = ocf(CODEC_SCHEMA, rows, codec, sync_interval=2000)
        response = server.send(game, key, body, OCF)
        assert response.status_code == 202, (codec, response.text)
        assert response.json() == {"accepted": 300}
    block = compress("snappy", DATUM)
    crc_off = block[:-1] + bytes([block[-1] ^ 1])  # the CRC-32 does not match the data
    response = server.send(game, key, ocf_block(CODEC_SCHEMA, 1, crc_off, "snappy"), OCF)
    assert response.status_code == 422 and "CRC-32" in response.json()["error"]["message"]
    for codec in ("snappy", "zstandard"):  # over the default 80 MiB, in a few MB at most
        bomb = ocf_block(CODEC_SCHEMA, 1, compress(codec, DATUM + bytes(81 << 20)), codec)
        response = server.send(game, key, bomb, OCF)
        assert response.status_code == 413, (codec, response.text)
        assert "max_inflated_bytes" in response.text
    assert server.wait_for_rows(f"{game}.codec", len(expected)) == len(expected)
    assert server.query(f"select seq, player from {game}.codec order by seq") == expected


def test_every_type_lands_exactly_from_every_format(shared_server: Server) -> None:
    """Per type: two values as OCF (the codecs in turn), single-object and JSON. The
    three formats give the same rows and every event arrives; the values themselves
    are checked per warehouse by the contract suite."""
    server, game = shared_server, fresh_game("types")
    key = server.game(game)
    fingerprints = {}
    for case in CASES:
        response = server.register(game, case.name, case.schema)
        assert response.status_code == 201, (case.name, response.text)
        fingerprints[case.name] = response.json()["fingerprint"]
    for index, case in enumerate(CASES):
        rows = [{"v": v} for v in case.values]
        bodies = [
            (ocf(case.schema, rows, CODECS[index % len(CODECS)]), "application/avro"),
            (
                single_objects(fingerprints[case.name], case.schema, rows),
                "application/vnd.apache.avro+binary",
            ),
        ]
        for body, content_type in bodies:
            response = server.send(game, key, body, content_type)
            assert response.status_code == 202, (case.name, response.text)
        events = [{"event_type": case.name, "data": {"v": v}} for v in case.json]
        response = server.send(game, key, json.dumps(events).encode(), "application/json")
        assert response.status_code == 202, (case.name, response.text)
    for case in CASES:
        count = server.wait_for_rows(f"{game}.{case.name}", 3 * len(case.values))
        assert count == 3 * len(case.values), case.name
        texts = server.query(f"select cast(v as text) from {game}.{case.name} order by _event_id")
        ocf_rows, single_rows, json_rows = texts[:2], texts[2:4], texts[4:]
        assert ocf_rows == single_rows == json_rows, case.name
        assert [row[0] is None for row in ocf_rows] == [v is None for v in case.file], case.name
