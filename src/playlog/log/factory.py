"""The log adapter the settings select."""

from __future__ import annotations

from playlog.log.base import Log
from playlog.settings import Settings


def _ms(hours: float) -> int:
    return int(hours * 3600 * 1000)


def open_log(settings: Settings) -> Log:
    if settings.log.kind == "kafka":
        from playlog.log.kafka import KafkaLog

        return KafkaLog(
            settings.log.bootstrap_servers,
            extra_config=settings.log.kafka,
            replication_factor=settings.log.replication_factor,
            retention_ms=_ms(settings.log.retention_hours),
            # COPY tasks outlive a long loader or warehouse outage (default 7x).
            topic_retention_ms={settings.log.copy_topic: _ms(settings.log.copy_retention_hours)},
            session_timeout_ms=settings.log.session_timeout_ms,
            verify_end_offsets=settings.log.verify_end_offsets,
            finish_join_before_leave=settings.log.finish_join_before_leave,
        )
    from playlog.log.embedded import EmbeddedLog

    return EmbeddedLog(settings.log_path, settings.log.sync, settings.log.retention_hours)


def ensure_topics(settings: Settings, log_: Log) -> None:
    log_.ensure_topic(settings.log.data_topic, settings.log.partitions)
    log_.ensure_topic(settings.log.copy_topic, settings.log.copy_partitions)
    log_.ensure_topic(settings.log.dead_letter_topic, 1)
