"""The end of a run: a table of what happened per topic, and the exit policy that follows from it."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import TextIO

from deltastream import logs
from deltastream.errors import PublishIncomplete, Stopped
from deltastream.logs import counted
from deltastream.publish.results import TopicResult

#: What a re-run does with rows that arrived already.
AGAIN = "publishing again is safe: the subscriber upserts by id, so a row sent twice is stored once"


def print_summary(
    results: Iterable[TopicResult], out: TextIO | None = None, secrets: Sequence[str] = ()
) -> None:
    """A table of rows read, sent, rejected and failed per topic (to stdout by default)."""
    out = out or sys.stdout
    rows = [("topic", "read", "sent", "rejected", "failed", "rows/s", "note")]
    for r in results:
        rate = f"{r.sent / r.seconds:,.0f}" if r.seconds > 0 and r.sent else "-"
        note = logs.redact(r.note, secrets)
        rows.append((r.topic, f"{r.read:,}", f"{r.sent:,}", f"{r.rejected:,}", f"{r.failed:,}", rate, note))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, 6)]
        print("  ".join([*cells, row[6]]).rstrip(), file=out)


def raise_for(results: Sequence[TopicResult], signum: int | None = None) -> None:
    """Raise what the closing line says: :class:`Stopped` after a signal (exit 128 + signal),
    :class:`PublishIncomplete` when anything was not sent (exit 1); nothing when all was."""
    sent = sum(r.sent for r in results)
    if signum and any(r.stopped or not r.started for r in results):
        unconfirmed = sum(r.unconfirmed for r in results)
        where = [f"{r.topic} after line {r.last_line}" for r in results if r.stopped]
        left = [r.topic for r in results if not r.started]
        detail = f"the broker confirmed {counted(sent, 'row')}"
        if where:
            detail += f"; reading stopped at {', '.join(where)}"
        if left:
            detail += f"; not started: {', '.join(left)}"
        if unconfirmed:
            detail += f"; {counted(unconfirmed, 'row')} sent but not confirmed"
        raise Stopped(signum, f"{detail} (the summary has each topic); {AGAIN}")
    bad = [r for r in results if not r.ok]
    if bad:
        what = "; ".join(f"{r.topic}: {r.problems()}" for r in bad)
        rest = f"the other rows were sent ({counted(sent, 'row')} in all)" if sent else "no row was sent"
        raise PublishIncomplete(f"{counted(len(bad), 'topic')} not sent in full ({what}); {rest}")
