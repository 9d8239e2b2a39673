"""config.toml, loaded and validated once into frozen dataclasses.

Each section of the file is a dataclass below; each field is a key, with its default and a
converter (:mod:`deltastream.values`) that checks the raw TOML value and returns the typed one.
A value that does not convert raises :class:`ConfigError` naming the file (or the flag), the key
and what was expected; a file that cannot be read or parsed names the file and the line.
Nothing here imports a third-party package: ``--help`` and config errors work outside the
virtualenv.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from deltastream import crosschecks
from deltastream.errors import ConfigError
from deltastream.schema import PUBLISHED, TopicSchema, read_topics
from deltastream.values import (
    LOCAL_FILE_KB,
    OBJECT_STORE_FILE_KB,
    REQUIRED,
    Converter,
    Invalid,
    Secret,
    Shown,
    choice,
    column,
    integer,
    kind,
    level,
    location,
    number,
    path,
    rate,
    raw_location,
    secret,
    secret_option,
    servers,
    storage_options,
    text,
    topic_name,
    topics,
)

#: A config file is a page of settings; anything bigger is the wrong file (or /dev/zero).
MAX_FILE_BYTES = 1 << 20
#: Command-line flags whose name is not the key's with '-' for '_'.
FLAGS = {("general", "logging_level"): "--log-level"}
#: A Schema Registry's address.
REGISTRY_URL = re.compile(r"https?://[^\s/?#]+(/[^\s?#]*)?")


def flag(section: str, key: str) -> str:
    """The command-line flag that overrides ``[section] key``."""
    return FLAGS.get((section, key), "--" + key.replace("_", "-"))


def _key(converter: Converter, default: Any = REQUIRED, factory: Any = None) -> Any:
    """A config key: its converter, and its default (none: the key is required)."""
    if factory is not None:
        return field(default_factory=factory, metadata={"convert": converter})
    if default is REQUIRED:
        return field(metadata={"convert": converter})
    return field(default=default, metadata={"convert": converter})


@dataclass(frozen=True, kw_only=True)
class GeneralConfig:
    logging_level: int = _key(level, logging.INFO)
    bootstrap_servers: tuple[str, ...] = _key(servers)
    topics: tuple[str, ...] = _key(topics)
    id_column: str = _key(column, "id")


@dataclass(frozen=True, kw_only=True)
class KafkaConfig:
    #: The Kafka client the publisher sends with: kafka-python, or librdkafka through the
    #: confluent-kafka package (installed separately).
    client: str = _key(choice("kafka-python", "confluent-kafka"), "kafka-python")
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
    #: The certificate authority (a PEM file) that signed the brokers' certificates, for SSL and
    #: SASL_SSL; none: the system's trusted ones.
    ssl_cafile: Path | None = _key(path, None)
    #: The Schema Registry (Confluent's API) that Avro topics name their schemas in; its basic
    #: auth user and password, and the certificate authority of an https registry (none: the
    #: system's trusted ones).
    schema_registry_url: str | None = _key(text(REGISTRY_URL, "an http:// or https:// URL"), None)
    schema_registry_username: str | None = _key(text(), None)
    schema_registry_password: Secret | None = _key(secret, None)
    schema_registry_cafile: Path | None = _key(path, None)

    def librdkafka_settings(self) -> dict[str, Any]:
        """Security settings for librdkafka clients, in its names (the password leaves here and
        in :meth:`client_settings` only)."""
        settings: dict[str, Any] = {"security.protocol": self.security_protocol}
        if self.sasl_mechanism:
            settings["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            settings["sasl.username"] = self.sasl_username
        if self.sasl_password:
            settings["sasl.password"] = self.sasl_password.get()
        if self.ssl_cafile:
            settings["ssl.ca.location"] = str(self.ssl_cafile)
        return settings

    def client_settings(self) -> dict[str, Any]:
        """Security settings for kafka-python clients (the password leaves here and in
        :meth:`librdkafka_settings` only)."""
        settings: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.sasl_mechanism:
            settings["sasl_mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            settings["sasl_plain_username"] = self.sasl_username
        if self.sasl_password:
            settings["sasl_plain_password"] = self.sasl_password.get()
        if self.ssl_cafile:
            settings["ssl_cafile"] = str(self.ssl_cafile)
        return settings


@dataclass(frozen=True, kw_only=True)
class PublisherConfig:
    #: A folder, or an S3 prefix (``s3://bucket/raw``) reached with ``storage_options``.
    raw_path: Path | str = _key(raw_location)
    batch_size: int = _key(integer(1, 10_000_000), 1000)
    partitions: int = _key(integer(1, 10_000), 3)
    replication_factor: int = _key(integer(1, 100), 1)
    linger_ms: int = _key(integer(0, 60_000), 5)
    delivery_timeout_ms: int = _key(integer(1000, 3_600_000), 30_000)
    rate: float = _key(rate, 0.0)
    #: What rows are sent as, and what a topic's messages are read as unless ``[topic.<name>]
    #: format`` says otherwise: JSON objects of text, or Avro (Confluent's wire format) in a
    #: schema made from the topic's declared columns, registered in the Schema Registry.
    format: str = _key(choice(*PUBLISHED), "json")
    #: The credentials and settings of an S3 raw_path; none: ``[subscriber] storage_options``.
    storage_options: Mapping[str, str] = _key(storage_options, factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, kw_only=True)
class SubscriberConfig:
    delta_path: str = _key(location)
    group_id: str = _key(text(), "delta-subscriber")
    max_batch_records: int = _key(integer(1, 10_000_000), 20_000)
    max_batch_latency_ms: int = _key(integer(1, 3_600_000), 500)
    compact_every: int = _key(integer(0, 1_000_000), 100)
    file_target_kb: int | None = _key(integer(16, 4_000_000), None)
    vacuum_retention_hours: float = _key(number(0.1, 100_000, " of hours"), 1.0)
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
    #: ``[topic.<name>]``: per topic, its declared columns (none: every value is text).
    topic: Mapping[str, TopicSchema] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def topics(self) -> tuple[str, ...]:
        return self.general.topics

    def schema(self, topic: str) -> TopicSchema:
        """What config.toml declares for ``topic`` (nothing: every value is text)."""
        return self.topic.get(topic, TopicSchema())

    def format(self, topic: str) -> str:
        """How ``topic``'s messages are written: its own ``format``, else the publisher's."""
        return self.schema(topic).format or self.publisher.format

    def secrets(self) -> tuple[str, ...]:
        """Every secret value in the config, for masking in logs and messages."""
        found = [self.kafka.sasl_password.get()] if self.kafka.sasl_password else []
        if self.kafka.schema_registry_password:
            found.append(self.kafka.schema_registry_password.get())
        for options in (self.subscriber.storage_options, self.publisher.storage_options):
            found += [v for k, v in options.items() if secret_option(k) and v]
        return tuple(found)

    @property
    def raw_storage_options(self) -> Mapping[str, str]:
        """What reaches an S3 raw_path: ``[publisher] storage_options``, else the subscriber's."""
        return self.publisher.storage_options or self.subscriber.storage_options


