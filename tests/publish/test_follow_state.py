"""What publisher.py --follow remembers: per topic, for the topic's id on the broker; anything
else (another broker, a damaged file) means every row is sent again, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltastream import config
from deltastream.publish.follow import STATE_DIR, Followed

from ..conftest import write_config


@pytest.fixture
def cfg(tmp_path: Path) -> config.Config:
    path = write_config(
        tmp_path / "config.toml",
        {
            "general": {"bootstrap_servers": "localhost:9", "topics": ["item"]},
            "publisher": {"raw_path": str(tmp_path / "data")},
            "subscriber": {"delta_path": str(tmp_path / "delta")},
        },
    )
    return config.load(path)


def test_what_was_sent_is_kept_for_its_topic_id_only(cfg: config.Config) -> None:
    followed = Followed.of(cfg, "item", "id-1")
    followed.sent = {"1": "aa", "2": "bb"}
    followed.save()
    assert Followed.of(cfg, "item", "id-1").sent == {"1": "aa", "2": "bb"}
    assert Followed.of(cfg, "item", "id-2").sent == {}  # a new broker, or the topic created anew


@pytest.mark.parametrize("content", ["null", "[1, 2]", '{"topic_id": "id-1", "sent": {"1": 5}}', "{"])
def test_a_damaged_file_means_every_row_again(cfg: config.Config, content: str) -> None:
    state = cfg.publisher.raw_path / STATE_DIR / "item.json"
    state.parent.mkdir(parents=True)
    state.write_text(content, encoding="utf-8")
    assert Followed.of(cfg, "item", "id-1").sent == {}


def test_a_folder_that_cannot_be_written_is_said(
    cfg: config.Config, caplog: pytest.LogCaptureFixture
) -> None:
    cfg.publisher.raw_path.mkdir(parents=True)
    (cfg.publisher.raw_path / STATE_DIR).write_text("a file where the folder goes", encoding="utf-8")
    followed = Followed.of(cfg, "item", "id-1")
    followed.sent = {"1": "aa"}
    followed.save()  # no exception
    assert any("what was sent cannot be remembered" in r.getMessage() for r in caplog.records)
