"""The project's exceptions: one base class, each subclass carrying the context a user needs."""

from __future__ import annotations

import re

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def one_line(detail: object) -> str:
    """A library's message (delta-rs spreads its errors over lines, in colour) on one line."""
    return " ".join(ANSI.sub("", str(detail)).replace("↳", " ").split())


class Interrupted(Exception):
    """A stop was asked for while waiting for a broker."""


class PipelineError(Exception):
    """Base class of every error the scripts turn into a one-line message."""

    exit_code = 1


class ConfigError(PipelineError):
    """A config file or flag value is missing, unknown, of the wrong type or out of range."""

    exit_code = 2

    def __init__(self, source: str, key: str, expected: str, got: object = None) -> None:
        self.source = source
        self.key = key
        self.expected = expected
        self.got = got
        detail = f"{source}: {key}: expected {expected}"
        if got is not None:
            detail += f", got {got!r}"
        super().__init__(detail)


class BrokerUnavailable(PipelineError):
    """No Kafka broker answered at the configured bootstrap servers in time."""

    def __init__(self, bootstrap_servers: tuple[str, ...], waited_s: float, cause: object) -> None:
        self.bootstrap_servers = bootstrap_servers
        servers = ",".join(bootstrap_servers)
        super().__init__(
            f"no Kafka broker reachable at {servers} after {waited_s:.0f} s ({one_line(cause)}); "
            "start one with `python -m deltastream.broker` or `docker compose up -d`"
        )


class KafkaOperationError(PipelineError):
    """The broker refused an operation (creating a topic, committing offsets, ...)."""


class KafkaReadError(PipelineError):
    """The client could not read what the broker sent (a record batch it cannot decompress or
    whose checksum fails). The records before it are written; nothing past it is acknowledged."""

    def __init__(self, cause: object) -> None:
        super().__init__(
            f"cannot read the records Kafka sent ({one_line(cause)}); the records before them are "
            "written and reading starts there again next time"
        )


class SourceError(PipelineError):
    """A CSV file cannot be read as a whole (missing, unreadable, no id column)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(f"{path}: {reason}")


class SinkError(PipelineError):
    """A Delta commit failed; nothing past the last committed offset is acknowledged."""

    def __init__(self, table: str, reason: str, offsets: dict[int, tuple[int, int]] | None = None):
        self.table = table
        self.offsets = offsets or {}
        ranges = ", ".join(f"p{p}:{lo}-{hi}" for p, (lo, hi) in sorted(self.offsets.items()))
        where = f" (offsets {ranges})" if ranges else ""
        super().__init__(f"Delta table {table}: {one_line(reason)}{where}")


class TableMissing(PipelineError):
    """A Delta table the report needs has not been written yet."""

    def __init__(self, topic: str, path: str) -> None:
        self.topic = topic
        self.path = path
        super().__init__(
            f"table '{topic}' is missing at {path}: the subscriber has not written it yet "
            "(run subscriber.py, then publisher.py)"
        )


class DataError(PipelineError):
    """Rows that cannot be typed, reported by --strict."""


class TableUnreadable(PipelineError):
    """A Delta table is there but cannot be read: damaged, not a Delta table, not readable by this
    user, or without the columns the report needs. Says what is wrong and how to recover."""

    def __init__(self, topic: str, path: str, problem: str, fix: str | None = None) -> None:
        self.topic = topic
        self.path = path
        self.problem = problem
        super().__init__(f"table '{topic}' at {path}: {problem}" + (f"; {fix}" if fix else ""))


class OutputError(PipelineError):
    """query.py's --output (or --chart) cannot be written (no such folder, a folder, no
    permission, disk full)."""

    def __init__(self, path: str, problem: str, fix: str, flag: str = "--output") -> None:
        self.path = path
        super().__init__(f"{flag} {path}: {problem}; {fix}")


class Stopped(PipelineError):
    """A signal (Ctrl-C, SIGTERM) stopped a script before it finished; the message says what was
    done. The exit status is the shell's for that signal: 128 + its number (130, 143)."""

    def __init__(self, signum: int, detail: str) -> None:
        import signal

        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(f"stopped by {signal.Signals(signum).name}: {detail}")


class PublishIncomplete(PipelineError):
    """Rows or files the publisher could not send; the other rows and topics were sent."""


class SchemaRefused(PipelineError):
    """config.toml declares a column type the table cannot take without losing or rewriting data."""

    exit_code = 2

    def __init__(self, topic: str, path: str, problem: str) -> None:
        self.topic = topic
        super().__init__(
            f"table '{topic}' at {path}: {problem}; declare the type the table has, or move the table "
            "away and run subscriber.py to write it again from the topic (publisher.py first if the "
            "topic no longer holds every record)"
        )


class KafkaAuthenticationFailed(PipelineError):
    """The broker did not let the client in: it refused the SASL credentials, or its TLS
    certificate is not one this machine trusts. Waiting would not help, so it is not waited for."""

    def __init__(self, bootstrap_servers: tuple[str, ...], problem: str, fix: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        super().__init__(f"the broker at {','.join(bootstrap_servers)} {one_line(problem)}; {fix}")


class KafkaAccessDenied(PipelineError):
    """The broker's authorizer refused the user something its ACLs do not allow: seeing or
    reading a topic, using the consumer group, creating a topic."""

    def __init__(self, user: str | None, what: str, fix: str) -> None:
        self.user = user
        who = f"user '{user}'" if user else "this client"
        super().__init__(f"the broker does not allow {who} to {what}; {fix}")


class RegistryUnavailable(PipelineError):
    """The Schema Registry did not answer, or refused to; the message names it and says why."""

    def __init__(self, url: str, problem: str, fix: str) -> None:
        self.url = url
        super().__init__(f"Schema Registry at {url}: {problem}; {fix}")
