"""The writer thread: one batch in flight, written to Delta while the loop polls the next one.

The loop hands over a :class:`WriteJob`, an immutable value holding the messages, the app ids
they were read under and the offsets to acknowledge. Each topic's messages are decoded by its
format into rows, which the sink writes (:func:`write_topic`); it collects the :class:`Written` outcome
(or the job's error) before handing over the next. The writer thread makes no Kafka calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain

from polars.exceptions import PolarsError

from deltastream.errors import SinkError
from deltastream.kafka.message import Message, TopicPartition
from deltastream.subscribe.formats import Format
from deltastream.subscribe.offsets import AppIds, spans
from deltastream.subscribe.sink import DeltaSink, WriteResult


@dataclass(frozen=True)
class WriteJob:
    """A batch to write: messages by topic and partition, in offset order."""

    parts: Mapping[str, Mapping[int, Sequence[Message]]]
    ids: AppIds
    #: Per partition, the offset after the last message: acknowledged to Kafka once written.
    next_offsets: Mapping[TopicPartition, int]


@dataclass(frozen=True)
class Written:
    """The outcome of a job: one result per topic that had anything new."""

    job: WriteJob
    results: list[WriteResult] = field(default_factory=list)


class Writer:
    """Runs one :class:`WriteJob` at a time on a thread of its own."""

    def __init__(self, sink: DeltaSink, formats: Callable[[str], Format]) -> None:
        self.sink = sink
        self.formats = formats
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="delta-writer")
        self._pending: Future[Written] | None = None

    @property
    def idle(self) -> bool:
        """No job in flight, or the one in flight is finished (not collected yet)."""
        return self._pending is None or self._pending.done()

    @property
    def busy(self) -> bool:
        return self._pending is not None

    def submit(self, job: WriteJob) -> None:
        if self._pending is not None:
            raise RuntimeError("collect the job in flight before submitting another")
        self._pending = self._executor.submit(self._write, job)

    def collect(self) -> Written | None:
        """Wait for the job in flight and return its outcome; its error is raised here."""
        pending, self._pending = self._pending, None
        return None if pending is None else pending.result()

    def close(self) -> None:
        """Let the job in flight finish, then stop the thread."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _write(self, job: WriteJob) -> Written:
        results = []
        for topic, parts in job.parts.items():
            result = write_topic(self.sink, self.formats(topic), topic, parts, job.ids)
            if result is not None:
                results.append(result)
        return Written(job, results)


def write_topic(
    sink: DeltaSink, fmt: Format, topic: str, parts: Mapping[int, Sequence[Message]], ids: AppIds
) -> WriteResult | None:
    """One topic's messages, by partition in offset order, decoded by ``fmt`` into rows and
    written by ``sink``; ``None`` when every message had been written before."""
    messages = list(chain.from_iterable(parts.values()))
    try:
        decoded = fmt.decode(messages, sink.columns(topic))
    except (PolarsError, ValueError) as exc:  # a format's own fault: one line, nothing written
        raise SinkError(
            sink.tables.uri(topic), f"cannot turn the messages into rows: {exc}", spans(parts)
        ) from exc
    return sink.write(topic, decoded, spans(parts), ids)


class TopicWriter:
    """A sink fed with messages through one format, on the caller's thread: what the writer thread
    does for each topic of a job, for callers that hold the messages themselves (the benchmark)."""

    def __init__(self, sink: DeltaSink, fmt: Format) -> None:
        self.sink = sink
        self.format = fmt

    def write(self, topic: str, parts: Mapping[int, Sequence[Message]], ids: AppIds) -> WriteResult | None:
        return write_topic(self.sink, self.format, topic, parts, ids)
