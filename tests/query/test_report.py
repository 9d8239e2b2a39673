"""The report: typed casts, joins, bad data and the end-to-end CSV output."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from kafka import KafkaProducer

import query
from deltastream.errors import DataError
from deltastream.query import report

from ..conftest import ROOT, Project, expected_csv, run_pipeline, write_sample


def frames(**tables: list[dict[str, str]]) -> dict[str, pl.LazyFrame]:
    return {
        name: pl.DataFrame(rows, schema={k: pl.String for k in rows[0]}).lazy()
        for name, rows in tables.items()
    }


GOOD = {
    "client": [
        {"id": "1", "first_name": "Zoë", "last_name": "O'Brien"},
        {"id": "2", "first_name": "Li", "last_name": "Wang"},
    ],
    "department": [{"id": "1", "department": "Finance"}, {"id": "2", "department": "Sales"}],
    "employee": [
        {"id": "1", "first_name": "Ana", "last_name": "Silva", "department_id": "1"},
        {"id": "2", "first_name": "Bo", "last_name": "Berg", "department_id": "2"},
    ],
    "sale": [
        {
            "id": "10",
            "employee_id": "2",
            "client_id": "1",
            "date": "1/4/2024",
            "region": "North",
            "sale": "1200.5",
        },
        {
            "id": "2",
            "employee_id": "1",
            "client_id": "2",
            "date": "31/12/2024",
            "region": "West",
            "sale": "300",
        },
    ],
}


def test_report_types_joins_and_sorts() -> None:
    result = report.build(frames(**GOOD))
    assert result.problems == []
    assert result.frame.columns == list(report.COLUMNS)
    assert result.frame.schema["id"] == pl.Int64
    assert result.frame.schema["date"] == pl.Date
    assert result.frame.schema["sale"] == pl.Decimal(38, 2)
    assert result.frame.rows() == [
        (2, "Ana Silva", "Finance", "Li Wang", date(2024, 12, 31), "West", Decimal("300.00")),
        (10, "Bo Berg", "Sales", "Zoë O'Brien", date(2024, 4, 1), "North", Decimal("1200.50")),
    ]


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("id", "x1", "without an integer id in 'id'"),
        ("date", "31/2/2024", "without a day/month/year date in 'date'"),
        ("sale", "12.345", "without an amount with up to two decimals in 'sale'"),
        ("sale", "ten", "without an amount with up to two decimals in 'sale'"),
    ],
)
def test_rows_that_do_not_cast_are_left_out_and_counted(column: str, value: str, reason: str) -> None:
    bad_sale = {**GOOD["sale"][0], "id": "77", column: value}
    result = report.build(frames(**{**GOOD, "sale": [*GOOD["sale"], bad_sale]}))
    assert result.frame["id"].to_list() == [2, 10]
    (problem,) = result.problems
    assert (problem.table, problem.reason, problem.count) == ("sale", reason, 1)
    assert problem.ids == [bad_sale["id"]]
    with pytest.raises(DataError, match=f"sale: 1 row {reason}"):
        report.raise_if_strict(result, strict=True)
    report.raise_if_strict(result, strict=False)


def test_sales_with_unknown_employee_or_client_are_dropped_and_counted() -> None:
    orphans = [
        {**GOOD["sale"][0], "id": "50", "employee_id": "9"},
        {**GOOD["sale"][0], "id": "51", "client_id": "9"},
    ]
    result = report.build(frames(**{**GOOD, "sale": GOOD["sale"] + orphans}))
    assert result.frame["id"].to_list() == [2, 10]
    found = {(p.table, p.reason): (p.count, p.ids) for p in result.problems}
    assert found == {
        ("sale", "whose employee is unknown (or has an unknown department)"): (1, ["50"]),
        ("sale", "whose client is unknown"): (1, ["51"]),
    }


def test_end_to_end_csv_before_and_after_the_fintech_edit(
    sales_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project = sales_project

    assert query.main(project.args("--format", "csv")) == 0
    assert capsys.readouterr().out == expected_csv("Finance")

    project.csv("department", ["id", "department"], [["1", "FinTech"], ["2", "Research"]])
    run_pipeline(project)
    capsys.readouterr()
    assert query.main(project.args("--format", "csv")) == 0
    assert capsys.readouterr().out == expected_csv("FinTech")


def test_a_delta_path_with_a_space_and_accents_is_read(
    report_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project = report_project
    project.write(subscriber={"delta_path": "tables, São Paulo"})
    write_sample(project)
    # A message that cannot become a row, so the dead letters table exists there too.
    producer = KafkaProducer(bootstrap_servers=project.bootstrap)
    producer.send(project.topics["client"], key=b"9", value=b"not json")
    producer.flush()
    producer.close()
    run_pipeline(project)
    capsys.readouterr()

    assert query.main(project.args("--format", "csv")) == 0
    assert capsys.readouterr().out == expected_csv("Finance")
    assert query.main(project.args("--dead-letters", "--format", "csv")) == 0
    assert "not json" in capsys.readouterr().out


def test_table_format_has_a_header_and_all_columns(
    sales_project: Project, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    project = sales_project

    assert query.main(project.args()) == 0
    out = capsys.readouterr().out.splitlines()
    topics = project.topics
    assert out[0] == (
        f"sales report: 3 rows ({topics['client']} v0, {topics['department']} v0, "
        f"{topics['employee']} v0, {topics['sale']} v0)"
    )
    assert all(name in "\n".join(out) for name in report.COLUMNS)

    for fmt in ("json", "ndjson", "parquet", "csv"):
        target = tmp_path / f"report.{fmt}"
        assert query.main(project.args("--format", fmt, "--output", str(target))) == 0
        assert target.stat().st_size > 0
    assert pl.read_parquet(tmp_path / "report.parquet").height == 3
    assert pl.read_ndjson(tmp_path / "report.ndjson")["sale"].to_list() == [
        "1200.50",
        "99.99",
        "10.00",
    ]
    assert list(csv.reader(io.StringIO((tmp_path / "report.csv").read_text())))[1][0] == "1"


def test_a_missing_table_is_one_line_and_exit_1(
    report_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project = report_project
    assert query.main(project.args()) == 1
    err = capsys.readouterr().err.strip().splitlines()
    path = project.delta / project.topics["client"]
    assert err == [
        f"query.py: error: table '{project.topics['client']}' is missing at {path}: "
        "the subscriber has not written it yet (run subscriber.py, then publisher.py)"
    ]


def test_bad_rows_warn_or_fail_with_strict(
    report_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project = report_project
    write_sample(project)
    project.csv(
        "sale",
        ["id", "employee_id", "client_id", "date", "region", "sale"],
        [
            ["1", "2", "1", "1/4/2024", "South", "1200.5"],
            ["2", "1", "3", "30/2/2024", "West", "5"],
            ["3", "1", "9", "1/1/2024", "West", "5"],
            ["x", "1", "1", "1/1/2024", "West", "5"],
        ],
    )
    run_pipeline(project)
    capsys.readouterr()

    assert query.main(project.args("--format", "csv")) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1:] == ["1,Tom D'Arcy,Research,Zoë O'Brien,2024-04-01,South,1200.50"]
    assert "sale: 1 row without a day/month/year date in 'date' (ids: 2)" in captured.err
    assert "sale: 1 row without an integer id in 'id' (ids: x)" in captured.err
    assert "sale: 1 row whose client is unknown (ids: 3)" in captured.err

    assert query.main(project.args("--strict")) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("query.py: ")]
    assert errors == [
        "query.py: error: sale: 1 row without an integer id in 'id' (ids: x); "
        "sale: 1 row without a day/month/year date in 'date' (ids: 2); "
        "sale: 1 row whose client is unknown (ids: 3)"
    ]


def test_dead_letters_view(report_project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project = report_project
    assert query.main(project.args("--dead-letters", "--format", "csv")) == 0
    assert capsys.readouterr().out == "topic,partition,offset,key,value,value_encoding,error,time\n"


def test_query_script_runs_as_a_program() -> None:
    result = subprocess.run(
        [sys.executable, "query.py", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "--format {table,csv,json,ndjson,parquet}" in result.stdout
