"""Upserting rows into one Delta table in one commit that also records offsets: create, append or MERGE.

The input is a frame of string columns keyed by an id column, one row per id, with a boolean
:data:`DELETED` column that marks the ids to delete, and the ``txn`` actions the commit must carry.
Nothing here knows of Kafka. A table that does not exist yet is **created** from the rows that
are not deletions; for one that does, :func:`choose` decides how to write:

- no deletions and none of the ids in the table: **append**, which is what the MERGE would do
  without its join, committed only on the version it checked;
- a table of more than :data:`WIDE_COLUMNS` columns: **replace** the batch's ids, an overwrite
  whose predicate lists them (a MERGE's planning in delta-rs grows with the square of the
  column count: 9 s to update one record of a 2,000-column table, against 1.6 s this way);
- otherwise **MERGE** on id: delete on the flag, update every column when matched, insert when
  not, adding new columns to the table.

The replace predicate is the only place values reach SQL: each id is a single-quoted string
literal with its quotes doubled (:func:`literal`), the one escape SQL string literals have.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from deltastream.subscribe.rows import DELETED
from deltastream.tables import Tables, quote

log = logging.getLogger(__name__)

Operation = Literal["create", "append", "merge", "replace"]
#: Beyond this many columns a table's updates are written by replace instead of MERGE: measured
#: on delta-rs 1.6.6, the two cost about the same at 128 columns for a batch of 5,000 ids, and
#: replace wins at 256 columns for any batch; below, MERGE wins for big batches.
WIDE_COLUMNS = 128


@dataclass(frozen=True)
class TableSettings:
    """Table properties set when a table is created."""

    #: Appends, MERGE rewrites and compaction all aim at this size: an upsert rewrites every file
    #: holding an id it changes, so small files keep its cost near the batch's.
    file_target_bytes: int = 128 * 1024
    #: A checkpoint every few commits keeps reloading the table's state cheap.
    checkpoint_interval: int = 10

    def configuration(self) -> dict[str, str | None]:
        return {
            "delta.targetFileSize": str(self.file_target_bytes),
            "delta.checkpointInterval": str(self.checkpoint_interval),
        }


@dataclass(frozen=True)
class Upserted:
    """What one upsert did. ``operation`` is ``None`` when there was nothing to commit."""

    operation: Operation | None
    version: int | None
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    metrics: Mapping[str, Any] = field(default_factory=dict)


def choose(*, has_deletes: bool, all_new: bool, columns: int) -> Operation:
    """How to write a batch into a table that exists: see the module docstring."""
    if not has_deletes and all_new:
        return "append"
    if columns > WIDE_COLUMNS:
        return "replace"
    return "merge"


@dataclass(frozen=True)
class Upserter:
    """Writes batches of rows, keyed by ``id_column``, into the tables under ``tables``; a table it
    creates gets ``settings``."""

    tables: Tables
    id_column: str
    settings: TableSettings = field(default_factory=TableSettings)

    def upsert(
        self, name: str, table: DeltaTable | None, rows: pl.DataFrame, txns: Sequence[Transaction]
    ) -> Upserted:
        """Write ``rows`` into table ``name`` (``table`` as last read, or ``None``) in one commit."""
        if rows.height == 0:
            return Upserted(None, table.version() if table is not None else None)
        rows = rows.sort(self.id_column)
        if table is None:
            return create(
                self.tables, name, rows, CommitProperties(app_transactions=list(txns)), self.settings
            )
        return update(self.tables, table, align(table, rows), self.id_column, txns)


def create(
    tables: Tables, name: str, rows: pl.DataFrame, commit: CommitProperties, settings: TableSettings
) -> Upserted:
    """The first commit of table ``name``: the rows that are not deletions."""
    kept = rows.filter(~pl.col(DELETED)).drop(DELETED)
    if kept.height == 0:
        return Upserted(None, None)
    write_deltalake(
        tables.uri(name),
        kept,
        mode="append",
        configuration=settings.configuration(),
        target_file_size=settings.file_target_bytes,
        commit_properties=commit,
        storage_options=tables.options,
    )
    return Upserted("create", 0, inserted=kept.height)


def update(
    tables: Tables, table: DeltaTable, rows: pl.DataFrame, id_column: str, txns: Sequence[Transaction]
) -> Upserted:
    """Append, replace or MERGE ``rows`` (every column of the table) into ``table``."""
    commit = CommitProperties(app_transactions=list(txns))
    has_deletes = bool(rows[DELETED].any())
    columns = len(rows.columns) - 1
    ids = rows[id_column]
    existing: set[str] | None = None
    if columns > WIDE_COLUMNS:
        # A wide table is updated by replace, which counts the ids it holds: one scan for both.
        existing = present_ids(tables, table, ids, id_column)
        new_ids_only = not has_deletes and not existing
    else:
        new_ids_only = not has_deletes and all_new(tables, table, ids, id_column)
    operation = choose(has_deletes=has_deletes, all_new=new_ids_only, columns=columns)
    if operation == "append":
        # A blind append passes delta-rs's conflict check whatever was committed since ``table``
        # was read, so an id appended meanwhile from another partition (a producer that does not
        # key by id, another subscriber of the group) would be stored twice. No retries: any such
        # commit fails this one with CommitFailedError, and the sink decides again on the new
        # version. MERGE and replace read the table, and delta-rs checks them itself.
        strict = CommitProperties(app_transactions=list(txns), max_commit_retries=0)
        write_deltalake(
            table, rows.drop(DELETED), mode="append", schema_mode="merge", commit_properties=strict
        )
        return Upserted("append", table.version(), inserted=rows.height)
    if operation == "replace":
        assert existing is not None
        return replace(table, rows, id_column, existing, commit)
    metrics = merge(table, rows, id_column, has_deletes, commit)
    return Upserted(
        "merge",
        table.version(),
        inserted=int(metrics.get("num_target_rows_inserted", 0)),
        updated=int(metrics.get("num_target_rows_updated", 0)),
        deleted=int(metrics.get("num_target_rows_deleted", 0)),
        metrics=metrics,
    )


def merge(
    table: DeltaTable, rows: pl.DataFrame, id_column: str, has_deletes: bool, commit: CommitProperties
) -> dict[str, Any]:
    key = quote(id_column)
    flag = quote(DELETED)
    merger = table.merge(
        rows,
        predicate=f"s.{key} = t.{key}",
        source_alias="s",
        target_alias="t",
        merge_schema=True,
        streamed_exec=False,
        commit_properties=commit,
    )
    if has_deletes:
        merger = merger.when_matched_delete(predicate=f"s.{flag}")
    # Every column named explicitly, each quoted: delta-rs's update_all and insert_all put the
    # names between backticks without escaping the ones a name may hold.
    columns = {quote(c): f"s.{quote(c)}" for c in rows.columns if c != DELETED}
    return (
        merger.when_matched_update(updates=columns, predicate=f"NOT s.{flag}")
        .when_not_matched_insert(updates=columns, predicate=f"NOT s.{flag}")
        .execute()
    )


def literal(text: str) -> str:
    """``text`` as a SQL string literal: single quotes, each quote in it doubled."""
    return "'" + text.replace("'", "''") + "'"


def replace(
    table: DeltaTable, rows: pl.DataFrame, id_column: str, existing: set[str], commit: CommitProperties
) -> Upserted:
    """Overwrite the rows of the batch's ids with the batch's versions, in one commit;
    ``existing``: the batch's ids the table holds."""
    ids = rows[id_column]
    known = ids.is_in(list(existing))
    deleted = rows[DELETED]
    predicate = f"{quote(id_column)} IN ({', '.join(literal(i) for i in ids.to_list())})"
    write_deltalake(
        table,
        rows.filter(~pl.col(DELETED)).drop(DELETED),
        mode="overwrite",
        predicate=predicate,
        schema_mode="merge",
        commit_properties=commit,
    )
    return Upserted(
        "replace",
        table.version(),
        inserted=int((~known & ~deleted).sum()),
        updated=int((known & ~deleted).sum()),
        deleted=int((known & deleted).sum()),
    )


