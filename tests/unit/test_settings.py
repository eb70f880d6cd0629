"""Settings: defaults < TOML file < PLAYLOG_* environment < explicit overrides."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from playlog.errors import ConfigError
from playlog.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("PLAYLOG_"):
            monkeypatch.delenv(name)


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "playlog.toml"
    path.write_text(text)
    return path


def refused(config_file: Path | None = None, **overrides: object) -> str:
    with pytest.raises(ConfigError) as info:
        Settings.read(config_file, **overrides)
    return info.value.message


FILE = """
data_dir = "/srv/playlog"

[load]
workers = 5
max_wait_s = 2.5

[log]
partitions = 8
copy_topic = "copies"
"""


def test_defaults_are_the_embedded_setup() -> None:
    s = Settings.read()
    assert s.data_dir == Path(".playlog")
    assert (s.log.kind, s.warehouse.kind, s.storage.kind) == ("embedded", "duckdb", "local")
    assert (s.log.data_topic, s.log.copy_topic, s.log.dead_letter_topic) == (
        "playlog.events",
        "playlog.copy",
        "playlog.dead",
    )
    assert (s.log.partitions, s.load.workers, s.process.engine) == (4, 2, "inprocess")
    assert (s.server.host, s.server.port, s.server.admin_key) == ("127.0.0.1", 8080, None)
    assert s.server.max_body_bytes == 10 * 1024 * 1024
    assert s.server.max_events_per_body == 100_000


def test_toml_file_values(tmp_path: Path) -> None:
    s = Settings.read(toml(tmp_path, FILE))
    assert s.data_dir == Path("/srv/playlog")
    assert (s.load.workers, s.load.max_wait_s) == (5, 2.5)
    assert (s.log.partitions, s.log.copy_topic) == (8, "copies")
    # Untouched fields of a section named in the file keep their defaults.
    assert s.load.max_tasks_per_txn == 64
    assert s.log.data_topic == "playlog.events"


def test_environment_beats_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYLOG_LOAD__WORKERS", "3")
    s = Settings.read(toml(tmp_path, FILE))
    assert s.load.workers == 3
    assert s.load.max_wait_s == 2.5  # the file's other values in that section stay
    assert s.log.partitions == 8


def test_environment_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYLOG_DATA_DIR", "/var/lib/pl")
    monkeypatch.setenv("PLAYLOG_LOG__KIND", "kafka")
    monkeypatch.setenv("PLAYLOG_SERVER__ADMIN_KEY", "s3cret")
    s = Settings.read()
    assert s.data_dir == Path("/var/lib/pl")
    assert s.log.kind == "kafka"
    assert s.server.admin_key is not None
    assert s.server.admin_key.get_secret_value() == "s3cret"


def test_explicit_overrides_beat_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAYLOG_LOAD__WORKERS", "3")
    monkeypatch.setenv("PLAYLOG_DATA_DIR", "/from/env")
    s = Settings.read(toml(tmp_path, FILE), data_dir=Path("/from/flag"), load={"workers": 9})
    assert s.data_dir == Path("/from/flag")
    assert s.load.workers == 9
    assert s.load.max_wait_s == 2.5


def test_overrides_of_none_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYLOG_DATA_DIR", "/from/env")
    assert Settings.read(data_dir=None).data_dir == Path("/from/env")


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        ("[load]\nworkers = 0\n", "load.workers", "greater than or equal to 1"),
        ("[log]\nkind = 'zookeeper'\n", "log.kind", "'embedded' or 'kafka'"),
        ("[log]\npartitions = 2000\n", "log.partitions", "less than or equal to 1024"),
        ("[load]\nnope = 1\n", "load.nope", "Extra inputs are not permitted"),
        ("surprise = 1\n", "surprise", "Extra inputs are not permitted"),
    ],
)
def test_invalid_file_values_are_config_errors(
    tmp_path: Path, text: str, field: str, problem: str
) -> None:
    message = refused(toml(tmp_path, text))
    assert message.startswith("invalid configuration:")
    assert f" {field}: " in message and "\n" not in message  # one line: the CLI prints it
    assert problem in message


def test_invalid_environment_value_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYLOG_LOAD__WORKERS", "many")
    message = refused()
    assert "load.workers" in message
    assert "valid integer" in message


def test_invalid_override_is_a_config_error() -> None:
    message = refused(load={"max_in_flight": 0})
    assert "load.max_in_flight" in message


def test_unreadable_or_broken_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    assert refused(missing).startswith(f"cannot read config file {missing}:")
    broken = toml(tmp_path, "[load\n")
    assert refused(broken).startswith(f"cannot read config file {broken}:")


@pytest.mark.parametrize(
    "text",
    [
        "[log]\ncopy_topic = 'playlog.events'\n",
        "[log]\ndead_letter_topic = 'playlog.copy'\n",
        "[log]\ndata_topic = 't'\ndead_letter_topic = 't'\n",
    ],
)
def test_identical_topic_names_are_refused(tmp_path: Path, text: str) -> None:
    message = refused(toml(tmp_path, text))
    assert "log.data_topic, copy_topic and dead_letter_topic must differ" in message


def test_identical_topics_from_the_environment_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLAYLOG_LOG__COPY_TOPIC", "playlog.dead")
    assert "must differ" in refused()


def test_derived_paths_live_under_data_dir(tmp_path: Path) -> None:
    s = Settings.read(data_dir=tmp_path / "d")
    assert s.log_path == tmp_path / "d" / "log.sqlite"
    assert s.catalog_path == tmp_path / "d" / "catalog.sqlite"
    assert s.storage_root == tmp_path / "d" / "objects"
    assert s.duckdb_path == tmp_path / "d" / "warehouse.duckdb"


def test_explicit_paths_win_over_derived_ones(tmp_path: Path) -> None:
    s = Settings.read(
        data_dir=tmp_path / "d",
        storage={"root": tmp_path / "objects"},
        warehouse={"duckdb_path": tmp_path / "wh.duckdb"},
    )
    assert s.storage_root == tmp_path / "objects"
    assert s.duckdb_path == tmp_path / "wh.duckdb"
    assert s.log_path == tmp_path / "d" / "log.sqlite"


def test_settings_are_frozen() -> None:
    s = Settings.read()
    with pytest.raises(ValueError, match="frozen"):
        s.load.workers = 7  # type: ignore[misc]


def test_masked_hides_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYLOG_SERVER__ADMIN_KEY", "s3cret")
    monkeypatch.setenv("PLAYLOG_WAREHOUSE__DSN", "postgresql://u:pw@h/db")
    masked = Settings.read().masked()
    assert masked["server"]["admin_key"] == "**********"
    assert masked["warehouse"]["dsn"] == "**********"
    assert "s3cret" not in repr(masked) and "pw@" not in repr(masked)


def test_short_form_names_adapters_at_the_top(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        'log = "kafka"\nengine = "spark"\nobject_store = "s3"\nwarehouse = "postgres"\n'
        '[kafka]\nbootstrap_servers = "k1:9092"\n[s3]\nbucket = "b"\n'
        '[postgres]\ndsn = "postgresql://db/x"\n[load]\nworkers = 3\n'
    )
    settings = Settings.read(config)
    assert (settings.log.kind, settings.log.bootstrap_servers) == ("kafka", "k1:9092")
    assert settings.process.engine == "spark"
    assert (settings.storage.kind, settings.storage.bucket) == ("s3", "b")
    assert settings.warehouse.kind == "postgres"
    assert settings.warehouse.dsn is not None
    assert settings.warehouse.dsn.get_secret_value() == "postgresql://db/x"
    assert settings.load.workers == 3


def test_the_shipped_cluster_example_selects_every_cluster_adapter() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "cluster.toml"
    settings = Settings.read(example)
    assert settings.log.kind == "kafka" and settings.log.partitions == 8
    assert settings.process.engine == "spark"
    assert settings.storage.kind == "s3" and settings.storage.endpoint_url
    assert settings.warehouse.kind == "postgres"
