"""query.py's views of the tables: the report, its summary, the history, the dead letters, --watch."""

from __future__ import annotations

import argparse
import contextlib
import logging

import polars as pl

from deltastream import render, watch
from deltastream import report as reports
from deltastream.config import Config
from deltastream.tables import DEAD_LETTERS, Tables

log = logging.getLogger(__name__)


def tables(cfg: Config) -> Tables:
    return Tables.at(cfg.subscriber.delta_path, cfg.subscriber.storage_options)


def report(cfg: Config, args: argparse.Namespace) -> int:
    result = reports.load(tables(cfg), cfg.query.tables, args.as_of)
    for note in result.notes:
        log.warning("%s", note)
    for problem in result.problems:
        log.warning("left out of the report: %s", problem)
    reports.check(result, args.strict)
    if args.summary:
        for title, frame in reports.summary(result.frame).items():
            render.write(frame, args.format, None, f"{title}:", -1)
        return 0
    versions = ", ".join(f"{t} v{'-' if v is None else v}" for t, v in result.versions.items())
    when = f" as of {args.as_of.isoformat()}" if args.as_of else ""
    header = f"sales report{when}: {result.frame.height} rows ({versions})"
    render.write(result.frame, args.format, args.output, header, args.rows)
    return 0


def dead_letters(cfg: Config, args: argparse.Namespace) -> int:
    store = tables(cfg)
    table = store.open(DEAD_LETTERS)
    frame = store.scan(table).sort("topic", "partition", "offset").collect() if table else pl.DataFrame()
    header = f"dead letters: {frame.height} (table {store.uri(DEAD_LETTERS)})"
    render.write(frame, args.format, args.output, header, args.rows)
    return 0


def history(cfg: Config, args: argparse.Namespace) -> int:
    store = tables(cfg)
    names = [t for t in cfg.topics if store.exists(t)]
    frame = reports.history(store, names)
    render.write(frame, args.format, args.output, f"history: {frame.height} commits", args.rows)
    return 0


def watch_report(cfg: Config, args: argparse.Namespace) -> int:
    def draw(result: reports.Report) -> None:
        for problem in result.problems:
            print(f"left out: {problem}")
        render.write(result.frame, "table", None, f"sales report: {result.frame.height} rows", args.rows)

    with contextlib.suppress(KeyboardInterrupt):
        watch.watch(tables(cfg), cfg.query.tables, args.watch, draw)
    return 0
