"""The tables by name for other engines: a DuckDB database file with a view per table over
``delta_scan`` (``query.py --catalog FILE``). Run again, it adds the tables written since and
drops the views of tables that are gone; the views read the tables as they are when queried.

DuckDB reads Delta with its ``delta`` extension: from the ``duckdb-ext-delta`` wheel when it is
installed (no download), else as DuckDB installs it (``INSTALL delta``, which downloads it once).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from deltastream.errors import PipelineError, one_line
from deltastream.tables import Tables


def extensions() -> str | None:
    """The folder of the ``duckdb-ext-delta`` wheel's extensions, if it is installed."""
    spec = importlib.util.find_spec("duckdb_ext")
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(next(iter(spec.submodule_search_locations)), "extensions")


def connect(path: Path) -> Any:
    """DuckDB at ``path`` with the delta reader loaded."""
    try:
        import duckdb
    except ImportError:
        raise PipelineError(
            "--catalog writes a DuckDB database, and duckdb is not installed here: "
            "pip install duckdb duckdb-ext-delta"
        ) from None
    folder = extensions()
    config: dict[str, str | bool | int | float | list[str]] = (
        {"extension_directory": folder, "autoinstall_known_extensions": False} if folder else {}
    )
    try:
        con = duckdb.connect(str(path), config=config)
        if folder is None:
            con.execute("INSTALL delta")
        con.execute("LOAD delta")
    except duckdb.Error as exc:
        raise PipelineError(
            f"--catalog {path}: DuckDB cannot open it with its delta reader ({one_line(exc)})"
        ) from None
    return con


def write(path: Path, tables: Tables, names: list[str]) -> list[str]:
    """A view in ``path`` for each of ``names`` that is a table; returns the names of the views.
    Local tables only: DuckDB would need the object store's credentials as a secret of its own."""
    if not tables.local:
        raise PipelineError(
            f"--catalog {path}: the tables are on object storage ({tables.root}); DuckDB reads them with "
            "a secret of its own (CREATE SECRET), which --catalog does not write"
        )
    import duckdb

    con = connect(path)
    made: list[str] = []
    try:
        for name in names:
            quoted = '"' + name.replace('"', '""') + '"'
            if not tables.exists(name):
                con.execute(f"DROP VIEW IF EXISTS {quoted}")
                continue
            uri = tables.uri(name) if not tables.local else str(Path(tables.uri(name)).resolve())
            literal = "'" + uri.replace("'", "''") + "'"
            con.execute(f"CREATE OR REPLACE VIEW {quoted} AS SELECT * FROM delta_scan({literal})")
            made.append(name)
    except duckdb.Error as exc:
        raise PipelineError(f"--catalog {path}: {one_line(exc)}") from None
    finally:
        con.close()
    return made
