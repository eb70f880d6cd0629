"""The local folder as object store: whole objects by key, atomically, inside its root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from playlog.errors import ConfigError, ObjectMissing, StoreUnavailable
from playlog.storage.local import LocalStore

KEY = "g1/login/dt=2025-11-26/playlog.events-0-0-9.parquet"


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "objects")


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_put_get_exists_delete(store: LocalStore, tmp_path: Path) -> None:
    assert not store.exists(KEY)
    store.put(KEY, b"PAR1 data")
    assert store.exists(KEY)
    assert store.get(KEY) == b"PAR1 data"
    assert (tmp_path / "objects" / KEY).read_bytes() == b"PAR1 data"  # a plain file
    store.put("empty", b"")
    assert store.get("empty") == b""
    store.delete(KEY)
    assert not store.exists(KEY)
    store.delete(KEY)  # deleting a missing object is no error
    assert files_under(store.root) == ["empty"]


def test_uri_is_an_absolute_file_uri_of_the_object(store: LocalStore, tmp_path: Path) -> None:
    store.put(KEY, b"x")
    uri = store.uri(KEY)
    assert uri == (tmp_path / "objects" / KEY).resolve().as_uri()
    assert uri.startswith("file:///") and uri.endswith("/playlog.events-0-0-9.parquet")


def test_root_given_relative_still_gives_absolute_uris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = LocalStore(Path("rel"))
    store.put("a/b", b"1")
    assert store.uri("a/b") == (tmp_path / "rel" / "a" / "b").as_uri()
    monkeypatch.chdir("/")
    assert store.get("a/b") == b"1"  # the root was fixed at open


def test_put_replaces_atomically_and_leaves_no_temporary_file(store: LocalStore) -> None:
    store.put(KEY, b"old" * 1000)
    store.put(KEY, b"new")
    assert store.get(KEY) == b"new"
    assert files_under(store.root) == [KEY]


def test_a_failed_put_keeps_the_old_object_whole(
    store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put(KEY, b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(StoreUnavailable, match="disk full"):
        store.put(KEY, b"new but never durable")
    assert store.get(KEY) == b"old"
    assert files_under(store.root) == [KEY]  # the temporary file is gone too
    with pytest.raises(StoreUnavailable, match="disk full"):
        store.put("fresh/key", b"x")
    assert not store.exists("fresh/key")


@pytest.mark.parametrize(
    "key",
    ["../x", "../objects-other/x", "a/../../x", "/etc/passwd", "a/../..", "..", "", "."],
)
def test_keys_outside_the_root_are_refused(store: LocalStore, tmp_path: Path, key: str) -> None:
    (tmp_path / "x").write_bytes(b"secret")
    for call in (
        lambda: store.put(key, b"evil"),
        lambda: store.get(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
        lambda: store.uri(key),
    ):
        with pytest.raises(ConfigError):
            call()
    assert (tmp_path / "x").read_bytes() == b"secret"
    assert not (tmp_path / "objects-other").exists()


def test_a_symlink_out_of_the_root_is_refused(store: LocalStore, tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (store.root / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(ConfigError):
        store.put("link/x", b"evil")
    assert list((tmp_path / "outside").iterdir()) == []


def test_dots_inside_the_root_are_fine(store: LocalStore) -> None:
    store.put("a/../b", b"1")
    assert store.get("b") == b"1"
    store.put("v1..2/x", b"2")
    assert store.get("v1..2/x") == b"2"


@pytest.mark.parametrize("key", ["missing", "g1/missing/x.parquet", "g1", "g1/login", f"{KEY}/x"])
def test_missing_object_is_not_found(store: LocalStore, key: str) -> None:
    """A key that names a folder (a prefix of other keys) or runs through a file is no
    object either: the same answer as S3."""
    store.put(KEY, b"x")
    assert not store.exists(key)
    with pytest.raises(ObjectMissing):
        store.get(key)


def test_put_makes_the_rename_and_new_folders_durable(
    store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After put returns, a power cut keeps the object: its folder entries are fsynced
    (the rename in its folder, each new folder in its parent), not only its bytes."""
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    store.put(KEY, b"PAR1")
    folder = (store.root / KEY).parent
    assert synced[-1] == str(folder)  # the last fsync: the rename's folder
    for made in (folder, folder.parent, folder.parent.parent):  # g1/login/dt=.../
        assert str(made.parent) in synced  # each new folder's entry, in its parent


def test_keys_lists_every_object_under_a_prefix_in_order(store: LocalStore) -> None:
    for key in ["g2/a.parquet", "g1/login/b.parquet", "g1/login/a.parquet", "top"]:
        store.put(key, b"x")
    (store.root / "g1" / "login" / ".tmp-half").write_bytes(b"half")  # a put under way
    assert list(store.list_keys()) == [
        "g1/login/a.parquet", "g1/login/b.parquet", "g2/a.parquet", "top",
    ]  # fmt: skip
    assert list(store.list_keys("g1/")) == ["g1/login/a.parquet", "g1/login/b.parquet"]
    assert list(store.list_keys("none/")) == []
