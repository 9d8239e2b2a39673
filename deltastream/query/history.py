"""query.py --history: every commit of every table, with what it did."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import polars as pl

from deltastream.query.diagnose import find_table, reading
from deltastream.tables import Tables

HISTORY_METRICS = {
    "inserted": ("num_target_rows_inserted", "num_added_rows"),
    "updated": ("num_target_rows_updated",),
    "deleted": ("num_target_rows_deleted", "num_deleted_rows"),
}

#: How --history names a commit of offsets alone (a batch that changed no row).
OFFSETS = "OFFSETS ONLY"


def commits(tables: Tables, topics: Iterable[str]) -> tuple[pl.DataFrame, list[str]]:
    """Every commit of every table: version, time, operation and rows inserted/updated/deleted;
    and the topics whose table is not written yet."""
    records = []
    missing: list[str] = []
    for topic in topics:
        table = find_table(tables, topic)
        if table is None:
            missing.append(topic)
            continue
        with reading(tables, topic):
            entries = table.history()
        for entry in entries:
            metrics = entry.get("operationMetrics") or {}
            # Commits that write rows count what they did; a commit of offsets alone did nothing.
            counted = bool(metrics) or entry.get("deltastream.operation") == "offsets"
            record = {
                "table": topic,
                "version": entry["version"],
                "time": datetime.fromtimestamp(entry["timestamp"] / 1000, UTC),
                "operation": OFFSETS
                if entry.get("deltastream.operation") == "offsets"
                else entry.get("operation"),
            }
            for name, keys in HISTORY_METRICS.items():
                record[name] = next((int(metrics[k]) for k in keys if k in metrics), 0 if counted else None)
            records.append(record)
    schema = pl.Schema(
        {
            "table": pl.String(),
            "version": pl.Int64(),
            "time": pl.Datetime("ms", "UTC"),
            "operation": pl.String(),
            "inserted": pl.Int64(),
            "updated": pl.Int64(),
            "deleted": pl.Int64(),
        }
    )
    return pl.DataFrame(records, schema=schema, orient="row").sort("table", "version"), missing
