"""Reading CSV files and batching rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltastream.errors import SourceError
from deltastream.source import Rejected, Row, batched, read_rows


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    return path


def test_bom_crlf_quotes_and_non_ascii(tmp_path: Path) -> None:
    data = '\ufeffid,name,note\r\n1,"Zoë O\'Brien","a, b"\r\n2,"multi\r\nline",""\r\n'.encode()
    rows = list(read_rows(write(tmp_path, data)))
    assert rows == [
        Row(2, "1", {"id": "1", "name": "Zoë O'Brien", "note": "a, b"}),
        Row(4, "2", {"id": "2", "name": "multi\r\nline", "note": ""}),
    ]


def test_bad_rows_are_rejected_with_their_line(tmp_path: Path) -> None:
    path = write(tmp_path, b"id,a\n1,x\n2\n,y\n3,z,extra\n\n4,w\n")
    items = list(read_rows(path))
    assert [type(i).__name__ for i in items] == ["Row", "Rejected", "Rejected", "Rejected", "Row"]
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert [str(r) for r in rejected] == [
        f"{path}:3: expected 2 fields, got 1",
        f"{path}:4: empty 'id'",
        f"{path}:5: expected 2 fields, got 3",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file: expected a header line"),
        (b"name,x\n", "header has no 'id' column: name,x"),
        (b"id,a,a\n", "header repeats the column 'a'"),
        (b"id,\xff\n1,2\n", "not UTF-8"),
    ],
)
def test_unreadable_files(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        list(read_rows(write(tmp_path, data)))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="file not found"):
        list(read_rows(tmp_path / "none.csv"))


def test_batched() -> None:
    assert list(batched(iter(range(7)), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batched(iter(range(6)), 3)) == [[0, 1, 2], [3, 4, 5]]
    assert list(batched(iter([]), 3)) == []
    with pytest.raises(ValueError, match="at least 1"):
        list(batched(iter([1]), 0))
