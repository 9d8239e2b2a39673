"""query.py --summary: sales totals by department and by region, and overall counts."""

from __future__ import annotations

import json
from collections.abc import Mapping

import polars as pl

#: The windows ``--window`` takes, as Polars truncates dates to them.
WINDOWS = {"day": "1d", "week": "1w", "month": "1mo", "year": "1y"}


def by_window(frame: pl.DataFrame, window: str) -> pl.DataFrame:
    """Sales and their total per tumbling window of the sale date (each window by its first day;
    a week starts on Monday), in date order."""
    start = pl.col("date").dt.truncate(WINDOWS[window]).alias(window)
    return (
        frame.filter(pl.col("date").is_not_null())
        .group_by(start)
        .agg(pl.len().alias("sales"), pl.col("sale").sum().alias("total"))
        .sort(window)
    )


def summary(frame: pl.DataFrame, window: str | None = None) -> dict[str, pl.DataFrame]:
    """Sales totals by department and by region, and overall counts, from a built report.

    Keys: ``by_department``, ``by_region``, ``by_<window>`` with a ``window``, and ``overall``
    (one row)."""
    totals = [
        pl.len().alias("sales"),
        pl.col("sale").sum().alias("total"),
        pl.col("sale").mean().round(2).cast(pl.Decimal(38, 2)).alias("average"),
    ]
    by_department = (
        frame.group_by("department").agg(totals).sort("total", "department", descending=[True, False])
    )
    by_region = frame.group_by("region").agg(totals).sort("total", "region", descending=[True, False])
    counts = frame.select(
        pl.len().alias("sales"),
        pl.col("sale").sum().alias("total"),
        pl.col("employee_name").n_unique().alias("employees"),
        pl.col("client_name").n_unique().alias("clients"),
        pl.col("department").n_unique().alias("departments"),
        pl.col("date").min().alias("first_sale"),
        pl.col("date").max().alias("last_sale"),
    )
    parts = {"by_department": by_department, "by_region": by_region}
    if window is not None:
        parts[f"by_{window}"] = by_window(frame, window)
    return parts | {"overall": counts}


def summary_json(parts: Mapping[str, pl.DataFrame]) -> str:
    """The summary as one JSON object: a list of rows per part, ``overall`` as one object."""
    document = {name: json.loads(frame.write_json()) for name, frame in parts.items()}
    document["overall"] = document["overall"][0]
    return json.dumps(document, ensure_ascii=False) + "\n"


def summary_table(parts: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """The summary as one table: the part each row belongs to in column ``part``, then the group
    (department, region), then the numbers; a column a part does not have is null there."""
    combined = pl.concat(
        [frame.select(pl.lit(name).alias("part"), pl.all()) for name, frame in parts.items()],
        how="diagonal",
    )
    first = ["part", "department", "region", *(w for w in WINDOWS if w in combined.columns)]
    return combined.select(first + [c for c in combined.columns if c not in first])
