"""The offsets contract: app ids, what is stored, where reading resumes, what is still to write."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from deltastream.subscribe import offsets

from ..fakes import FakeMessage


def test_the_app_id_format_is_fixed() -> None:
    """Tables written so far hold offsets under these ids: changing the format would re-read or
    skip every partition of every existing table."""
    assert offsets.app_id("delta-subscriber", "sale", 2, "PGmtFOTySqqkhDaUqNMBAA") == (
        "delta-subscriber-sale-2-PGmtFOTySqqkhDaUqNMBAA"
    )
    assert offsets.app_id("g", "t", 0) == "g-t-0"
    assert offsets.app_id("g", "t", 0, None) == "g-t-0"
    ids = offsets.AppIds.of("g", {"t": "tid"})
    assert (ids("t", 7), ids("u", 7)) == ("g-t-7-tid", "g-u-7")


def test_app_ids_are_immutable_values() -> None:
    source = {"t": "one"}
    ids = offsets.AppIds.of("g", source)
    source["t"] = "two"
    assert ids("t", 0) == "g-t-0-one"
    with pytest.raises(TypeError):
        ids.topic_ids["t"] = "three"  # type: ignore[index]


def test_reading_resumes_after_the_last_offset_written() -> None:
    assert offsets.next_offset(None) == 0
    assert offsets.next_offset(0) == 1
    assert offsets.next_offset(41) == 42


def test_unwritten_keeps_only_offsets_above_the_stored_one() -> None:
    parts = {
        0: [FakeMessage(o, b"{}", partition=0) for o in range(5, 10)],
        1: [FakeMessage(3, b"{}", partition=1)],
    }
    fresh = offsets.unwritten(parts, {0: 7, 1: 3})
    assert {p: [m.offset for m in ms] for p, ms in fresh.items()} == {0: [8, 9]}
    assert offsets.spans(fresh) == {0: (8, 9)}
    assert offsets.last_offsets(parts) == {0: 9, 1: 3}
    assert offsets.unwritten(parts, {}) == parts


def test_transactions_record_the_last_offsets_under_their_app_ids() -> None:
    ids = offsets.AppIds.of("g", {"t": "x"})
    txns = offsets.transactions(ids, "t", {1: 10, 0: 4})
    assert [(t.app_id, t.version) for t in txns] == [("g-t-0-x", 4), ("g-t-1-x", 10)]


def test_stored_offsets_round_trip_through_a_delta_commit(tmp_path: Path) -> None:
    ids = offsets.AppIds.of("g", {"t": "x"})
    assert offsets.stored(None, ids, "t", [0, 1]) == {}
    commit = CommitProperties(app_transactions=offsets.transactions(ids, "t", {0: 4}))
    write_deltalake(str(tmp_path), pl.DataFrame({"id": ["1"]}), commit_properties=commit)
    table = DeltaTable(str(tmp_path))
    assert offsets.stored(table, ids, "t", [0, 1]) == {0: 4}
    # Another topic id (the topic was created anew) holds no offsets yet.
    assert offsets.stored(table, offsets.AppIds.of("g", {"t": "y"}), "t", [0]) == {}
    # An app id written by hand reads back the same way: the format is the contract.
    extra = CommitProperties(app_transactions=[Transaction("g-t-1-x", 9)])
    write_deltalake(table, pl.DataFrame({"id": ["2"]}), mode="append", commit_properties=extra)
    table.update_incremental()
    assert offsets.stored(table, ids, "t", [0, 1]) == {0: 4, 1: 9}
