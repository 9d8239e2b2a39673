"""Typed tables: declared columns, values that do not fit, unchanged rows, schema changes, and the
tables read by other engines (DuckDB, Polars, pyarrow). Real Delta tables in temp dirs, no broker."""

from __future__ import annotations

import importlib.util
import json
import os
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pytest
from deltalake import DeltaTable

from deltastream.errors import SchemaRefused
from deltastream.query import history as commits
from deltastream.query import report
from deltastream.schema import TopicSchema, parse_type
from deltastream.subscribe import offsets
from deltastream.subscribe.evolution import reconcile
from deltastream.subscribe.formats.json import JsonFormat
from deltastream.subscribe.formats.typed import Declared
from deltastream.subscribe.rows import DELETED, latest
from deltastream.subscribe.sink import DeltaSink
from deltastream.subscribe.writer import TopicWriter
from deltastream.tables import Tables
from deltastream.values import DEAD_LETTERS

from ..fakes import FakeMessage, record

IDS = offsets.AppIds.of("g", {"sale": "topic-id"})
SALE = {
    "id": "int64",
    "employee_id": "int64",
    "date": "date(%d/%m/%Y)",
    "region": "string",
    "sale": "decimal(12,2)",
}


def schema(columns: dict[str, str], undeclared: str = "evolve") -> TopicSchema:
    return TopicSchema({name: parse_type(text) for name, text in columns.items()}, undeclared)


def json_format(columns: dict[str, str], undeclared: str = "evolve", topic: str = "sale") -> JsonFormat:
    return JsonFormat("id", Declared(topic, schema(columns, undeclared)))


def writer(root: Path, columns: dict[str, str] = SALE, undeclared: str = "evolve") -> TopicWriter:
    return TopicWriter(DeltaSink(Tables.at(root), "id"), json_format(columns, undeclared))


def sale(n: int, **fields: Any) -> dict[str, Any]:
    values = {"id": str(n), "employee_id": "7", "date": "1/4/2024", "region": "North", "sale": "1200.50"}
    return {**values, **fields}


def batch(*rows: dict[str, Any], first_offset: int = 0, topic: str = "sale") -> dict[int, list[FakeMessage]]:
    return {0: [record(topic, 0, first_offset + i, row) for i, row in enumerate(rows)]}


def dead_letters(root: Path) -> list[tuple[int, str]]:
    frame = pl.read_delta(str(root / DEAD_LETTERS)).sort("offset")
    return [(o, e) for o, e in frame.select("offset", "error").iter_rows()]


# --- values to types ---------------------------------------------------------------------------

FITS = [
    ("string", "anything", "anything"),
    ("bool", "true", True),
    ("bool", "FALSE", False),
    ("bool", "1", True),
    ("int32", "-2147483648", -2147483648),
    ("int64", " 42 ", 42),
    ("int64", "9223372036854775807", 9223372036854775807),
    ("float64", "1e3", 1000.0),
    ("float64", "-0.5", -0.5),
    ("decimal(12,2)", "1200.5", Decimal("1200.50")),
    ("decimal(12,2)", "-0.07", Decimal("-0.07")),
    ("decimal(4,0)", "9999", Decimal("9999")),
    ("decimal(2,2)", "0.25", Decimal("0.25")),
    ("decimal(2,2)", "-.5", Decimal("-0.50")),
    ("int64", "", None),  # a blank value (an empty CSV cell) is null
    ("date", "  ", None),
    ("date", "2024-02-29", date(2024, 2, 29)),
    ("date(%d/%m/%Y)", "9/11/2024", date(2024, 11, 9)),
    ("timestamp", "2024-11-09T10:30:00+05:30", datetime(2024, 11, 9, 5, 0, tzinfo=UTC)),
    ("timestamp", "2024-11-09 10:30:00.250Z", datetime(2024, 11, 9, 10, 30, 0, 250000, tzinfo=UTC)),
    ("timestamp(%d/%m/%Y %H:%M)", "9/11/2024 10:30", datetime(2024, 11, 9, 10, 30, tzinfo=UTC)),
    ("timestamp(%d/%m/%Y %I:%M %p)", "9/11/2024 01:30 PM", datetime(2024, 11, 9, 13, 30, tzinfo=UTC)),
]
MISFITS = [
    ("bool", "yes"),
    ("int32", "2147483648"),
    ("int64", "9223372036854775808"),
    ("int64", "5.0"),
    ("int64", "n/a"),
    ("float64", "NaN"),
    ("float64", "inf"),
    ("decimal(12,2)", "1200.505"),
    ("decimal(12,2)", "12345678901.5"),
    ("decimal(12,2)", "n/a"),
    ("decimal(2,2)", "5.00"),
    ("decimal(2,2)", "+5"),
    ("date", "2024-02-30"),
    ("date(%d/%m/%Y)", "31/2/2024"),
    ("date(%d/%m/%Y)", "2024-11-09"),
    ("timestamp", "2024-11-09T10:30:00"),
    ("timestamp", "yesterday"),
]


