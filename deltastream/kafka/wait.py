"""How a client waits for a broker when it is built, whichever client it is."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from deltastream.errors import BrokerUnavailable, Interrupted

log = logging.getLogger(__name__)

#: The longest single attempt to reach a broker; a stop is noticed between attempts.
ATTEMPT_S = 1.0


@dataclass(frozen=True)
class Wait:
    """How a client waits for a broker: ``patience_s`` bounds the wait (``None``: until stopped),
    ``stop`` ends it, and each failed attempt is logged as a warning naming ``what`` unless
    ``quiet`` (the caller then says what it waits for)."""

    what: str
    patience_s: float | None
    stop: threading.Event = field(default_factory=threading.Event)
    quiet: bool = False

    def failed(self, servers: tuple[str, ...], attempt: int, started: float, failure: object) -> None:
        """After attempt number ``attempt`` (begun at ``started``) failed with ``failure``: raise
        :class:`BrokerUnavailable` once the patience is spent, else say so (unless ``quiet``) and
        pause before the next attempt, raising :class:`Interrupted` if a stop comes meanwhile."""
        patience_s = self.patience_s
        waited = time.monotonic() - started
        if patience_s is not None and waited >= patience_s:
            raise BrokerUnavailable(servers, waited, failure)
        if not self.quiet:
            log.warning(
                "%s: no broker at %s yet (attempt %d, waited %.0f s%s); retrying",
                self.what,
                ",".join(servers),
                attempt,
                waited,
                "" if patience_s is None else f" of {patience_s:.0f} s",
            )
        pause = min(0.2 * attempt, 2.0)
        if patience_s is not None:
            pause = min(pause, max(0.0, patience_s - (time.monotonic() - started)))
        if self.stop.wait(pause):
            raise Interrupted
