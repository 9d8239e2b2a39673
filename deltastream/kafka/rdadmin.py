"""The scripts' admin calls on librdkafka, through the confluent-kafka package (see
:mod:`deltastream.kafka.admins`): topics described with the same ids as kafka-python gives,
created with the configured partitions, listed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from deltastream.config import Config
from deltastream.errors import KafkaAccessDenied, KafkaOperationError
from deltastream.kafka.librdkafka import build, error_code, module, one_error, reach, refusals_into
from deltastream.kafka.topics import BrokerGone, Snapshot, TopicState, known_topic_id
from deltastream.kafka.wait import Wait


class LibrdkafkaAdmin:
    """confluent-kafka's admin client as an :class:`~deltastream.kafka.admins.Admin`."""

    def __init__(self, ck: Any, client: Any, cfg: Config, timeout_s: float) -> None:
        self.ck = ck
        self.client = client
        self.user = cfg.kafka.sasl_username
        self.timeout_s = timeout_s

    def describe(self, topics: Sequence[str]) -> Snapshot:
        ck = self.ck
        if not topics:
            return {}
        try:
            described = self.client.describe_topics(
                ck.TopicCollection(list(topics)), request_timeout=self.timeout_s
            )
        except ck.KafkaException as exc:
            raise BrokerGone(one_error(exc)) from exc
        snapshot: dict[str, TopicState] = {}
        for name, future in described.items():
            try:
                found = future.result()
            except ck.KafkaException as exc:
                if error_code(exc) in (ck.KafkaError.UNKNOWN_TOPIC_OR_PART, ck.KafkaError._UNKNOWN_TOPIC):
                    continue  # not on the broker
                raise BrokerGone(one_error(exc)) from exc
            snapshot[name] = TopicState(topic_id(found.topic_id), len(found.partitions))
        return snapshot

    def names(self) -> set[str]:
        try:
            return set(self.client.list_topics(timeout=self.timeout_s).topics)
        except self.ck.KafkaException as exc:
            raise BrokerGone(one_error(exc)) from exc

    def create(self, names: Sequence[str], partitions: int, replication: int) -> list[str]:
        ck = self.ck
        existing = self.names()
        missing = [name for name in names if name not in existing]
        if not missing:
            return []
        wanted = [ck.admin.NewTopic(name, partitions, replication) for name in missing]
        created = []
        for name, future in self.client.create_topics(wanted, request_timeout=self.timeout_s).items():
            try:
                future.result()
                created.append(name)
            except ck.KafkaException as exc:
                code = error_code(exc)
                if code == ck.KafkaError.TOPIC_ALREADY_EXISTS:
                    continue
                if code == ck.KafkaError.TOPIC_AUTHORIZATION_FAILED:
                    raise KafkaAccessDenied(
                        self.user,
                        f"see topic {name}, nor to create it",
                        "grant it DESCRIBE and READ on the topic (and create the topic as a user who may)",
                    ) from None
                if exc.args and exc.args[0].retriable():
                    raise BrokerGone(one_error(exc)) from exc
                raise KafkaOperationError(f"cannot create topic {name}: {one_error(exc)}") from exc
        return created

    def close(self) -> None:
        """Nothing to close: the client goes with its last reference."""


def topic_id(uuid: Any) -> str | None:
    """A topic id librdkafka gives (a ``Uuid``) as the text kafka-python gives for it."""
    if uuid is None:
        return None
    mask = (1 << 64) - 1
    high, low = uuid.get_most_significant_bits() & mask, uuid.get_least_significant_bits() & mask
    return known_topic_id(str(UUID(int=(high << 64) | low)))


def admin(cfg: Config, wait: Wait, timeout_s: float) -> LibrdkafkaAdmin:
    """An admin client on librdkafka, once a broker answers (see :func:`reach`)."""
    ck = module(cfg)
    refusals: list[Any] = []
    conf = {
        "bootstrap.servers": ",".join(cfg.general.bootstrap_servers),
        "reconnect.backoff.max.ms": 1000,
        **cfg.kafka.librdkafka_settings(),
        "error_cb": refusals_into(ck, refusals),
    }
    client = build(cfg, ck.admin.AdminClient, conf)
    reach(cfg, client, refusals, wait)
    return LibrdkafkaAdmin(ck, client, cfg, timeout_s)
