"""Opening the tables the read side needs, and saying in one line what is wrong with one that
cannot be read.

:func:`find_table` and :func:`open_table` open a table; :func:`reading` turns what delta-rs and
Polars raise while reading it into :class:`TableUnreadable`; :func:`check_files` looks for the data
files a version needs before Polars reads them (it panics on some damaged files). For a local
table, :func:`diagnose` looks at the files to say what is wrong (a data file missing or cut short,
a log entry damaged or missing, a checkpoint missing) and how to recover.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError

from deltastream import deltalog
from deltastream.deltalog import CHECKPOINT, COMMIT, REBUILD, REWRITE
from deltastream.errors import PipelineError, TableMissing, TableUnreadable, one_line
from deltastream.logs import counted
from deltastream.tables import Tables

log = logging.getLogger(__name__)

#: What delta-rs and Polars raise for a table they cannot read. Polars panics on some damaged
#: files (a BaseException); :func:`check_files` catches most of those cases before it reads.
READ_ERRORS: tuple[type[BaseException], ...] = (
    DeltaError,
    OSError,
    pl.exceptions.PolarsError,
    pl.exceptions.PanicException,
)
READ_ACCESS = "let the user running query.py read the table's folder and files"


def find_table(tables: Tables, topic: str) -> DeltaTable | None:
    """Table ``topic`` at its latest version, or ``None`` when it has not been written yet.

    Raises :class:`TableUnreadable` when something is there that cannot be read as a Delta table.
    """
    try:
        table = tables.open(topic)
    except READ_ERRORS as exc:
        raise unreadable(tables, topic, exc) from exc
    if table is None and tables.local:
        found = absent(Path(tables.uri(topic)))
        if found is not None:
            raise TableUnreadable(topic, tables.uri(topic), *found)
    if table is not None:
        verify_log(tables, topic)
    return table


def verify_log(tables: Tables, topic: str) -> None:
    """Raise :class:`TableUnreadable` when the log of local table ``topic`` is damaged where
    delta-rs would read it without a word (an empty or cut-short last entry, a missing entry, a
    checkpoint beyond the log): never show older rows as the table's."""
    if not tables.local:
        return
    path = Path(tables.uri(topic))
    try:
        found = deltalog.inspect(path, every_entry=False)
    except PermissionError as exc:
        found = permission(path, exc)
    except FileNotFoundError:
        found = absent(path)
    if found is not None:
        raise TableUnreadable(topic, tables.uri(topic), *found)


def open_table(tables: Tables, topic: str) -> DeltaTable:
    """Table ``topic`` at its latest version; :class:`TableMissing` when it is not written yet."""
    table = find_table(tables, topic)
    if table is None:
        raise TableMissing(topic, tables.uri(topic))
    return table


@contextmanager
def reading(tables: Tables, topic: str) -> Iterator[None]:
    """What delta-rs and Polars raise while reading table ``topic`` becomes :class:`TableUnreadable`."""
    try:
        yield
    except READ_ERRORS as exc:
        raise unreadable(tables, topic, exc) from exc


def unreadable(tables: Tables, topic: str, exc: BaseException) -> PipelineError:
    """The error to show for ``exc``, raised while reading table ``topic``: what is wrong, found by
    looking at the files of a local table, and how to recover."""
    log.debug("reading table %s failed", topic, exc_info=exc)
    path = tables.uri(topic)
    found = diagnose(Path(path)) if tables.local else None
    if found is None and isinstance(exc, TableNotFoundError):
        return TableMissing(topic, path)
    if found is None:
        detail = one_line(exc)
        if "not supported" in detail.lower() or "unsupported" in detail.lower():
            found = (
                f"it uses Delta features this reader does not support ({detail})",
                "upgrade deltalake (requirements.txt), or " + REBUILD,
            )
        elif isinstance(exc, PermissionError) or "permission denied" in detail.lower():
            found = (f"permission denied ({detail})", READ_ACCESS)
        elif not tables.local:
            found = (
                f"cannot be read ({detail})",
                "check that the store is reachable and [subscriber] storage_options; if the table "
                "itself is damaged, " + REBUILD,
            )
        else:
            found = (f"cannot be read ({detail})", REBUILD)
    return TableUnreadable(topic, path, *found)


