"""One registry of every process the tests start, so none outlives the session.

Every server, broker and ``playlog`` stage is started with :func:`spawn`: in a session
of its own (its pid is the session id and process group id), so that :func:`kill_group`
reaches its children too: ``playlog up`` starts a Spark JVM, whose Python worker daemon
moves to a process group of its own (``os.setpgid`` in ``pyspark/daemon.py``) but stays
in the session. So "the group" here is every process of that session. At the end of
the test session ``tests/conftest.py`` asks :func:`leftovers` and fails the run if any
process of a registered session is still alive (and kills it).

Every process started from this test run (by spawn() or otherwise: the JVM PySpark
launches, PostgreSQL's backends...) inherits ``TESTS_PLAYLOG_RUN=<token>`` from our
environment; only processes carrying this run's token are counted or killed, so a pid
reused by someone else's process (other test runs share the machine) is never touched.

Peers started by ``python tests/peers.py start`` are meant to outlive the script that
started them: they are spawned with ``track=False``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.deadline import scaled


@dataclass(frozen=True)
class Spawned:
    pgid: int
    name: str
    argv: tuple[str, ...]


_lock = threading.Lock()
_registry: dict[int, Spawned] = {}

ENV_TOKEN = "TESTS_PLAYLOG_RUN"  # not PLAYLOG_*: the CLI tests drop those
TOKEN = f"{os.getpid()}-{secrets.token_hex(6)}"


def mark_this_run() -> None:
    """Called by tests/conftest.py: everything this test run starts inherits TOKEN.
    (Not by `python tests/peers.py start`: its servers are meant to outlive it.)"""
    os.environ[ENV_TOKEN] = TOKEN


def _token_of(pid: int) -> str | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    prefix = f"{ENV_TOKEN}=".encode()
    return next((e[len(prefix) :].decode() for e in environ if e.startswith(prefix)), None)


def ours(pid: int, token: str | None = TOKEN) -> bool:
    """Was ``pid`` started from the test run of ``token`` (this one by default)?
    ``token=None``: no check (processes of a run that set none)."""
    if pid == os.getpid():
        return False
    return token is None or _token_of(pid) == token


def sweep_orphans() -> list[int]:
    """SIGKILL processes of earlier test runs whose pytest is gone (killed with -9,
    OOM...: it could not clean up). The pids killed."""
    killed = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        token = _token_of(int(entry.name))
        if not token or token == TOKEN:
            continue
        owner = int(token.split("-")[0])
        try:
            os.kill(owner, 0)
            continue  # its run is still going (or the pid was reused: leave it)
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(int(entry.name), signal.SIGKILL)
            killed.append(int(entry.name))
    return killed


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    track: bool = True,
    **popen: Any,
) -> subprocess.Popen[bytes]:
    """``subprocess.Popen`` in a new session (its pid is its process group id),
    registered under ``name`` unless ``track`` is false."""
    popen.setdefault("stdin", subprocess.DEVNULL)
    proc: subprocess.Popen[bytes] = subprocess.Popen(list(argv), start_new_session=True, **popen)
    if track:
        register(proc.pid, name, argv)
    return proc


def register(pgid: int, name: str, argv: Sequence[str] = ()) -> None:
    with _lock:
        _registry[pgid] = Spawned(pgid, name, tuple(str(a) for a in argv))


def registered() -> list[Spawned]:
    with _lock:
        return list(_registry.values())


def group_members(pgid: int, token: str | None = TOKEN) -> list[int]:
    """Live (not zombie) processes of what ``pgid`` started: its session, its process
    group, and their descendants (PostgreSQL's backends each call ``setsid``)."""
    parent: dict[int, int] = {}
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp session ...: comm may hold spaces and parentheses.
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) < 4 or fields[0] in ("Z", "X"):
            continue
        pid = int(entry.name)
        parent[pid] = int(fields[1])
        if pgid in (int(fields[2]), int(fields[3])) and ours(pid, token):
            found.add(pid)
    for pid in parent:
        chain, seen = pid, 0
        while chain in parent and chain not in found and seen < 64:
            chain, seen = parent[chain], seen + 1
        if chain in found and ours(pid, token):
            found.add(pid)
    return sorted(found)


def all_ours() -> list[int]:
    """Every live process that carries this run's token."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and ours(int(entry.name)):
            try:
                state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
            except OSError:
                continue
            if state not in ("Z", "X"):
                pids.append(int(entry.name))
    return pids


def _reap(pgid: int) -> None:
    """Collect our zombie children of the group (the leader is our child)."""
    with contextlib.suppress(ChildProcessError, OSError):
        while True:
            pid, _ = os.waitpid(-pgid, os.WNOHANG)
            if pid == 0:
                return


def _signal_all(pgid: int, sig: int, token: str | None) -> None:
    members = group_members(pgid, token)
    if pgid in members:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
    for pid in members:  # those that moved to a process group of their own
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def kill_group(
    pgid: int, *, grace: float = 5.0, sig: int = signal.SIGTERM, token: str | None = TOKEN
) -> bool:
    """Send ``sig`` (SIGTERM) to the session's processes, wait up to ``grace`` (scaled)
    seconds, then SIGKILL what is left. True if none is left. Safe on a session that
    is gone. Only processes of the run of ``token`` are touched (None: any)."""
    _reap(pgid)
    if not group_members(pgid, token):
        return True
    _signal_all(pgid, sig, token)
    limit = time.monotonic() + scaled(grace)
    while time.monotonic() < limit:
        _reap(pgid)
        if not group_members(pgid, token):
            return True
        time.sleep(0.05)
    limit = time.monotonic() + scaled(10)
    while time.monotonic() < limit:
        _signal_all(pgid, signal.SIGKILL, token)  # again: a child may have forked
        _reap(pgid)
        if not group_members(pgid, token):
            return True
        time.sleep(0.05)
    return False


def release(
    pgid: int, *, grace: float = 5.0, sig: int = signal.SIGTERM, token: str | None = TOKEN
) -> bool:
    """Kill the group (if anything of it is left) and forget it."""
    empty = kill_group(pgid, grace=grace, sig=sig, token=token)
    if empty:
        with _lock:
            _registry.pop(pgid, None)
    return empty


def leftovers(wait: float = 10.0) -> list[int]:
    """Live processes this run started, after giving exiting ones ``wait`` (scaled)
    seconds to finish (a JVM whose driver died exits on its own shortly)."""
    limit = time.monotonic() + scaled(wait)
    while True:
        for spawned in registered():
            _reap(spawned.pgid)
        alive = all_ours()
        if not alive or time.monotonic() >= limit:
            return alive
        time.sleep(0.1)


def kill_all(pids: list[int]) -> None:
    """SIGKILL these processes (of this run: checked again) and reap our children."""
    for pid in pids:
        if ours(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    for spawned in registered():
        _reap(spawned.pgid)


def name_of(pid: int) -> str:
    """The registry's name for the session ``pid`` belongs to, if any."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return "?"
    by_id = {s.pgid: s.name for s in registered()}
    return by_id.get(int(fields[3])) or by_id.get(int(fields[2])) or "not spawned by the registry"


def describe(pid: int) -> str:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return f"{pid} (gone)"
    return f"{pid} {cmdline[:160].strip()}"
