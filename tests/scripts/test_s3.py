"""Delta tables on object storage: a real S3-compatible server (moto, in a subprocess)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import publisher
import query
import subscriber
from deltastream.subscribe import offsets
from deltastream.subscribe.formats.json import JsonFormat
from deltastream.subscribe.maintenance import Maintenance
from deltastream.subscribe.sink import DeltaSink
from deltastream.subscribe.writer import TopicWriter
from deltastream.tables import Tables
from deltastream.values import DEAD_LETTERS

from ..conftest import ROOT, Project, expected_csv, run_pipeline, start_script, wait_until, write_sample
from ..fakes import FakeMessage, numbered, record
from ..s3server import S3Server
from .test_reliability import produce

IDS = offsets.AppIds.of("g", {"t": "topic-id"})


@pytest.fixture
def s3_tables(s3: S3Server) -> Tables:
    return Tables.at(f"s3://{s3.bucket()}/lake", s3.storage_options)


def read(tables: Tables, name: str = "t") -> pl.DataFrame:
    table = tables.open(name)
    assert table is not None
    frame = tables.scan(table).collect()
    return frame.sort("id") if "id" in frame.columns else frame


def test_the_sink_writes_replays_and_maintains_tables_on_s3(s3_tables: Tables) -> None:
    sink = TopicWriter(
        DeltaSink(s3_tables, "id", maintenance=Maintenance(s3_tables, every=3, retention_hours=0)),
        JsonFormat("id"),
    )
    assert sink.write("t", numbered("t", range(1, 11), city="Lisbon"), IDS) is not None  # create
    assert (
        sink.write("t", numbered("t", range(11, 16), first_offset=10, city="Lisbon"), IDS) is not None
    )  # append
    batch = {
        0: [
            record("t", 0, 15, {"id": "3", "city": "Faro"}),
            record("t", 0, 16, None, key="4"),
            FakeMessage(17, b"oops"),
        ]
    }
    result = sink.write("t", batch, IDS)  # MERGE, a delete, a dead letter; then compaction
    assert result is not None and (result.operation, result.updated, result.deleted, result.dead) == (
        "merge",
        1,
        1,
        1,
    )
    assert sink.write("t", batch, IDS) is None  # replayed: skipped

    frame = read(s3_tables)
    assert frame.height == 14
    assert frame.filter(pl.col("id") == "3")["city"].to_list() == ["Faro"]
    table = s3_tables.open("t")
    assert table is not None
    assert table.transaction_version(IDS("t", 0)) == 17
    assert "OPTIMIZE" in [h["operation"] for h in table.history()]
    assert read(s3_tables, DEAD_LETTERS)["offset"].to_list() == [17]


# The pipeline on S3: the broker tests.


def on_s3(project: Project, s3: S3Server) -> Tables:
    """Point the project's tables at a new bucket of the local S3 server."""
    root = f"s3://{s3.bucket()}/lake"
    project.write(subscriber={"delta_path": root}, **{"subscriber.storage_options": s3.storage_options})
    return Tables.at(root, s3.storage_options)


def test_the_three_scripts_end_to_end_on_s3(
    report_project: Project, s3: S3Server, capsys: pytest.CaptureFixture[str]
) -> None:
    project = report_project
    tables = on_s3(project, s3)
    write_sample(project)
    run_pipeline(project)
    capsys.readouterr()
    assert query.main(project.args("--format", "csv")) == 0
    assert capsys.readouterr().out == expected_csv("Finance")

    # S3 keeps an object's time to the second, and delta-rs finds a commit by time from it: time
    # travel on object storage tells apart commits a second or more apart.
    time.sleep(1.1)
    between = datetime.now(UTC)
    wait_until(lambda: datetime.now(UTC) > between + timedelta(seconds=1.1), 3)
    project.csv("department", ["id", "department"], [["1", "FinTech"], ["2", "Research"]])
    run_pipeline(project)
    capsys.readouterr()
    assert query.main(project.args("--format", "csv")) == 0
    assert capsys.readouterr().out == expected_csv("FinTech")
    assert query.main(project.args("--format", "csv", "--as-of", between.isoformat())) == 0
    assert capsys.readouterr().out == expected_csv("Finance")
    assert query.main(project.args("--history", "--format", "csv")) == 0
    history = pl.read_csv(capsys.readouterr().out.encode())
    assert history.filter(pl.col("table") == project.topics["department"]).height == 2
    assert query.main(project.args("--dead-letters", "--format", "csv")) == 0
    assert tables.open(project.topics["sale"]) is not None
    assert not (project.root / "delta").exists()  # nothing was written locally


