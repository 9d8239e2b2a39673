"""The sink on real Delta tables in temp dirs, no broker: replay, append or MERGE, dead letters,
concurrent writers, storage faults and best-effort maintenance."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

import polars as pl
import pytest
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError

from deltastream.errors import SinkError
from deltastream.subscribe import offsets
from deltastream.subscribe.formats.json import JsonFormat
from deltastream.subscribe.maintenance import Maintenance
from deltastream.subscribe.rows import DELETED
from deltastream.subscribe.sink import DeltaSink
from deltastream.subscribe.upsert import TableSettings, Upserter, choose
from deltastream.subscribe.writer import TopicWriter
from deltastream.tables import Tables
from deltastream.values import DEAD_LETTERS

from ..fakes import FakeMessage, numbered, record

IDS = offsets.AppIds.of("g", {"t": "topic-id"})


def sink_at(root: Path, **kwargs: object) -> TopicWriter:
    return TopicWriter(DeltaSink(Tables.at(root), "id", **kwargs), JsonFormat("id"))  # type: ignore[arg-type]


def rows(root: Path, name: str = "t") -> list[tuple[object, ...]]:
    return sorted(pl.read_delta(str(root / name)).rows())


def history(root: Path, name: str = "t") -> list[str]:
    return [h["operation"] for h in reversed(DeltaTable(str(root / name)).history())]


def test_choose_append_replace_or_merge() -> None:
    assert choose(has_deletes=False, all_new=True, columns=10) == "append"
    assert choose(has_deletes=False, all_new=False, columns=10) == "merge"
    assert choose(has_deletes=True, all_new=True, columns=10) == "merge"
    assert choose(has_deletes=True, all_new=False, columns=129) == "replace"
    assert choose(has_deletes=False, all_new=True, columns=129) == "append"


def test_first_write_creates_the_table_with_its_offsets_in_the_same_commit(tmp_path: Path) -> None:
    result = sink_at(tmp_path).write("t", numbered("t", range(1, 4), partition=2, first_offset=10), IDS)

    assert result is not None
    assert (result.operation, result.version, result.inserted, result.records) == ("create", 0, 3, 3)
    table = DeltaTable(str(tmp_path / "t"))
    assert table.transaction_version(IDS("t", 2)) == 12
    assert table.version() == 0
    assert table.metadata().configuration["delta.targetFileSize"] == str(16 * 1024)  # what updates write


def test_a_replayed_batch_is_skipped_and_an_overlapping_one_applies_only_the_new_part(tmp_path: Path) -> None:
    sink = sink_at(tmp_path)
    batch = numbered("t", range(1, 6))
    sink.write("t", batch, IDS)

    assert sink.write("t", batch, IDS) is None
    assert DeltaTable(str(tmp_path / "t")).version() == 0

    overlapping = {0: [*batch[0][3:], *numbered("t", range(6, 9), first_offset=5)[0]]}
    result = sink.write("t", overlapping, IDS)
    assert result is not None
    assert (result.records, result.inserted) == (3, 3)
    assert [r[0] for r in rows(tmp_path)] == [str(i) for i in sorted(range(1, 9), key=str)]


def test_the_same_offsets_under_another_topic_id_are_new(tmp_path: Path) -> None:
    sink = sink_at(tmp_path)
    sink.write("t", numbered("t", [1], v="old"), IDS)
    recreated = offsets.AppIds.of("g", {"t": "another-id"})
    result = sink.write("t", numbered("t", [1], v="new"), recreated)
    assert result is not None and result.updated == 1
    assert rows(tmp_path) == [("1", "new")]


def test_new_ids_are_appended_and_known_ones_merged(tmp_path: Path) -> None:
    sink = sink_at(tmp_path)
    sink.write("t", numbered("t", range(1, 11), city="Lisbon"), IDS)
    sink.write("t", numbered("t", range(11, 16), first_offset=10, city="Lisbon"), IDS)
    result = sink.write("t", numbered("t", [12, 16], first_offset=15, city="Faro"), IDS)

    assert result is not None
    assert (result.operation, result.inserted, result.updated) == ("merge", 1, 1)
    assert history(tmp_path) == ["WRITE", "WRITE", "MERGE"]
    table = {str(r[0]): r[1] for r in rows(tmp_path)}
    assert len(table) == 16
    assert (table["12"], table["16"], table["11"]) == ("Faro", "Faro", "Lisbon")


def test_the_new_ids_check_reads_tables_under_a_path_with_a_space_and_an_accent(tmp_path: Path) -> None:
    root = tmp_path / "tables, São Paulo"
    sink = sink_at(root)
    sink.write("t", numbered("t", range(1, 11), city="Lisbon"), IDS)
    sink.write("t", numbered("t", [5, 11], first_offset=10, city="Faro"), IDS)

    assert history(root)[-1] == "MERGE"
    tables = Tables.at(root)
    table = tables.open("t")
    assert table is not None
    frame = tables.scan(table).collect().sort(pl.col("id").cast(pl.Int64))
    assert frame.filter(pl.col("city") == "Faro")["id"].to_list() == ["5", "11"]
    assert frame.height == 11


def test_tombstones_delete_and_the_count_is_the_rows_deleted(tmp_path: Path) -> None:
    sink = sink_at(tmp_path)
    sink.write("t", numbered("t", range(1, 4)), IDS)
    batch = {0: [record("t", 0, 3, None, key="2"), record("t", 0, 4, None, key="99")]}
    result = sink.write("t", batch, IDS)

    assert result is not None
    assert (result.operation, result.deleted, result.tombstones) == ("merge", 1, 2)
    assert [r[0] for r in rows(tmp_path)] == ["1", "3"]


def test_a_batch_of_only_dead_letters_commits_nothing_to_the_table(tmp_path: Path) -> None:
    sink = sink_at(tmp_path)
    sink.write("t", numbered("t", [1]), IDS)
    bad = {0: [FakeMessage(1, b"not json"), FakeMessage(2, b"[1]")]}

    result = sink.write("t", bad, IDS)
    assert result is not None
    assert (result.operation, result.dead, result.version) == (None, 2, 0)
    assert sink.write("t", bad, IDS) is not None  # the table holds no offsets for them ...
    dead = pl.read_delta(str(tmp_path / DEAD_LETTERS))
    assert dead.height == 2  # ... but the dead letters are kept once
    assert dead["offset"].to_list() == [1, 2]


def test_schema_drift_a_new_field_adds_a_column_and_a_missing_one_becomes_null(tmp_path: Path) -> None:
    sink = sink_at(tmp_path)
    sink.write("t", {0: [record("t", 0, 0, {"id": "1", "a": "x", "b": "y"})]}, IDS)
    sink.write(
        "t",
        {
            0: [
                record("t", 0, 1, {"id": "2", "a": "p", "b": "q", "c": "new"}),
                record("t", 0, 2, {"id": "1", "a": "x2"}),
            ]
        },
        IDS,
    )
    frame = pl.read_delta(str(tmp_path / "t")).sort("id")
    assert frame.columns == ["id", "a", "b", "c"]
    assert frame.rows() == [("1", "x2", None, None), ("2", "p", "q", "new")]


def test_a_new_table_aims_its_files_at_the_target_size(tmp_path: Path) -> None:
    sink = sink_at(tmp_path, settings=TableSettings(file_target_bytes=16 * 1024))
    sink.write(
        "t", {0: [record("t", 0, i, {"id": str(i), "name": f"name {i}" * 20}) for i in range(2000)]}, IDS
    )
    table = DeltaTable(str(tmp_path / "t"))
    assert table.metadata().configuration["delta.targetFileSize"] == str(16 * 1024)
    assert len(table.file_uris()) > 1


def run_together(*calls: Callable[[], object]) -> list[BaseException]:
    """Run ``calls`` at once, each in its own thread; returns what they raised."""
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        try:
            call()
        except BaseException as exc:  # returned to the test, which asserts on it
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


def test_concurrent_writers_to_one_table_retry_and_lose_nothing(tmp_path: Path) -> None:
    sinks = [sink_at(tmp_path) for _ in range(3)]
    batches = [numbered("t", range(100 * p, 100 * p + 100), partition=p) for p in range(3)]
    sinks[0].write("t", {0: batches[0][0][:1]}, IDS)  # the table exists before the race

    results: list[object] = []
    errors = run_together(
        *(lambda n=n: results.append(sinks[n].write("t", batches[n], IDS)) for n in range(3))
    )

    assert errors == []
    assert len(rows(tmp_path)) == 300
    table = DeltaTable(str(tmp_path / "t"))
    assert {p: table.transaction_version(IDS("t", p)) for p in range(3)} == {0: 99, 1: 99, 2: 99}


def test_two_writers_of_the_same_new_records_write_them_once(tmp_path: Path) -> None:
    sinks = [sink_at(tmp_path) for _ in range(2)]
    mine = numbered("t", range(200))[0]
    sinks[0].write("t", {0: mine[:1]}, IDS)

    errors: list[BaseException] = []
    for i in range(1, len(mine), 20):  # each round: new ids, written by both at once
        chunk = {0: mine[i : i + 20]}
        errors += run_together(*(partial(sink.write, "t", chunk, IDS) for sink in sinks))

    assert errors == []
    ids = [r[0] for r in rows(tmp_path)]
    assert len(ids) == len(set(ids)) == 200


def test_appends_racing_for_the_same_offsets_commit_once(tmp_path: Path) -> None:
    """New ids are appended, not merged; what keeps two writers of the same partition from both
    appending them is delta-rs failing a commit whose ``txn`` app id was updated since it read."""
    path = str(tmp_path / "t")
    write_deltalake(path, pl.DataFrame({"id": ["1"], "v": ["a"]}))
    first, second = DeltaTable(path), DeltaTable(path)  # both read version 0
    commit = CommitProperties(app_transactions=[Transaction("g-t-0", 5)])
    frame = pl.DataFrame({"id": ["2"], "v": ["b"]})
    write_deltalake(first, frame, mode="append", commit_properties=commit)
    with pytest.raises(CommitFailedError):
        write_deltalake(second, frame, mode="append", commit_properties=commit)
    assert sorted(pl.read_delta(path)["id"].to_list()) == ["1", "2"]


def test_an_append_fails_when_the_table_moved_since_it_checked_its_ids(tmp_path: Path) -> None:
    """The same id from two partitions: their txn app ids differ, so only the append's own
    check of the version keeps the second from storing the id again."""
    tables = Tables.at(tmp_path)
    write_deltalake(tables.uri("t"), pl.DataFrame({"id": ["1"], "v": ["a"]}))
    first, second = tables.open("t"), tables.open("t")  # both read version 0
    assert first is not None and second is not None
    frame = pl.DataFrame({"id": ["2"], "v": ["b"], DELETED: [False]})
    settings = TableSettings()
    done = Upserter(tables, "id", settings).upsert("t", first, frame, [Transaction("g-t-0", 5)])
    assert done.operation == "append"
    with pytest.raises(CommitFailedError):
        Upserter(tables, "id", settings).upsert("t", second, frame, [Transaction("g-t-1", 9)])
    assert rows(tmp_path) == [("1", "a"), ("2", "b")]


def test_two_writers_of_one_id_from_two_partitions_store_it_once(tmp_path: Path) -> None:
    sinks = [sink_at(tmp_path) for _ in range(2)]
    sinks[0].write("t", numbered("t", [0]), IDS)
    for first in range(1, 200, 20):  # each round: new ids, in partition 0 and in partition 1 at once
        ids = range(first, first + 20)
        parts = [numbered("t", ids, partition=p, first_offset=first) for p in (0, 1)]
        writes = [partial(sink.write, "t", part, IDS) for sink, part in zip(sinks, parts, strict=True)]
        assert run_together(*writes) == []

    stored = [r[0] for r in rows(tmp_path)]
    assert len(stored) == len(set(stored)) == 201


def test_a_commit_that_cannot_be_written_is_one_error_naming_table_and_offsets(tmp_path: Path) -> None:
    sink = sink_at(tmp_path)
    sink.write("t", numbered("t", [1]), IDS)
    log_dir = tmp_path / "t" / "_delta_log"
    log_dir.rename(log_dir.with_name("_delta_log.bak"))
    log_dir.write_text("not a directory")

    with pytest.raises(SinkError) as info:
        sink.write("t", numbered("t", [2, 3], first_offset=1), IDS)
    message = str(info.value)
    assert message.startswith(f"Delta table {tmp_path / 't'}: ")
    assert message.endswith("(offsets p0:1-2)")
    assert "\n" not in message


def test_compaction_keeps_the_file_count_bounded(tmp_path: Path) -> None:
    tables = Tables.at(tmp_path)
    sink = TopicWriter(
        DeltaSink(tables, "id", maintenance=Maintenance(tables, every=5, retention_hours=0)), JsonFormat("id")
    )
    for i in range(12):
        assert sink.write("t", numbered("t", [1000 + i], first_offset=i), IDS) is not None
    table = DeltaTable(str(tmp_path / "t"))
    assert "OPTIMIZE" in history(tmp_path)  # the log kept since the last clean-up
    assert len(table.file_uris()) <= 4
    assert len(list((tmp_path / "t").glob("*.parquet"))) == len(table.file_uris())  # vacuumed
    assert len(rows(tmp_path)) == 12


def test_maintenance_keeps_the_retention_in_the_table_and_cleans_up_the_log(tmp_path: Path) -> None:
    tables = Tables.at(tmp_path)
    sink = TopicWriter(
        DeltaSink(tables, "id", maintenance=Maintenance(tables, every=25, retention_hours=0)),
        JsonFormat("id"),
    )
    for i in range(24):
        sink.write("t", numbered("t", [1000 + i], first_offset=i), IDS)
    log = tmp_path / "t" / "_delta_log"
    before = sorted(p.name for p in log.glob("*.json"))
    assert len(before) == 24
    sink.write("t", numbered("t", [2000], first_offset=24), IDS)  # the 25th commit: maintenance
    table = DeltaTable(str(tmp_path / "t"))
    assert table.metadata().configuration["delta.logRetentionDuration"] == "interval 0 minutes"
    assert table.metadata().configuration["delta.deletedFileRetentionDuration"] == "interval 0 minutes"
    kept = sorted(int(p.name[:20]) for p in log.glob("*.json"))
    checkpoint = int(next(iter(log.glob("*.checkpoint.parquet"))).name[:20])
    assert kept[0] >= checkpoint - 1 > 0 and len(kept) < len(before)  # the entries before it are gone
    assert table.transaction_version(IDS("t", 0)) == 24  # the offsets stay
    assert len(rows(tmp_path)) == 25


def test_the_log_is_cleaned_up_by_the_maintenance_only(tmp_path: Path) -> None:
    """A commit does not list the whole log to delete expired entries (delta-rs's default after
    each commit, a cost that grows with the log): the maintenance does, every ``every`` commits."""
    tables = Tables.at(tmp_path)
    sink = TopicWriter(
        DeltaSink(tables, "id", maintenance=Maintenance(tables, every=25, retention_hours=0)),
        JsonFormat("id"),
    )
    for i in range(25):  # the 25th commit: maintenance, which sets a retention of 0 minutes
        sink.write("t", numbered("t", [1000 + i], first_offset=i), IDS)
    log = tmp_path / "t" / "_delta_log"
    oldest = min(int(p.name[:20]) for p in log.glob("*.json"))
    for i in range(25, 49):  # past two checkpoints, every entry before them expired
        sink.write("t", numbered("t", [1000 + i], first_offset=i), IDS)
    assert min(int(p.name[:20]) for p in log.glob("*.json")) == oldest
    checkpoints = sorted(int(p.name[:20]) for p in log.glob("*.checkpoint.parquet"))
    assert checkpoints[-1] >= oldest + 20  # checkpoints are still written
    sink.write("t", numbered("t", [2000], first_offset=49), IDS)  # the 50th: maintenance again
    assert min(int(p.name[:20]) for p in log.glob("*.json")) >= checkpoints[-1] - 1
    assert len(rows(tmp_path)) == 50


def test_a_failed_compaction_is_a_warning_and_ingestion_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tables = Tables.at(tmp_path)
    maintenance = Maintenance(tables, every=2, retention_hours=0)
    sink = TopicWriter(DeltaSink(tables, "id", maintenance=maintenance), JsonFormat("id"))
    sink.write("t", numbered("t", [1]), IDS)
    parquet = next((tmp_path / "t").glob("*.parquet"))
    parquet.rename(parquet.with_suffix(".gone"))  # compaction cannot read this file any more

    caplog.set_level("WARNING", logger="deltastream")
    result = sink.write("t", numbered("t", [2], first_offset=1), IDS)

    assert result is not None and result.operation == "append"
    assert "maintenance failed" in caplog.text
    assert "ingestion goes on" in caplog.text
    assert maintenance.due_in["t"] > 0  # tried again later


KEPT_NAMES = ["a.b", "a`b", "`", 's."id"', "select", "é", "李", "1st", "a'b", "a\\b", "a/b", "a:b", "x" * 300]


@pytest.mark.parametrize("name", KEPT_NAMES)
def test_a_field_name_the_table_took_never_breaks_a_later_merge(tmp_path: Path, name: str) -> None:
    sink = sink_at(tmp_path)
    sink.write("t", {0: [record("t", 0, 0, {"id": "1", name: "first"}), record("t", 0, 1, {"id": "2"})]}, IDS)
    # An update carrying the field, one not carrying it, a delete and an insert, all by MERGE.
    batch = [
        record("t", 0, 2, {"id": "1", name: "second"}),
        record("t", 0, 3, {"id": "2", "other": "x"}),
        record("t", 0, 4, None, key="2"),
        record("t", 0, 5, {"id": "3", name: "third"}),
    ]
    result = sink.write("t", {0: batch}, IDS)
    assert result is not None and result.operation == "merge"
    assert result.dead == 0
    assert (result.inserted, result.updated, result.deleted) == (1, 1, 1)
    frame = pl.read_delta(str(tmp_path / "t")).sort("id")
    assert frame.select("id", name).rows() == [("1", "second"), ("3", "third")]


def test_fields_the_table_cannot_take_are_set_aside_and_the_rest_lands(tmp_path: Path) -> None:
    sink = sink_at(tmp_path)
    sink.write("t", {0: [record("t", 0, 0, {"id": "1", "name": "a"})]}, IDS)
    batch = [
        record("t", 0, 1, {"id": "2", "Name": "clash with the table"}),
        record("t", 0, 2, {"id": "3", "a\u0000b": "NUL in a name"}),
        record("t", 0, 3, {"id": "4", "ID": "clash in the message"}),
        record("t", 0, 4, {"id": "5", "name": "fine"}),
    ]
    result = sink.write("t", {0: batch}, IDS)
    assert result is not None
    assert (result.dead, result.inserted) == (3, 1)
    assert [r[0] for r in rows(tmp_path)] == ["1", "5"]
    dead = pl.read_delta(str(tmp_path / DEAD_LETTERS)).sort("offset")
    assert dead["offset"].to_list() == [1, 2, 3]
    assert "differs only in case from the column 'name'" in dead["error"][0]
    # The next run reads the same offsets again: nothing is written twice.
    assert sink.write("t", {0: batch}, IDS) is None
    assert pl.read_delta(str(tmp_path / DEAD_LETTERS)).height == 3


def wide_record(offset: int, ident: str, tag: str, columns: int = 200, key: str | None = None) -> FakeMessage:
    fields = {"id": ident, **{f"c{i}": f"{tag}{i}" for i in range(columns - 1)}}
    return record("t", 0, offset, fields, key=key)


def test_a_wide_table_is_updated_by_replacing_the_batchs_ids(tmp_path: Path) -> None:
    sink = sink_at(tmp_path)
    sink.write("t", {0: [wide_record(i, str(i), "old") for i in range(50)]}, IDS)
    batch = [
        wide_record(50, "3", "new"),  # an update
        record("t", 0, 51, None, key="4"),  # a delete
        record("t", 0, 52, None, key="nope"),  # a delete of an id the table never had
        record("t", 0, 53, {"id": "60", "c0": "added", "extra": "a new column"}),  # an insert
    ]
    result = sink.write("t", {0: batch}, IDS)

    assert result is not None
    assert (result.operation, result.inserted, result.updated, result.deleted) == ("replace", 1, 1, 1)
    frame = pl.read_delta(str(tmp_path / "t"))
    assert frame.height == 50
    assert frame.filter(pl.col("id") == "3")["c5"].to_list() == ["new5"]
    assert frame.filter(pl.col("id") == "5")["c5"].to_list() == ["old5"]
    assert frame.filter(pl.col("id") == "60").select("c0", "c1", "extra").row(0) == (
        "added",
        None,
        "a new column",
    )
    assert "4" not in frame["id"].to_list()
    assert DeltaTable(str(tmp_path / "t")).transaction_version(IDS("t", 0)) == 53
    assert sink.write("t", {0: batch}, IDS) is None  # replayed: skipped


HOSTILE_IDS = [
    "o'brien",
    "''",
    "') OR (1=1",
    "a\\'b",
    "back\\slash",
    "new\nline",
    "nul\x00byte",
    "😀",
    " spaced ",
    "x" * 10_000,
]


def test_hostile_ids_in_the_replace_predicate_reach_only_their_own_rows(tmp_path: Path) -> None:
    sink = sink_at(tmp_path)
    first = [wide_record(i, ident, "old") for i, ident in enumerate(["plain", *HOSTILE_IDS])]
    sink.write("t", {0: first}, IDS)
    updates = [wide_record(100 + i, ident, "new") for i, ident in enumerate(HOSTILE_IDS)]
    result = sink.write("t", {0: updates}, IDS)

    assert result is not None
    assert (result.operation, result.updated, result.inserted) == ("replace", len(HOSTILE_IDS), 0)
    frame = pl.read_delta(str(tmp_path / "t"))
    assert sorted(frame["id"].to_list()) == sorted(["plain", *HOSTILE_IDS])
    assert frame.filter(pl.col("id") == "plain")["c0"].to_list() == ["old0"]
    assert sorted(frame.filter(pl.col("id") != "plain")["c0"].to_list()) == ["new0"] * len(HOSTILE_IDS)


def test_a_damaged_log_is_one_error_naming_the_table(tmp_path: Path) -> None:
    from deltastream.subscribe.positions import stored_offsets

    sink = sink_at(tmp_path)
    for offset in range(3):
        sink.write("t", numbered("t", [offset], first_offset=offset), IDS)
    last = sorted((tmp_path / "t" / "_delta_log").glob("*.json"))[-1]
    last.write_text('{"commitInfo":')

    with pytest.raises(SinkError) as info:
        stored_offsets(Tables.at(tmp_path), IDS, "t", [0])
    assert str(info.value).startswith(f"Delta table {tmp_path / 't'}: cannot read the table's offsets: ")
    assert "\n" not in str(info.value)


def test_a_damaged_last_log_entry_stops_the_writer_with_one_line(tmp_path: Path) -> None:
    """An empty newest entry would be read as a version with nothing in it: the next commit would
    then be made on the older state. The writer says which table and version instead."""
    sink_at(tmp_path).write("t", numbered("t", [1]), IDS)
    sink_at(tmp_path).write("t", numbered("t", [2], first_offset=1), IDS)
    entry = tmp_path / "t" / "_delta_log" / f"{1:020d}.json"
    entry.write_bytes(b"")
    with pytest.raises(SinkError) as info:
        sink_at(tmp_path).write("t", numbered("t", [3], first_offset=2), IDS)
    assert str(info.value) == (
        f"Delta table {tmp_path / 't'}: the last log entry, _delta_log/{entry.name} (version 1), is damaged "
        "(empty or not JSON; cut short?); move it away to go back to version 0; subscriber.py then writes "
        "its records again"
    )
