"""The subscriber: sessions of the loop, one after the other, until stopped or caught up.

:class:`Subscriber` builds the sink and the writer thread once, then runs
:class:`~deltastream.subscribe.loop.Session` after session: a session that must start over (its
topics changed) is followed by a new one after a short pause; one whose broker went away is
followed by waiting for the broker. :func:`subscribe` is subscriber.py's body.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from deltastream import signals
from deltastream.config import Config
from deltastream.errors import BrokerUnavailable, Interrupted
from deltastream.kafka import clients
from deltastream.kafka.admins import Admin
from deltastream.subscribe.assignment import AllPartitions, Assignment, InGroup
from deltastream.subscribe.catchup import CatchUp
from deltastream.subscribe.evolution import reconcile
from deltastream.subscribe.formats import Format
from deltastream.subscribe.formats.json import JsonFormat
from deltastream.subscribe.formats.typed import Declared
from deltastream.subscribe.handover import HandOver, Totals
from deltastream.subscribe.loop import Outcome, Session, Shared
from deltastream.subscribe.maintenance import Maintenance
from deltastream.subscribe.sequence import Sequencer
from deltastream.subscribe.sink import DeltaSink
from deltastream.subscribe.upsert import TableSettings
from deltastream.subscribe.writer import Writer
from deltastream.tables import Tables

if TYPE_CHECKING:
    from deltastream.avro.registry import Registry

log = logging.getLogger(__name__)

#: What follows when the Schema Registry does not answer.
REGISTRY_DOWN = "nothing was written, and the messages are read again from Delta's offsets at the next start"

#: A subscriber waiting for a lost broker says it still waits every connect_timeout_s, but not
#: more often than this.
STILL_WAITING_MIN_S = 10.0
#: A pause before a session starts over, so that a broker in flux is not asked in a tight loop.
RESTART_PAUSE_S = 0.5


class Subscriber:
    """Consumes the configured topics into their Delta tables, exactly once, until stopped."""

    def __init__(self, cfg: Config, stop: threading.Event | None = None) -> None:
        self.cfg = cfg
        self.stopping = stop or threading.Event()
        sub = cfg.subscriber
        self.tables = Tables.at(sub.delta_path, sub.storage_options)
        target = sub.file_target_bytes
        self.sink = DeltaSink(
            self.tables,
            cfg.general.id_column,
            TableSettings(file_target_bytes=target),
            Maintenance(self.tables, sub.compact_every, sub.vacuum_retention_hours, target),
            sequencer=Sequencer(
                self.tables,
                cfg.general.id_column,
                {topic: cfg.schema(topic).tombstone_retention_hours for topic in cfg.topics},
            ),
        )
        self.formats = formats(cfg)
        self.totals = Totals()
        #: The session in progress, for tests and tools that look at a running subscriber.
        self.session: Session | None = None

    def stop(self) -> None:
        self.stopping.set()

    def format_for(self, topic: str) -> Format:
        """How ``topic``'s messages become rows."""
        return self.formats[topic]

    def run(self, assignment: Assignment) -> Totals:
        """Consume until stopped, or until ``assignment`` is finished."""
        writer = Writer(self.sink, self.format_for)
        catchup = CatchUp()
        handover = HandOver(writer, self.totals, catchup)
        shared = Shared(self.cfg, self.tables, handover, assignment, self.stopping)
        admin: Admin | None = None
        try:
            admin = self._admin(self.cfg.kafka.connect_timeout_s)
            for topic in self.cfg.topics:
                if self.cfg.format(topic) != "avro":  # an Avro topic's types are its schema's
                    reconcile(self.tables, topic, self.cfg.schema(topic))
            first = True
            while admin is not None and not self.stopping.is_set():
                self.session = Session(shared, admin, create_topics=first)
                first = False
                outcome = self.session.run()
                self.session = None
                if outcome in (Outcome.STOPPED, Outcome.CAUGHT_UP):
                    break
                if outcome is Outcome.BROKER_GONE:
                    admin.close()
                    admin = self._wait_for_broker(assignment.waits_for_broker)
                elif self.stopping.wait(RESTART_PAUSE_S):
                    break
        except Interrupted:
            pass
        finally:
            writer.close()
            catchup.close()
            if admin is not None:
                admin.close()
        return self.totals

    def _admin(self, patience_s: float | None, quiet: bool = False) -> Admin:
        return clients.admin(
            self.cfg,
            patience_s=patience_s,
            stop=self.stopping,
            request_timeout_ms=clients.WATCH_TIMEOUT_MS,
            quiet=quiet,
        )

    def _wait_for_broker(self, forever: bool) -> Admin | None:
        """Wait for the broker to answer again; ``None`` when stopped first."""
        servers = ",".join(self.cfg.general.bootstrap_servers)
        started = time.monotonic()
        patience = None if forever else self.cfg.kafka.connect_timeout_s
        while not self.stopping.is_set():
            try:
                reminder = max(STILL_WAITING_MIN_S, self.cfg.kafka.connect_timeout_s)
                admin = self._admin(reminder if patience is None else patience, quiet=True)
            except Interrupted:
                return None
            except BrokerUnavailable:
                if not forever:
                    raise
                log.warning(
                    "still waiting for the broker at %s (%.0f s so far; Ctrl-C stops)",
                    servers,
                    time.monotonic() - started,
                )
                continue
            log.warning(
                "the broker at %s is back after %.0f s; starting over from the offsets in Delta",
                servers,
                time.monotonic() - started,
            )
            return admin
        return None


def formats(cfg: Config) -> dict[str, Format]:
    """Each topic's format, as ``[topic.<name>] format`` says. The Avro and Debezium formats are
    imported only when a topic uses them: fastavro and an HTTP client cost ~60 ms at start."""
    found: dict[str, Format] = {}
    registry: Registry | None = None
    for topic in cfg.topics:
        schema = cfg.schema(topic)
        if cfg.format(topic) == "avro":
            from deltastream.avro.registry import Registry
            from deltastream.subscribe.formats.avro import AvroFormat

            registry = registry or Registry.of(cfg.kafka, then=REGISTRY_DOWN)
            assert registry is not None  # the config checks it
            found[topic] = AvroFormat(cfg.general.id_column, registry)
        elif cfg.format(topic) == "debezium":
            from deltastream.subscribe.formats.debezium import DebeziumFormat

            found[topic] = DebeziumFormat(cfg.general.id_column, Declared(topic, schema), schema.sequence_by)
        else:
            found[topic] = JsonFormat(cfg.general.id_column, Declared(topic, schema))
    return found


def assignment_for(cfg: Config, once: bool) -> Assignment:
    """``--once``: every partition, until caught up; otherwise the consumer group."""
    if once:
        return AllPartitions(cfg.topics, read_committed=cfg.kafka.isolation_level == "read_committed")
    return InGroup(cfg.topics, join_timeout_s=max(10.0, 2 * cfg.kafka.session_timeout_ms / 1000))


def subscribe(cfg: Config, once: bool = False) -> int:
    """subscriber.py's body: consume until stopped (or, with ``once``, caught up), then log totals."""
    clients.check_client(cfg)
    subscriber = Subscriber(cfg)
    assignment = assignment_for(cfg, once)
    with signals.stop_on_signals(subscriber.stopping, "finishing the current batch, then stopping"):
        totals = subscriber.run(assignment)
    caught_up = once and not subscriber.stopping.is_set()
    log.info("%s: %s", "caught up" if caught_up else "stopped", totals)
    return 0
