"""The publisher's producer on librdkafka, through the confluent-kafka package.

The same guarantees as the kafka-python producer (see :mod:`deltastream.kafka.producers`): every
in-sync replica acknowledges a record, one request in flight per connection keeps each
partition in order through retries, and keys are hashed with murmur2 as the Java client and
kafka-python do. librdkafka's own log lines go to the ``deltastream.kafka.librdkafka`` logger at
DEBUG: what it retries is not the user's concern, what fails reaches the rows it fails.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from deltastream.config import Config
from deltastream.errors import BrokerUnavailable, ConfigError, KafkaAuthenticationFailed
from deltastream.kafka.clients import Interrupted
from deltastream.kafka.producers import MAX_REQUEST_BYTES, FlushTimedOut, SendRefused, too_large

if TYPE_CHECKING:
    import confluent_kafka

log = logging.getLogger(__name__)
#: The longest single attempt to reach a broker; a stop is noticed between attempts.
ATTEMPT_S = 1.0
#: Sends between two services of delivery reports while rows are handed over.
SERVE_EVERY = 1000
#: librdkafka's code for a record over ``message.max.bytes`` (KafkaError.MSG_SIZE_TOO_LARGE).
TOO_LARGE = 10
#: How long a send waits between tries while the producer's queue is full.
FULL_WAIT_S = 0.05


class ClientMissing(ConfigError):
    """``client = "confluent-kafka"`` without the package installed."""

    def __init__(self, source: str) -> None:
        super().__init__(
            source,
            "[kafka] client",
            '"kafka-python", or the confluent-kafka package installed for "confluent-kafka" '
            "(pip install confluent-kafka)",
            "confluent-kafka",
        )


def module(cfg: Config) -> Any:
    """The confluent_kafka module; :class:`ClientMissing` when it is not installed."""
    try:
        import confluent_kafka
    except ImportError:
        raise ClientMissing(str(cfg.source)) from None
    return confluent_kafka


def settings(cfg: Config) -> dict[str, Any]:
    """The publisher's producer settings in librdkafka's names."""
    k, pub = cfg.kafka, cfg.publisher
    conf: dict[str, Any] = {
        "bootstrap.servers": ",".join(cfg.general.bootstrap_servers),
        "acks": "all",
        "enable.idempotence": False,
        "max.in.flight.requests.per.connection": 1,
        "partitioner": "murmur2_random",
        "linger.ms": pub.linger_ms,
        "message.max.bytes": MAX_REQUEST_BYTES,
        "batch.size": 256 * 1024,
        "delivery.timeout.ms": pub.delivery_timeout_ms,
        "request.timeout.ms": min(k.request_timeout_ms, pub.delivery_timeout_ms - pub.linger_ms - 1),
        "reconnect.backoff.max.ms": 1000,
        "security.protocol": k.security_protocol,
    }
    if k.sasl_mechanism:
        conf["sasl.mechanism"] = k.sasl_mechanism
    if k.sasl_username:
        conf["sasl.username"] = k.sasl_username
    if k.sasl_password:
        conf["sasl.password"] = k.sasl_password.get()
    if k.ssl_cafile:
        conf["ssl.ca.location"] = str(k.ssl_cafile)
    return conf


class Quiet(logging.LoggerAdapter[logging.Logger]):
    """librdkafka's log lines, whatever their level, at DEBUG."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        self.logger.debug(msg, *args, **kwargs)


