"""What changed in the report between two renders of ``--watch``: rows inserted, updated and
deleted (by sale id), so a change far from the first and last rows is seen too."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from deltastream.logs import counted

#: The column that says how a row changed: ``+`` inserted, ``~`` updated (shown as it is now),
#: ``-`` deleted (shown as it was).
CHANGE = "change"
#: Changed rows shown above the report at most.
SHOWN = 10
_HASH = "__row"


@dataclass(frozen=True)
class Changes:
    inserted: int
    updated: int
    deleted: int
    #: The changed rows, ``change`` first, by id.
    rows: pl.DataFrame

    def __bool__(self) -> bool:
        return bool(self.inserted or self.updated or self.deleted)

    def __str__(self) -> str:
        counts = ", ".join(
            counted(n, f"row {what}") if n == 1 else f"{n:,} rows {what}"
            for n, what in ((self.inserted, "inserted"), (self.updated, "updated"), (self.deleted, "deleted"))
            if n
        )
        return f"since the last render: {counts or 'no row changed'}"


def hashed(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    return frame.with_columns(pl.struct(pl.exclude(key)).hash().alias(_HASH))


def compare(before: pl.DataFrame, after: pl.DataFrame, key: str = "id") -> Changes:
    """The rows of ``after`` that are new or changed against ``before``, and those gone."""
    old, new = hashed(before, key), hashed(after, key)
    inserted = new.join(old.select(key), on=key, how="anti")
    deleted = old.join(new.select(key), on=key, how="anti")
    both = new.join(old.select(key, pl.col(_HASH).alias("__was")), on=key, how="inner")
    updated = both.filter(pl.col(_HASH) != pl.col("__was")).drop("__was")
    rows = pl.concat(
        [
            inserted.select(pl.lit("+").alias(CHANGE), pl.exclude(_HASH)),
            updated.select(pl.lit("~").alias(CHANGE), pl.exclude(_HASH)),
            deleted.select(pl.lit("-").alias(CHANGE), pl.exclude(_HASH)),
        ],
        how="vertical_relaxed",
    ).sort(key, CHANGE)
    return Changes(inserted.height, updated.height, deleted.height, rows)
