"""--watch --summary keeps the report and its totals current from the rows each version changed:
after every kind of change the subscriber's writer makes (appends, MERGE updates and deletes,
compaction, vacuum, a new column), the live summary is the one built from scratch. No broker."""

from __future__ import annotations

import json
import random
import shutil
import struct
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable, Transaction, write_deltalake

import query
from deltastream.errors import TableMissing
from deltastream.query import report, summary
from deltastream.query.incremental import LiveReport, LiveSummary
from deltastream.query.live import LiveTable
from deltastream.query.watch import Watcher
from deltastream.subscribe.maintenance import Maintenance
from deltastream.subscribe.rows import DELETED
from deltastream.subscribe.upsert import TableSettings, Upserter
from deltastream.tables import Tables

from ..conftest import Running, wait_until, write_config
from .test_charts import heights

ROLES = {role: role for role in report.TABLES}


class Site:
    """Tables of text as the subscriber writes them, changed through its own writer."""

    def __init__(self, root: Path) -> None:
        self.tables = Tables.at(root)
        self.writer = Upserter(self.tables, "id", TableSettings(file_target_bytes=16 * 1024))
        self.offsets: dict[str, int] = {}

    def upsert(self, name: str, rows: list[dict[str, str | None]], deleted: tuple[str, ...] = ()) -> None:
        columns = report.SCHEMAS[name]
        frame = pl.DataFrame(
            [{c: row.get(c) for c in columns} for row in rows]
            + [dict.fromkeys(columns) | {"id": key} for key in deleted],
            schema=dict.fromkeys(columns, pl.String),
        ).with_columns(pl.Series(DELETED, [False] * len(rows) + [True] * len(deleted)))
        offset = self.offsets[name] = self.offsets.get(name, -1) + 1
        self.writer.upsert(name, self.tables.open(name), frame, [Transaction(f"g-{name}-0", offset)])


def sale(i: int, rng: random.Random, employee: int | None = None) -> dict[str, str | None]:
    day = date(2024, 1, 1) + timedelta(days=rng.randrange(120))
    return {
        "id": str(i),
        "employee_id": str(employee if employee is not None else rng.randrange(1, 12)),
        "client_id": str(rng.randrange(1, 8)),
        "date": f"{day.day}/{day.month}/{day.year}",
        "region": rng.choice(["North", "South", "East"]),
        "sale": f"{rng.randrange(1, 100000)}.{rng.randrange(100):02d}",
    }


def full(site: Site, window: str) -> dict[str, pl.DataFrame]:
    return summary.summary(report.make(site.tables, ROLES).frame, window)


def same(live: dict[str, pl.DataFrame], whole: dict[str, pl.DataFrame]) -> None:
    assert live.keys() == whole.keys()
    for part, frame in whole.items():
        assert live[part].equals(frame), f"{part}:\n{live[part]}\n!=\n{frame}"


@pytest.fixture
def site(tmp_path: Path) -> Site:
    rng = random.Random(7)
    site = Site(tmp_path / "delta")
    site.upsert("department", [{"id": str(i), "department": f"D{i}"} for i in range(1, 5)])
    site.upsert(
        "employee",
        [
            {"id": str(i), "first_name": f"E{i}", "last_name": "X", "department_id": str(1 + i % 4)}
            for i in range(1, 12)
        ],
    )
    site.upsert("client", [{"id": str(i), "first_name": f"C{i}", "last_name": "Y"} for i in range(1, 8)])
    site.upsert("sale", [sale(i, rng) for i in range(1, 400)])
    return site


def test_every_kind_of_change_gives_the_summary_built_from_scratch(site: Site) -> None:
    rng = random.Random(11)
    live, sums = LiveReport(site.tables, ROLES), LiveSummary("week")
    first = live.refresh()
    assert first is not None
    same(sums.update(first), full(site, "week"))
    assert live.refresh() is None  # no new version: nothing to do
    changes: list[Callable[[], object]] = [
        lambda: site.upsert("sale", [sale(i, rng) for i in range(400, 420)]),  # append
        lambda: site.upsert("sale", [sale(i, rng) for i in (3, 50, 399)]),  # MERGE update
        lambda: site.upsert("sale", [], deleted=("7", "8")),  # deletes
        lambda: site.upsert("sale", [sale(9, rng) | {"id": "09"}]),  # an id written two ways
        lambda: site.upsert("sale", [sale(10, rng) | {"sale": "lots"}]),  # a value that does not cast
        lambda: site.upsert(
            "employee", [{"id": "3", "first_name": "New", "last_name": "Name", "department_id": "2"}]
        ),
        lambda: site.upsert("department", [{"id": "2", "department": "Renamed"}]),
        lambda: site.upsert("department", [], deleted=("4",)),  # its employees' sales leave the report
        lambda: site.upsert("client", [{"id": "8", "first_name": "C8", "last_name": "Y"}]),
        lambda: site.upsert(
            "sale", [sale(11, rng) | {"client_id": "8"}, sale(12, rng) | {"employee_id": "99"}]
        ),
        lambda: Maintenance(site.tables, every=1, retention_hours=0.1).run("sale"),  # compaction
    ]
    for change in changes:
        change()
        update = live.refresh()
        assert update is not None
        same(sums.update(update), full(site, "week"))
        built = report.make(site.tables, ROLES)
        assert live.frame is not None and live.frame.sort("id").equals(built.frame)
        assert [str(p) for p in update.report.problems] == [str(p) for p in built.problems]


