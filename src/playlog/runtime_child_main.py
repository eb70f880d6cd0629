"""The child's side of runtime_child.py: the processor of ``playlog up`` in a process
of its own, its metrics on a private localhost port, and a watch on its parent.

    python -m playlog.runtime_child_main FD LEVEL PARENT_PID  < pickled Settings

FD: where to announce the metrics port; LEVEL: the parent's log level.
"""

from __future__ import annotations

import ctypes
import logging
import os
import pickle
import signal
import sys
import threading

from playlog.process.processor import Processor
from playlog.runtime import configure_logging, serve_metrics
from playlog.settings import Settings
from playlog.supervisor import Supervisor
from playlog.wiring import Services, open_engine

log = logging.getLogger("playlog")

_PARENT_POLL_S = 0.5
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """SIGTERM when the parent dies, as if it had stopped us (Linux only)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before prctl
        os.kill(os.getpid(), signal.SIGTERM)


def _serve(settings: Settings, announce_fd: int, parent: int) -> int:
    """The child's side: the processor, its metrics endpoint, and a watch on the parent."""
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
    configure_logging(level)
    threading.current_thread().name = "process-main"  # its lines apart from the parent's
    raise SystemExit(_serve(settings, announce_fd, parent))


if __name__ == "__main__":
    main()
