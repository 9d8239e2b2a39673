"""The Delta log looked at as files: no false alarm on a healthy table whose log was cleaned up."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

from deltastream import deltalog
from deltastream.query import diagnose
from deltastream.tables import Tables


def cleaned_table(root: Path) -> Path:
    """A table of 12 commits whose log was cleaned up before its checkpoint at version 10."""
    path = root / "t"
    settings = {"delta.checkpointInterval": "5", "delta.logRetentionDuration": "interval 0 minutes"}
    write_deltalake(str(path), pl.DataFrame({"id": [0]}), mode="append", configuration=settings)
    for n in range(1, 12):
        write_deltalake(str(path), pl.DataFrame({"id": [n]}), mode="append")
    DeltaTable(str(path)).cleanup_metadata()
    return path


def test_a_cleaned_log_with_its_checkpoint_is_healthy(tmp_path: Path) -> None:
    path = cleaned_table(tmp_path)
    assert not (path / "_delta_log" / f"{0:020d}.json").exists()
    assert deltalog.inspect(path) is None


def test_a_damaged_hint_on_a_cleaned_log_starts_from_the_newest_checkpoint(tmp_path: Path) -> None:
    path = cleaned_table(tmp_path)
    (path / "_delta_log" / "_last_checkpoint").write_text("{not json", encoding="utf-8")
    assert deltalog.inspect(path) is None  # delta-rs reads it from the checkpoint it lists
    assert DeltaTable(str(path)).version() == 11


def test_an_empty_last_entry_is_found(tmp_path: Path) -> None:
    path = cleaned_table(tmp_path)
    (path / "_delta_log" / f"{11:020d}.json").write_bytes(b"")
    found = deltalog.inspect(path, every_entry=False)
    assert found is not None and "(version 11), is damaged (empty or not JSON; cut short?)" in found[0]


def test_an_entry_gone_while_it_is_read_means_another_look(tmp_path: Path) -> None:
    """A writer's log clean-up may remove an entry between the listing and its read; a dangling
    link is such an entry for every look: listed, and not there when opened."""
    path = cleaned_table(tmp_path)
    newest = path / "_delta_log" / f"{11:020d}.json"
    newest.unlink()
    newest.symlink_to(tmp_path / "gone.json")
    assert deltalog.inspect(path, every_entry=False) is None
    assert deltalog.inspect(path) is None
    table = diagnose.find_table(Tables.at(tmp_path), "t")  # delta-rs lists no dangling link
    assert table is not None and table.version() == 10


def test_a_log_folder_gone_is_still_told_apart(tmp_path: Path) -> None:
    path = cleaned_table(tmp_path)
    (path / "_delta_log").rename(tmp_path / "elsewhere")
    with pytest.raises(FileNotFoundError):  # for the caller to explain: the table is not there
        deltalog.inspect(path)
