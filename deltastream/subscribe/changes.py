"""What a batch changes in a table: the rows that are new, changed, unchanged, and the deletes of
ids the table holds.

Only what changes is written: a record identical to the row stored is not rewritten and not
counted, and a batch that changes nothing commits its offsets alone. The stored rows of the batch's
ids are read from the data files whose id range (the log's statistics) could hold one of them, so
the check reads little when the changed ids sit together (ids that grow with time), and nothing for
a batch of ids above every file's range (a first load).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from deltalake import DeltaTable

from deltastream.subscribe.rows import DELETED
from deltastream.tables import Tables

#: Marks, during the comparison, the batch rows whose id the table holds.
STORED = "__stored"
SUFFIX = "__was"


@dataclass(frozen=True)
class Changes:
    """The rows to write (new, changed, and deletes of stored ids), and the counts."""

    rows: pl.DataFrame
    inserted: int
    updated: int
    deleted: int
    unchanged: int

    @property
    def empty(self) -> bool:
        return self.rows.height == 0

    @property
    def inserts_only(self) -> bool:
        return self.updated == 0 and self.deleted == 0


def table_schema(table: DeltaTable) -> pl.Schema:
    """The table's columns as Polars types."""
    return pl.DataFrame(table.schema().to_arrow().empty_table()).schema


def candidate_files(table: DeltaTable, ids: pl.Series, id_column: str) -> list[str]:
    """Paths of the data files whose id range (from the log's statistics) could hold one of ``ids``."""
    files = pl.DataFrame(table.get_add_actions(flatten=True))
    if files.height == 0 or ids.len() == 0:
        return []
    low, high = f"min.{id_column}", f"max.{id_column}"
    if low in files.columns and high in files.columns:
        in_range = pl.col(low).is_null() | pl.col(high).is_null()
        in_range |= (pl.col(low) <= ids.max()) & (pl.col(high) >= ids.min())
        files = files.filter(in_range)
    return [str(path) for path in files["path"].to_list()]


def stored_rows(
    tables: Tables, table: DeltaTable, ids: pl.Series, id_column: str, columns: list[str] | None = None
) -> pl.LazyFrame | None:
    """The table's rows (``columns`` of them, all by default) whose id is one of ``ids``; ``None``
    when no file's id range could hold one."""
    candidates = candidate_files(table, ids, id_column)
    if not candidates:
        return None
    schema = table_schema(table)
    scan = pl.scan_parquet(
        tables.file_uris(table, candidates),
        schema=schema,
        missing_columns="insert",
        storage_options=tables.options,
    )
    return scan.select(columns or list(schema)).filter(pl.col(id_column).is_in(ids.implode()))


def compare(tables: Tables, table: DeltaTable, rows: pl.DataFrame, id_column: str) -> Changes:
    """Split ``rows`` (one per id, with every column of the table and the :data:`DELETED` flag)
    into what changes the table and what does not."""
    found = stored_rows(tables, table, rows[id_column], id_column)
    stored = found.collect() if found is not None else pl.DataFrame(schema=table_schema(table))
    columns = [c for c in rows.columns if c not in (id_column, DELETED)]
    kept = set(stored.columns)
    marked = stored.select(id_column, *[c for c in columns if c in kept]).with_columns(
        pl.lit(True).alias(STORED)
    )
    joined = rows.join(marked, on=id_column, how="left", suffix=SUFFIX)
    present = pl.col(STORED).fill_null(False)
    same = pl.all_horizontal(
        [pl.col(c).eq_missing(pl.col(c + SUFFIX)) if c in kept else pl.col(c).is_null() for c in columns]
        or [pl.lit(True)]
    )
    deleted = pl.col(DELETED)
    kinds = joined.select(
        (~deleted & ~present).alias("insert"),
        (~deleted & present & ~same).alias("update"),
        (~deleted & present & same).alias("same"),
        (deleted & present).alias("delete"),
    )
    keep = kinds["insert"] | kinds["update"] | kinds["delete"]
    return Changes(
        rows.filter(keep),
        inserted=int(kinds["insert"].sum()),
        updated=int(kinds["update"].sum()),
        deleted=int(kinds["delete"].sum()),
        unchanged=int(kinds["same"].sum()),
    )
