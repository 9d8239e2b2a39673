"""Config values: each converter checks one raw TOML value and returns it typed.

A converter takes the raw value and the folder relative paths are relative to, and raises
:class:`Invalid` saying what was expected. Nothing here imports a third-party package.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

#: The subscriber's dead-letter table, a directory beside the topics' tables.
DEAD_LETTERS = "_dead_letters"
#: The folder of the tombstone tables of topics read with ``sequence_by``, beside the topics' tables.
TOMBSTONES = "_tombstones"
REQUIRED: Any = dataclasses.MISSING
#: What checks a key's raw value and returns it typed.
Converter = Callable[[Any, Path], Any]
TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: Values longer than this are shortened in messages.
SHOWN_CHARS = 80


class Invalid(ValueError):
    """Raised by a converter; its message says what was expected.

    ``shown`` is the part of the value to show (an item of a list), when not the whole value.
    """

    def __init__(self, expected: str, shown: Any = REQUIRED) -> None:
        super().__init__(expected)
        self.shown = shown


class Shown:
    """A value as a message shows it: its repr, shortened; or only its type, for a secret."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    @classmethod
    def of(cls, value: Any) -> Any:
        """``value`` itself when its repr is short, else a shortened stand-in."""
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**SHOWN_CHARS:
            return cls(f"an integer of {len(str(abs(value)))} digits")
        text = repr(value)
        if len(text) <= SHOWN_CHARS:
            return value
        return cls(f"{text[: SHOWN_CHARS - 5]}...{text[-1]} ({len(text):,} characters)")

    @classmethod
    def kind(cls, value: Any) -> Shown:
        """Only what kind of value it is: for secrets."""
        return cls(f"{kind(value)} (the value is not shown)")


def kind(value: Any) -> str:
    """What a TOML value is, in words: 'a string', 'an integer', 'a table', ..."""
    kinds = [
        (bool, "a boolean"),
        (int, "an integer"),
        (float, "a number"),
        (str, "a string"),
        (list, "a list"),
        (dict, "a table"),
    ]
    for cls, name in kinds:
        if isinstance(value, cls):
            return name
    return f"a {type(value).__name__}"


def integer(low: int, high: int | None = None) -> Converter:
    def convert(value: Any, _base: Path) -> int:
        bound = f">= {low}" if high is None else f"between {low} and {high}"
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"an integer {bound}")
        if value < low or (high is not None and value > high):
            raise Invalid(f"an integer {bound}")
        return value

    return convert


def number(low: float, high: float, unit: str = "") -> Converter:
    """A finite number (an integer or a float) between ``low`` and ``high``; never NaN or inf."""

    def convert(value: Any, _base: Path) -> float:
        expected = f"a number{unit} between {low:g} and {high:g}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid(expected)
        if not math.isfinite(value) or not low <= value <= high:
            raise Invalid(expected)
        return float(value)

    return convert


def rate(value: Any, _base: Path) -> float:
    """Rows per second: 0 for no limit, else at least one row per 100 s."""
    expected = "0 (no limit) or a number of rows per second between 0.01 and 1000000"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Invalid(expected)
    if value != 0 and not 0.01 <= value <= 1_000_000:
        raise Invalid(expected)
    return float(value)


def text(pattern: re.Pattern[str] | None = None, what: str = "a non-empty string") -> Converter:
    """A string; with ``pattern``, one the pattern matches in full. Control characters (a
    newline, a tab, NUL) are never accepted."""

    def convert(value: Any, _base: Path) -> str:
        if not isinstance(value, str) or not value.strip():
            raise Invalid(what)
        if pattern is not None and not pattern.fullmatch(value):
            raise Invalid(what)
        if CONTROL.search(value):
            raise Invalid(f"{what} without control characters (newline, tab, NUL)")
        return value

    return convert


def column(value: Any, base: Path) -> str:
    """The id column: a plain identifier (it is quoted in MERGE predicates anyway)."""
    name: str = text(COLUMN_NAME, "a column name (a letter or '_', then letters, digits, '_')")(value, base)
    if name.startswith("__"):
        raise Invalid(
            "a column name that does not start with '__' (reserved for the subscriber's own columns)"
        )
    return name


