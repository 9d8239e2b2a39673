"""The report's tables held in memory and kept current from what each new version changed.

A :class:`LiveTable` reads its table in full once, typed as the report types it. At each new
version it reads only the data files the version added and those it removed since the version
held (a file is never changed in place, and the subscriber keeps one row per id), and swaps the
removed files' rows for the added ones by id. Compaction adds and removes files of the same
rows: they are read, and change nothing. What cannot be read that way (a removed file already
vacuumed, one id on several rows, a column of another type) makes it read the table in full
again, which is what a reader without this would do every time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import polars as pl
from deltalake import DeltaTable

from deltastream.query import diagnose
from deltastream.query.report import SCHEMAS, check_columns, typed
from deltastream.tables import Tables

log = logging.getLogger(__name__)

#: The column of a row's hash: rows removed and added again unchanged (compaction, a rewrite of
#: a file around an id that changed) are told apart from changed ones by it.
HASH = "__hash"


@dataclass(frozen=True)
class Change:
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


def hashed(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.struct(pl.all()).hash().alias(HASH))


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
    #: The table's schema as read (another one: read in full).
    schema: str | None = None

    def load(self) -> None:
        """Read the table in full (raises :class:`PipelineError` saying why it cannot be)."""
        table = diagnose.find_table(self.store, self.name)
        if table is None:
            empty = pl.LazyFrame(schema=dict.fromkeys(SCHEMAS[self.role], pl.String))
            self.table, self.version, self.files, self.schema = None, None, set(), None
            self.rows = typed(self.role, empty).collect()
            return
        check_columns(self.store, self.name, self.role, table)
        diagnose.check_files(self.store, self.name, table)
        with diagnose.reading(self.store, self.name):
            rows = typed(self.role, self.store.scan(table)).collect()
            files = set(table.get_add_actions(flatten=True).column("path").to_pylist())
            schema = table.schema().to_json()
        self.table, self.version, self.rows, self.files, self.schema = (
            table,
            table.version(),
            rows,
            files,
            schema,
        )

    def refresh(self) -> Change | None:
        """Bring the rows to the table's latest version: what changed, or ``None`` when the
        version is the one held. Read in full when it cannot be kept current from its files."""
        if self.rows is None or self.table is None:
            before = self.rows
            self.load()
            return None if self.table is None and before is not None else self.everything(before)
        with diagnose.reading(self.store, self.name):
            self.table.update_incremental()
        if self.table.version() == self.version:
            return None
        try:
            return self.apply()
        except Stale as why:
            log.info("%s: read in full again (%s)", self.name, why)
            before = self.rows
            self.load()
            return self.everything(before)

    def apply(self) -> Change:
        assert self.table is not None and self.rows is not None
        if self.table.schema().to_json() != self.schema:
            raise Stale("its columns changed")
        files = set(self.table.get_add_actions(flatten=True).column("path").to_pylist())
        gone, new = self.read(sorted(self.files - files)), self.read(sorted(files - self.files))
        kept = self.rows.filter(~pl.col("__key").is_in(gone.get_column("__key").implode()))
        if kept.height != self.rows.height - gone.height:
            raise Stale("rows of the removed files are not where they were")
        keys = new.get_column("__key")
        if keys.is_duplicated().any() or kept.get_column("__key").is_in(keys.implode()).any():
            raise Stale("an id on more than one row")
        rows = pl.concat([kept, new], how="vertical_relaxed")
        before, after = hashed(gone), hashed(new)
        changed = Change(
            before.join(after.select(HASH), on=HASH, how="anti").drop(HASH),
            after.join(before.select(HASH), on=HASH, how="anti").drop(HASH),
        )
        self.rows, self.files, self.version = rows, files, self.table.version()
        return changed

    def read(self, paths: list[str]) -> pl.DataFrame:
        """The typed rows of data files of the table, by their paths in it."""
        assert self.table is not None and self.rows is not None
        if not paths:
            return self.rows.clear()
        uris = self.store.file_uris(self.table, paths)
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

    def everything(self, before: pl.DataFrame | None) -> Change:
        """Every row changed: from ``before`` (none: nothing was held) to the rows now."""
        assert self.rows is not None
        return Change(self.rows.clear() if before is None else before, self.rows)
