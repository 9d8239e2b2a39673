"""Declared columns in config.toml: what is accepted, and one line for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltastream import config
from deltastream.errors import ConfigError
from deltastream.schema import parse_type

from ..conftest import ROOT

BASE = """[general]
bootstrap_servers = "localhost:9092"
topics = ["sale"]
[publisher]
raw_path = "data"
[subscriber]
delta_path = "delta"
"""


def load(tmp_path: Path, extra: str) -> config.Config:
    path = tmp_path / "config.toml"
    path.write_text(BASE + extra, encoding="utf-8")
    return config.load(path)


def error(tmp_path: Path, extra: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, extra)
    assert info.value.exit_code == 2
    return str(info.value).removeprefix(f"{tmp_path / 'config.toml'}: ")


def test_the_shipped_config_declares_the_four_sample_topics() -> None:
    cfg = config.load(ROOT / "config.toml")
    declared = {
        topic: {name: str(t) for name, t in cfg.schema(topic).columns.items()} for topic in cfg.topics
    }
    assert declared["sale"] == {
        "id": "int64",
        "employee_id": "int64",
        "client_id": "int64",
        "date": "date(%d/%m/%Y)",
        "region": "string",
        "sale": "decimal(12,2)",
    }
    assert all(declared[t]["id"] == "int64" for t in cfg.topics)


def test_a_topic_without_columns_keeps_every_value_as_text(tmp_path: Path) -> None:
    assert not load(tmp_path, "").schema("sale").declared


def test_columns_and_the_undeclared_fields_setting_are_read(tmp_path: Path) -> None:
    cfg = load(
        tmp_path, '[topic.sale]\nundeclared_fields = "dead_letter"\n[topic.sale.columns]\nid = "string"\n'
    )
    assert cfg.schema("sale").undeclared_fields == "dead_letter"
    assert str(cfg.schema("sale").columns["id"]) == "string"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '[topic.sale.columns]\nid = "int64"\nwhen = "datetime"\n',
            "[topic.sale.columns] when: expected a type: string, bool, int32, int64, float64, decimal(p,s), "
            "date, date(FORMAT), timestamp, timestamp(FORMAT), got 'datetime'",
        ),
        (
            '[topic.sale.columns]\nid = "int64"\nday = "date(%d/%m)"\n',
            "[topic.sale.columns] day: expected a date format with the year, month and day ('%d/%m' "
            "lacks some), "
            "got 'date(%d/%m)'",
        ),
        (
            '[topic.sale.columns]\nid = "int64"\nat = "timestamp(%Y-%m-%d %I:%M)"\n',
            "[topic.sale.columns] at: expected a timestamp format with %p beside %I: a 12-hour clock "
            "needs AM/PM ('%Y-%m-%d %I:%M'), got 'timestamp(%Y-%m-%d %I:%M)'",
        ),
        (
            '[topic.sale.columns]\nid = "int64"\nat = "timestamp(%Y-%m-%d %H:%M %Z)"\n',
            "[topic.sale.columns] at: expected a timestamp format with %z for a zone: %Z names are "
            "not read ('%Y-%m-%d %H:%M %Z'), got 'timestamp(%Y-%m-%d %H:%M %Z)'",
        ),
        (
            '[topic.sale.columns]\nid = "int64"\nday = "date(%d/%Q/%Y)"\n',
            "[topic.sale.columns] day: expected a date format of strftime directives (%Q is not "
            "one), got 'date(%d/%Q/%Y)'",
        ),
        (
            '[topic.sale.columns]\nid = "int64"\nsale = "decimal(40,2)"\n',
            "[topic.sale.columns] sale: expected decimal(p,s) with 1 <= p <= 38 and s <= p, got "
            "'decimal(40,2)'",
        ),
        (
            '[topic.sale.columns]\nsale = "decimal(12,2)"\n',
            "[topic.sale.columns]: expected the id column 'id' among the declared columns",
        ),
        (
            '[topic.sale.columns]\nid = "float64"\n',
            "[topic.sale.columns] id: expected an id type that can name a row: string, an integer, a "
            "decimal, a date or a timestamp",
        ),
        (
            "[topic.sale.columns]\nid = 5\n",
            "[topic.sale.columns] id: expected a type: string, bool, int32, int64, float64, "
            "decimal(p,s), date, date(FORMAT), timestamp, timestamp(FORMAT), got 5",
        ),
        (
            '[topic.sale.columns]\nid = "int64"\nName = "string"\nname = "string"\n',
            "[topic.sale.columns] name: expected a name other than 'Name' in another case (Delta "
            "ignores case)",
        ),
        (
            '[topic.sale]\nundeclared_fields = "keep"\n',
            "[topic.sale] undeclared_fields: expected one of evolve, discard, dead_letter, got 'keep'",
        ),
        (
            "[topic.sale]\ncolumn = {}\n",
            "[topic.sale] column: expected one of: columns, undeclared_fields, format, "
            "sequence_by, tombstone_retention_hours",
        ),
        (
            '[topic.sale]\nformat = "xml"\n',
            "[topic.sale] format: expected one of json, avro, debezium, got 'xml'",
        ),
        (
            '[topic.sale]\nsequence_by = "source.lsn"\n',
            '[topic.sale] sequence_by: expected no value unless format = "debezium"',
        ),
        (
            '[topic.sale]\nformat = "debezium"\nsequence_by = "source..lsn"\n',
            "[topic.sale] sequence_by: expected a field of the event, dotted (source.lsn, ts_ms), "
            "got 'source..lsn'",
        ),
        (
            '[topic.sale]\nformat = "debezium"\ntombstone_retention_hours = 0\n',
            "[topic.sale] tombstone_retention_hours: expected a number of hours above 0, up to 100000, got 0",
        ),
        (
            '[topic.sale]\nformat = "avro"\nundeclared_fields = "discard"\n',
            "[topic.sale] undeclared_fields: expected no value with format avro: every field of its "
            "schema is a column",
        ),
        (
            '[topic."no spaces"]\n',
            "[topic.no spaces]: expected Kafka topic names: letters, digits, '.', '_' and '-', at "
            "most 249 characters, not '.' or '..'",
        ),
    ],
)
def test_a_bad_declaration_is_one_line_at_start(tmp_path: Path, extra: str, message: str) -> None:
    assert error(tmp_path, extra) == message


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("INT64", "int64"),
        ("decimal( 12 , 2 )", "decimal(12,2)"),
        ("timestamp(%Y%m%d%H%M%S)", "timestamp(%Y%m%d%H%M%S)"),
    ],
)
def test_types_are_read_as_written(text: str, shown: str) -> None:
    assert str(parse_type(text)) == shown
