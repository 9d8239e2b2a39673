"""publisher.py against the embedded broker: every row once, keyed by id, as JSON strings; every
mistake one line, and the rows and topics it does not concern still sent."""

from __future__ import annotations

import itertools
import json
import os
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic

import publisher
import subscriber
from deltastream.kafka.embedded import EmbeddedBroker, free_port

from ..conftest import Project, read_topic, start_script, wait_until

TRICKY = [
    ["1", "Zoë", "O'Brien", "likes, commas"],
    ["2", "Søren", "Weiß", 'says "hi"'],
    ["3", "José", "D'Angelo", "two\nlines"],
    ["4", "", "", ""],
    ["10", "李", "王", "ünïcödé"],
]
AGAIN = "publishing again is safe: the subscriber upserts by id, so a row sent twice is stored once"


def closing_line(err: str) -> str:
    """The script's own closing line (the lines before it are log records with times)."""
    lines = [line for line in err.splitlines() if line.startswith("publisher.py:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def summary(out: str) -> dict[str, list[str]]:
    """The summary table by topic: read, sent, rejected, failed, rows/s, then the note's words."""
    lines = out.splitlines()
    assert lines[0].split()[:6] == ["topic", "read", "sent", "rejected", "failed", "rows/s"]
    return {line.split()[0]: line.split()[1:] for line in lines[1:]}


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
    captured = capsys.readouterr()
    assert summary(captured.out)[project.topics["person"]][:4] == ["5", "5", "0", "0"]
    assert "publisher.py:" not in captured.err


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


# -- a file that cannot be read spoils only its own topic -----------------------------------


def _missing(path: Path) -> None:
    pass


def _directory(path: Path) -> None:
    path.mkdir()


def _loop(path: Path) -> None:
    path.symlink_to(path)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _read_error(path: Path) -> None:
    path.symlink_to("/proc/self/mem")  # opens, even as root, and fails on the first read


def _no_header(path: Path) -> None:
    path.write_bytes(b"name,v\nx,1\n")


def _utf16(path: Path) -> None:
    path.write_bytes("id,v\n1,a\n".encode("utf-16"))


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (_missing, "file not found"),
        (_directory, "a directory, not a CSV file"),
        (_loop, "a symbolic link loop, not a CSV file"),
        (_fifo, "a named pipe (FIFO), not a CSV file"),
        (_read_error, "read error at line 1 (Input/output error)"),
        (_no_header, "header has no 'id' column: 'name,v'"),
        (
            _utf16,
            "line 1: header: not UTF-8 but UTF-16 (it starts with a UTF-16 byte-order mark); "
            "save the file as UTF-8",
        ),
    ],
    ids=["missing", "directory", "symlink-loop", "fifo", "read-error", "no-id-column", "utf-16"],
)
def test_a_csv_that_cannot_be_read_is_one_line_and_the_other_topics_are_still_sent(
    project_factory: Callable[..., Project],
    capsys: pytest.CaptureFixture[str],
    make: Callable[[Path], None],
    problem: str,
) -> None:
    project = project_factory("first", "bad", "last")
    project.csv("first", ["id", "v"], [["1", "a"], ["2", "b"]])
    project.csv("last", ["id", "v"], [["3", "c"]])
    bad = project.raw / f"{project.topics['bad']}.csv"
    make(bad)

    assert publisher.main(project.args()) == 1

    captured = capsys.readouterr()
    assert closing_line(captured.err) == (
        f"publisher.py: error: 1 topic not sent in full ({project.topics['bad']}: {problem}); "
        "the other rows were sent (3 rows in all)"
    )
    assert f"{bad}: {problem}" in captured.err
    table = summary(captured.out)
    assert table[project.topics["first"]][:4] == ["2", "2", "0", "0"]
    assert table[project.topics["last"]][:4] == ["1", "1", "0", "0"]
    assert len(read_topic(project.bootstrap, project.topics["first"], 2)) == 2
    assert len(read_topic(project.bootstrap, project.topics["last"], 1)) == 1


