"""``query.py --watch --summary``: the report and its totals kept current from the rows changed.

:class:`LiveReport` holds the four tables (:class:`~deltastream.query.live.LiveTable`) and the
report. At each new version it builds again only the report's rows of the sales a change can
reach: sales changed, sales of an employee or client changed, and of employees of a department
changed, with every row of each id involved (so an id written two ways is left out as the whole
report leaves it out). :class:`LiveSummary` adds those rows' sums to each department, region and
window and takes away those of the rows they replace; a group whose sales reach none is gone.
The overall counts (distinct employees, first and last sale) are counted again over the report
held in memory, and so are the rows left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from deltastream.errors import PipelineError
from deltastream.query import changes, summary
from deltastream.query.changes import Changes
from deltastream.query.live import LiveTable, RowsChanged
from deltastream.query.report import TABLES, Report, built, join, left_out, reasons, valid
from deltastream.tables import Tables


@dataclass(frozen=True)
class Update:
    """A refresh: the report now, and its rows that changed (as they were, as they are)."""

    report: Report
    before: pl.DataFrame
    after: pl.DataFrame


def among(column: str, ids: pl.Series) -> pl.Expr:
    return pl.col(column).is_in(ids.implode()).fill_null(False)


def rebuilt(sales: pl.Series) -> pl.Expr:
    """The sales built again: those ``sales`` names, and any without an id (no change can be
    told to reach them or not; there are none but by mistake)."""
    return among("id", sales) | pl.col("id").is_null()


class LiveReport:
    """The report of the tables ``roles`` names, kept current by :meth:`refresh`."""

    def __init__(self, store: Tables, roles: Mapping[str, str]) -> None:
        self.tables = {role: LiveTable(store, roles[role], role) for role in TABLES}
        self.frame: pl.DataFrame | None = None
        #: Per table, its rows left out of the report and why (:func:`~.report.reasons`).
        self.why: dict[str, pl.DataFrame] = {}

    def rows(self) -> dict[str, pl.DataFrame]:
        held = {role: table.rows for role, table in self.tables.items()}
        return {role: frame for role, frame in held.items() if frame is not None}

    def versions(self) -> dict[str, int | None]:
        return {table.name: table.version for table in self.tables.values()}

    def refresh(self) -> Update | None:
        """The report at the tables' latest versions, or ``None`` when none has a new one
        (raises :class:`~deltastream.errors.PipelineError` when a table cannot be read)."""
        moved = {role: table.refresh() for role, table in self.tables.items()}
        if self.frame is not None and all(change is None for change in moved.values()):
            return None
        held = self.rows()
        if self.frame is None:
            self.frame, self.why = built({role: frame.lazy() for role, frame in held.items()})
            whole = Report(self.frame, left_out(self.why), self.versions())
            return Update(whole, self.frame.clear(), self.frame)
        changed = {role: change for role, change in moved.items() if change}
        sales = self.reached(changed)
        keys = changed["sale"].keys() if "sale" in changed else pl.Series("__key", [], pl.String)
        around = {role: frame.lazy() for role, frame in self.around(sales, keys).items()}
        # An employee is left out for its department: the three are looked at again together.
        dimensions = tuple(r for r in TABLES if r != "sale") if set(changed) - {"sale"} else ()
        tables = {role: frame.lazy() for role, frame in held.items()}
        queries = [
            join(valid(around)),
            reasons(around, ("sale",))["sale"],
            *reasons(tables, dimensions).values(),
        ]
        after, sale_why, *dimension_why = pl.collect_all(queries)
        before = self.frame.filter(rebuilt(sales))
        self.frame = pl.concat([self.frame.filter(~rebuilt(sales)), after], how="vertical_relaxed")
        kept = self.why["sale"].filter(~(rebuilt(sales) | among("__key", keys)))
        self.why |= {"sale": pl.concat([kept, sale_why])} | dict(zip(dimensions, dimension_why, strict=True))
        return Update(Report(self.frame, left_out(self.why), self.versions()), before, after)

    def reached(self, changes: Mapping[str, RowsChanged]) -> pl.Series:
        """The ids of the sales whose report row the changes can reach."""
        empty = pl.Series("id", [], pl.Int64)
        changed = {role: changes[role].ids() if role in changes else empty for role in TABLES}
        held = self.rows()
        employees = pl.concat(
            [
                changed["employee"],
                held["employee"].filter(among("department_id", changed["department"])).get_column("id"),
            ]
        )
        reached = held["sale"].filter(among("employee_id", employees) | among("client_id", changed["client"]))
        return pl.concat([changed["sale"], reached.get_column("id")]).drop_nulls().unique()

    def around(self, sales: pl.Series, keys: pl.Series) -> dict[str, pl.DataFrame]:
        """Every row of the sales ``sales`` (ids) and ``keys`` (ids as stored) name and of the
        employees, departments and clients they name: what their report rows are built from."""
        held = self.rows()
        sale = held["sale"].filter(rebuilt(sales) | among("__key", keys))
        employee = held["employee"].filter(among("id", sale.get_column("employee_id")))
        return {
            "sale": sale,
            "employee": employee,
            "department": held["department"].filter(among("id", employee.get_column("department_id"))),
            "client": held["client"].filter(among("id", sale.get_column("client_id"))),
        }


class LiveSummary:
    """The summary's sums per group, changed by each :class:`Update` by the rows it changed."""

    def __init__(self, window: str | None = None) -> None:
        self.window = window
        self.sums: dict[str, pl.DataFrame] = {}

    def keys(self) -> dict[str, tuple[str | None, str | None]]:
        """Part name -> (group column, window)."""
        parts: dict[str, tuple[str | None, str | None]] = {f"by_{k}": (k, None) for k in summary.GROUPS}
        if self.window is not None:
            parts[f"by_{self.window}"] = (None, self.window)
        return parts

    def update(self, change: Update) -> dict[str, pl.DataFrame]:
        """The summary after ``change``."""
        for part, (key, window) in self.keys().items():
            added = summary.sums(change.after, key, window)
            taken = summary.sums(change.before, key, window).with_columns(
                -pl.col("sales"), -pl.col("priced"), -pl.col("total")
            )
            group = key or window
            held = self.sums.get(part)
            frames = [added, taken] if held is None else [held, added, taken]
            self.sums[part] = (
                pl.concat(frames, how="vertical_relaxed")
                .group_by(group)
                .agg(pl.col("sales").sum(), pl.col("priced").sum(), pl.col("total").sum())
                .filter(pl.col("sales") > 0)
            )
        parts = {
            part: summary.finished(self.sums[part], key or window or "", window is not None)
            for part, (key, window) in self.keys().items()
        }
        return parts | {"overall": summary.overall(change.report.frame)}


class LiveView:
    """What ``--watch --summary`` draws: the report kept current, and its summary; after a
    failure to read, both are read in full again at the next refresh."""

    def __init__(self, store: Tables, roles: Mapping[str, str], window: str | None) -> None:
        self.store, self.roles, self.window = store, dict(roles), window
        self.live, self.totals = LiveReport(store, roles), LiveSummary(window)
        self.last: Update | None = None
        self.parts: dict[str, pl.DataFrame] = {}
        #: What the last refresh changed in the report (none at the first).
        self.since: Changes | None = None

    def report(self) -> Report:
        """The report at the latest versions (raises PipelineError when a table cannot be read)."""
        try:
            update = self.live.refresh()
        except PipelineError:
            self.live, self.totals, self.last = (
                LiveReport(self.store, self.roles),
                LiveSummary(self.window),
                None,
            )
            raise
        if update is not None:
            self.since = None if self.last is None else changes.compare(update.before, update.after)
            self.last, self.parts = update, self.totals.update(update)
        elif self.last is not None:
            self.since = Changes(0, 0, 0, self.last.after.clear())
        assert self.last is not None
        return self.last.report
