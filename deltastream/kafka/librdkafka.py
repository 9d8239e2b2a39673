"""The publisher's producer on librdkafka, through the confluent-kafka package.

The same guarantees as the kafka-python producer (see :mod:`deltastream.kafka.producers`): every
in-sync replica acknowledges a record, one request in flight per connection keeps each
partition in order through retries, and keys are hashed with murmur2 as the Java client and
kafka-python do. librdkafka's own log lines go to the ``deltastream.kafka.librdkafka`` logger at
DEBUG: what it retries is not the user's concern, what fails reaches the rows it fails.

Delivery reports arrive only when the producer is served (``poll``, ``flush``): every
:data:`SERVE_EVERY` sends, while a delivery is waited for, and before a batch is settled. Each
wait is cut into steps of at most :data:`STEP_S`, so that a Ctrl-C is noticed between two.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from deltastream.config import Config
from deltastream.errors import (
    ConfigError,
    KafkaAuthenticationFailed,
)
from deltastream.kafka.producers import (
    MAX_REQUEST_BYTES,
    Delivery,
    FlushTimedOut,
    SendRefused,
    send_each,
    too_large,
)
from deltastream.kafka.wait import ATTEMPT_S, Wait

if TYPE_CHECKING:
    import confluent_kafka

log = logging.getLogger(__name__)
#: Sends between two services of delivery reports while rows are handed over.
SERVE_EVERY = 1000
#: The longest single wait on librdkafka (poll, flush): a Ctrl-C is noticed between two.
STEP_S = 0.1
#: librdkafka's longest request timeout.
MAX_REQUEST_TIMEOUT_MS = 900_000


#: The oldest librdkafka the clients' settings are known to: 2.3.0.
OLDEST = 0x020300FF


class ClientMissing(ConfigError):
    """``client = "confluent-kafka"`` without the package installed."""

    exit_code = 1  # a missing package, as for every script

    def __init__(self, source: str, found: str = "confluent-kafka") -> None:
        super().__init__(
            source,
            "[kafka] client",
            '"kafka-python", or the confluent-kafka package (librdkafka 2.3 or later) installed for '
            '"confluent-kafka" (pip install -U confluent-kafka)',
            found,
        )


def check(cfg: Config) -> None:
    """Raise :class:`ClientMissing` now, before anything is done, if the package is not there."""
    module(cfg)


def module(cfg: Config) -> Any:
    """The confluent_kafka module; :class:`ClientMissing` when it cannot be imported."""
    try:
        import confluent_kafka
        import confluent_kafka.admin  # the admin client, for :func:`admin`
    except ImportError:
        raise ClientMissing(str(cfg.source)) from None
    release, number = confluent_kafka.libversion()
    if number < OLDEST:  # without the settings the consumer gives it (fetch.queue.backoff.ms)
        raise ClientMissing(str(cfg.source), f"confluent-kafka on librdkafka {release}")
    return confluent_kafka


def settings(cfg: Config) -> dict[str, Any]:
    """The publisher's producer settings in librdkafka's names."""
    k, pub = cfg.kafka, cfg.publisher
    request_timeout_ms = min(k.request_timeout_ms, pub.delivery_timeout_ms - pub.linger_ms - 1)
    return {
        "bootstrap.servers": ",".join(cfg.general.bootstrap_servers),
        "acks": "all",
        "enable.idempotence": False,
        "max.in.flight.requests.per.connection": 1,
        "partitioner": "murmur2_random",
        "linger.ms": pub.linger_ms,
        "message.max.bytes": MAX_REQUEST_BYTES,
        "batch.size": 256 * 1024,
        # As much in hand as kafka-python's buffer (32 MB), not librdkafka's 1 GB.
        "queue.buffering.max.kbytes": 32 * 1024,
        "delivery.timeout.ms": pub.delivery_timeout_ms,
        "request.timeout.ms": min(request_timeout_ms, MAX_REQUEST_TIMEOUT_MS),
        "reconnect.backoff.max.ms": 1000,
        **k.librdkafka_settings(),
    }


class Quiet(logging.LoggerAdapter[logging.Logger]):
    """librdkafka's log lines, whatever their level, at DEBUG."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        self.logger.debug(msg, *args, **kwargs)


class LibrdkafkaDelivery:
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
            self.owner.client.poll(min(left, STEP_S))


class SendFailed(Exception):
    """librdkafka's reason for a record that failed, in its own words."""

    def __init__(self, err: confluent_kafka.KafkaError) -> None:
        super().__init__(f"{err.name()}: {err.str()}")


