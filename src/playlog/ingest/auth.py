"""Bearer keys: the admin key for admin operations, a game's key for its events.
The Confluent Schema Registry API (``confluent.py``) takes the same keys as HTTP Basic
passwords (``basic``), the form Confluent's clients send.

Valid game keys are cached for ``KEY_TTL_S``: a request then costs no catalog query,
and when the catalog's database is down (with PostgreSQL it is the warehouse's) known
games keep sending: a cached key is used however old while the catalog cannot answer.
A key revoked through this node stops at once; through another node, within the TTL.

The checks are synchronous and may query the catalog (up to a connect timeout when
its host is unreachable): call them off the event loop (``run_in_threadpool``). When
a cached key is due for a check, one request checks it while the others go on with
the cached answer; when the check fails for lack of an answer, the cached key counts
as checked, so the dead catalog is asked again once per TTL, not on every request.
"""

from __future__ import annotations

import base64
import hmac
import threading
import time
from collections.abc import Callable

from starlette.requests import Request

from playlog.errors import Forbidden, TransientError, Unauthorized
from playlog.registry.catalog import Catalog, hash_key

KEY_TTL_S = 30.0
_MAX_CACHED_KEYS = 100_000


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("missing key: send 'Authorization: Bearer <key>'")
    return key.strip()


def basic(request: Request) -> str:
    """The key as Confluent clients send it: HTTP Basic with the key as the password
    (``basic.auth.user.info = "<any user>:<key>"``; the user name is not checked), or
    a Bearer key (their ``bearer.auth.credentials.source = STATIC_TOKEN``)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return bearer(request)
    if scheme.lower() == "basic":
        try:
            userinfo = base64.b64decode(value.strip(), validate=True).decode()
        except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8
            userinfo = ""
        _, colon, key = userinfo.partition(":")
        if colon and key:
            return key
    raise Unauthorized("missing key: send HTTP Basic auth with the key as password")


# How a request carries its key: ``bearer`` (playlog's own API) or ``basic``.
Credentials = Callable[[Request], str]


class Auth:
    def __init__(self, catalog: Catalog, admin_key: str) -> None:
        self._catalog = catalog
        self._admin_key = admin_key
        self._lock = threading.Lock()
        self._valid: dict[str, tuple[str, float]] = {}  # key hash -> (game, checked at)
        self._checking: set[str] = set()  # key hashes being checked with the catalog now

    def _game_of_key(self, key: str) -> str | None:
        digest = hash_key(key)
        with self._lock:
            cached = self._valid.get(digest)
            if cached is not None:
                if time.monotonic() - cached[1] < KEY_TTL_S or digest in self._checking:
                    return cached[0]
                self._checking.add(digest)
        try:
            game = self._catalog.game_of_key(key)
        except TransientError:
            if cached is None:
                raise
            game = cached[0]  # the catalog cannot answer: trust the key for another TTL
        finally:
            if cached is not None:
                with self._lock:
                    self._checking.discard(digest)
        with self._lock:
            if game is None:
                self._valid.pop(digest, None)
            else:
                if len(self._valid) >= _MAX_CACHED_KEYS:
                    self._valid.clear()
                self._valid[digest] = (game, time.monotonic())
        return game

    def owns_cached(self, request: Request, game: str) -> bool:
        """Whether the request's key is one of ``game``'s, checked within the TTL: no
        catalog query, so the event loop may ask. False: run ``game`` (it may query)."""
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return False
        with self._lock:
            cached = self._valid.get(hash_key(key.strip()))
        return cached is not None and cached[0] == game and time.monotonic() - cached[1] < KEY_TTL_S

    def forget(self) -> None:
        """Drop every cached key (after a revocation through this node)."""
        with self._lock:
            self._valid.clear()

    def _is_admin(self, key: str) -> bool:
        return hmac.compare_digest(key.encode(), self._admin_key.encode())

    def holds_admin_key(self, request: Request) -> bool:
        """Whether the request carries the admin key, told without the catalog (a
        readiness probe never waits on it, whatever key it sends)."""
        try:
            return self._is_admin(bearer(request))
        except Unauthorized:
            return False

    def admin(self, request: Request, credentials: Credentials = bearer) -> None:
        key = credentials(request)
        if self._is_admin(key):
            return
        if self._game_of_key(key) is not None:
            raise Forbidden("this operation needs the admin key")
        raise Unauthorized("unknown key")

    def game(self, request: Request, game: str) -> None:
        """Only the game's own keys may write its events."""
        key = bearer(request)
        owner = self._game_of_key(key)
        if owner == game:
            return
        if owner is not None or self._is_admin(key):
            raise Forbidden(f"this key may not send events for game {game!r}")
        raise Unauthorized("unknown or revoked key")

    def identify(self, request: Request, credentials: Credentials = bearer) -> str | None:
        """Who sends: None for the admin key, else the game whose key it is.
        Unauthorized when there is no key or it is unknown or revoked."""
        key = credentials(request)
        if self._is_admin(key):
            return None
        owner = self._game_of_key(key)
        if owner is None:
            raise Unauthorized("unknown or revoked key")
        return owner

    def admin_or_game(self, request: Request, game: str, credentials: Credentials = bearer) -> None:
        owner = self.identify(request, credentials)
        if owner is not None and owner != game:
            raise Forbidden(f"this key belongs to another game than {game!r}")