SECTIONS: dict[str, type] = {
    "general": GeneralConfig,
    "kafka": KafkaConfig,
    "publisher": PublisherConfig,
    "subscriber": SubscriberConfig,
    "query": QueryConfig,
}

#: Command-line overrides: (section, key) -> value, as given on the command line.
Overrides = Mapping[tuple[str, str], Any]


@dataclass(frozen=True)
class _Document:
    """A parsed config file being validated: where it came from, and the flags over it."""

    label: str
    base: Path
    overrides: Overrides

    def section(self, name: str, cls: type, raw: Any) -> Any:
        """Section ``[name]`` as a ``cls``: every key converted, the flags' values first."""
        if not isinstance(raw, dict):
            raise ConfigError(self.label, f"[{name}]", "a table of keys", Shown(kind(raw)))
        known = {f.name: f for f in dataclasses.fields(cls)}
        for key in raw:
            if key not in known:
                raise ConfigError(self.label, f"[{name}] {key}", f"one of: {', '.join(known)}", None)
        values: dict[str, Any] = {}
        for key, spec in known.items():
            from_flag = (name, key) in self.overrides
            raw_value = self.overrides[(name, key)] if from_flag else raw.get(key, REQUIRED)
            where, label = ("command line", flag(name, key)) if from_flag else (self.label, f"[{name}] {key}")
            if raw_value is REQUIRED:
                if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                    raise ConfigError(where, label, "a value (the key is required)")
                continue
            convert = spec.metadata["convert"]
            try:
                values[key] = convert(raw_value, _cwd() if from_flag else self.base)
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


def parse(raw: Mapping[str, Any], source: Path, overrides: Overrides | None = None) -> Config:
    """Validate a parsed TOML document (and flag overrides) into a :class:`Config`."""
    overrides = overrides or {}
    label = str(source)
    for name in raw:
        if name not in SECTIONS and name != "topic":
            raise ConfigError(label, f"[{name}]", f"one of the sections {', '.join(SECTIONS)}, topic")
    document = _Document(label, source.parent, overrides)
    parts = {name: document.section(name, cls, raw.get(name, {})) for name, cls in SECTIONS.items()}
    crosschecks.keys(label, parts)
    if ("general", "topics") in overrides:
        crosschecks.chosen_topics(raw.get("general", {}).get("topics"), parts)
    topic = read_topics(raw.get("topic", {}), label, parts["general"].id_column)
    crosschecks.registry(label, parts, topic)
    crosschecks.published_avro(label, parts, topic)
    return Config(source=source, topic=MappingProxyType(topic), **parts)


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
