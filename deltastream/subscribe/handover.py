"""Batches to the writer and their outcomes back: one write in flight, each logged, counted and
acknowledged to Kafka once Delta holds it.

The loop hands a batch over with :meth:`HandOver.submit` and collects the write in flight with
:meth:`HandOver.collect`, which logs one line per topic written (:func:`commit_line`), adds it to
the run's :class:`Totals` and commits the Kafka group offsets (only for lag tools: Delta holds the
truth, :mod:`deltastream.subscribe.offsets`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from deltastream.kafka.consumers import Consumer
from deltastream.kafka.message import TopicPartition
from deltastream.logs import counted
from deltastream.subscribe import offsets, positions
from deltastream.subscribe.batch import Batch
from deltastream.subscribe.catchup import CatchUp
from deltastream.subscribe.offsets import AppIds
from deltastream.subscribe.sink import WriteResult
from deltastream.subscribe.writer import WriteJob, Writer

log = logging.getLogger(__name__)

#: How often end offsets are listed for the catch-up bar while a partition has not been fetched.
LIST_ENDS_S = 5.0
LIST_ENDS_TIMEOUT_MS = 1000


@dataclass
class Totals:
    """What a run did, for the closing summary."""

    records: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    dead: int = 0
    superseded: int = 0
    commits: int = 0
    retries: int = 0

    def add(self, result: WriteResult) -> None:
        self.records += result.records
        self.inserted += result.inserted
        self.updated += result.updated
        self.deleted += result.deleted
        self.unchanged += result.unchanged
        self.dead += result.dead
        self.superseded += result.superseded
        self.retries += result.retries
        self.commits += result.operation is not None

    def __str__(self) -> str:
        retries = (
            f", {counted(self.retries, 'retry', 'retries')} after concurrent commits" if self.retries else ""
        )
        return (
            f"{counted(self.records, 'record')} in {counted(self.commits, 'commit')} "
            f"({self.inserted:,} inserted, {self.updated:,} updated, {self.deleted:,} deleted, "
            f"{self.unchanged:,} unchanged, {self.superseded:,} superseded, "
            f"{counted(self.dead, 'dead letter')}{retries})"
        )


def commit_line(result: WriteResult, lag: int | None) -> str:
    """The one INFO line logged per write."""
    parts = [counted(result.records, "record")]
    if result.operation is None:
        parts.append("nothing to commit")
    else:
        changed = f"{result.inserted:,} inserted, {result.updated:,} updated, {result.deleted:,} deleted"
        parts.append(changed + (f", {result.unchanged:,} unchanged" if result.unchanged else ""))
    if result.dead:
        parts.append(counted(result.dead, "dead letter"))
    if superseded := result.superseded:
        parts.append(f"{superseded:,} superseded")
    line = f"{result.topic}: " + ", ".join(parts)
    if result.operation is not None:
        how = "offsets only" if result.operation == "offsets" else result.operation
        line += f" -> version {result.version} ({how}) in {result.millis:.0f} ms"
    if result.retries:
        line += f" after {counted(result.retries, 'retry', 'retries')}"
    return f"{line}, lag {'?' if lag is None else f'{lag:,}'}"


class HandOver:
    """The loop's side of the writer thread."""

    def __init__(self, writer: Writer, totals: Totals, catchup: CatchUp | None = None) -> None:
        self.writer = writer
        self.totals = totals
        self.catchup = catchup or CatchUp(enabled=False)
        #: Per partition, the offset after the last one Delta holds (where reading resumes).
        self.delta_next: dict[TopicPartition, int] = {}
        #: End offsets listed for partitions not fetched yet, and when they may be asked again.
        self.listed: dict[TopicPartition, int] = {}
        self._list_after = 0.0

    def seeked(self, consumer: Consumer, starts: Mapping[TopicPartition, int]) -> None:
        """Partitions start reading at ``starts``, after what Delta holds: acknowledge them to the
        Kafka group (for lag tools) and count what is behind from there."""
        self.delta_next.update(starts)
        offsets.commit_group(consumer, starts)

    def behind(self, consumer: Consumer) -> int | None:
        """Records on the broker not in Delta yet (read or not), over the assigned partitions, by
        the high watermark of each partition's latest fetch, or its listed end before that (asked
        at most every :data:`LIST_ENDS_S`); ``None`` while one is not known."""
        assigned = consumer.assignment()
        unknown = [tp for tp in assigned if consumer.highwater(tp) is None and tp not in self.listed]
        now = time.monotonic()
        if unknown and now >= self._list_after:
            self._list_after = now + LIST_ENDS_S
            self.listed.update(consumer.end_offsets(unknown, LIST_ENDS_TIMEOUT_MS))
        total = 0
        for tp in assigned:
            end, written = consumer.highwater(tp), self.delta_next.get(tp)
            end = end if end is not None else self.listed.get(tp)
            if end is None or written is None:
                return None
            total += max(end - written, 0)
        return total

    @property
    def idle(self) -> bool:
        """No write in flight, or the one in flight is done (not collected yet)."""
        return self.writer.idle

    @property
    def done_uncollected(self) -> bool:
        """A write finished and waits to be collected."""
        return self.writer.busy and self.writer.idle

    def submit(self, batch: Batch, ids: AppIds) -> None:
        """Hand ``batch``, read under ``ids``, to the writer (collect the write in flight first)."""
        self.writer.submit(WriteJob(batch.by_topic, ids, batch.next_offsets()))

    def collect(self, consumer: Consumer | None, ack: bool = True) -> None:
        """Wait for the write in flight (its error is raised here), log and count it, and, with
        ``ack``, commit its offsets to the Kafka group."""
        written = self.writer.collect()
        if written is None:
            return
        lag = positions.lag(consumer) if consumer is not None else None
        for result in written.results:
            self.totals.add(result)
            log.info("%s", commit_line(result, lag))
        self.delta_next.update(written.job.next_offsets)
        if consumer is not None and self.catchup.enabled:
            self.catchup.written(sum(r.records for r in written.results), self.behind(consumer))
        if ack and consumer is not None:
            offsets.commit_group(consumer, written.job.next_offsets)
