"""config.toml, loaded and validated once into frozen dataclasses.

Each section of the file is a dataclass below; each field is a key, with its default and a
converter that checks the raw TOML value and returns the typed one. A value that does not convert
raises :class:`ConfigError` naming the file (or the flag), the key and what was expected; a file
that cannot be read or parsed names the file and the line. Nothing here imports a third-party
package: ``--help`` and config errors work outside the virtualenv.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import math
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from deltastream.errors import ConfigError

REQUIRED: Any = dataclasses.MISSING
TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: The subscriber's dead-letter table, a directory beside the topics' tables
#: (deltastream.tables.DEAD_LETTERS, repeated so that this module needs no third-party package).
DEAD_LETTERS = "_dead_letters"
#: A config file is a page of settings; anything bigger is the wrong file (or /dev/zero).
MAX_FILE_BYTES = 1 << 20
#: Values longer than this are shortened in messages.
SHOWN_CHARS = 80
#: Command-line flags whose name is not the key's with '-' for '_'.
FLAGS = {("general", "logging_level"): "--log-level"}


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


def flag(section: str, key: str) -> str:
    """The command-line flag that overrides ``[section] key``."""
    return FLAGS.get((section, key), "--" + key.replace("_", "-"))


Converter = Callable[[Any, Path], Any]


def _key(converter: Converter, default: Any = REQUIRED, doc: str = "", factory: Any = None) -> Any:
    if factory is not None:
        return field(default_factory=factory, metadata={"convert": converter, "doc": doc})
    if default is REQUIRED:
        return field(metadata={"convert": converter, "doc": doc})
    return field(default=default, metadata={"convert": converter, "doc": doc})


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


@dataclass(frozen=True, kw_only=True)
class GeneralConfig:
    logging_level: int = _key(level, logging.INFO, "log level name or number (1..50)")
    bootstrap_servers: tuple[str, ...] = _key(servers, doc="Kafka bootstrap servers")
    topics: tuple[str, ...] = _key(topics, doc="one topic, CSV file and Delta table each")
    id_column: str = _key(column, "id")


@dataclass(frozen=True, kw_only=True)
class KafkaConfig:
    session_timeout_ms: int = _key(integer(1000, 3_600_000), 6000)
    heartbeat_interval_ms: int = _key(integer(100, 3_600_000), 1000)
    max_poll_interval_ms: int = _key(integer(1000, 86_400_000), 300_000)
    request_timeout_ms: int = _key(integer(1000, 3_600_000), 30_000)
    connect_timeout_s: float = _key(number(0, 86_400, " of seconds"), 30.0)
    isolation_level: str = _key(choice("read_committed", "read_uncommitted"), "read_committed")
    security_protocol: str = _key(choice("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"), "PLAINTEXT")
    sasl_mechanism: str | None = _key(choice("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"), None)
    sasl_username: str | None = _key(text(), None)
    sasl_password: Secret | None = _key(secret, None)

    def client_settings(self) -> dict[str, Any]:
        """Security settings for kafka-python clients (the password only leaves here)."""
        settings: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.sasl_mechanism:
            settings["sasl_mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            settings["sasl_plain_username"] = self.sasl_username
        if self.sasl_password:
            settings["sasl_plain_password"] = self.sasl_password.get()
        return settings


@dataclass(frozen=True, kw_only=True)
class PublisherConfig:
    raw_path: Path = _key(path)
    batch_size: int = _key(integer(1, 10_000_000), 1000)
    partitions: int = _key(integer(1, 10_000), 3)
    replication_factor: int = _key(integer(1, 100), 1)
    linger_ms: int = _key(integer(0, 60_000), 5)
    delivery_timeout_ms: int = _key(integer(1000, 3_600_000), 30_000)
    rate: float = _key(rate, 0.0)


@dataclass(frozen=True, kw_only=True)
class SubscriberConfig:
    delta_path: str = _key(location)
    group_id: str = _key(text(), "delta-subscriber")
    max_batch_records: int = _key(integer(1, 10_000_000), 20_000)
    max_batch_latency_ms: int = _key(integer(1, 3_600_000), 100)
    compact_every: int = _key(integer(0, 1_000_000), 100)
    file_target_kb: int | None = _key(integer(16, 4_000_000), None)
    vacuum_retention_hours: int = _key(integer(0, 100_000), 168)
    storage_options: Mapping[str, str] = _key(storage_options, factory=lambda: MappingProxyType({}))

    @property
    def on_object_store(self) -> bool:
        return "://" in self.delta_path

    @property
    def file_target_bytes(self) -> int:
        """The size data files aim at: ``file_target_kb``, or by default 128 KB on a local disk
        and 1 MB on an object store, where each file costs a request (see the README)."""
        kb = self.file_target_kb or (OBJECT_STORE_FILE_KB if self.on_object_store else LOCAL_FILE_KB)
        return kb * 1024


def role(value: Any, _base: Path) -> str:
    return topic_name(value)


@dataclass(frozen=True, kw_only=True)
class QueryConfig:
    client: str = _key(role, "client")
    department: str = _key(role, "department")
    employee: str = _key(role, "employee")
    sale: str = _key(role, "sale")

    @property
    def tables(self) -> dict[str, str]:
        """Report role -> table (topic) name."""
        return {
            "client": self.client,
            "department": self.department,
            "employee": self.employee,
            "sale": self.sale,
        }


@dataclass(frozen=True, kw_only=True)
class Config:
    """The whole file. ``source`` is the path it was read from, for messages."""

    general: GeneralConfig
    kafka: KafkaConfig
    publisher: PublisherConfig
    subscriber: SubscriberConfig
    query: QueryConfig
    source: Path

    @property
    def topics(self) -> tuple[str, ...]:
        return self.general.topics

    def secrets(self) -> tuple[str, ...]:
        """Every secret value in the config, for masking in logs and messages."""
        found = [self.kafka.sasl_password.get()] if self.kafka.sasl_password else []
        found += [v for k, v in self.subscriber.storage_options.items() if secret_option(k) and v]
        return tuple(found)


SECTIONS: dict[str, type] = {
    "general": GeneralConfig,
    "kafka": KafkaConfig,
    "publisher": PublisherConfig,
    "subscriber": SubscriberConfig,
    "query": QueryConfig,
}

#: Command-line overrides: (section, key) -> value, as given on the command line.
Overrides = Mapping[tuple[str, str], Any]


def _section(name: str, cls: type, raw: Any, overrides: Overrides, source: str, base: Path) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(source, f"[{name}]", "a table of keys", Shown(kind(raw)))
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in known:
            raise ConfigError(source, f"[{name}] {key}", f"one of: {', '.join(known)}", None)
    values: dict[str, Any] = {}
    for key, spec in known.items():
        from_flag = (name, key) in overrides
        where, label = ("command line", flag(name, key)) if from_flag else (source, f"[{name}] {key}")
        raw_value = overrides[(name, key)] if from_flag else raw.get(key, REQUIRED)
        if raw_value is REQUIRED:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise ConfigError(where, label, "a value (the key is required)")
            continue
        convert = spec.metadata["convert"]
        try:
            values[key] = convert(raw_value, _cwd() if from_flag else base)
        except Invalid as exc:
            if getattr(convert, "hides_value", False):
                shown: Any = Shown.kind(raw_value)
            else:
                shown = Shown.of(raw_value if exc.shown is REQUIRED else exc.shown)
            raise ConfigError(where, label, str(exc), shown) from None
    return cls(**values)


def _cwd() -> Path:
    """The directory relative paths given on the command line are relative to."""
    try:
        return Path.cwd()
    except OSError as exc:
        raise ConfigError(
            "command line", "current directory", f"a directory that exists ({exc.strerror})"
        ) from None


def _cross_checks(label: str, parts: Mapping[str, Any]) -> None:
    """Rules that tie two keys together."""
    kafka: KafkaConfig = parts["kafka"]
    if kafka.heartbeat_interval_ms >= kafka.session_timeout_ms:
        raise ConfigError(
            label,
            "[kafka] heartbeat_interval_ms",
            f"a value below session_timeout_ms ({kafka.session_timeout_ms})",
            kafka.heartbeat_interval_ms,
        )
    sasl = kafka.security_protocol.startswith("SASL_")
    for key in ("sasl_mechanism", "sasl_username", "sasl_password"):
        given = getattr(kafka, key) is not None
        if sasl and not given:
            raise ConfigError(
                label, f"[kafka] {key}", f"a value: security_protocol {kafka.security_protocol} needs it"
            )
        if given and not sasl:
            raise ConfigError(
                label,
                f"[kafka] {key}",
                f"no value with security_protocol {kafka.security_protocol} (it would be ignored); "
                'set security_protocol = "SASL_SSL" or "SASL_PLAINTEXT", or remove the key',
            )
    publisher: PublisherConfig = parts["publisher"]
    if publisher.delivery_timeout_ms < publisher.linger_ms + 1000:
        raise ConfigError(
            label,
            "[publisher] delivery_timeout_ms",
            f"at least linger_ms + 1000 ({publisher.linger_ms + 1000})",
            publisher.delivery_timeout_ms,
        )


def parse(raw: Mapping[str, Any], source: Path, overrides: Overrides | None = None) -> Config:
    """Validate a parsed TOML document (and flag overrides) into a :class:`Config`."""
    overrides = overrides or {}
    label = str(source)
    for name in raw:
        if name not in SECTIONS:
            raise ConfigError(label, f"[{name}]", f"one of the sections {', '.join(SECTIONS)}")
    base = source.parent
    parts = {
        name: _section(name, cls, raw.get(name, {}), overrides, label, base) for name, cls in SECTIONS.items()
    }
    _cross_checks(label, parts)
    return Config(source=source, **parts)


def load(source: Path | str, overrides: Overrides | None = None) -> Config:
    """Read ``source`` and validate it; every problem is a :class:`ConfigError`."""
    source = Path(source)
    raw = _toml(read(source), str(source))
    if not raw:
        raise ConfigError(
            str(source), "file", "the settings of [general], [publisher] and [subscriber] (it has none)"
        )
    return parse(raw, source, overrides)


def read(source: Path) -> str:
    """The text of a config file: UTF-8 (with or without a byte-order mark), at most 1 MB."""
    label = str(source)
    try:
        with source.open("rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if stat.S_ISDIR(mode):
                raise ConfigError(label, "file", "a TOML file, found a directory")
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        broken = " (a symbolic link to nothing)" if source.is_symlink() else ""
        raise ConfigError(label, "file", f"an existing TOML file (not found{broken})") from None
    except IsADirectoryError:
        raise ConfigError(label, "file", "a TOML file, found a directory") from None
    except OSError as exc:
        raise ConfigError(label, "file", f"a readable file ({_reason(exc)})") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(label, "file", f"a TOML config file of at most {MAX_FILE_BYTES >> 20} MB")
    if not data.strip():
        raise ConfigError(label, "file", "TOML settings (the file is empty)")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(
            label, "file", "UTF-8 text, found UTF-16 (a UTF-16 byte-order mark); save it as UTF-8"
        )
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise ConfigError(label, "file", f"a TOML text file, found binary data (a NUL byte on line {line})")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            label,
            "file",
            f"UTF-8 text, found the byte 0x{data[exc.start]:02x} on line {line}, column {column}; "
            "save it as UTF-8",
        ) from None


def _toml(text: str, label: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(label, "syntax", f"valid TOML ({exc})") from None
    except ValueError:  # the one other error tomllib lets through: an integer too long to read
        raise ConfigError(label, "syntax", "valid TOML (an integer too long to read)") from None


def _reason(exc: OSError) -> str:
    import errno

    if exc.errno == errno.ELOOP:
        return "a symbolic link loop"
    if exc.errno == errno.ENOTDIR:
        return "a part of the path is a file, not a directory"
    return exc.strerror or str(exc)
