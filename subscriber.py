#!/usr/bin/env python3
"""Consume the topics into one Delta table per topic, upserting by id, exactly once.

Each Delta commit carries the Kafka offsets it consumed, so a restart, a crash or a replay never
loses or doubles a record. Messages that cannot become rows go to <delta_path>/_dead_letters.

examples:
  python subscriber.py                 # run until Ctrl-C
  python subscriber.py --once          # catch up with every partition, write, exit

exit status: 0 on a clean stop (Ctrl-C or SIGTERM included); 1 when the broker or a Delta commit
fails; 2 for a bad config.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from deltastream import cli
from deltastream.consume import Subscriber, stop_on_signals

log = logging.getLogger("subscriber")


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser("subscriber.py", __doc__)
    parser.add_argument(
        "--once", action="store_true", help="stop once every assigned partition has caught up"
    )
    parser.add_argument("--delta-path", metavar="DIR", help="override [subscriber] delta_path")
    parser.add_argument("--group-id", metavar="NAME", help="override [subscriber] group_id")
    args = parser.parse_args(argv)

    def body() -> int:
        cfg = cli.load(
            args,
            {
                ("subscriber", "delta_path"): args.delta_path,
                ("subscriber", "group_id"): args.group_id,
            },
        )
        subscriber = Subscriber(cfg)
        with stop_on_signals(subscriber):
            totals = subscriber.run(once=args.once)
        log.info(
            "stopped: %d records in %d commits (%d upserts, %d deletes, %d dead letters)",
            totals.records,
            totals.commits,
            totals.upserts,
            totals.deletes,
            totals.dead,
        )
        return 0

    return cli.run("subscriber.py", body)


if __name__ == "__main__":
    sys.exit(main())
