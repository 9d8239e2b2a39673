"""Decoding messages into rows: the value rules, one message one row, identity, dead letters."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterable, Sequence

import polars as pl
import pytest

from deltastream.kafka.message import Message
from deltastream.subscribe.formats.json import _bulk, name_problem
from deltastream.subscribe.formats.json import decode as decode_all
from deltastream.subscribe.rows import DELETED, Decoded, deletes, latest

from ..fakes import FakeMessage


def decode(messages: Sequence[Message], id_column: str, columns: Iterable[str] = ()) -> Decoded:
    """The rows the sink would write from one batch: the last version of each id."""
    decoded = decode_all(messages, id_column, columns)
    return Decoded(latest(decoded.rows, id_column), decoded.dead)


def msg(offset: int, value: bytes | None, key: bytes | None = None, partition: int = 0) -> FakeMessage:
    return FakeMessage(offset, value, key, partition)


def rows(frame: pl.DataFrame) -> list[dict[str, object]]:
    return frame.sort("id").to_dicts()


def only_row(value: bytes, *neighbours: bytes) -> dict[str, object]:
    """The row ``value`` becomes, in a batch after ``neighbours`` (which use other ids)."""
    batch = [msg(i, v) for i, v in enumerate(neighbours)] + [msg(len(neighbours), value)]
    result = decode(batch, "id")
    mine = json.loads(value)["id"] if value.startswith(b"{") else None
    found = [r for r in result.rows.to_dicts() if r["id"] == str(mine) or r["id"] == json.dumps(mine)]
    assert len(found) == 1, (value, result.rows, result.dead)
    row = {k: v for k, v in found[0].items() if v is not None and k != DELETED}
    return row


def test_last_version_of_each_id_wins() -> None:
    messages = [
        msg(0, b'{"id":"1","a":"x"}'),
        msg(1, b'{"id":"2","a":"y"}'),
        msg(2, b'{"id":"1","a":"z"}'),
    ]
    result = decode(messages, "id")
    assert rows(result.rows) == [
        {"id": "1", "a": "z", DELETED: False},
        {"id": "2", "a": "y", DELETED: False},
    ]
    assert result.dead == []


# The README's value table: each JSON value and the text it is stored as.
VALUES = [
    ('"text"', "text"),
    ('"é and 李"', "é and 李"),
    (r'"tab\tquote\"slash\/"', 'tab\tquote"slash/'),
    ("3", "3"),
    ("5.0", "5.0"),
    ("-0", "-0"),
    ("1e3", "1e3"),
    ("1.50", "1.50"),
    ("123456789012345678901234567890", "123456789012345678901234567890"),
    ("true", "true"),
    ("false", "false"),
    ('{"k": [1, 2.50, "é"], "z": null}', '{"k":[1,2.50,"é"],"z":null}'),
    ("[ ]", "[]"),
    ('[{"b":1,"a":2}]', '[{"b":1,"a":2}]'),
]


@pytest.mark.parametrize(("json_value", "stored"), VALUES)
def test_each_kind_of_value_is_stored_as_the_readme_says(json_value: str, stored: str) -> None:
    value = f'{{"id":"7","v":{json_value}}}'.encode()
    assert only_row(value) == {"id": "7", "v": stored}


def test_null_is_stored_as_null() -> None:
    result = decode([msg(0, b'{"id":"7","v":null}')], "id")
    assert result.rows.to_dicts() == [{"id": "7", "v": None, DELETED: False}]


NEIGHBOURS = [
    b"not json",  # a malformed message forces the exact parse of the batch
    b'{"id":"n1","x":1.5}',  # a number
    b'{"id":"n2","x":{"y":[1]}}',  # a nested value
    b'{"id":"n3","x":"plain"}',  # only strings: the bulk parse
    b'{"id":"n4","v":"a","v":"b"}',  # a duplicate field
]
MESSAGES = [
    b'{"id":5.0,"v":"x"}',
    b'{"id":"5","v":1e3}',
    '{"id":"6","v":{"k":[1,2.50]},"w":"é"}'.encode(),
    b'{"id":"8","v":"a \\"quoted\\" word","w":"a/b"}',
    b'{"id":"9","v":"\\u00e9t\\u00e9 \\ud83d\\ude00"}',
    b'{"id":"10","a":"1","b":"2","c":null}',
    b'{ "id" : "11" , "v" : "spaced" }',
]


@pytest.mark.parametrize("value", MESSAGES)
def test_a_message_becomes_the_same_row_whatever_else_is_in_its_batch(value: bytes) -> None:
    alone = only_row(value)
    for neighbour in NEIGHBOURS:
        assert only_row(value, neighbour) == alone, neighbour
    assert only_row(value, *NEIGHBOURS) == alone


def random_text(rng: random.Random) -> str:
    alphabet = ["a", "Z", "0", " ", '"', "\\", "/", "\n", "\t", "é", "李", "😀", "\u2028", ":", ",", "{", "}"]
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))


def test_bulk_and_exact_parses_agree_on_random_string_records() -> None:
    """Batches of flat string records (the bulk parse) against the same messages beside a
    malformed one (the exact parse), over random text with every kind of escape."""
    rng = random.Random(20261122)
    for _ in range(200):
        batch = []
        for i in range(rng.randint(1, 8)):
            fields = {"id": f"id-{i}"}
            for _ in range(rng.randint(0, 4)):
                fields[rng.choice(["a", "b", "name", "city"])] = random_text(rng)
            ascii_only = rng.random() < 0.5
            batch.append(msg(i, json.dumps(fields, ensure_ascii=ascii_only).encode()))
        bulk = decode(batch, "id")
        exact = decode([*batch, msg(99, b"{oops")], "id")
        assert bulk.dead == []
        assert rows(bulk.rows) == rows(exact.rows.select(bulk.rows.columns))


@pytest.mark.parametrize("at", [0, 99, 100, 150])
def test_a_name_first_seen_late_in_a_batch_is_read_in_bulk_as_exactly(at: int) -> None:
    """The bulk parse reads the names of the batch's first lines, and again from every line when
    a later one brings another name, or a value where the first lines had only nulls."""
    batch = [msg(i, json.dumps({"id": str(i), "b": "x"}).encode()) for i in range(200)]
    batch[at] = msg(at, json.dumps({"id": str(at), "a": "late", "c": "new"}).encode())
    assert _bulk([m.value for m in batch if m.value], "id", {}) is not None  # in bulk, not the exact way
    bulk = decode(batch, "id")
    exact = decode([*batch, msg(999, b"{oops")], "id")
    assert bulk.dead == [] and bulk.rows.height == 200
    assert set(bulk.rows.columns) >= {"id", "a", "b", "c"}
    assert rows(bulk.rows) == rows(exact.rows.select(bulk.rows.columns))
    assert bulk.rows.filter(pl.col("id") == str(at)).select("a", "b", "c").rows() == [("late", None, "new")]


def random_object(rng: random.Random, ident: str) -> bytes:
    """JSON text written by hand: names repeated or not, spaces around colons, escaped quotes
    before colons, nulls, numbers, nested values, escapes of every kind."""
    fields = [("id", json.dumps(ident))]
    for _ in range(rng.randint(0, 5)):
        name = rng.choice(["a", "b", "city", "id2"])
        value = rng.choice(
            [
                json.dumps(random_text(rng), ensure_ascii=rng.random() < 0.3),
                '"x\\":5"',
                '"\\"',
                '"a\\": \\"b"',
                "null",
                "5.0",
                "-0",
                '{"k":"v"}',
                '["x"]',
                "true",
            ]
        )
        fields.append((name, value))
    colon = rng.choice([":", ": ", " :", ":\t"])
    body = ",".join(f'"{name}"{colon}{value}' for name, value in fields)
    return ("{" + body + "}").encode()


def test_bulk_and_exact_parses_agree_on_adversarial_json() -> None:
    """Whatever a batch holds, each message gets the row (or dead letter) it gets on its own."""
    rng = random.Random(7)
    for _ in range(100):
        batch = [msg(i, random_object(rng, f"id-{i}")) for i in range(rng.randint(1, 6))]
        together = decode(batch, "id")
        for m in batch:
            alone = decode([m], "id")
            mine = together.rows.filter(pl.col("id") == m.value.decode().split('"')[3] if m.value else "")
            if alone.dead:
                assert [d.error for d in together.dead if d.offset == m.offset] == [alone.dead[0].error]
                assert mine.height == 0
            else:
                expected = {k: v for k, v in alone.rows.to_dicts()[0].items() if v is not None}
                got = {k: v for k, v in mine.to_dicts()[0].items() if v is not None}
                assert got == expected, m.value


HOSTILE_NAMES = [
    ("a b", "has a character Delta column names cannot hold"),
    ("a,b", "has a character"),
    ("a;b", "has a character"),
    ("a{b}", "has a character"),
    ("a(b)", "has a character"),
    ("a=b", "has a character"),
    ("a\nb", "has a character"),
    ("a\tb", "has a character"),
    ("a\u0000b", "has a character"),
    ("a\u0001b", "has a character"),
    ("a\u007fb", "has a character"),
    ("a\u0085b", "has a character"),
    ("", "an empty field name"),
    ("__deleted", "starts with '__'"),
    ("__x", "starts with '__'"),
    ("*", "reads as a column pattern"),
    ("^id$", "reads as a column pattern"),
]


@pytest.mark.parametrize(("name", "reason"), HOSTILE_NAMES)
def test_hostile_field_names_are_dead_letters_and_their_neighbours_land(name: str, reason: str) -> None:
    bad = json.dumps({"id": "2", name: "x"}).encode()
    result = decode([msg(0, b'{"id":"1"}'), msg(1, bad), msg(2, b'{"id":"3"}')], "id")
    assert [d.offset for d in result.dead] == [1]
    assert reason in result.dead[0].error
    assert sorted(result.rows["id"].to_list()) == ["1", "3"]


@pytest.mark.parametrize(
    "name",
    [
        "a.b",
        "a`b",
        "`",
        'a"b',
        "a'b",
        "a\\b",
        "a/b",
        "a:b",
        "a-b",
        "1st",
        "123",
        "é",
        "李",
        "😀",
        "s",
        "t",
        "select",
        "s.id",
        "a\u200bb",
        "a\u00a0b",
        "x" * 1000,
        "a*b",
        "^a",
    ],
)
def test_names_delta_and_the_merge_can_hold_are_kept(name: str) -> None:
    assert name_problem(name) is None
    result = decode([msg(0, json.dumps({"id": "1", name: "x"}).encode())], "id")
    assert result.dead == []
    assert result.rows[name].to_list() == ["x"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b'{"id":"1","a":"x","a":"y"}', "field 'a' appears twice"),
        (b'{"id":"1","name":"x","Name":"y"}', "fields 'name' and 'Name' differ only in case"),
        (b'{"id":"1","ID":"2"}', "fields 'id' and 'ID' differ only in case"),
        (b'{"id":"1","a":"\\ud800"}', "not valid Unicode"),
        (b'{"id":"1","a":{"b":"\\udc00"}}', "not valid Unicode"),
        (b'{"id":"1","a":NaN}', "value is not JSON"),
        (b'{"id":"1","a":Infinity}', "value is not JSON"),
        (b'{"id":"1","a":"x\ty"}', "value is not JSON"),
        (b'\xef\xbb\xbf{"id":"1"}', "value is not JSON"),
        (b'{"id":"1"} {"id":"2"}', "value is not JSON"),
        (b'{"id":true}', "'id' is a JSON boolean; expected a string or a number"),
        (b'{"id":{"k":1}}', "'id' is a JSON object"),
        (b'{"id":[1]}', "'id' is a JSON array"),
        (b'{"id":null}', "'id' is a JSON null"),
        (b'{"id":" "}', "'id' is empty"),
        (b'{"a":"x"}', "no 'id' field"),
        (b"[1, 2]", "value is a JSON array, expected an object"),
        (b'"text"', "value is a JSON string, expected an object"),
        (b"42", "value is a JSON number, expected an object"),
        (b"null", "value is a JSON null, expected an object"),
        (b"\xff\xfe", "value is not UTF-8"),
        (b"", "value is not JSON"),
    ],
)
def test_values_that_cannot_be_rows_are_dead_letters_with_their_reason(value: bytes, reason: str) -> None:
    result = decode([msg(0, b'{"id":"0"}'), msg(1, value), msg(2, b'{"id":"2","a":"b"}')], "id")
    assert [d.offset for d in result.dead] == [1]
    assert reason in result.dead[0].error, result.dead[0].error
    assert sorted(result.rows["id"].to_list()) == ["0", "2"]


def test_a_field_that_differs_only_in_case_from_a_column_is_refused() -> None:
    batch = [
        msg(0, b'{"id":"1","Name":"x"}'),
        msg(1, b'{"id":"2","name":"y"}'),
        msg(2, b'{"id":"3","city":"z"}'),
    ]
    result = decode(batch, "id", columns=["id", "name"])
    assert [(d.offset, d.error) for d in result.dead] == [
        (0, "field 'Name' differs only in case from the column 'name'")
    ]
    assert sorted(result.rows["id"].to_list()) == ["2", "3"]


def test_within_a_batch_the_first_spelling_of_a_new_field_wins() -> None:
    batch = [msg(0, b'{"id":"1","City":"x"}'), msg(1, b'{"id":"2","city":"y"}')]
    result = decode(batch, "id", columns=["id"])
    assert [d.offset for d in result.dead] == [1]
    assert result.rows.columns == ["id", "City", DELETED]


def test_the_key_and_the_id_name_one_record() -> None:
    batch = [
        msg(0, b'{"id":"1","v":"a"}', key=b"1"),  # agree
        msg(1, b'{"id":"V1","v":"b"}', key=b"K1"),  # disagree
        msg(2, b'{"id":"3","v":"c"}', key=None),  # no key: the id names it
        msg(3, b'{"id":"4","v":"d"}', key=b""),  # an empty key counts as none
        msg(4, b'{"id":"5","v":"e"}', key=b"\xff"),  # a key that is not text
        msg(5, b'{"id":5.0,"v":"f"}', key=b"5"),  # the id's text is 5.0, not 5
    ]
    result = decode(batch, "id")
    assert sorted(result.rows["id"].to_list()) == ["1", "3", "4"]
    errors = {d.offset: d.error for d in result.dead}
    assert errors == {
        1: "key 'K1' and id 'V1' disagree: the key must be the id",
        4: "key is not UTF-8, so it cannot name the record with id '5'",
        5: "key '5' and id '5.0' disagree: the key must be the id",
    }


def test_a_10_kb_id_works_as_key_and_as_value() -> None:
    big = "x" * 10_000
    result = decode([msg(0, json.dumps({"id": big, "v": "a"}).encode(), key=big.encode())], "id")
    assert result.dead == []
    assert result.rows["id"].to_list() == [big]


def test_tombstone_deletes_and_order_is_kept() -> None:
    messages = [
        msg(0, b'{"id":"1","a":"x"}', key=b"1"),
        msg(1, None, key=b"1"),
        msg(2, None, key=b"2"),
        msg(3, b'{"id":"2","a":"back"}', key=b"2"),
    ]
    result = decode(messages, "id")
    assert rows(result.rows) == [
        {"id": "1", "a": None, DELETED: True},
        {"id": "2", "a": "back", DELETED: False},
    ]
    assert (result.rows.height - deletes(result.rows), deletes(result.rows)) == (1, 1)


def test_bad_tombstones_are_dead_letters() -> None:
    result = decode([msg(0, None, key=None), msg(1, None, key=b""), msg(2, None, key=b"\xff")], "id")
    assert result.rows.height == 0
    errors = [d.error for d in result.dead]
    assert errors[:2] == ["tombstone without a key: nothing to delete"] * 2
    assert errors[2] == "tombstone key is not UTF-8"
    binary = result.dead[2]
    assert binary.key is not None and base64.b64decode(binary.key) == b"\xff"


def test_a_dead_letter_keeps_the_raw_value() -> None:
    result = decode([msg(3, b"\xff\xfe", key=b"k")], "id")
    (dead,) = result.dead
    assert (dead.offset, dead.key, dead.value_encoding) == (3, "k", "base64")
    assert base64.b64decode(dead.value or "") == b"\xff\xfe"


def test_the_publishers_messages_take_the_bulk_way() -> None:
    """publisher.py's compact objects of strings (and Python's default spacing) are read in bulk;
    everything the tests above send through the exact way still gives the same rows."""
    from deltastream.subscribe.formats.json import _bulk

    compact = [
        msg(i, json.dumps({"id": str(i), "a": "x, y: z"}, separators=(",", ":")).encode()) for i in range(5)
    ]
    spaced = [msg(i, json.dumps({"id": str(i), "note": "é"}, ensure_ascii=False).encode()) for i in range(5)]
    assert _bulk([m.value for m in compact if m.value], "id", {}) is not None
    assert _bulk([m.value for m in spaced if m.value], "id", {}) is not None
    assert _bulk([b'{"id":"1","n":5}'], "id", {}) is None
    assert _bulk([b'{"id":"1","a":"x","a":"y"}'], "id", {}) is None
