"""--watch marks what changed since the last render: rows inserted, updated and deleted, shown
above the report even when they are far from its first and last rows."""

from __future__ import annotations

import shutil
import signal
import threading
from pathlib import Path

import polars as pl
from deltalake import write_deltalake

from deltastream.query.changes import compare

from ..conftest import start_script, wait_until
from .conftest import typed_sales


def test_rows_inserted_updated_and_deleted_by_id() -> None:
    before = pl.DataFrame({"id": [1, 2, 3, 4], "v": ["a", "b", "c", "d"]})
    after = pl.DataFrame({"id": [1, 2, 4, 5], "v": ["a", "B", "d", "e"]})
    found = compare(before, after)
    assert (found.inserted, found.updated, found.deleted) == (1, 1, 1)
    assert found.rows.rows() == [("~", 2, "B"), ("-", 3, "c"), ("+", 5, "e")]
    assert str(found) == "since the last render: 1 row inserted, 1 row updated, 1 row deleted"
    assert not compare(after, after) and str(compare(after, after)) == "since the last render: no row changed"


def test_watch_shows_a_change_in_the_middle_of_the_report(site: Path, tmp_path: Path) -> None:
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    watching = start_script("query.py", "--config", str(copy / "config.toml"), "--watch", "0.1")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(watching.stdout or []), daemon=True)
    reader.start()
    try:
        wait_until(lambda: any(line.startswith("sales report: 4 rows") for line in lines), 30)
        sales = [(1, 1, "99.99"), (2, 2, "1200.50"), (3, 1, "10001.00"), (4, 2, "5.00")]
        write_deltalake(str(copy / "delta" / "sale"), typed_sales(sales), mode="overwrite")
        wait_until(lambda: any("since the last render: 1 row updated" in line for line in lines), 30)
        wait_until(lambda: any(line.startswith("changed rows") for line in lines), 10)
    finally:
        watching.send_signal(signal.SIGINT)
        watching.wait(30)
    changed = lines[next(i for i, line in enumerate(lines) if line.startswith("changed rows")) :]
    assert any("~" in line and "10001.00" in line for line in changed[:12])
