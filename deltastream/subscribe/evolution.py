"""Declared columns held against the tables that exist, when the subscriber starts.

A column declared anew is added by the next write (older rows null). A type widened the way Delta
allows (int32 to int64, a decimal to a larger precision at the same scale) is applied at start by
rewriting the table's files once, said in one line. Any other change (a narrower type, text to a
number over existing data, a name that differs only in case) is refused in one line that says how
to proceed: nothing is rewritten silently.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import polars as pl
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError

from deltastream.dtypes import widens
from deltastream.errors import SchemaRefused, SinkError
from deltastream.logs import counted
from deltastream.schema import TopicSchema
from deltastream.subscribe.changes import table_schema
from deltastream.subscribe.formats.typed import dtype
from deltastream.tables import Tables

log = logging.getLogger(__name__)


def described(have: pl.DataType) -> str:
    """A table column's type in config.toml's words, where it has them."""
    words = {pl.String: "string", pl.Boolean: "bool", pl.Int32: "int32", pl.Int64: "int64"}
    words |= {pl.Float64: "float64", pl.Date: "date"}
    for kind, word in words.items():
        if have == kind:
            return word
    if isinstance(have, pl.Decimal):
        return f"decimal({have.precision},{have.scale})"
    if isinstance(have, pl.Datetime):
        return "timestamp"
    return str(have)


def reconcile(tables: Tables, topic: str, schema: TopicSchema) -> None:
    """Hold ``topic``'s declared columns against its table, if it has one (see the module)."""
    try:
        table = tables.open(topic)
        if table is None:
            return
        have = table_schema(table)
    except (DeltaError, OSError) as exc:
        raise SinkError(tables.uri(topic), f"cannot read the table's columns: {exc}") from exc
    if schema.undeclared_fields == "evolve":
        # A field nobody declares arrives as text: a typed column would refuse it at every write.
        for name, kind in have.items():
            if name not in schema.columns and kind != pl.String:
                raise SchemaRefused(
                    topic,
                    tables.uri(topic),
                    f"column {name!r} holds {described(kind)}, and config.toml no longer declares it "
                    f"(its values would come as text)",
                )
    if not schema.declared:
        return
    by_case = {name.lower(): name for name in have}
    widened: dict[str, pl.DataType] = {}
    for name, column in schema.columns.items():
        stored = by_case.get(name.lower())
        if stored is None:
            continue
        if stored != name:
            raise SchemaRefused(topic, tables.uri(topic), f"column {stored!r} is declared as {name!r}")
        want = dtype(column)
        if have[name] == want:
            continue
        if not widens(have[name], want):
            raise SchemaRefused(
                topic,
                tables.uri(topic),
                f"column {name!r} holds {described(have[name])}, and config.toml declares {column}, "
                "which it cannot become without losing or rewriting data",
            )
        widened[name] = want
    if widened:
        widen(tables, topic, widened)


def widen(tables: Tables, topic: str, columns: Mapping[str, pl.DataType]) -> None:
    """Rewrite table ``topic`` once with ``columns`` of their wider types (the offsets the log
    holds stay: only data files are replaced)."""
    started = time.monotonic()
    table = tables.open(topic)
    assert table is not None
    frame = tables.scan(table).collect()
    frame = frame.with_columns(pl.col(name).cast(wider) for name, wider in columns.items())
    write_deltalake(
        table,
        frame,
        mode="overwrite",
        schema_mode="overwrite",
        commit_properties=CommitProperties(custom_metadata={"deltastream": "widen"}),
    )
    what = ", ".join(f"{name} to {described(wider)}" for name, wider in columns.items())
    log.info(
        "%s: widened %s: rewrote %s in %.0f ms (version %d)",
        topic,
        what,
        counted(frame.height, "row"),
        (time.monotonic() - started) * 1000,
        table.version(),
    )


def widen_for(tables: Tables, topic: str, table: DeltaTable | None, rows: pl.DataFrame) -> bool:
    """Rewrite table ``topic`` once first if ``rows`` hold a column in a type that widens the
    table's (a schema's int that became a long, a decimal given more digits); whether it did."""
    if table is None:
        return False
    have = table_schema(table)
    columns = {n: t for n, t in rows.schema.items() if n in have and widens(have[n], t)}
    if columns:
        widen(tables, topic, columns)
    return bool(columns)
