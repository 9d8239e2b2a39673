"""subscriber.py against the embedded broker and real Delta tables: exactly once, upsert by id."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable

import polars as pl
import pytest
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

import publisher
import subscriber
from deltastream.kafka import clients
from deltastream.subscribe import offsets, positions
from deltastream.values import DEAD_LETTERS

from ..conftest import Project, assigned, read_topic, running_subscriber, start_script, wait_until

HEADER = ["id", "name", "city"]


def rows(n: int, start: int = 1, city: str = "Lisbon") -> list[list[str]]:
    return [[str(i), f"name {i}", city] for i in range(start, start + n)]


def height(project: Project, role: str = "item") -> int:
    """Rows in the table now, 0 while it is not there (or not committed) yet."""
    try:
        return table(project, role).height
    except (TableNotFoundError, FileNotFoundError):
        return 0


def table(project: Project, role: str = "item") -> pl.DataFrame:
    frame = pl.read_delta(str(project.delta / project.topics[role]))
    return frame.with_columns(pl.col("id").cast(pl.Int64)).sort("id")


def version(project: Project, role: str = "item") -> int:
    return DeltaTable(str(project.delta / project.topics[role])).version()


def publish(project: Project, data: list[list[str]], role: str = "item") -> None:
    project.csv(role, HEADER, data)
    assert publisher.main(project.args("--topics", project.topics[role])) == 0


def once(project: Project) -> None:
    assert subscriber.main(project.args("--once")) == 0


def once_in_a_process(project: Project, timeout_s: float = 60) -> int | None:
    """``subscriber.py --once`` run as a user runs it, given ``timeout_s`` to end; its exit code."""
    process = start_script("subscriber.py", *project.args("--once"), quiet=True)
    try:
        wait_until(lambda: process.poll() is not None, timeout=timeout_s)
    finally:
        process.kill()
    return process.returncode


def app_ids(project: Project) -> offsets.AppIds:
    cfg = project.config
    admin = clients.admin(cfg, patience_s=10)
    try:
        states = admin.describe(cfg.topics)
        return offsets.AppIds.of(project.group, {t: s.topic_id for t, s in states.items() if s.topic_id})
    finally:
        admin.close()


def expected(data: list[list[str]]) -> list[dict[str, object]]:
    latest = {int(r[0]): r for r in data}
    return [{"id": i, "name": latest[i][1], "city": latest[i][2]} for i in sorted(latest)]


def test_first_load_stores_rows_and_offsets_in_one_commit(
    project_factory: Callable[..., Project],
) -> None:
    project = project_factory("item")
    data = rows(40)
    publish(project, data)

    once(project)

    assert table(project).to_dicts() == expected(data)
    assert version(project) == 0
    topic = project.topics["item"]
    ids = app_ids(project)
    messages = read_topic(project.bootstrap, topic, len(data))
    last = offsets.last_offsets(offsets.group(messages))
    dt = DeltaTable(str(project.delta / topic))
    assert {p: dt.transaction_version(ids(topic, p)) for p in last} == last
    # The Kafka group offsets follow Delta, for lag tools.
    consumer = KafkaConsumer(bootstrap_servers=project.bootstrap, group_id=project.group)
    try:
        assert {p: consumer.committed(TopicPartition(topic, p)) for p in last} == {
            p: o + 1 for p, o in last.items()
        }
    finally:
        consumer.close()


def test_update_then_a_rerun_with_nothing_new_adds_no_version(
    project_factory: Callable[..., Project],
) -> None:
    project = project_factory("item")
    first = rows(30)
    publish(project, first)
    once(project)
    assert version(project) == 0

    changed = rows(10, start=21, city="Porto")  # 21..30 change, 31..30+ are new
    publish(project, changed)
    once(project)

    assert table(project).to_dicts() == expected(first + changed)
    assert version(project) == 1
    history = DeltaTable(str(project.delta / project.topics["item"])).history(1)[0]
    assert history["operation"] == "MERGE"
    assert history["operationMetrics"]["num_target_rows_updated"] == 10

    once(project)
    assert version(project) == 1


def test_a_one_off_run_writes_its_last_batch_without_waiting_for_the_latency_budget(
    project_factory: Callable[..., Project],
) -> None:
    project = project_factory("item")
    project.write(subscriber={"max_batch_latency_ms": 600_000})  # a trickle would wait ten minutes
    publish(project, rows(5))
    assert once_in_a_process(project) == 0
    assert table(project).to_dicts() == expected(rows(5))


def test_a_one_off_run_reading_uncommitted_ends_beside_empty_partitions(
    project_factory: Callable[..., Project],
) -> None:
    """One record, three partitions: two have nothing to read, and the run still ends once caught
    up (read_uncommitted has no quiet fallback)."""
    project = project_factory("item")
    project.write(kafka={"isolation_level": "read_uncommitted"})
    publish(project, rows(1))
    assert once_in_a_process(project) == 0
    assert table(project).to_dicts() == expected(rows(1))


def test_partitions_are_drained_only_once_read_to_the_high_watermark_of_their_fetch(
    project_factory: Callable[..., Project],
) -> None:
    project = project_factory("item")
    publish(project, rows(6))
    topic = project.topics["item"]
    consumer = KafkaConsumer(bootstrap_servers=project.bootstrap, enable_auto_commit=False)
    read = 0

    def poll_one() -> int:
        nonlocal read
        read += sum(len(batch) for batch in consumer.poll(timeout_ms=100, max_records=1).values())
        return read

    try:
        consumer.assign([TopicPartition(topic, p) for p in range(3)])
        consumer.seek_to_beginning()
        assert not positions.drained(consumer)  # nothing fetched: the ends are not known yet
        wait_until(poll_one)
        assert not positions.drained(consumer)  # one record of six returned
        wait_until(lambda: poll_one() and positions.drained(consumer))
        assert read == 6
    finally:
        consumer.close()


def test_a_restart_resumes_where_it_left_off(project_factory: Callable[..., Project]) -> None:
    project = project_factory("item")
    publish(project, rows(25))
    once(project)
    publish(project, rows(25, start=26))
    once(project)

    assert table(project).height == 50
    history = DeltaTable(str(project.delta / project.topics["item"])).history(1)[0]
    # The second run read only what was published after the first one; all new ids: appended.
    assert history["operation"] == "WRITE"
    assert history["operationMetrics"]["num_added_rows"] == 25


def test_subscriber_started_first_sees_everything_published_later(
    project_factory: Callable[..., Project],
) -> None:
    project = project_factory("item")
    with running_subscriber(project.config) as worker:
        wait_until(lambda: assigned(worker), 30)
        data = rows(120)
        publish(project, data)
        wait_until(lambda: height(project) == 120, 30)
        assert table(project).to_dicts() == expected(data)


def test_tombstones_delete_and_dead_letters_are_kept_once(
    project_factory: Callable[..., Project],
) -> None:
    project = project_factory("item")
    publish(project, rows(5))
    topic = project.topics["item"]
    producer = KafkaProducer(bootstrap_servers=project.bootstrap)
    producer.send(topic, key=b"2", value=None)
    producer.send(topic, key=b"bad", value=b"{not json")
    producer.send(topic, key=b"6", value=json.dumps({"id": "6", "name": "new", "city": "x"}).encode())
    producer.flush()
    producer.close()

    once(project)
    once(project)

    assert table(project)["id"].to_list() == [1, 3, 4, 5, 6]
    dead = pl.read_delta(str(project.delta / DEAD_LETTERS))
    assert dead.select("topic", "key", "value").rows() == [(topic, "bad", "{not json")]
    assert dead["error"][0].startswith("value is not JSON")


def test_sigterm_stops_cleanly_with_exit_0(project_factory: Callable[..., Project]) -> None:
    project = project_factory("item")
    publish(project, rows(10))
    process = start_script("subscriber.py", *project.args())
    try:
        wait_until(
            lambda: height(project) == 10,
            30,
        )
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "SIGTERM: finishing the current batch, then stopping" in err


def test_a_topic_created_anew_is_read_from_its_start(
    project_factory: Callable[..., Project],
) -> None:
    project = project_factory("item")
    publish(project, rows(30))
    once(project)
    topic = project.topics["item"]
    admin = KafkaAdminClient(bootstrap_servers=project.bootstrap)
    try:
        admin.delete_topics([topic])
        wait_until(lambda: topic not in admin.list_topics(), 10)
    finally:
        admin.close()

    publish(project, rows(3, city="Braga"))  # offsets 0.. again, below what Delta remembers
    once(project)

    assert table(project).filter(pl.col("city") == "Braga")["id"].to_list() == [1, 2, 3]


@pytest.mark.parametrize("flag", ["--help"])
def test_help(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        subscriber.main([flag])
    assert info.value.code == 0
    assert "--once" in capsys.readouterr().out


def test_a_topic_created_anew_while_running_is_read_by_its_new_id(
    project_factory: Callable[..., Project], broker_kind: str
) -> None:
    project = project_factory("item")
    if project.client == "confluent-kafka" and broker_kind == "embedded":
        pytest.skip(
            "librdkafka 2.16.0 crashes (SIGSEGV in rd_kafka_metadata_update_op) on the embedded "
            "broker's fetch answer for a deleted topic; Apache Kafka's run tests it"
        )
    publish(project, rows(20))
    topic = project.topics["item"]
    with running_subscriber(project.config):
        wait_until(lambda: height(project) == 20, 30)
        admin = KafkaAdminClient(bootstrap_servers=project.bootstrap)
        try:
            admin.delete_topics([topic])
            wait_until(lambda: topic not in admin.list_topics(), 10)
            # Created again with more partitions (this fails if the running consumer brought it
            # back with the broker's defaults meanwhile): the group rebalances onto all of them.
            admin.create_topics([NewTopic(topic, 5, 1)])
        finally:
            admin.close()
        publish(project, rows(12, city="Braga"))  # offsets from 0 again, on a new topic id
        wait_until(lambda: table(project).filter(pl.col("city") == "Braga").height == 12, 45)
    assert table(project).height == 20
