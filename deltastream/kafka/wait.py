"""How a client waits for a broker when it is built, whichever client it is."""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from dataclasses import dataclass, field

from deltastream.errors import BrokerUnavailable, Interrupted, one_line

log = logging.getLogger(__name__)

#: The longest single attempt to reach a broker; a stop is noticed between attempts.
ATTEMPT_S = 1.0
#: How often waiting is said again when stderr is not a terminal.
SAY_EVERY_S = 10.0


@dataclass
class Wait:
    """How a client waits for a broker: ``patience_s`` bounds the wait (``None``: until stopped),
    ``stop`` ends it, and waiting is said unless ``quiet`` (the caller then says what it waits
    for): one warning at the first failed attempt, then, at a terminal, one line that updates in
    place (elsewhere, a warning every :data:`SAY_EVERY_S`)."""

    what: str
    patience_s: float | None
    stop: threading.Event = field(default_factory=threading.Event)
    quiet: bool = False
    #: When the last warning was said, and whether a line that updates is on the terminal.
    _said: float = 0.0
    _line: bool = False

    def failed(self, servers: tuple[str, ...], attempt: int, started: float, failure: object) -> None:
        """After attempt number ``attempt`` (begun at ``started``) failed with ``failure``: raise
        :class:`BrokerUnavailable` once the patience is spent, else say so (unless ``quiet``) and
        pause before the next attempt, raising :class:`Interrupted` if a stop comes meanwhile."""
        patience_s = self.patience_s
        waited = time.monotonic() - started
        if patience_s is not None and waited >= patience_s:
            raise BrokerUnavailable(servers, waited, why(servers, failure))
        if not self.quiet:
            self._say(servers, attempt, waited)
        pause = min(0.2 * attempt, 2.0)
        if patience_s is not None:
            pause = min(pause, max(0.0, patience_s - (time.monotonic() - started)))
        if self.stop.wait(pause):
            raise Interrupted

    def __enter__(self) -> Wait:
        return self

    def __exit__(self, *exc: object) -> None:
        self.reached()

    def reached(self) -> None:
        """The wait is over, however it ended: take the line that updates off the terminal (the
        client builders wait ``with`` it)."""
        if self._line:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self._line = False

    def _say(self, servers: tuple[str, ...], attempt: int, waited: float) -> None:
        where = ",".join(servers)
        of = "" if self.patience_s is None else f" of {self.patience_s:.0f} s"
        now = time.monotonic()
        if attempt == 1:
            self._said = now
            up_to = "until one answers" if self.patience_s is None else f"up to {self.patience_s:.0f} s"
            log.warning("no Kafka broker at %s yet; waiting %s (Ctrl-C stops)", where, up_to)
        elif sys.stderr.isatty() and log.isEnabledFor(logging.WARNING):
            sys.stderr.write(f"\r\x1b[Kstill no Kafka broker at {where} after {waited:.0f} s{of}")
            sys.stderr.flush()
            self._line = True
        elif now - self._said >= SAY_EVERY_S:
            self._said = now
            log.warning("still no Kafka broker at %s after %.0f s%s", where, waited, of)


def plain(failure: object) -> str:
    """What the client said of a failed attempt, in words a person reads (no client jargon)."""
    text = one_line(failure)
    if "bootstrap" in text or "NodeNotReady" in text or "node_id" in text or "timed out" in text.lower():
        return "nothing answered"
    if "refused" in text.lower():
        return "connection refused"
    return text


def why(servers: tuple[str, ...], failure: object) -> str:
    """Why no broker answered, as a person would look: a port nothing listens on is refused, a
    host that does not resolve is not found; else what the client said (:func:`plain`)."""
    found = []
    for server in servers:
        reason = probe(server) or plain(failure)
        found.append(reason if len(servers) == 1 else f"{server}: {reason}")
    return "; ".join(dict.fromkeys(found))


def probe(server: str) -> str | None:
    """What a plain TCP connection to ``host:port`` finds wrong; ``None`` when something listens."""
    host, _, port = server.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=0.5).close()
    except ConnectionRefusedError:
        return "connection refused"
    except socket.gaierror:
        return "host not found"
    except (OSError, ValueError):
        return "nothing answered"
    return None
