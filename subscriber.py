#!/usr/bin/env python3
"""Consume the topics into one Delta table per topic, upserting by id, exactly once.

Each Delta commit carries the Kafka offsets it consumed, so a restart, a crash or a replay never
loses or doubles a record. Messages that cannot become rows go to <delta_path>/_dead_letters.
If the broker goes away, the subscriber waits for it and starts over from the offsets in Delta.

examples:
  python subscriber.py                 # run until Ctrl-C
  python subscriber.py --once          # catch up with every partition, write, exit
  python subscriber.py --status        # per partition: end offset, offset in Delta, lag, version

exit status: 0 on a clean stop (Ctrl-C or SIGTERM included); 1 when the broker cannot be reached
at start-up (or, with --once, goes away), a Delta commit fails or a batch cannot be read; 2 for a
bad config or bad flags; 130 after a second Ctrl-C.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from deltastream import cli, native, scripts
from deltastream.config import Config


def show_status(cfg: Config, fmt: str) -> int:
    from deltastream.query import render
    from deltastream.subscribe import status

    frame = status.status(cfg)
    header = status.headline(frame, cfg)
    render.write_text(render.text(frame, fmt, header, -1, render.to_person(None)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser("subscriber.py", __doc__)
    parser.add_argument("--once", action="store_true", help="read every partition until caught up, then stop")
    parser.add_argument("--delta-path", metavar="DIR|URI", help="override [subscriber] delta_path")
    parser.add_argument("--group-id", metavar="NAME", help="override [subscriber] group_id")
    parser.add_argument(
        "--status",
        action="store_true",
        help="each partition's end offset, offset in Delta, lag and table version; then exit",
    )
    parser.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="--status's output format"
    )
    args = parser.parse_args(argv)
    if args.status and args.once:
        parser.error("--status does not go with --once: it reads nothing")
    if args.format != "table" and not args.status:
        parser.error("--format goes with --status")

    def body(cfg: Config) -> int:
        if args.status:
            return show_status(cfg, args.format)
        from deltastream.subscribe.subscriber import subscribe

        scripts.tune_gc()
        scripts.share_the_gil()
        return subscribe(cfg, once=args.once)

    extra = {("subscriber", "delta_path"): args.delta_path, ("subscriber", "group_id"): args.group_id}
    return scripts.run("subscriber.py", args.config, cli.overrides(args, extra), body)


if __name__ == "__main__":
    native.hold_back_panics()
    sys.exit(main())
