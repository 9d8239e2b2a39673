"""Upserting rows into one Delta table in one commit that also records offsets: create, append or MERGE.

The input is a frame keyed by an id column (text, or the types a topic declares), one row per id,
with a boolean :data:`DELETED` column that marks the ids to delete, and the ``txn`` actions the
commit must carry. Nothing here knows of Kafka. A table that does not exist yet is **created** from
the rows that are not deletions. For one that does, only what changes is written
(:mod:`deltastream.subscribe.changes`): a batch that changes nothing commits its offsets alone
(**offsets**); otherwise :func:`choose` decides how to write what changes:

- no deletions and none of the ids in the table: **append**, which is what the MERGE would do
  without its join, committed only on the version it checked;
- a table of more than :data:`WIDE_COLUMNS` columns: **replace** the batch's ids, an overwrite
  whose predicate lists them (a MERGE's planning in delta-rs grows with the square of the
  column count: 9 s to update one record of a 2,000-column table, against 1.6 s this way);
- otherwise **MERGE** on id: delete on the flag, update every column when matched, insert when
  not, adding new columns to the table.

The replace predicate is the only place values reach SQL: each id is a number as written, or a
single-quoted string literal with its quotes doubled (:func:`literal`), the one escape SQL string
literals have.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import polars as pl
from deltalake import CommitProperties, DeltaTable, PostCommitHookProperties, Transaction, write_deltalake

from deltastream.subscribe.changes import Changes, compare, table_schema
from deltastream.subscribe.rows import DELETED
from deltastream.tables import Tables, quote

log = logging.getLogger(__name__)

Operation = Literal["create", "append", "merge", "replace", "offsets"]
#: Beyond this many columns a table's updates are written by replace instead of MERGE: measured
#: on delta-rs 1.6.6, the two cost about the same at 128 columns for a batch of 5,000 ids, and
#: replace wins at 256 columns for any batch; below, MERGE wins for big batches.
WIDE_COLUMNS = 128


#: The files a MERGE or a replace writes are this much smaller than the files appends and
#: compaction aim at (but not below :data:`MIN_REWRITE_BYTES`).
REWRITE_FRACTION = 8
MIN_REWRITE_BYTES = 16 * 1024


@dataclass(frozen=True)
class TableSettings:
    """Table properties set when a table is created."""

    #: Appends and compaction aim at this size.
    file_target_bytes: int = 128 * 1024
    #: A checkpoint every few commits keeps reloading the table's state cheap.
    checkpoint_interval: int = 10

    @property
    def rewrite_target_bytes(self) -> int:
        """The size of the files an update writes (the table's ``delta.targetFileSize``, which
        delta-rs's MERGE follows). An upsert rewrites every file holding an id it changes, and a
        MERGE writes its inserts into the same files as the rows it rewrites: small files keep the
        recent rows, which a trickle of updates touches, cheap to rewrite until compaction packs
        them up to :attr:`file_target_bytes`."""
        return max(MIN_REWRITE_BYTES, self.file_target_bytes // REWRITE_FRACTION)

    def configuration(self) -> dict[str, str | None]:
        return {
            "delta.targetFileSize": str(self.rewrite_target_bytes),
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
    #: Records identical to the rows stored: not written, not counted as updates.
    unchanged: int = 0
    metrics: Mapping[str, Any] = field(default_factory=dict)


def choose(*, has_deletes: bool, all_new: bool, columns: int) -> Operation:
    """How to write a batch into a table that exists: see the module docstring."""
    if not has_deletes and all_new:
        return "append"
    if columns > WIDE_COLUMNS:
        return "replace"
    return "merge"


#: What delta-rs does after each of the subscriber's commits: a checkpoint every
#: ``delta.checkpointInterval`` commits, and not the clean-up of expired log entries, which lists
#: the whole log at every commit (on a local disk, 20 ms a commit more with 4,000 entries, about a
#: second with a day of trickle): :mod:`~deltastream.subscribe.maintenance` cleans the log up every
#: ``compact_every`` commits instead.
HOOKS = PostCommitHookProperties(create_checkpoint=True, cleanup_expired_logs=False)


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
        return update(self.tables, table, align(table, rows), self.id_column, txns, self.settings)


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
        post_commithook_properties=HOOKS,
        storage_options=tables.options,
    )
    return Upserted("create", 0, inserted=kept.height)


def update(  # noqa: PLR0913 (the table, its rows and how to commit them: one write)
    tables: Tables,
    table: DeltaTable,
    rows: pl.DataFrame,
    id_column: str,
    txns: Sequence[Transaction],
    settings: TableSettings,
) -> Upserted:
    """Write what ``rows`` (every column of the table) change in ``table``: nothing but the
    offsets when they change nothing; else append, replace or MERGE."""
    changes = compare(tables, table, rows, id_column)
    if changes.empty:
        # Decided on the version it read, like an append: no retries on another one.
        offsets_only = CommitProperties(
            app_transactions=list(txns),
            custom_metadata={"deltastream.operation": "offsets"},
            max_commit_retries=0,
        )
        table.create_write_transaction(
            [],
            mode="append",
            schema=table.schema(),
            commit_properties=offsets_only,
            post_commithook_properties=HOOKS,
        )
        table.update_incremental()
        return Upserted("offsets", table.version(), unchanged=changes.unchanged)
    commit = CommitProperties(app_transactions=list(txns))
    operation = choose(
        has_deletes=changes.deleted > 0, all_new=changes.inserts_only, columns=len(rows.columns) - 1
    )
    if operation == "append":
        # A blind append passes delta-rs's conflict check whatever was committed since ``table``
        # was read, so an id appended meanwhile from another partition (a producer that does not
        # key by id, another subscriber of the group) would be stored twice. No retries: any such
        # commit fails this one with CommitFailedError, and the sink decides again on the new
        # version. MERGE and replace read the table, and delta-rs checks them itself.
        strict = CommitProperties(app_transactions=list(txns), max_commit_retries=0)
        write_deltalake(
            table,
            changes.rows.drop(DELETED),
            mode="append",
            schema_mode="merge",
            target_file_size=settings.file_target_bytes,
            commit_properties=strict,
            post_commithook_properties=HOOKS,
        )
        return upserted("append", table, changes)
    if operation == "replace":
        replace(table, changes.rows, id_column, commit)
        return upserted("replace", table, changes)
    metrics = merge(table, changes.rows, id_column, changes.deleted > 0, commit)
    return upserted("merge", table, changes, metrics)


def upserted(
    operation: Operation, table: DeltaTable, changes: Changes, metrics: Mapping[str, Any] | None = None
) -> Upserted:
    return Upserted(
        operation,
        table.version(),
        inserted=changes.inserted,
        updated=changes.updated,
        deleted=changes.deleted,
        unchanged=changes.unchanged,
        metrics=metrics or {},
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
        post_commithook_properties=HOOKS,
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


def literal(value: object) -> str:
    """``value`` as a SQL literal: a number as written; anything else a string literal (single
    quotes, each quote in it doubled), which DataFusion casts to the column's type."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def replace(table: DeltaTable, rows: pl.DataFrame, id_column: str, commit: CommitProperties) -> None:
    """Overwrite the rows of the batch's ids with the batch's versions, in one commit."""
    predicate = f"{quote(id_column)} IN ({', '.join(literal(i) for i in rows[id_column].to_list())})"
    write_deltalake(
        table,
        rows.filter(~pl.col(DELETED)).drop(DELETED),
        mode="overwrite",
        predicate=predicate,
        schema_mode="merge",
        commit_properties=commit,
        post_commithook_properties=HOOKS,
    )


def align(table: DeltaTable, rows: pl.DataFrame) -> pl.DataFrame:
    """Give the batch every column of the table, in the table's types: a field a record lacks
    becomes null.

    A message is the whole record (Kafka's convention for keyed topics), so an update replaces
    every column; a field seen for the first time adds a column to the table.
    """
    schema = table_schema(table)
    have = rows.schema
    changes = [
        pl.lit(None, dtype).alias(name) if name not in have else pl.col(name).cast(dtype)
        for name, dtype in schema.items()
        if name not in have or have[name] != dtype
    ]
    return rows.with_columns(changes) if changes else rows
