"""Config validation: every bad file or value is one ConfigError naming the file (or the flag),
the key and the rule. A catalogue per kind: the file itself, each kind of value, the rules that tie
keys together, and values given on the command line."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from deltastream import config, values
from deltastream.errors import ConfigError
from deltastream.values import DEAD_LETTERS

from ..conftest import ROOT

BASE = """
[general]
logging_level = {level}
bootstrap_servers = "localhost:9092"
topics = ["client", "sale"]

[publisher]
raw_path = "data"
batch_size = {batch_size}

[subscriber]
delta_path = "delta"
"""

MINIMAL = """\
[general]
bootstrap_servers = "localhost:9092"
topics = ["a"]
[publisher]
raw_path = "data"
[subscriber]
delta_path = "delta"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def base(tmp_path: Path, level: str = '"INFO"', batch_size: str = "100", extra: str = "") -> Path:
    return write(tmp_path, BASE.format(level=level, batch_size=batch_size) + extra)


def error(path: Path, overrides: config.Overrides | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        config.load(path, overrides)
    return str(info.value)


def test_the_shipped_config_is_valid() -> None:
    cfg = config.load(ROOT / "config.toml")
    assert cfg.topics == ("client", "department", "employee", "sale")
    assert cfg.publisher.raw_path == ROOT / "data"
    assert cfg.subscriber.delta_path == str(ROOT / "delta")
    assert cfg.kafka.session_timeout_ms == 6000


def test_article_keys_load_with_defaults_for_the_rest(tmp_path: Path) -> None:
    cfg = config.load(base(tmp_path))
    assert cfg.general.bootstrap_servers == ("localhost:9092",)
    assert cfg.publisher.batch_size == 100
    assert cfg.publisher.partitions == 3
    assert cfg.subscriber.group_id == "delta-subscriber"
    assert cfg.publisher.raw_path == tmp_path / "data"


# -- the file itself ------------------------------------------------------------------------


def _directory(path: Path) -> None:
    path.mkdir()


def _loop(path: Path) -> None:
    path.symlink_to(path)


def _dangling(path: Path) -> None:
    path.symlink_to(path.parent / "elsewhere.toml")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "file: expected an existing TOML file (not found)"),
        (_directory, "file: expected a TOML file, found a directory"),
        (_loop, "file: expected a readable file (a symbolic link loop)"),
        (_dangling, "file: expected an existing TOML file (not found (a symbolic link to nothing))"),
        (lambda p: p.write_bytes(b""), "file: expected TOML settings (the file is empty)"),
        (lambda p: p.write_bytes(b"  \n\n"), "file: expected TOML settings (the file is empty)"),
        (
            lambda p: p.write_bytes(b"# only a comment\n"),
            "file: expected the settings of [general], [publisher] and [subscriber] (it has none)",
        ),
        (
            lambda p: p.write_bytes(MINIMAL.replace('"data"', '"d\xe9"').encode("latin-1")),
            "file: expected UTF-8 text, found the byte 0xe9 on line 5, column 14; save it as UTF-8",
        ),
        (
            lambda p: p.write_bytes(MINIMAL.encode("utf-16")),
            "file: expected UTF-8 text, found UTF-16 (a UTF-16 byte-order mark); save it as UTF-8",
        ),
        (
            lambda p: p.write_bytes(b"[general]\n" + bytes(range(256))),
            "file: expected a TOML text file, found binary data (a NUL byte on line 2)",
        ),
        (
            lambda p: p.write_bytes(b"# x\n" * 300_000),
            "file: expected a TOML config file of at most 1 MB",
        ),
        (
            lambda p: p.write_text("[general\n"),
            "syntax: expected valid TOML (Expected ']' at the end of a table declaration (at line 1, "
            "column 9))",
        ),
        (
            lambda p: p.write_text(MINIMAL + "[general]\n"),
            "syntax: expected valid TOML (Cannot declare ('general',) twice (at line 8, column 9))",
        ),
        (
            lambda p: p.write_text(MINIMAL.replace("[publisher]", "[publisher]\nbatch_size = " + "9" * 5000)),
            "syntax: expected valid TOML (an integer too long to read)",
        ),
        (
            lambda p: p.write_text(MINIMAL.replace("[publisher]", "[publisher]\nbatch_size = 2024-02-30")),
            "syntax: expected valid TOML (Invalid date or datetime (at line 5, column 14))",
        ),
        # Valid TOML of the wrong shape.
        (lambda p: p.write_text("general = 1\n"), "[general]: expected a table of keys, got an integer"),
        (lambda p: p.write_text("[[general]]\n"), "[general]: expected a table of keys, got a list"),
        (
            lambda p: p.write_text("[extras]\n"),
            "[extras]: expected one of the sections general, kafka, publisher, subscriber, query, topic",
        ),
        (
            lambda p: p.write_text(MINIMAL.replace('topics = ["a"]', 'topics = ["a"]\n[general.more]')),
            "[general] more: expected one of: logging_level, bootstrap_servers, topics, id_column",
        ),
    ],
    ids=[
        "missing",
        "directory",
        "symlink-loop",
        "dangling-symlink",
        "empty",
        "blank",
        "only-comments",
        "latin-1",
        "utf-16",
        "binary",
        "too-big",
        "syntax",
        "twice",
        "huge-integer",
        "bad-date",
        "section-is-a-number",
        "section-is-an-array",
        "unknown-section",
        "nested-table",
    ],
)
def test_a_config_file_that_cannot_be_used(tmp_path: Path, make: object, message: str) -> None:
    path = tmp_path / "config.toml"
    make(path)  # type: ignore[operator]
    assert error(path) == f"{path}: {message}"


