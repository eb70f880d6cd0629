"""Bearer keys: the admin key for admin operations, a game's key for its events."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from playlog.errors import Forbidden, Unauthorized
from playlog.registry.catalog import Catalog


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("missing key: send 'Authorization: Bearer <key>'")
    return key.strip()


class Auth:
    def __init__(self, catalog: Catalog, admin_key: str) -> None:
        self._catalog = catalog
        self._admin_key = admin_key

    def _is_admin(self, key: str) -> bool:
        return hmac.compare_digest(key.encode(), self._admin_key.encode())

    def admin(self, request: Request) -> None:
        key = bearer(request)
        if self._is_admin(key):
            return
        if self._catalog.game_of_key(key) is not None:
            raise Forbidden("this operation needs the admin key")
        raise Unauthorized("unknown key")

    def game(self, request: Request, game: str) -> None:
        """Only the game's own keys may write its events."""
        key = bearer(request)
        owner = self._catalog.game_of_key(key)
        if owner == game:
            return
        if owner is not None or self._is_admin(key):
            raise Forbidden(f"this key may not send events for game {game!r}")
        raise Unauthorized("unknown or revoked key")

    def admin_or_game(self, request: Request, game: str) -> None:
        key = bearer(request)
        if self._is_admin(key):
            return
        owner = self._catalog.game_of_key(key)
        if owner == game:
            return
        if owner is not None:
            raise Forbidden(f"this key belongs to another game than {game!r}")
        raise Unauthorized("unknown or revoked key")
