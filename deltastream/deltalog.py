"""The Delta log of a local table, looked at as files: what is wrong with it, in one line.

delta-rs reads an empty or cut-short newest entry as a version with no actions, so a reader would
show the older rows as if they were current. :func:`inspect` looks at the files first: the newest
entry (or every entry), the versions in between, and the checkpoint ``_last_checkpoint`` names.
The read side (query.py) and the writer (subscriber.py) both ask it before trusting a table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl

from deltastream.errors import one_line

COMMIT = re.compile(r"^(\d{20})\.json$")
CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint(\.\d{10}\.\d{10})?\.parquet$")
REBUILD = (
    "rebuild it: move the folder away and run subscriber.py "
    "(publisher.py first if the topic no longer holds every record)"
)
REWRITE = "move the folder away and run subscriber.py to write the table"
#: How many times :func:`inspect` looks at a log that changes while it is looked at.
LOOKS = 4


def inspect(path: Path, every_entry: bool = True) -> tuple[str, str] | None:
    """What is wrong with the Delta log of local table ``path`` (what, how to fix), or ``None``
    when nothing is found: a missing or damaged checkpoint, one that names a version beyond the
    log, a missing entry, an entry that is empty or not JSON. ``every_entry=False`` reads only the
    newest entry: cheap enough before every read of the table.

    Another writer may commit, checkpoint or clean the log while it is looked at (the listing
    then disagrees with ``_last_checkpoint``, or an entry listed is gone when it is read): a
    finding counts only when a second look agrees, and an entry gone while read means another
    look. A log that changes at every look is reported as found by the last one."""
    found: tuple[str, str] | None = None
    for _ in range(LOOKS):
        try:
            again = look(path, every_entry)
        except FileNotFoundError:
            if not (path / "_delta_log").is_dir():
                raise
            continue  # an entry or checkpoint went while it was read: cleaned up, look again
        if again is None or again == found:
            return again
        found = again
    return found


def look(path: Path, every_entry: bool) -> tuple[str, str] | None:  # noqa: PLR0911 (one return per finding, in the order looked for)
    """One look at the log's files: see :func:`inspect`."""
    log_dir = path / "_delta_log"
    names = [p.name for p in log_dir.iterdir()]
    commits = sorted(int(m.group(1)) for m in map(COMMIT.match, names) if m)
    if not commits:
        return None
    checkpoints = sorted(int(m.group(1)) for m in map(CHECKPOINT.match, names) if m)
    start = checkpoint(log_dir, set(commits), checkpoints[-1] if checkpoints else -1)
    if isinstance(start, tuple):
        return start
    if start > commits[-1]:
        return (
            f"_delta_log/_last_checkpoint names version {start}, beyond the newest log entry ({commits[-1]})",
            "move _delta_log/_last_checkpoint away: the table is then read from its log entries",
        )
    later = [v for v in commits if v > start]
    for before, after in zip([start, *later], later, strict=False):
        if after != before + 1:
            what = (
                f"log entry {before + 1} is"
                if after == before + 2
                else f"log entries {before + 1}-{after - 1} are"
            )
            if before < 0:
                return f"{what} missing, and no checkpoint stands in for them", REBUILD
            return f"{what} missing (_delta_log jumps from version {before} to {after})", REBUILD
    for version in commits if every_entry else commits[-1:]:
        entry = log_dir / f"{version:020d}.json"
        if valid_json_lines(entry):
            continue
        name = f"_delta_log/{entry.name}"
        if version == 0 and len(commits) == 1:
            return (
                f"its only log entry, {name}, is damaged (empty or not JSON): "
                "the first commit never completed",
                REWRITE,
            )
        if version == commits[-1] and version > max(start, 0):
            return (
                f"the last log entry, {name} (version {version}), is damaged (empty or not JSON; cut short?)",
                f"move it away to go back to version {version - 1}; "
                "subscriber.py then writes its records again",
            )
        return f"log entry {name} is damaged (empty or not JSON)", REBUILD
    return None


def checkpoint(log_dir: Path, commits: set[int], newest: int) -> int | tuple[str, str]:
    """The version of the checkpoint _last_checkpoint names, or what is wrong with it. Without a
    usable hint, delta-rs lists the log and starts from the newest checkpoint there (``newest``;
    -1: none), and so does this."""
    hint = log_dir / "_last_checkpoint"
    try:
        named = json.loads(hint.read_text(encoding="utf-8"))
        version = int(named["version"])
    except FileNotFoundError:
        return newest
    except (ValueError, KeyError, TypeError):
        return newest  # delta-rs ignores a damaged hint and lists the log instead
    parts = int(named.get("parts") or 0)
    files = (
        [f"{version:020d}.checkpoint.{i:010d}.{parts:010d}.parquet" for i in range(1, parts + 1)]
        if parts
        else [f"{version:020d}.checkpoint.parquet"]
    )
    entries = all(v in commits for v in range(version + 1))
    instead = "the table is then read from its log entries"
    for name in files:
        if not (log_dir / name).exists():
            fix = f"move _delta_log/_last_checkpoint away: {instead}" if entries else REBUILD
            return f"the checkpoint _last_checkpoint names, _delta_log/{name}, is missing", fix
        try:
            pl.read_parquet_schema(log_dir / name)
        except FileNotFoundError:
            raise  # cleaned up since it was listed: :func:`inspect` looks again
        except (OSError, pl.exceptions.PolarsError) as exc:
            fix = f"move it and _delta_log/_last_checkpoint away: {instead}" if entries else REBUILD
            return f"checkpoint _delta_log/{name} is damaged ({one_line(exc)})", fix
    return version


def valid_json_lines(entry: Path) -> bool:
    """Whether a log entry holds JSON lines, at least one: a commit always has actions."""
    try:
        lines = [line for line in entry.read_text(encoding="utf-8").splitlines() if line.strip()]
        for line in lines:
            json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return False
    return bool(lines)
