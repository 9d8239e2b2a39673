"""The one-pass reader gives what the exact reader and the row encoder give, or leaves the file
to the exact reader: the same keys, message values and line numbers, whatever the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltastream.publish import bulk
from deltastream.publish.encoders import JsonObjects
from deltastream.publish.source import Row, read_rows

#: Files the one-pass reader reads.
READ = {
    "plain": b"id,name,city\n1,Ana,Lisbon\n2,Rui,Porto\n",
    "no last line end": b"id,name\n1,Ana\n2,Rui",
    "crlf": b"id,name\r\n1,Ana\r\n2,Rui\r\n",
    "bom": b"\xef\xbb\xbfid,name\n1,Ana\n",
    "padded names": b" id , name \n1,Ana\n",
    "empty fields": b"id,a,b\n1,,\n2,x,\n",
    "spaces kept": b"id,name\n 1 , Ana \n",
    "only ids": b"id\n1\n2\n",
    "non-ascii and escapes": "id,v\n1,Zoë \\ tab\t東京 🎉\n2,back\\slash\x01\n".encode(),
    "id not first": b"name,id\nAna,7\nRui,8\n",
}

#: Files the exact reader must read (each for one reason).
LEFT = {
    "quotes": b'id,name\n1,"Ana, Lda"\n',
    "a lone carriage return": b"id,name\n1,A\rna\n",
    "a blank line": b"id,name\n1,Ana\n\n2,Rui\n",
    "too few fields": b"id,name\n1\n",
    "too many fields": b"id,name\n1,Ana,x\n",
    "not utf-8": b"id,name\n1,\xff\n",
    "an empty id": b"id,name\n ,Ana\n",
    "an id of white space only to Python": b"id,name\n\x1c,Ana\n",
    "no id column": b"key,name\n1,Ana\n",
    "a repeated column": b"id,id\n1,2\n",
    "a nul": b"id,name\n1,A\x00na\n",
    "header only": b"id,name\n",
    "empty": b"",
}


def exact(path: Path) -> list[tuple[int, str, bytes]]:
    rows = [item for item in read_rows(path) if isinstance(item, Row)]
    objects = JsonObjects(rows[0].values)
    return [(row.line, row.key, objects.encode(row.values)) for row in rows]


@pytest.mark.parametrize("name", READ)
def test_a_plain_file_is_read_in_one_pass_as_the_exact_reader_reads_it(tmp_path: Path, name: str) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(READ[name])
    read = bulk.read(path)
    assert read is not None
    assert [(e.line, e.key, e.value) for e in read] == exact(path)


@pytest.mark.parametrize("name", LEFT)
def test_anything_else_is_left_to_the_exact_reader(tmp_path: Path, name: str) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(LEFT[name])
    assert bulk.read(path) is None


def test_a_file_over_the_size_limit_is_left_to_the_exact_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(READ["plain"])
    monkeypatch.setattr(bulk, "MAX_BYTES", len(READ["plain"]) - 1)
    assert bulk.read(path) is None
