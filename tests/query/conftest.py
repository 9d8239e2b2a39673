"""A site of typed Delta tables as a subscriber with declared columns writes them, and a config
naming them; no broker."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from deltalake import write_deltalake

import query
from deltastream.values import DEAD_LETTERS

from ..conftest import write_config

TOPICS = ["client", "department", "employee", "sale", "dbz.public.orders"]


def typed_sales(rows: list[tuple[int, int, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [r[0] for r in rows],
            "employee_id": [r[1] for r in rows],
            "client_id": [1 for _ in rows],
            "date": [date(2024, 11, 9) for _ in rows],
            "region": ["North" for _ in rows],
            "sale": [Decimal(r[2]) for r in rows],
        },
        schema={
            "id": pl.Int64,
            "employee_id": pl.Int64,
            "client_id": pl.Int64,
            "date": pl.Date,
            "region": pl.String,
            "sale": pl.Decimal(12, 2),
        },
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Typed tables as a subscriber with declared columns writes them; sale in three versions."""
    root = tmp_path_factory.mktemp("explore")
    write_config(
        root / "config.toml",
        {
            "general": {"bootstrap_servers": "localhost:9", "topics": TOPICS},
            "publisher": {"raw_path": "data"},
            "subscriber": {"delta_path": "delta"},
        },
    )
    delta = root / "delta"
    write_deltalake(
        str(delta / "client"), pl.DataFrame({"id": [1], "first_name": ["Zoë"], "last_name": ["Lee"]})
    )
    write_deltalake(
        str(delta / "department"), pl.DataFrame({"id": [1, 2], "department": ["Finance", "Research"]})
    )
    employees = {
        "id": [1, 2],
        "first_name": ["Åsa", "Tom"],
        "last_name": ["Ek", "Li"],
        "department_id": [1, 2],
    }
    write_deltalake(str(delta / "employee"), pl.DataFrame(employees))
    write_deltalake(str(delta / "sale"), typed_sales([(1, 1, "99.99"), (2, 2, "1200.50")]))
    write_deltalake(str(delta / "sale"), typed_sales([(3, 1, "10000.00")]), mode="append")
    write_deltalake(str(delta / "sale"), typed_sales([(4, 2, "5.00")]), mode="append")
    write_deltalake(str(delta / "dbz.public.orders"), pl.DataFrame({"id": [7], "note": ["a dotted name"]}))
    dead = pl.DataFrame({"topic": ["sale"], "partition": [0], "offset": [3], "error": ["not JSON"]})
    write_deltalake(str(delta / DEAD_LETTERS), dead)
    return root


def run(site: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """query.py with the site's config and ``argv``, in process: (exit status, stdout, stderr);
    never a traceback."""
    capsys.readouterr()
    try:
        code = query.main(["--config", str(site / "config.toml"), *argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err