class Secret:
    """A value that is never shown: its repr and str are masked; ``get()`` returns it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def secret(value: Any, _base: Path) -> Secret:
    if not isinstance(value, str) or not value:
        raise Invalid("a non-empty string")
    return Secret(value)


secret.hides_value = True  # type: ignore[attr-defined]  # a config error never echoes it


#: Parts of a storage option's name that mark its value as a secret.
SECRET_OPTION_WORDS = ("SECRET", "TOKEN", "PASSWORD", "SAS", "ACCOUNT_KEY", "PRIVATE_KEY")


def secret_option(name: str) -> bool:
    """Whether the value of storage option ``name`` must never be shown."""
    upper = name.upper()
    return any(word in upper for word in SECRET_OPTION_WORDS)


def storage_options(value: Any, _base: Path) -> Mapping[str, str]:
    """A table of string options passed unchanged to delta-rs (``AWS_REGION = "eu-west-1"``).

    Settings that would make concurrent commits unsafe, or that delta-rs would only refuse at the
    first write, are refused here, each with what to do instead.
    """
    expected = "a table of string keys and string values"
    if not isinstance(value, dict):
        raise Invalid(expected)
    for key, item in value.items():
        if not isinstance(item, str) or not key.strip():
            raise Invalid(expected)
    options = {key.upper(): item for key, item in value.items()}
    if "AWS_S3_LOCKING_PROVIDER" in options:
        raise Invalid(
            "no AWS_S3_LOCKING_PROVIDER: delta-rs commits to S3 with conditional writes, which are "
            "safe for concurrent writers by themselves (remove the key)"
        )
    if options.get("AWS_CONDITIONAL_PUT", "etag").lower() != "etag":
        raise Invalid(
            'AWS_CONDITIONAL_PUT = "etag" (or no such key): without conditional writes two '
            "commits can overwrite each other"
        )
    endpoint = options.get("AWS_ENDPOINT_URL", options.get("AWS_ENDPOINT", ""))
    if endpoint.lower().startswith("http://") and options.get("AWS_ALLOW_HTTP", "").lower() != "true":
        raise Invalid(f'AWS_ALLOW_HTTP = "true" beside the http:// endpoint {endpoint}')
    return MappingProxyType(dict(value))


storage_options.hides_value = True  # type: ignore[attr-defined]  # it may hold keys


def choice(*options: str) -> Converter:
    def convert(value: Any, _base: Path) -> str:
        if value not in options:
            raise Invalid(f"one of {', '.join(options)}")
        return str(value)

    return convert


def level(value: Any, _base: Path) -> int:
    """A logging level: a name (``"INFO"``) or a number from 1 to 50 (``20``, ``"15"``), as
    Python's logging takes them; the article wrote numbers."""
    expected = f"a level name ({', '.join(LEVELS)}) or a number from 1 (most) to 50 (least)"
    if isinstance(value, str):
        name = value.strip().upper()
        if name in LEVELS:
            return int(logging.getLevelName(name))
        if name.isascii() and name.isdigit() and len(name) <= 2:
            value = int(name)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= logging.CRITICAL:
        return value
    raise Invalid(expected)


SERVER = re.compile(r"(?P<host>\[(?P<ipv6>[^\]]*)\]|[A-Za-z0-9_.-]+):(?P<port>[0-9]+)")


def server(item: Any) -> str:
    """One ``host:port``: a host name or IPv4 address, or an IPv6 address in brackets."""
    expected = '"host:port" (a host name, an IPv4 address or an IPv6 address in brackets: "[::1]:9092")'
    if not isinstance(item, str):
        raise Invalid(expected, item)
    found = SERVER.fullmatch(item.strip())
    if found is None:
        raise Invalid(expected, item)
    if found["ipv6"] is not None:
        try:
            ipaddress.IPv6Address(found["ipv6"])
        except ValueError:
            raise Invalid(expected, item) from None
    port = found["port"]
    if len(port) > 5 or not 1 <= int(port) <= 65535:
        raise Invalid('"host:port" with a port between 1 and 65535', item)
    return item.strip()


def servers(value: Any, _base: Path) -> tuple[str, ...]:
    """``"host:port"``, ``"h1:p1,h2:p2"`` or a list of ``"host:port"`` strings."""
    expected = 'a "host:port" string or a list of them'
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not value:
        raise Invalid(expected)
    return tuple(server(item) for item in value)


