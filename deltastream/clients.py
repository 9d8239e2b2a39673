"""Kafka client factories: every client is built here, from the config, with bounded start-up."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError

from deltastream.config import Config
from deltastream.errors import BrokerUnavailable, KafkaOperationError

log = logging.getLogger(__name__)
T = TypeVar("T")
ATTEMPT_S = 5.0


def _connect(cfg: Config, build: Callable[[dict[str, Any]], T], what: str) -> T:
    """Build a client, retrying until ``[kafka] connect_timeout_s`` runs out."""
    servers = cfg.general.bootstrap_servers
    limit = cfg.kafka.connect_timeout_s
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        remaining = limit - (time.monotonic() - started)
        timeout_ms = int(max(0.5, min(ATTEMPT_S, remaining)) * 1000)
        try:
            common = {
                "bootstrap_servers": list(servers),
                "bootstrap_timeout_ms": timeout_ms,
                **cfg.kafka.client_settings(),
            }
            return build(common)
        except (KafkaTimeoutError, OSError) as exc:
            waited = time.monotonic() - started
            if waited >= limit:
                raise BrokerUnavailable(servers, waited, exc) from None
            log.warning(
                "%s: no broker at %s yet (attempt %d, waited %.0f s of %.0f s); retrying",
                what,
                ",".join(servers),
                attempt,
                waited,
                limit,
            )
            time.sleep(min(1.0 * attempt, 5.0, max(0.0, limit - waited)))


def producer(cfg: Config) -> KafkaProducer:
    """A producer that acknowledges a send once the broker has it, retrying transient faults."""
    pub = cfg.publisher

    def build(common: dict[str, Any]) -> KafkaProducer:
        return KafkaProducer(
            **common,
            acks="all",
            # Retries keep each partition in order with one request in flight per connection;
            # the idempotent producer's id does not survive a broker that restarts empty (the
            # embedded one), and a record sent twice is harmless to an upsert by id.
            enable_idempotence=False,
            max_in_flight_requests_per_connection=1,
            linger_ms=pub.linger_ms,
            batch_size=256 * 1024,
            delivery_timeout_ms=pub.delivery_timeout_ms,
            request_timeout_ms=min(cfg.kafka.request_timeout_ms, pub.delivery_timeout_ms - pub.linger_ms - 1),
            max_block_ms=pub.delivery_timeout_ms,
        )

    return _connect(cfg, build, "publisher")


def consumer(cfg: Config, **overrides: Any) -> KafkaConsumer:
    """A consumer in the subscriber's group; offsets are managed by the caller, not auto-committed."""
    k = cfg.kafka
    sub = cfg.subscriber

    def build(common: dict[str, Any]) -> KafkaConsumer:
        settings: dict[str, Any] = {
            "group_id": sub.group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "session_timeout_ms": k.session_timeout_ms,
            "heartbeat_interval_ms": k.heartbeat_interval_ms,
            "max_poll_interval_ms": k.max_poll_interval_ms,
            "request_timeout_ms": max(k.request_timeout_ms, k.session_timeout_ms + 5000),
            "max_poll_records": min(sub.max_batch_records, 50_000),
            "fetch_max_bytes": 16 * 1024 * 1024,
            "max_partition_fetch_bytes": 4 * 1024 * 1024,
            # Topics are created by the scripts with the configured partition count, never
            # implicitly by a metadata request with the broker's defaults.
            "allow_auto_create_topics": False,
        }
        settings.update(overrides)
        client = KafkaConsumer(**common, **settings)
        _forbid_auto_create(client)
        return client

    return _connect(cfg, build, "subscriber")


def _forbid_auto_create(client: KafkaConsumer) -> None:
    """Make the consumer's metadata requests honour ``allow_auto_create_topics=False``.

    kafka-python 3.0.12 keeps the setting but sends its metadata requests with auto-creation
    allowed, so a consumer whose topic is missing (deleted, or an in-memory broker restarted)
    would create it with the broker's default partition count.
    """
    cluster = getattr(client, "_cluster", None)
    settings = getattr(cluster, "config", None)
    if isinstance(settings, dict) and "allow_auto_create_topics" in settings:
        settings["allow_auto_create_topics"] = False


def admin(cfg: Config, request_timeout_ms: int | None = None) -> KafkaAdminClient:
    """An admin client; a short ``request_timeout_ms`` keeps periodic checks from stalling."""
    timeout_ms = request_timeout_ms or cfg.kafka.request_timeout_ms

    def build(common: dict[str, Any]) -> KafkaAdminClient:
        return KafkaAdminClient(**common, request_timeout_ms=timeout_ms)

    return _connect(cfg, build, "admin")


def ensure_topics(
    client: KafkaAdminClient, names: Iterable[str], partitions: int, replication: int
) -> list[str]:
    """Create the topics that do not exist yet; returns the names it created."""
    existing = set(client.list_topics())
    missing = [name for name in names if name not in existing]
    if not missing:
        return []
    created = []
    for name in missing:
        try:
            client.create_topics([NewTopic(name, partitions, replication)])
            created.append(name)
        except TopicAlreadyExistsError:
            pass
        except KafkaError as exc:
            raise KafkaOperationError(f"cannot create topic {name}: {exc}") from exc
    for name in created:
        log.info("created topic %s with %d partitions", name, partitions)
    return created


@dataclass(frozen=True)
class TopicState:
    """What the broker says of one topic: its id (new when re-created) and partition count."""

    topic_id: str
    partitions: int


def topic_states(client: KafkaAdminClient, names: Iterable[str]) -> dict[str, TopicState]:
    """The id and partition count of each of ``names`` that exists."""
    names = list(names)
    if not names:
        return {}
    result: dict[str, TopicState] = {}
    for item in client.describe_topics(names):
        topic_id = str(item.get("topic_id") or "")
        if item.get("error_code") == 0 and topic_id and set(topic_id) - {"0", "-"}:
            result[item["name"]] = TopicState(topic_id, len(item.get("partitions") or ()))
    return result