def absent(path: Path) -> tuple[str, str] | None:  # noqa: PLR0911 (one return per finding, in the order looked for)
    """Why local folder ``path`` is not a table: ``None`` when it is simply not there yet (no
    folder, or an empty one), else (what is wrong, how to fix it)."""
    try:
        if not path.exists():
            return None
        if not path.is_dir():
            return "is a file, not a Delta table folder", REWRITE
        if not any(path.iterdir()):
            return None
        log_dir = path / "_delta_log"
        if not log_dir.exists():
            return "has no _delta_log folder: not a Delta table, or its first commit never completed", REWRITE
        if not log_dir.is_dir():
            return "_delta_log is a file, not a folder: not a Delta table", REWRITE
        if not any(COMMIT.match(p.name) or CHECKPOINT.match(p.name) for p in log_dir.iterdir()):
            return "its _delta_log holds no commit: the first commit never completed", REWRITE
    except PermissionError as exc:
        return permission(path, exc)
    return diagnose(path)


def permission(root: Path, exc: PermissionError) -> tuple[str, str]:
    where = Path(exc.filename) if exc.filename else root
    name = where.relative_to(root) if where.is_relative_to(root) and where != root else None
    return (
        f"permission denied reading {name}" if name else "permission denied",
        READ_ACCESS,
    )


def diagnose(path: Path) -> tuple[str, str] | None:
    """What is wrong with local table ``path`` (what, how to fix), or ``None`` when nothing is
    found: no folder, or what :func:`deltastream.deltalog.inspect` finds in its log."""
    try:
        if not path.is_dir() or not (path / "_delta_log").is_dir():
            return absent(path)
        return deltalog.inspect(path)
    except PermissionError as exc:
        return permission(path, exc)


def check_files(tables: Tables, topic: str, table: DeltaTable, as_of: object = None) -> None:
    """Every data file the loaded version lists is there at the size the log says (local tables:
    Polars panics on a file cut short, and names no table for a missing one). ``as_of`` names the
    time or version the table was taken back to, if it was."""
    if not tables.local:
        return
    with reading(tables, topic):
        actions = table.get_add_actions(flatten=True)
        paths = [str(p) for p in actions.column("path").to_pylist()] if actions.num_rows else []
        sizes: list[int | None] = list(actions.column("size_bytes").to_pylist()) if actions.num_rows else []
    root = Path(tables.uri(topic))
    missing: list[str] = []
    for path, location, size in zip(paths, tables.file_uris(table, paths), sizes, strict=True):
        try:
            actual = os.stat(location).st_size
        except FileNotFoundError:
            missing.append(path)
            continue
        except PermissionError as exc:
            raise TableUnreadable(topic, str(root), *permission(root, exc)) from exc
        if not os.access(location, os.R_OK):
            error = PermissionError(13, "Permission denied", location)
            raise TableUnreadable(topic, str(root), *permission(root, error))
        if size is not None and actual != size:
            raise TableUnreadable(
                topic,
                str(root),
                f"data file {path} is {counted(actual, 'byte')}, the log says {size:,} "
                "(cut short or overwritten)",
                REBUILD,
            )
    if not missing:
        return
    which = f"data file {missing[0]} is" if len(missing) == 1 else f"{len(missing)} data files are"
    first = "" if len(missing) == 1 else f" ({missing[0]} first)"
    if as_of is not None and not set(missing) & latest_files(tables, topic):
        raise TableUnreadable(
            topic,
            str(root),
            f"{which} gone{first}: version {table.version()}, the table as of {as_of}, was vacuumed",
            "time travel reaches back only as far as [subscriber] vacuum_retention_hours keeps old "
            "files: choose a later time or version (query.py --history lists the commits)",
        )
    them = "it" if len(missing) == 1 else "them"
    raise TableUnreadable(topic, str(root), f"{which} missing{first} (the log still lists {them})", REBUILD)


def latest_files(tables: Tables, topic: str) -> set[str]:
    table = open_table(tables, topic)
    with reading(tables, topic):
        actions = table.get_add_actions(flatten=True)
        return {str(p) for p in actions.column("path").to_pylist()} if actions.num_rows else set()


def commit_times(tables: Tables, topic: str, table: DeltaTable) -> dict[int, int]:
    """The commit time, in milliseconds, of every version the table's log still holds."""
    with reading(tables, topic):
        return {int(e["version"]): int(e["timestamp"]) for e in table.history()}


def oldest_version(tables: Tables, topic: str, entries: dict[int, int]) -> tuple[int, datetime]:
    """The oldest version time travel can reach, from the :func:`commit_times` of the table:
    (version, commit time). Version 0 while its log entry is kept; after log clean-up, the first
    checkpoint from which the kept entries go on."""
    start = min(entries)
    if start > 0 and tables.local:
        log_dir = Path(tables.uri(topic)) / "_delta_log"
        with contextlib.suppress(OSError):
            found = (m for m in map(CHECKPOINT.match, os.listdir(log_dir)) if m)
            start = min(
                (v for v in (int(m.group(1)) for m in found) if v >= start and v in entries), default=start
            )
    return start, datetime.fromtimestamp(entries[start] / 1000, UTC)
