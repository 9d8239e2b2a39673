"""query.py --watch: re-render the report whenever a table gets a new Delta version.

Each check only reads the new entries of each table's Delta log (``update_incremental``); the
tables' data is read again only when some version has changed.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TextIO

from deltalake import DeltaTable

from deltastream import report
from deltastream.errors import PipelineError
from deltastream.tables import Tables

CLEAR = "\x1b[2J\x1b[H"


@dataclass(frozen=True)
class Status:
    """One table's line above the report."""

    table: str
    version: int | None
    rows: int | None = None
    committed: datetime | None = None

    def __str__(self) -> str:
        if self.version is None:
            return f"{self.table}: not written yet"
        when = self.committed.astimezone().strftime("%H:%M:%S") if self.committed else "?"
        return f"{self.table}: {self.rows:,} rows, version {self.version}, last commit {when}"


def status(table: DeltaTable, name: str) -> Status:
    actions = table.get_add_actions(flatten=True)
    rows = sum(n or 0 for n in actions.column("num_records").to_pylist()) if actions.num_rows else 0
    last = table.history(1)[0]["timestamp"]
    return Status(name, table.version(), rows, datetime.fromtimestamp(last / 1000, timezone.utc))


class Watcher:
    """Tracks the tables' versions; :meth:`changed` is cheap when nothing happened."""

    def __init__(self, tables: Tables, topics: Mapping[str, str]) -> None:
        self.store = tables
        self.topics = dict(topics)
        self.tables: dict[str, DeltaTable | None] = dict.fromkeys(self.topics.values())
        self.seen: dict[str, int | None] | None = None

    def versions(self) -> dict[str, int | None]:
        result: dict[str, int | None] = {}
        for name, known in list(self.tables.items()):
            table = known
            if table is None:
                table = self.tables[name] = self.store.open(name)
            else:
                table.update_incremental()
            result[name] = None if table is None else table.version()
        return result

    def changed(self) -> bool:
        current = self.versions()
        if current == self.seen:
            return False
        self.seen = current
        return True

    def statuses(self) -> list[Status]:
        return [
            status(table, name) if table is not None else Status(name, None)
            for name, table in self.tables.items()
        ]


def watch(
    tables: Tables,
    topics: Mapping[str, str],
    interval_s: float,
    render: Callable[[report.Report], None],
    stop: threading.Event | None = None,
    out: TextIO | None = None,
) -> None:
    """Render at start and after every change, until ``stop`` is set (or Ctrl-C)."""
    out = out or sys.stdout
    stop = stop or threading.Event()
    watcher = Watcher(tables, topics)
    clear = out.isatty()
    while not stop.is_set():
        if watcher.changed():
            lines = [str(s) for s in watcher.statuses()]
            out.write(CLEAR if clear else f"--- {datetime.now().strftime('%H:%M:%S')} ---\n")
            out.write("\n".join(lines) + "\n")
            try:
                render(report.load(tables, topics))
            except PipelineError as exc:
                out.write(f"waiting: {exc}\n")
            out.flush()
        stop.wait(interval_s)
