"""The supervisor: stage threads that stop together, with a reason and an exit code."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from playlog import runtime
from playlog.log.embedded import EmbeddedLog
from playlog.settings import Settings
from playlog.supervisor import Stage, StageEnded, Supervisor


class Boom(RuntimeError):
    pass


def patient(stopped: list[str], name: str) -> Stage:
    """A well-behaved stage: runs until asked to stop, then records that it stopped."""

    def stage(stop: threading.Event) -> None:
        stop.wait()
        stopped.append(name)

    return stage


def failing(after_s: float = 0.05) -> Stage:
    def stage(stop: threading.Event) -> None:
        stop.wait(after_s)
        raise Boom("disk on fire")

    return stage


def failures(caplog: pytest.LogCaptureFixture, exc_type: type[BaseException]) -> int:
    return sum(
        1 for r in caplog.records if r.exc_info is not None and isinstance(r.exc_info[1], exc_type)
    )


def test_a_failing_stage_stops_the_others_and_exits_1(caplog: pytest.LogCaptureFixture) -> None:
    stopped: list[str] = []
    supervisor = Supervisor()
    supervisor.start("process", patient(stopped, "process"))
    supervisor.start("canary", patient(stopped, "canary"))
    supervisor.start("load", failing())
    assert supervisor.run() == 1
    assert sorted(stopped) == ["canary", "process"]
    failure = supervisor.failure
    assert failure is not None and failure[0] == "load" and isinstance(failure[1], Boom)
    assert not any(t.name in ("process", "canary", "load") for t in threading.enumerate())
    # Logged once, with the stage and the reason.
    assert failures(caplog, Boom) == 1
    (record,) = [r for r in caplog.records if r.exc_info is not None]
    assert record.levelno == logging.ERROR
    assert "load" in record.getMessage() and "disk on fire" in record.getMessage()


def test_later_failures_while_stopping_keep_the_first(caplog: pytest.LogCaptureFixture) -> None:
    supervisor = Supervisor()

    def fails_on_stop(stop: threading.Event) -> None:
        stop.wait()
        raise ValueError("second")

    supervisor.start("load", fails_on_stop)
    supervisor.start("process", failing())
    assert supervisor.run() == 1
    assert supervisor.failure is not None and supervisor.failure[0] == "process"
    assert failures(caplog, Boom) == 1 and failures(caplog, ValueError) == 0
    assert any("load also failed" in r.getMessage() for r in caplog.records)


def test_stop_without_fail_exits_0() -> None:
    stopped: list[str] = []
    supervisor = Supervisor()
    supervisor.start("process", patient(stopped, "process"))
    supervisor.start("load", patient(stopped, "load"))
    threading.Timer(0.05, supervisor.stop).start()
    assert supervisor.run() == 0
    assert sorted(stopped) == ["load", "process"]
    assert supervisor.failure is None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_every_stage_cleanly(sig: signal.Signals) -> None:
    stopped: list[str] = []
    supervisor = Supervisor()
    before = signal.getsignal(sig)

    def send_once_handled(stop: threading.Event) -> None:
        # Only once run() has installed its handler: else the signal would hit pytest.
        while signal.getsignal(sig) == before and not stop.wait(0.01):
            pass
        os.kill(os.getpid(), sig)
        stop.wait()
        stopped.append("sender")

    supervisor.start("process", patient(stopped, "process"))
    supervisor.start("sender", send_once_handled)
    assert supervisor.run() == 0
    assert sorted(stopped) == ["process", "sender"]
    assert signal.getsignal(sig) == before  # handlers restored


def test_a_signal_while_the_stages_start_stops_them_once_started() -> None:
    """``catch_signals()`` before starting (the processor's child process): a SIGTERM
    that lands meanwhile is acted on by ``run()``, cleanly, not by the default action."""
    stopped: list[str] = []
    supervisor = Supervisor()
    before = signal.getsignal(signal.SIGTERM)
    supervisor.catch_signals()
    os.kill(os.getpid(), signal.SIGTERM)  # still starting: no stage yet
    supervisor.start("process", patient(stopped, "process"))
    assert supervisor.run() == 0
    assert stopped == ["process"]
    assert signal.getsignal(signal.SIGTERM) == before  # handlers restored


def test_on_stop_tells_a_stage_that_does_not_watch_the_event() -> None:
    flag = threading.Event()
    calls: list[int] = []

    def server(_stop: threading.Event) -> None:
        flag.wait()  # like uvicorn: watches its own should_exit

    def on_stop() -> None:
        calls.append(1)
        flag.set()

    supervisor = Supervisor()
    supervisor.start("ingest", server, on_stop=on_stop)
    supervisor.stop()
    supervisor.stop()
    supervisor.join()
    assert calls == [1]


def test_a_stage_that_ends_on_its_own_is_a_failure() -> None:
    supervisor = Supervisor()
    supervisor.start("ingest", lambda _stop: None)
    assert supervisor.run() == 1
    assert supervisor.failure is not None
    assert isinstance(supervisor.failure[1], StageEnded)


def test_system_exit_in_a_stage_is_a_failure_not_an_exit() -> None:
    def uvicorn_cannot_bind(_stop: threading.Event) -> None:
        raise SystemExit(3)

    supervisor = Supervisor()
    supervisor.start("ingest", uvicorn_cannot_bind)
    assert supervisor.run() == 1


def test_leaving_the_block_by_an_exception_stops_started_stages() -> None:
    stopped: list[str] = []
    with pytest.raises(Boom), Supervisor() as supervisor:
        supervisor.start("process", patient(stopped, "process"))
        raise Boom("engine would not start")
    assert stopped == ["process"]


def test_no_stage_starts_once_stopping() -> None:
    ran: list[str] = []
    supervisor = Supervisor()
    supervisor.stop()
    supervisor.start("late", lambda _stop: ran.append("late"))
    supervisor.join()
    assert ran == []


# --- runtime: the stages of `playlog up` under the supervisor --------------------------


class CountingLog(EmbeddedLog):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.trims = 0

    def trim_expired(self, chunk: int = 1_000) -> int:
        self.trims += 1
        return super().trim_expired(chunk)


def test_retention_trims_the_log_until_stopped(tmp_path: Path) -> None:
    log = CountingLog(tmp_path / "log.sqlite")
    stop = threading.Event()
    thread = threading.Thread(target=runtime.retention(log, every_s=0.01), args=(stop,))
    thread.start()
    deadline = time.monotonic() + 5
    while log.trims < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join()
    log.close()
    assert log.trims >= 3


def test_run_exits_1_and_names_the_stage_when_one_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenProcessor:
        def __init__(self, *_: object) -> None:
            pass

        def run(self, stop: threading.Event) -> None:
            raise Boom("cannot write batch files")

    monkeypatch.setattr(runtime, "Processor", BrokenProcessor)
    settings = Settings.read(data_dir=tmp_path, monitor={"canary_interval_s": 0})
    with caplog.at_level(logging.INFO, logger="playlog"), pytest.raises(SystemExit) as exited:
        runtime.run(settings, ("process",))
    assert exited.value.code == 1
    assert failures(caplog, Boom) == 1
    assert any(r.getMessage() == "stopped after stage process failed" for r in caplog.records)
    assert not any(t.name == "retention" for t in threading.enumerate())
