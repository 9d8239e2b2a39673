"""Reading CSV files: every bad record is rejected with its exact line and the rest still read;
only a file that cannot be read at all is an error."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from deltastream.errors import SourceError
from deltastream.publish.source import Rejected, Row, inside_quotes, problem, read_rows


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    return path


def described(items: list[Row | Rejected]) -> list[str]:
    """Rows as ``line:id``, rejections as ``line: reason``."""
    return [f"{i.line}:{i.key}" if isinstance(i, Row) else f"{i.line}: {i.reason}" for i in items]


def test_bom_crlf_quotes_and_non_ascii(tmp_path: Path) -> None:
    data = '\ufeffid,name,note\r\n1,"Zoë O\'Brien","a, b"\r\n2,"multi\r\nline",""\r\n'.encode()
    rows = list(read_rows(write(tmp_path, data)))
    assert rows == [
        Row(2, "1", {"id": "1", "name": "Zoë O'Brien", "note": "a, b"}, 2),
        Row(3, "2", {"id": "2", "name": "multi\r\nline", "note": ""}, 4),
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


LIMIT = csv.field_size_limit()
TOO_LONG = f"a field longer than {LIMIT:,} characters (csv.field_size_limit)"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # One over-long field: only its row is rejected; the rows before and after it are read.
        (b"id,v\n1,a\n2," + b"x" * (LIMIT + 1) + b"\n3,b\n", ["2:1", f"3: {TOO_LONG}", "4:3"]),
        # ... also inside a quoted field spanning lines: reading goes on after the quote closes.
        (
            b'id,v\n1,a\n2,"' + b"y" * (LIMIT + 1) + b'\nmore\nend",z\n3,b\n',
            ["2:1", f"3: {TOO_LONG} (the record's lines 3 to 5)", "6:3"],
        ),
        # A byte that is not UTF-8 is reported on its own line, with its column.
        (
            b"id,v\n1,a\n2,caf\xe9\n3,b\n",
            ["2:1", "3: not UTF-8: byte 0xe9 at column 6; save the file as UTF-8", "4:3"],
        ),
        (
            b"id,v\n" + b"".join(b"%d,x\n" % i for i in range(1, 500)) + b"500,\xff\n501,y\n",
            [
                *(f"{i + 1}:{i}" for i in range(1, 500)),
                "501: not UTF-8: byte 0xff at column 5; save the file as UTF-8",
                "502:501",
            ],
        ),
        # ... inside a multi-line quoted field: the line of the byte, not the record's first.
        (
            b'id,v\n1,a\n2,"ok\ncaf\xe9"\n3,b\n',
            ["2:1", "4: not UTF-8: byte 0xe9 at column 4; save the file as UTF-8", "5:3"],
        ),
        # A quote that never closes swallows the rest of the file: rejected, not sent as a value.
        (
            b'id,v\n1,a\n2,"abc\n3,b\n',
            ["2:1", "3: a quote that is never closed: the record runs to the end of the file (line 4)"],
        ),
        # A lone \r ends a line, as in old Mac files; a quote inside an unquoted field is text.
        (b"id,v\r1,a\r2,b\r", ["2:1", "3:2"]),
        (b'id,v\n1,5" screen\n2,b\n', ["2:1", "3:2"]),
        (b"id,v\n1,a", ["2:1"]),
        (b"id,v\n1,a\x00b\n", ["2:1"]),
    ],
    ids=[
        "long-field",
        "long-quoted-field",
        "latin-1",
        "latin-1-far-down",
        "latin-1-in-quotes",
        "unclosed-quote",
        "cr-lines",
        "stray-quote",
        "no-final-newline",
        "nul",
    ],
)
def test_one_bad_record_never_stops_the_file(tmp_path: Path, data: bytes, expected: list[str]) -> None:
    assert described(list(read_rows(write(tmp_path, data)))) == expected


def test_a_value_with_a_lone_cr_inside_quotes_keeps_it(tmp_path: Path) -> None:
    rows = list(read_rows(write(tmp_path, b'id,v\n1,"a\rb"\n2,c\n')))
    assert rows == [Row(2, "1", {"id": "1", "v": "a\rb"}, 3), Row(4, "2", {"id": "2", "v": "c"}, 4)]


@pytest.mark.parametrize(
    ("lines", "inside"),
    [
        (['1,"a\n'], True),
        (['1,"a""b\n'], True),
        (['1,"a""b"\n'], False),
        (['1,"a\n', 'b",c\n'], False),
        (['1,a"b\n'], False),
        (['"x",",""",\n'], False),
        (['"x","\n'], True),
    ],
)
def test_quote_tracking_agrees_with_the_csv_module(lines: list[str], inside: bool) -> None:
    assert inside_quotes(lines) is inside
    if not inside:
        assert len(list(csv.reader(lines))) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file: expected a header line"),
        (b"name,x\n", "header has no 'id' column: 'name,x'"),
        (b"id,a,a\n", "header repeats the column 'a'"),
        (b"id,,a\n", "header has an empty column name"),
        (b"id,\xff\n1,2\n", "line 1: header: not UTF-8: byte 0xff at column 4; save the file as UTF-8"),
        (
            "id,v\n1,a\n".encode("utf-16"),
            "line 1: header: not UTF-8 but UTF-16 (it starts with a UTF-16 byte-order mark); "
            "save the file as UTF-8",
        ),
        (
            b"id," + b"h" * (LIMIT + 1) + b"\n",
            f"line 1: header: {TOO_LONG}",
        ),
        (
            b"n" * 200 + b"\n",
            "header has no 'id' column: '" + "n" * 77 + "...'",
        ),
    ],
    ids=["empty", "no-id", "repeated", "empty-name", "latin-1", "utf-16", "long", "long-shown-short"],
)
def test_unreadable_files(tmp_path: Path, data: bytes, message: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(SourceError) as info:
        list(read_rows(path))
    assert str(info.value) == f"{path}: {message}"


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def loop(path: Path) -> Path:
    path.symlink_to(path)
    return path


def dangling(path: Path) -> Path:
    path.symlink_to(path.parent / "nowhere.csv")
    return path


def directory(path: Path) -> Path:
    path.mkdir()
    return path


def under_a_file(path: Path) -> Path:
    path.parent.joinpath("file").write_text("x")
    return path.parent / "file" / path.name


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, "file not found"),
        (lambda p: p.parent / "nodir" / p.name, "file not found (the directory {parent} does not exist)"),
        (directory, "a directory, not a CSV file"),
        (loop, "a symbolic link loop, not a CSV file"),
        (dangling, "a symbolic link to nothing ({parent}/nowhere.csv)"),
        (fifo, "a named pipe (FIFO), not a CSV file"),
        (lambda p: Path("/dev/null"), "a device, not a CSV file"),
        (under_a_file, "not found: a part of its path is a file, not a directory"),
    ],
    ids=["missing", "no-directory", "directory", "loop", "dangling", "fifo", "device", "under-a-file"],
)
def test_what_is_in_place_of_a_csv_file_is_named(tmp_path: Path, make: object, message: str) -> None:
    path = make(tmp_path / "t.csv")  # type: ignore[operator]
    expected = message.format(parent=path.parent)
    assert problem(path) == expected
    with pytest.raises(SourceError) as info:
        list(read_rows(path))
    assert str(info.value) == f"{path}: {expected}"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file whatever its mode")
