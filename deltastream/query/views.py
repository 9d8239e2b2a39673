"""query.py's views of the tables: the report, its summary, the history, the dead letters, --watch."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import threading

import polars as pl

from deltastream import signals
from deltastream.config import Config
from deltastream.errors import ConfigError
from deltastream.logs import counted, typos_of
from deltastream.query import (
    catalog,
    changes,
    charts,
    diagnose,
    explore,
    gold,
    history,
    incremental,
    render,
    summary,
    watch,
)
from deltastream.query import report as reports
from deltastream.tables import DEAD_LETTER_SCHEMA, Tables, is_uri
from deltastream.values import DEAD_LETTERS

log = logging.getLogger(__name__)

#: Lines a table takes at a terminal besides its rows: its title, header, rule and last line.
WATCH_FRAME = 5


def run(cfg: Config, args: argparse.Namespace) -> int:
    """The view ``args`` asks for; --output and --chart are checked before any table is read."""
    if args.output is not None:
        render.check_output(args.output)
    if getattr(args, "chart", None) is not None:
        render.check_output(args.chart, "--chart")
        charts.drawing()  # matplotlib is there
    explore.check_as_of(cfg, args)
    if args.catalog is not None:
        made = catalog.write(args.catalog, tables(cfg, args), explore.names(cfg))
        print(f"catalog {args.catalog}: {counted(len(made), 'view')} ({', '.join(made) or 'no table yet'})")
        return 0
    if args.dead_letters:
        return show_dead_letters(cfg, args)
    if args.history:
        return show_history(cfg, args)
    if args.watch is not None:
        check_roles(cfg, args)
        return show_watch(cfg, args)
    looks = {"table": explore.show_table, "schema": explore.show_schema, "sql": explore.show_sql}
    for flag, look in looks.items():
        if getattr(args, flag) is not None:
            return look(tables(cfg, args), cfg, args)
    return show_report(cfg, args)


def tables(cfg: Config, args: argparse.Namespace) -> Tables:
    """The tables under delta_path; a local delta_path that is a file is a config error."""
    store = Tables.at(cfg.subscriber.delta_path, cfg.subscriber.storage_options)
    if store.local and os.path.exists(store.root) and not os.path.isdir(store.root):
        where = "command line" if getattr(args, "delta_path", None) else str(cfg.source)
        raise ConfigError(
            where, "[subscriber] delta_path", "a folder of Delta tables (this is a file)", store.root
        )
    return store


def check_roles(cfg: Config, args: argparse.Namespace) -> None:
    """A table the report needs that is not there, whose name in [query] is a misspelling of a
    topic of the config: one line naming it, before anything is read."""
    store = tables(cfg, args)
    for role, name in cfg.query.tables.items():
        meant = typos_of(name, cfg.topics)
        if name not in cfg.topics and meant and not store.exists(name):
            expected = f"a topic of [general] topics, whose table the report reads ({', '.join(meant)}?)"
            raise ConfigError(str(cfg.source), f"[query] {role}", expected, name)


def show_report(cfg: Config, args: argparse.Namespace) -> int:
    check_roles(cfg, args)
    result = reports.make(tables(cfg, args), cfg.query.tables, args.as_of)
    for note in result.notes:
        log.warning("%s", note)
    for problem in result.problems:
        log.warning("left out of the report: %s", problem)
    reports.raise_if_strict(result, args.strict)
    parts = summary.summary(result.frame, args.window) if args.summary or args.chart else {}
    if args.chart is not None:
        when = f" as of {args.as_of}" if args.as_of else ""
        title = f"sales: {counted(result.frame.height, 'row')}{when}"
        charts.save(args.chart, parts, result.frame, title, args.window)
        log.info("chart written to %s", args.chart)
    if args.summary:
        write_summary(parts, args)
        return 0
    if args.into is not None:
        keep(cfg, args.into, result)
    versions = ", ".join(f"{t} v{'-' if v is None else v}" for t, v in result.versions.items())
    when = f" as of {args.as_of}" if args.as_of else ""
    header = f"sales report{when}: {counted(result.frame.height, 'row')} ({versions})"
    render.write(result.frame, args.format, args.output, header, args.rows)
    return 0


def write_summary(parts: dict[str, pl.DataFrame], args: argparse.Namespace) -> None:
    """One document per format: see query.py's --help."""
    if args.format == "table":
        rows = args.rows if args.rows is not None or args.output is None else -1
        person = render.to_person(args.output)
        text = "".join(
            render.text(frame, "table", f"{name.replace('_', ' ')}:", rows, person)
            for name, frame in parts.items()
        )
        render.write_text(text + (charts.bars(parts) if person else ""), args.output)
    elif args.format == "json":
        render.write_text(summary.summary_json(parts), args.output)
    else:
        render.write(summary.summary_table(parts), args.format, args.output)