def topic_name(value: Any) -> str:
    """A valid Kafka topic name; it is also a directory name under delta_path."""
    if not isinstance(value, str) or not TOPIC_NAME.fullmatch(value) or value in (".", ".."):
        raise Invalid(
            "Kafka topic names: letters, digits, '.', '_' and '-', at most 249 characters, not '.' or '..'",
            value,
        )
    if value == DEAD_LETTERS:
        raise Invalid(
            f"a topic name other than {DEAD_LETTERS!r}, which is the subscriber's dead-letter table",
            value,
        )
    if value == TOMBSTONES:
        raise Invalid(
            f"a topic name other than {TOMBSTONES!r}, which is the folder of the subscriber's tombstones",
            value,
        )
    if value.startswith("__"):
        raise Invalid("a topic name that does not start with '__' (Kafka's internal topics)", value)
    return value


def topics(value: Any, _base: Path) -> tuple[str, ...]:
    """A non-empty list of distinct, valid Kafka topic names (also used as table directories)."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not value:
        raise Invalid("a non-empty list of topic names")
    names = tuple(topic_name(item) for item in value)
    seen: dict[str, str] = {}
    for name in names:
        # Kafka refuses a topic whose name differs from another's only by '.' against '_'.
        alike = name.replace(".", "_")
        if alike in seen:
            other = seen[alike]
            why = (
                "" if other == name else f" ({other!r} and {name!r} collide: Kafka takes '.' and '_' as one)"
            )
            raise Invalid(f"a list of distinct topic names{why}", name)
        seen[alike] = name
    return names


def path(value: Any, base: Path) -> Path:
    """A path; relative paths in the file are relative to the file's own directory."""
    if not isinstance(value, str | Path) or not str(value).strip():
        raise Invalid("a path string")
    if "\x00" in str(value):
        raise Invalid("a path without a NUL character")
    try:
        result = Path(value).expanduser()
    except RuntimeError:  # ~user of a user that does not exist, or no home directory
        raise Invalid("a path whose ~ names a home directory that exists") from None
    return result if result.is_absolute() else base / result


#: Default sizes data files aim at, in KB. An upsert rewrites every file holding an id it changes,
#: so smaller files make upserts of a few ids cheaper; on an object store each file costs a request
#: (measured on a local S3 server, 1M rows: 128 KB files made an upsert of the newest 10k ids take
#: 3.4 s and a full scan 0.96 s; 1 MB files 1.0 s and 0.15 s).
LOCAL_FILE_KB = 128
OBJECT_STORE_FILE_KB = 1024

#: Object stores delta-rs reaches by URI (the ones tested here: s3; the others come with it).
OBJECT_STORE_SCHEMES = ("s3", "s3a", "gs", "az", "abfs", "abfss", "adl", "azure")


#: The object stores ``[publisher] raw_path`` may be on (the ones tested).
RAW_SCHEMES = ("s3", "s3a")


def raw_location(value: Any, base: Path) -> Path | str:
    """Where the CSV files are: a directory (relative to the config file's), or an S3 URI."""
    if not (isinstance(value, str) and "://" in value and not value.strip().lower().startswith("file://")):
        return path(value.strip().removeprefix("file://") if isinstance(value, str) else value, base)
    scheme, _, rest = value.strip().partition("://")
    if scheme.lower() not in RAW_SCHEMES or not rest.strip("/"):
        raise Invalid("a directory or an S3 URI (s3://bucket/prefix)")
    return f"{scheme.lower()}://{rest.rstrip('/')}"


def location(value: Any, base: Path) -> str:
    """Where the tables live: a directory (relative to the config file's) or an object-store URI.

    ``file://`` URIs are directories; other schemes must be ones delta-rs can reach.
    """
    expected = f"a directory or an object-store URI ({', '.join(s + '://' for s in OBJECT_STORE_SCHEMES)})"
    if not isinstance(value, str | Path) or not str(value).strip():
        raise Invalid(expected)
    text = str(value).strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        return str(path(text, base))
    scheme = scheme.lower()
    if scheme == "file":
        return str(path(rest, base))
    if scheme not in OBJECT_STORE_SCHEMES or not rest.strip("/"):
        raise Invalid(expected)
    return f"{scheme}://{rest.rstrip('/')}"
