"""A row's message value: the same bytes as json.dumps gives, compact, non-ASCII text as UTF-8."""

from __future__ import annotations

import json

import pytest

from deltastream.publish.encoders import JsonObjects

VALUES = [
    "",
    "plain",
    'a "quoted" word',
    "back\\slash",
    "tab\there, newline\nthere, return\r",
    "\x00\x01\x1f\x7f",
    "Zoë, 東京, emoji 🎉",
    "\u2028\u2029",
    "ünïcödé \ud7ff",
]


@pytest.mark.parametrize("value", VALUES)
def test_a_row_encodes_as_json_dumps_does(value: str) -> None:
    row = {"id": "1", 'näme "x"': value, "v": value[::-1]}
    expected = json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode()
    assert JsonObjects(row).encode(row) == expected
    assert json.loads(expected) == row


def test_the_names_are_encoded_once_for_every_row_of_a_file() -> None:
    objects = JsonObjects(["id", "city"])
    assert objects.encode({"id": "1", "city": "Lisbon"}) == b'{"id":"1","city":"Lisbon"}'
    assert objects.encode({"id": "2", "city": "Porto"}) == b'{"id":"2","city":"Porto"}'
