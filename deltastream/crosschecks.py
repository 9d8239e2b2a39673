"""Config rules that tie keys together, checked once every section is read (:mod:`deltastream.config`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deltastream.errors import ConfigError
from deltastream.schema import TopicSchema


def registry(label: str, parts: Mapping[str, Any], topic: Mapping[str, TopicSchema]) -> None:
    """Avro needs a Schema Registry to name its schemas."""
    kafka = parts["kafka"]
    if kafka.schema_registry_url is not None:
        return
    if parts["publisher"].format == "avro":
        raise ConfigError(
            label, "[kafka] schema_registry_url", "a Schema Registry's URL: [publisher] format is avro"
        )
    for name, schema in topic.items():
        if schema.format == "avro":
            raise ConfigError(
                label,
                "[kafka] schema_registry_url",
                f"a Schema Registry's URL: [topic.{name}] format is avro",
            )
    for key in ("schema_registry_username", "schema_registry_password", "schema_registry_cafile"):
        if getattr(kafka, key) is not None:
            raise ConfigError(
                label, f"[kafka] {key}", "no value without schema_registry_url (it would be ignored)"
            )


def published_avro(label: str, parts: Mapping[str, Any], topic: Mapping[str, TopicSchema]) -> None:
    """With ``[publisher] format = "avro"`` a topic without a format of its own is read as Avro,
    whose schema makes every field a column: ``undeclared_fields`` would be ignored."""
    if parts["publisher"].format != "avro":
        return
    for name, schema in topic.items():
        if schema.format is None and schema.undeclared_fields != "evolve":
            raise ConfigError(
                label,
                f"[topic.{name}] undeclared_fields",
                "no value when [publisher] format is avro: every field of its schema is a column",
                schema.undeclared_fields,
            )


def chosen_topics(file_topics: Any, parts: Mapping[str, Any]) -> None:
    """``--topics`` chooses among the config's topics: one it does not name would be read or
    created from the command line alone (a typo makes a new topic)."""
    if not isinstance(file_topics, list | tuple | str):
        return
    listed = (
        [t.strip() for t in file_topics.split(",")] if isinstance(file_topics, str) else list(file_topics)
    )
    outside = [t for t in parts["general"].topics if t not in listed]
    if outside:
        raise ConfigError(
            "command line",
            "--topics",
            f"topics of the config ({', '.join(map(str, listed))})",
            ", ".join(outside),
        )


def keys(label: str, parts: Mapping[str, Any]) -> None:
    """Rules that tie two keys together."""
    kafka = parts["kafka"]
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
    if kafka.ssl_cafile is not None and not kafka.security_protocol.endswith("SSL"):
        raise ConfigError(
            label,
            "[kafka] ssl_cafile",
            f"no value with security_protocol {kafka.security_protocol} (it would be ignored); "
            'set security_protocol = "SSL" or "SASL_SSL", or remove the key',
        )
    publisher = parts["publisher"]
    if publisher.delivery_timeout_ms < publisher.linger_ms + 1000:
        raise ConfigError(
            label,
            "[publisher] delivery_timeout_ms",
            f"at least linger_ms + 1000 ({publisher.linger_ms + 1000})",
            publisher.delivery_timeout_ms,
        )
