"""Delta tables: one per topic, upserted by id, each commit carrying the offsets it consumed.

A write is one commit per topic and batch (a MERGE, an append, or for a new table a create):

1. reload the table and read the stored offset of each partition (see :mod:`deltastream.offsets`);
2. keep only the messages above it: a batch already written is skipped, never applied twice;
3. decode them, set the dead letters aside (committed first, in their own table), keep the last
   version of each id;
4. MERGE on id: delete on tombstones, update every column when matched, insert when not, adding new
   columns to the table; the commit carries the partitions' last offsets as ``txn`` actions. A
   batch of ids that are all new to the table (checked against it) is appended instead: the same
   result without the MERGE's join.

A concurrent commit makes delta-rs raise ``CommitFailedError``; the write then starts again at 1,
so it can neither double nor lose a batch. Any other failure raises :class:`SinkError`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import polars as pl
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from deltastream import offsets
from deltastream.decode import DELETED, DeadLetter, Message, decode
from deltastream.errors import SinkError, one_line

log = logging.getLogger(__name__)

DEAD_LETTERS = "_dead_letters"
#: Commits between two checkpoints of a table the subscriber creates.
CHECKPOINT_INTERVAL = 10
DEAD_LETTER_SCHEMA = {
    "topic": pl.String,
    "partition": pl.Int32,
    "offset": pl.Int64,
    "key": pl.String,
    "value": pl.String,
    "value_encoding": pl.String,
    "error": pl.String,
    "time": pl.Datetime("us", "UTC"),
}


def quote(name: str) -> str:
    """A column name quoted for a delta-rs SQL predicate."""
    return "`" + name.replace("`", "``") + "`"


def load(path: Path) -> DeltaTable | None:
    """The table at ``path``, or ``None`` when there is none yet."""
    try:
        return DeltaTable(str(path))
    except TableNotFoundError:
        return None


@dataclass
class WriteResult:
    """What one commit did, for the commit's log line."""

    topic: str
    records: int
    upserts: int = 0
    deletes: int = 0
    dead: int = 0
    version: int | None = None
    millis: float = 0.0
    offsets: dict[int, tuple[int, int]] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


