"""publisher.py against the embedded broker: every row once, keyed by id, as JSON strings."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from kafka import KafkaConsumer

import publisher
from deltastream.broker import free_port

from .conftest import Project, read_topic

TRICKY = [
    ["1", "Zoë", "O'Brien", "likes, commas"],
    ["2", "Søren", "Weiß", 'says "hi"'],
    ["3", "José", "D'Angelo", "two\nlines"],
    ["4", "", "", ""],
    ["10", "李", "王", "ünïcödé"],
]


def test_every_row_of_a_tricky_csv_arrives_once_keyed_by_id(
    project_factory: Callable[..., Project], capsys: pytest.CaptureFixture[str]
) -> None:
    project = project_factory("person")
    header = ["id", "first_name", "last_name", "note"]
    path = project.csv("person", header, TRICKY, lineterminator="\r\n", encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")

    assert publisher.main(project.args("--batch-size", "2")) == 0

    messages = read_topic(project.bootstrap, project.topics["person"], len(TRICKY))
    received = sorted(((m.key.decode(), json.loads(m.value)) for m in messages), key=lambda kv: int(kv[0]))
    assert received == [(row[0], dict(zip(header, row, strict=True))) for row in TRICKY]
    summary = capsys.readouterr().out.splitlines()
    assert summary[0].split()[:5] == ["topic", "read", "sent", "rejected", "failed"]
    assert summary[1].split()[:5] == [project.topics["person"], "5", "5", "0", "0"]


def test_topics_are_created_with_the_configured_partitions_and_the_key_picks_one(
    project_factory: Callable[..., Project],
) -> None:
    project = project_factory("item")
    project.write(publisher={"partitions": 5})
    project.csv("item", ["id", "v"], [[str(i), "first"] for i in range(50)])
    assert publisher.main(project.args()) == 0
    project.csv("item", ["id", "v"], [[str(i), "second"] for i in range(50)])
    assert publisher.main(project.args()) == 0  # a second version of every record
    consumer = KafkaConsumer(bootstrap_servers=project.bootstrap)
    try:
        assert consumer.partitions_for_topic(project.topics["item"]) == set(range(5))
    finally:
        consumer.close()
    messages = read_topic(project.bootstrap, project.topics["item"], 100)
    assert len(messages) == 100
    by_key: dict[bytes, set[int]] = {}
    for m in messages:
        by_key.setdefault(m.key, set()).add(m.partition)
    # Both versions of every record are in one partition (the key decides it), so the subscriber
    # reads them in order; and the keys are spread over the partitions.
    assert len(by_key) == 50
    assert all(len(parts) == 1 for parts in by_key.values())
    assert len({p for parts in by_key.values() for p in parts}) > 1


def test_a_missing_csv_is_one_line_and_the_other_topics_are_still_sent(
    project_factory: Callable[..., Project], capsys: pytest.CaptureFixture[str]
) -> None:
    project = project_factory("present", "absent")
    project.csv("present", ["id", "v"], [["1", "a"], ["2", "b"]])

    assert publisher.main(project.args()) == 1

    captured = capsys.readouterr()
    missing = project.raw / f"{project.topics['absent']}.csv"
    assert f"{missing}: file not found" in captured.err
    assert len(read_topic(project.bootstrap, project.topics["present"], 2)) == 2


def test_bad_rows_are_reported_with_file_and_line_and_counted(
    project_factory: Callable[..., Project], capsys: pytest.CaptureFixture[str]
) -> None:
    project = project_factory("item")
    path = project.raw / f"{project.topics['item']}.csv"
    path.write_text("id,v\n1,a\n2\n,c\n3,d\n", encoding="utf-8")

    assert publisher.main(project.args()) == 1

    captured = capsys.readouterr()
    assert f"{path}:3: expected 2 fields, got 1" in captured.err
    assert f"{path}:4: empty 'id'" in captured.err
    assert captured.out.splitlines()[1].split()[:5] == [project.topics["item"], "4", "2", "2", "0"]
    keys = sorted(m.key for m in read_topic(project.bootstrap, project.topics["item"], 2))
    assert keys == [b"1", b"3"]


def test_an_unreachable_broker_fails_fast_naming_the_servers(
    project_factory: Callable[..., Project], capsys: pytest.CaptureFixture[str]
) -> None:
    project = project_factory("item")
    project.write(kafka={"connect_timeout_s": 2})
    project.csv("item", ["id"], [["1"]])
    servers = f"127.0.0.1:{free_port()}"
    started = time.monotonic()

    assert publisher.main(project.args("--bootstrap-servers", servers)) == 1

    assert time.monotonic() - started < 15
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"publisher.py: error: no Kafka broker reachable at {servers} after 2 s")


def test_a_bad_config_value_is_one_line_and_exit_2(
    project_factory: Callable[..., Project], capsys: pytest.CaptureFixture[str]
) -> None:
    project = project_factory("item")
    project.write(publisher={"batch_size": 0})

    assert publisher.main(project.args()) == 2

    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"publisher.py: error: {project.config_path}: [publisher] batch_size: "
        "expected an integer between 1 and 10000000, got 0"
    ]


def test_one_log_line_per_batch(
    project_factory: Callable[..., Project], capsys: pytest.CaptureFixture[str]
) -> None:
    project = project_factory("item")
    project.csv("item", ["id"], [[str(i)] for i in range(25)])
    assert publisher.main(project.args("--batch-size", "10")) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if ": batch " in line]
    assert len(lines) == 3
    assert "batch 3: 5 rows sent" in lines[2]