def candidate_files(table: DeltaTable, ids: pl.Series, id_column: str) -> list[str]:
    """Paths of the data files whose id range (from the log's statistics) could hold one of ``ids``."""
    files = pl.DataFrame(table.get_add_actions(flatten=True))
    if files.height == 0:
        return []
    low, high = f"min.{id_column}", f"max.{id_column}"
    if low in files.columns and high in files.columns:
        in_range = pl.col(low).is_null() | pl.col(high).is_null()
        in_range |= (pl.col(low) <= ids.max()) & (pl.col(high) >= ids.min())
        files = files.filter(in_range)
    return [str(path) for path in files["path"].to_list()]


def matching_ids(tables: Tables, table: DeltaTable, ids: pl.Series, id_column: str) -> pl.LazyFrame | None:
    """The table's rows whose id is one of ``ids``, as a scan of the id column of the files whose
    id range (from the log's statistics) could hold one; ``None`` when no file could."""
    candidates = candidate_files(table, ids, id_column)
    if not candidates:
        return None
    return (
        pl.scan_parquet(tables.file_uris(table, candidates), storage_options=tables.options)
        .select(id_column)
        .filter(pl.col(id_column).is_in(ids.implode()))
    )


def present_ids(tables: Tables, table: DeltaTable, ids: pl.Series, id_column: str) -> set[str]:
    """Which of ``ids`` the table holds."""
    found = matching_ids(tables, table, ids, id_column)
    if found is None:
        return set()
    return {str(i) for i in found.unique().collect()[id_column].to_list()}


def all_new(tables: Tables, table: DeltaTable, ids: pl.Series, id_column: str) -> bool:
    """True when none of ``ids`` is in the table (as of the version ``table`` is loaded at: the
    append that follows commits only on that version)."""
    found = matching_ids(tables, table, ids, id_column)
    return found is None or found.head(1).collect().height == 0


def align(table: DeltaTable, rows: pl.DataFrame) -> pl.DataFrame:
    """Give the batch every column of the table: a field a record lacks becomes null.

    A message is the whole record (Kafka's convention for keyed topics), so an update replaces
    every column; a field seen for the first time adds a column to the table.
    """
    present = set(rows.columns)
    missing = [f.name for f in table.schema().fields if f.name not in present]
    if not missing:
        return rows
    return rows.with_columns(pl.lit(None, dtype=pl.String).alias(name) for name in missing)
