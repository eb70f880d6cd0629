"""The object store the settings select."""

from __future__ import annotations

from playlog.settings import Settings
from playlog.storage.base import ObjectStore


def open_store(settings: Settings) -> ObjectStore:
    if settings.storage.kind == "s3":
        from playlog.storage.s3 import S3Store

        return S3Store.from_settings(settings.storage)
    from playlog.storage.local import LocalStore

    return LocalStore(settings.storage_root)