def test_only_the_rows_a_change_reaches_are_built_again(site: Site) -> None:
    live = LiveReport(site.tables, ROLES)
    live.refresh()
    site.upsert("sale", [sale(5, random.Random(1), employee=2)])
    update = live.refresh()
    assert update is not None
    assert update.before.get_column("id").to_list() == [5] == update.after.get_column("id").to_list()
    sales_of_2 = report.make(site.tables, ROLES).frame.filter(pl.col("employee_name") == "E2 X").height
    site.upsert("employee", [{"id": "2", "first_name": "Two", "last_name": "X", "department_id": "3"}])
    update = live.refresh()
    assert update is not None
    assert update.after.height == sales_of_2  # every sale of employee 2, nothing else
    assert set(update.after.get_column("employee_name")) == {"Two X"}


def test_a_table_that_cannot_be_kept_current_from_its_files_is_read_in_full(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    table = LiveTable(site.tables, "sale", "sale")
    assert table.refresh() is not None
    site.upsert("sale", [sale(1, random.Random(2))])
    # The files the update removed are vacuumed before they are read.
    stored = site.tables.open("sale")
    assert stored is not None
    assert stored.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    caplog.set_level("INFO")
    change = table.refresh()
    assert change is not None and "sale: read in full again" in caplog.text
    assert table.rows is not None and table.rows.height == site.tables.scan(stored).collect().height
    write_deltalake(
        site.tables.uri("sale"),
        pl.DataFrame({"id": ["900"], "note": ["a new column"]}),
        mode="append",
        schema_mode="merge",
    )
    caplog.clear()
    assert table.refresh() is not None and "its columns changed" in caplog.text
    assert table.rows is not None and "900" in table.rows.get_column("__key").to_list()


def test_watch_summary_shows_each_change_in_its_window_and_chart(site: Site, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "config.toml",
        {
            "general": {"bootstrap_servers": "localhost:9", "topics": list(report.TABLES)},
            "publisher": {"raw_path": "data"},
            "subscriber": {"delta_path": "delta"},
        },
    )
    chart = tmp_path / "sales.svg"
    argv = [
        "--config",
        str(config),
        "--watch",
        "0.1",
        "--summary",
        "--window",
        "month",
        "--chart",
        str(chart),
    ]
    watching = Running("query.py", *argv)
    lines = watching.out
    try:
        wait_until(lambda: watching.printed("by month:") and chart.exists(), 30)
        assert "month:2024-02-01" in heights(chart) and "month:2030-02-01" not in heights(chart)
        seen = len(lines)
        site.upsert("sale", [sale(1000, random.Random(3)) | {"date": "1/2/2030", "sale": "12.34"}])
        wait_until(lambda: watching.printed("2030-02-01", seen), 30)
        assert watching.printed("since the last render: 1 row inserted", seen)
        wait_until(lambda: "month:2030-02-01" in heights(chart), 30)  # drawn again, whole
    finally:
        code = watching.stop()
    assert code == 0
    february = next(line for line in lines[seen:] if "2030-02-01" in line)
    assert "12.34" in february and "1 " in february


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--history", "--summary"], "--summary goes with the report and --watch, not with --history"),
        (
            ["--watch", "--chart", "x.svg"],
            "--chart goes with --watch and --summary (drawn again at each change)",
        ),
    ],
)
def test_summary_and_chart_go_with_watch(
    site: Site, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as info:
        query.main(["--delta-path", str(site.tables.root), *flags])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


# Tables written by other tools: what cannot be followed from the files is read in full, never
# shown wrong.


def other_sales(ids: Sequence[str | None], sale: str = "10.00") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": ids,
            "employee_id": ["1"] * len(ids),
            "client_id": ["1"] * len(ids),
            "date": ["1/1/2024"] * len(ids),
            "region": ["North"] * len(ids),
            "sale": [sale] * len(ids),
        },
        schema=dict.fromkeys(report.SCHEMAS["sale"], pl.String),
    )


