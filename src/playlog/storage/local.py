"""A local folder as object store (the embedded default)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from playlog.errors import ConfigError, ObjectMissing, StoreUnavailable


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if path == self.root or not path.is_relative_to(self.root):
            raise ConfigError(f"object key {key!r} escapes the store")
        return path

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            _make_dirs(path.parent)
            # Write aside, fsync, then rename: a reader never sees half a file.
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        except OSError as exc:
            raise _unavailable(exc, f"put {key}") from exc
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)  # the rename itself survives a power cut
        except BaseException as exc:
            Path(tmp).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise _unavailable(exc, f"put {key}") from exc
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            # a folder (a prefix of other keys) or a path through a file: no object
            raise ObjectMissing(f"no object {key!r} in {self.root}") from exc
        except OSError as exc:
            raise _unavailable(exc, f"get {key}") from exc

    def exists(self, key: str) -> bool:
        try:
            return self._path(key).is_file()
        except OSError as exc:
            raise _unavailable(exc, f"stat {key}") from exc

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise _unavailable(exc, f"delete {key}") from exc

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        # Half-written files (``.tmp-*``, see ``put``) are no objects yet.
        try:
            paths = sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*"))
            found = [k for k in paths if k.startswith(prefix) and not _is_tmp(k)]
            yield from (k for k in found if (self.root / k).is_file())
        except OSError as exc:
            raise _unavailable(exc, f"list {prefix or '/'}") from exc

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()


def _is_tmp(key: str) -> bool:
    return key.rsplit("/", 1)[-1].startswith(".tmp-")


def _make_dirs(folder: Path) -> None:
    """``mkdir -p``, each new folder's entry made durable in its parent."""
    if folder.is_dir():
        return
    _make_dirs(folder.parent)
    try:
        folder.mkdir()
    except FileExistsError:
        return  # another writer made it (and fsynced its parent)
    _fsync_dir(folder.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unavailable(exc: OSError, what: str) -> StoreUnavailable:
    """Disk full, permissions, an unmounted volume: the store is unusable until an
    operator acts, then the same call succeeds (as the S3 store's connection errors)."""
    return StoreUnavailable(f"local store: {what}: {exc.strerror or exc}")