def test_a_csv_that_cannot_be_read_as_a_real_script(project_factory: Callable[..., Project]) -> None:
    """The same, run as a user runs it: one line, exit 1, no traceback."""
    project = project_factory("item")
    (project.raw / f"{project.topics['item']}.csv").mkdir()
    process = start_script("publisher.py", *project.args())
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert closing_line(err) == (
        f"publisher.py: error: 1 topic not sent in full ({project.topics['item']}: a directory, not a CSV "
        "file); no row was sent"
    )


# -- one bad row never stops the file ---------------------------------------------------------


def test_bad_rows_are_reported_with_file_and_line_and_the_rest_is_sent(
    project_factory: Callable[..., Project], capsys: pytest.CaptureFixture[str]
) -> None:
    project = project_factory("item")
    path = project.raw / f"{project.topics['item']}.csv"
    long_field = b"x" * 200_000
    path.write_bytes(b"id,v\n1,a\n2\n,c\n3,d\n4," + long_field + b'\n5,caf\xe9\n6,"two\nlines"\n7,g\n')
    # lines: 1:header 2:row 3:short 4:no id 5:row 6:long field 7:Latin-1 8-9:row 10:row

    assert publisher.main(project.args("--batch-size", "2")) == 1

    captured = capsys.readouterr()
    assert f"{path}:3: expected 2 fields, got 1" in captured.err
    assert f"{path}:4: empty 'id'" in captured.err
    assert f"{path}:6: a field longer than 131,072 characters (csv.field_size_limit)" in captured.err
    assert f"{path}:7: not UTF-8: byte 0xe9 at column 6; save the file as UTF-8" in captured.err
    assert closing_line(captured.err) == (
        f"publisher.py: error: 1 topic not sent in full ({project.topics['item']}: 4 rows rejected); "
        "the other rows were sent (4 rows in all)"
    )
    keys = sorted(int(m.key) for m in read_topic(project.bootstrap, project.topics["item"], 4))
    assert keys == [1, 3, 6, 7]
    row = summary(captured.out)[project.topics["item"]]
    assert row[:4] == ["8", "4", "4", "0"]
    assert " ".join(row[5:]) == "first rejected: line 3: expected 2 fields, got 1"


def test_many_bad_rows_are_logged_up_to_a_limit_and_all_counted(
    project_factory: Callable[..., Project], capsys: pytest.CaptureFixture[str]
) -> None:
    project = project_factory("item")
    project.csv("item", ["id", "v"], [["", str(i)] for i in range(150)] + [["1", "ok"]])
    assert publisher.main(project.args()) == 1
    captured = capsys.readouterr()
    assert captured.err.count(": empty 'id'") == 100
    assert (
        f"{project.topics['item']}: more rows rejected; they are not logged one by one, "
        "the summary counts them all" in captured.err
    )
    assert summary(captured.out)[project.topics["item"]][:4] == ["151", "1", "150", "0"]


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
    err = capsys.readouterr().err
    assert closing_line(err).startswith(
        f"publisher.py: error: no Kafka broker reachable at {servers} after 2 s ("
    )


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


def test_one_log_line_per_batch_at_debug_and_none_with_quiet(
    project_factory: Callable[..., Project], capsys: pytest.CaptureFixture[str]
) -> None:
    """A file sent at full speed logs its batches at DEBUG only (a big file would print one line
    per batch_size rows); --quiet leaves the summary and nothing else."""
    project = project_factory("item")
    project.csv("item", ["id"], [[str(i)] for i in range(21)])
    assert publisher.main(project.args("--batch-size", "10")) == 0
    assert ": batch " not in capsys.readouterr().err
    assert publisher.main(project.args("--batch-size", "10", "--log-level", "DEBUG")) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "publish.confirm: " in line]
    assert len(lines) == 3
    assert "batch 1: 10 rows sent" in lines[0]
    assert "batch 3: 1 row sent" in lines[2]
    assert lines[2].endswith("(21 so far)")
    assert publisher.main(project.args("--quiet")) == 0
    out, err = capsys.readouterr()
    assert err == "" and project.topics["item"] in out and "21" in out