def show_dead_letters(cfg: Config, args: argparse.Namespace) -> int:
    store = tables(cfg, args)
    table = diagnose.find_table(store, DEAD_LETTERS)
    frame = pl.DataFrame(schema=DEAD_LETTER_SCHEMA)
    if table is not None:
        diagnose.check_files(store, DEAD_LETTERS, table)
        with diagnose.reading(store, DEAD_LETTERS):
            frame = store.scan(table).sort("topic", "partition", "offset").collect()
    header = f"dead letters: {counted(frame.height, 'message')} (table {store.uri(DEAD_LETTERS)})"
    render.write(frame, args.format, args.output, header, args.rows)
    return 0


def show_history(cfg: Config, args: argparse.Namespace) -> int:
    store = tables(cfg, args)
    frame, missing = history.commits(store, cfg.topics)
    for topic in missing:
        log.warning("table '%s' is not written yet at %s: no history", topic, store.uri(topic))
    render.write(frame, args.format, args.output, f"history: {counted(frame.height, 'commit')}", args.rows)
    return 0


def show_watch(cfg: Config, args: argparse.Namespace) -> int:
    if args.summary:
        return watch_summary(cfg, args)
    last: list[pl.DataFrame] = []

    def draw(result: reports.Report) -> None:
        # At a terminal the report gets the lines left (the table status lines, the changes and
        # the table's own header and borders come first), so the top stays on screen.
        used = len(cfg.query.tables) + len(result.problems) + WATCH_FRAME
        for problem in result.problems:
            print(f"left out: {problem}")
        if last:  # what changed since the last render, wherever it is in the report
            found = changes.compare(last[0], result.frame)
            print(found)
            used += 1
            if found:
                shown = found.rows.head(changes.SHOWN)
                more = found.rows.height - shown.height
                title = "changed rows" + (f" (the first {shown.height}; {more:,} more)" if more else "")
                render.write(shown, "table", None, title, -1)
                used += shown.height + WATCH_FRAME
        last[:] = [result.frame]
        if args.into is not None:
            keep(cfg, args.into, result)
        header = f"sales report: {counted(result.frame.height, 'row')}"
        rows = args.rows
        if rows is None and render.to_person(None):
            rows = max(3, shutil.get_terminal_size().lines - used)
        render.write(result.frame, "table", None, header, rows)

    stop = threading.Event()
    with signals.stop_on_signals(stop, "leaving --watch"), contextlib.suppress(KeyboardInterrupt):
        watch.watch(watch.Watcher(tables(cfg, args), cfg.query.tables), args.watch, draw, stop)
    return 0


def watch_summary(cfg: Config, args: argparse.Namespace) -> int:
    """--watch --summary: the summary (and its windows) kept current from the rows changed."""
    view = incremental.LiveView(tables(cfg, args), cfg.query.tables, args.window)

    def draw(result: reports.Report) -> None:
        for problem in result.problems:
            print(f"left out: {problem}")
        if view.since is not None:
            print(view.since)
        write_summary(view.parts, args)
        if args.chart is not None:
            title = f"sales: {counted(result.frame.height, 'row')}"
            charts.save(args.chart, view.parts, result.frame, title, args.window)

    stop = threading.Event()
    with signals.stop_on_signals(stop, "leaving --watch"), contextlib.suppress(KeyboardInterrupt):
        watch.watch(watch.Watcher(view.store, cfg.query.tables, view.report), args.watch, draw, stop)
    return 0


def keep(cfg: Config, path: str, result: reports.Report) -> None:
    """Keep the report as the gold table at ``path`` (on the tables' object store's credentials
    when it is a URI there too)."""
    options = cfg.subscriber.storage_options if is_uri(path) else None
    gold.write(path, result.frame, result.versions, options)
