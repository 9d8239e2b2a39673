"""Two subscribers in one consumer group on Apache Kafka's own group coordinator: they share the
partitions, one is killed, the other takes its partitions over, and the table ends exact."""

from __future__ import annotations

import signal
from pathlib import Path

import polars as pl
from deltalake.exceptions import TableNotFoundError

from deltastream.kafka.apache import ApacheKafka

from ..conftest import Project, wait_until
from ..scripts.test_broker_restart import FRESH_S, Running, publish


def rows(project: Project) -> list[tuple[str, str]]:
    try:
        frame = pl.read_delta(str(project.delta / project.topics["item"]))
    except (TableNotFoundError, OSError):  # not written yet
        return []
    return sorted((str(i), str(v)) for i, v in frame.select("id", "v").rows())


def test_two_subscribers_share_the_partitions_and_one_is_killed(kafka: ApacheKafka, tmp_path: Path) -> None:
    project = Project(tmp_path / "p", kafka.bootstrap_servers, ("item",))
    project.write(publisher={"partitions": 4})
    project.csv("item", ["id", "v"], [[str(i), "first"] for i in range(2000)])
    publish(project, "item")
    first = Running(project, tmp_path / "first.log")
    second = Running(project, tmp_path / "second.log")
    try:
        # Each holds some of the partitions once the group has settled.
        wait_until(lambda: "reading p" in first.log and "reading p" in second.log, 60)
        wait_until(lambda: dict(rows(project)) == {str(i): "first" for i in range(2000)}, FRESH_S)

        second.process.send_signal(signal.SIGKILL)
        second.process.wait(10)
        project.csv("item", ["id", "v"], [[str(i), "second"] for i in range(0, 2400, 2)])
        publish(project, "item")
        # The survivor takes over the killed member's partitions once its session expires.
        want = {str(i): "first" for i in range(2000)} | {str(i): "second" for i in range(0, 2400, 2)}
        wait_until(lambda: dict(rows(project)) == want, 60)
        assert len(rows(project)) == len(want)  # every id once
        assert "Traceback" not in first.log
        assert first.stop() == 0, first.log
    finally:
        for running in (first, second):
            if running.process.poll() is None:
                running.process.kill()
                running.process.wait(10)
            running.handle.close()