# -- --rate: rows trickle in ----------------------------------------------------------------


def test_a_paced_publisher_sends_row_by_row_at_the_rate(project_factory: Callable[..., Project]) -> None:
    """30 rows at 20/s arrive over about 1.5 s, one after the other, as a consumer sees them
    (the batch size is far above 30: pacing does not wait for a batch to fill)."""
    project = project_factory("item")
    topic = project.topics["item"]
    project.csv("item", ["id"], [[str(i)] for i in range(30)])
    admin = KafkaAdminClient(bootstrap_servers=project.bootstrap)
    try:
        admin.create_topics([NewTopic(topic, 3, 1)])
    finally:
        admin.close()
    # A fetch returns as soon as one record is there (the default waits up to 500 ms for more):
    # arrivals then show when the publisher sent, not how the consumer batches.
    consumer = KafkaConsumer(
        bootstrap_servers=project.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10
    )
    arrivals: list[tuple[float, int]] = []  # (when the consumer saw it, its CreateTime in ms)
    try:
        partitions = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        consumer.poll(timeout_ms=100)
        process = start_script("publisher.py", *project.args("--rate", "20", "--batch-size", "1000"))
        deadline = time.monotonic() + 30
        while len(arrivals) < 30 and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=20).values():
                arrivals.extend((time.monotonic(), record.timestamp) for record in records)
        _, err = process.communicate(timeout=30)
    finally:
        consumer.close()
    assert process.returncode == 0, err
    assert len(arrivals) == 30
    seen = sorted(t for t, _ in arrivals)
    assert 1.0 < seen[-1] - seen[0] < 5.0  # about 1.45 s: spread out, not at once
    # Row by row, not in a few lumps: a broker or consumer that is slow for a moment may hand over
    # a few rows together, but rows sent all at once would land in one or two 100 ms slots.
    slots = {int((t - seen[0]) * 10) for t in seen}
    assert len(slots) >= 8  # about 15 when nothing else is busy
    created = sorted(ms for _, ms in arrivals)
    gaps = [b - a for a, b in itertools.pairwise(created)]
    assert 25 <= statistics.median(gaps) <= 150  # one row every 50 ms
    batches = [line for line in err.splitlines() if ": batch " in line]
    assert len(batches) >= 2  # a log line at least every second, not one for the whole file


# -- Ctrl-C and SIGTERM ---------------------------------------------------------------------


