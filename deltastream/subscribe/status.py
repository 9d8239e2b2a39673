"""``subscriber.py --status``: where the pipeline stands, as kcat ``-L`` and consumer-lag tools
show it, but with the offsets Delta holds (the subscriber's own, committed with the rows).

One row per topic and partition: the broker's end offset, the next offset Delta will read from
(after the last one it holds under the group and the topic's id), the lag between them, and the
table's version and last commit time. Reads only: nothing is created, written or committed.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import polars as pl

from deltastream.config import Config
from deltastream.kafka import clients
from deltastream.kafka.consumers import true_ends
from deltastream.kafka.message import TopicPartition
from deltastream.logs import counted
from deltastream.subscribe import offsets
from deltastream.tables import Tables

#: How long the fetches that confirm the end offsets may take.
FETCH_S = 5.0
#: The columns of the status, in order.
SCHEMA: dict[str, pl.DataType] = {
    "topic": pl.String(),
    "partition": pl.Int64(),
    "end_offset": pl.Int64(),
    "delta_offset": pl.Int64(),
    "lag": pl.Int64(),
    "table_version": pl.Int64(),
    "last_commit": pl.Datetime("ms", "UTC"),
}


def status(cfg: Config) -> pl.DataFrame:
    """The status of every configured topic (a topic the broker does not have: no rows)."""
    patience = cfg.kafka.connect_timeout_s
    admin = clients.admin(cfg, patience_s=patience)
    try:
        snapshot = admin.describe(list(cfg.topics))
    finally:
        admin.close()
    partitions = [TopicPartition(t, p) for t, s in snapshot.items() for p in range(s.partitions)]
    consumer = clients.consumer(cfg, patience_s=patience)
    try:
        ends = true_ends(consumer, partitions, cfg.kafka.request_timeout_ms, FETCH_S) if partitions else {}
    finally:
        consumer.close(0, threading.Event(), finish_join=False)
    ids = offsets.AppIds.of(
        cfg.subscriber.group_id, {t: s.topic_id for t, s in snapshot.items() if s.topic_id is not None}
    )
    tables = Tables.at(cfg.subscriber.delta_path, cfg.subscriber.storage_options)
    rows: list[dict[str, object]] = []
    for topic in cfg.topics:
        table = tables.open(topic) if topic in snapshot else None
        version = last = None
        stored: dict[int, int] = {}
        if table is not None:
            version = table.version()
            history = table.history(1)
            last = datetime.fromtimestamp(int(history[0]["timestamp"]) / 1000, UTC) if history else None
            stored = offsets.stored(table, ids, topic, range(snapshot[topic].partitions))
        for tp in (tp for tp in partitions if tp.topic == topic):
            end = ends.get(tp)
            start = offsets.next_offset(stored.get(tp.partition))
            rows.append(
                {
                    "topic": topic,
                    "partition": tp.partition,
                    "end_offset": end,
                    "delta_offset": start,
                    "lag": None if end is None else max(end - start, 0),
                    "table_version": version,
                    "last_commit": last,
                }
            )
    return pl.DataFrame(rows, schema=SCHEMA)


def headline(frame: pl.DataFrame, cfg: Config) -> str:
    """One line over the status: the group, the total lag, topics the broker does not have."""
    lag = int(frame["lag"].sum() or 0)
    unknown = frame["lag"].null_count()
    missing = [t for t in cfg.topics if t not in set(frame["topic"].to_list())]
    state = "caught up" if lag == 0 else f"{lag:,} records behind"
    if unknown:
        state += f"; the end of {counted(unknown, 'partition')} not known"
    absent = f"; not on the broker: {', '.join(missing)}" if missing else ""
    return f"group {cfg.subscriber.group_id}: {state}{absent}"
