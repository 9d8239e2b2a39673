"""Watching the data flow: --as-of, --history, --summary, --watch and paced publishing."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import polars as pl
import pytest

import publisher
import query
import subscriber
from deltastream.query import report
from deltastream.query.watch import Watcher, watch
from deltastream.tables import Tables

from ..conftest import Project, Running, expected_csv, run_pipeline, wait_until, write_sample


def test_as_of_returns_the_report_from_before_the_edit(
    report_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project = report_project
    before_anything = datetime.now(UTC)
    write_sample(project)
    run_pipeline(project)
    between = datetime.now(UTC)
    wait_until(lambda: datetime.now(UTC) > between, 2)
    project.csv("department", ["id", "department"], [["1", "FinTech"], ["2", "Research"]])
    run_pipeline(project)
    capsys.readouterr()

    assert query.main(project.args("--format", "csv")) == 0
    assert capsys.readouterr().out == expected_csv("FinTech")
    assert query.main(project.args("--format", "csv", "--as-of", between.isoformat())) == 0
    assert capsys.readouterr().out == expected_csv("Finance")
    naive_local = between.astimezone().replace(tzinfo=None).isoformat()  # no offset given: local time
    assert query.main(project.args("--format", "csv", "--as-of", naive_local)) == 0
    assert capsys.readouterr().out == expected_csv("Finance")

    assert query.main(project.args("--format", "csv", "--as-of", before_anything.isoformat())) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == ",".join(report.COLUMNS)
    assert f"table '{project.topics['sale']}' did not exist yet at" in captured.err


def test_as_of_rejects_a_bad_timestamp(report_project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project = report_project
    with pytest.raises(SystemExit) as info:
        query.main(project.args("--as-of", "yesterday"))
    assert info.value.code == 2
    assert "'yesterday' is not a time or a version" in capsys.readouterr().err


def test_history_lists_every_table_and_commit(
    report_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project = report_project
    write_sample(project)
    run_pipeline(project)
    project.csv("department", ["id", "department"], [["1", "FinTech"], ["2", "Research"]])
    run_pipeline(project)
    capsys.readouterr()

    assert query.main(project.args("--history", "--format", "csv")) == 0
    frame = pl.read_csv(capsys.readouterr().out.encode())
    assert sorted(frame["table"].unique().to_list()) == sorted(project.topics.values())
    department = frame.filter(pl.col("table") == project.topics["department"]).sort("version")
    assert department.select("version", "operation", "inserted", "updated").rows() == [
        (0, "WRITE", 2, 0),  # a first write updates nothing: it counts zero, not unknown
        (1, "MERGE", 0, 1),  # Research was published again unchanged: not an update
    ]


def test_summary_totals_by_department_and_region(
    sales_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project = sales_project

    assert query.main(project.args("--summary", "--format", "csv")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "part,department,region,sales,total,average,employees,clients,departments,first_sale,last_sale",
        "by_department,Research,,1,1200.50,1200.50,,,,,",
        "by_department,Finance,,2,109.99,55.00,,,,,",
        "by_region,,South-East,1,1200.50,1200.50,,,,,",
        "by_region,,West,1,99.99,99.99,,,,,",
        "by_region,,North,1,10.00,10.00,,,,,",
        "overall,,,3,1310.49,,2,3,2,2024-02-28,2024-11-09",
    ]


def test_watcher_reads_only_the_log_and_notices_new_versions(
    report_project: Project,
) -> None:
    project = report_project
    write_sample(project)
    watcher = Watcher(Tables.at(project.delta), project.config.query.tables)
    assert watcher.changed()  # first look
    assert all(s.version is None for s in watcher.statuses())
    run_pipeline(project)
    assert watcher.changed()
    assert not watcher.changed()
    statuses = {s.table: s for s in watcher.statuses()}
    assert statuses[project.topics["sale"]].rows == 3
    assert statuses[project.topics["sale"]].version == 0


def test_watch_renders_again_after_a_change(report_project: Project) -> None:
    project = report_project
    write_sample(project)
    run_pipeline(project)
    renders: list[report.Report] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=watch,
        args=(Watcher(Tables.at(project.delta), project.config.query.tables), 0.05, renders.append, stop),
        kwargs={"out": open(os.devnull, "w")},  # noqa: SIM115
        daemon=True,
    )
    thread.start()
    try:
        wait_until(lambda: len(renders) == 1, 10)
        project.csv("department", ["id", "department"], [["1", "FinTech"], ["2", "Research"]])
        run_pipeline(project)
        wait_until(lambda: len(renders) >= 2 and "FinTech" in renders[-1].frame["department"].to_list(), 20)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_watch_script_exits_0_on_ctrl_c(report_project: Project) -> None:
    project = report_project
    write_sample(project)
    run_pipeline(project)
    watching = Running("query.py", *project.args("--watch", "0.2"))
    try:
        wait_until(lambda: watching.printed("sales report: 3 rows"), 20)
    finally:
        code = watching.stop()
    assert code == 0


def test_publisher_rate_paces_the_rows(project_factory: Callable[..., Project]) -> None:
    project = project_factory("item")
    project.csv("item", ["id"], [[str(i)] for i in range(30)])
    started = time.monotonic()
    assert publisher.main(project.args("--rate", "60", "--batch-size", "5")) == 0
    assert time.monotonic() - started >= 0.4  # 30 rows at 60/s: the last batch leaves after 0.5 s
    assert subscriber.main(project.args("--once")) == 0