class Watched:
    """A running script whose stderr is read line by line as it comes."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        self.lines.extend(self.process.stderr)

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        assert self.process.stdout is not None
        out = self.process.stdout.read()
        code = self.process.wait(timeout)
        self.reader.join(10)
        return code, out, "".join(self.lines)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_publish_says_what_the_broker_confirmed(
    project_factory: Callable[..., Project], sig: signal.Signals, code: int
) -> None:
    project = project_factory("first", "second")
    first, second = project.topics["first"], project.topics["second"]
    project.csv("first", ["id"], [[str(i)] for i in range(400)])
    project.csv("second", ["id"], [["x"]])
    running = Watched(start_script("publisher.py", *project.args("--rate", "40")))
    try:
        wait_until(lambda: any(": batch 2:" in line for line in running.lines), 30)
        running.process.send_signal(sig)
        status, out, err = running.finish()
    finally:
        if running.process.poll() is None:
            running.process.kill()
    assert status == code
    table = summary(out)
    read, sent, rejected, failed = (int(x) for x in table[first][:4])
    assert read == sent and rejected == failed == 0 and 40 < sent < 400
    assert " ".join(table[first][5:]) == (f"stopped after line {sent + 1}: the lines after it were not read")
    assert " ".join(table[second][5:]) == "not started (stopped before its turn)"
    assert closing_line(err) == (
        f"publisher.py: stopped by {sig.name}: the broker confirmed {sent} rows; reading stopped at "
        f"{first} after line {sent + 1}; not started: {second} (the summary has each topic); {AGAIN}"
    )
    # What the broker confirmed is exactly what it holds: the first rows of the file, in order.
    keys = sorted(int(m.key) for m in read_topic(project.bootstrap, first, sent))
    assert keys == list(range(sent))


def test_ctrl_c_twice_stops_waiting_for_a_broker_that_went_away(tmp_path: Path) -> None:
    """The broker goes away mid-publish: a first Ctrl-C stops reading and waits for the
    confirmations, a second one stops waiting; the rows left unconfirmed are counted as such."""
    broker = EmbeddedBroker().start()
    try:
        project = Project(tmp_path / "p", broker.bootstrap_servers, ("item",))
        project.write(publisher={"delivery_timeout_ms": 60000})
        project.csv("item", ["id"], [[str(i)] for i in range(2000)])
        # 800 rows/s in batches of 100: a batch confirmed every 0.125 s, 2.5 s of rows in the file.
        running = Watched(start_script("publisher.py", *project.args("--rate", "800")))
        try:
            wait_until(lambda: any(": batch 2:" in line for line in running.lines), 30)
            # Gone at once (Tansu takes seconds to stop on SIGTERM while clients are connected).
            broker.stop(timeout_s=0)
            time.sleep(0.1)  # rows go on being sent, unconfirmed, until the Ctrl-C
            running.process.send_signal(signal.SIGINT)
            wait_until(lambda: any("SIGINT: stopping" in line for line in running.lines), 10)
            time.sleep(0.1)
            assert running.process.poll() is None  # the first Ctrl-C: still waiting for the broker
            asked = time.monotonic()
            running.process.send_signal(signal.SIGINT)
            status, out, err = running.finish(30)
            took = time.monotonic() - asked
        finally:
            if running.process.poll() is None:
                running.process.kill()
    finally:
        broker.stop()
    assert status == 130
    assert took < 15  # not the 60 s of delivery_timeout_ms
    row = summary(out)[project.topics["item"]]
    read, sent, rejected, failed = (int(x.replace(",", "")) for x in row[:4])
    assert read == sent + failed and failed > 0 and rejected == 0
    note = " ".join(row[5:])
    assert note.startswith(f"stopped after line {read + 1}: the lines after it were not read; ")
    assert note.endswith(" rows sent but not confirmed (they may have arrived)")
    line = closing_line(err)
    assert line.startswith(f"publisher.py: stopped by SIGINT: the broker confirmed {sent:,} rows; ")
    assert line.endswith(f" rows sent but not confirmed (the summary has each topic); {AGAIN}")


def test_quiet_does_not_go_with_a_log_level(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        publisher.main(["--quiet", "--log-level", "INFO"])
    assert info.value.code == 2
    assert "--quiet does not go with --log-level (it is --log-level WARNING)" in capsys.readouterr().err


def test_a_misspelled_topic_is_said_by_the_subscriber_that_creates_it(
    project_factory: Callable[..., Project], capsys: pytest.CaptureFixture[str]
) -> None:
    project = project_factory("item")
    item = project.topics["item"]
    project.csv("item", ["id", "v"], [["1", "a"]])
    assert publisher.main(project.args()) == 0
    misspelled = item.replace("item", "itme")
    project.topics["item"] = misspelled
    project.write()
    capsys.readouterr()
    assert subscriber.main(project.args("--once")) == 0
    err = capsys.readouterr().err
    assert f"topic {misspelled} was not on the broker and is created; the broker has {item}" in err
