"""Kafka client factories: every client is built here, from the config, waiting for a broker if asked.

Building a client needs a broker that answers. :func:`connect` tries in short attempts until one
answers, the patience runs out (:class:`BrokerUnavailable`) or a stop is asked for
(:class:`Interrupted`), so Ctrl-C is never held up by a broker that is away.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from deltastream.config import Config
from deltastream.errors import (
    KafkaAuthenticationFailed,
)
from deltastream.kafka import librdkafka, rdadmin, rdconsumer
from deltastream.kafka.admins import Admin
from deltastream.kafka.consumers import FETCH_MAX_WAIT_MS, Consumer
from deltastream.kafka.producers import MAX_REQUEST_BYTES, Producer
from deltastream.kafka.wait import ATTEMPT_S, Wait
from deltastream.logs import counted

if TYPE_CHECKING:
    from kafka import KafkaConsumer, KafkaProducer

# kafka-python (and the workarounds for it, in compat) is imported by the functions that build
# its clients: a run on librdkafka never loads it (~100 ms at start).

log = logging.getLogger(__name__)
T = TypeVar("T")
#: The request timeout of the admin client that watches topics: how fast a lost broker is noticed.
WATCH_TIMEOUT_MS = 3000
#: The longest pause between two reconnect attempts of a client.
RECONNECT_BACKOFF_MAX_MS = 1000


def connect(cfg: Config, build: Callable[[dict[str, Any]], T], wait: Wait) -> T:
    """Build a kafka-python client, trying until a broker answers (see :class:`Wait`); however
    it ends, the waiting line is taken off the terminal."""
    with wait:
        return _attempts(cfg, build, wait)


def _attempts(cfg: Config, build: Callable[[dict[str, Any]], T], wait: Wait) -> T:
    from kafka.errors import KafkaTimeoutError

    from deltastream.kafka import compat

    servers = cfg.general.bootstrap_servers
    compat.keep_the_last_answer()
    patience_s = wait.patience_s
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        waited = time.monotonic() - started
        remaining = None if patience_s is None else patience_s - waited
        timeout_s = ATTEMPT_S if remaining is None else max(0.5, min(ATTEMPT_S, remaining))
        try:
            common = {
                "bootstrap_servers": list(servers),
                "bootstrap_timeout_ms": int(timeout_s * 1000),
                # kafka-python backs off up to 30 s between reconnects by default: after a long
                # outage the client would notice the broker's return that much later.
                "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
                **cfg.kafka.client_settings(),
            }
            with compat.connection_failures() as failures:
                try:
                    return build(common)
                except (KafkaTimeoutError, OSError):
                    if refused := compat.refusal(failures, cfg.kafka.sasl_username):
                        raise KafkaAuthenticationFailed(servers, *refused) from None
                    raise
        except (KafkaTimeoutError, OSError) as exc:
            failure = exc
        wait.failed(servers, attempt, started, failure)


def kafka_producer(cfg: Config, stop: threading.Event | None = None) -> KafkaProducer:
    """kafka-python's producer with the publisher's settings: a send is acknowledged once the
    broker has it, transient faults are retried."""
    from kafka import KafkaProducer

    from deltastream.kafka import compat

    pub = cfg.publisher

    def build(common: dict[str, Any]) -> KafkaProducer:
        return KafkaProducer(
            **common,
            acks="all",
            enable_idempotence=compat.PRODUCER_IDEMPOTENCE,
            max_in_flight_requests_per_connection=1,
            linger_ms=pub.linger_ms,
            batch_size=256 * 1024,
            delivery_timeout_ms=pub.delivery_timeout_ms,
            request_timeout_ms=min(cfg.kafka.request_timeout_ms, pub.delivery_timeout_ms - pub.linger_ms - 1),
            max_block_ms=pub.delivery_timeout_ms,
            max_request_size=MAX_REQUEST_BYTES,
        )

    return connect(cfg, build, Wait("publisher", cfg.kafka.connect_timeout_s, stop or threading.Event()))


def check_client(cfg: Config) -> None:
    """Raise now, before anything is sent, when the configured client is not installed."""
    if cfg.kafka.client == "confluent-kafka":
        librdkafka.check(cfg)


def producer(cfg: Config, stop: threading.Event | None = None) -> Producer:
    """The publisher's producer on the configured client (``[kafka] client``), once a broker
    answers."""
    if cfg.kafka.client == "confluent-kafka":
        return librdkafka.producer(cfg, stop)
    from deltastream.kafka.kafkapython import KafkaPythonProducer

    return KafkaPythonProducer(kafka_producer(cfg, stop))


def consumer_settings(cfg: Config) -> dict[str, Any]:
    """The subscriber's consumer settings: a group, offsets managed by the caller."""
    k = cfg.kafka
    sub = cfg.subscriber
    return {
        "group_id": sub.group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        # Records of aborted transactions are skipped, and nothing past an open one is read
        # (a broker that does not filter aborted records delivers them anyway: see the README).
        "isolation_level": k.isolation_level,
        "session_timeout_ms": k.session_timeout_ms,
        "heartbeat_interval_ms": k.heartbeat_interval_ms,
        "max_poll_interval_ms": k.max_poll_interval_ms,
        "request_timeout_ms": max(k.request_timeout_ms, k.session_timeout_ms + 5000),
        "max_poll_records": min(sub.max_batch_records, 50_000),
        # A broker that does not answer a waiting fetch when records arrive (the embedded one)
        # holds it this long: kafka-python's 500 ms would be most of the latency budget.
        "fetch_max_wait_ms": FETCH_MAX_WAIT_MS,
        "fetch_max_bytes": 16 * 1024 * 1024,
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        # Topics are created by the scripts with the configured partition count, never
        # implicitly by a metadata request with the broker's defaults.
        "allow_auto_create_topics": False,
        # Topic changes are noticed by the subscriber's own checks; fresher metadata helps the
        # group's leader see a new partition count sooner.
        "metadata_max_age_ms": 5000,
    }


