"""Column types in Delta's words, and which values go into which column without loss.

Formats that take their types from the messages (an Avro schema, a Connect schema) check each
new schema's fields against the table's columns with :func:`fits`, and name both types with
:func:`described` when one does not fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

#: Decimal precision Delta (and Parquet) can hold.
MAX_PRECISION = 38


#: The narrower types each type holds every value of.
_HOLDS: Mapping[Any, tuple[Any, ...]] = {
    pl.Int64: (pl.Int32, pl.Int16, pl.Int8),
    pl.Int32: (pl.Int16, pl.Int8),
    pl.Int16: (pl.Int8,),
    pl.Float64: (pl.Float32,),
}


def fits(have: pl.DataType, want: pl.DataType) -> bool:
    """Whether values of type ``want`` (a schema's) go into a column of type ``have`` (the
    table's) without losing any: the same type, or a narrower one of the same kind."""
    if isinstance(have, pl.Decimal) and isinstance(want, pl.Decimal):
        return have.scale == want.scale and (have.precision or MAX_PRECISION) >= (
            want.precision or MAX_PRECISION
        )
    return have == want or any(want == narrower for narrower in _HOLDS.get(have.base_type(), ()))


def widens(have: pl.DataType, want: pl.DataType) -> bool:
    """Whether a column of type ``have`` can become ``want`` without losing a value, as Delta
    widens types: a wider integer, a float to a double, a decimal to more digits at its scale."""
    return have != want and fits(want, have)


def wider(have: pl.DataType, want: pl.DataType) -> pl.DataType:
    """The type a column of type ``have`` takes to hold values of type ``want`` too (``want`` when
    it widens ``have``)."""
    return want if widens(have, want) else have


def described(dtype: pl.DataType) -> str:
    """A type in Delta's words."""
    words: Mapping[Any, str] = {
        pl.String: "string",
        pl.Boolean: "boolean",
        pl.Int8: "byte",
        pl.Int16: "short",
        pl.Int32: "integer",
        pl.Int64: "long",
        pl.Float32: "float",
        pl.Float64: "double",
        pl.Date: "date",
        pl.Binary: "binary",
    }
    if isinstance(dtype, pl.Decimal):
        return f"decimal({dtype.precision},{dtype.scale})"
    if isinstance(dtype, pl.Datetime):
        return "timestamp"
    return words.get(dtype.base_type(), str(dtype))


def misfit(schema: Mapping[str, pl.DataType], columns: Mapping[str, pl.DataType]) -> str | None:
    """The first field of ``schema`` that cannot go into ``columns`` (a table's), as a message
    naming the field and both types; ``None`` when every field fits, is new, or widens its column
    (which the sink then rewrites once: :func:`deltastream.subscribe.evolution.widen`)."""
    lowered = {n.lower(): n for n in columns}
    for name, dtype in schema.items():
        other = lowered.get(name.lower(), name)
        if other != name:
            return f"field {name!r} differs only in case from the column {other!r}"
        if name in columns and not fits(columns[name], dtype) and not widens(columns[name], dtype):
            return (
                f"field {name!r} is a {described(dtype)} where the table's column is a "
                f"{described(columns[name])}: an incompatible change (write it to a new topic, or "
                "move the table away and read the topic again)"
            )
    return None
