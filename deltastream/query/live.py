"""The report's tables held in memory and kept current from what each new version changed.

A :class:`LiveTable` reads its table in full once, typed as the report types it. At each new
version it reads only the data files the version added and those it removed since the version
held (a file is never rewritten in place, and the subscriber keeps one row per id), and swaps
the removed files' rows for the added ones by id. Compaction adds and removes files of the same
rows: they are read, and change nothing. What cannot be followed that way makes it read the
table in full again, which is what a reader without this would do every time: a removed file
already vacuumed, one id on several rows (written by another tool), other columns, a table
written anew at the same place (another table id), rows deleted in place (deletion vectors,
written by Spark or Databricks). A table that is gone raises, as the whole report does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import polars as pl
from deltalake import DeltaTable

from deltastream.query import diagnose
from deltastream.query.report import check_columns, typed
from deltastream.tables import Tables

log = logging.getLogger(__name__)

#: The column of a row's hash: rows removed and added again unchanged (compaction, a rewrite of
#: a file around an id that changed) are told apart from changed ones by it.
HASH = "__hash"


@dataclass(frozen=True)
class RowsChanged:
    """One table's rows that changed between two versions: as they were and as they are."""

    before: pl.DataFrame
    after: pl.DataFrame

    def __bool__(self) -> bool:
        return bool(self.before.height or self.after.height)

    def keys(self) -> pl.Series:
        """The ids as stored of the rows changed, gone or new."""
        return (
            pl.concat([self.before.get_column("__key"), self.after.get_column("__key")]).drop_nulls().unique()
        )

    def ids(self) -> pl.Series:
        """The (report's, integer) ids of the rows changed, gone or new."""
        return pl.concat([self.before.get_column("id"), self.after.get_column("id")]).drop_nulls().unique()


def with_hash(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.struct(pl.all()).hash().alias(HASH))


def among_keys(frame: pl.DataFrame) -> pl.Expr:
    """Whether a row's id as stored is one of ``frame``'s (a missing id, ``null``, included)."""
    return pl.col("__key").is_in(frame.get_column("__key").implode(), nulls_equal=True)


class Stale(Exception):
    """The table cannot be kept current from its files: it is read in full."""


@dataclass
class LiveTable:
    """Table ``name`` in its report ``role``, typed, at :attr:`version`."""

    store: Tables
    name: str
    role: str
    version: int | None = None
    rows: pl.DataFrame | None = None
    files: set[str] = field(default_factory=set)
    table: DeltaTable | None = None
    #: The table's id and schema as read (another table at the same place, or other columns:
    #: read in full).
    identity: tuple[object, str] | None = None

    def load(self, table: DeltaTable | None = None) -> None:
        """Read the table (``table``, else opened now) in full; raises
        :class:`~deltastream.errors.PipelineError` saying why it cannot be (missing included)."""
        table = table or diagnose.open_table(self.store, self.name)
        check_columns(self.store, self.name, self.role, table)
        diagnose.check_files(self.store, self.name, table)
        with diagnose.reading(self.store, self.name):
            rows = typed(self.role, self.store.scan(table)).collect()
            files = set(table.get_add_actions(flatten=True).column("path").to_pylist())
            identity = (table.metadata().id, table.schema().to_json())
        self.table, self.version, self.rows, self.files = table, table.version(), rows, files
        self.identity = identity

    def refresh(self) -> RowsChanged | None:
        """Bring the rows to the table's latest version: what changed, or ``None`` when the
        version is the one held. Read in full when it cannot be kept current from its files."""
        if self.rows is None:
            self.load()
            return self.everything(None)
        table = diagnose.open_table(self.store, self.name)  # as it is now: gone, or written anew
        same = self.same(table)
        if table.version() == self.version and same:
            return None
        before = self.rows
        try:
            return self.apply(table, same)
        except Stale as why:
            log.info("%s: read in full again (%s)", self.name, why)
            self.load(table)
            return self.everything(before)

    def same(self, table: DeltaTable) -> bool:
        with diagnose.reading(self.store, self.name):
            return self.identity == (table.metadata().id, table.schema().to_json())

    def apply(self, table: DeltaTable, same: bool) -> RowsChanged:
        """Follow ``table`` from the files its version added and removed (``same``: it is the
        table held, with the same columns)."""
        assert self.rows is not None
        if not same or table.version() < (self.version or 0):
            raise Stale("it was written anew, or its columns changed")
        with diagnose.reading(self.store, self.name):
            features = table.protocol().reader_features or []
            files = set(table.get_add_actions(flatten=True).column("path").to_pylist())
        if "deletionVectors" in features:
            raise Stale("its rows can be deleted in place (deletion vectors)")
        gone, new = self.read(table, sorted(self.files - files)), self.read(table, sorted(files - self.files))
        if gone.get_column("__key").is_duplicated().any() or new.get_column("__key").is_duplicated().any():
            raise Stale("an id on more than one row")
        kept = self.rows.filter(~among_keys(gone))
        if kept.height != self.rows.height - gone.height:
            raise Stale("rows of the removed files are not where they were")
        if kept.select(among_keys(new).any()).item():
            raise Stale("an id on more than one row")
        rows = pl.concat([kept, new], how="vertical_relaxed")
        before, after = with_hash(gone), with_hash(new)
        changed = RowsChanged(
            before.join(after.select(HASH), on=HASH, how="anti", nulls_equal=True).drop(HASH),
            after.join(before.select(HASH), on=HASH, how="anti", nulls_equal=True).drop(HASH),
        )
        self.table, self.rows, self.files, self.version = table, rows, files, table.version()
        return changed

    def read(self, table: DeltaTable, paths: list[str]) -> pl.DataFrame:
        """The typed rows of data files of ``table``, by their paths in it."""
        assert self.rows is not None
        if not paths:
            return self.rows.clear()
        uris = self.store.file_uris(table, paths)
        try:
            try:  # in one scan, in parallel
                raw = pl.scan_parquet(
                    uris, storage_options=self.store.options, missing_columns="insert"
                ).collect()
            except pl.exceptions.PolarsError:  # files of other columns or types: one by one
                files = [pl.read_parquet(uri, storage_options=self.store.options) for uri in uris]
                raw = pl.concat(files, how="diagonal_relaxed")
            return typed(self.role, raw.lazy()).collect().select(self.rows.columns).cast(self.rows.schema)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise Stale(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc

    def everything(self, before: pl.DataFrame | None) -> RowsChanged:
        """Every row changed: from ``before`` (none: nothing was held) to the rows now."""
        assert self.rows is not None
        return RowsChanged(self.rows.clear() if before is None else before, self.rows)
