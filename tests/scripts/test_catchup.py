"""The subscriber while it catches up: one number format, records superseded in a batch counted,
and at a terminal a live bar (records, rate, lag, time left) under the per-commit lines."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

import publisher
from deltastream.subscribe.handover import Totals, commit_line
from deltastream.subscribe.sink import WriteResult

from ..conftest import ROOT, Project, in_terminal


def test_records_a_later_record_of_their_id_replaced_are_counted_as_superseded() -> None:
    result = WriteResult("sale", records=20_321, operation="append", version=3, inserted=20_000, millis=12)
    line = commit_line(result, 263_336)
    assert line == (
        "sale: 20,321 records, 20,000 inserted, 0 updated, 0 deleted, 321 superseded -> version 3 (append) "
        "in 12 ms, lag 263,336"
    )
    totals = Totals()
    totals.add(result)
    assert str(totals) == (
        "20,321 records in 1 commit (20,000 inserted, 0 updated, 0 deleted, 0 unchanged, 321 superseded, "
        "0 dead letters)"
    )


def test_catching_up_at_a_terminal_shows_a_live_bar(project_factory: Callable[..., Project]) -> None:
    project = project_factory("item")
    project.write(subscriber={"max_batch_records": 5000})
    project.csv("item", ["id", "v"], [[str(i), "x"] for i in range(60_000)])
    assert publisher.main(project.args("--quiet")) == 0
    code, seen = in_terminal([sys.executable, str(ROOT / "subscriber.py"), *project.args("--once")])
    assert code == 0
    assert re.search(r"catching up: +\d+%\|", seen), seen[-2000:]
    assert "records/s" in seen and re.search(r"\d[\d,]* to go", seen)
    assert "caught up: 60,000 records in " in seen
    commits = [line for line in seen.splitlines() if " inserted, " in line and " -> version " in line]
    assert len(commits) >= 12 and all("\r" not in line.split("INFO")[-1] for line in commits)
