"""query.py's look at any table by name: one table (``--table``, with ``--columns`` and
``--where``), its columns and types (``--schema``), and SQL over every table (``--sql``, Polars
SQL). The names are config.toml's topics (and ``[query]`` tables), and ``_dead_letters``; each is
read as stored, typed, and as ``--as-of`` names it when given."""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Callable
from typing import TypeVar

import polars as pl
from deltalake import DeltaTable

from deltastream.config import Config
from deltastream.errors import PipelineError, TableUnreadable, one_line
from deltastream.logs import counted
from deltastream.query import render
from deltastream.query.asof import AsOf
from deltastream.query.diagnose import check_files, reading
from deltastream.query.travel import open_at
from deltastream.tables import Tables
from deltastream.values import DEAD_LETTERS

log = logging.getLogger(__name__)


class LookRefused(PipelineError):
    """A table name, a column or a query that does not fit the tables: a flag's fault."""

    exit_code = 2


def names(cfg: Config) -> list[str]:
    """The tables query.py knows by name, in the config's order."""
    return list(dict.fromkeys([*cfg.topics, *cfg.query.tables.values(), DEAD_LETTERS]))


def known(cfg: Config, name: str, flag: str) -> str:
    if name not in names(cfg):
        raise LookRefused(f"{flag} {name}: not a table of this config ({', '.join(names(cfg))})")
    return name


def check_as_of(cfg: Config, args: argparse.Namespace) -> None:
    """Every table ``--as-of`` names a version of is one the view reads: a name it would pass
    over (a typo) would show the latest version as if it were the one asked for."""
    if args.as_of is None:
        return
    named = [n for n in args.as_of.versions if n is not None]
    tables = names(cfg)
    shown = args.table or args.schema
    reads = [shown] if shown else tables if args.sql is not None else list(cfg.query.tables.values())
    for name in named:
        if name not in tables:
            raise LookRefused(f"--as-of: {name} is not a table of this config ({', '.join(tables)})")
        if name not in reads:
            raise LookRefused(f"--as-of: {name} is not read here (only {', '.join(reads)})")


def opened(store: Tables, name: str, as_of: AsOf | None) -> DeltaTable:
    """Table ``name`` as ``as_of`` names it, its files checked."""
    table = open_at(store, name, as_of)
    if table is None:
        raise TableUnreadable(
            name,
            store.uri(name),
            f"it did not exist yet at {as_of}",
            "choose a later time (--history lists them)",
        )
    check_files(store, name, table, as_of if as_of is not None and as_of.moves(name) else None)
    return table


def described(store: Tables, name: str, table: DeltaTable, as_of: AsOf | None) -> str:
    when = f", as of {as_of}" if as_of is not None and as_of.moves(name) else ""
    return f"table {name} (version {table.version()}{when}, {store.uri(name)})"


def show_table(store: Tables, cfg: Config, args: argparse.Namespace) -> int:
    name = known(cfg, args.table, "--table")
    table = opened(store, name, args.as_of)
    with reading(store, name):
        frame = store.scan(table)
        have = frame.collect_schema().names()
    if cfg.general.id_column in have:  # by id, as the report is
        frame = frame.sort(cfg.general.id_column)
    if args.where is not None:  # on every column, whichever are shown
        frame = sql(lambda: frame.sql(f"SELECT * FROM self WHERE {args.where}"), "--where", args.where)
    if args.columns is not None:
        wanted = [c.strip() for c in args.columns.split(",") if c.strip()]
        unknown = [c for c in wanted if c not in have]
        if unknown or not wanted:
            raise LookRefused(
                f"--columns {args.columns}: {name} has no column {', '.join(map(repr, unknown)) or 'named'} "
                f"(its columns: {', '.join(have)})"
            )
        frame = frame.select(wanted)
    if args.where is not None:
        result = sql(frame.collect, "--where", args.where)
    else:
        with reading(store, name):
            result = frame.collect()
    header = f"{described(store, name, table, args.as_of)}: {counted(result.height, 'row')}"
    render.write(result, args.format, args.output, header, args.rows)
    return 0


def show_schema(store: Tables, cfg: Config, args: argparse.Namespace) -> int:
    name = known(cfg, args.schema, "--schema")
    table = opened(store, name, args.as_of)
    with reading(store, name):
        fields = table.schema().fields
    frame = pl.DataFrame(
        {
            "column": [f.name for f in fields],
            "type": [str(getattr(f.type, "type", None) or f.type) for f in fields],
            "nullable": [bool(f.nullable) for f in fields],
        },
        schema={"column": pl.String, "type": pl.String, "nullable": pl.Boolean},
    )
    header = f"{described(store, name, table, args.as_of)}: {counted(frame.height, 'column')}"
    render.write(frame, args.format, args.output, header, args.rows)
    return 0


def show_sql(store: Tables, cfg: Config, args: argparse.Namespace) -> int:
    if not re.match(r"\s*(SELECT|WITH)\b", args.sql, re.IGNORECASE):
        raise LookRefused(f"--sql {args.sql!r}: only a query (SELECT, or WITH ... SELECT) is run")
    frames: dict[str, pl.LazyFrame] = {}
    for name in names(cfg):
        table = open_at(store, name, args.as_of) if store.exists(name) else None
        if table is None and store.exists(name):
            log.warning("table '%s' did not exist yet at %s: left out of --sql", name, args.as_of)
        if table is not None:
            moved = args.as_of is not None and args.as_of.moves(name)
            check_files(store, name, table, args.as_of if moved else None)
            with reading(store, name):
                frames[name] = store.scan(table)
    context = pl.SQLContext(frames)
    result = sql(lambda: context.execute(args.sql).collect(), "--sql", args.sql, list(frames))
    render.write(result, args.format, args.output, f"query: {counted(result.height, 'row')}", args.rows)
    return 0


T = TypeVar("T")
#: What Polars raises for a query that does not fit the tables (a bad name, type or syntax).
QUERY_ERRORS = (
    pl.exceptions.SQLInterfaceError,
    pl.exceptions.SQLSyntaxError,
    pl.exceptions.ColumnNotFoundError,
    pl.exceptions.InvalidOperationError,
    pl.exceptions.SchemaError,
    pl.exceptions.ComputeError,
)


def sql(run: Callable[[], T], flag: str, text: str, tables: list[str] | None = None) -> T:
    """``run`` a query; what Polars says of a query it cannot run is one line naming the flag."""
    try:
        return run()
    except QUERY_ERRORS as exc:
        there = f" (tables: {', '.join(tables)})" if tables is not None else ""
        said = one_line(exc).split(" Resolved plan until failure")[0]  # Polars' plan: not for people
        raise LookRefused(f"{flag} {text!r}: {said}{there}") from None
