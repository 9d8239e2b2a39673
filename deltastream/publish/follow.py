"""``publisher.py --follow``: keep publishing the CSV files as they change.

Every :data:`EVERY_S` each topic's file is looked at (its size and modification time; on S3 its
size and ETag: see :mod:`~deltastream.publish.folders`). A file
that changed is read once it has stayed the same for one more look and its last line is ended,
so a file being written is not read half-way. Of its rows, only those whose value differs from
the one last sent for their id (new ids included) are sent; what was sent is remembered per topic in
``<raw_path>/.deltastream-follow/<topic>.json`` (the id and a digest of its value, for the
topic's id on the broker), so a restart sends only what changed meanwhile, and a new broker or a
topic created anew gets every row. A row is remembered once the broker acknowledged it. Rows that
cannot be published are logged as the publisher logs them; a file that cannot be read is said
once, and looked at again when it changes. Ctrl-C (or SIGTERM) ends it after the round in hand.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from deltastream.config import Config
from deltastream.errors import RegistryUnavailable, SourceError
from deltastream.kafka.producers import FlushTimedOut, Producer
from deltastream.logs import counted
from deltastream.publish import folders
from deltastream.publish.encoders import TopicEncoder
from deltastream.publish.folders import Folder, Unreachable
from deltastream.publish.source import Rejected, read_rows
from deltastream.schema import NotConverted

log = logging.getLogger(__name__)

#: How often the files are looked at.
EVERY_S = 0.5
#: How long a file whose last line is not ended is waited for before it is read as it is.
UNENDED_S = 5.0
#: How long the broker's confirmation is waited for before the wait is said.
SOON_S = 2.0
#: How often the broker is asked whether it still holds the topics (a restarted embedded broker
#: holds none: they are created again, and every row sent again).
TOPICS_EVERY_S = 2.0


def digest(value: bytes) -> str:
    return hashlib.blake2b(value, digest_size=12).hexdigest()


@dataclass
class Followed:
    """One topic's file: how it looked, and the digest of the value last sent per id."""

    topic: str
    folder: Folder
    sent: dict[str, str] = field(default_factory=dict)
    stamp: tuple[object, ...] | None = None
    settled: tuple[object, ...] | None = None
    unended_since: float | None = None
    total: int = 0

    #: The id the broker gave the topic: what was sent is remembered for this topic only (a new
    #: broker, or the topic deleted and created again, gets every row).
    topic_id: str | None = None

    @property
    def name(self) -> str:
        return self.folder.name(self.topic)

    @classmethod
    def of(cls, folder: Folder, topic: str, topic_id: str | None) -> Followed:
        followed = cls(topic, folder, topic_id=topic_id)
        try:
            text = folder.state(topic)
            saved = json.loads(text) if text is not None else None
        except (OSError, ValueError) as exc:
            log.warning(
                "%s: %s cannot be read (%s); every row is sent again", topic, folder.state_name(topic), exc
            )
            return followed
        sent = saved.get("sent") if isinstance(saved, dict) and saved.get("topic_id") == topic_id else None
        if isinstance(sent, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in sent.items()):
            followed.sent = sent
        elif saved is not None:
            log.info("%s: what was sent is for another broker or topic; every row is sent again", topic)
        return followed

    def look(self) -> bool:
        """Whether the file changed and has since stayed the same for one look, its last line
        ended (a file whose last line stays unended for :data:`UNENDED_S` is read as it is)."""
        stamp = self.folder.stamp(self.topic)
        ready = stamp is not None and stamp == self.stamp and stamp != self.settled
        if stamp != self.stamp:
            self.unended_since = None
        self.stamp = stamp
        if ready and not self.ended():
            now = time.monotonic()
            if self.unended_since is None:
                self.unended_since = now
                log.info("%s: its last line is not ended yet; waiting for the rest", self.name)
            ready = now - self.unended_since >= UNENDED_S
        if ready:
            self.unended_since = None
        return ready

    def ended(self) -> bool:
        """Whether the file is empty or ends with a line end."""
        return self.folder.ended(self.topic)

    def save(self) -> None:
        """Remember what was sent; a folder that cannot be written is said, and following goes
        on (a restart then sends those rows again: the subscriber upserts them)."""
        try:
            self.folder.keep_state(self.topic, json.dumps({"topic_id": self.topic_id, "sent": self.sent}))
        except OSError as exc:
            log.error(
                "%s: what was sent cannot be remembered in %s (%s)",
                self.topic,
                self.folder.state_name(self.topic),
                exc,
            )


