"""The whole pipeline in one command, on an embedded broker.

    python -m deltastream.demo

Starts the embedded broker on a free port, publishes data/*.csv, runs the subscriber until it has
caught up, prints the joined report and stops the broker. The Delta tables stay in delta_path, so
query.py can be run again afterwards.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from deltastream import cli
from deltastream.broker import EmbeddedBroker
from deltastream.errors import PipelineError

ROOT = Path(__file__).resolve().parent.parent


def step(title: str, script: str, args: list[str]) -> None:
    print(f"\n=== {title}: python {script} {' '.join(args)}", file=sys.stderr, flush=True)
    status = subprocess.call([sys.executable, str(ROOT / script), *args], cwd=ROOT)
    if status != 0:
        raise PipelineError(f"{script} exited with status {status}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deltastream.demo", description=__doc__.strip().splitlines()[0]
    )
    parser.add_argument("--config", default=str(ROOT / "config.toml"), metavar="PATH")
    args = parser.parse_args(argv)

    def body() -> int:
        with EmbeddedBroker() as broker:
            print(f"embedded broker (in memory) on {broker.bootstrap_servers}", file=sys.stderr)
            common = ["--config", args.config, "--bootstrap-servers", broker.bootstrap_servers]
            step("publish", "publisher.py", common)
            step("subscribe", "subscriber.py", [*common, "--once"])
            step("report", "query.py", ["--config", args.config])
        return 0

    return cli.guard("demo", body)


if __name__ == "__main__":
    sys.exit(main())