def test_a_utf8_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert config.load(path).topics == ("a",)


def test_a_config_read_through_a_pipe(tmp_path: Path) -> None:
    """``--config <(...)`` in a shell is a named pipe; that works."""
    path = tmp_path / "pipe.toml"
    os.mkfifo(path)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the writer
        with path.open("w") as out:
            out.write(MINIMAL)
        os._exit(0)
    try:
        assert config.load(path).topics == ("a",)
    finally:
        os.waitpid(pid, 0)


def test_a_config_that_cannot_be_read(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.symlink_to("/proc/self/mem")  # opens, even as root, then fails to read
    assert error(path) == f"{path}: file: expected a readable file (Input/output error)"


# -- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [('"INFO"', logging.INFO), ("20", 20), ('"debug"', 10), ("40", 40), ("15", 15), ('"15"', 15), ("1", 1)],
)
def test_logging_level_accepts_names_and_any_number_logging_takes(
    tmp_path: Path, raw: str, expected: int
) -> None:
    assert config.load(base(tmp_path, level=raw)).general.logging_level == expected


LEVEL = (
    "expected a level name (DEBUG, INFO, WARNING, ERROR, CRITICAL) or a number from 1 (most) to 50 (least)"
)
TOPIC = (
    "expected Kafka topic names: letters, digits, '.', '_' and '-', at most 249 characters, not '.' or '..'"
)
SERVER = 'expected "host:port" (a host name, an IPv4 address or an IPv6 address in brackets: "[::1]:9092")'
PORT = 'expected "host:port" with a port between 1 and 65535'
PATH_ERR = "expected a path without a NUL character"


def replaced(old: str, new: str) -> str:
    return MINIMAL.replace(old, new)


