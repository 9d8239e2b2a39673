"""config.toml, loaded and validated once into frozen dataclasses.

Each section of the file is a dataclass below; each field is a key, with its default and a
converter that checks the raw TOML value and returns the typed one. A value that does not convert
raises :class:`ConfigError` naming the file, the key and what was expected.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from deltastream.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REQUIRED: Any = dataclasses.MISSING
TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Invalid(ValueError):
    """Raised by a converter; its message says what was expected."""


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


def number(low: float) -> Converter:
    def convert(value: Any, _base: Path) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
            raise Invalid(f"a number >= {low:g}")
        return float(value)

    return convert


def text(pattern: re.Pattern[str] | None = None, what: str = "a non-empty string") -> Converter:
    def convert(value: Any, _base: Path) -> str:
        if not isinstance(value, str) or not value.strip():
            raise Invalid(what)
        if pattern is not None and not pattern.match(value):
            raise Invalid(what)
        return value

    return convert


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
    """A logging level by name (``"INFO"``) or number (``20``), as the article wrote it."""
    expected = f"a level name ({', '.join(LEVELS)}) or number (10, 20, 30, 40, 50)"
    if isinstance(value, str) and value.strip().upper() in LEVELS:
        return int(logging.getLevelName(value.strip().upper()))
    if isinstance(value, int) and not isinstance(value, bool) and value in (10, 20, 30, 40, 50):
        return value
    raise Invalid(expected)


def servers(value: Any, _base: Path) -> tuple[str, ...]:
    """``"host:port"``, ``"h1:p1,h2:p2"`` or a list of ``"host:port"`` strings."""
    expected = 'a "host:port" string or a list of them'
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise Invalid(expected)
    result = []
    for item in items:
        if not isinstance(item, str) or not re.fullmatch(r"[^\s:,]+:\d{1,5}", item.strip()):
            raise Invalid(expected)
        result.append(item.strip())
    return tuple(result)


def topic_name(value: Any) -> str:
    """A valid Kafka topic name; it is also a directory name under delta_path."""
    if not isinstance(value, str) or not TOPIC_NAME.match(value) or value in (".", ".."):
        raise Invalid(
            "Kafka topic names: letters, digits, '.', '_' and '-', at most 249 characters, not '.' or '..'"
        )
    return value


def topics(value: Any, _base: Path) -> tuple[str, ...]:
    """A non-empty list of distinct, valid Kafka topic names (also used as table directories)."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not value:
        raise Invalid("a non-empty list of topic names")
    names = tuple(topic_name(item) for item in value)
    if len(set(names)) != len(names):
        raise Invalid("a list of distinct topic names")
    return names


def path(value: Any, base: Path) -> Path:
    """A path; relative paths in the file are relative to the file's own directory."""
    if not isinstance(value, str | Path) or not str(value).strip():
        raise Invalid("a path string")
    result = Path(value).expanduser()
    return result if result.is_absolute() else base / result


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
    logging_level: int = _key(level, logging.INFO, "log level name or number")
    bootstrap_servers: tuple[str, ...] = _key(servers, doc="Kafka bootstrap servers")
    topics: tuple[str, ...] = _key(topics, doc="one topic, CSV file and Delta table each")
    id_column: str = _key(text(COLUMN_NAME, "a column name (letters, digits, '_')"), "id")


@dataclass(frozen=True, kw_only=True)
class KafkaConfig:
    session_timeout_ms: int = _key(integer(1000, 3_600_000), 6000)
    heartbeat_interval_ms: int = _key(integer(100, 3_600_000), 1000)
    max_poll_interval_ms: int = _key(integer(1000, 86_400_000), 300_000)
    request_timeout_ms: int = _key(integer(1000, 3_600_000), 30_000)
    connect_timeout_s: float = _key(number(0), 30.0)
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
    rate: float = _key(number(0), 0.0)


@dataclass(frozen=True, kw_only=True)
class SubscriberConfig:
    delta_path: str = _key(location)
    group_id: str = _key(text(), "delta-subscriber")
    max_batch_records: int = _key(integer(1, 10_000_000), 20_000)
    max_batch_latency_ms: int = _key(integer(1, 3_600_000), 100)
    compact_every: int = _key(integer(0, 1_000_000), 100)
    file_target_kb: int = _key(integer(16, 4_000_000), 128)
    vacuum_retention_hours: int = _key(integer(0, 100_000), 168)
    storage_options: Mapping[str, str] = _key(storage_options, factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, kw_only=True)
class QueryConfig:
    client: str = _key(lambda v, _b: topic_name(v), "client")
    department: str = _key(lambda v, _b: topic_name(v), "department")
    employee: str = _key(lambda v, _b: topic_name(v), "employee")
    sale: str = _key(lambda v, _b: topic_name(v), "sale")

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
        found += [v for k, v in self.subscriber.storage_options.items() if secret_option(k)]
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
        raise ConfigError(source, f"[{name}]", "a table of keys")
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in known:
            raise ConfigError(source, f"[{name}] {key}", f"one of: {', '.join(known)}", None)
    values: dict[str, Any] = {}
    for key, spec in known.items():
        from_flag = (name, key) in overrides
        where = "command line" if from_flag else source
        raw_value = overrides[(name, key)] if from_flag else raw.get(key, REQUIRED)
        if raw_value is REQUIRED:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise ConfigError(where, f"[{name}] {key}", "a value (the key is required)")
            continue
        try:
            values[key] = spec.metadata["convert"](raw_value, Path.cwd() if from_flag else base)
        except Invalid as exc:
            convert = spec.metadata["convert"]
            shown = None if getattr(convert, "hides_value", False) else raw_value
            raise ConfigError(where, f"[{name}] {key}", str(exc), shown) from None
    return cls(**values)


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
    kafka: KafkaConfig = parts["kafka"]
    if kafka.heartbeat_interval_ms >= kafka.session_timeout_ms:
        raise ConfigError(
            label,
            "[kafka] heartbeat_interval_ms",
            f"a value below session_timeout_ms ({kafka.session_timeout_ms})",
            kafka.heartbeat_interval_ms,
        )
    publisher: PublisherConfig = parts["publisher"]
    if publisher.delivery_timeout_ms < publisher.linger_ms + 1000:
        raise ConfigError(
            label,
            "[publisher] delivery_timeout_ms",
            f"at least linger_ms + 1000 ({publisher.linger_ms + 1000})",
            publisher.delivery_timeout_ms,
        )
    return Config(source=source, **parts)


def load(source: Path | str, overrides: Overrides | None = None) -> Config:
    """Read ``source`` and validate it; every problem is a :class:`ConfigError`."""
    source = Path(source)
    try:
        with source.open("rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(str(source), "file", "an existing TOML file (not found)") from None
    except OSError as exc:
        raise ConfigError(str(source), "file", f"a readable file ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(source), "syntax", f"valid TOML ({exc})") from None
    return parse(raw, source, overrides)