@pytest.mark.parametrize(("kind", "text", "value"), FITS)
def test_a_value_that_fits_its_type_is_stored_typed(kind: str, text: str, value: object) -> None:
    decoded = json_format({"id": "int64", "v": kind}).decode([record("sale", 0, 0, {"id": "1", "v": text})])
    assert decoded.dead == []
    assert decoded.rows["v"].to_list() == [value]


@pytest.mark.parametrize(("kind", "text"), MISFITS)
def test_a_value_that_does_not_fit_makes_a_dead_letter_naming_column_value_and_type(
    kind: str, text: str
) -> None:
    messages = [record("sale", 0, i, {"id": str(i), "v": v}) for i, v in enumerate(["", text, ""])]
    messages[0] = record("sale", 0, 0, {"id": "0", "v": None})
    messages[2] = record("sale", 0, 2, {"id": "2"})
    decoded = json_format({"id": "int64", "v": kind}).decode(messages)
    assert [(d.offset, d.error) for d in decoded.dead] == [
        (1, f"column 'v': {text!r} is not a {parse_type(kind)}")
    ]
    assert decoded.rows["id"].to_list() == [0, 2]  # the rest of the batch lands, null stays null
    assert decoded.rows["v"].to_list() == [None, None]


def test_the_bulk_and_the_message_by_message_parse_give_the_same_typed_rows() -> None:
    values = [sale(1), sale(2, date="31/2/2024"), sale(3, sale="n/a"), sale(4, region="Zürich")]
    bulk = [record("sale", 0, i, v) for i, v in enumerate(values)]
    # A number among the values sends the whole batch the message-by-message way.
    exact = [*bulk, FakeMessage(9, json.dumps({"id": "9", "employee_id": 7}).encode(), b"9", 0, "sale")]
    fmt = json_format(SALE)
    one, other = fmt.decode(bulk), fmt.decode(exact)
    assert one.rows.equals(other.rows.filter(pl.col("id") != 9))
    assert [(d.offset, d.error) for d in one.dead] == [(d.offset, d.error) for d in other.dead]
    assert [d.offset for d in one.dead] == [1, 2]


def test_a_tombstone_whose_key_is_not_an_id_of_the_declared_type_is_a_dead_letter() -> None:
    messages = [FakeMessage(0, None, b"5", 0, "sale"), FakeMessage(1, None, b"x", 0, "sale")]
    decoded = json_format(SALE).decode(messages)
    assert decoded.rows.filter(pl.col(DELETED))["id"].to_list() == [5]
    assert [(d.offset, d.error) for d in decoded.dead] == [(1, "column 'id': 'x' is not a int64")]


