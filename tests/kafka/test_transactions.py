"""read_committed on Apache Kafka, which filters aborted transactions (the embedded broker does not):
only committed records land, reading moves past aborted records and transaction markers, and a
one-off run stops at a transaction still open."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from deltalake import DeltaTable

import subscriber
from deltastream.kafka.apache import ApacheKafka

from ..conftest import Project, start_script
from ..subscribe.test_producers import create, record, send, table, transaction_begun


def values(project: Project) -> dict[str, str]:
    return {i: row["v"] for i, row in table(project).items()}


def test_only_committed_transactions_land_and_reading_moves_past_the_rest(
    project_factory: Callable[..., Project], kafka: ApacheKafka, capsys: pytest.CaptureFixture[str]
) -> None:
    project = project_factory("item")
    topic = create(project, partitions=1)
    client = transaction_begun(project)
    send(client, topic, [record(i, v="committed") for i in range(3)])  # offsets 0-2, marker 3
    client.commit_transaction(30)
    client.begin_transaction()
    send(client, topic, [record(i, v="aborted") for i in (1, 3, 4)])  # 4-6, marker 7
    assert client.flush(30) == 0  # on the broker, then aborted
    client.abort_transaction(30)
    client.begin_transaction()
    send(client, topic, [record(5, v="committed")])  # 8, marker 9
    client.commit_transaction(30)

    assert subscriber.main(project.args("--once")) == 0
    assert values(project) == {"0": "committed", "1": "committed", "2": "committed", "5": "committed"}
    assert "caught up: 4 records in 1 commit" in capsys.readouterr().err
    version = DeltaTable(str(project.delta / topic)).version()

    # Nothing is left to read: the aborted records and the markers are behind the reader.
    assert subscriber.main(project.args("--once")) == 0
    assert "caught up: 0 records" in capsys.readouterr().err
    assert DeltaTable(str(project.delta / topic)).version() == version

    client.begin_transaction()
    send(client, topic, [record(6, v="later")])  # 10, marker 11
    client.commit_transaction(30)
    assert subscriber.main(project.args("--once")) == 0
    assert "caught up: 1 record in 1 commit" in capsys.readouterr().err
    assert values(project)["6"] == "later"
    assert "aborted" not in values(project).values()


def test_once_stops_at_an_open_transaction_and_the_next_run_reads_on(
    project_factory: Callable[..., Project], kafka: ApacheKafka
) -> None:
    project = project_factory("item")
    topic = create(project, partitions=1)
    client = transaction_begun(project)
    send(client, topic, [record(i, v="first") for i in range(3)])
    client.commit_transaction(30)
    client.begin_transaction()
    send(client, topic, [record(i, v="open") for i in range(3, 6)])
    assert client.flush(30) == 0  # on the broker, not committed

    started = time.monotonic()
    run = start_script("subscriber.py", *project.args("--once"))
    _, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    assert time.monotonic() - started < 30  # it stopped at the open transaction, it did not wait
    assert "Traceback" not in err
    assert values(project) == {"0": "first", "1": "first", "2": "first"}

    client.commit_transaction(30)
    run = start_script("subscriber.py", *project.args("--once"))
    _, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    assert values(project) == {**{str(i): "first" for i in range(3)}, **{str(i): "open" for i in range(3, 6)}}
