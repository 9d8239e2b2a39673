"""Best-effort table maintenance: compact small files, vacuum the ones no longer in the table, and
clean up the log.

Every ``compact_every`` commits to a table, its files below the target size are packed together up
to that size; then files that left the table more than ``vacuum_retention_hours`` ago are deleted,
and so are log entries and checkpoints older than that which the newest checkpoint makes
unnecessary (the subscriber's commits themselves leave the log alone: see
:data:`deltastream.subscribe.upsert.HOOKS`; ``compact_every = 0`` keeps every entry). The
retention is kept in the table's own properties (``delta.deletedFileRetentionDuration``,
``delta.logRetentionDuration``), so every writer and reader of the table sees it; time travel
(``query.py --as-of``) reaches back that far. Maintenance never stops ingestion: a failure (a
concurrent commit, a storage fault) is logged as a warning and tried again :data:`RETRY_AFTER`
commits later. It runs on the writer's thread between two writes, so never alongside this
subscriber's own MERGE on that table.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field

from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError

from deltastream.errors import one_line
from deltastream.logs import counted
from deltastream.tables import Tables

log = logging.getLogger(__name__)

#: Commits after a failed attempt before the next one.
RETRY_AFTER = 10


@dataclass
class Maintenance:
    """Counts commits per table and maintains a table when its turn comes."""

    tables: Tables
    every: int = 100
    retention_hours: float = 1
    target_bytes: int = 128 * 1024
    due_in: dict[str, int] = field(default_factory=dict)
    #: Tables whose retention properties are known to be this one's.
    retained: set[str] = field(default_factory=set)

    @property
    def retention(self) -> str:
        """The retention as a Delta interval."""
        return f"interval {round(self.retention_hours * 60)} minutes"

    def keep_retention(self, table: DeltaTable, name: str) -> None:
        """Give the table this retention, once per table and process, if it has another."""
        if name in self.retained:
            return
        wanted = {
            "delta.deletedFileRetentionDuration": self.retention,
            "delta.logRetentionDuration": self.retention,
        }
        have = table.metadata().configuration
        if any(have.get(key) != value for key, value in wanted.items()):
            table.alter.set_table_properties(wanted, raise_if_not_exists=False)
            log.info(
                "%s: retention of removed files and log entries set to %g hours", name, self.retention_hours
            )
        self.retained.add(name)

    def committed(self, name: str) -> None:
        """Note a commit to table ``name``; maintain it if its turn has come."""
        if self.every <= 0:
            return
        left = self.due_in.get(name, self.every) - 1
        self.due_in[name] = left
        if left > 0:
            return
        self.due_in[name] = self.every if self.run(name) else RETRY_AFTER

    def run(self, name: str) -> bool:
        """Compact and vacuum table ``name`` now; returns whether it worked."""
        started = time.monotonic()
        try:
            table = DeltaTable(self.tables.uri(name), storage_options=self.tables.options)
            self.keep_retention(table, name)
            metrics = table.optimize.compact(target_size=self.target_bytes)
            # Full: a remove action older than the retention leaves the checkpoints, so a vacuum of
            # the log's remove actions alone would never delete its file.
            removed = table.vacuum(
                retention_hours=None, dry_run=False, enforce_retention_duration=False, full=True
            )
            entries = self._log_entries(name)
            table.cleanup_metadata()
            cleaned = entries - self._log_entries(name)
        except CommitFailedError as exc:
            log.info(
                "%s: maintenance gave way to a concurrent commit (%s); trying again later",
                name,
                one_line(exc),
            )
            return False
        except Exception as exc:  # maintenance is optional: whatever it hits, ingestion goes on
            log.warning(
                "%s: maintenance failed (%s); ingestion goes on, trying again in %s",
                name,
                one_line(exc),
                counted(RETRY_AFTER, "commit"),
            )
            return False
        log.info(
            "%s: compacted %s into %s, vacuumed %s, cleaned up %s in %.0f ms",
            name,
            counted(int(metrics.get("numFilesRemoved") or 0), "file"),
            counted(int(metrics.get("numFilesAdded") or 0), "file"),
            counted(len(removed), "file"),
            counted(cleaned, "log file"),
            (time.monotonic() - started) * 1000,
        )
        return True

    def _log_entries(self, name: str) -> int:
        """How many files a local table's log folder holds (0 for a table on an object store)."""
        if not self.tables.local:
            return 0
        return sum(1 for _ in os.scandir(os.path.join(self.tables.uri(name), "_delta_log")))
