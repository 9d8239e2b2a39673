"""Crashes, poison messages, schema drift, broker and storage faults, concurrent writers."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

import publisher
import subscriber
from deltastream import config
from deltastream.kafka.embedded import EmbeddedBroker
from deltastream.values import DEAD_LETTERS

from ..conftest import ROOT, Project, running_subscriber, start_script, wait_until


def produce(bootstrap: str, topic: str, messages: Sequence[tuple[bytes | None, bytes | None]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=512 * 1024)
    try:
        for key, value in messages:
            producer.send(topic, key=key, value=value)
        producer.flush()
    finally:
        producer.close()


def create_topic(project: Project, role: str = "item") -> str:
    """Let the publisher create the topic (3 partitions) from a one-row CSV, then return its name."""
    project.csv(role, ["id"], [["0"]])
    assert publisher.main(project.args("--topics", project.topics[role])) == 0
    return project.topics[role]


def table(project: Project, role: str = "item") -> pl.DataFrame:
    return pl.read_delta(str(project.delta / project.topics[role]))


def committed_at_least(path: Path, version: int) -> bool:
    """Whether the table at ``path`` has reached ``version``. Its log folder exists before its first
    commit is written: until then it is no table yet, not a table that cannot be read."""
    if not DeltaTable.is_deltatable(str(path)):
        return False
    return DeltaTable(str(path)).version() >= version


def test_sigkill_at_any_moment_loses_and_doubles_nothing(project_factory: Callable[..., Project]) -> None:
    project = project_factory("item")
    project.write(subscriber={"max_batch_records": 300})
    topic = create_topic(project)
    ids, versions = 3000, 6
    rng = random.Random(7)
    messages = []
    for version in range(1, versions + 1):
        for i in rng.sample(range(1, ids + 1), ids):
            messages.append((str(i).encode(), json.dumps({"id": str(i), "v": str(version)}).encode()))
    produce(project.bootstrap, topic, messages)
    path = project.delta / topic

    def done() -> int:
        """Ids already at their last version."""
        try:
            return pl.read_delta(str(path)).filter(pl.col("v") == str(versions)).height
        except (TableNotFoundError, OSError):
            return 0

    kills_midway = 0
    for kill in range(1, 6):
        process = start_script("subscriber.py", *project.args(), quiet=True)
        # Each run is killed once it has committed more of the ingest, plus a random moment, so
        # the kills land anywhere: mid-poll, mid-MERGE, between the Delta commit and the Kafka ack.
        wait_until(partial(committed_at_least, path, 8 * kill), 60)
        time.sleep(rng.uniform(0, 0.2))
        alive = process.poll() is None
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        kills_midway += alive and process.returncode == -signal.SIGKILL and done() < ids
    assert kills_midway == 5  # every kill hit a live subscriber with the ingest unfinished
    assert subscriber.main(project.args("--once")) == 0

    frame = table(project)
    assert frame.height == ids + 1  # plus the row "0" that created the topic
    assert frame["id"].n_unique() == frame.height
    assert frame.filter(pl.col("id") != "0")["v"].unique().to_list() == [str(versions)]


POISON: list[tuple[str, bytes | None, bytes | None, str]] = [
    ("not UTF-8", b"k1", b"\xff\xfe\xfd", "value is not UTF-8"),
    ("truncated JSON", b"k2", b'{"id": "1"', "value is not JSON"),
    ("plain text", b"k3", b"hello", "value is not JSON"),
    ("empty value", b"k4", b"", "value is not JSON"),
    ("JSON list", b"k5", b"[1, 2]", "value is a JSON array, expected an object"),
    ("JSON string", b"k6", b'"text"', "value is a JSON string, expected an object"),
    ("JSON number", b"k7", b"42", "value is a JSON number, expected an object"),
    ("JSON null", b"k8", b"null", "value is a JSON null, expected an object"),
    ("no id", b"k9", b'{"name": "x"}', "no 'id' field"),
    ("null id", b"k10", b'{"id": null}', "'id' is a JSON null; expected a string or a number"),
    ("empty id", b"k11", b'{"id": "  "}', "'id' is empty"),
    (
        "bad column name",
        b"k12",
        b'{"id": "5", "a,b": "x"}',
        "field name 'a,b' has a character Delta column names cannot hold",
    ),
    (
        "reserved column name",
        b"k13",
        b'{"id": "5", "__deleted": "x"}',
        "field name '__deleted' starts with '__'",
    ),
    ("key is not the id", b"k14", b'{"id": "5"}', "key 'k14' and id '5' disagree: the key must be the id"),
    ("tombstone with an empty key", b"", None, "tombstone without a key"),
    ("tombstone with a non-UTF-8 key", b"\xff", None, "tombstone key is not UTF-8"),
]


def test_poison_messages_go_to_dead_letters_once_and_good_ones_land(
    project_factory: Callable[..., Project], capsys: pytest.CaptureFixture[str]
) -> None:
    project = project_factory("item")
    topic = create_topic(project)
    good = [(b"1", b'{"id": "1", "name": "a"}'), (b"2", b'{"id": "2", "name": "b"}')]
    produce(project.bootstrap, topic, [*good[:1], *((k, v) for _, k, v, _ in POISON), *good[1:]])

    assert subscriber.main(project.args("--once")) == 0
    assert subscriber.main(project.args("--once")) == 0  # nothing is written twice

    assert sorted(table(project)["id"].to_list()) == ["0", "1", "2"]
    dead = pl.read_delta(str(project.delta / DEAD_LETTERS))
    assert dead.height == len(POISON)
    assert dead.select("partition", "offset").n_unique() == len(POISON)
    by_key = {row["key"]: row for row in dead.iter_rows(named=True)}
    for kind, key, _, error in POISON:
        row = by_key["/w==" if key == b"\xff" else (key or b"").decode()]
        assert row["topic"] == topic, kind
        assert row["error"].startswith(error), (kind, row["error"])
    binary = dead.filter(pl.col("key") == "k1").row(0, named=True)
    assert (binary["value_encoding"], binary["value"]) == ("base64", "//79")

    capsys.readouterr()
    assert subprocess.run(
        [sys.executable, "query.py", *project.args("--dead-letters", "--format", "csv")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.count(topic) == len(POISON)


def test_a_commit_that_fails_stops_with_a_clear_error_and_acks_nothing(
    project_factory: Callable[..., Project], capsys: pytest.CaptureFixture[str]
) -> None:
    project = project_factory("item")
    topic = create_topic(project)
    assert subscriber.main(project.args("--once")) == 0
    produce(project.bootstrap, topic, [(b"7", b'{"id": "7"}')])
    log_dir = project.delta / topic / "_delta_log"
    backup = log_dir.with_name("_delta_log.bak")
    log_dir.rename(backup)
    log_dir.write_text("not a directory")  # the next commit cannot be written
    consumer = KafkaConsumer(bootstrap_servers=project.bootstrap, group_id=project.group)
    before = {p: consumer.committed(TopicPartition(topic, p)) for p in range(3)}
    capsys.readouterr()

    assert subscriber.main(project.args("--once")) == 1

    last = capsys.readouterr().err.rstrip("\n").splitlines()[-1]
    assert last.startswith(f"subscriber.py: error: Delta table {project.delta / topic}: ")
    assert "Not a directory" in last
    assert {p: consumer.committed(TopicPartition(topic, p)) for p in range(3)} == before
    consumer.close()

    log_dir.unlink()
    backup.rename(log_dir)
    assert subscriber.main(project.args("--once")) == 0
    assert sorted(table(project)["id"].to_list()) == ["0", "7"]


@pytest.mark.broker
def test_broker_lost_mid_run_and_back_again(tmp_path: Path) -> None:
    port_broker = EmbeddedBroker()
    project = Project(tmp_path / "p", port_broker.bootstrap_servers, ("item",))
    project.write(kafka={"connect_timeout_s": 30})
    project.csv("item", ["id", "v"], [["1", "before"], ["2", "before"]])
    with running_subscriber(project.config):
        with port_broker:
            assert publisher.main(project.args()) == 0
            wait_until((project.delta / project.topics["item"]).exists, 30)
        # The broker is gone (and, being in memory, so are its topics).
        with EmbeddedBroker(port=port_broker.port):
            project.csv("item", ["id", "v"], [["2", "after"], ["3", "after"]])
            assert publisher.main(project.args()) == 0
            wait_until(
                lambda: sorted(table(project).rows()) == [("1", "before"), ("2", "after"), ("3", "after")],
                60,
            )


def test_broker_unreachable_at_start_is_a_bounded_wait(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from deltastream.kafka.embedded import free_port

    servers = f"127.0.0.1:{free_port()}"
    project = Project(tmp_path / "p", servers, ("item",))
    project.write(kafka={"connect_timeout_s": 0.5})  # the mechanism, not the length of the wait
    started = time.monotonic()
    assert subscriber.main(project.args("--once")) == 1
    waited = time.monotonic() - started
    assert 0.5 <= waited < 5  # waited as long as connect_timeout_s says, then gave up
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1].startswith(f"subscriber.py: error: no Kafka broker reachable at {servers} after ")


def test_secrets_are_not_shown(tmp_path: Path) -> None:
    project = Project(tmp_path / "p", "127.0.0.1:9", ("item",))
    project.write(
        kafka={
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "PLAIN",
            "sasl_username": "alice",
            "sasl_password": "hunter2",
        }
    )
    cfg = config.load(project.config_path)
    assert "hunter2" not in repr(cfg)
    assert "hunter2" not in str(cfg.kafka)
    assert cfg.kafka.sasl_password is not None
    assert cfg.kafka.sasl_password.get() == "hunter2"


@pytest.mark.broker
def test_publisher_accounts_for_every_row_when_the_broker_restarts(tmp_path: Path) -> None:
    """The embedded broker forgets everything when it restarts; the publisher must neither hang
    nor lose count: every row is either acknowledged or reported as failed."""
    first = EmbeddedBroker().start()
    project = Project(tmp_path / "p", first.bootstrap_servers, ("item",))
    project.write(publisher={"batch_size": 20, "rate": 200, "delivery_timeout_ms": 15000})
    project.csv("item", ["id", "v"], [[str(i), "x"] for i in range(1000)])
    process = start_script("publisher.py", *project.args())
    second = None
    log_lines: list[str] = []
    reader = threading.Thread(target=lambda: log_lines.extend(process.stderr or []), daemon=True)
    reader.start()
    try:
        # Part of the file is out (batches of 20 rows at 200 rows/s) when the broker goes away.
        wait_until(lambda: any(": batch 10:" in line for line in log_lines), 20)
        first.stop()
        second = EmbeddedBroker(port=first.port).start()
        out = process.stdout.read() if process.stdout else ""
        process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
        if second is not None:
            second.stop()
    summary = out.splitlines()[1].split()
    read, sent, rejected, failed = (int(x.replace(",", "")) for x in summary[1:5])
    assert (read, rejected) == (1000, 0)
    assert sent + failed == 1000
    assert sent > 0
    assert process.returncode == (0 if failed == 0 else 1)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 400 KB file system, or a skip where this machine does not let the tests mount one."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_stops_the_subscriber_with_one_line(
    project_factory: Callable[..., Project], small_disk: Path
) -> None:
    project = project_factory("item")
    project.write(subscriber={"delta_path": str(small_disk / "delta"), "max_batch_records": 200})
    topic = create_topic(project)
    produce(
        project.bootstrap,
        topic,
        [
            (str(i).encode(), json.dumps({"id": str(i), "text": f"{i} " * 60}).encode())
            for i in range(1, 6001)
        ],
    )
    result = subprocess.run(
        [sys.executable, "subscriber.py", *project.args("--once")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"subscriber.py: error: Delta table {small_disk / 'delta' / topic}: ")
    assert "No space left on device" in lines[-1]
    assert "panicked" not in result.stderr
    assert "Traceback" not in result.stderr