def consumer(
    cfg: Config,
    *,
    patience_s: float | None,
    stop: threading.Event | None = None,
    quiet: bool = False,
) -> Consumer:
    """A consumer on the configured client (``[kafka] client``) in the subscriber's group;
    offsets are managed by the caller, not auto-committed."""
    if cfg.kafka.client == "confluent-kafka":
        return rdconsumer.consumer(cfg, patience_s=patience_s, stop=stop, quiet=quiet)
    from deltastream.kafka.kafkapython import KafkaPythonConsumer

    client = kafka_consumer(cfg, patience_s=patience_s, stop=stop, quiet=quiet)
    return KafkaPythonConsumer(client)


def kafka_consumer(
    cfg: Config,
    *,
    patience_s: float | None,
    stop: threading.Event | None = None,
    quiet: bool = False,
    **overrides: Any,
) -> KafkaConsumer:
    """kafka-python's consumer with the subscriber's settings."""
    from kafka import KafkaConsumer

    from deltastream.kafka import compat

    def build(common: dict[str, Any]) -> KafkaConsumer:
        client = KafkaConsumer(**common, **{**consumer_settings(cfg), **overrides})
        compat.forbid_auto_create(client)
        return client

    return connect(cfg, build, Wait("subscriber", patience_s, stop or threading.Event(), quiet))


def admin(
    cfg: Config,
    *,
    patience_s: float | None,
    stop: threading.Event | None = None,
    request_timeout_ms: int | None = None,
    quiet: bool = False,
) -> Admin:
    """An admin client on the configured client (``[kafka] client``); a short
    ``request_timeout_ms`` keeps periodic checks from stalling."""
    timeout_ms = request_timeout_ms or cfg.kafka.request_timeout_ms
    wait = Wait("admin", patience_s, stop or threading.Event(), quiet)
    if cfg.kafka.client == "confluent-kafka":
        return rdadmin.admin(cfg, wait, timeout_ms / 1000)
    from kafka import KafkaAdminClient

    from deltastream.kafka.kafkapython import KafkaPythonAdmin

    def build(common: dict[str, Any]) -> KafkaAdminClient:
        return KafkaAdminClient(**common, request_timeout_ms=timeout_ms)

    return KafkaPythonAdmin(connect(cfg, build, wait))


def ensure_topics(admin: Admin, names: Sequence[str], partitions: int, replication: int) -> list[str]:
    """Create the topics that do not exist yet (see :meth:`Admin.create`); returns the names it
    created, each said in a log line."""
    created = admin.create(names, partitions, replication)
    for name in created:
        log.info("created topic %s with %s", name, counted(partitions, "partition"))
    return created
