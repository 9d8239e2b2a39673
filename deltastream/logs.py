"""Logging set-up, done once by each script's main()."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup(level: int) -> None:
    """Send log records to stderr at ``level``; the report and summaries go to stdout."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_deltastream", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))
    handler._deltastream = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # kafka-python logs every reconnect attempt as an error; our own messages say it once, so its
    # records are shown only when debugging.
    kafka_level = logging.DEBUG if level <= logging.DEBUG else logging.CRITICAL
    logging.getLogger("kafka").setLevel(kafka_level)
