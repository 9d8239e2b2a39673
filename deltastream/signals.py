"""Ctrl-C and SIGTERM as a request to stop: a script finishes what it holds, then ends.

:func:`stop_on_signals` turns the first SIGINT or SIGTERM into a set :class:`threading.Event` that
the library's loops watch; a second Ctrl-C raises ``KeyboardInterrupt`` at once.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

log = logging.getLogger(__name__)


@dataclass
class Received:
    """The first signal a :func:`stop_on_signals` block received, if any."""

    signum: int | None = None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""

    @property
    def exit_status(self) -> int:
        """128 + the signal, as a shell reports a process a signal ended."""
        return 128 + self.signum if self.signum else 0


@contextmanager
def stop_on_signals(stop: threading.Event, what: str) -> Iterator[Received]:
    """SIGINT and SIGTERM set ``stop``; a second SIGINT raises ``KeyboardInterrupt`` at once.

    Yields a :class:`Received` that names the first signal, for the exit status.
    """
    received = Received()

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if received.signum is None:
            received.signum = signum
        log.info("%s: %s", signal.Signals(signum).name, what)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
