"""Kafka client settings: defaults right for Apache Kafka, test-broker workarounds opt-in."""

from __future__ import annotations

from playlog.log.kafka_config import consumer_config
from playlog.settings import Settings


def test_group_members_use_librdkafkas_session_timeout_by_default() -> None:
    config = consumer_config({}, "g")
    assert config["session.timeout.ms"] == 45_000
    assert config["heartbeat.interval.ms"] == 3000


def test_a_short_session_heartbeats_more_often() -> None:
    config = consumer_config({}, "g", session_timeout_ms=6000)
    assert config["session.timeout.ms"] == 6000
    assert config["heartbeat.interval.ms"] == 1000


def test_the_users_librdkafka_settings_win_over_ours() -> None:
    config = consumer_config({"session.timeout.ms": "10000"}, "g", session_timeout_ms=6000)
    assert config["session.timeout.ms"] == "10000"
    assert config["group.id"] == "g" and config["enable.auto.commit"] is False


def test_broker_workarounds_are_off_by_default_and_settable() -> None:
    default = Settings.read().log
    assert default.session_timeout_ms == 45_000
    assert not default.verify_end_offsets and not default.finish_join_before_leave
    tansu = Settings.read(
        log={"session_timeout_ms": 6000, "verify_end_offsets": True,
             "finish_join_before_leave": True}
    ).log  # fmt: skip
    assert tansu.verify_end_offsets and tansu.finish_join_before_leave
