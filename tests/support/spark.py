"""One Spark driver JVM that several `playlog up` processes use in turn.

Starting Spark dominates the cluster end-to-end tests: every `playlog up` would launch
its own JVM (4-7 s on a quiet 2-core machine, a minute on a busy one). Instead a test
module starts one JVM with PySpark's own launcher and hands its Py4J port and secret to
each `playlog up` as ``PYSPARK_GATEWAY_PORT``/``PYSPARK_GATEWAY_SECRET``, the way
``spark-submit`` runs a Python driver, which the Spark engine supports: it then takes
the master and the driver settings from the JVM. Each `playlog up` still creates and
stops its own SparkContext; one it could not stop (killed with SIGKILL) is stopped by
:meth:`SharedSpark.reset` before the next one starts.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support import processes

MASTER = "local[2]"


class SharedSpark:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        from pyspark.conf import SparkConf
        from pyspark.java_gateway import launch_gateway

        conf = (
            SparkConf(loadDefaults=False)
            .setMaster(MASTER)
            .setAppName("playlog-tests-shared-driver")
            .set("spark.driver.host", "127.0.0.1")
            .set("spark.driver.bindAddress", "127.0.0.1")
            .set("spark.ui.enabled", "false")
            .set("spark.ui.showConsoleProgress", "false")
        )
        self.log = log
        saved = dict(os.environ)
        # launch_gateway() takes the JVM's environment from os.environ (JAVA_HOME...).
        os.environ.update({"PYSPARK_PYTHON": sys.executable, **env})
        try:
            with open(log, "ab") as out:
                self._gateway: Any = launch_gateway(  # type: ignore[no-untyped-call]
                    conf,
                    popen_kwargs={
                        "start_new_session": True,
                        "stdout": out,
                        "stderr": subprocess.STDOUT,
                    },
                )
        finally:
            os.environ.clear()
            os.environ.update(saved)
        self.proc: subprocess.Popen[bytes] = self._gateway.proc
        processes.register(self.proc.pid, "shared Spark driver JVM", ["spark-submit"])

    def env(self) -> dict[str, str]:
        """What a `playlog up` needs to use this JVM instead of starting its own."""
        params = self._gateway.gateway_parameters
        return {
            "PYSPARK_GATEWAY_PORT": str(params.port),
            "PYSPARK_GATEWAY_SECRET": str(params.auth_token),
        }

    def reset(self) -> None:
        """Stop the SparkContext a killed `playlog up` left active (one JVM holds one)."""
        jvm = self._gateway.jvm
        active = getattr(getattr(jvm, "org.apache.spark.SparkContext$"), "MODULE$").getActive()
        if active.isDefined():
            active.get().stop()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.reset()
        with contextlib.suppress(Exception):
            self._gateway.close()
        # The JVM exits when its stdin closes (PythonGatewayServer); the rest is killed.
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        processes.release(self.proc.pid, grace=5)
