"""The report kept as a Delta table (--into): one commit per refresh, naming the versions of the
tables it was built from, none when nothing changed, and kept current by --watch."""

from __future__ import annotations

import io
import json
import shutil
import signal
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

from ..conftest import start_script, wait_until
from .conftest import run, typed_sales


def sources(gold: Path) -> dict[str, int]:
    return dict(json.loads(DeltaTable(str(gold)).history(1)[0]["deltastream.sources"]))


@pytest.fixture
def copy(site: Path, tmp_path: Path) -> Path:
    shutil.copytree(site, tmp_path / "site")
    return tmp_path / "site"


def test_the_report_as_a_table_that_names_its_sources(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gold = copy / "gold"
    code, out, _ = run(copy, capsys, "--into", str(gold), "--format", "csv")
    assert code == 0
    assert pl.read_delta(str(gold)).equals(
        pl.read_csv(io.StringIO(out), schema=pl.read_delta(str(gold)).schema)
    )
    assert sources(gold) == {"client": 0, "department": 0, "employee": 0, "sale": 2}

    assert run(copy, capsys, "--into", str(gold))[0] == 0
    assert DeltaTable(str(gold)).version() == 0  # the same sources: nothing written

    write_deltalake(str(copy / "delta" / "sale"), typed_sales([(1, 1, "1.00")]), mode="overwrite")
    assert run(copy, capsys, "--into", str(gold))[0] == 0
    assert DeltaTable(str(gold)).version() == 1 and sources(gold)["sale"] == 3
    assert pl.read_delta(str(gold))["sale"].to_list() == [Decimal("1.00")]


def test_watch_keeps_it_current(copy: Path) -> None:
    gold = copy / "gold"
    watching = start_script(
        "query.py", "--config", str(copy / "config.toml"), "--watch", "0.1", "--into", str(gold)
    )
    try:
        wait_until(lambda: (gold / "_delta_log").exists() and sources(gold)["sale"] == 2, 30)
        write_deltalake(str(copy / "delta" / "sale"), typed_sales([(9, 2, "9.00")]), mode="append")
        wait_until(lambda: sources(gold)["sale"] == 3, 30)
    finally:
        watching.send_signal(signal.SIGINT)
        watching.wait(30)
    assert 9 in pl.read_delta(str(gold))["id"].to_list()
    assert DeltaTable(str(gold)).version() == 1  # one commit per change, none while nothing changed


@pytest.mark.parametrize("flags", [["--summary"], ["--history"], ["--as-of", "-5m"]])
def test_into_goes_with_the_report_as_it_is_now(
    copy: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    code, _, err = run(copy, capsys, "--into", str(copy / "gold"), *flags)
    assert code == 2 and "--into goes with the report and --watch (the report as it is now)" in err


def test_into_never_replaces_a_table_the_report_did_not_write(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sale = copy / "delta" / "sale"
    before = DeltaTable(str(sale)).version()
    code, _, err = run(copy, capsys, "--into", str(sale))
    assert code == 1
    assert f"--into {sale}: a Delta table the report did not write is there; choose another path" in err
    assert DeltaTable(str(sale)).version() == before