@pytest.mark.parametrize(
    ("undeclared", "columns", "dead"),
    [
        ("evolve", ["id", "employee_id", "date", "region", "sale", "note"], []),
        ("discard", ["id", "employee_id", "date", "region", "sale"], []),
        ("dead_letter", ["id", "employee_id", "date", "region", "sale"], [1]),
    ],
)
def test_fields_the_columns_do_not_declare(undeclared: str, columns: list[str], dead: list[int]) -> None:
    decoded = json_format(SALE, undeclared).decode(
        [record("sale", 0, 0, sale(1)), record("sale", 0, 1, sale(2, note="hi"))]
    )
    assert [c for c in latest(decoded.rows, "id").columns if c != DELETED] == columns
    assert [d.offset for d in decoded.dead] == dead
    if dead:
        assert decoded.dead[0].error == "field 'note' is not declared in [topic.sale.columns]"


def without_region(row: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in row.items() if name != "region"}


@pytest.mark.parametrize("undeclared", ["evolve", "discard", "dead_letter"])
def test_a_field_that_differs_from_a_declared_column_only_in_case_is_a_dead_letter(undeclared: str) -> None:
    """The table would get both columns (Delta names ignore case), or the value would be lost."""
    decoded = json_format(SALE, undeclared).decode(
        [record("sale", 0, 0, {**without_region(sale(1)), "Region": "South"})]  # alone in its batch
    )
    assert [c for c in latest(decoded.rows, "id").columns if c != DELETED] == list(SALE)
    assert decoded.rows.height == 0
    assert [(d.offset, d.error) for d in decoded.dead] == [
        (0, "field 'Region' differs only in case from the column 'region'")
    ]


# --- typed tables ------------------------------------------------------------------------------


def test_the_subscriber_writes_typed_columns_and_typed_statistics(tmp_path: Path) -> None:
    written = writer(tmp_path).write(
        "sale", batch(sale(1), sale(2, sale="99.99"), sale(10, date="31/2/2024")), IDS
    )
    assert written is not None and (written.inserted, written.dead) == (2, 1)
    table = DeltaTable(str(tmp_path / "sale"))
    types = {f.name: str(f.type) for f in table.schema().fields}
    assert types == {
        "id": 'PrimitiveType("long")',
        "employee_id": 'PrimitiveType("long")',
        "date": 'PrimitiveType("date")',
        "region": 'PrimitiveType("string")',
        "sale": 'PrimitiveType("decimal(12,2)")',
    }
    stats = pl.DataFrame(table.get_add_actions(flatten=True))
    assert stats["min.id"].to_list() == [1] and stats["max.id"].to_list() == [2]
    assert dead_letters(tmp_path) == [(2, "column 'date': '31/2/2024' is not a date(%d/%m/%Y)")]


def test_a_batch_of_unchanged_records_commits_its_offsets_alone(tmp_path: Path) -> None:
    sink = writer(tmp_path)
    sink.write("sale", batch(*(sale(n) for n in range(1, 6))), IDS)
    files = sorted(DeltaTable(str(tmp_path / "sale")).file_uris())
    again = sink.write("sale", batch(*(sale(n) for n in range(1, 6)), first_offset=5), IDS)
    assert again is not None
    assert (again.operation, again.inserted, again.updated, again.unchanged) == ("offsets", 0, 0, 5)
    table = DeltaTable(str(tmp_path / "sale"))
    assert sorted(table.file_uris()) == files  # no data file added or removed
    assert (table.version(), table.transaction_version(IDS("sale", 0))) == (again.version, 9)
    frame, _ = commits.commits(Tables.at(tmp_path), ["sale"])
    last = frame.row(-1, named=True)
    assert (last["operation"], last["inserted"], last["updated"], last["deleted"]) == (
        "OFFSETS ONLY",
        0,
        0,
        0,
    )


def test_only_changed_records_are_counted_and_written(tmp_path: Path) -> None:
    sink = writer(tmp_path)
    sink.write("sale", batch(*(sale(n) for n in range(1, 6))), IDS)
    result = sink.write("sale", batch(sale(1), sale(2, region="South"), sale(6), first_offset=5), IDS)
    assert result is not None
    assert (result.operation, result.inserted, result.updated, result.unchanged) == ("merge", 1, 1, 1)
    assert result.metrics["num_source_rows"] == 2  # the unchanged record did not reach the MERGE


