"""Best-effort table maintenance: compact small files, then vacuum the ones no longer in the table.

Every ``compact_every`` commits to a table, its files below the target size are packed together up
to that size, and files that left the table more than ``vacuum_retention_hours`` ago are deleted.
Maintenance never stops ingestion: a failure (a concurrent commit, a storage fault) is logged as a
warning and tried again :data:`RETRY_AFTER` commits later. It runs on the writer's thread between
two writes, so never alongside this subscriber's own MERGE on that table.
"""

from __future__ import annotations

import logging
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
    retention_hours: int = 168
    target_bytes: int = 128 * 1024
    due_in: dict[str, int] = field(default_factory=dict)

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
            metrics = table.optimize.compact(target_size=self.target_bytes)
            removed = table.vacuum(
                retention_hours=self.retention_hours,
                dry_run=False,
                enforce_retention_duration=self.retention_hours >= 168,
            )
        except CommitFailedError as exc:
            log.info(
                "%s: compaction gave way to a concurrent commit (%s); trying again later", name, one_line(exc)
            )
            return False
        except Exception as exc:  # maintenance is optional: whatever it hits, ingestion goes on
            log.warning(
                "%s: compaction failed (%s); ingestion goes on, trying again in %s",
                name,
                one_line(exc),
                counted(RETRY_AFTER, "commit"),
            )
            return False
        log.info(
            "%s: compacted %s into %s, vacuumed %s in %.0f ms",
            name,
            counted(int(metrics.get("numFilesRemoved") or 0), "file"),
            counted(int(metrics.get("numFilesAdded") or 0), "file"),
            counted(len(removed), "file"),
            (time.monotonic() - started) * 1000,
        )
        return True
