"""What happened to each topic's CSV file: rows read, sent, rejected and failed, and why."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deltastream.logs import counted
from deltastream.publish.source import Rejected

log = logging.getLogger(__name__)

#: Failed sends logged one by one per topic before the rest are only counted.
FAILURES_LOGGED = 10
#: Rejected rows logged one by one per topic before the rest are only counted.
REJECTIONS_LOGGED = 100


@dataclass
class TopicResult:
    """What happened to one topic's CSV file.

    ``read`` rows = ``sent`` (acknowledged by the broker) + ``rejected`` (bad rows, not sent) +
    ``failed`` (sends that failed, or that a second Ctrl-C left unconfirmed: ``unconfirmed``).
    """

    topic: str
    path: Path
    read: int = 0
    sent: int = 0
    rejected: int = 0
    failed: int = 0
    unconfirmed: int = 0
    error: str | None = None
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    first_rejected: str | None = None
    #: False when a stop came before this topic's turn.
    started: bool = False
    #: The last line read, and whether a stop ended reading there.
    last_line: int = 0
    stopped: bool = False
    #: What messages call the file (its URI on S3; ``path`` is then the copy read).
    name: str | None = None

    @classmethod
    def named(cls, topic: str, name: str, **fields: Any) -> TopicResult:
        """The result of ``topic``'s file ``name``, a path or a URI, before it is read."""
        return cls(topic, Path(name), name=name, **fields)

    def note_rejected(self, item: Rejected) -> None:
        """Count a row that cannot be sent; the first few are logged one by one."""
        self.rejected += 1
        if self.first_rejected is None:
            self.first_rejected = f"line {item.line}: {item.reason}"
        if self.rejected <= REJECTIONS_LOGGED:
            log.warning("%s", item)
        elif self.rejected == REJECTIONS_LOGGED + 1:
            log.warning(
                "%s: more rows rejected; they are not logged one by one, the summary counts them all",
                self.topic,
            )

    def note_failure(self, key: str, exc: BaseException | None) -> None:
        """Count a send that failed for good; the first few are logged one by one."""
        self.failed += 1
        if len(self.failures) < FAILURES_LOGGED:
            self.failures.append(f"id {key}: {exc}")
            log.error("%s: send of id %s failed: %s", self.topic, key, exc)
        elif self.failed == FAILURES_LOGGED + 1:
            log.error("%s: more sends failed; the summary counts them all", self.topic)

    @property
    def ok(self) -> bool:
        return (
            self.started
            and not self.stopped
            and self.error is None
            and self.rejected == 0
            and self.failed == 0
        )

    @property
    def note(self) -> str:
        """The summary's last column: what went wrong, or where a stop left the file."""
        if not self.started:
            return "not started (stopped before its turn)"
        parts = []
        if self.error:
            parts.append(self.error)
        if self.stopped:
            parts.append(f"stopped after line {self.last_line}: the lines after it were not read")
        if self.unconfirmed:
            parts.append(f"{counted(self.unconfirmed, 'row')} sent but not confirmed (they may have arrived)")
        if not parts and self.failures:
            parts.append(self.failures[0])
        if not parts and self.first_rejected:
            parts.append(f"first rejected: {self.first_rejected}")
        return "; ".join(parts)

    def problems(self) -> str:
        """What was not sent, in a few words, for the closing line; empty when all was."""
        parts = []
        if not self.started:
            parts.append("not started")
        if self.error:
            parts.append(
                self.error.removeprefix(f"{self.name or self.path}: ").removeprefix(f"{self.path}: ")
            )
        if self.rejected:
            parts.append(f"{counted(self.rejected, 'row')} rejected")
        if self.failed:
            parts.append(f"{counted(self.failed, 'send')} failed")
        return ", ".join(parts)
