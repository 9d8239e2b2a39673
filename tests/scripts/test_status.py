"""subscriber.py --status: per partition, the broker's end offset, the offset Delta reads on from,
the lag, and the table's version and last commit, on a real broker; it reads and writes nothing."""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import polars as pl
import pytest

import publisher
import subscriber
from deltastream.subscribe.status import FETCH_S

from ..conftest import Project
from ..subscribe.test_producers import create, record, send, transaction_begun


def status(project: Project, capsys: pytest.CaptureFixture[str]) -> pl.DataFrame:
    capsys.readouterr()
    assert subscriber.main(project.args("--status", "--format", "csv")) == 0
    return pl.read_csv(io.StringIO(capsys.readouterr().out)).filter(pl.col("topic") == project.topics["item"])


def test_status_shows_where_delta_is_against_the_broker(
    project_factory: Callable[..., Project], capsys: pytest.CaptureFixture[str]
) -> None:
    project = project_factory("item")
    project.csv("item", ["id", "v"], [[str(i), "x"] for i in range(10)])
    assert publisher.main(project.args()) == 0
    before = status(project, capsys)
    assert before["partition"].to_list() == [0, 1, 2]
    assert (
        before["end_offset"].sum() == 10 and before["delta_offset"].sum() == 0 and before["lag"].sum() == 10
    )
    assert before["table_version"].null_count() == 3  # no table yet

    assert subscriber.main(project.args("--once")) == 0
    project.csv("item", ["id", "v"], [[str(i), "y"] for i in range(10, 15)])
    assert publisher.main(project.args()) == 0
    after = status(project, capsys)
    assert after["end_offset"].sum() == 15 and after["delta_offset"].sum() == 10 and after["lag"].sum() == 5
    assert after["table_version"].to_list() == [0, 0, 0] and after["last_commit"].null_count() == 0
    assert (after["end_offset"] - after["delta_offset"] == after["lag"]).all()

    capsys.readouterr()
    assert subscriber.main(project.args("--status")) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"group {project.group}: 5 records behind"
    assert not (project.delta / "_dead_letters").exists()  # it wrote nothing


def test_status_does_not_go_with_once(
    project_factory: Callable[..., Project], capsys: pytest.CaptureFixture[str]
) -> None:
    project = project_factory("item")
    with pytest.raises(SystemExit) as info:
        subscriber.main(project.args("--status", "--once"))
    assert info.value.code == 2
    assert "--status does not go with --once: it reads nothing" in capsys.readouterr().err


def test_a_partition_that_ends_with_a_transaction_marker_is_not_waited_for(
    project_factory: Callable[..., Project], capsys: pytest.CaptureFixture[str]
) -> None:
    """The last offset of a transactional producer's partition is its commit marker, which no
    fetch brings as a record: the watermark says the end, and --status does not wait for more."""
    project = project_factory("item")
    topic = create(project)
    transactional = transaction_begun(project)
    send(transactional, topic, [record(i, v="committed") for i in range(5)])
    transactional.commit_transaction(30)
    started = time.monotonic()
    found = status(project, capsys)
    assert found["end_offset"].to_list() == [6]  # 5 records and the marker
    assert time.monotonic() - started < FETCH_S  # answered by the watermark, not the deadline
