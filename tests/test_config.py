"""Config validation: every bad value is one ConfigError naming the file, the key and the rule."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from deltastream import config
from deltastream.errors import ConfigError

from .conftest import ROOT

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


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def base(tmp_path: Path, level: str = '"INFO"', batch_size: str = "100", extra: str = "") -> Path:
    return write(tmp_path, BASE.format(level=level, batch_size=batch_size) + extra)


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


@pytest.mark.parametrize(
    ("raw", "expected"), [('"INFO"', logging.INFO), ("20", 20), ('"debug"', 10), ("40", 40)]
)
def test_logging_level_accepts_names_and_the_articles_integers(
    tmp_path: Path, raw: str, expected: int
) -> None:
    assert config.load(base(tmp_path, level=raw)).general.logging_level == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"batch_size": "0"},
            "[publisher] batch_size: expected an integer between 1 and 10000000, got 0",
        ),
        (
            {"batch_size": '"100"'},
            "[publisher] batch_size: expected an integer between 1 and 10000000, got '100'",
        ),
        ({"level": '"LOUD"'}, "[general] logging_level: expected a level name"),
        ({"level": "25"}, "[general] logging_level: expected a level name"),
        ({"extra": "colour = 1\n"}, "[subscriber] colour: expected one of: delta_path"),
        ({"extra": "[extras]\n"}, "[extras]: expected one of the sections"),
        (
            {"extra": "[kafka]\nheartbeat_interval_ms = 9000\n"},
            "[kafka] heartbeat_interval_ms: expected a value below session_timeout_ms (6000), got 9000",
        ),
    ],
)
def test_bad_values_name_the_file_and_key(tmp_path: Path, kwargs: dict[str, str], message: str) -> None:
    path = base(tmp_path, **kwargs)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert str(info.value).startswith(f"{path}: {message}")


def test_missing_required_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[general]\ntopics = ["a"]\n[publisher]\nraw_path = "d"\n[subscriber]\ndelta_path = "x"\n',
    )
    with pytest.raises(
        ConfigError,
        match=r"\[general\] bootstrap_servers: expected a value \(the key is required\)",
    ):
        config.load(path)


@pytest.mark.parametrize("name", ["../etc", "a/b", "", ".", "..", "x" * 250, "sp ace"])
def test_topic_names_that_are_not_kafka_names_are_refused(tmp_path: Path, name: str) -> None:
    text = BASE.format(level='"INFO"', batch_size=1).replace('["client", "sale"]', f'["{name}"]')
    with pytest.raises(ConfigError, match=r"\[general\] topics: expected"):
        config.load(write(tmp_path, text))


def test_duplicate_topics_are_refused(tmp_path: Path) -> None:
    text = BASE.format(level='"INFO"', batch_size=1).replace('["client", "sale"]', '["a", "a"]')
    with pytest.raises(ConfigError, match="distinct"):
        config.load(write(tmp_path, text))


def test_missing_file_and_bad_syntax(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: file: expected an existing TOML file"):
        config.load(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="syntax: expected valid TOML"):
        config.load(write(tmp_path, "[general\n"))


def test_overrides_win_and_are_validated_as_command_line(tmp_path: Path) -> None:
    path = base(tmp_path)
    cfg = config.load(path, {("general", "bootstrap_servers"): "h1:1,h2:2", ("general", "topics"): "sale"})
    assert cfg.general.bootstrap_servers == ("h1:1", "h2:2")
    assert cfg.topics == ("sale",)
    with pytest.raises(ConfigError, match=r"^command line: \[publisher\] batch_size"):
        config.load(path, {("publisher", "batch_size"): -5})


def test_config_is_frozen(tmp_path: Path) -> None:
    cfg = config.load(base(tmp_path))
    with pytest.raises(AttributeError):
        cfg.publisher.batch_size = 5  # type: ignore[misc]
