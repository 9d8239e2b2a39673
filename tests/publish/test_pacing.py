"""Pacing: rows spread over time at the rate, in steps few enough to be sent together."""

from __future__ import annotations

import threading
import time

from deltastream.publish.pacing import TICK_S, Pacer


class CountedStop(threading.Event):
    """A stop that counts how often the pacer waited on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        return super().wait(timeout)


def test_a_fast_rate_sends_the_rows_due_in_each_step_together() -> None:
    stop, pacer = CountedStop(), Pacer(400)
    started = time.monotonic()
    for _ in range(100):  # 0.25 s of rows: five steps, not a hundred wake-ups
        pacer.wait_turn(stop)
    assert time.monotonic() - started >= 0.2  # spread over time, not sent at once
    assert stop.waits <= 0.25 / TICK_S + 2


def test_a_slow_rate_waits_for_each_row() -> None:
    stop, pacer = CountedStop(), Pacer(1 / TICK_S / 2)  # a row every two steps
    for _ in range(5):
        pacer.wait_turn(stop)
    assert stop.waits == 4  # the first row goes at once


def test_a_stop_cuts_the_wait_short() -> None:
    stop, pacer = CountedStop(), Pacer(0.01)  # a row every 100 s
    pacer.wait_turn(stop)
    stop.set()
    started = time.monotonic()
    pacer.wait_turn(stop)
    assert time.monotonic() - started < 50
