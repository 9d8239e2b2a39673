"""The whole pipeline in one command, on an embedded broker.

    python -m deltastream.demo

Starts the embedded broker on a free port, publishes data/*.csv, runs the subscriber until it has
caught up, prints the joined report and stops the broker. The Delta tables stay in delta_path, so
query.py can be run again afterwards.

exit status: 0 when every step succeeded; 1 when a step failed (its own message says why) or the
broker could not start; 2 for a bad config or flag; 130 after Ctrl-C.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from deltastream import cli, config, scripts
from deltastream.errors import PipelineError
from deltastream.kafka.embedded import EmbeddedBroker

ROOT = Path(__file__).resolve().parents[2]
PROG = "python -m deltastream.demo"
#: How long a step may take to finish after Ctrl-C (it got the signal too, from the terminal).
STEP_STOP_S = 40.0


def step(title: str, script: str, args: list[str]) -> None:
    print(f"\n=== {title}: python {script} {' '.join(args)}", file=sys.stderr, flush=True)
    process = subprocess.Popen([sys.executable, str(ROOT / script), *args], cwd=ROOT)
    try:
        status = process.wait()
    except KeyboardInterrupt:
        # The terminal sent Ctrl-C to the step as well: let it say what it did, then stop.
        try:
            process.wait(STEP_STOP_S)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            process.kill()
            process.wait()
        raise
    if status != 0:
        raise PipelineError(f"{script} exited with status {status} (its message is above)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.ArgumentParser(
        prog=PROG,
        description=(__doc__ or "").strip().splitlines()[0],
        epilog=(__doc__ or "").strip().rpartition("\n\n")[2],
        formatter_class=cli.HelpFormatter,
    )
    parser.add_argument(
        "--config",
        default=str(ROOT / "config.toml"),
        metavar="PATH",
        help="the config the three scripts use (its bootstrap_servers are replaced by the demo's broker)",
    )
    args = parser.parse_args(argv)

    def body() -> int:
        config.load(args.config)  # a bad config stops the demo before the broker starts
        with EmbeddedBroker() as broker:
            print(f"embedded broker (in memory) on {broker.bootstrap_servers}", file=sys.stderr)
            common = ["--config", args.config, "--bootstrap-servers", broker.bootstrap_servers]
            step("publish", "publisher.py", common)
            step("subscribe", "subscriber.py", [*common, "--once"])
            step("report", "query.py", ["--config", args.config])
        return 0

    return scripts.guard(PROG, body)
