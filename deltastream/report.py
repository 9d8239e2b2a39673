"""The article's report: sales joined to employees, departments and clients, typed.

The Delta tables hold the CSV strings; :data:`CASTS` is the one place that gives them types. Rows
whose id, date or amount do not cast are left out of the report and counted, and so are sales whose
employee or client is unknown (the inner joins drop them, as in the article).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

import polars as pl
from deltalake import DeltaTable

from deltastream.errors import DataError, TableMissing
from deltastream.tables import Tables

TABLES = ("client", "department", "employee", "sale")
COLUMNS = ("id", "employee_name", "department", "client_name", "date", "region", "sale")
DATE_FORMAT = "%d/%m/%Y"
AMOUNT = r"^\s*-?\d+(\.\d{1,2})?\s*$"
ID = r"^\s*-?\d+\s*$"


def as_id(name: str) -> pl.Expr:
    """An integer id; anything else (``"x"``, ``"1.5"``, empty) becomes null."""
    col = pl.col(name)
    return pl.when(col.str.contains(ID)).then(col.str.strip_chars().cast(pl.Int64, strict=False))


def as_date(name: str) -> pl.Expr:
    """Day/month/year without zero padding (``1/4/2024``) as a Date; invalid dates become null."""
    return pl.col(name).str.strip_chars().str.to_date(DATE_FORMAT, strict=False)


def as_amount(name: str) -> pl.Expr:
    """An amount with up to two decimals as Decimal(38, 2); more decimals or text become null."""
    col = pl.col(name)
    return pl.when(col.str.contains(AMOUNT)).then(col.str.strip_chars().str.to_decimal(scale=2))


#: Per table: column -> (cast expression builder, what is expected). The one place types are set.
CASTS: dict[str, dict[str, tuple[object, str]]] = {
    "client": {"id": (as_id, "an integer id")},
    "department": {"id": (as_id, "an integer id")},
    "employee": {
        "id": (as_id, "an integer id"),
        "department_id": (as_id, "an integer department_id"),
    },
    "sale": {
        "id": (as_id, "an integer id"),
        "employee_id": (as_id, "an integer employee_id"),
        "client_id": (as_id, "an integer client_id"),
        "date": (as_date, "a day/month/year date"),
        "sale": (as_amount, "an amount with up to two decimals"),
    },
}


def typed(table: str, frame: pl.LazyFrame) -> pl.LazyFrame:
    """The table with typed columns, plus ``__key`` (the id as stored) and ``__bad`` (the first
    column whose value did not cast, or null). Each value is cast once."""
    casts = CASTS.get(table, {})
    cast = {name: f"__cast_{name}" for name in casts}
    failed = [
        pl.when(pl.col(name).is_not_null() & pl.col(cast[name]).is_null()).then(pl.lit(name))
        for name in casts
    ]
    return (
        frame.with_columns(
            pl.col("id").alias("__key"),
            *(builder(name).alias(cast[name]) for name, (builder, _) in casts.items()),  # type: ignore[operator]
        )
        .with_columns((pl.coalesce(failed) if failed else pl.lit(None, pl.String)).alias("__bad"))
        .with_columns(pl.col(cast[name]).alias(name) for name in casts)
        .drop(cast.values())
    )


@dataclass
class Problem:
    """Rows left out of the report for one reason."""

    table: str
    reason: str
    count: int
    ids: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        sample = ", ".join(self.ids[:5]) + (", ..." if self.count > 5 else "")
        return f"{self.table}: {self.count} rows {self.reason} (ids: {sample})"


@dataclass
class Report:
    frame: pl.DataFrame
    problems: list[Problem]
    versions: dict[str, int | None]
    notes: list[str] = field(default_factory=list)


def join(tables: Mapping[str, pl.LazyFrame]) -> pl.LazyFrame:
    """The article's joins on typed, valid rows; columns in :data:`COLUMNS` order, sorted by id."""
    name = pl.concat_str([pl.col("first_name"), pl.col("last_name")], separator=" ")
    department = tables["department"].select("id", "department")
    employee = (
        tables["employee"]
        .select("id", name.alias("employee_name"), "department_id")
        .join(department, left_on="department_id", right_on="id", how="inner")
        .select(pl.col("id").alias("employee_id"), "employee_name", "department")
    )
    client = tables["client"].select(pl.col("id").alias("client_id"), name.alias("client_name"))
    return (
        tables["sale"]
        .join(employee, on="employee_id", how="inner")
        .join(client, on="client_id", how="inner")
        .select(COLUMNS)
        .sort("id")
    )