class DeltaSink:
    """The Delta tables under ``root``; every write goes through :meth:`write`."""

    def __init__(
        self,
        root: Path,
        id_column: str,
        ids: offsets.AppIds,
        max_attempts: int = 20,
        compact_every: int = 0,
        vacuum_retention_hours: int = 168,
        file_target_bytes: int = 128 * 1024,
    ):
        self.root = root
        self.id_column = id_column
        self.ids = ids
        self.max_attempts = max_attempts
        self.compact_every = compact_every
        self.vacuum_retention_hours = vacuum_retention_hours
        self.file_target_bytes = file_target_bytes
        self.commits_since_compaction: dict[str, int] = {}
        self.tables: dict[str, DeltaTable] = {}

    def current(self, topic: str) -> DeltaTable | None:
        """The writer's copy of a table, brought up to date by reading only the new log entries."""
        table = self.tables.get(topic)
        if table is None:
            table = load(self.path(topic))
            if table is not None:
                self.tables[topic] = table
        else:
            table.update_incremental()
        return table

    def path(self, topic: str) -> Path:
        return self.root / topic

    def stored_offsets(self, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        """The last offset written per partition; a partition missing here starts at its beginning."""
        try:
            table = load(self.path(topic))
        except (DeltaError, OSError) as exc:
            raise SinkError(str(self.path(topic)), f"cannot read the table: {exc}") from exc
        return offsets.stored(table, self.ids, topic, partitions)

    def write(self, topic: str, parts: Mapping[int, Sequence[Message]]) -> WriteResult | None:
        """Upsert a batch of one topic's messages, by partition in offset order.

        Returns ``None`` when every message had been written before.
        """
        started = time.monotonic()
        for attempt in range(1, self.max_attempts + 1):
            try:
                result = self._attempt(topic, parts)
            except CommitFailedError as exc:
                self.tables.pop(topic, None)
                log.info("%s: concurrent commit (attempt %d): %s; retrying", topic, attempt, one_line(exc))
                time.sleep(min(0.05 * attempt, 1.0))
                continue
            except (DeltaError, OSError) as exc:
                self.tables.pop(topic, None)
                span = offsets.spans(parts)
                raise SinkError(str(self.path(topic)), f"commit failed: {exc}", span) from exc
            if result is not None:
                result.millis = (time.monotonic() - started) * 1000
                self._maintain(topic)
            return result
        raise SinkError(str(self.path(topic)), f"gave up after {self.max_attempts} concurrent commits")

    def _attempt(self, topic: str, parts: Mapping[int, Sequence[Message]]) -> WriteResult | None:
        """Steps 1 to 4 of the module docstring, once."""
        table = self.current(topic)
        written = offsets.stored(table, self.ids, topic, parts)
        fresh = offsets.unwritten(parts, written)
        if not fresh:
            return None
        last = offsets.last_offsets(fresh)
        messages = list(chain.from_iterable(fresh.values()))
        decoded = decode(messages, self.id_column)
        if decoded.dead:
            self._write_dead_letters(topic, decoded.dead)
        version, metrics = self._commit(topic, table, decoded.rows, last)
        return WriteResult(
            topic,
            records=len(messages),
            upserts=decoded.upserts,
            deletes=decoded.deletes,
            dead=len(decoded.dead),
            version=version,
            offsets=offsets.spans(fresh),
            metrics=metrics,
        )

    def _commit(
        self, topic: str, table: DeltaTable | None, rows: pl.DataFrame, last: dict[int, int]
    ) -> tuple[int | None, dict[str, Any]]:
        if rows.height == 0:
            return (table.version() if table else None), {}
        commit = CommitProperties(app_transactions=offsets.transactions(self.ids, topic, last))
        rows = rows.sort(self.id_column)
        if table is None:
            kept = rows.filter(~pl.col(DELETED)).drop(DELETED)
            if kept.height == 0:
                return None, {}
            settings = {
                # Appends, MERGE rewrites and compaction all aim at this size: an upsert rewrites
                # every file holding an id it changes, so small files keep its cost near the batch's.
                "delta.targetFileSize": str(self.file_target_bytes),
                # A checkpoint every few commits keeps reloading the table's state cheap.
                "delta.checkpointInterval": str(CHECKPOINT_INTERVAL),
            }
            write_deltalake(
                str(self.path(topic)), kept, mode="append", configuration=settings, commit_properties=commit
            )
            return 0, {"num_target_rows_inserted": kept.height}
        rows = self._align(table, rows)
        if not rows[DELETED].any() and self._all_new(table, rows[self.id_column]):
            # Only new ids: appending them is what the MERGE would do, without its join.
            write_deltalake(
                table, rows.drop(DELETED), mode="append", schema_mode="merge", commit_properties=commit
            )
            return table.version(), {"num_target_rows_inserted": rows.height, "appended": True}
        key = quote(self.id_column)
        merger = table.merge(
            rows,
            predicate=f"s.{key} = t.{key}",
            source_alias="s",
            target_alias="t",
            merge_schema=True,
            streamed_exec=False,
            commit_properties=commit,
        )
        flag = quote(DELETED)
        if rows[DELETED].any():
            merger = merger.when_matched_delete(predicate=f"s.{flag}")
        metrics = (
            merger.when_matched_update_all(predicate=f"NOT s.{flag}", except_cols=[DELETED])
            .when_not_matched_insert_all(predicate=f"NOT s.{flag}", except_cols=[DELETED])
            .execute()
        )
        return table.version(), metrics

    def _maintain(self, topic: str) -> None:
        """Every ``compact_every`` commits: compact small files, then vacuum old ones.

        Only files below the target size are packed together, up to that size: a MERGE rewrites
        every file holding an id it changes, so files much larger than a batch would make each
        upsert cost more as the table grows.

        It runs between two writes of the same thread, so never alongside this sink's MERGE; a
        commit by another writer makes it give way (it is tried again after the next commits).
        """
        if self.compact_every <= 0:
            return
        count = self.commits_since_compaction.get(topic, 0) + 1
        self.commits_since_compaction[topic] = count
        if count < self.compact_every:
            return
        started = time.monotonic()
        try:
            table = DeltaTable(str(self.path(topic)))
            metrics = table.optimize.compact(target_size=self.file_target_bytes)
            removed = table.vacuum(
                retention_hours=self.vacuum_retention_hours,
                dry_run=False,
                enforce_retention_duration=self.vacuum_retention_hours >= 168,
            )
        except CommitFailedError as exc:
            log.info("%s: compaction gave way to a concurrent commit (%s)", topic, one_line(exc))
            return
        except (DeltaError, OSError) as exc:
            raise SinkError(str(self.path(topic)), f"compaction failed: {exc}") from exc
        self.commits_since_compaction[topic] = 0
        log.info(
            "%s: compacted %s files into %s, vacuumed %d in %.0f ms",
            topic,
            metrics.get("numFilesRemoved"),
            metrics.get("numFilesAdded"),
            len(removed),
            (time.monotonic() - started) * 1000,
        )

    def _all_new(self, table: DeltaTable, ids: pl.Series) -> bool:
        """True when none of ``ids`` is in the table.

        Files whose id range (from the log's statistics) cannot hold any of them are skipped; the
        id column of the others is read. A concurrent writer cannot add one of these ids between
        this check and the commit: an id always comes from the same partition, whose offsets the
        commit carries, and delta-rs fails a commit whose ``txn`` app id another commit updated.
        """
        key = self.id_column
        files = pl.DataFrame(table.get_add_actions(flatten=True))
        if files.height == 0:
            return True
        low, high = f"min.{key}", f"max.{key}"
        if low in files.columns and high in files.columns:
            in_range = pl.col(low).is_null() | pl.col(high).is_null()
            in_range |= (pl.col(low) <= ids.max()) & (pl.col(high) >= ids.min())
            files = files.filter(in_range)
            if files.height == 0:
                return True
        root = table.table_uri.rstrip("/")
        paths = [f"{root}/{path}" for path in files["path"]]
        found = pl.scan_parquet(paths).select(key).filter(pl.col(key).is_in(ids.implode())).head(1).collect()
        return found.height == 0

    @staticmethod
    def _align(table: DeltaTable, rows: pl.DataFrame) -> pl.DataFrame:
        """Give the batch every column of the table: a field a record lacks becomes null.

        A message is the whole record (Kafka's convention for keyed topics), so an update
        replaces every column; a field seen for the first time adds a column to the table.
        """
        missing = [f.name for f in table.schema().fields if f.name not in rows.columns]
        if not missing:
            return rows
        return rows.with_columns(pl.lit(None, dtype=pl.String).alias(name) for name in missing)

    def _write_dead_letters(self, topic: str, dead: list[DeadLetter]) -> None:
        """Append dead letters once: their table keeps its own offsets per source partition."""
        path = self.root / DEAD_LETTERS
        table = load(path)
        by_partition = offsets.group(sorted(dead, key=lambda d: (d.partition, d.offset)))
        written = offsets.stored(table, self.ids, topic, by_partition)
        fresh = [d for part in offsets.unwritten(by_partition, written).values() for d in part]
        if not fresh:
            return
        frame = pl.DataFrame(
            [
                (d.topic, d.partition, d.offset, d.key, d.value, d.value_encoding, d.error, d.time)
                for d in fresh
            ],
            schema=DEAD_LETTER_SCHEMA,
            orient="row",
        )
        commit = CommitProperties(
            app_transactions=offsets.transactions(self.ids, topic, offsets.last_offsets(offsets.group(fresh)))
        )
        write_deltalake(str(path), frame, mode="append", commit_properties=commit)
        for d in fresh[:5]:
            log.warning("%s[%d]@%d: dead letter: %s", d.topic, d.partition, d.offset, d.error)
        if len(fresh) > 5:
            log.warning("%s: %d more dead letters in %s", topic, len(fresh) - 5, path)