def checked(live: LiveReport, sums: LiveSummary, tables: Tables) -> None:
    """The live report and summary, refreshed, are the ones built from scratch."""
    update = live.refresh()
    assert update is not None
    built = report.make(tables, ROLES)
    same(sums.update(update), summary.summary(built.frame, "week"))
    assert live.frame is not None and live.frame.sort("id").equals(built.frame)
    assert [str(p) for p in update.report.problems] == [str(p) for p in built.problems]


def test_tables_written_by_other_tools(site: Site) -> None:
    uri = site.tables.uri("sale")
    live, sums = LiveReport(site.tables, ROLES), LiveSummary("week")
    checked(live, sums, site.tables)
    write_deltalake(uri, other_sales(["2"]), mode="append")  # the same id on two rows: left out
    checked(live, sums, site.tables)
    write_deltalake(uri, other_sales(["1", "2", None]), mode="overwrite")  # one each, and none
    checked(live, sums, site.tables)
    write_deltalake(uri, other_sales(["3"]), mode="append")
    checked(live, sums, site.tables)
    shutil.rmtree(uri)  # written anew at the same place, up to the same version
    for ids in (["7"], ["8"], ["9"], ["10"]):
        write_deltalake(uri, other_sales(ids), mode="append")
    checked(live, sums, site.tables)
    shutil.rmtree(uri)  # gone: as the whole report says
    with pytest.raises(TableMissing):
        live.refresh()


def test_rows_deleted_in_place_are_read_in_full(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    """A delete by an engine that writes deletion vectors (Spark, Databricks) changes no file name."""
    uri = Path(site.tables.uri("client"))
    shutil.rmtree(uri)
    write_deltalake(
        str(uri), pl.DataFrame({"id": ["1", "2", "3"], "first_name": list("abc"), "last_name": list("xyz")})
    )
    live, sums = LiveReport(site.tables, ROLES), LiveSummary("week")
    checked(live, sums, site.tables)
    add = pl.DataFrame(DeltaTable(str(uri)).get_add_actions(flatten=True)).row(0, named=True)
    delete_in_place(uri, add["path"], add["size_bytes"], add["num_records"], rows=[0])  # client 1
    caplog.set_level("INFO")
    checked(live, sums, site.tables)
    assert "client: read in full again (its rows can be deleted in place (deletion vectors))" in caplog.text
    assert live.frame is not None and "C1 Y" not in live.frame.get_column("client_name").to_list()


def delete_in_place(table: Path, path: str, size: int, records: int, rows: list[int]) -> None:
    """Commit a delete of ``rows`` of data file ``path`` as a deletion vector (inline), the way
    engines that write them do."""
    bitmap = struct.pack("<II", 12346, 1) + struct.pack("<HH", 0, len(rows) - 1) + struct.pack("<I", 16)
    bitmap += b"".join(struct.pack("<H", r) for r in sorted(rows))
    vector = struct.pack("<i", 1681511377) + struct.pack("<q", 1) + struct.pack("<I", 0) + bitmap
    vector += b"\0" * (-len(vector) % 4)
    z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
    text = ""
    for i in range(0, len(vector), 4):
        value = int.from_bytes(vector[i : i + 4], "big")
        text += "".join(z85[value // 85**k % 85] for k in range(4, -1, -1))
    now = int(time.time() * 1000)
    log = table / "_delta_log"
    version = max(int(p.stem) for p in log.glob("*.json")) + 1
    features = ["deletionVectors"]
    protocol = {
        "minReaderVersion": 3,
        "minWriterVersion": 7,
        "readerFeatures": features,
        "writerFeatures": features,
    }
    actions = [
        {"protocol": protocol},
        {"remove": {"path": path, "deletionTimestamp": now, "dataChange": True, "size": size}},
        {
            "add": {
                "path": path,
                "partitionValues": {},
                "size": size,
                "modificationTime": now,
                "dataChange": True,
                "stats": json.dumps({"numRecords": records}),
                "deletionVector": {
                    "storageType": "i",
                    "pathOrInlineDv": text,
                    "sizeInBytes": len(vector),
                    "cardinality": len(rows),
                },
            }
        },
        {"commitInfo": {"timestamp": now, "operation": "DELETE"}},
    ]
    (log / f"{version:020d}.json").write_text("".join(json.dumps(a) + "\n" for a in actions))


def test_a_table_moved_away_and_written_anew_is_seen_by_watch(site: Site, tmp_path: Path) -> None:
    watcher = Watcher(site.tables, ROLES)
    assert watcher.changed()
    department = Path(site.tables.uri("department"))
    shutil.move(department, tmp_path / "moved")  # as its recovery advice says
    assert watcher.changed()
    assert {s.table: s.version for s in watcher.statuses()}["department"] is None  # not written yet
    write_deltalake(str(department), pl.DataFrame({"id": ["1"], "department": ["Only"]}))
    assert watcher.changed()
    status = {s.table: s for s in watcher.statuses()}["department"]
    assert (status.version, status.rows) == (0, 1)
