"""query.py's look at the tables by name: --table (with --columns and --where), --schema, --sql,
and --as-of as a version or a relative time; every mistake one line with exit status 2 (a table
or version that is not there: 1). Real Delta tables in a temp dir, no broker."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from deltastream.query.asof import AsOf, parse
from deltastream.values import DEAD_LETTERS

from .conftest import run


def error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("query.py: ")]
    assert len(lines) == 1, err
    return lines[0]


def test_one_table_its_columns_and_rows_where_a_typed_condition_holds(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        site, capsys, "--table", "sale", "--columns", "id,sale", "--where", "sale > 100", "--format", "csv"
    )
    assert code == 0
    assert out == "id,sale\n2,1200.50\n3,10000.00\n"  # typed: 99.99 is below 100, 10000.00 above
    code, out, _ = run(site, capsys, "--table", "sale", "--rows", "2")
    assert code == 0
    assert out.startswith("table sale (version 2, ") and ": 4 rows" in out.splitlines()[0]


def test_columns_without_the_id_and_a_condition_on_a_column_not_shown(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(site, capsys, "--table", "sale", "--columns", "sale", "--format", "csv")
    assert (code, out) == (0, "sale\n99.99\n1200.50\n10000.00\n5.00\n")  # by id all the same
    code, out, _ = run(
        site, capsys, "--table", "sale", "--columns", "id", "--where", "employee_id = 2", "--format", "csv"
    )
    assert (code, out) == (0, "id\n2\n4\n")


def test_the_columns_of_a_table_and_their_types(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(site, capsys, "--schema", "sale", "--format", "csv")
    assert code == 0
    assert out == (
        "column,type,nullable\nid,long,true\nemployee_id,long,true\nclient_id,long,true\n"
        'date,date,true\nregion,string,true\nsale,"decimal(12,2)",true\n'
    )


def test_sql_over_every_table_by_name(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    query_text = (
        "SELECT d.department, sum(s.sale) AS total FROM sale s JOIN employee e ON s.employee_id = e.id "
        "JOIN department d ON e.department_id = d.id GROUP BY d.department ORDER BY total DESC"
    )
    code, out, _ = run(site, capsys, "--sql", query_text, "--format", "json")
    assert code == 0
    assert json.loads(out) == [
        {"department": "Finance", "total": "10099.99"},
        {"department": "Research", "total": "1205.50"},
    ]
    code, out, _ = run(site, capsys, "--sql", 'SELECT note FROM "dbz.public.orders"', "--format", "csv")
    assert (code, out) == (0, "note\na dotted name\n")
    code, out, _ = run(site, capsys, "--sql", f"SELECT count(*) AS n FROM {DEAD_LETTERS}", "--format", "csv")
    assert (code, out) == (0, "n\n1\n")


def test_a_version_of_one_table_or_of_each(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(site, capsys, "--table", "sale", "--as-of", "0", "--columns", "id", "--format", "csv")
    assert (code, out) == (0, "id\n1\n2\n")
    code, out, _ = run(
        site, capsys, "--sql", "SELECT count(*) AS n FROM sale", "--as-of", "sale=1", "--format", "csv"
    )
    assert (code, out) == (0, "n\n3\n")
    code, out, _ = run(site, capsys, "--as-of", "sale=1", "--format", "csv")
    assert code == 0 and sorted(int(line.split(",")[0]) for line in out.splitlines()[1:]) == [1, 2, 3]


def test_a_relative_time_is_counted_back_from_now() -> None:
    now = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
    assert parse("-5m", now).time == now - timedelta(minutes=5)
    assert parse("-1.5h", now).time == now - timedelta(hours=1.5)
    assert parse("-2d", now).time == now - timedelta(days=2)
    assert parse("12") == AsOf(versions={None: 12})
    assert parse("sale=3, client=1") == AsOf(versions={"sale": 3, "client": 1})
    assert str(parse("sale=3,client=1")) == "sale v3, client v1"


def test_a_relative_time_before_the_tables_shows_them_empty(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(site, capsys, "--as-of", "-30d", "--format", "csv")
    assert code == 0
    assert (
        out == "id,date,department,first_name,last_name,client_first_name,client_last_name,region,sale\n"
        or (out.count("\n") == 1)
    )
    assert "did not exist yet at" in err


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (
            ["--table", "nosuch"],
            2,
            "--table nosuch: not a table of this config (client, department, employee, sale, "
            "dbz.public.orders, _dead_letters)",
        ),
        (["--table", "sale", "--columns", "id,nope"], 2, "--columns id,nope: sale has no column 'nope'"),
        (["--table", "sale", "--where", "nope > 1"], 2, "--where 'nope > 1': "),
        (["--sql", "SELECT 1 +"], 2, "--sql 'SELECT 1 +': sql parser error"),
        (["--sql", "SELEC 1"], 2, "--sql 'SELEC 1': only a query (SELECT, or WITH ... SELECT) is run"),
        (["--table", "sale", "--as-of", "-30d"], 1, "it did not exist yet at "),
        (["--as-of", "-5x"], 2, "'-5x' is not a time or a version"),
        (
            ["--sql", "DELETE FROM sale"],
            2,
            "--sql 'DELETE FROM sale': only a query (SELECT, or WITH ... SELECT) is run",
        ),
        (["--sql", "SELECT * FROM nosuch"], 2, "relation 'nosuch' was not found (tables: client, "),
        (["--table", "sale", "--as-of", "99"], 1, "it has no version 99: its log holds versions 0 to 2"),
        (["--as-of", "12"], 2, "--as-of VERSION is of one table"),
        (["--columns", "id"], 2, "--columns goes with --table NAME"),
        (["--history", "--as-of", "-5m"], 2, "--as-of goes with the report, --summary, --table, --schema"),
        (["--table", "sale", "--as-of", "yesterday"], 2, "'yesterday' is not a time or a version"),
        (
            ["--table", "sale", "--as-of", "sael=0"],
            2,
            "--as-of: sael is not a table of this config (client, ",
        ),
        (["--table", "client", "--as-of", "sale=0"], 2, "--as-of: sale is not read here (only client)"),
        (["--as-of", "dbz.public.orders=0"], 2, "--as-of: dbz.public.orders is not read here (only client, "),
    ],
)
def test_every_mistake_is_one_line(
    site: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, message: str
) -> None:
    got, _, err = run(site, capsys, *argv)
    assert got == code
    assert message in error(err) and "Resolved plan" not in err


def test_a_query_table_no_topic_writes_is_a_config_error(
    site: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    text = (site / "config.toml").read_text(encoding="utf-8")
    config.write_text(
        text.replace('delta_path = "delta"', f'delta_path = "{site / "delta"}"')
        + '[query]\ndepartment = "departmnet"\n',
        encoding="utf-8",
    )
    code, _, err = run(tmp_path, capsys)
    assert code == 2
    assert (
        "[query] department: expected a topic of [general] topics, whose table the report reads "
        "(department?), got 'departmnet'"
    ) in err