class Delivery:
    """One record on its way through librdkafka; its report arrives when the producer is served."""

    __slots__ = ("error", "is_done", "owner")

    def __init__(self, owner: LibrdkafkaProducer) -> None:
        self.owner = owner
        self.is_done = False
        self.error: BaseException | None = None

    def report(self, err: confluent_kafka.KafkaError | None, _message: object) -> None:
        self.is_done = True
        if err is not None:
            self.error = SendFailed(err)

    def failed(self) -> bool:
        return self.error is not None

    @property
    def exception(self) -> BaseException | None:
        return self.error

    def wait(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.is_done and (left := deadline - time.monotonic()) > 0:
            self.owner.client.poll(min(left, 0.1))


class SendFailed(Exception):
    """librdkafka's reason for a record that failed, in its own words."""

    def __init__(self, err: confluent_kafka.KafkaError) -> None:
        super().__init__(f"{err.name()}: {err.str()}")


class LibrdkafkaProducer:
    """confluent-kafka's producer as a :class:`~deltastream.kafka.producers.Producer`."""

    def __init__(self, client: confluent_kafka.Producer, block_s: float) -> None:
        self.client = client
        self.block_s = block_s
        self.sends = 0

    def send(self, topic: str, key: bytes, value: bytes) -> Delivery:
        delivery = Delivery(self)
        deadline = 0.0
        while True:
            try:
                self.client.produce(topic, value, key, on_delivery=delivery.report)
                break
            except BufferError:  # the queue is full: serve it, and wait for room a while
                deadline = deadline or time.monotonic() + self.block_s
                if time.monotonic() >= deadline:
                    raise SendRefused(f"the producer's queue stayed full for {self.block_s:.0f} s") from None
                self.client.poll(FULL_WAIT_S)
            except Exception as exc:  # KafkaException: too big, or a topic it cannot send to
                if getattr(exc.args[0] if exc.args else None, "code", lambda: None)() == TOO_LARGE:
                    raise SendRefused(too_large(len(key) + len(value))) from exc
                raise SendRefused(one_error(exc)) from exc
        self.sends += 1
        if self.sends % SERVE_EVERY == 0:
            self.client.poll(0)
        return delivery

    def flush(self, timeout_s: float) -> None:
        left = self.client.flush(timeout_s)
        if left:
            raise FlushTimedOut(f"{left:,} records not acknowledged after {timeout_s:.0f} s")

    def close(self, hard: bool = False) -> None:
        if hard:  # fail what is still queued or in flight: their reports say so
            self.client.purge(in_queue=True, in_flight=True, blocking=False)
            self.client.poll(0)
        else:
            self.client.flush(self.block_s)


def one_error(exc: BaseException) -> str:
    """A KafkaException's error in one line, or the exception's own text."""
    err: Any = exc.args[0] if exc.args else None
    if err is not None and hasattr(err, "name") and hasattr(err, "str"):
        return f"{err.name()}: {err.str()}"
    return str(exc)


def producer(cfg: Config, stop: threading.Event | None = None) -> LibrdkafkaProducer:
    """The publisher's producer on librdkafka, once a broker answers (waiting as
    :func:`deltastream.kafka.clients.connect` does, up to ``connect_timeout_s``)."""
    ck = module(cfg)
    stop = stop or threading.Event()
    refusals: list[Any] = []

    def on_error(err: confluent_kafka.KafkaError) -> None:
        log.debug("librdkafka: %s", err)
        if err.code() in (ck.KafkaError._AUTHENTICATION, ck.KafkaError._SSL):
            refusals.append(err)

    conf = {**settings(cfg), "logger": Quiet(log, {}), "error_cb": on_error}
    client = ck.Producer(conf)
    servers, patience_s = cfg.general.bootstrap_servers, cfg.kafka.connect_timeout_s
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            client.list_topics(timeout=ATTEMPT_S)
            return LibrdkafkaProducer(client, cfg.publisher.delivery_timeout_ms / 1000)
        except ck.KafkaException as exc:
            failure: BaseException = exc
        if refusals:
            raise KafkaAuthenticationFailed(servers, *refused(refusals[-1], cfg.kafka.sasl_username))
        waited = time.monotonic() - started
        if waited >= patience_s:
            raise BrokerUnavailable(servers, waited, one_error(failure))
        log.warning(
            "publisher: no broker at %s yet (attempt %d, waited %.0f s of %.0f s); retrying",
            ",".join(servers),
            attempt,
            waited,
            patience_s,
        )
        if stop.wait(min(0.2 * attempt, 2.0, max(0.0, patience_s - waited))):
            raise Interrupted


def refused(err: confluent_kafka.KafkaError, user: str | None) -> tuple[str, str]:
    """What kept the producer out, and the fix, as :func:`compat.refusal` says it for kafka-python."""
    text = err.str()
    if "certificate verify failed" in text or "SSL handshake failed" in text:
        return (
            f"has a TLS certificate this machine does not trust ({text})",
            "set [kafka] ssl_cafile to the certificate authority that signed it (a PEM file)",
        )
    return (
        f"refused the SASL credentials of user '{user}' ({text})",
        "check [kafka] sasl_username, sasl_password and sasl_mechanism",
    )