def added(section: str, line: str) -> str:
    if f"[{section}]" in MINIMAL:
        return MINIMAL.replace(f"[{section}]\n", f"[{section}]\n{line}\n")
    return MINIMAL + f"[{section}]\n{line}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # integers
        (
            added("publisher", "batch_size = 0"),
            "[publisher] batch_size: expected an integer between 1 and 10000000, got 0",
        ),
        (
            added("publisher", 'batch_size = "100"'),
            "[publisher] batch_size: expected an integer between 1 and 10000000, got '100'",
        ),
        (
            added("publisher", "batch_size = 1.5"),
            "[publisher] batch_size: expected an integer between 1 and 10000000, got 1.5",
        ),
        (
            added("publisher", "batch_size = true"),
            "[publisher] batch_size: expected an integer between 1 and 10000000, got True",
        ),
        (
            added("publisher", "batch_size = 9223372036854775807"),
            "[publisher] batch_size: expected an integer between 1 and 10000000, got 9223372036854775807",
        ),
        (
            added("publisher", "batch_size = 2024-01-01"),
            "[publisher] batch_size: expected an integer between 1 and 10000000, got datetime.date(2024, "
            "1, 1)",
        ),
        (
            added("publisher", "batch_size = []"),
            "[publisher] batch_size: expected an integer between 1 and 10000000, got []",
        ),
        (
            added("kafka", "session_timeout_ms = -1"),
            "[kafka] session_timeout_ms: expected an integer between 1000 and 3600000, got -1",
        ),
        # numbers
        (
            added("kafka", "connect_timeout_s = nan"),
            "[kafka] connect_timeout_s: expected a number of seconds between 0 and 86400, got nan",
        ),
        (
            added("kafka", "connect_timeout_s = inf"),
            "[kafka] connect_timeout_s: expected a number of seconds between 0 and 86400, got inf",
        ),
        (
            added("kafka", "connect_timeout_s = -2"),
            "[kafka] connect_timeout_s: expected a number of seconds between 0 and 86400, got -2",
        ),
        (
            added("kafka", "connect_timeout_s = 1e300"),
            "[kafka] connect_timeout_s: expected a number of seconds between 0 and 86400, got 1e+300",
        ),
        (
            added("kafka", 'connect_timeout_s = "30"'),
            "[kafka] connect_timeout_s: expected a number of seconds between 0 and 86400, got '30'",
        ),
        (
            added("subscriber", "vacuum_retention_hours = 0"),  # would delete other writers' new files
            "[subscriber] vacuum_retention_hours: expected a number of hours between 0.1 and 100000, got 0",
        ),
        (
            added("publisher", "rate = -inf"),
            "[publisher] rate: expected 0 (no limit) or a number of rows per second between 0.01 and "
            "1000000, got -inf",
        ),
        (
            added("publisher", "rate = 0.001"),
            "[publisher] rate: expected 0 (no limit) or a number of rows per second between 0.01 and "
            "1000000, got 0.001",
        ),
        (
            added("publisher", "rate = false"),
            "[publisher] rate: expected 0 (no limit) or a number of rows per second between 0.01 and "
            "1000000, got False",
        ),
        # strings
        (
            added("subscriber", "group_id = true"),
            "[subscriber] group_id: expected a non-empty string, got True",
        ),
        (
            added("subscriber", 'group_id = ["g"]'),
            "[subscriber] group_id: expected a non-empty string, got ['g']",
        ),
        (
            added("subscriber", 'group_id = "  "'),
            "[subscriber] group_id: expected a non-empty string, got '  '",
        ),
        (
            added("subscriber", 'group_id = "a\\nb"'),
            "[subscriber] group_id: expected a non-empty string without control characters (newline, "
            "tab, NUL), got 'a\\nb'",
        ),
        # choices
        (
            added("kafka", "isolation_level = []"),
            "[kafka] isolation_level: expected one of read_committed, read_uncommitted, got []",
        ),
        (
            added("kafka", 'security_protocol = "plaintext"'),
            "[kafka] security_protocol: expected one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL, got "
            "'plaintext'",
        ),
        # logging level
        (added("general", 'logging_level = "LOUD"'), f"[general] logging_level: {LEVEL}, got 'LOUD'"),
        (added("general", "logging_level = 0"), f"[general] logging_level: {LEVEL}, got 0"),
        (added("general", "logging_level = 51"), f"[general] logging_level: {LEVEL}, got 51"),
        (added("general", "logging_level = 20.0"), f"[general] logging_level: {LEVEL}, got 20.0"),
        (added("general", "logging_level = true"), f"[general] logging_level: {LEVEL}, got True"),
        (
            added("general", "logging_level = 99999999999999999999"),
            f"[general] logging_level: {LEVEL}, got 99999999999999999999",
        ),
        # bootstrap servers
        (
            replaced('"localhost:9092"', '"localhost:0"'),
            f"[general] bootstrap_servers: {PORT}, got 'localhost:0'",
        ),
        (
            replaced('"localhost:9092"', '"localhost:99999"'),
            f"[general] bootstrap_servers: {PORT}, got 'localhost:99999'",
        ),
        (
            replaced('"localhost:9092"', '"localhost:0009092"'),
            f"[general] bootstrap_servers: {PORT}, got 'localhost:0009092'",
        ),
        (replaced('"localhost:9092"', '":9092"'), f"[general] bootstrap_servers: {SERVER}, got ':9092'"),
        (
            replaced('"localhost:9092"', '"localhost"'),
            f"[general] bootstrap_servers: {SERVER}, got 'localhost'",
        ),
        (
            replaced('"localhost:9092"', '"::1:9092"'),
            f"[general] bootstrap_servers: {SERVER}, got '::1:9092'",
        ),
        (
            replaced('"localhost:9092"', '"[nope]:9092"'),
            f"[general] bootstrap_servers: {SERVER}, got '[nope]:9092'",
        ),
        (
            replaced('"localhost:9092"', '"host name:9092"'),
            f"[general] bootstrap_servers: {SERVER}, got 'host name:9092'",
        ),
        (
            replaced('"localhost:9092"', '"PLAINTEXT://h:9092"'),
            f"[general] bootstrap_servers: {SERVER}, got 'PLAINTEXT://h:9092'",
        ),
        (replaced('"localhost:9092"', "[1]"), f"[general] bootstrap_servers: {SERVER}, got 1"),
        (
            replaced('"localhost:9092"', "[]"),
            '[general] bootstrap_servers: expected a "host:port" string or a list of them, got []',
        ),
        (
            replaced('"localhost:9092"', '""'),
            "[general] bootstrap_servers: expected a \"host:port\" string or a list of them, got ''",
        ),
        (
            replaced('"localhost:9092"', "9092"),
            '[general] bootstrap_servers: expected a "host:port" string or a list of them, got 9092',
        ),
        # topics
        (replaced('["a"]', '["a\\n"]'), f"[general] topics: {TOPIC}, got 'a\\n'"),
        (replaced('["a"]', '["ok", "a/b"]'), f"[general] topics: {TOPIC}, got 'a/b'"),
        (replaced('["a"]', '[["a"]]'), f"[general] topics: {TOPIC}, got ['a']"),
        (replaced('["a"]', "[1]"), f"[general] topics: {TOPIC}, got 1"),
        (replaced('["a"]', "[]"), "[general] topics: expected a non-empty list of topic names, got []"),
        (replaced('["a"]', '" , "'), "[general] topics: expected a non-empty list of topic names, got ' , '"),
        (replaced('["a"]', "true"), "[general] topics: expected a non-empty list of topic names, got True"),
        (
            replaced('["a"]', f'["{DEAD_LETTERS}"]'),
            "[general] topics: expected a topic name other than '_dead_letters', which is the subscriber's "
            "dead-letter table, got '_dead_letters'",
        ),
        (
            replaced('["a"]', '["_tombstones"]'),
            "[general] topics: expected a topic name other than '_tombstones', which is the folder of the "
            "subscriber's tombstones, got '_tombstones'",
        ),
        (
            replaced('["a"]', '["__consumer_offsets"]'),
            "[general] topics: expected a topic name that does not start with '__' (Kafka's internal "
            "topics), "
            "got '__consumer_offsets'",
        ),
        (
            replaced('["a"]', '["a", "a"]'),
            "[general] topics: expected a list of distinct topic names, got 'a'",
        ),
        (
            replaced('["a"]', '["a.b", "a_b"]'),
            "[general] topics: expected a list of distinct topic names ('a.b' and 'a_b' collide: Kafka takes "
            "'.' and '_' as one), got 'a_b'",
        ),
        (
            added("query", "client = 5"),
            f"[query] client: {TOPIC}, got 5",
        ),
        (
            added("query", f'sale = "{DEAD_LETTERS}"'),
            "[query] sale: expected a topic name other than '_dead_letters', which is the subscriber's "
            "dead-letter table, got '_dead_letters'",
        ),
        # id column
        (
            added("general", 'id_column = "id\\n"'),
            "[general] id_column: expected a column name (a letter or '_', then letters, digits, '_'), "
            "got 'id\\n'",
        ),
        (
            added("general", 'id_column = "my id"'),
            "[general] id_column: expected a column name (a letter or '_', then letters, digits, '_'), "
            "got 'my id'",
        ),
        (
            added("general", 'id_column = "__deleted"'),
            "[general] id_column: expected a column name that does not start with '__' (reserved for the "
            "subscriber's own columns), got '__deleted'",
        ),
        # paths
        (
            replaced('raw_path = "data"', 'raw_path = "da\\u0000ta"'),
            f"[publisher] raw_path: {PATH_ERR}, got 'da\\x00ta'",
        ),
        (
            replaced('raw_path = "data"', "raw_path = 1"),
            "[publisher] raw_path: expected a path string, got 1",
        ),
        (
            replaced('raw_path = "data"', 'raw_path = ""'),
            "[publisher] raw_path: expected a path string, got ''",
        ),
        (
            replaced('raw_path = "data"', 'raw_path = "~no-such-user-here/x"'),
            "[publisher] raw_path: expected a path whose ~ names a home directory that exists, "
            "got '~no-such-user-here/x'",
        ),
        (
            replaced('delta_path = "delta"', 'delta_path = "de\\u0000lta"'),
            f"[subscriber] delta_path: {PATH_ERR}, got 'de\\x00lta'",
        ),
        # keys
        (
            added("subscriber", "colour = 1"),
            "[subscriber] colour: expected one of: delta_path, group_id, max_batch_records, "
            "max_batch_latency_ms, compact_every, file_target_kb, vacuum_retention_hours, storage_options",
        ),
        (
            MINIMAL.replace('bootstrap_servers = "localhost:9092"\n', ""),
            "[general] bootstrap_servers: expected a value (the key is required)",
        ),
    ],
)
def test_a_bad_value_names_the_file_the_key_and_the_rule(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    assert error(path) == f"{path}: {message}"


def test_long_values_are_shown_short(tmp_path: Path) -> None:
    path = write(tmp_path, added("query", 'client = "' + "c/" * 200 + '"'))
    shown = repr("c/" * 200)
    assert error(path) == f"{path}: [query] client: {TOPIC}, got {shown[:75]}...' (402 characters)"


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("sasl_password = 123456789", "an integer"),
        ('sasl_password = ["hunter2-secret"]', "a list"),
        ('sasl_password = { value = "hunter2-secret" }', "a table"),
        ("sasl_password = 3.25", "a number"),
        ('sasl_password = ""', "a string"),
    ],
)
def test_a_password_of_the_wrong_type_is_never_echoed(tmp_path: Path, line: str, kind: str) -> None:
    text = added(
        "kafka",
        f'security_protocol = "SASL_PLAINTEXT"\nsasl_mechanism = "PLAIN"\nsasl_username = "u"\n{line}',
    )
    path = write(tmp_path, text)
    message = error(path)
    assert (
        message
        == f"{path}: [kafka] sasl_password: expected a non-empty string, got {kind} (the value is not shown)"
    )
    assert "hunter2" not in message and "123456789" not in message and "3.25" not in message


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            "heartbeat_interval_ms = 9000",
            "[kafka] heartbeat_interval_ms: expected a value below session_timeout_ms (6000), got 9000",
        ),
        (
            'security_protocol = "SASL_SSL"',
            "[kafka] sasl_mechanism: expected a value: security_protocol SASL_SSL needs it",
        ),
        (
            'security_protocol = "SASL_PLAINTEXT"\nsasl_mechanism = "PLAIN"\nsasl_username = "u"',
            "[kafka] sasl_password: expected a value: security_protocol SASL_PLAINTEXT needs it",
        ),
        (
            'sasl_username = "u"',
            "[kafka] sasl_username: expected no value with security_protocol PLAINTEXT (it would be "
            "ignored); "
            'set security_protocol = "SASL_SSL" or "SASL_PLAINTEXT", or remove the key',
        ),
        (
            'ssl_cafile = "ca.pem"',
            "[kafka] ssl_cafile: expected no value with security_protocol PLAINTEXT (it would be ignored); "
            'set security_protocol = "SSL" or "SASL_SSL", or remove the key',
        ),
        (
            'schema_registry_username = "u"',
            "[kafka] schema_registry_username: expected no value without schema_registry_url "
            "(it would be ignored)",
        ),
        (
            'schema_registry_url = "localhost:8081"',
            "[kafka] schema_registry_url: expected an http:// or https:// URL, got 'localhost:8081'",
        ),
    ],
)
def test_rules_that_tie_keys_together(tmp_path: Path, lines: str, message: str) -> None:
    path = write(tmp_path, added("kafka", lines))
    assert error(path) == f"{path}: {message}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (added("publisher", 'format = "avro"'), "a Schema Registry's URL: [publisher] format is avro"),
        (MINIMAL + '[topic.sale]\nformat = "avro"\n', "a Schema Registry's URL: [topic.sale] format is avro"),
    ],
)
def test_avro_needs_a_schema_registry(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    assert error(path) == f"{path}: [kafka] schema_registry_url: expected {message}"


def test_a_topic_is_read_in_its_own_format_else_the_publishers(tmp_path: Path) -> None:
    text = added("kafka", 'schema_registry_url = "https://registry:8081/apis/ccompat/v7"')
    text += '[topic.orders]\nformat = "json"\n[topic.sale]\nformat = "avro"\n'
    cfg = config.load(write(tmp_path, text.replace("[publisher]\n", '[publisher]\nformat = "avro"\n')))
    assert (cfg.format("orders"), cfg.format("sale"), cfg.format("other")) == ("json", "avro", "avro")
    plain = config.load(write(tmp_path, MINIMAL))
    assert plain.format("sale") == "json"


def test_undeclared_fields_of_a_topic_the_publisher_writes_in_avro_are_refused(tmp_path: Path) -> None:
    text = added("kafka", 'schema_registry_url = "https://registry:8081/apis/ccompat/v7"')
    text = text.replace("[publisher]\n", '[publisher]\nformat = "avro"\n')
    path = write(tmp_path, text + '[topic.sale]\nundeclared_fields = "discard"\n')
    assert error(path) == (
        f"{path}: [topic.sale] undeclared_fields: expected no value when [publisher] format is avro: every "
        "field of its schema is a column, got 'discard'"
    )
    json_topic = '[topic.sale]\nformat = "json"\nundeclared_fields = "discard"\n'
    assert config.load(write(tmp_path, text + json_topic)).format("sale") == "json"


def test_delivery_timeout_against_linger(tmp_path: Path) -> None:
    path = write(tmp_path, added("publisher", "linger_ms = 5000\ndelivery_timeout_ms = 5999"))
    assert error(path) == (
        f"{path}: [publisher] delivery_timeout_ms: expected at least linger_ms + 1000 (6000), got 5999"
    )


@pytest.mark.parametrize(
    "servers",
    [
        "[::1]:9092",
        "[fe80::1%eth0]:9092",
        "127.0.0.1:1",
        "kafka-1.example.com:65535",
        "a:1, b:2,",
        "broker_1:9092",
    ],
)
def test_servers_that_are_accepted(tmp_path: Path, servers: str) -> None:
    path = write(tmp_path, replaced('"localhost:9092"', f'"{servers}"'))
    assert config.load(path).general.bootstrap_servers == tuple(
        s.strip() for s in servers.split(",") if s.strip()
    )


@pytest.mark.parametrize("name", ["../etc", "a/b", "", ".", "..", "x" * 250, "sp ace", "a\n", "é"])
def test_topic_names_that_are_not_kafka_names_are_refused(tmp_path: Path, name: str) -> None:
    text = BASE.format(level='"INFO"', batch_size=1).replace('["client", "sale"]', f"[{json.dumps(name)}]")
    with pytest.raises(ConfigError, match=r"\[general\] topics: expected"):
        config.load(write(tmp_path, text))


# -- the command line -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {("publisher", "batch_size"): -5},
            "--batch-size: expected an integer between 1 and 10000000, got -5",
        ),
        (
            {("publisher", "rate"): float("nan")},
            "--rate: expected 0 (no limit) or a number of rows per second between 0.01 and 1000000, got nan",
        ),
        ({("general", "logging_level"): "LOUD"}, f"--log-level: {LEVEL}, got 'LOUD'"),
        ({("general", "logging_level"): "-5"}, f"--log-level: {LEVEL}, got '-5'"),
        ({("general", "logging_level"): "²"}, f"--log-level: {LEVEL}, got '²'"),
        ({("general", "topics"): ""}, "--topics: expected a non-empty list of topic names, got ''"),
        (
            {("general", "topics"): "a,_dead_letters"},
            "--topics: expected a topic name other than '_dead_letters', which is the subscriber's "
            "dead-letter table, got '_dead_letters'",
        ),
        (
            {("general", "topics"): "sale,nosuch,other"},
            "--topics: expected topics of the config (client, sale), got 'nosuch, other'",
        ),
        (
            {("general", "bootstrap_servers"): ""},
            "--bootstrap-servers: expected a \"host:port\" string or a list of them, got ''",
        ),
        ({("general", "bootstrap_servers"): "h:0"}, f"--bootstrap-servers: {PORT}, got 'h:0'"),
        ({("subscriber", "group_id"): " "}, "--group-id: expected a non-empty string, got ' '"),
        (
            {("publisher", "raw_path"): "~no-such-user-here"},
            "--raw-path: expected a path whose ~ names a home directory that exists, got "
            "'~no-such-user-here'",
        ),
    ],
)
def test_a_bad_flag_value_names_the_flag(tmp_path: Path, overrides: config.Overrides, message: str) -> None:
    assert error(base(tmp_path), overrides) == f"command line: {message}"


