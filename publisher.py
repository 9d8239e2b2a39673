#!/usr/bin/env python3
"""Publish each topic's CSV file to Kafka: one JSON message per row, keyed by its id.

Reads <raw_path>/<topic>.csv for every topic in config.toml, creates missing topics and sends the
rows in batches of batch_size. Prints rows read, sent and rejected per topic.

examples:
  python publisher.py
  python publisher.py --topics department --batch-size 500
  python publisher.py --rate 50          # trickle rows in, to watch them arrive

exit status: 0 when every row of every file was sent; 1 when a file is missing, a row was
rejected or a send failed (the other rows and topics are still sent); 2 for a bad config.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from deltastream import cli
from deltastream.config import Config


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser("publisher.py", __doc__)
    parser.add_argument("--batch-size", type=int, metavar="N", help="override [publisher] batch_size")
    parser.add_argument("--raw-path", metavar="DIR", help="override [publisher] raw_path")
    parser.add_argument(
        "--rate", type=float, metavar="ROWS_PER_S", help="override [publisher] rate (0: no limit)"
    )
    args = parser.parse_args(argv)

    def body(cfg: Config) -> int:
        from deltastream import publish

        cli.tune_gc()
        results = publish.publish(cfg)
        publish.print_summary(results)
        return 0 if all(r.ok for r in results) else 1

    extra = {
        ("publisher", "batch_size"): args.batch_size,
        ("publisher", "raw_path"): args.raw_path,
        ("publisher", "rate"): args.rate,
    }
    return cli.run("publisher.py", args, body, extra)


if __name__ == "__main__":
    sys.exit(main())
