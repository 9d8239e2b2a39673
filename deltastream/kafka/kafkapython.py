"""The kafka-python side of the client interfaces: its producer as a
:class:`~deltastream.kafka.producers.Producer`, its consumer as a
:class:`~deltastream.kafka.consumers.Consumer` and its admin client as an
:class:`~deltastream.kafka.admins.Admin` (the clients themselves are built in
:mod:`deltastream.kafka.clients`; what works around kafka-python's behaviour is in
:mod:`deltastream.kafka.compat`)."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KafkaPartition
from kafka.admin import NewTopic
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    MessageSizeTooLargeError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
)
from kafka.producer.future import FutureRecordMetadata
from kafka.structs import OffsetAndMetadata

from deltastream.errors import KafkaAccessDenied, KafkaOperationError, KafkaReadError
from deltastream.kafka import compat
from deltastream.kafka.consumers import Rebalances
from deltastream.kafka.message import Polled, TopicPartition
from deltastream.kafka.producers import Delivery, FlushTimedOut, SendRefused, send_each, too_large
from deltastream.kafka.topics import BrokerGone, Snapshot, TopicState, known_topic_id

log = logging.getLogger(__name__)
#: How long closing a consumer may take (leaving the group) when a session ends.
CLOSE_TIMEOUT_MS = 2000


class KafkaPythonDelivery:
    """A kafka-python send's future, as a :class:`~deltastream.kafka.producers.Delivery`."""

    __slots__ = ("future",)

    def __init__(self, future: FutureRecordMetadata) -> None:
        self.future = future

    @property
    def is_done(self) -> bool:
        return bool(self.future.is_done)

    def failed(self) -> bool:
        return bool(self.future.failed())

    @property
    def exception(self) -> BaseException | None:
        exc: BaseException | None = self.future.exception
        return exc

    def wait(self, timeout_s: float) -> None:
        if not self.future.is_done:
            with contextlib.suppress(KafkaError):
                self.future.get(timeout=timeout_s)


class KafkaPythonProducer:
    """kafka-python's producer as a :class:`~deltastream.kafka.producers.Producer`."""

    def __init__(self, client: KafkaProducer) -> None:
        self.client = client

    def send(self, topic: str, key: bytes, value: bytes) -> KafkaPythonDelivery:
        try:
            return KafkaPythonDelivery(self.client.send(topic, key=key, value=value))
        except MessageSizeTooLargeError as exc:
            raise SendRefused(too_large(len(key) + len(value))) from exc
        except KafkaError as exc:  # the buffer full for max_block_ms
            raise SendRefused(str(exc)) from exc

    def send_many(self, topic: str, keys: Sequence[bytes], values: Sequence[bytes]) -> list[Delivery]:
        return send_each(self, topic, keys, values)

    def serve(self) -> None:
        """kafka-python's own thread completes each future as the broker answers."""

    def flush(self, timeout_s: float) -> None:
        try:
            self.client.flush(timeout=timeout_s)
        except KafkaError as exc:
            raise FlushTimedOut(str(exc)) from exc

    def close(self, hard: bool = False) -> None:
        if not hard:
            try:
                self.client.close()
                return
            except (KafkaError, KeyboardInterrupt):
                pass
        compat.close_producer_now(self.client)


class Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python is untyped
    """A :class:`~deltastream.kafka.consumers.Rebalances` listener as kafka-python takes one: it
    is called on kafka-python's IO thread, in the middle of a poll."""

    def __init__(self, to: Rebalances) -> None:
        self.to = to

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self.to.on_partitions_revoked(revoked)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self.to.on_partitions_assigned(assigned)


