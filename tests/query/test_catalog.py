"""--catalog: a DuckDB database with a view per table over delta_scan, by the names of config.toml
(dotted ones quoted), refreshed when run again."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from deltalake import write_deltalake

import query
from deltastream.query.catalog import connect


def test_every_table_by_name_for_duckdb(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    shutil.rmtree(copy / "delta" / "dbz.public.orders")
    database = tmp_path / "tables.duckdb"
    assert query.main(["--config", str(copy / "config.toml"), "--catalog", str(database)]) == 0
    out = capsys.readouterr().out
    assert out == f"catalog {database}: 5 views (client, department, employee, sale, _dead_letters)\n"
    con = connect(database)
    try:
        assert con.execute("SELECT count(*), sum(sale)::VARCHAR FROM sale").fetchone() == (4, "11305.49")
        assert con.execute("SELECT count(*) FROM _dead_letters").fetchone() == (1,)
    finally:
        con.close()

    write_deltalake(str(copy / "delta" / "dbz.public.orders"), pl.DataFrame({"id": [7, 8]}))
    assert query.main(["--config", str(copy / "config.toml"), "--catalog", str(database)]) == 0
    assert "6 views" in capsys.readouterr().out
    con = connect(database)
    try:
        assert con.execute('SELECT count(*) FROM "dbz.public.orders"').fetchone() == (2,)
    finally:
        con.close()


def test_catalog_goes_alone(site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        query.main(
            ["--config", str(site / "config.toml"), "--catalog", str(tmp_path / "t.duckdb"), "--summary"]
        )
    assert info.value.code == 2
    assert "--catalog goes alone: it writes the database, then exits" in capsys.readouterr().err
    assert not (tmp_path / "t.duckdb").exists()


def test_tables_on_object_storage_are_refused_in_one_line(tmp_path: Path) -> None:
    from deltastream.errors import PipelineError
    from deltastream.query.catalog import write
    from deltastream.tables import Tables

    with pytest.raises(PipelineError, match="the tables are on object storage"):
        write(tmp_path / "t.duckdb", Tables.at("s3://bucket/tables"), ["sale"])
    assert not (tmp_path / "t.duckdb").exists()
