"""query.py --summary: sales totals by department and by region, and overall counts."""

from __future__ import annotations

import json
from collections.abc import Mapping

import polars as pl

#: The windows ``--window`` takes, as Polars truncates dates to them.
WINDOWS = {"day": "1d", "week": "1w", "month": "1mo", "year": "1y"}


def window_start(window: str) -> pl.Expr:
    """The first day of the sale date's tumbling window (a week starts on Monday)."""
    return pl.col("date").dt.truncate(WINDOWS[window]).alias(window)


#: What each group's sums are: added up over rows, and over groups of rows (see :mod:`.live`).
SUMS = (
    pl.len().cast(pl.Int64).alias("sales"),
    pl.col("sale").count().cast(pl.Int64).alias("priced"),
    pl.col("sale").sum().alias("total"),
)


def sums(frame: pl.DataFrame, key: str | None = None, window: str | None = None) -> pl.DataFrame:
    """The sums of each department or region (``key``), or of each window of the sale date."""
    if window is not None:
        return frame.filter(pl.col("date").is_not_null()).group_by(window_start(window)).agg(SUMS)
    return frame.group_by(key).agg(SUMS)


def finished(sums: pl.DataFrame, key: str, window: bool = False) -> pl.DataFrame:
    """A part of the summary from its sums: sales, total and (but for windows) average, in
    order: windows by date, groups by total, largest first."""
    sales = pl.col("sales").cast(pl.UInt32)
    if window:
        return sums.select(key, sales, "total").sort(key)
    # Exactly: the total at a finer scale divided, then rounded half away from zero (a division
    # at the amounts' own scale would cut 639.565 down to 639.56).
    exact = pl.col("total").cast(pl.Decimal(38, 6)) / pl.col("priced")
    average = pl.when(pl.col("priced") > 0).then(exact.round(2, mode="half_away_from_zero"))
    return sums.select(key, sales, "total", average.cast(pl.Decimal(38, 2)).alias("average")).sort(
        "total", key, descending=[True, False]
    )


def by_window(frame: pl.DataFrame, window: str) -> pl.DataFrame:
    """Sales and their total per tumbling window of the sale date (each window by its first day;
    a week starts on Monday), in date order."""
    return finished(sums(frame, window=window), window, window=True)


def overall(frame: pl.DataFrame) -> pl.DataFrame:
    """The counts over the whole report (one row)."""
    return frame.select(
        pl.len().alias("sales"),
        pl.col("sale").sum().alias("total"),
        pl.col("employee_name").n_unique().alias("employees"),
        pl.col("client_name").n_unique().alias("clients"),
        pl.col("department").n_unique().alias("departments"),
        pl.col("date").min().alias("first_sale"),
        pl.col("date").max().alias("last_sale"),
    )


def summary(frame: pl.DataFrame, window: str | None = None) -> dict[str, pl.DataFrame]:
    """Sales totals by department and by region, and overall counts, from a built report.

    Keys: ``by_department``, ``by_region``, ``by_<window>`` with a ``window``, and ``overall``
    (one row)."""
    parts = {f"by_{key}": finished(sums(frame, key), key) for key in GROUPS}
    if window is not None:
        parts[f"by_{window}"] = by_window(frame, window)
    return parts | {"overall": overall(frame)}


#: The groups of the summary, each a column of the report.
GROUPS = ("department", "region")


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
