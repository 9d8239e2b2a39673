"""The article's report: sales joined to employees, departments and clients, typed.

The Delta tables hold the CSV strings; :data:`CASTS` is the one place that gives them types. Rows
whose id, date or amount do not cast are left out of the report and counted, and so are sales whose
employee or client is unknown (the inner joins drop them, as in the article). Ids are compared as
integers: rows of one table whose ids differ only in how they are written (``7``, ``07``, `` 7``)
are different keys in Kafka and Delta but one id here, so every one of them is left out and counted
(the report never holds two rows for one id).

Tables are read through :mod:`deltastream.query.diagnose`: a table that is there but cannot be read
(damaged, not a Delta table, not readable) raises :class:`TableUnreadable` saying what is wrong and
how to recover; so does one without the columns the report needs (:func:`check_columns`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import polars as pl
from deltalake import DeltaTable

from deltastream.errors import DataError, PipelineError, TableUnreadable, one_line
from deltastream.logs import counted
from deltastream.query.asof import AsOf
from deltastream.query.diagnose import READ_ERRORS, check_files, reading, unreadable
from deltastream.query.travel import open_at
from deltastream.tables import Tables

log = logging.getLogger(__name__)

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


#: Per table: column -> (cast expression builder for text, what is expected). The one place types
#: are set for tables of text; a table whose columns were typed by the subscriber (declared in
#: [topic.<name>.columns]) is only brought to the same types.
CASTS: dict[str, dict[str, tuple[Callable[[str], pl.Expr], str]]] = {
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
#: The type each builder gives, which a typed column is brought to.
TARGETS: dict[Callable[[str], pl.Expr], pl.DataType] = {
    as_id: pl.Int64(),
    as_date: pl.Date(),
    as_amount: pl.Decimal(38, 2),
}


def typed(table: str, frame: pl.LazyFrame) -> pl.LazyFrame:
    """The table with typed columns, plus ``__key`` (the id as stored, as text) and ``__bad`` (the
    first column whose value did not cast, or null). Each value is cast once; a column the table
    already holds typed is only brought to the report's type."""
    casts = CASTS.get(table, {})
    schema = frame.collect_schema()
    cast = {name: f"__cast_{name}" for name in casts}
    failed = [
        pl.when(pl.col(name).is_not_null() & pl.col(cast[name]).is_null()).then(pl.lit(name))
        for name in casts
    ]

    def converted(name: str, builder: Callable[[str], pl.Expr]) -> pl.Expr:
        if schema.get(name) in (pl.String, None):
            return builder(name)
        return pl.col(name).cast(TARGETS[builder], strict=False)

    return (
        frame.with_columns(
            pl.col("id").cast(pl.String).alias("__key"),
            *(converted(name, builder).alias(cast[name]) for name, (builder, _) in casts.items()),
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
        sample = ", ".join(shown(i) for i in self.ids[:5]) + (", ..." if self.count > 5 else "")
        return f"{self.table}: {counted(self.count, 'row')} {self.reason} (ids: {sample})"


def shown(key: str) -> str:
    """An id as written, quoted when spaces at either end, a comma or nothing would be lost."""
    return repr(key) if not key or key != key.strip() or "," in key or "'" in key else key


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
    typed_frames = dict(zip(TABLES, pl.collect_all([typed(t, frames[t]) for t in TABLES]), strict=True))
    return from_typed(typed_frames, versions)


def from_typed(
    typed_frames: Mapping[str, pl.DataFrame], versions: Mapping[str, int | None] | None = None
) -> Report:
    """The report and the rows left out of it, from the four tables as :func:`typed` gives them."""
    report, why = built({t: typed_frames[t].lazy() for t in TABLES})
    return Report(report, left_out(why), dict(versions or {}))


def built(frames: Mapping[str, pl.LazyFrame]) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """The report's rows, and per table its rows left out and why (:func:`reasons`), of the four
    tables as :func:`typed` gives them, in one pass."""
    why = reasons(frames)
    report, *found = pl.collect_all([join(valid(frames)), *why.values()])
    return report, dict(zip(why, found, strict=True))


def valid(typed_frames: Mapping[str, pl.LazyFrame]) -> dict[str, pl.LazyFrame]:
    """The rows the report joins: typed, and of an id written one way only."""
    castable = {t: f.filter(pl.col("__bad").is_null()) for t, f in typed_frames.items()}
    return {t: f.filter(~SHARED).drop("__bad") for t, f in castable.items()}


#: A row whose id is also another castable row's id (written another way).
SHARED = pl.col("id").is_duplicated() & pl.col("id").is_not_null()
#: Rows left out for being orphans: (table, reason), their :data:`REASON` ``orphan:<index>``.
ORPHANS = (
    ("employee", "whose department is unknown"),
    ("sale", "whose employee is unknown (or has an unknown department)"),
    ("sale", "whose client is unknown"),
)
#: The column of :func:`reasons`: ``bad:<column>`` (the first column that did not cast),
#: ``shared`` (an id written more than one way) or ``orphan:<index in ORPHANS>``.
REASON = "reason"


def reasons(
    typed_frames: Mapping[str, pl.LazyFrame], tables: tuple[str, ...] = TABLES
) -> dict[str, pl.LazyFrame]:
    """Per table of ``tables``, its rows left out of the report: ``__key``, ``id`` and
    :data:`REASON` (a row may be an orphan for two reasons)."""
    ok = valid(typed_frames)
    employees = ok["employee"].join(
        ok["department"].select("id"), left_on="department_id", right_on="id", how="semi"
    )
    orphans = (
        ok["employee"].join(ok["department"], left_on="department_id", right_on="id", how="anti"),
        ok["sale"].join(employees, left_on="employee_id", right_on="id", how="anti"),
        ok["sale"].join(ok["client"], left_on="client_id", right_on="id", how="anti"),
    )
    found: dict[str, list[pl.LazyFrame]] = {t: [] for t in tables}
    for t in tables:
        frame = typed_frames[t]
        found[t].append(
            frame.filter(pl.col("__bad").is_not_null()).select(
                "__key", "id", pl.concat_str(pl.lit("bad:"), "__bad").alias(REASON)
            )
        )
        found[t].append(
            frame.filter(pl.col("__bad").is_null() & SHARED).select(
                "__key", "id", pl.lit("shared").alias(REASON)
            )
        )
    for i, ((t, _), frame) in enumerate(zip(ORPHANS, orphans, strict=True)):
        if t in found:
            found[t].append(frame.select("__key", "id", pl.lit(f"orphan:{i}").alias(REASON)))
    return {t: pl.concat(frames) for t, frames in found.items()}


def left_out(found: Mapping[str, pl.DataFrame]) -> list[Problem]:
    """The problems of the rows :func:`reasons` found, table by table: rows that do not cast
    (by column), then ids written more than one way, then orphans."""
    problems: list[Problem] = []
    for table in TABLES:
        rows = found[table]
        for column, (_, expected) in CASTS[table].items():
            bad = rows.filter(pl.col(REASON) == f"bad:{column}")
            if bad.height:
                ids = bad.get_column("__key").sort().head(5).to_list()
                problems.append(
                    Problem(table, f"without {expected} in '{column}'", bad.height, _raw_ids(ids))
                )
    for table in TABLES:
        shared = found[table].filter(pl.col(REASON) == "shared")
        if shared.height:
            ids = shared.sort("id", "__key").get_column("__key").head(5).to_list()
            problems.append(
                Problem(table, "whose id is written more than once", shared.height, _raw_ids(ids))
            )
    for i, (table, reason) in enumerate(ORPHANS):
        orphans = found[table].filter(pl.col(REASON) == f"orphan:{i}")
        if orphans.height:
            ids = orphans.get_column("id").sort().head(5).cast(pl.String).to_list()
            problems.append(Problem(table, reason, orphans.height, _raw_ids(ids)))
    return problems


def _raw_ids(ids: list[str | None] | None) -> list[str]:
    return [str(i) for i in (ids or [])]


#: The columns each role needs (and those of an empty table, for one that did not exist yet).
SCHEMAS: dict[str, tuple[str, ...]] = {
    "client": ("id", "first_name", "last_name"),
    "department": ("id", "department"),
    "employee": ("id", "first_name", "last_name", "department_id"),
    "sale": ("id", "employee_id", "client_id", "date", "region", "sale"),
}


def check_columns(tables: Tables, topic: str, role: str, table: DeltaTable) -> None:
    """The table has every column its role in the report needs (else a wrong [query] name)."""
    with reading(tables, topic):
        have = [f.name for f in table.schema().fields]
    lacking = [c for c in SCHEMAS[role] if c not in have]
    if lacking:
        raise TableUnreadable(
            topic,
            tables.uri(topic),
            f"no column{'s' if len(lacking) > 1 else ''} {', '.join(repr(c) for c in lacking)} "
            f"(it has {', '.join(have)}); "
            f"the report's {role} table needs {', '.join(SCHEMAS[role])}",
            f"check [query] {role} in the config",
        )


def scan(
    tables: Tables, topic: str, role: str, as_of: AsOf | None = None
) -> tuple[pl.LazyFrame, int | None, str | None]:
    """A lazy scan of one table, as ``as_of`` names it when given: (frame, version, note)."""
    table = open_at(tables, topic, as_of)
    if table is None:
        empty = pl.LazyFrame(schema={name: pl.String for name in SCHEMAS[role]})
        return empty, None, f"table '{topic}' did not exist yet at {as_of}: counted as empty"
    check_columns(tables, topic, role, table)
    check_files(tables, topic, table, as_of if as_of is not None and as_of.moves(topic) else None)
    with reading(tables, topic):
        return tables.scan(table), table.version(), None


def make(tables: Tables, roles: Mapping[str, str], as_of: AsOf | None = None) -> Report:
    """Build the report from ``tables``; ``roles`` maps each role to its table's name."""
    frames: dict[str, pl.LazyFrame] = {}
    versions: dict[str, int | None] = {}
    notes: list[str] = []
    for role in TABLES:
        frames[role], versions[roles[role]], note = scan(tables, roles[role], role, as_of)
        if note:
            notes.append(note)
    try:
        result = build(frames, versions)
    except READ_ERRORS as exc:
        raise culprit(tables, roles, frames, exc) from exc
    result.notes = notes
    return result


def culprit(
    tables: Tables, roles: Mapping[str, str], frames: Mapping[str, pl.LazyFrame], exc: BaseException
) -> PipelineError:
    """Which table made the report fail: each is read again alone (only after a failure)."""
    for role in TABLES:
        try:
            frames[role].collect()
        except READ_ERRORS as alone:
            return unreadable(tables, roles[role], alone)
    return PipelineError(f"the tables under {tables.root} cannot be read together ({one_line(exc)})")


def raise_if_strict(report: Report, strict: bool) -> None:
    """With ``strict``, any row left out is an error."""
    if strict and report.problems:
        raise DataError("; ".join(str(p) for p in report.problems))
