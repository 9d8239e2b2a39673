"""Pacing: rows spaced out at a rate, for watching data arrive (``[publisher] rate``)."""

from __future__ import annotations

import threading
import time

#: A paced publisher confirms and logs what it sent at least this often.
PACED_BATCH_S = 1.0
#: A paced publisher that fell this far behind its rate starts counting again, instead of
#: sending a burst to catch up.
PACER_SLACK_S = 1.0
#: A paced publisher sleeps at least this long between sends: at a rate above 1/TICK_S rows a
#: second, the rows that fall due meanwhile go together, in one request to the broker, instead
#: of one request and one wake-up per row.
TICK_S = 0.05


class Pacer:
    """Spaces rows out at ``rate`` per second (0: no limit), in steps of at least :data:`TICK_S`;
    a stop cuts a wait short."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.started = time.monotonic()
        self.count = 0

    @property
    def paced(self) -> bool:
        return self.rate > 0

    def wait_turn(self, stop: threading.Event) -> None:
        """Wait until the next row is due."""
        if self.rate <= 0:
            return
        due = self.started + self.count / self.rate
        self.count += 1
        late = time.monotonic() - due
        if late > PACER_SLACK_S:  # fell behind (a slow confirmation): no burst to catch up
            self.started += late
        elif late < 0:
            stop.wait(max(-late, TICK_S))
