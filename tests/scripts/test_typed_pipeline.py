"""The three scripts with declared columns: typed tables, bad values held back, and publishing the
same CSV files again commits no data file."""

from __future__ import annotations

import polars as pl
import pytest
from deltalake import DeltaTable

import publisher
import query
import subscriber
from deltastream.values import DEAD_LETTERS

from ..conftest import Project, expected_csv, run_pipeline, write_sample

DECLARED = {
    "client": {"id": "int64", "first_name": "string", "last_name": "string"},
    "department": {"id": "int64", "department": "string"},
    "employee": {"id": "int64", "first_name": "string", "last_name": "string", "department_id": "int64"},
    "sale": {
        "id": "int64",
        "employee_id": "int64",
        "client_id": "int64",
        "date": "date(%d/%m/%Y)",
        "region": "string",
        "sale": "decimal(12,2)",
    },
}


def declare(project: Project) -> None:
    project.write(**{f"topic.{project.topics[role]}.columns": columns for role, columns in DECLARED.items()})


def test_typed_tables_the_same_report_and_nothing_rewritten_by_a_second_publish(
    report_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project = report_project
    declare(project)
    write_sample(project)
    with (project.raw / f"{project.topics['sale']}.csv").open("a", encoding="utf-8") as extra:
        extra.write("4,1,2,31/2/2024,North,5\n")  # a date that does not exist
    run_pipeline(project)
    sale = project.delta / project.topics["sale"]
    assert pl.read_delta(str(sale)).schema == pl.Schema(
        {
            "id": pl.Int64(),
            "employee_id": pl.Int64(),
            "client_id": pl.Int64(),
            "date": pl.Date(),
            "region": pl.String(),
            "sale": pl.Decimal(12, 2),
        }
    )
    dead = pl.read_delta(str(project.delta / DEAD_LETTERS))
    assert dead.select("offset", "error").rows()[0][1] == "column 'date': '31/2/2024' is not a date(%d/%m/%Y)"
    capsys.readouterr()
    assert query.main(project.args("--format", "csv")) == 0
    assert capsys.readouterr().out == expected_csv("Finance")

    before = {role: DeltaTable(str(project.delta / t)) for role, t in project.topics.items()}
    files = {role: sorted(table.file_uris()) for role, table in before.items()}
    assert publisher.main(project.args()) == 0
    capsys.readouterr()
    assert subscriber.main(project.args("--once")) == 0
    log = capsys.readouterr().err
    for role, topic in project.topics.items():
        after = DeltaTable(str(project.delta / topic))
        assert sorted(after.file_uris()) == files[role], role  # no data file added or removed
        assert after.version() == before[role].version() + 1
        assert after.history(1)[0].get("deltastream.operation") == "offsets"
        assert f"{topic}: " in log and "0 inserted, 0 updated, 0 deleted" in log
    assert "(offsets only)" in log
