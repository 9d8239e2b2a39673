"""A broker's activity in one line, for the terminal a broker runs in: its topics, their
partitions, the messages in them (the sum of their end offsets) and how fast it grows. Asked over
the Kafka protocol every few seconds by a client of its own (a broker does not tell how many
connections it has)."""

from __future__ import annotations

import contextlib
import time
from typing import Any

#: Topics the broker keeps for itself, left out of the count.
INTERNAL = "__"


class Activity:
    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self._client: Any = None
        self._last: tuple[float, int] | None = None

    def line(self) -> str:
        """``4 topics, 12 partitions, 303,336 messages (+1,234/s)``: the messages are the sum of
        the partitions' end offsets; what went wrong, if the broker did not answer."""
        try:
            topics, partitions, total = self._look()
        except Exception as exc:  # a busy or starting broker: said, and asked again next time
            self.close()
            return f"no answer to the status request ({type(exc).__name__})"
        now = time.monotonic()
        rate = ""
        if self._last is not None and now > self._last[0]:
            rate = f" (+{max(total - self._last[1], 0) / (now - self._last[0]):,.0f}/s)"
        self._last = (now, total)
        return (
            f"{topics:,} topic{'s' if topics != 1 else ''}, {partitions:,} partition"
            f"{'s' if partitions != 1 else ''}, {total:,} messages{rate}"
        )

    def _look(self) -> tuple[int, int, int]:
        from kafka import KafkaConsumer, TopicPartition

        if self._client is None:
            self._client = KafkaConsumer(
                bootstrap_servers=self.bootstrap_servers,
                client_id="deltastream-broker-status",
                enable_auto_commit=False,
                request_timeout_ms=5000,
                max_partition_fetch_bytes=1024,  # a fetch is only asked for its high watermark
            )
        client = self._client
        names = sorted(t for t in client.topics() if not t.startswith(INTERNAL))
        partitions = [
            TopicPartition(t, p) for t in names for p in sorted(client.partitions_for_topic(t) or ())
        ]
        return len(names), len(partitions), sum(self._ends(partitions).values())

    def _ends(self, partitions: list[Any]) -> dict[Any, int]:
        """Each partition's end: the larger of the one listed and a fetch's high watermark (the
        embedded broker lists the base offset of the last record batch + 1)."""
        if not partitions:
            return {}
        client = self._client
        listed = client.end_offsets(partitions)
        client.assign(partitions)
        for tp in partitions:
            client.seek(tp, max(listed.get(tp, 0) - 1, 0))
        # A fetch from the last listed record brings each partition's high watermark up to date.
        waiting = {tp for tp in partitions if listed.get(tp, 0) > 0}
        deadline = time.monotonic() + 1.0
        while waiting and time.monotonic() < deadline:
            waiting -= set(client.poll(timeout_ms=100, max_records=len(partitions)))
        return {tp: max(listed.get(tp, 0), client.highwater(tp) or 0) for tp in partitions}

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
