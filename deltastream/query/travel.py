"""Tables taken back to where ``--as-of`` names (:mod:`deltastream.query.asof`)."""

from __future__ import annotations

from deltalake import DeltaTable

from deltastream.errors import TableUnreadable
from deltastream.query.asof import AsOf, moment
from deltastream.query.diagnose import commit_times, oldest_version, open_table, reading
from deltastream.tables import Tables


def open_at(tables: Tables, topic: str, as_of: AsOf | None) -> DeltaTable | None:
    """Table ``topic`` as ``as_of`` names it (latest without it); ``None`` when it did not exist
    yet at that time. :class:`TableUnreadable` when its log no longer reaches back that far, or it
    has no such version."""
    table = open_table(tables, topic)
    if as_of is None:
        return table
    if not as_of.moves(topic):
        return table
    version = as_of.version(topic)
    times = commit_times(tables, topic, table)
    oldest, first = oldest_version(tables, topic, times)
    if as_of.time is not None:
        if as_of.time < first:
            if oldest == 0:
                return None
            raise TableUnreadable(
                topic,
                tables.uri(topic),
                f"its log no longer reaches back to {as_of}: the oldest version it can show is "
                f"{oldest}, of {moment(first)}",
                "choose a later time",
            )
        # By the commit times --history shows: delta-rs would go by the log files' modification
        # times, a few milliseconds later, and so give the version before the one named.
        limit = as_of.time.timestamp() * 1000
        version = max(v for v, t in times.items() if t <= limit)
    assert version is not None
    if not oldest <= version <= max(times):
        reach = f"versions {oldest} to {max(times)}" if oldest < max(times) else f"version {oldest}"
        problem = f"it has no version {version}: its log holds {reach}"
        raise TableUnreadable(topic, tables.uri(topic), problem, "choose one of those")
    with reading(tables, topic):
        table.load_as_version(version)
    return table