def test_a_newly_declared_column_is_added_and_older_rows_are_null(tmp_path: Path) -> None:
    writer(tmp_path).write("sale", batch(sale(1)), IDS)
    wider = {**SALE, "vip": "bool"}
    reconcile(Tables.at(tmp_path), "sale", schema(wider))
    writer(tmp_path, wider).write("sale", batch(sale(2, vip="true"), first_offset=1), IDS)
    frame = pl.read_delta(str(tmp_path / "sale")).sort("id")
    assert frame["vip"].to_list() == [None, True]


def test_a_widened_type_is_applied_once_and_keeps_the_offsets(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    narrow = {**SALE, "employee_id": "int32", "sale": "decimal(8,2)"}
    writer(tmp_path, narrow).write("sale", batch(sale(1), sale(2)), IDS)
    wide = {**SALE, "employee_id": "int64", "sale": "decimal(12,2)"}
    with caplog.at_level("INFO"):
        reconcile(Tables.at(tmp_path), "sale", schema(wide))
    assert "sale: widened employee_id to int64, sale to decimal(12,2): rewrote 2 rows" in caplog.text
    table = DeltaTable(str(tmp_path / "sale"))
    assert pl.read_delta(str(tmp_path / "sale")).schema["employee_id"] == pl.Int64
    assert table.transaction_version(IDS("sale", 0)) == 1
    reconcile(Tables.at(tmp_path), "sale", schema(wide))  # nothing more to do
    assert DeltaTable(str(tmp_path / "sale")).version() == table.version()


def test_a_typed_column_the_config_no_longer_declares_is_refused(tmp_path: Path) -> None:
    writer(tmp_path).write("sale", batch(sale(1)), IDS)
    without = {k: v for k, v in SALE.items() if k != "sale"}
    for columns, first in ((without, "column 'sale' holds decimal(12,2)"), ({}, "column 'id' holds int64")):
        with pytest.raises(SchemaRefused) as info:
            reconcile(Tables.at(tmp_path), "sale", schema(columns))
        assert f"{first}, and config.toml no longer declares it (its values would come as text)" in str(
            info.value
        )
    reconcile(Tables.at(tmp_path), "sale", schema(without, "discard"))  # undeclared fields never arrive


@pytest.mark.parametrize(
    ("declared", "problem"),
    [
        ({"employee_id": "int32"}, "column 'employee_id' holds int64, and config.toml declares int32"),
        ({"region": "int64"}, "column 'region' holds string, and config.toml declares int64"),
        (
            {"sale": "decimal(12,3)"},
            "column 'sale' holds decimal(12,2), and config.toml declares decimal(12,3)",
        ),
        ({"Region": "string"}, "column 'region' is declared as 'Region'"),
    ],
)
def test_any_other_type_change_is_refused_in_one_line(
    tmp_path: Path, declared: dict[str, str], problem: str
) -> None:
    writer(tmp_path).write("sale", batch(sale(1)), IDS)
    columns = {k: v for k, v in SALE.items() if k.lower() not in {d.lower() for d in declared}} | declared
    with pytest.raises(SchemaRefused) as info:
        reconcile(Tables.at(tmp_path), "sale", schema(columns))
    message = str(info.value)
    assert message.startswith(f"table 'sale' at {tmp_path / 'sale'}: {problem}")
    assert "move the table away and run subscriber.py" in message and "\n" not in message
    assert info.value.exit_code == 2


# --- other engines -----------------------------------------------------------------------------


def duckdb_with_delta() -> duckdb.DuckDBPyConnection:
    """DuckDB with the delta extension from its wheel (INSTALL would download it)."""
    spec = importlib.util.find_spec("duckdb_ext")
    assert spec is not None and spec.submodule_search_locations
    folder = os.path.join(next(iter(spec.submodule_search_locations)), "extensions")
    con = duckdb.connect(config={"extension_directory": folder, "autoinstall_known_extensions": False})
    con.execute("LOAD delta")
    return con


@pytest.fixture
def sales(tmp_path: Path) -> Path:
    amounts = ["9661.54", "24967.58", "100.40", "10000.01", "3.00", "10000.00"]
    rows = [sale(n + 1, sale=a, date=f"{n + 1}/{n + 6}/2024") for n, a in enumerate(amounts)]
    rows.append(sale(99, date="31/2/2024"))  # held back: a dead letter
    writer(tmp_path).write("sale", batch(*rows), IDS)
    writer(tmp_path).write("sale", batch(sale(3, sale="100.41"), first_offset=len(rows)), IDS)
    return tmp_path / "sale"


def test_duckdb_sums_filters_by_date_and_orders_by_id(sales: Path) -> None:
    con = duckdb_with_delta()
    scan = f"delta_scan('{sales}')"
    types = dict(con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()[i][:2] for i in range(5))
    assert types == {
        "id": "BIGINT",
        "employee_id": "BIGINT",
        "date": "DATE",
        "region": "VARCHAR",
        "sale": "DECIMAL(12,2)",
    }
    total, top, big = (
        con.execute(
            f"SELECT sum(sale), max(sale), count(*) FILTER (WHERE sale > 10000) FROM {scan}"
        ).fetchone()
        or ()
    )
    assert (total, top, big) == (Decimal("54732.54"), Decimal("24967.58"), 2)
    summer = con.execute(
        f"SELECT list(id ORDER BY id) FROM {scan} WHERE date >= DATE '2024-09-01'"
    ).fetchone()
    assert summer == ([4, 5, 6],)
    assert [r[0] for r in con.execute(f"SELECT id FROM {scan} ORDER BY id").fetchall()] == [1, 2, 3, 4, 5, 6]


def test_polars_and_pyarrow_read_the_same_typed_table(sales: Path) -> None:
    frame = pl.read_delta(str(sales))
    assert frame.schema["sale"] == pl.Decimal(12, 2) and frame.schema["date"] == pl.Date
    assert frame["sale"].sum() == Decimal("54732.54")
    arrow = DeltaTable(str(sales)).to_pyarrow_dataset()
    assert str(arrow.schema.field("id").type) == "int64"
    assert arrow.count_rows(filter=ds.field("date") >= date(2024, 9, 1)) == 3


def test_query_reads_typed_tables_as_it_reads_text_tables(tmp_path: Path) -> None:
    text_root, typed_root = tmp_path / "text", tmp_path / "typed"
    roles = {
        "client": (
            {"id": "int64", "first_name": "string", "last_name": "string"},
            [{"id": "1", "first_name": "Ann", "last_name": "Lee"}],
        ),
        "department": ({"id": "int64", "department": "string"}, [{"id": "1", "department": "Finance"}]),
        "employee": (
            {"id": "int64", "first_name": "string", "last_name": "string", "department_id": "int64"},
            [{"id": "1", "first_name": "Åsa", "last_name": "Ek", "department_id": "1"}],
        ),
        "sale": (
            {**SALE, "client_id": "int64"},
            [sale(1, client_id="1", employee_id="1"), sale(2, client_id="1", employee_id="1", sale="99.99")],
        ),
    }
    for role, (columns, rows) in roles.items():
        ids = offsets.AppIds.of("g")
        plain = TopicWriter(DeltaSink(Tables.at(text_root), "id"), JsonFormat("id"))
        plain.write(role, batch(*rows, topic=role), ids)
        writer(typed_root, columns).write(role, batch(*rows, topic=role), ids)
    names = {role: role for role in roles}
    as_text, as_typed = report.make(Tables.at(text_root), names), report.make(Tables.at(typed_root), names)
    assert as_typed.frame.equals(as_text.frame) and as_typed.frame.height == 2
    assert as_typed.problems == as_text.problems == []
