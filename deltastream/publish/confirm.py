"""Confirmation: the rows of a batch, each acknowledged by the broker or counted as failed."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from deltastream.kafka.producers import Delivery
from deltastream.logs import counted
from deltastream.publish.results import TopicResult

log = logging.getLogger(__name__)


@dataclass
class InFlight:
    """A batch of rows on their way: the keys and the deliveries of their sends, confirmed together.

    ``keys`` gets a row's key before its send, ``futures`` its delivery after: a row whose send a
    second Ctrl-C cut short has a key and no delivery.
    """

    number: int
    started: float
    rows: int = 0
    keys: list[str] = field(default_factory=list)
    futures: list[Delivery] = field(default_factory=list)
    settled: bool = False


def wait_for(batch: InFlight, timeout_s: float) -> None:
    """Wait until every send of ``batch`` is acknowledged or has failed."""
    for future in batch.futures:
        future.wait(timeout_s)


def settle(batch: InFlight, result: TopicResult, log_line: bool = True, paced: bool = False) -> None:
    """Count the rows of ``batch``: acknowledged, failed, or not confirmed yet (given up on). Its
    line is INFO when ``paced`` (rows trickling out, a line a second at most), else DEBUG (a file
    sent at full speed would print one per ``batch_size`` rows)."""
    if batch.settled:
        return
    batch.settled = True
    sent = unconfirmed = 0
    for key, future in zip(batch.keys, batch.futures, strict=False):
        if not future.is_done:
            unconfirmed += 1
        elif future.failed():
            result.note_failure(key, future.exception)
        else:
            sent += 1
    unconfirmed += len(batch.keys) - len(batch.futures)
    result.sent += sent
    result.unconfirmed += unconfirmed
    result.failed += unconfirmed
    if log_line and batch.futures:
        failed = len(batch.futures) - sent - unconfirmed
        log.log(
            logging.INFO if paced else logging.DEBUG,
            "%s: batch %d: %s sent in %.0f ms%s (%s so far)",
            result.topic,
            batch.number,
            counted(sent, "row"),
            (time.monotonic() - batch.started) * 1000,
            f", {failed:,} failed" if failed else "",
            f"{result.sent:,}",
        )


def confirm(batch: InFlight, result: TopicResult, timeout_s: float, paced: bool = False) -> None:
    """Wait for every row of ``batch`` to be acknowledged or to fail; count it and log one line."""
    wait_for(batch, timeout_s)
    settle(batch, result, paced=paced)


def turn(batches: list[InFlight], result: TopicResult, timeout_s: float, paced: bool) -> InFlight:
    """Close the current batch (the last): confirm the ones before it, or, paced, every one (so
    the log follows the rows as they go); then open the next and return it."""
    current = batches[-1]
    for batch in [b for b in batches if not b.settled and (paced or b is not current)]:
        confirm(batch, result, timeout_s, paced)
    batches[:] = [b for b in batches if not b.settled]
    batches.append(InFlight(current.number + 1, time.monotonic()))
    return batches[-1]
