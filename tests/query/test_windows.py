"""--summary --window: the sales per tumbling window of the sale date, in every format and the
chart."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

import query
from deltastream.query.summary import by_window

from .test_charts import heights


def test_sales_per_day_week_and_month() -> None:
    report = pl.DataFrame(
        {
            "date": [date(2024, 11, 3), date(2024, 11, 4), date(2024, 11, 10), date(2024, 12, 1), None],
            "sale": [Decimal("1.00"), Decimal("2.00"), Decimal("3.00"), Decimal("4.00"), Decimal("5.00")],
        },
        schema={"date": pl.Date, "sale": pl.Decimal(38, 2)},
    )
    assert by_window(report, "week").rows() == [  # weeks start on Monday
        (date(2024, 10, 28), 1, Decimal("1.00")),
        (date(2024, 11, 4), 2, Decimal("5.00")),
        (date(2024, 11, 25), 1, Decimal("4.00")),
    ]
    assert by_window(report, "month").rows() == [
        (date(2024, 11, 1), 3, Decimal("6.00")),
        (date(2024, 12, 1), 1, Decimal("4.00")),
    ]
    assert by_window(report, "day").height == 4  # a sale without a date is in no window


def test_the_window_in_every_format_and_the_chart(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--config", str(site / "config.toml"), "--summary", "--window", "week"]
    assert query.main([*args, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["by_week"] == [
        {"week": "2024-11-04", "sales": 4, "total": "11305.49"}
    ]
    assert query.main([*args, "--format", "csv"]) == 0
    assert "by_week,,,2024-11-04,4,11305.49," in capsys.readouterr().out
    chart = tmp_path / "weeks.svg"
    assert query.main([*args, "--chart", str(chart), "--format", "csv"]) == 0
    assert "week:2024-11-04" in heights(chart)


def test_window_goes_with_summary_or_chart(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        query.main(["--config", str(site / "config.toml"), "--window", "day"])
    assert info.value.code == 2 and "--window goes with --summary and --chart" in capsys.readouterr().err


def test_an_average_is_rounded_half_away_from_zero() -> None:
    from deltastream.query.summary import summary

    amounts = [Decimal("611.24"), Decimal("667.89"), Decimal("-0.01"), Decimal("-0.02")]
    report = pl.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "employee_name": ["a"] * 4,
            "department": ["Finance", "Finance", "Research", "Research"],
            "client_name": ["c"] * 4,
            "date": [date(2024, 11, 4)] * 4,
            "region": ["North"] * 4,
            "sale": amounts,
        },
        schema_overrides={"sale": pl.Decimal(38, 2)},
    )
    averages = dict(summary(report)["by_department"].select("department", "average").iter_rows())
    assert averages == {"Finance": Decimal("639.57"), "Research": Decimal("-0.02")}  # 639.565, -0.015
