"""Where the Delta tables live and how to open them: shared by the writer and the read side.

A :class:`Tables` value names the root (a local directory or an object-store URI such as
``s3://bucket/prefix``) and the storage options passed unchanged to delta-rs. Every module that
opens a table goes through it, so the subscriber, query.py and the benchmark agree on paths and
options. Nothing here writes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from urllib.parse import unquote

import polars as pl
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError

#: The table that holds messages which could not become rows (one per delta_path), and its columns:
#: where each message came from, its key, its raw value (as text or base64), why, and when.
DEAD_LETTER_SCHEMA = pl.Schema(
    {
        "topic": pl.String(),
        "partition": pl.Int32(),
        "offset": pl.Int64(),
        "key": pl.String(),
        "value": pl.String(),
        "value_encoding": pl.String(),
        "error": pl.String(),
        "time": pl.Datetime("us", "UTC"),
    }
)


def quote(name: str) -> str:
    """A column name quoted for a delta-rs SQL expression."""
    return "`" + name.replace("`", "``") + "`"


#: A URI scheme (RFC 3986), at least two letters long so that ``C:/`` stays a path.
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+")


def is_uri(location: str) -> bool:
    """True for an object-store URI (``s3://...``), false for a local path."""
    scheme, sep, _ = location.partition("://")
    return bool(sep) and SCHEME.fullmatch(scheme) is not None


@dataclass(frozen=True)
class Tables:
    """The Delta tables under one root, one per topic, plus the dead-letter table."""

    root: str
    storage_options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def at(cls, root: str | Path, storage_options: Mapping[str, str] | None = None) -> Tables:
        return cls(str(root), MappingProxyType(dict(storage_options or {})))

    @property
    def local(self) -> bool:
        return not is_uri(self.root)

    def uri(self, name: str) -> str:
        """The location of table ``name``: a path for local tables, a URI otherwise."""
        if self.local:
            return str(Path(self.root) / name)
        return f"{self.root.rstrip('/')}/{name}"

    @property
    def options(self) -> dict[str, str] | None:
        """The storage options as delta-rs and Polars take them (``None`` when there are none)."""
        return dict(self.storage_options) or None

    def open(self, name: str) -> DeltaTable | None:
        """Table ``name`` at its latest version, or ``None`` when there is none yet."""
        try:
            return DeltaTable(self.uri(name), storage_options=self.options)
        except TableNotFoundError:
            return None

    def exists(self, name: str) -> bool:
        try:
            return DeltaTable.is_deltatable(self.uri(name), storage_options=self.options)
        except (DeltaError, OSError):
            return False

    def scan(self, table: DeltaTable) -> pl.LazyFrame:
        """The version ``table`` is loaded at, as a lazy frame.

        Polars cannot read a local table whose location needs percent-encoding (a space or a
        non-ASCII letter in the path: pola-rs/polars#20944); its files are then scanned directly,
        with the table's schema (a file older than a column gets nulls in it).
        """
        if not (self.local and "%" in table.table_uri):
            return pl.scan_delta(table, storage_options=self.options)
        schema = pl.DataFrame(table.schema().to_arrow().empty_table()).schema
        files = [unquote(uri) for uri in table.file_uris()]
        if not files:
            return pl.LazyFrame(schema=schema)
        return pl.scan_parquet(files, schema=schema, missing_columns="insert")

    def file_uris(self, table: DeltaTable, paths: list[str]) -> list[str]:
        """Full locations of data files given by their paths relative to ``table``."""
        root = table.table_uri.rstrip("/")
        if self.local:
            root = unquote(root.removeprefix("file://"))
        return [f"{root}/{unquote(path)}" for path in paths]
