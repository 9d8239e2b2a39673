"""Waiting for a broker that is not there: one warning, then at a terminal one line that updates
in place (piped, nothing more for ten seconds), and a last line without client jargon."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import publisher
from deltastream.kafka.embedded import free_port

from ..conftest import ROOT, in_terminal, write_config


def config(tmp_path: Path) -> tuple[Path, str]:
    servers = f"127.0.0.1:{free_port()}"
    path = write_config(
        tmp_path / "config.toml",
        {
            "general": {"bootstrap_servers": servers, "topics": ["item"]},
            "kafka": {"connect_timeout_s": 3},
            "publisher": {"raw_path": str(tmp_path)},
            "subscriber": {"delta_path": str(tmp_path / "delta")},
        },
    )
    (tmp_path / "item.csv").write_text("id\n1\n", encoding="utf-8")
    return path, servers


def test_piped_one_warning_then_the_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, servers = config(tmp_path)
    assert publisher.main(["--config", str(path)]) == 1
    lines = capsys.readouterr().err.splitlines()
    warnings = [line for line in lines if " WARNING " in line]
    assert len(warnings) == 1 and warnings[0].endswith(
        f"no Kafka broker at {servers} yet; waiting up to 3 s (Ctrl-C stops)"
    )
    assert lines[-1].startswith(f"publisher.py: error: no Kafka broker reachable at {servers} after ")
    assert "(connection refused)" in lines[-1] and "Error" not in lines[-1]


def test_at_a_terminal_one_line_updates_in_place(tmp_path: Path) -> None:
    path, servers = config(tmp_path)
    code, seen = in_terminal([sys.executable, str(ROOT / "publisher.py"), "--config", str(path)])
    assert code == 1
    assert seen.count("WARNING") == 1  # in colour
    assert f"\r\x1b[Kstill no Kafka broker at {servers} after " in seen
    last = seen.replace("\r\n", "\n").split("\n")[-2]
    assert last.endswith("docker compose up -d`") and "still no broker" not in last.split("publisher.py:")[-1]