def changed_rows(cfg: Config, followed: Followed) -> list[tuple[str, bytes]] | None:
    """The file's rows (key, value) whose value is not the one last sent for their id; ``None``
    when the file cannot be read now (said; tried again at the next look if it may be had then,
    else when it changes)."""
    followed.settled = followed.stamp
    encode = TopicEncoder(cfg, followed.topic).encode
    latest: dict[str, bytes] = {}
    try:
        with followed.folder.fetched(followed.topic) as path:
            for item in read_rows(path, cfg.general.id_column):
                if isinstance(item, Rejected):
                    log.warning("%s", item)
                    continue
                try:
                    key, value = encode(item)
                except NotConverted as exc:
                    log.warning("%s:%d: %s", path, item.line, exc)
                    continue
                latest[key] = value
    except (Unreachable, RegistryUnavailable) as exc:
        followed.settled = None  # tried again at the next look
        log.error("%s; tried again", exc)
        return None
    except SourceError as exc:
        log.error("%s; looked at again when it changes", exc)
        return None
    return [(k, v) for k, v in latest.items() if followed.sent.get(k) != digest(v)]


def send_changes(cfg: Config, producer: Producer, followed: Followed, timeout_s: float) -> int:
    """Send the rows of the file whose value is not the one last sent for their id; how many."""
    changed = changed_rows(cfg, followed)
    if changed is None:
        return 0
    if not changed:
        log.info("%s: nothing new in %s", followed.topic, followed.name)
        return 0
    deliveries = producer.send_many(followed.topic, [k.encode() for k, _ in changed], [v for _, v in changed])
    try:
        try:
            producer.flush(min(SOON_S, timeout_s))
        except FlushTimedOut:  # a broker gone or slow: said now, not after the whole wait
            log.warning(
                "%s: the broker has not confirmed %s yet; waiting up to %.0f s",
                followed.topic,
                counted(len(changed), "row"),
                timeout_s,
            )
            producer.flush(timeout_s)
    except FlushTimedOut as exc:
        log.error("%s: %s", followed.topic, exc)
        producer.serve()
    sent = 0
    for (key, value), delivery in zip(changed, deliveries, strict=True):
        if delivery.is_done and not delivery.failed():
            followed.sent[key] = digest(value)
            sent += 1
        else:  # tried again at the next look: the broker may have it or not
            followed.sent.pop(key, None)
            followed.settled = None
            log.error(
                "%s: send of id %s failed: %s", followed.topic, key, delivery.exception or "not confirmed"
            )
    followed.save()
    followed.total += sent
    log.info(
        "%s: %s sent (%s so far)", followed.topic, counted(sent, "new or changed row"), f"{followed.total:,}"
    )
    return sent


def renew(files: list[Followed], ids: dict[str, str] | None) -> None:
    """Each topic the broker now holds under another id (it restarted, or the topic was
    created anew) gets every row again: what was sent went to the topic that is gone."""
    for followed in files:
        now = (ids or {}).get(followed.topic)
        if now is None or now == followed.topic_id:
            continue
        if followed.topic_id is not None:
            log.warning(
                "%s: the topic is a new one on the broker (it restarted, or the topic was created "
                "anew); every row is sent again",
                followed.topic,
            )
        followed.topic_id, followed.sent, followed.settled = now, {}, None


def follow(  # noqa: PLR0913 (the run's parts)
    cfg: Config,
    producer: Producer,
    stop: threading.Event,
    timeout_s: float,
    topics: Callable[[], dict[str, str] | None],
    skip: set[str] | None = None,
) -> dict[str, int]:
    """Send each file's new and changed rows, then again whenever it changes, until ``stop``;
    the rows sent per topic (``skip``: topics not followed). ``topics`` makes sure the broker
    holds the topics and gives their ids (``None`` when it does not answer): asked every
    :data:`TOPICS_EVERY_S` and before rows are sent."""
    folder = folders.of(cfg)
    ids = topics() or {}
    files = [
        Followed.of(folder, topic, ids.get(topic)) for topic in cfg.topics if topic not in (skip or set())
    ]
    for followed in files:
        followed.look()
        if followed.ended():  # else the file is read once its last line is ended
            send_changes(cfg, producer, followed, timeout_s)
    log.info("following %s in %s (Ctrl-C stops)", counted(len(files), "file"), folder)
    asked = time.monotonic()
    while not stop.wait(EVERY_S):
        ready = [followed for followed in files if followed.look()]
        if ready or time.monotonic() - asked >= TOPICS_EVERY_S:
            renew(files, topics())
            asked = time.monotonic()
        for followed in ready:
            send_changes(cfg, producer, followed, timeout_s)
    return {f.topic: f.total for f in files}
