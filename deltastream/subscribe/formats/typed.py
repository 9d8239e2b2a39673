"""Text values to the types config.toml declares (:mod:`deltastream.schema`), exactly.

A format that reads text (JSON) gives each declared column its type here. A value that does not
fit its type exactly (a date that does not exist, text in a decimal, more decimals than its scale,
a number too big for its type, a time without a zone) makes its message a dead letter naming the
column, the value and the type; the rest of the batch lands. Null stays null, and so does a blank
value in a column of any type but string (an empty CSV cell). A declared column no
message carries is null. Fields the columns do not declare are kept as text (``evolve``), dropped
(``discard``), or make their message a dead letter (``dead_letter``), as the topic says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import polars as pl

from deltastream.kafka.message import Message
from deltastream.schema import ColumnType, TopicSchema
from deltastream.subscribe.rows import DELETED, OFFSET, PARTITION, POSITION, SEQUENCE, DeadLetter, Decoded

#: The column of a row whose value does not fit, while a batch is checked.
MISFIT = "__misfit"
#: Longest value shown in a dead letter's reason.
SHOWN_CHARS = 40
_INTEGER = r"^\s*[+-]?\d+\s*$"
_TRUE = ("true", "1")
_FALSE = ("false", "0")
#: A time in ISO 8601 with its zone, once a trailing Z and a space separator are normalised.
_ISO_TIME = "%Y-%m-%dT%H:%M:%S%.f%:z"


def dtype(column: ColumnType) -> pl.DataType:
    """The Polars (and so Delta) type of a declared column."""
    kinds: dict[str, pl.DataType] = {
        "string": pl.String(),
        "bool": pl.Boolean(),
        "int32": pl.Int32(),
        "int64": pl.Int64(),
        "float64": pl.Float64(),
        "date": pl.Date(),
        "timestamp": pl.Datetime("us", "UTC"),
    }
    if column.kind == "decimal":
        return pl.Decimal(column.precision, column.scale)
    return kinds[column.kind]


def blank(name: str) -> pl.Expr:
    """An empty (or all-space) value: null in a column of any type but string, as in a CSV file."""
    return pl.col(name).str.strip_chars() == ""


def cast(name: str, column: ColumnType) -> pl.Expr:
    """``name``'s text as ``column``'s type; null where it does not fit exactly, or is blank."""
    text = pl.col(name).str.strip_chars()
    casts: dict[str, Callable[[], pl.Expr]] = {
        "string": lambda: pl.col(name),
        "bool": lambda: (
            pl.when(text.str.to_lowercase().is_in(_TRUE))
            .then(pl.lit(True))
            .when(text.str.to_lowercase().is_in(_FALSE))
            .then(pl.lit(False))
        ),
        "int32": lambda: _integer(name).cast(pl.Int32, strict=False),
        "int64": lambda: _integer(name),
        "float64": lambda: _finite(text.cast(pl.Float64, strict=False)),
        "decimal": lambda: _decimal(name, column),
        "date": lambda: text.str.to_date(column.format or "%Y-%m-%d", strict=False),
        "timestamp": lambda: _timestamp(text, column.format),
    }
    return casts[column.kind]()


def _integer(name: str) -> pl.Expr:
    col = pl.col(name)
    return pl.when(col.str.contains(_INTEGER)).then(col.str.strip_chars().cast(pl.Int64, strict=False))


def _finite(value: pl.Expr) -> pl.Expr:
    return pl.when(value.is_finite()).then(value)


def _decimal(name: str, column: ColumnType) -> pl.Expr:
    whole = column.precision - column.scale
    fraction = rf"(\.\d{{1,{column.scale}}})?" if column.scale else ""
    # decimal(2,2) holds no digit before the point but a zero: 0.25, .25, -0.5.
    digits = rf"\d{{1,{whole}}}{fraction}" if whole else rf"0?\.\d{{1,{column.scale}}}|0"
    exact = rf"^\s*[+-]?(?:{digits})\s*$"
    col = pl.col(name)
    value = col.str.strip_chars().str.to_decimal(scale=column.scale)
    return pl.when(col.str.contains(exact)).then(
        value.cast(pl.Decimal(column.precision, column.scale), strict=False)
    )


def _timestamp(text: pl.Expr, fmt: str | None) -> pl.Expr:
    if fmt is None:
        iso = text.str.replace(r"[Zz]$", "+00:00").str.replace(" ", "T")
        parsed = iso.str.to_datetime(_ISO_TIME, time_unit="us", strict=False)
        return parsed.dt.convert_time_zone("UTC")
    if "%z" in fmt:
        return text.str.to_datetime(fmt, time_unit="us", strict=False).dt.convert_time_zone("UTC")
    return text.str.to_datetime(fmt, time_unit="us", strict=False).dt.replace_time_zone("UTC")


def shown(value: str) -> str:
    return repr(value if len(value) <= SHOWN_CHARS else value[: SHOWN_CHARS - 3] + "...")


class Declared:
    """One topic's declared columns, applied to the text rows a format made."""

    def __init__(self, topic: str, schema: TopicSchema) -> None:
        self.topic = topic
        self.schema = schema

    def apply(self, decoded: Decoded, messages: Mapping[tuple[int, int], Message]) -> Decoded:
        """Give every declared column its type; ``messages`` by (partition, offset), for the dead
        letters of the rows that do not fit."""
        if not self.schema.declared:
            return decoded
        columns = self.schema.columns
        rows = decoded.rows.with_columns(
            pl.lit(None, pl.String).alias(name) for name in columns if name not in decoded.rows.columns
        )
        extra = [c for c in rows.columns if c not in columns and c not in (DELETED, SEQUENCE, *POSITION)]
        # Which column of a row does not fit (the first one), checked in one pass over the batch.
        misfits = [
            pl.when(pl.col(name).is_not_null() & cast(name, column).is_null() & ~blank(name)).then(
                pl.lit(name)
            )
            for name, column in columns.items()
        ]
        if self.schema.undeclared_fields == "dead_letter":
            misfits += [pl.when(pl.col(c).is_not_null()).then(pl.lit(c)) for c in extra]
        checked = rows.with_columns(pl.coalesce([*misfits, pl.lit(None, pl.String)]).alias(MISFIT))
        bad = checked.filter(pl.col(MISFIT).is_not_null())
        dead = [
            DeadLetter.of(
                messages[(row[PARTITION], row[OFFSET])], self._reason(row[MISFIT], row[row[MISFIT]])
            )
            for row in bad.iter_rows(named=True)
        ]
        good = checked.filter(pl.col(MISFIT).is_null()).drop(MISFIT)
        typed = good.with_columns(
            cast(name, column).cast(dtype(column)).alias(name) for name, column in columns.items()
        )
        if self.schema.undeclared_fields != "evolve":
            typed = typed.drop(extra)
        return Decoded(typed, sorted(decoded.dead + dead, key=lambda d: (d.partition, d.offset)))

    def _reason(self, name: str, value: str) -> str:
        if name not in self.schema.columns:
            return f"field {name!r} is not declared in [topic.{self.topic}.columns]"
        return f"column {name!r}: {shown(value)} is not a {self.schema.columns[name]}"
