"""The processor's driver as a file for ``spark-submit`` (which takes a script):

    spark-submit --master yarn "$(python -m playlog.engine.spark_driver --path)" \\
        --config cluster.toml

It runs the same stage as ``playlog process``, with the Spark engine whatever the
config says; spark-submit supplies the master.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="playlog processor driver (Spark)")
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--path", action="store_true", help="print this file's path")
    args = parser.parse_args(argv)
    if args.path:
        print(Path(__file__).resolve())
        return
    from playlog import runtime
    from playlog.settings import Settings

    settings = Settings.read(args.config, process={"engine": "spark"})
    runtime.configure_logging()
    runtime.run(settings, ("process",))


if __name__ == "__main__":
    main(sys.argv[1:])
