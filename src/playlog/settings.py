"""The one configuration object.

Precedence, highest first: explicit overrides (CLI flags) > ``PLAYLOG_*`` environment
variables (nested with ``__``: ``PLAYLOG_LOAD__WORKERS=4``) > the TOML file given with
``--config`` > defaults. Defaults are the embedded single-machine setup.

Example ``playlog.toml``::

    data_dir = "/var/lib/playlog"
    [log]
    kind = "kafka"
    bootstrap_servers = "kafka1:9092"
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from playlog.errors import ConfigError

# _event_id packs (offset, partition, index in record) into 63 bits; see process.transform.
MAX_EVENTS_PER_RECORD = 1 << 17
MAX_PARTITIONS = 1 << 10
# Native Avro decoders recurse per level of nesting (fastavro segfaults ~10,000 deep):
# no setting may allow data nested deeper than this.
MAX_NESTING_DEPTH = 1000


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)  # 0: any free port
    admin_key: SecretStr | None = None
    max_body_bytes: int = 10 * 1024 * 1024
    max_events_per_body: int = Field(100_000, le=MAX_EVENTS_PER_RECORD)
    # Levels of records, arrays, maps and unions an event may nest (the top record is 1).
    max_nesting_depth: int = Field(64, ge=1, le=MAX_NESTING_DEPTH)
    # What a gzip body, and separately all compressed blocks of its OCF containers, may
    # inflate to per request; None: 8x max_body_bytes.
    max_inflated_bytes: int | None = Field(None, ge=1)
    # Request line plus headers; larger -> 431 (ingest/protocol.py).
    max_header_bytes: int = Field(64 * 1024, ge=1024)
    # How long the answer to an Idempotency-Key is kept (ingest/idempotency.py).
    idempotency_window_s: float = Field(24 * 3600.0, gt=0)
    # The status page's data (GET /v1/status) without the admin key.
    public_status: bool = False
    # HTTPS in-process: a PEM certificate chain and its private key (both or neither;
    # checked at start, runtime.check_tls). None: plain HTTP, e.g. behind a TLS proxy.
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    @property
    def inflated_limit(self) -> int:
        return self.max_inflated_bytes or 8 * self.max_body_bytes


class QuerySettings(Section):
    """Limits of ``POST /v1/query`` (and ``playlog sql``): queries share the warehouse
    with the loader, and the server with ingestion."""

    timeout_s: float = Field(30.0, gt=0)
    max_concurrent: int = Field(4, ge=1)  # more at once: 429
    max_rows: int = Field(10_000, ge=1)  # more: truncated
    max_result_bytes: int = Field(32 * 1024 * 1024, ge=1024)  # more: 413


class LogSettings(Section):
    kind: Literal["embedded", "kafka"] = "embedded"
    data_topic: str = "playlog.events"
    copy_topic: str = "playlog.copy"
    dead_letter_topic: str = "playlog.dead"
    partitions: int = Field(4, ge=1, le=MAX_PARTITIONS)
    copy_partitions: int = Field(4, ge=1)
    retention_hours: float = 72.0
    # The copy topic's retention (Kafka): 7x retention_hours by default. COPY tasks must
    # outlive a loader or warehouse outage: a gap stops loading (RecordsExpired).
    copy_retention_hours: float = Field(7 * 72.0, gt=0)
    # embedded: "full" (fsync at every commit) survives a power cut; "normal" only a
    # process crash: a power cut may roll back appends already answered 202.
    sync: Literal["normal", "full"] = "full"
    # kafka
    bootstrap_servers: str = "127.0.0.1:9092"
    replication_factor: int = 1
    # A group member's session timeout (librdkafka's default); the heartbeat interval
    # follows it. The Tansu test broker holds a JoinGroup for about half of it: 6000.
    session_timeout_ms: int = Field(45_000, ge=1000)
    # Workarounds for brokers that differ from Apache Kafka, off by default (the tests
    # turn them on for Tansu). Read each partition to its EOF instead of trusting
    # ListOffsets LATEST (Tansu answers the first offset of the last batch + 1):
    verify_end_offsets: bool = False
    # A member that closes while its JoinGroup is pending finishes joining first
    # (leaving mid-join wedges the group on Tansu):
    finish_join_before_leave: bool = False
    kafka: dict[str, str] = Field(default_factory=dict)  # passed through (SASL/TLS, ...)

    @model_validator(mode="before")
    @classmethod
    def _copy_retention_follows(cls, values: Any) -> Any:
        """copy_retention_hours unset: 7x retention_hours (whatever that was set to)."""
        if isinstance(values, dict) and values.get("copy_retention_hours") is None:
            hours = float(values.get("retention_hours", 72.0))
            return {**values, "copy_retention_hours": 7 * hours}
        return values


class ProcessSettings(Section):
    engine: Literal["inprocess", "spark"] = "inprocess"
    group: str = "playlog-process"
    max_events_per_batch: int = Field(200_000, ge=1)
    trigger_interval_s: float = Field(1.0, ge=0)
    spark_master: str = "local[2]"
    # A range whose transform fails this often (not transiently) is dead-lettered
    # whole: one poison record must not stop a partition, nor the process.
    max_range_attempts: int = Field(3, ge=1)
    # One driver per group holds a lease this long (renewed every third of it); a
    # driver stopped longer than this is taken over by another.
    lease_ttl_s: float = Field(30.0, gt=0)
    # Committed offsets are committed again this often, even on a quiet partition:
    # Kafka expires a group's offsets after offsets.retention.minutes (7 days).
    recommit_interval_s: float = Field(3600.0, gt=0)
    # Under `playlog up`, run the in-process engine's processor in a process of its
    # own, its Python work off the GIL of ingest and the loader. Off: on the 2-core
    # box measured the GIL was held ~30% of the time, the cores were what bound, and
    # P1 ran no faster with it (docs/profiles/gil.md).
    own_process: bool = False


class StorageSettings(Section):
    kind: Literal["local", "s3"] = "local"
    root: Path | None = None  # local; default <data_dir>/objects
    bucket: str = "playlog"
    prefix: str = ""
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None


class LoadSettings(Section):
    group: str = "playlog-load"
    workers: int = Field(2, ge=1)
    max_tasks_per_txn: int = Field(64, ge=1)
    max_wait_s: float = Field(0.5, ge=0)
    # A batch closes early once no task came for this long: the processor appends a
    # micro-batch's tasks at once, so a pause means the burst is all in.
    batch_gap_s: float = Field(0.05, ge=0)
    max_in_flight: int = Field(512, ge=1)
    health_interval_s: float = Field(1.0, gt=0)  # first re-check; doubles up to max
    max_backoff_s: float = Field(30.0, gt=0)
    # Ledger rows older than this whose batch file is gone from the object store are
    # deleted (load/ledger.py); None keeps every row. At least the data topic's and
    # the copy topic's retention: a task either could still bring back needs its row.
    ledger_retention_hours: float | None = Field(None, gt=0)


class WarehouseSettings(Section):
    kind: Literal["duckdb", "postgres", "redshift"] = "duckdb"
    duckdb_path: Path | None = None  # default <data_dir>/warehouse.duckdb
    dsn: SecretStr | None = None  # postgres / redshift
    statement_timeout_s: float = 300.0
    lock_timeout_s: float = 60.0
    # redshift: COPY reads S3 with the cluster's IAM role, or else with these keys
    iam_role: str | None = None
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    cluster_id: str | None = None
    region: str = "us-east-1"


class RegistrySettings(Section):
    # PostgreSQL DSN of the catalog shared by every ingest node; default: SQLite in
    # data_dir (one machine), or the warehouse's database when it is PostgreSQL.
    dsn: SecretStr | None = None


class MonitorSettings(Section):
    heartbeat_interval_s: float = Field(5.0, gt=0)
    canary_interval_s: float = Field(30.0, ge=0)  # 0: no canary
    canary_timeout_s: float = Field(300.0, gt=0)
    # /metrics of stages without the HTTP API (process, load, monitor); None: off
    metrics_port: int | None = None
    # where `playlog monitor` sends its canary (an ingest node or load balancer)
    ingest_url: str = "http://127.0.0.1:8080"
    # A table whose newest loaded event is older than this is stale (status page,
    # webhook; deploy/prometheus/alerts.yml's PlaylogStaleTable uses the same 600 s).
    freshness_slo_s: float = Field(600.0, gt=0)
    # Where JSON is POSTed on state changes (canary, loader, freshness); None: nowhere.
    webhook_url: str | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PLAYLOG_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    data_dir: Path = Path(".playlog")
    server: ServerSettings = ServerSettings()
    log: LogSettings = LogSettings()
    query: QuerySettings = QuerySettings()
    process: ProcessSettings = ProcessSettings()
    storage: StorageSettings = StorageSettings()
    load: LoadSettings = LoadSettings()
    warehouse: WarehouseSettings = WarehouseSettings()
    registry: RegistrySettings = RegistrySettings()
    monitor: MonitorSettings = MonitorSettings()

    @model_validator(mode="after")
    def _distinct_topics(self) -> Settings:
        topics = {self.log.data_topic, self.log.copy_topic, self.log.dead_letter_topic}
        if len(topics) != 3:
            raise ValueError("log.data_topic, copy_topic and dead_letter_topic must differ")
        return self

    @model_validator(mode="after")
    def _ledger_outlives_the_topics(self) -> Settings:
        hours, longest = (
            self.load.ledger_retention_hours,
            max(self.log.retention_hours, self.log.copy_retention_hours),
        )
        if hours is not None and hours < longest:
            raise ValueError(
                f"load.ledger_retention_hours ({hours:g}) must be at least the longer of "
                f"log.retention_hours and log.copy_retention_hours ({longest:g}): a task "
                "still on a topic must find its ledger row"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Overrides (init) beat the environment; the file is merged into init by load().
        return (init_settings, env_settings)

    @classmethod
    def read(cls, config_file: Path | None = None, **overrides: Any) -> Settings:
        """Settings from ``config_file`` (TOML), the environment, then ``overrides``."""
        values: dict[str, Any] = {}
        if config_file is not None:
            try:
                values = _adapter_shorthand(tomllib.loads(Path(config_file).read_text()))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"cannot read config file {config_file}: {exc}") from exc
        try:
            # The file is the lowest layer: environment variables must win over it.
            env_only = cls()
            merged = _deep_merge(values, _explicit(env_only))
            merged = _deep_merge(merged, {k: v for k, v in overrides.items() if v is not None})
            return cls.model_validate(merged)
        except ValidationError as exc:
            raise ConfigError(f"invalid configuration: {_one_line(exc)}") from exc

    # Derived paths of the embedded default, all under data_dir.
    @property
    def log_path(self) -> Path:
        return self.data_dir / "log.sqlite"

    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.sqlite"

    @property
    def storage_root(self) -> Path:
        return self.storage.root or self.data_dir / "objects"

    @property
    def duckdb_path(self) -> Path:
        return self.warehouse.duckdb_path or self.data_dir / "warehouse.duckdb"

    def masked(self) -> dict[str, Any]:
        """A dict for logs and the status page; secrets show as '**********'."""
        return self.model_dump(mode="json")


# The short form of a config file names each port's adapter at the top level, and
# puts that adapter's settings in a section named after it:
#     log = "kafka"          ->  [log] kind = "kafka"
#     engine = "spark"       ->  [process] engine = "spark"
#     object_store = "s3"    ->  [storage] kind = "s3"
#     warehouse = "postgres" ->  [warehouse] kind = "postgres"
#     [kafka] / [spark] / [s3] / [postgres] ...  -> merged into [log] / [process] / ...
_SHORTHAND = {
    "log": ("log", "kind"),
    "engine": ("process", "engine"),
    "object_store": ("storage", "kind"),
    "warehouse": ("warehouse", "kind"),
}
_VENDOR_SECTIONS = {
    "embedded": "log",
    "kafka": "log",
    "inprocess": "process",
    "spark": "process",
    "local": "storage",
    "s3": "storage",
    "duckdb": "warehouse",
    "postgres": "warehouse",
    "redshift": "warehouse",
}


def _adapter_shorthand(values: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in values.items() if k not in _VENDOR_SECTIONS}
    for key, (section, field) in _SHORTHAND.items():
        if isinstance(values.get(key), str):
            out.pop(key)
            out[section] = {**out.get(section, {}), field: values[key]}
    for vendor, section in _VENDOR_SECTIONS.items():
        if isinstance(values.get(vendor), dict):
            out[section] = {**out.get(section, {}), **values[vendor]}
    return out


def _explicit(model: BaseModel) -> dict[str, Any]:
    """Only the fields that were set (by env), recursively, as plain values."""
    out: dict[str, Any] = {}
    for name in model.model_fields_set:
        value = getattr(model, name)
        out[name] = _explicit(value) if isinstance(value, BaseModel) else value
    return out


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _one_line(exc: ValidationError) -> str:
    """``server.port: Input should be a valid integer``, errors joined by ``; `` (the
    input is not repeated: it may be a secret)."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
