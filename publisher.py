#!/usr/bin/env python3
"""Publish each topic's CSV file to Kafka: one JSON message per row, keyed by its id.

Reads <raw_path>/<topic>.csv for every topic in config.toml, creates missing topics and sends the
rows, confirming them with the broker every batch_size rows. Prints rows read,
sent, rejected and failed per topic. A bad row is reported as file:line and skipped; a missing or
unreadable file skips its topic; the other rows and topics are still sent. Publishing again is
always safe: the subscriber upserts by id.

examples:
  python publisher.py
  python publisher.py --topics department --batch-size 500
  python publisher.py --rate 20          # rows go out one by one, 20 a second, to watch them arrive
  python publisher.py --quiet            # the summary alone (and any warning or error)
  python publisher.py --follow           # keep sending new and changed rows as files are saved

Paced (--rate), each batch confirmed is a log line as the rows go (every batch_size rows or every
second); a file sent at full speed logs its batches at DEBUG only (--log-level DEBUG).

Ctrl-C or SIGTERM stops reading; what was sent is still confirmed (Ctrl-C again stops waiting),
and the summary says per topic what the broker confirmed and where reading stopped.

exit status: 0 when every row of every file was sent; 1 when a file is missing or unreadable, a
row was rejected, a send failed or the broker cannot be reached (the other rows and topics are
still sent), or a Python package is missing; 2 for a bad config or bad flags; 130 when stopped
by Ctrl-C (SIGINT), 143 when stopped by SIGTERM. With --follow: 0 when Ctrl-C or SIGTERM ends
it (after the round in hand), 130 when it comes before following began.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence

from deltastream import cli, scripts, signals
from deltastream.config import Config
from deltastream.errors import Stopped
from deltastream.logs import counted


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser("publisher.py", __doc__)
    parser.add_argument("--batch-size", type=int, metavar="N", help="override [publisher] batch_size")
    parser.add_argument("--raw-path", metavar="DIR", help="override [publisher] raw_path")
    parser.add_argument(
        "--rate", type=float, metavar="ROWS_PER_S", help="override [publisher] rate (0: no limit)"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="warnings, errors and the summary only: no progress bar"
    )
    parser.add_argument(
        "--follow",
        action="store_true",
        help="keep running: send each file's new and changed rows whenever it is saved (Ctrl-C stops)",
    )
    args = parser.parse_args(argv)
    if args.quiet and args.log_level is not None:
        parser.error("--quiet does not go with --log-level (it is --log-level WARNING)")
    if args.follow and (args.rate is not None or args.batch_size is not None):
        parser.error("--follow sends each saved file's changes at once: --rate and --batch-size do not apply")

    def body(cfg: Config) -> int:
        from deltastream.publish import producer, summary

        scripts.tune_gc()
        stopping = "stopping after the row in hand (Ctrl-C again: at once)"
        stop = threading.Event()
        if args.follow:
            with signals.stop_on_signals(stop, "stopping after the round in hand"):
                sent = producer.follow_files(cfg, stop)
            if sent is None:
                raise Stopped(signal.SIGINT, "stopped before following began")
            for topic, n in sent.items():
                print(f"{topic}: {counted(n, 'row')} sent while following")
            return 0
        with signals.stop_on_signals(stop, stopping) as received:
            results = producer.publish(cfg, stop)
        summary.print_summary(results, secrets=cfg.secrets())
        summary.raise_for(results, received.signum)
        return 0

    extra = {
        ("publisher", "batch_size"): args.batch_size,
        ("publisher", "raw_path"): args.raw_path,
        ("publisher", "rate"): args.rate,
        ("general", "logging_level"): "WARNING" if args.quiet else None,
    }
    return scripts.run("publisher.py", args.config, cli.overrides(args, extra), body)


if __name__ == "__main__":
    sys.exit(main())
