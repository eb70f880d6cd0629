"""The processor of ``playlog up`` in an OS process of its own (docs/profiles/gil.md).

Ingest, processor and loader share one GIL as threads; the in-process engine's Python
work (decoding, planning, Arrow conversion) is a third of the time the GIL is held, so
``playlog up`` runs it in a child and keeps ingest and the loader (the only DuckDB
writer, which ingest's registrations need) in the parent. Still one command:

- the parent supervises the child as its stage ``process``: SIGINT/SIGTERM on the
  parent sends SIGTERM to the child, which finishes its micro-batch and exits 0; a
  child that exits on its own fails the stage (``playlog up`` exits 1);
- a parent that dies without a word (SIGKILL) takes the child along: the child asks
  Linux for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``) and, everywhere, checks
  its parent every ``_PARENT_POLL_S``; what it had not committed is replayed (plans
  and the lease make a restarted processor exactly once);
- the child serves its metrics on a private localhost port that the parent merges into
  its own /metrics and status (monitor/merged.py); it logs to the same stderr in the
  same format.

    python -m playlog.runtime_child FD LEVEL PARENT_PID  < pickled Settings
"""

from __future__ import annotations

import ctypes
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading

from playlog.monitor.merged import EXPOSED, scraped
from playlog.settings import Settings
from playlog.supervisor import StageEnded, Supervisor

log = logging.getLogger("playlog")

_PARENT_POLL_S = 0.5
# A signal sent to the whole process group reaches both processes: the child may be
# done before the parent's main thread acts on its own copy (it polls every 0.1 s).
_GROUP_SIGNAL_GRACE_S = 2.0
_PR_SET_PDEATHSIG = 1


def in_child_process(settings: Settings, stages: tuple[str, ...]) -> bool:
    """Whether the processor runs in a process of its own: under ``playlog up`` with
    the in-process engine, whose Python work would share the GIL with ingest and the
    loader. Spark's engine waits on its JVM (the GIL free meanwhile) and keeps its
    driver in this process (the tests share one JVM's driver across servers)."""
    return len(stages) > 1 and settings.process.engine != "spark"


class ProcessorProcess:
    """The parent's side: a stage that runs the processor as a child process."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._stopping = False

    def run(self, stop: threading.Event) -> None:
        """The stage (``Supervisor.start("process", stage.run, on_stop=stage.terminate)``)."""
        read_end, write_end = os.pipe()
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
        command = [sys.executable, "-m", __name__, str(write_end), level, str(os.getpid())]
        with self._lock:
            if self._stopping:
                return
            # Spawned by this thread, which lives until the child exits: PDEATHSIG
            # follows the thread that forked, not the process.
            self._child = subprocess.Popen(command, stdin=subprocess.PIPE, pass_fds=(write_end,))
        child = self._child
        os.close(write_end)
        try:
            assert child.stdin is not None
            with child.stdin:
                child.stdin.write(pickle.dumps(self._settings))
        except BrokenPipeError:  # it died at once: its exit code tells
            pass
        with os.fdopen(read_end) as announced:
            port = announced.readline().strip()  # "" if it exits first
        if port:
            EXPOSED.attach("process", scraped(f"http://127.0.0.1:{port}/metrics"))
        try:
            code = child.wait()
        finally:
            EXPOSED.detach("process")
        if stop.wait(_GROUP_SIGNAL_GRACE_S):
            return  # asked to stop (by us, or with us by a signal to the group)
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"
        raise StageEnded(f"the processor's process (pid {child.pid}) {how}")

    def terminate(self) -> None:
        """``on_stop``: ask the child to finish its micro-batch and exit (no waiting)."""
        with self._lock:
            self._stopping = True
            if self._child is not None and self._child.poll() is None:
                self._child.send_signal(signal.SIGTERM)


def _die_with_parent(parent: int) -> None:
    """SIGTERM when the parent dies, as if it had stopped us (Linux only)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before prctl
        os.kill(os.getpid(), signal.SIGTERM)


def _serve(settings: Settings, announce_fd: int, parent: int) -> int:
    """The child's side: the processor, its metrics endpoint, and a watch on the parent."""
    from playlog.process.processor import Processor
    from playlog.runtime import serve_metrics
    from playlog.wiring import Services, open_engine

    supervisor = Supervisor()
    supervisor.catch_signals()  # SIGTERM while starting: stop once started, cleanly
    services = Services.open(settings, with_warehouse=False)
    try:
        with supervisor:
            engine = open_engine(settings, services.log, services.registry, services.store)
            processor = Processor(settings, services.log, services.store, engine, services.catalog)
            port = serve_metrics(supervisor, "127.0.0.1", 0)
            os.write(announce_fd, f"{port}\n".encode())
            os.close(announce_fd)
            supervisor.start("process", processor.run)

            def watch_parent(stop: threading.Event) -> None:
                while not stop.wait(_PARENT_POLL_S):
                    if os.getppid() != parent:
                        log.warning("processor: playlog up (pid %d) is gone; stopping", parent)
                        supervisor.stop()

            supervisor.start("parent", watch_parent)
            return supervisor.run()
    finally:
        services.close()


def main() -> None:
    announce_fd, level, parent = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    _die_with_parent(parent)
    settings = pickle.load(sys.stdin.buffer)
    from playlog.runtime import configure_logging

    configure_logging(level)
    threading.current_thread().name = "process-main"  # its lines apart from the parent's
    raise SystemExit(_serve(settings, announce_fd, parent))


if __name__ == "__main__":
    main()

__all__ = ["ProcessorProcess", "in_child_process"]
