"""Decoding messages into rows: bulk parsing, last version wins, tombstones, dead letters."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import polars as pl

from deltastream.decode import decode
from deltastream.upsert import DELETED


@dataclass
class Msg:
    offset: int
    value: bytes | None
    key: bytes | None = b"k"
    partition: int = 0
    topic: str = "t"


def rows(decoded: pl.DataFrame) -> list[dict[str, object]]:
    return decoded.sort("id").to_dicts()


def test_last_version_of_each_id_wins() -> None:
    messages = [
        Msg(0, b'{"id":"1","a":"x"}'),
        Msg(1, b'{"id":"2","a":"y"}'),
        Msg(2, b'{"id":"1","a":"z"}'),
    ]
    result = decode(messages, "id")
    assert rows(result.rows) == [
        {"id": "1", "a": "z", DELETED: False},
        {"id": "2", "a": "y", DELETED: False},
    ]
    assert result.dead == []


def test_numbers_booleans_nested_and_null_become_strings_or_null() -> None:
    value = b'{"id":7,"n":1.5,"b":true,"o":{"k":[1,2]},"z":null,"s":"t"}'
    expected = {
        "id": "7",
        "n": "1.5",
        "b": "true",
        "o": '{"k": [1, 2]}',
        "z": None,
        "s": "t",
        DELETED: False,
    }
    fast = decode([Msg(0, value)], "id")
    slow = decode([Msg(0, value), Msg(1, b"5")], "id")  # a bad message forces one-by-one parsing
    assert rows(fast.rows) == [expected]
    assert rows(slow.rows) == [expected]
    assert [d.offset for d in slow.dead] == [1]


def test_integers_and_booleans_are_cast_in_the_single_parse() -> None:
    messages = [Msg(0, b'{"id":7,"b":true,"z":null}'), Msg(1, b'{"id":"8","b":false,"s":"t"}')]
    assert rows(decode(messages, "id").rows) == [
        {"id": "7", "b": "true", "z": None, "s": None, DELETED: False},
        {"id": "8", "b": "false", "z": None, "s": "t", DELETED: False},
    ]


def test_tombstone_deletes_and_order_is_kept() -> None:
    messages = [
        Msg(0, b'{"id":"1","a":"x"}', key=b"1"),
        Msg(1, None, key=b"1"),
        Msg(2, None, key=b"2"),
        Msg(3, b'{"id":"2","a":"back"}', key=b"2"),
    ]
    result = decode(messages, "id")
    assert rows(result.rows) == [
        {"id": "1", "a": None, DELETED: True},
        {"id": "2", "a": "back", DELETED: False},
    ]
    assert (result.upserts, result.deletes) == (1, 1)


def test_bad_messages_become_dead_letters_and_good_ones_stay() -> None:
    messages = [
        Msg(0, b'{"id":"1","a":"x"}'),
        Msg(1, b"\xff\xfe"),
        Msg(2, b"{not json"),
        Msg(3, b"[1, 2]"),
        Msg(4, b'{"a":"no id"}'),
        Msg(5, b'{"id":"","a":"empty"}'),
        Msg(6, b'{"id":null}'),
        Msg(7, b""),
        Msg(8, b'{"id":"9","bad name":"x"}'),
        Msg(9, None, key=None),
        Msg(10, b'{\n "id": "3"\n}'),
    ]
    result = decode(messages, "id")
    assert rows(result.rows) == [
        {"id": "1", "a": "x", DELETED: False},
        {"id": "3", "a": None, DELETED: False},
    ]
    errors = {d.offset: d.error for d in result.dead}
    assert sorted(errors) == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert errors[1].startswith("value is not UTF-8")
    assert errors[2].startswith("value is not JSON")
    assert errors[3] == "value is a JSON array, expected an object"
    assert errors[4] == "no 'id' field"
    assert errors[5] == errors[6] == "'id' is null or empty"
    assert errors[8] == "field name 'bad name' cannot be a column"
    assert errors[9].startswith("tombstone without a key")
    binary = next(d for d in result.dead if d.offset == 1)
    assert binary.value_encoding == "base64"
    assert base64.b64decode(binary.value or "") == b"\xff\xfe"


def test_unwritten_keeps_only_offsets_above_the_stored_one() -> None:
    from deltastream import offsets

    parts = {0: [Msg(o, b"{}", partition=0) for o in range(5, 10)], 1: [Msg(3, b"{}", partition=1)]}
    fresh = offsets.unwritten(parts, {0: 7, 1: 3})
    assert {p: [m.offset for m in ms] for p, ms in fresh.items()} == {0: [8, 9]}
    assert offsets.spans(fresh) == {0: (8, 9)}
    assert offsets.last_offsets(parts) == {0: 9, 1: 3}
    assert offsets.unwritten(parts, {}) == parts
