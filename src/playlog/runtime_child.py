"""The processor of ``playlog up`` in an OS process of its own (``process.own_process``).

Ingest, processor and loader share one GIL as threads; the in-process engine's Python
work (decoding, planning, Arrow conversion) is a third of the time the GIL is held
(docs/profiles/gil.md). With ``own_process`` set, ``playlog up`` runs it in a child and
keeps ingest and the loader (the only DuckDB writer, which ingest's registrations need)
in the parent. Still one command:

- the parent supervises the child as its stage ``process``: SIGINT/SIGTERM on the
  parent sends SIGTERM to the child, which finishes its micro-batch and exits 0; a
  child that exits on its own fails the stage (``playlog up`` exits 1);
- a parent that dies without a word (SIGKILL) takes the child along: the child asks
  Linux for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``) and, everywhere, checks
  its parent twice a second; what it had not committed is replayed (plans
  and the lease make a restarted processor exactly once);
- the child serves its metrics on a private localhost port that the parent merges into
  its own /metrics and status (monitor/merged.py); it logs to the same stderr in the
  same format.

The child's side is runtime_child_main.py (``python -m playlog.runtime_child_main``).
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
from typing import IO

from playlog.monitor.merged import EXPOSED, scraped
from playlog.settings import Settings
from playlog.supervisor import StageEnded

# A signal sent to the whole process group reaches both processes: the child may be
# done before the parent's main thread acts on its own copy (it polls every 0.1 s).
_GROUP_SIGNAL_GRACE_S = 2.0
_CHILD_MAIN = "playlog.runtime_child_main"


def in_child_process(settings: Settings, stages: tuple[str, ...]) -> bool:
    """Whether the processor runs in a process of its own: under ``playlog up``, when
    asked, with the in-process engine. Spark's engine waits on its JVM (the GIL free
    meanwhile) and keeps its driver in this process (the tests share one JVM's driver
    across servers)."""
    process = settings.process
    return len(stages) > 1 and process.engine != "spark" and process.own_process


class ProcessorProcess:
    """The parent's side: a stage that runs the processor as a child process."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._stopping = False

    def run(self, stop: threading.Event) -> None:
        """The stage (``Supervisor.start("process", stage.run, on_stop=stage.terminate)``)."""
        spawned = self._spawn()
        if spawned is None:
            return  # stopped before it started
        child, announced = spawned
        with announced:
            port = announced.readline().strip()  # "" if it exits first
        if port:
            EXPOSED.attach("process", scraped(f"http://127.0.0.1:{port}/metrics"))
        try:
            code = child.wait()
        finally:
            EXPOSED.detach("process")
        stopped = (0, -signal.SIGTERM, -signal.SIGINT)
        if code in stopped and stop.wait(_GROUP_SIGNAL_GRACE_S):
            return  # asked to stop (by us, or with us by a signal to the group)
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"
        raise StageEnded(f"the processor's process (pid {child.pid}) {how}")

    def _spawn(self) -> tuple[subprocess.Popen[bytes], IO[str]] | None:
        """The child, given the settings on its stdin, and the pipe it announces its
        metrics port on; None once stopping."""
        read_end, write_end = os.pipe()
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
        command = [sys.executable, "-m", _CHILD_MAIN, str(write_end), level, str(os.getpid())]
        try:
            with self._lock:
                if self._stopping:
                    os.close(read_end)
                    return None
                # By the stage's thread, which lives until the child exits: PDEATHSIG
                # follows the thread that forked, not the process.
                child = subprocess.Popen(command, stdin=subprocess.PIPE, pass_fds=(write_end,))
                self._child = child
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        assert child.stdin is not None
        try:
            with child.stdin:
                child.stdin.write(pickle.dumps(self._settings))
        except BrokenPipeError:  # it died at once: its exit code tells
            pass
        return child, os.fdopen(read_end)

    def terminate(self) -> None:
        """``on_stop``: ask the child to finish its micro-batch and exit (no waiting)."""
        with self._lock:
            self._stopping = True
            if self._child is not None and self._child.poll() is None:
                self._child.send_signal(signal.SIGTERM)


__all__ = ["ProcessorProcess", "in_child_process"]