class KafkaPythonConsumer:
    """kafka-python's consumer as a :class:`~deltastream.kafka.consumers.Consumer`."""

    def __init__(self, client: KafkaConsumer) -> None:
        self.client = client

    def subscribe(self, topics: Sequence[str], listener: Rebalances | None = None) -> None:
        self.client.subscribe(topics=list(topics), listener=None if listener is None else Listener(listener))

    def assign(self, partitions: Sequence[TopicPartition]) -> None:
        self.client.assign([KafkaPartition(*tp) for tp in partitions])

    def poll(self, wait_ms: int, most: int) -> Polled:
        try:
            polled: Polled = self.client.poll(timeout_ms=wait_ms, max_records=most)
        except GroupAuthorizationFailedError:
            group = self.client.config["group_id"]
            raise KafkaAccessDenied(
                self.client.config.get("sasl_plain_username"),
                f"use consumer group {group}",
                f"grant it READ on the group {group} ([subscriber] group_id)",
            ) from None
        except TopicAuthorizationFailedError as exc:
            raise KafkaAccessDenied(
                self.client.config.get("sasl_plain_username"),
                f"read {_topics(exc)}",
                "grant it READ and DESCRIBE on each topic it reads",
            ) from None
        except KafkaError as exc:
            if exc.retriable:
                raise BrokerGone(str(exc)) from exc
            # A batch it cannot decode: kafka-python 3.0.12 raises this once, and its next poll
            # would spin for good.
            raise KafkaReadError(exc) from exc
        return polled

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.client.seek(KafkaPartition(*tp), offset)

    def assignment(self) -> set[TopicPartition]:
        return set(self.client.assignment())

    def position(self, tp: TopicPartition) -> int | None:
        return compat.position(self.client, KafkaPartition(*tp))

    def highwater(self, tp: TopicPartition) -> int | None:
        high = self.client.highwater(KafkaPartition(*tp))
        return None if high is None else int(high)

    def end_offsets(self, partitions: Sequence[TopicPartition], timeout_ms: int) -> dict[TopicPartition, int]:
        return compat.end_offsets(self.client, [KafkaPartition(*tp) for tp in partitions], timeout_ms)

    def commit(self, next_offsets: Mapping[TopicPartition, int], timeout_ms: int) -> bool:
        commit = {KafkaPartition(*tp): OffsetAndMetadata(o, "", -1) for tp, o in next_offsets.items()}
        try:
            self.client.commit(commit, timeout_ms=timeout_ms)
        except KafkaError as exc:
            log.debug("Kafka group offsets not committed (%s); Delta holds the offsets", exc)
            return False
        return True

    def before_poll(self) -> None:
        compat.finish_interrupted_rebalance(self.client)

    def group_stable(self) -> bool:
        return compat.group_stable(self.client)

    def close(self, join_s: float, stop: threading.Event, *, finish_join: bool) -> None:
        try:
            if finish_join:
                compat.finish_join(self.client, join_s, stop)
            self.client.close(autocommit=False, timeout_ms=CLOSE_TIMEOUT_MS)
        except KafkaError as exc:  # closing must not hide the run's own outcome
            log.debug("consumer close: %s", exc)


def _topics(exc: KafkaError) -> str:
    """The topics an authorization error names (kafka-python puts them in a set), for a message."""
    names = next((arg for arg in exc.args if isinstance(arg, set | frozenset | list | tuple)), ())
    listed = ", ".join(sorted(map(str, names)))
    return f"topic {listed}" if listed else "its topics"


class KafkaPythonAdmin:
    """kafka-python's admin client as an :class:`~deltastream.kafka.admins.Admin`."""

    def __init__(self, client: KafkaAdminClient) -> None:
        self.client = client

    def describe(self, topics: Sequence[str]) -> Snapshot:
        try:
            described = self.client.describe_topics(list(topics))
        except (KafkaError, OSError) as exc:
            raise BrokerGone(str(exc) or type(exc).__name__) from exc
        return {
            item["name"]: TopicState(known_topic_id(item.get("topic_id")), len(item.get("partitions") or ()))
            for item in described
            if item.get("error_code") == 0
        }

    def names(self) -> set[str]:
        try:
            return set(self.client.list_topics())
        except (KafkaError, OSError) as exc:
            raise BrokerGone(str(exc) or type(exc).__name__) from exc

    def create(self, names: Sequence[str], partitions: int, replication: int) -> list[str]:
        existing = self.names()
        created = []
        for name in names:
            if name in existing:
                continue
            try:
                self.client.create_topics([NewTopic(name, partitions, replication)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
            except TopicAuthorizationFailedError:
                raise KafkaAccessDenied(
                    self.client.config.get("sasl_plain_username"),
                    f"see topic {name}, nor to create it",
                    "grant it DESCRIBE and READ on the topic (and create the topic as a user who may)",
                ) from None
            except KafkaError as exc:
                if exc.retriable:
                    raise BrokerGone(str(exc)) from exc
                raise KafkaOperationError(f"cannot create topic {name}: {exc}") from exc
        return created

    def close(self) -> None:
        self.client.close()
