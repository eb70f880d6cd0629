"""JSON input of logical types: each documented form accepted (test_avro_type_paths),
everything else a 422 naming the field -- never a 202 whose events are lost later."""

from __future__ import annotations

from typing import Any

import fastavro
import pytest

from playlog.avro.json_events import encode
from playlog.errors import InvalidPayload


def record(avro_type: Any) -> Any:
    fields = [{"name": "v", "type": avro_type}]
    return fastavro.parse_schema({"type": "record", "name": "r", "fields": fields})


UUID = {"type": "string", "logicalType": "uuid"}
UUID_FIXED = {"type": "fixed", "name": "u", "size": 16, "logicalType": "uuid"}
DURATION = {"type": "fixed", "name": "d", "size": 12, "logicalType": "duration"}
MONEY = {"type": "fixed", "name": "m", "size": 4, "logicalType": "decimal", "precision": 6,
         "scale": 2}  # fmt: skip
NANOS = {"type": "long", "logicalType": "timestamp-nanos"}
LOCAL_NANOS = {"type": "long", "logicalType": "local-timestamp-nanos"}
TIME = {"type": "int", "logicalType": "time-millis"}


@pytest.mark.parametrize(
    ("avro_type", "value", "message"),
    [
        (UUID, "not-a-uuid", "is not a uuid"),
        (UUID, 5, "expected a uuid as text"),
        (UUID_FIXED, "AAAAAAAAAAAAAAAAAAAAAA==", "is not a uuid"),  # base64 is not its form
        (DURATION, {"months": 1, "days": 2}, "expected a duration"),
        (DURATION, {"months": -1, "days": 0, "milliseconds": 0}, "v.months"),
        (DURATION, {"months": 2**32, "days": 0, "milliseconds": 0}, "0 to 2**32-1"),
        (MONEY, "AAAAAQ==", "is not a decimal"),  # nor base64 for a decimal on fixed
        (MONEY, "10000.00", "does not fit decimal(6,2)"),
        (MONEY, 1.005, "more than 2 decimal places"),
        (NANOS, "2025-11-26T10:00:00.123456789", "needs a UTC offset"),
        (LOCAL_NANOS, "2025-11-26T10:00:00Z", "needs no UTC offset"),
        (NANOS, "2262-04-12T00:00:00Z", "does not fit nanoseconds"),
        (NANOS, "2025-11-26T10:00:00.1234567891Z", "not an RFC 3339 timestamp"),
        (TIME, "25:00:00", "is not a time of day"),
        (TIME, "10:00:00+01:00", "takes no UTC offset"),
    ],
)
def test_a_value_not_in_its_documented_form_is_422_naming_the_field(
    avro_type: Any, value: Any, message: str
) -> None:
    with pytest.raises(InvalidPayload) as info:
        encode({"v": value}, record(avro_type), "event 0")
    assert info.value.status == 422
    assert info.value.message.startswith("event 0: v") and message in info.value.message


def test_a_nanosecond_timestamp_keeps_every_digit_and_its_offset() -> None:
    one = encode({"v": "2025-11-26T11:00:00.000000001+01:00"}, record(NANOS), "e")
    assert one == encode({"v": 1_764_151_200_000_000_001}, record(NANOS), "e")