def build(frames: Mapping[str, pl.LazyFrame], versions: Mapping[str, int | None] | None = None) -> Report:
    """Type, check and join the four tables (lazy frames of string columns)."""
    # Typed once, then read by the report and by every check.
    typed_frames = {
        t: f.lazy()
        for t, f in zip(TABLES, pl.collect_all([typed(t, frames[t]) for t in TABLES]), strict=True)
    }
    valid = {t: f.filter(pl.col("__bad").is_null()).drop("__bad", "__key") for t, f in typed_frames.items()}
    bad = [
        typed_frames[t]
        .filter(pl.col("__bad").is_not_null())
        .group_by("__bad")
        .agg(pl.len().alias("n"), pl.col("__key").sort().head(5).alias("ids"))
        for t in TABLES
    ]
    employees = valid["employee"].join(
        valid["department"].select("id"), left_on="department_id", right_on="id", how="semi"
    )
    sale = valid["sale"]
    orphans = [
        (
            "employee",
            "whose department is unknown",
            valid["employee"].join(valid["department"], left_on="department_id", right_on="id", how="anti"),
        ),
        (
            "sale",
            "whose employee is unknown (or has an unknown department)",
            sale.join(employees, left_on="employee_id", right_on="id", how="anti"),
        ),
        (
            "sale",
            "whose client is unknown",
            sale.join(valid["client"], left_on="client_id", right_on="id", how="anti"),
        ),
    ]
    orphan_counts = [
        frame.select(pl.len().alias("n"), pl.col("id").sort().head(5).cast(pl.String).implode().alias("ids"))
        for _, _, frame in orphans
    ]
    results = pl.collect_all([join(valid), *bad, *orphan_counts])
    report, bad_counts, orphaned = (
        results[0],
        results[1 : 1 + len(TABLES)],
        results[1 + len(TABLES) :],
    )
    problems: list[Problem] = []
    for table, counts in zip(TABLES, bad_counts, strict=True):
        for column, n, ids in counts.iter_rows():
            expected = CASTS[table][column][1]
            problems.append(Problem(table, f"without {expected} in '{column}'", n, _raw_ids(ids)))
    for (table, reason, _), counts in zip(orphans, orphaned, strict=True):
        n, ids = counts.row(0)
        if n:
            problems.append(Problem(table, reason, n, _raw_ids(ids)))
    return Report(report, problems, dict(versions or {}))


def _raw_ids(ids: list[str | None] | None) -> list[str]:
    return [str(i) for i in (ids or [])]


#: The columns each role needs, for a table that did not exist yet at --as-of time.
SCHEMAS: dict[str, tuple[str, ...]] = {
    "client": ("id", "first_name", "last_name"),
    "department": ("id", "department"),
    "employee": ("id", "first_name", "last_name", "department_id"),
    "sale": ("id", "employee_id", "client_id", "date", "region", "sale"),
}


def open_table(tables: Tables, topic: str) -> DeltaTable:
    table = tables.open(topic)
    if table is None:
        raise TableMissing(topic, tables.uri(topic))
    return table


def created_at(table: DeltaTable) -> datetime:
    """When version 0 of the table was committed."""
    first = min(entry["timestamp"] for entry in table.history())
    return datetime.fromtimestamp(first / 1000, timezone.utc)


def scan(
    tables: Tables, topic: str, role: str, as_of: datetime | None = None
) -> tuple[pl.LazyFrame, int | None, str | None]:
    """A lazy scan of one table, as it was at ``as_of`` when given: (frame, version, note)."""
    table = open_table(tables, topic)
    if as_of is not None:
        if as_of < created_at(table):
            empty = pl.LazyFrame(schema={name: pl.String for name in SCHEMAS[role]})
            return empty, None, f"table '{topic}' did not exist yet at {as_of.isoformat()}: counted as empty"
        table.load_as_version(as_of)
    return tables.scan(table), table.version(), None


def load(tables: Tables, roles: Mapping[str, str], as_of: datetime | None = None) -> Report:
    """Build the report from ``tables``; ``roles`` maps each role to its table's name."""
    frames: dict[str, pl.LazyFrame] = {}
    versions: dict[str, int | None] = {}
    notes: list[str] = []
    for role in TABLES:
        frames[role], versions[roles[role]], note = scan(tables, roles[role], role, as_of)
        if note:
            notes.append(note)
    result = build(frames, versions)
    result.notes = notes
    return result


def summary(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Sales totals by department and by region, and overall counts, from a built report."""
    totals = [
        pl.len().alias("sales"),
        pl.col("sale").sum().alias("total"),
        pl.col("sale").mean().round(2).cast(pl.Decimal(38, 2)).alias("average"),
    ]
    by_department = frame.group_by("department").agg(totals).sort("total", descending=True)
    by_region = frame.group_by("region").agg(totals).sort("total", descending=True)
    counts = frame.select(
        pl.len().alias("sales"),
        pl.col("sale").sum().alias("total"),
        pl.col("employee_name").n_unique().alias("employees"),
        pl.col("client_name").n_unique().alias("clients"),
        pl.col("department").n_unique().alias("departments"),
        pl.col("date").min().alias("first_sale"),
        pl.col("date").max().alias("last_sale"),
    )
    return {"by department": by_department, "by region": by_region, "overall": counts}


HISTORY_METRICS = {
    "inserted": ("num_target_rows_inserted", "num_added_rows"),
    "updated": ("num_target_rows_updated",),
    "deleted": ("num_target_rows_deleted", "num_deleted_rows"),
}


def history(tables: Tables, topics: Iterable[str]) -> pl.DataFrame:
    """Every commit of every table: version, time, operation and rows inserted/updated/deleted."""
    records = []
    for topic in topics:
        for entry in open_table(tables, topic).history():
            metrics = entry.get("operationMetrics") or {}
            record = {
                "table": topic,
                "version": entry["version"],
                "time": datetime.fromtimestamp(entry["timestamp"] / 1000, timezone.utc),
                "operation": entry.get("operation"),
            }
            for name, keys in HISTORY_METRICS.items():
                record[name] = next((int(metrics[k]) for k in keys if k in metrics), None)
            records.append(record)
    schema = pl.Schema(
        {
            "table": pl.String(),
            "version": pl.Int64(),
            "time": pl.Datetime("ms", "UTC"),
            "operation": pl.String(),
            "inserted": pl.Int64(),
            "updated": pl.Int64(),
            "deleted": pl.Int64(),
        }
    )
    return pl.DataFrame(records, schema=schema, orient="row").sort("table", "version")


def check(report: Report, strict: bool) -> None:
    """With ``strict``, any row left out is an error."""
    if strict and report.problems:
        raise DataError("; ".join(str(p) for p in report.problems))
