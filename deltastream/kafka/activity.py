"""A broker's activity in one line, for the terminal a broker runs in: its topics, their
partitions, the messages in them (the sum of their end offsets) and how fast it grows. Asked over
the Kafka protocol every few seconds by a client of its own (a broker does not tell how many
connections it has)."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from deltastream.logs import counted

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
        return f"{counted(topics, 'topic')}, {counted(partitions, 'partition')}, {total:,} messages{rate}"

    def _look(self) -> tuple[int, int, int]:
        from kafka import KafkaConsumer

        from deltastream.kafka.consumers import true_ends
        from deltastream.kafka.kafkapython import KafkaPythonConsumer
        from deltastream.kafka.message import TopicPartition

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
        ends = true_ends(KafkaPythonConsumer(client), partitions, 5000, fetch_s=1.0) if partitions else {}
        return len(names), len(partitions), sum(ends.values())

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