def test_overrides_win(tmp_path: Path) -> None:
    path = base(tmp_path)
    cfg = config.load(
        path,
        {
            ("general", "bootstrap_servers"): "h1:1,h2:2",
            ("general", "topics"): "sale",
            ("general", "logging_level"): "15",
            ("publisher", "raw_path"): "elsewhere",
        },
    )
    assert cfg.general.bootstrap_servers == ("h1:1", "h2:2")
    assert cfg.topics == ("sale",)
    assert cfg.general.logging_level == 15
    assert cfg.publisher.raw_path == Path.cwd() / "elsewhere"


def test_config_is_frozen(tmp_path: Path) -> None:
    cfg = config.load(base(tmp_path))
    with pytest.raises(AttributeError):
        cfg.publisher.batch_size = 5  # type: ignore[misc]


def test_secrets_are_listed_for_masking(tmp_path: Path) -> None:
    text = added(
        "kafka",
        'security_protocol = "SASL_SSL"\nsasl_mechanism = "PLAIN"\n'
        'sasl_username = "u"\nsasl_password = "pw1"',
    )
    text += '[subscriber.storage_options]\nAWS_SECRET_ACCESS_KEY = "k2"\nAWS_REGION = "eu-west-1"\n'
    registry = 'schema_registry_url = "https://r"\nschema_registry_username = "u"\n'
    text = text.replace("[kafka]\n", f'[kafka]\n{registry}schema_registry_password = "pw3"\n')
    cfg = config.load(write(tmp_path, text))
    assert cfg.secrets() == ("pw1", "pw3", "k2")
    assert "pw3" not in repr(cfg)
    assert "pw1" not in repr(cfg) and "pw1" not in str(cfg.kafka)


def test_the_file_size_target_depends_on_where_the_tables_live(tmp_path: Path) -> None:
    local = config.load(base(tmp_path))
    assert local.subscriber.file_target_kb is None
    assert local.subscriber.file_target_bytes == values.LOCAL_FILE_KB * 1024 == 128 * 1024
    s3 = config.load(base(tmp_path), {("subscriber", "delta_path"): "s3://bucket/lake"})
    assert s3.subscriber.on_object_store
    assert s3.subscriber.file_target_bytes == values.OBJECT_STORE_FILE_KB * 1024 == 1024 * 1024
    chosen = config.load(
        base(tmp_path), {("subscriber", "file_target_kb"): 512, ("subscriber", "delta_path"): "s3://b/x"}
    )
    assert chosen.subscriber.file_target_bytes == 512 * 1024


def test_the_certificate_authority_goes_to_the_clients_relative_to_the_config(tmp_path: Path) -> None:
    path = write(tmp_path, added("kafka", 'security_protocol = "SSL"\nssl_cafile = "certs/ca.pem"'))
    settings = config.load(path).kafka.client_settings()
    assert settings == {"security_protocol": "SSL", "ssl_cafile": str(tmp_path / "certs" / "ca.pem")}
