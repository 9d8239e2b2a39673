"""How a client waits for a broker when it is built, whichever client it is."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

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
