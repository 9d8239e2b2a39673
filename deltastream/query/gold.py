"""The report kept as a Delta table (``query.py --into PATH``): the gold table beside the
pipeline's silver ones.

Each write replaces the table's rows in one commit whose metadata records the version of every
table the report was built from (``deltastream.sources``, JSON: ``{"sale": 12, ...}``), so a
reader can tell exactly what it reflects. A report built from the same versions as the last
commit is not written again: ``--watch --into`` commits only when a source table changed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

import polars as pl
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError

from deltastream.errors import PipelineError, one_line
from deltastream.tables import is_uri

log = logging.getLogger(__name__)

#: The commit metadata key that holds the source tables' versions.
SOURCES = "deltastream.sources"


def sources(path: str, storage_options: Mapping[str, str] | None = None) -> dict[str, int | None] | None:
    """The source versions the gold table at ``path`` was last built from (``None``: no table).
    A Delta table there that no report wrote is refused: ``--into`` never replaces another table."""
    try:
        table = DeltaTable(path, storage_options=dict(storage_options or {}) or None)
        last = table.history(1)
    except (TableNotFoundError, DeltaError, OSError):
        return None
    found = last[0].get(SOURCES) if last else None
    if not isinstance(found, str):
        raise PipelineError(
            f"--into {path}: a Delta table the report did not write is there; choose another path"
        )
    return dict(json.loads(found))


def write(
    path: str,
    frame: pl.DataFrame,
    versions: Mapping[str, int | None],
    storage_options: Mapping[str, str] | None = None,
) -> int | None:
    """Replace the gold table's rows with ``frame`` in one commit naming ``versions``; the new
    version, or ``None`` when the table already holds the report of those versions."""
    if sources(path, storage_options) == dict(versions):
        log.info("gold table %s: unchanged (its sources are at the same versions)", path)
        return None
    options = dict(storage_options or {}) or None
    try:
        write_deltalake(
            path,
            frame,
            mode="overwrite",
            schema_mode="overwrite",
            storage_options=options,
            commit_properties=CommitProperties(custom_metadata={SOURCES: json.dumps(dict(versions))}),
        )
        version = DeltaTable(path, storage_options=options).version()
    except (DeltaError, OSError) as exc:
        fix = "check the path and its storage options" if is_uri(path) else "choose a folder you can write to"
        raise PipelineError(f"--into {path}: cannot write the gold table ({one_line(exc)}); {fix}") from exc
    log.info("gold table %s: version %d, from %s", path, version, json.dumps(dict(versions)))
    return version