class LibrdkafkaProducer:
    """confluent-kafka's producer as a :class:`~deltastream.kafka.producers.Producer`."""

    def __init__(self, ck: Any, client: confluent_kafka.Producer, block_s: float) -> None:
        self.ck = ck
        self.client = client
        self.block_s = block_s
        self.sends = 0

    def send(self, topic: str, key: bytes, value: bytes) -> LibrdkafkaDelivery:
        delivery = LibrdkafkaDelivery(self)
        deadline = 0.0
        while True:
            try:
                self.client.produce(topic, value, key, on_delivery=delivery.report)
                break
            except BufferError:  # the queue is full: serve it, and wait for room a while
                deadline = deadline or time.monotonic() + self.block_s
                if time.monotonic() >= deadline:
                    raise SendRefused(f"the producer's queue stayed full for {self.block_s:.0f} s") from None
                self.client.poll(STEP_S)
            except self.ck.KafkaException as exc:  # too big, or a topic it cannot send to
                if error_code(exc) == self.ck.KafkaError.MSG_SIZE_TOO_LARGE:
                    raise SendRefused(too_large(len(key) + len(value))) from exc
                raise SendRefused(one_error(exc)) from exc
        self.sends += 1
        if self.sends % SERVE_EVERY == 0:
            self.client.poll(0)
        return delivery

    def send_many(self, topic: str, keys: Sequence[bytes], values: Sequence[bytes]) -> list[Delivery]:
        """As :meth:`send`, in one loop; the queue full or a record refused goes through it."""
        deliveries: list[Delivery] = []
        produce = self.client.produce
        for key, value in zip(keys, values, strict=True):
            fresh = LibrdkafkaDelivery(self)
            try:
                produce(topic, value, key, on_delivery=fresh.report)
                deliveries.append(fresh)
            except (BufferError, self.ck.KafkaException):  # waits for room, or says why not
                deliveries += send_each(self, topic, [key], [value])
        self.client.poll(0)
        return deliveries

    def serve(self) -> None:
        self.client.poll(0)

    def flush(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        left = self.client.flush(0)
        while left and (remaining := deadline - time.monotonic()) > 0:
            left = self.client.flush(min(remaining, STEP_S))
        if left:
            raise FlushTimedOut(f"{left:,} records not acknowledged after {timeout_s:.0f} s")

    def close(self, hard: bool = False) -> None:
        if not hard:
            try:
                self.flush(self.block_s)
                return
            except (FlushTimedOut, KeyboardInterrupt) as exc:
                log.debug("closing the producer at once: %s", exc or "interrupted")
        # Fail what is still queued or in flight: their reports say so.
        self.client.purge(in_queue=True, in_flight=True, blocking=False)
        self.client.poll(0)


def error_code(exc: BaseException) -> int | None:
    """The librdkafka error code a KafkaException carries."""
    err: Any = exc.args[0] if exc.args else None
    code = getattr(err, "code", None)
    return int(code()) if callable(code) else None


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
    refusals: list[Any] = []
    client = build(cfg, ck.Producer, {**settings(cfg), "error_cb": refusals_into(ck, refusals)})
    reach(cfg, client, refusals, Wait("publisher", cfg.kafka.connect_timeout_s, stop or threading.Event()))
    return LibrdkafkaProducer(ck, client, cfg.publisher.delivery_timeout_ms / 1000)


def refusals_into(ck: Any, refusals: list[Any]) -> Any:
    """An ``error_cb`` that logs librdkafka's errors and keeps those that say the broker refused
    the client (its credentials, its TLS handshake)."""

    def on_error(err: confluent_kafka.KafkaError) -> None:
        log.debug("librdkafka: %s", err)
        if err.code() in (ck.KafkaError._AUTHENTICATION, ck.KafkaError._SSL):
            refusals.append(err)

    return on_error


def build(cfg: Config, kind: Any, conf: dict[str, Any]) -> Any:
    """A librdkafka client of ``kind``, its log lines at DEBUG; a setting it refuses is one line."""
    ck = module(cfg)
    try:
        return kind({**conf, "logger": Quiet(log, {})})
    except ck.KafkaException as exc:  # a setting librdkafka refuses (a CA file it cannot load)
        raise ConfigError(str(cfg.source), "[kafka]", "settings librdkafka accepts", one_error(exc)) from None


def reach(cfg: Config, client: Any, refusals: list[Any], wait: Wait) -> None:
    """Return once ``client`` gets an answer from a broker; raise when the broker refuses it
    (``refusals``, filled by :func:`refusals_into`), or as :class:`Wait` says."""
    ck = module(cfg)
    servers = cfg.general.bootstrap_servers
    started = time.monotonic()
    attempt = 0
    with wait:
        while True:
            attempt += 1
            try:
                client.list_topics(timeout=ATTEMPT_S)
                return
            except ck.KafkaException as exc:
                failure: BaseException = exc
                if error_code(exc) in (ck.KafkaError._AUTHENTICATION, ck.KafkaError._SSL):
                    refusals.append(exc.args[0])  # said by the request itself, not only to on_error
            client.poll(0)  # serves the errors seen meanwhile to on_error
            if refusals:
                tls = refusals[-1].code() == ck.KafkaError._SSL
                raise KafkaAuthenticationFailed(servers, *refused(refusals[-1], cfg.kafka.sasl_username, tls))
            wait.failed(servers, attempt, started, one_error(failure))


def refused(err: confluent_kafka.KafkaError, user: str | None, tls: bool) -> tuple[str, str]:
    """What kept a client out (``tls``: the TLS handshake failed), and the fix, in the words used
    for kafka-python: the broker's own reason, without librdkafka's connection name and state."""
    text = err.str()
    if tls or "certificate verify failed" in text:
        reason = "certificate verify failed" if "certificate verify failed" in text else bare(text)
        return (
            f"has a TLS certificate this machine does not trust ({reason})",
            "set [kafka] ssl_cafile to the certificate authority that signed it (a PEM file)",
        )
    return (
        f"refused the SASL credentials of user '{user}' ({bare(text)})",
        "check [kafka] sasl_username, sasl_password and sasl_mechanism",
    )


def bare(text: str) -> str:
    """librdkafka's error text without the connection it names first and the state it names last
    ("sasl_ssl://host:port/bootstrap: SASL authentication error: ... (after 311ms in state
    AUTH_REQ)")."""
    text = re.sub(r"\s*\(after \d+ms in state \w+\)$", "", text)
    text = re.sub(r"^\w+://\S+: ", "", text)
    return text.removeprefix("SASL authentication error: ")