def test_sigkill_at_any_moment_loses_and_doubles_nothing_on_s3(
    project_factory: Callable[..., Project], s3: S3Server
) -> None:
    project = project_factory("item")
    project.write(subscriber={"max_batch_records": 200})
    tables = on_s3(project, s3)
    project.csv("item", ["id"], [["0"]])
    assert publisher.main(project.args()) == 0
    topic = project.topics["item"]
    ids, versions = 1000, 4
    rng = random.Random(11)
    messages = [
        (str(i).encode(), json.dumps({"id": str(i), "v": str(version)}).encode())
        for version in range(1, versions + 1)
        for i in rng.sample(range(1, ids + 1), ids)
    ]
    produce(project.bootstrap, topic, messages)

    def version() -> int:
        table = tables.open(topic)
        return -1 if table is None else table.version()

    kills_midway = 0
    for kill in range(1, 4):
        process = start_script("subscriber.py", *project.args(), quiet=True)
        target = 4 * kill
        wait_until(lambda: version() >= target, 90)  # noqa: B023  (called before the loop moves on)
        time.sleep(rng.uniform(0, 0.3))
        alive = process.poll() is None
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        done = read(tables, topic).filter(pl.col("v") == str(versions)).height
        kills_midway += alive and process.returncode == -signal.SIGKILL and done < ids
    assert kills_midway == 3
    assert subscriber.main(project.args("--once")) == 0

    frame = read(tables, topic)
    assert frame.height == ids + 1
    assert frame["id"].n_unique() == frame.height
    assert frame.filter(pl.col("id") != "0")["v"].unique().to_list() == [str(versions)]


def test_two_subscribers_in_one_group_share_the_work_on_s3(
    project_factory: Callable[..., Project], s3: S3Server, tmp_path: Path
) -> None:
    project = project_factory("item")
    project.write(publisher={"partitions": 6}, subscriber={"max_batch_records": 500})
    tables = on_s3(project, s3)
    logs = [tmp_path / f"subscriber-{n}.log" for n in range(2)]
    handles = [log.open("w") for log in logs]
    processes = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "subscriber.py"), *project.args()],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=handle,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        for handle in handles
    ]
    try:
        # Both members hold partitions before anything is sent (each says where it reads them).
        wait_until(lambda: all(": reading " in log.read_text() for log in logs), 60)
        rows = [[str(i), f"v{i}"] for i in range(3000)]
        project.csv("item", ["id", "v"], rows)
        assert publisher.main(project.args()) == 0
        topic = project.topics["item"]
        wait_until(lambda: tables.open(topic) is not None and read(tables, topic).height == 3000, 90)
        # A second version of every record, while both run.
        project.csv("item", ["id", "v"], [[str(i), f"w{i}"] for i in range(3000)])
        assert publisher.main(project.args()) == 0
        wait_until(lambda: read(tables, topic).filter(pl.col("v").str.starts_with("w")).height == 3000, 90)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(30) for process in processes]
        for handle in handles:
            handle.close()
    texts = [log.read_text() for log in logs]
    assert codes == [0, 0], texts
    assert all("Traceback" not in text for text in texts)
    # Both members wrote: the group spread the partitions over them.
    assert all(" -> version " in text for text in texts), texts
    frame = read(tables, topic)
    assert frame.height == frame["id"].n_unique() == 3000


# CSV files on S3: publisher.py reads raw_path = "s3://...", --follow included.


def raw_on_s3(project: Project, s3: S3Server) -> tuple[str, str]:
    """Point the project's raw_path at a new bucket; (bucket, prefix) of its files."""
    bucket = s3.bucket()
    project.write(
        publisher={"raw_path": f"s3://{bucket}/raw"}, **{"publisher.storage_options": s3.storage_options}
    )
    return bucket, "raw"


def put_csv(s3: S3Server, bucket: str, key: str, rows: list[str]) -> None:
    s3.client().put_object(Bucket=bucket, Key=key, Body="\n".join(rows).encode() + b"\n")  # type: ignore[attr-defined]


def test_the_publisher_reads_its_files_from_s3(
    project_factory: Callable[..., Project], s3: S3Server, capsys: pytest.CaptureFixture[str]
) -> None:
    project = project_factory("item", "other")
    item = project.topics["item"]
    bucket, prefix = raw_on_s3(project, s3)
    put_csv(s3, bucket, f"{prefix}/{item}.csv", ["id,v", "1,a", "2,b", "3,x,too many"])
    assert publisher.main(project.args()) == 1  # other's file is not there
    err = capsys.readouterr().err
    assert f"s3://{bucket}/{prefix}/{project.topics['other']}.csv: not found" in err
    assert f"s3/{bucket}/{prefix}/{item}.csv:4: expected 2 fields, got 3" in err  # the copy says where from
    assert subscriber.main(project.args("--once")) == 0
    table = pl.read_delta(str(project.delta / item)).sort("id")
    assert table.select("id", "v").rows() == [("1", "a"), ("2", "b")]
