"""query.py --watch: re-render the report whenever a table gets a new Delta version.

Each check only reads the new entries of each table's Delta log (``update_incremental``), and
opens anew a table moved away or written anew at the same place; the tables' data is read again
only when some version has changed. A table that cannot be read is
shown as such, and watching goes on: once it is readable again, the report comes back.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from deltalake import DeltaTable

from deltastream.errors import PipelineError, TableMissing, TableUnreadable
from deltastream.logs import counted
from deltastream.query import diagnose, report
from deltastream.query.asof import moment
from deltastream.tables import Tables

CLEAR = "\x1b[2J\x1b[H"


@dataclass(frozen=True)
class Status:
    """One table's line above the report."""

    table: str
    version: int | None
    rows: int | None = None
    committed: datetime | None = None
    #: Why the table cannot be read, when it cannot.
    problem: str | None = None

    def __str__(self) -> str:
        if self.problem is not None:
            return f"{self.table}: cannot be read: {self.problem}"
        if self.version is None:
            return f"{self.table}: not written yet"
        when = moment(self.committed) if self.committed else "?"
        return f"{self.table}: {counted(self.rows or 0, 'row')}, version {self.version}, last commit {when}"


def status(tables: Tables, table: DeltaTable, name: str) -> Status:
    with diagnose.reading(tables, name):
        actions = table.get_add_actions(flatten=True)
        rows = sum(n or 0 for n in actions.column("num_records").to_pylist()) if actions.num_rows else 0
        last = table.history(1)[0]["timestamp"]
    return Status(name, table.version(), rows, datetime.fromtimestamp(last / 1000, UTC))


def problem(exc: PipelineError) -> str:
    """What is wrong with a table, without the table's name and path the status line shows."""
    return exc.problem if isinstance(exc, TableUnreadable) else str(exc)


class Watcher:
    """Tracks the tables' versions; :meth:`changed` is cheap when nothing happened. ``make``
    builds the report (by default from the tables read in full)."""

    def __init__(
        self, tables: Tables, topics: Mapping[str, str], make: Callable[[], report.Report] | None = None
    ) -> None:
        self.store = tables
        self.topics = dict(topics)
        self.report = make or (lambda: report.make(self.store, self.topics))
        self.tables: dict[str, DeltaTable | None] = dict.fromkeys(self.topics.values())
        self.problems: dict[str, str] = {}
        self.made: dict[str, object] = dict.fromkeys(self.topics.values())
        self.seen: dict[str, tuple[object, int] | str | None] | None = None

    def look(self, name: str) -> tuple[object, int] | str | None:
        """Table ``name``'s identity and version; ``None`` when not written yet; what is wrong
        with it when it cannot be read (it is opened anew next time). A table moved away, or
        written anew at the same place, is opened anew."""
        table = self.tables[name]
        try:
            folder = self.log_folder(name)
            if table is None or not self.store.local or folder != self.made[name]:
                table = self.tables[name] = diagnose.find_table(self.store, name)
                with diagnose.reading(self.store, name):
                    self.made[name] = folder if self.store.local or table is None else table.metadata().id
            else:
                with diagnose.reading(self.store, name):
                    table.update_incremental()
                diagnose.verify_log(self.store, name)
        except PipelineError as exc:
            self.tables[name] = None
            self.problems[name] = problem(exc)
            return f"error: {exc}"
        self.problems.pop(name, None)
        return None if table is None else (self.made[name], table.version())

    def log_folder(self, name: str) -> object:
        """The identity of a local table's log folder (one written anew has another); on an
        object store, where nothing so cheap tells, the table is opened anew at each look."""
        if not self.store.local:
            return None
        try:
            info = os.stat(Path(self.store.uri(name)) / "_delta_log")
        except OSError:
            return None
        return (info.st_dev, info.st_ino)

    def versions(self) -> dict[str, tuple[object, int] | str | None]:
        return {name: self.look(name) for name in list(self.tables)}

    def changed(self) -> bool:
        current = self.versions()
        if current == self.seen:
            return False
        self.seen = current
        return True

    def statuses(self) -> list[Status]:
        result = []
        for name, table in self.tables.items():
            if name in self.problems:
                result.append(Status(name, None, problem=self.problems[name]))
            elif table is None:
                result.append(Status(name, None))
            else:
                try:
                    result.append(status(self.store, table, name))
                except PipelineError as exc:
                    result.append(Status(name, None, problem=problem(exc)))
        return result


def failure_line(exc: PipelineError) -> str:
    """The line shown instead of the report when it cannot be built."""
    return f"waiting: {exc}" if isinstance(exc, TableMissing) else f"error: {exc}"


def watch(
    watcher: Watcher,
    interval_s: float,
    render: Callable[[report.Report], None],
    stop: threading.Event | None = None,
    out: TextIO | None = None,
) -> None:
    """Render at start and after every change, until ``stop`` is set (or Ctrl-C).

    While the report cannot be built it is tried again at every check (a data file put back
    changes no version), and drawn again when the outcome changes.
    """
    out = out or sys.stdout
    stop = stop or threading.Event()
    clear = out.isatty()
    failure: str | None = None
    while not stop.is_set():
        changed = watcher.changed()
        if changed or failure is not None:
            lines = [str(s) for s in watcher.statuses()]
            result: report.Report | None = None
            try:
                result, now_failing = watcher.report(), None
            except PipelineError as exc:
                now_failing = failure_line(exc)
            if changed or now_failing != failure:
                out.write(CLEAR if clear else f"--- {moment(datetime.now(UTC))} ---\n")
                out.write("\n".join(lines) + "\n")
                if result is not None:
                    render(result)
                else:
                    out.write(f"{now_failing}\n")
                out.flush()
            failure = now_failing
        stop.wait(interval_s)