def test_a_file_without_read_permission(tmp_path: Path) -> None:
    path = write(tmp_path, b"id\n1\n")
    path.chmod(0)
    with pytest.raises(SourceError) as info:
        list(read_rows(path))
    assert str(info.value) == f"{path}: cannot be read (permission denied)"


def test_a_read_error_names_the_line(tmp_path: Path) -> None:
    """/proc/self/mem opens, even as root, and fails on the first read (EIO): a stand-in for a
    failing disk."""
    path = tmp_path / "t.csv"
    path.symlink_to("/proc/self/mem")
    with pytest.raises(SourceError) as info:
        list(read_rows(path))
    assert str(info.value) == f"{path}: read error at line 1 (Input/output error)"


def test_a_missing_file_names_the_files_close_to_it(tmp_path: Path) -> None:
    (tmp_path / "sale.csv").write_text("id\n1\n", encoding="utf-8")
    (tmp_path / "client.csv").write_text("id\n1\n", encoding="utf-8")
    assert problem(tmp_path / "sael.csv") == (
        "file not found; there is sale.csv (is the topic misspelled in [general] topics?)"
    )
    assert problem(tmp_path / "orders.csv") == "file not found"  # nothing close
    (tmp_path / "last-1003d32a.csv").write_text("id\n1\n", encoding="utf-8")
    assert problem(tmp_path / "bad-1003d32a.csv") == "file not found"  # three letters: another name
