"""publisher.py --follow: new and changed rows sent whenever a file is saved (or uploaded again
where raw_path is on S3), remembered across restarts beside the files; with the subscriber, a
saved edit reaches the table without re-running anything."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from kafka import KafkaAdminClient

import publisher
import subscriber
from deltastream.kafka.embedded import EmbeddedBroker, free_port

from ..conftest import Project, Running, wait_until
from ..s3server import S3Server


def following(project: Project) -> Running:
    return Running("publisher.py", *project.args("--follow"))


class Raw:
    """Where the project's CSV files are saved: its data folder, or a prefix on S3."""

    def __init__(self, project: Project, s3: S3Server | None) -> None:
        self.project, self.s3 = project, s3
        self.where = str(project.raw)
        if s3 is not None:
            self.bucket = s3.bucket()
            self.where = f"s3://{self.bucket}/raw"
            project.write(
                publisher={"raw_path": self.where}, **{"publisher.storage_options": s3.storage_options}
            )

    def save(self, role: str, lines: list[str]) -> None:
        name = f"{self.project.topics[role]}.csv"
        body = "\n".join(lines).encode() + b"\n"
        if self.s3 is None:
            (self.project.raw / name).write_bytes(body)
        else:
            self.s3.client().put_object(Bucket=self.bucket, Key=f"raw/{name}", Body=body)  # type: ignore[attr-defined]

    def remembered(self, role: str) -> bool:
        """Whether what was sent is kept beside the files."""
        name = f".deltastream-follow/{self.project.topics[role]}.json"
        if self.s3 is None:
            return (self.project.raw / name).is_file()
        return f"raw/{name}" in self.s3.keys(self.bucket, "raw")


@pytest.mark.parametrize("on", ["folder", "s3"])
def test_saved_edits_are_sent_and_remembered(
    project_factory: Callable[..., Project], request: pytest.FixtureRequest, on: str
) -> None:
    project = project_factory("item")
    item = project.topics["item"]
    raw = Raw(project, request.getfixturevalue("s3") if on == "s3" else None)
    raw.save("item", ["id,v", "1,a", "2,b", "3,c"])
    first = following(project)
    try:
        wait_until(lambda: first.said(f"{item}: 3 new or changed rows sent"), 30)
        wait_until(lambda: first.said(f"following 1 file in {raw.where}"), 10)
        raw.save("item", ["id,v", "1,a", "2,B", "3,c", "4,d"])  # saved, or uploaded again
        wait_until(lambda: first.said(f"{item}: 2 new or changed rows sent (5 so far)"), 30)
    finally:
        code = first.stop()
    assert code == 0 and f"{item}: 5 rows sent while following\n" in first.out
    assert raw.remembered("item")

    again = following(project)  # a restart sends what changed meanwhile: nothing
    try:
        wait_until(lambda: again.said(f"{item}: nothing new in {raw.where}/{item}.csv"), 30)
    finally:
        code = again.stop()
    assert code == 0 and not again.said("new or changed rows sent")

    assert subscriber.main(project.args("--once")) == 0
    table = pl.read_delta(str(project.delta / item)).sort("id")
    assert table.select("id", "v").rows() == [("1", "a"), ("2", "B"), ("3", "c"), ("4", "d")]


def test_a_file_being_written_is_read_once_it_is_whole(project_factory: Callable[..., Project]) -> None:
    project = project_factory("item")
    item = project.topics["item"]
    path = project.csv("item", ["id", "v"], [["1", "a"]])
    running = following(project)
    try:
        wait_until(lambda: running.said("following 1 file in "), 30)
        with path.open("a", encoding="utf-8") as handle:  # a writer in the middle of a long save
            handle.write("2,b\n3,")
            handle.flush()
            wait_until(lambda: running.said("its last line is not ended yet; waiting for the rest"), 30)
            handle.write("c\n")
        wait_until(lambda: running.said(f"{item}: 2 new or changed rows sent (3 so far)"), 30)
    finally:
        code = running.stop()
    assert code == 0 and not running.said("(4 so far)")  # "3," alone was never sent


def test_follow_takes_no_rate_or_batch_size(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        publisher.main(["--follow", "--rate", "5"])
    assert info.value.code == 2
    assert "--follow sends each saved file's changes at once: --rate and --batch-size do not apply" in (
        capsys.readouterr().err
    )


def test_a_broker_started_again_gets_every_row(tmp_path: Path) -> None:
    """The embedded broker stopped and started again holds no topic: --follow, left running,
    creates them again with the configured partitions and sends every row again."""
    port = free_port()
    project = Project(tmp_path / "p", f"127.0.0.1:{port}", ("item",))
    item = project.topics["item"]
    project.csv("item", ["id", "v"], [["1", "a"], ["2", "b"], ["3", "c"]])
    running: Running | None = None
    try:
        with EmbeddedBroker(port=port):
            running = following(project)
            wait_until(
                lambda: running is not None and running.said(f"{item}: 3 new or changed rows sent"), 60
            )
        with EmbeddedBroker(port=port):
            wait_until(lambda: running is not None and running.said("every row is sent again"), 60)
            wait_until(
                lambda: running is not None and running.said("3 new or changed rows sent (6 so far)"), 60
            )
            admin = KafkaAdminClient(bootstrap_servers=project.bootstrap)
            try:
                partitions = admin.describe_topics([item])[0]["partitions"]
            finally:
                admin.close()
            assert len(partitions) == project.config.publisher.partitions
            assert subscriber.main(project.args("--once")) == 0
    finally:
        if running is not None:
            running.stop()
    table = pl.read_delta(str(project.delta / item)).sort("id")
    assert table.select("id", "v").rows() == [("1", "a"), ("2", "b"), ("3", "c")]
