"""query.py's command line: every mistake is one line, with the exit status --help promises, and
no traceback.

Catalogues of bad inputs, each built for real on Delta tables in a temp dir (no broker): damaged
tables in every view, flags, --output, time zones, ids written in more than one way. In-process
runs (``query.main``) prove "no traceback" as well as a subprocess would: anything but the
script's own errors would raise here; the subprocess runs cover what only a process shows.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

import query
from deltastream.query import report
from deltastream.query.asof import moment
from deltastream.query.watch import Watcher, watch
from deltastream.tables import Tables
from deltastream.values import DEAD_LETTERS

from ..conftest import ROOT, Programs, wait_until, write_config

ROLES = ("client", "department", "employee", "sale")
REBUILD = (
    "rebuild it: move the folder away and run subscriber.py "
    "(publisher.py first if the topic no longer holds every record)"
)
REWRITE = "move the folder away and run subscriber.py to write the table"
SALE_COLUMNS = ("id", "employee_id", "client_id", "date", "region", "sale")
SAMPLE: dict[str, dict[str, list[str]]] = {
    "client": {
        "id": ["1", "2", "3"],
        "first_name": ["Zoë", "Li", "Ann"],
        "last_name": ["O'Brien", "Wang", "Lee"],
    },
    "department": {"id": ["1", "2"], "department": ["Finance", "Research"]},
    "employee": {
        "id": ["1", "2"],
        "first_name": ["Åsa", "Tom"],
        "last_name": ["Ek", "D'Arcy"],
        "department_id": ["1", "2"],
    },
}
#: The sale table gets one commit per sale: 12 commits, a checkpoint at version 9.
SALES = [
    ["1", "2", "1", "1/4/2024", "South-East", "1200.5"],
    ["2", "1", "3", "28/2/2024", "West", "99.99"],
    *[[str(i), "1", "2", "9/11/2024", "North", "10"] for i in range(3, 13)],
]


def sale_rows(rows: Sequence[Sequence[str]]) -> dict[str, list[str]]:
    return {name: [row[i] for row in rows] for i, name in enumerate(SALE_COLUMNS)}


def put(path: Path, columns: dict[str, list[str]], replace: bool = False) -> None:
    """Write string columns as the subscriber does (a checkpoint every 10 commits); ``replace``:
    overwrite the table's rows in a new version."""
    frame = pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String))
    if replace:
        write_deltalake(str(path), frame, mode="overwrite")
    else:
        settings = None if path.exists() else {"delta.checkpointInterval": "10"}
        write_deltalake(str(path), frame, mode="append", configuration=settings)


class Site:
    """A config and four report tables (plus dead letters) in a temp dir; no broker."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.delta = root / "delta"
        self.config = root / "config.toml"

    def write_config(self, **query_tables: str) -> None:
        sections: dict[str, dict[str, object]] = {
            "general": {"bootstrap_servers": "localhost:9", "topics": list(ROLES)},
            "publisher": {"raw_path": "data"},
            "subscriber": {"delta_path": "delta"},
        }
        if query_tables:
            sections["query"] = dict(query_tables)
        write_config(self.config, sections)

    def table(self, name: str) -> Path:
        return self.delta / name

    def entry(self, name: str, version: int) -> Path:
        return self.table(name) / "_delta_log" / f"{version:020d}.json"

    def added(self, name: str, version: int) -> str:
        """The data file commit ``version`` of table ``name`` added."""
        lines = self.entry(name, version).read_text().splitlines()
        return next(str(json.loads(line)["add"]["path"]) for line in lines if '"add"' in line)

    def committed(self, name: str, version: int) -> datetime:
        entry = next(e for e in DeltaTable(str(self.table(name))).history() if e["version"] == version)
        return datetime.fromtimestamp(entry["timestamp"] / 1000, UTC)

    def args(self, *extra: str) -> list[str]:
        return ["--config", str(self.config), *extra]


def files(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every file and folder under ``root``: its size, modification time and mode."""
    return {
        str(path): (info.st_size, info.st_mtime_ns, info.st_mode)
        for path in root.rglob("*")
        for info in [path.stat()]
    }


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The sample site, built once for the module. A test that changes nothing in it (flags,
    --output refused, reading only) takes it as it is; a test that damages it takes ``site``."""
    site = Site(tmp_path_factory.mktemp("template"))
    site.write_config()
    for name, columns in SAMPLE.items():
        put(site.table(name), columns)
    for row in SALES:
        put(site.table("sale"), sale_rows([row]))
        time.sleep(0.02)  # apart by more than the file system's clock tick: see `fintech`
    dead = pl.DataFrame(
        {"topic": ["sale"], "partition": [0], "offset": [7], "value": ["not json"], "error": ["not JSON"]}
    ).with_columns(time=pl.lit(datetime(2026, 11, 21, 9, 30, tzinfo=UTC)))
    write_deltalake(str(site.table(DEAD_LETTERS)), dead)
    before = files(site.root)
    yield site
    assert files(site.root) == before, "a test changed the template: it should take `site`, a copy"


@pytest.fixture
def site(template: Site, tmp_path: Path) -> Site:
    """A copy of the template, this test's to damage."""
    shutil.copytree(template.root, tmp_path / "site")
    return Site(tmp_path / "site")


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def error(self) -> str:
        """The one line of error query.py printed, after any warnings (and argparse's usage)."""
        assert "Traceback" not in self.err
        assert "panicked" not in self.err
        lines = [line for line in self.err.splitlines() if line.startswith("query.py: ")]
        assert len(lines) == 1, self.err
        return lines[0]


def run(capsys: pytest.CaptureFixture[str], argv: Sequence[str]) -> Outcome:
    capsys.readouterr()
    try:
        code = query.main(list(argv))
    except SystemExit as exc:  # argparse's usage errors and --help
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def program(args: Sequence[str], prefix: Sequence[str] = (), python: str = sys.executable) -> list[str]:
    """The command line of query.py as a program (a separate process)."""
    return [*prefix, python, str(ROOT / "query.py"), *args]


def script(*args: str, python: str = sys.executable) -> Outcome:
    """query.py as a program, run to its end."""
    done = subprocess.run(
        program(args, python=python), cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def finished(programs: Programs, key: str) -> Outcome:
    """Run ``key`` of query.py, one of those started as the module began (see ``programs``)."""
    done = programs.result(key)
    return Outcome(done.returncode, done.stdout, done.stderr)


def plain_user_prefix() -> list[str] | None:
    """A prefix that runs a command without root's power to read anything (permissions apply);
    ``None`` for root without setpriv."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        return None
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps=-all"]


def plain_user() -> None:
    """Skip the test when file permissions cannot be tested (root without setpriv)."""
    if plain_user_prefix() is None:
        pytest.skip("running as root without setpriv: file permissions cannot be tested")


def csv_ids(out: str) -> list[int]:
    return pl.read_csv(io.StringIO(out))["id"].to_list() if out.strip() else []


# --- damaged tables ---------------------------------------------------------------------------


def cut(path: Path, keep: int = 100) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def test_the_template_reads_cleanly(template: Site, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run(capsys, template.args("--format", "csv"))
    assert (outcome.code, outcome.err) == (0, "")
    assert csv_ids(outcome.out) == list(range(1, 13))


def test_a_data_file_the_log_lists_is_missing(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    lost = site.added("sale", 11)
    (site.table("sale") / lost).unlink()
    expected = (
        f"query.py: error: table 'sale' at {site.table('sale')}: data file {lost} is missing "
        f"(the log still lists it); {REBUILD}"
    )
    for view in ([], ["--summary"], ["--format", "csv"]):
        outcome = run(capsys, site.args(*view))
        assert (outcome.code, outcome.error) == (1, expected)
    # The table as it was before that file: still readable.
    before = moment(site.committed("sale", 10))
    outcome = run(capsys, site.args("--as-of", before, "--format", "csv"))
    assert (outcome.code, csv_ids(outcome.out)) == (0, list(range(1, 12)))


def test_as_of_a_commit_time_history_shows_gives_that_commit(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """A log file is written a little after the commit time it records: --as-of goes by the latter."""
    committed = site.committed("sale", 10)
    later = committed.timestamp() + 0.05
    os.utime(site.entry("sale", 10), (later, later))
    outcome = run(capsys, site.args("--as-of", moment(committed), "--format", "csv"))
    assert (outcome.code, csv_ids(outcome.out)) == (0, list(range(1, 12)))


def test_several_missing_data_files_are_counted(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    for version in (10, 11):
        (site.table("sale") / site.added("sale", version)).unlink()
    outcome = run(capsys, site.args())
    first = sorted([site.added("sale", 10), site.added("sale", 11)])
    assert outcome.code == 1
    assert re.fullmatch(
        rf"query\.py: error: table 'sale' at .*: 2 data files are missing "
        rf"\((?:{first[0]}|{first[1]}) first\) \(the log still lists them\); rebuild it: .*",
        outcome.error,
    )


def test_a_data_file_cut_short(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    damaged = site.table("sale") / site.added("sale", 11)
    size = damaged.stat().st_size
    cut(damaged, 300)
    outcome = run(capsys, site.args())
    assert outcome.code == 1
    assert outcome.error == (
        f"query.py: error: table 'sale' at {site.table('sale')}: data file {damaged.name} is 300 bytes, "
        f"the log says {size:,} (cut short or overwritten); {REBUILD}"
    )


def test_a_cut_short_last_log_entry_and_its_fix(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    entry = site.entry("sale", 11)
    cut(entry)
    expected = (
        f"query.py: error: table 'sale' at {site.table('sale')}: the last log entry, "
        f"_delta_log/{entry.name} (version 11), is damaged (empty or not JSON; cut short?); "
        "move it away to go back to "
        "version 10; subscriber.py then writes its records again"
    )
    for view in ([], ["--summary"], ["--history"], ["--as-of", moment(datetime.now(UTC))]):
        outcome = run(capsys, site.args(*view))
        assert (outcome.code, outcome.error) == (1, expected), view
    entry.rename(site.root / entry.name)  # the fix the message gives
    outcome = run(capsys, site.args("--format", "csv"))
    assert (outcome.code, csv_ids(outcome.out)) == (0, list(range(1, 12)))


def test_a_damaged_log_entry_in_the_middle(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    cut(site.entry("sale", 10))
    outcome = run(capsys, site.args())
    assert outcome.code == 1
    assert outcome.error == (
        f"query.py: error: table 'sale' at {site.table('sale')}: log entry "
        f"_delta_log/{site.entry('sale', 10).name} is damaged (empty or not JSON); {REBUILD}"
    )


def test_a_damaged_entry_the_checkpoint_covers_breaks_only_the_history(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    cut(site.entry("sale", 3))
    assert run(capsys, site.args()).code == 0
    outcome = run(capsys, site.args("--history"))
    assert outcome.code == 1
    assert outcome.error == (
        f"query.py: error: table 'sale' at {site.table('sale')}: log entry "
        f"_delta_log/{site.entry('sale', 3).name} is damaged (empty or not JSON); {REBUILD}"
    )


def test_a_missing_log_entry(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    site.entry("sale", 10).unlink()
    outcome = run(capsys, site.args())
    assert outcome.code == 1
    assert outcome.error == (
        f"query.py: error: table 'sale' at {site.table('sale')}: log entry 10 is missing "
        f"(_delta_log jumps from version 9 to 11); {REBUILD}"
    )


def test_an_empty_last_log_entry_is_never_read_as_the_table(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """delta-rs reads an empty newest entry as a version with no actions: every view would show
    the older rows with exit 0, and --history would number the versions wrongly."""
    entry = site.entry("sale", 11)
    entry.write_bytes(b"")
    expected = (
        f"query.py: error: table 'sale' at {site.table('sale')}: the last log entry, "
        f"_delta_log/{entry.name} (version 11), is damaged (empty or not JSON; cut short?); "
        "move it away to go back to version 10; subscriber.py then writes its records again"
    )
    for view in (
        [],
        ["--summary"],
        ["--history"],
        ["--as-of", moment(datetime.now(UTC))],
        ["--format", "json"],
    ):
        outcome = run(capsys, site.args(*view))
        assert (outcome.code, outcome.error) == (1, expected), view


def test_a_checkpoint_beyond_the_log_is_one_line(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    log = site.table("sale") / "_delta_log"
    (log / "_last_checkpoint").write_text(json.dumps({"version": 40, "size": 10}), encoding="utf-8")
    shutil.copy(log / CHECKPOINT, log / f"{40:020d}.checkpoint.parquet")
    outcome = run(capsys, site.args("--history"))
    assert (outcome.code, outcome.error) == (
        1,
        f"query.py: error: table 'sale' at {site.table('sale')}: _delta_log/_last_checkpoint names "
        "version 40, beyond the newest log entry (11); move _delta_log/_last_checkpoint away: the table "
        "is then read from its log entries",
    )


CHECKPOINT = f"{9:020d}.checkpoint.parquet"


def test_the_checkpoint_last_checkpoint_names_is_missing(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    log = site.table("sale") / "_delta_log"
    (log / CHECKPOINT).unlink()
    expected = (
        f"query.py: error: table 'sale' at {site.table('sale')}: the checkpoint _last_checkpoint names, "
        f"_delta_log/{CHECKPOINT}, is missing; move _delta_log/_last_checkpoint away: the table is then "
        "read from its log entries"
    )
    for view in ([], ["--history"], ["--summary"]):
        outcome = run(capsys, site.args(*view))
        assert (outcome.code, outcome.error) == (1, expected), view
    (log / "_last_checkpoint").rename(site.root / "_last_checkpoint")  # the fix
    outcome = run(capsys, site.args("--format", "csv"))
    assert (outcome.code, csv_ids(outcome.out)) == (0, list(range(1, 13)))


def test_a_missing_checkpoint_without_the_entries_before_it(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    log = site.table("sale") / "_delta_log"
    (log / CHECKPOINT).unlink()
    for version in range(5):
        site.entry("sale", version).unlink()
    outcome = run(capsys, site.args())
    assert outcome.code == 1
    assert outcome.error == (
        f"query.py: error: table 'sale' at {site.table('sale')}: the checkpoint _last_checkpoint names, "
        f"_delta_log/{CHECKPOINT}, is missing; {REBUILD}"
    )


def test_a_damaged_checkpoint(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    cut(site.table("sale") / "_delta_log" / CHECKPOINT, 40)
    outcome = run(capsys, site.args())
    assert outcome.code == 1
    assert re.fullmatch(
        rf"query\.py: error: table 'sale' at {re.escape(str(site.table('sale')))}: checkpoint "
        rf"_delta_log/{CHECKPOINT} is damaged \(.+\); move it and _delta_log/_last_checkpoint away: "
        "the table is then read from its log entries",
        outcome.error,
    )


def test_log_entries_gone_without_a_checkpoint(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    log = site.table("sale") / "_delta_log"
    (log / CHECKPOINT).unlink()
    (log / "_last_checkpoint").unlink()
    for version in range(3):
        site.entry("sale", version).unlink()
    outcome = run(capsys, site.args())
    assert outcome.code == 1
    assert outcome.error == (
        f"query.py: error: table 'sale' at {site.table('sale')}: log entries 0-2 are missing, "
        f"and no checkpoint stands in for them; {REBUILD}"
    )


def no_delta_log(table: Path) -> None:
    shutil.rmtree(table / "_delta_log")


def empty_delta_log(table: Path) -> None:
    for entry in (table / "_delta_log").iterdir():
        entry.unlink()


def delta_log_is_a_file(table: Path) -> None:
    shutil.rmtree(table / "_delta_log")
    (table / "_delta_log").write_text("x")


def table_is_a_file(table: Path) -> None:
    shutil.rmtree(table)
    table.write_text("x")


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (no_delta_log, "has no _delta_log folder: not a Delta table, or its first commit never completed"),
        (empty_delta_log, "its _delta_log holds no commit: the first commit never completed"),
        (delta_log_is_a_file, "_delta_log is a file, not a folder: not a Delta table"),
        (table_is_a_file, "is a file, not a Delta table folder"),
    ],
)
def test_not_a_delta_table(
    site: Site, capsys: pytest.CaptureFixture[str], damage: Callable[[Path], None], problem: str
) -> None:
    damage(site.table("department"))
    expected = f"query.py: error: table 'department' at {site.table('department')}: {problem}; {REWRITE}"
    for view in ([], ["--summary"], ["--history"]):
        outcome = run(capsys, site.args(*view))
        assert (outcome.code, outcome.error) == (1, expected), view


def test_a_table_written_by_a_newer_delta_writer(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    protocol = {
        "minReaderVersion": 3,
        "minWriterVersion": 7,
        "readerFeatures": ["futureFeature"],
        "writerFeatures": ["futureFeature"],
    }
    commit = {"timestamp": int(time.time() * 1000), "operation": "SET TBLPROPERTIES"}
    site.entry("sale", 12).write_text(
        json.dumps({"protocol": protocol}) + "\n" + json.dumps({"commitInfo": commit}) + "\n"
    )
    outcome = run(capsys, site.args())
    assert outcome.code == 1
    assert outcome.error == (
        f"query.py: error: table 'sale' at {site.table('sale')}: it uses Delta features this reader does "
        "not support (Kernel error: Unsupported: Feature 'futureFeature' is not supported); upgrade "
        f"deltalake (requirements.txt), or {REBUILD}"
    )


def test_a_table_without_the_columns_its_role_needs(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    site.write_config(sale="department")  # a wrong [query] name
    outcome = run(capsys, site.args())
    assert outcome.code == 1
    assert outcome.error == (
        f"query.py: error: table 'department' at {site.table('department')}: no columns 'employee_id', "
        "'client_id', 'date', 'region', 'sale' (it has id, department); the report's sale table needs "
        "id, employee_id, client_id, date, region, sale; check [query] sale in the config"
    )


def test_a_table_not_written_yet(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(site.table("employee"))
    (site.table("employee")).mkdir()  # an empty folder is a table not written yet, too
    outcome = run(capsys, site.args())
    assert outcome.code == 1
    assert outcome.error == (
        f"query.py: error: table 'employee' is missing at {site.table('employee')}: the subscriber has "
        "not written it yet (run subscriber.py, then publisher.py)"
    )
    outcome = run(capsys, site.args("--history", "--format", "csv"))
    assert outcome.code == 0
    assert f"table 'employee' is not written yet at {site.table('employee')}: no history" in outcome.err
    assert "employee" not in outcome.out


def test_delta_path_is_a_file(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(site.delta)
    site.delta.write_text("x")
    outcome = run(capsys, site.args())
    assert outcome.code == 2
    assert outcome.error == (
        f"query.py: error: {site.config}: [subscriber] delta_path: expected a folder of Delta tables "
        f"(this is a file), got '{site.delta}'"
    )
    outcome = run(capsys, site.args("--delta-path", str(site.delta), "--history"))
    assert outcome.code == 2
    assert outcome.error == (
        "query.py: error: command line: [subscriber] delta_path: expected a folder of Delta tables "
        f"(this is a file), got '{site.delta}'"
    )


def test_delta_path_that_does_not_exist(template: Site, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run(capsys, template.args("--delta-path", str(template.root / "nowhere")))
    assert outcome.code == 1
    assert outcome.error == (
        f"query.py: error: table 'client' is missing at {template.root / 'nowhere' / 'client'}: the "
        "subscriber has not written it yet (run subscriber.py, then publisher.py)"
    )


def test_the_dead_letters_table_damaged(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    table = site.table(DEAD_LETTERS)
    lost = site.added(DEAD_LETTERS, 0)
    outcome = run(capsys, site.args("--dead-letters", "--format", "csv"))
    assert outcome.code == 0
    assert "not json" in outcome.out
    (table / lost).unlink()
    outcome = run(capsys, site.args("--dead-letters"))
    assert outcome.code == 1
    assert outcome.error == (
        f"query.py: error: table '{DEAD_LETTERS}' at {table}: data file {lost} is missing "
        f"(the log still lists it); {REBUILD}"
    )
    (table / "part-00001.parquet").write_bytes(b"PAR1")  # a file without a log: no table
    shutil.rmtree(table / "_delta_log")
    outcome = run(capsys, site.args("--dead-letters"))
    assert outcome.code == 1
    assert outcome.error == (
        f"query.py: error: table '{DEAD_LETTERS}' at {table}: has no _delta_log folder: not a Delta "
        f"table, or its first commit never completed; {REWRITE}"
    )


def test_no_dead_letters_is_an_empty_table_with_its_columns(
    template: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = run(capsys, template.args("--dead-letters", "--format", "csv", "--delta-path", str(tmp_path)))
    assert (outcome.code, outcome.out) == (0, "topic,partition,offset,key,value,value_encoding,error,time\n")
    outcome = run(capsys, template.args("--dead-letters", "--delta-path", str(tmp_path)))
    assert outcome.code == 0
    assert outcome.out.startswith(f"dead letters: 0 messages (table {tmp_path / DEAD_LETTERS})\n")
    assert "value_encoding" in outcome.out


def test_as_of_a_version_whose_files_were_vacuumed(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    department = site.table("department")
    old_file = site.added("department", 0)
    before = moment(site.committed("department", 0))
    put(department, {"id": ["1", "2"], "department": ["FinTech", "Research"]}, replace=True)
    DeltaTable(str(department)).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    outcome = run(capsys, site.args("--as-of", before))
    assert outcome.code == 1
    assert outcome.error == (
        f"query.py: error: table 'department' at {department}: data file {old_file} is gone: version 0, "
        f"the table as of {before}, was vacuumed; time travel reaches back only as far as [subscriber] "
        "vacuum_retention_hours keeps old files: choose a later time or version (query.py --history "
        "lists the commits)"
    )
    outcome = run(capsys, site.args("--summary", "--as-of", before))
    assert outcome.code == 1
    assert "was vacuumed" in outcome.error
    assert run(capsys, site.args()).code == 0


def test_as_of_before_the_oldest_log_entry_kept(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    first = moment(site.committed("sale", 0))
    kept = moment(site.committed("sale", 9))
    for version in range(5):  # gone as after log clean-up: the checkpoint at 9 stands in for them
        site.entry("sale", version).unlink()
    for too_early in (first, moment(site.committed("sale", 6))):
        outcome = run(capsys, site.args("--as-of", too_early))
        assert outcome.code == 1
        assert outcome.error == (
            f"query.py: error: table 'sale' at {site.table('sale')}: its log no longer reaches back to "
            f"{too_early}: the oldest version it can show is 9, of {kept}; choose a later time"
        )
    outcome = run(capsys, site.args("--as-of", kept, "--format", "csv"))
    assert (outcome.code, csv_ids(outcome.out)) == (0, list(range(1, 11)))


# The runs of query.py as a program below are started together as the module begins (see
# ``programs`` at the end), each on a copy of the template of its own, damaged as its test says.


def unreadable_table(site: Site) -> None:
    site.table("sale").chmod(0)


def test_permission_denied_on_a_table(programs: Programs) -> None:
    plain_user()
    site = Site(programs.root / "unreadable-table")
    table = site.table("sale")
    try:
        outcome = finished(programs, "unreadable-table")
    finally:
        table.chmod(0o755)
    assert outcome.code == 1
    assert outcome.error == (
        f"query.py: error: table 'sale' at {table}: permission denied reading _delta_log; let the user "
        "running query.py read the table's folder and files"
    )


def unreadable_data_file(site: Site) -> None:
    (site.table("sale") / site.added("sale", 11)).chmod(0)


def test_permission_denied_on_a_data_file(programs: Programs) -> None:
    plain_user()
    site = Site(programs.root / "unreadable-data-file")
    data = site.table("sale") / site.added("sale", 11)
    outcome = finished(programs, "unreadable-data-file")
    assert outcome.code == 1
    assert outcome.error == (
        f"query.py: error: table 'sale' at {site.table('sale')}: permission denied reading {data.name}; "
        "let the user running query.py read the table's folder and files"
    )


def missing_data_file(site: Site) -> None:
    (site.table("sale") / site.added("sale", 11)).unlink()


def test_a_damaged_table_as_a_program_prints_one_line(programs: Programs) -> None:
    outcome = finished(programs, "missing-data-file")
    assert outcome.code == 1
    assert outcome.err.splitlines() == [outcome.error]
    assert "is missing (the log still lists it)" in outcome.error


# --- --watch keeps watching -------------------------------------------------------------------


class Screen(io.StringIO):
    """What --watch writes, readable from the test's thread."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            return super().write(text)

    def text(self) -> str:
        with self.lock:
            return self.getvalue()


def test_watch_shows_a_damaged_log_and_comes_back_when_it_is_fixed(site: Site) -> None:
    entry = site.entry("sale", 11)
    cut(entry)
    stop = threading.Event()
    screen = Screen()
    renders: list[report.Report] = []
    roles = dict(zip(ROLES, ROLES, strict=True))
    thread = threading.Thread(
        target=watch,
        args=(Watcher(Tables.at(site.delta), roles), 0.05, renders.append, stop),
        kwargs={"out": screen},
    )
    thread.start()
    try:
        problem = (
            f"the last log entry, _delta_log/{entry.name} (version 11), is damaged "
            "(empty or not JSON; cut short?); "
            "move it away "
            "to go back to version 10; subscriber.py then writes its records again"
        )
        wait_until(
            lambda: f"error: table 'sale' at {site.table('sale')}: {problem}" in screen.text(),
            10,
            interval=0.01,
        )
        damaged = (
            f"the last log entry, _delta_log/{entry.name} (version 11), is damaged "
            "(empty or not JSON; cut short?)"
        )
        assert f"sale: cannot be read: {damaged}" in screen.text().splitlines()
        assert renders == []
        entry.rename(site.root / entry.name)
        wait_until(lambda: renders, 10, interval=0.01)
        assert renders[-1].frame.height == 11
        assert re.search(r"^sale: 11 rows, version 10, last commit \S+$", screen.text(), re.MULTILINE)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_watch_shows_a_missing_data_file_and_comes_back_when_it_is_put_back(site: Site) -> None:
    data = site.table("sale") / site.added("sale", 11)
    saved = site.root / data.name
    data.rename(saved)
    stop = threading.Event()
    screen = Screen()
    renders: list[report.Report] = []
    roles = dict(zip(ROLES, ROLES, strict=True))
    thread = threading.Thread(
        target=watch,
        args=(Watcher(Tables.at(site.delta), roles), 0.05, renders.append, stop),
        kwargs={"out": screen},
    )
    thread.start()
    try:
        wait_until(
            lambda: f"is missing (the log still lists it); {REBUILD}" in screen.text(), 10, interval=0.01
        )
        saved.rename(data)  # no new version: watch tries again while the report fails
        wait_until(lambda: renders, 10, interval=0.01)
        assert renders[-1].frame.height == 12
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def damaged_last_entry(site: Site) -> None:
    cut(site.entry("sale", 11))


def test_watch_script_keeps_watching_a_damaged_table(programs: Programs) -> None:
    process = programs.process("watching")  # --watch 0.1 since the module began
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True)
    reader.start()
    try:
        failed = wait_until(
            lambda: next(
                (i + 1 for i, line in enumerate(lines) if line.startswith("error: table 'sale' at ")), 0
            ),
            20,
        )
        Site(programs.root / "watching").entry("sale", 11).unlink()  # back to version 10, as the fix says
        wait_until(lambda: any(line.startswith("--- ") for line in lines[failed:]), 20)  # drawn again
        assert process.poll() is None  # still watching
        process.send_signal(signal.SIGTERM)  # ends --watch as Ctrl-C does: exit 0
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(10)
    assert process.returncode == 0
    assert "Traceback" not in (process.stderr.read() if process.stderr else "")


# --- flags ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--format", "parquet"], "--format parquet needs --output FILE"),
        (["--summary", "--format", "parquet"], "--format parquet needs --output FILE"),
        (["--rows", "5", "--format", "csv"], "--rows goes with --format table, not with --format csv"),
        (
            ["--rows", "0"],
            "argument --rows: '0': expected a number of rows from 1 to 100,000,000, or -1 for all",
        ),
        (
            ["--rows", "x"],
            "argument --rows: 'x': expected a number of rows from 1 to 100,000,000, or -1 for all",
        ),
        (
            ["--rows", "1e10"],
            "argument --rows: '1e10': expected a number of rows from 1 to 100,000,000, or -1 for all",
        ),
        (
            ["--rows", "10000000000"],
            "argument --rows: '10000000000': expected a number of rows from 1 to 100,000,000, or -1 for all",
        ),
        (
            ["--watch", "--format", "csv"],
            "--format does not go with --watch, which redraws a table on the terminal",
        ),
        (
            ["--watch", "--output", "x.txt"],
            "--output does not go with --watch, which redraws a table on the terminal",
        ),
        (["--watch", "--strict"], "--strict does not go with --watch, which redraws a table on the terminal"),
        (
            ["--watch", "--as-of", "2026-11-21T09:30"],
            "--as-of does not go with --watch, which redraws a table on the terminal",
        ),
        (["--watch", "0"], "argument --watch: '0': expected a number of seconds above 0, at most 86400"),
        (["--watch", "nan"], "argument --watch: 'nan': expected a number of seconds above 0, at most 86400"),
        (
            ["--watch", "1e10"],
            "argument --watch: '1e10': expected a number of seconds above 0, at most 86400",
        ),
        (["--watch", "soon"], "argument --watch: 'soon' is not a number of seconds"),
        (
            ["--history", "--strict"],
            "--strict goes with the report and --summary (where rows are left out), not with --history",
        ),
        (
            ["--dead-letters", "--strict"],
            "--strict goes with the report and --summary (where rows are left out), not with --dead-letters",
        ),
        (
            ["--history", "--as-of", "2026-11-21T09:30"],
            "--as-of goes with the report, --summary, --table, --schema and --sql, not with --history",
        ),
        (
            ["--dead-letters", "--as-of", "2026-11-21T09:30"],
            "--as-of goes with the report, --summary, --table, --schema and --sql, not with --dead-letters",
        ),
        (
            ["--as-of", "yesterday"],
            "argument --as-of: 'yesterday' is not a time or a version (e.g. 2026-11-21T09:30, local time, "
            "a time copied from --history, -5m, 12, or sale=12,client=3)",
        ),
        (["--history", "--summary"], "--summary goes with the report and --watch, not with --history"),
        (
            ["--format", "xml"],
            "argument --format: invalid choice: 'xml' "
            "(choose from 'table', 'csv', 'json', 'ndjson', 'parquet')",
        ),
        (["--topics", "sale"], "unrecognized arguments: --topics sale"),
        (
            ["--bootstrap-servers", "localhost:9092"],
            "unrecognized arguments: --bootstrap-servers localhost:9092",
        ),
    ],
)
def test_flags_that_do_not_go_together_are_usage_errors(
    template: Site, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    outcome = run(capsys, template.args(*flags))
    assert (outcome.code, outcome.error) == (2, f"query.py: error: {message}; see query.py --help")
    assert outcome.out == ""


def test_every_flag_is_documented_and_does_something(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run(capsys, ["--help"])
    assert outcome.code == 0
    flags = set(re.findall(r"^\s+(?:-h, )?(--[a-z-]+)", outcome.out, re.MULTILINE))
    assert flags == {
        "--help",
        "--config",
        "--log-level",
        "--format",
        "--output",
        "--rows",
        "--strict",
        "--delta-path",
        "--watch",
        "--history",
        "--summary",
        "--dead-letters",
        "--table",
        "--schema",
        "--sql",
        "--columns",
        "--where",
        "--catalog",
        "--into",
        "--window",
        "--chart",
        "--as-of",
    }


def test_rows_strict_and_log_level_change_what_is_shown(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = run(capsys, site.args("--rows", "3"))
    assert shown.code == 0
    assert "shape: (12, 7)" in shown.out
    body = shown.out.split("╞", 1)[1].splitlines()[1:]
    assert len([line for line in body if "┆" in line and "…" not in line]) == 3
    put(site.table("sale"), sale_rows([["x", "1", "1", "1/1/2024", "North", "1"]]))
    lenient = run(capsys, site.args("--format", "csv"))
    assert lenient.code == 0
    assert "left out of the report: sale: 1 row without an integer id in 'id' (ids: x)" in lenient.err
    strict = run(capsys, site.args("--strict", "--summary", "--format", "json"))
    assert (strict.code, strict.error, strict.out) == (
        1,
        "query.py: error: sale: 1 row without an integer id in 'id' (ids: x)",
        "",
    )
    quiet = run(capsys, site.args("--log-level", "ERROR", "--format", "csv"))
    assert (quiet.code, quiet.err) == (0, "")


# --- exit status, as --help promises ----------------------------------------------------------


def test_exit_status_is_what_help_says(
    site: Site, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    help_text = run(capsys, ["--help"]).out
    paragraph = " ".join(help_text[help_text.index("exit status:") :].split())
    assert paragraph == (
        "exit status: 0 on success, and when Ctrl-C or SIGTERM ends --watch; 1 when a table is missing "
        "or cannot be read, --output cannot be written, a package is missing, or with --strict when rows "
        "were left out; 2 for a bad config, bad flags, flags that do not go together, or a table name, "
        "column or query that does not fit the tables (--table, --schema, --sql); 130 when Ctrl-C stops "
        "anything else; 141 when stdout is closed early (query.py | head)."
    )
    assert run(capsys, site.args("--table", "nosuch")).code == 2
    assert run(capsys, site.args("--sql", "SELECT nope FROM sale")).code == 2
    assert run(capsys, site.args()).code == 0
    assert run(capsys, site.args("--config", str(tmp_path / "none.toml"))).code == 2
    assert run(capsys, site.args("--format", "parquet")).code == 2
    assert run(capsys, site.args("--output", str(tmp_path / "no" / "such.csv"))).code == 1
    put(site.table("sale"), sale_rows([["x", "1", "1", "1/1/2024", "North", "1"]]))
    assert run(capsys, site.args("--strict")).code == 1
    shutil.rmtree(site.table("client"))
    assert run(capsys, site.args()).code == 1


# --- output -----------------------------------------------------------------------------------


def test_output_into_a_folder_that_does_not_exist(template: Site, capsys: pytest.CaptureFixture[str]) -> None:
    target = template.root / "reports" / "report.csv"
    outcome = run(capsys, template.args("--format", "csv", "--output", str(target)))
    assert outcome.code == 1
    assert outcome.error == (
        f"query.py: error: --output {target}: the folder {target.parent} does not exist; create it "
        "first, or choose another path"
    )


def test_output_onto_a_folder(template: Site, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run(capsys, template.args("--output", str(template.root)))
    assert outcome.code == 1
    assert outcome.error == (
        f"query.py: error: --output {template.root}: is a folder; "
        f"give a file name, e.g. {template.root / 'report.csv'}"
    )


def test_output_under_a_file(template: Site, capsys: pytest.CaptureFixture[str]) -> None:
    target = template.config / "report.csv"
    outcome = run(capsys, template.args("--output", str(target)))
    assert outcome.code == 1
    assert (
        outcome.error
        == f"query.py: error: --output {target}: {template.config} is not a folder; choose another path"
    )


def test_output_checked_before_any_table_is_read(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(site.table("sale"))
    outcome = run(capsys, site.args("--output", str(site.root)))
    assert outcome.error.startswith(f"query.py: error: --output {site.root}: is a folder")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("fmt", ["csv", "parquet", "table"])
def test_output_to_a_full_disk(template: Site, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    outcome = run(capsys, template.args("--format", fmt, "--output", "/dev/full"))
    assert outcome.code == 1
    assert outcome.error == (
        "query.py: error: --output /dev/full: cannot write it (No space left on device); free some space, "
        "or choose another path"
    )


def test_output_without_permission(programs: Programs) -> None:
    """A new file in a folder it cannot write to, and a file it cannot write (both run as the
    module began: see ``programs``)."""
    plain_user()
    locked, existing = programs.root / "locked", programs.root / "old.csv"
    try:
        outcomes = finished(programs, "output-in-locked"), finished(programs, "output-onto-existing")
    finally:
        locked.chmod(0o755)
    assert [(outcome.code, outcome.error) for outcome in outcomes] == [
        (
            1,
            f"query.py: error: --output {locked / 'report.csv'}: permission denied; "
            "choose a path you can write to",
        ),
        (1, f"query.py: error: --output {existing}: permission denied; choose a path you can write to"),
    ]


def test_table_format_in_a_file_has_every_row(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    more = [[str(i), "1", "2", "9/11/2024", "North", "10"] for i in range(13, 40)]
    put(site.table("sale"), sale_rows(more))
    target = site.root / "report.txt"
    assert run(capsys, site.args("--output", str(target))).code == 0
    text = target.read_text()
    assert text.startswith("sales report: 39 rows (client v0, department v0, employee v0, sale v12)\n")
    assert "…" not in text
    assert all(f"│ {i} " in text for i in range(1, 40))
    on_screen = run(capsys, site.args()).out
    assert "…" in on_screen  # the terminal shows 20 rows and says so
    assert run(capsys, site.args("--rows", "5", "--output", str(target))).code == 0
    assert "…" in target.read_text()


def test_summary_in_every_format_is_one_document(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    out = site.root / "summary"
    for fmt in ("table", "csv", "json", "ndjson", "parquet"):
        assert run(capsys, site.args("--summary", "--format", fmt, "--output", f"{out}.{fmt}")).code == 0
    document = json.loads(Path(f"{out}.json").read_text())
    assert list(document) == ["by_department", "by_region", "overall"]
    assert document["overall"] == {
        "sales": 12,
        "total": "1400.49",
        "employees": 2,
        "clients": 3,
        "departments": 2,
        "first_sale": "2024-02-28",
        "last_sale": "2024-11-09",
    }
    assert document["by_department"][0] == {
        "department": "Research",
        "sales": 1,
        "total": "1200.50",
        "average": "1200.50",
    }
    table = pl.read_parquet(f"{out}.parquet")
    assert table.columns[:3] == ["part", "department", "region"]
    assert table["part"].to_list() == ["by_department"] * 2 + ["by_region"] * 3 + ["overall"]
    assert pl.read_csv(f"{out}.csv").height == 6
    assert [json.loads(line)["part"] for line in Path(f"{out}.ndjson").read_text().splitlines()] == (
        table["part"].to_list()
    )
    text = Path(f"{out}.table").read_text()
    assert [line for line in text.splitlines() if line.endswith(":")] == [
        "by department:",
        "by region:",
        "overall:",
    ]
    assert run(capsys, site.args("--summary", "--format", "json")).out == Path(f"{out}.json").read_text()


def test_a_reader_that_stops_early_ends_it_quietly(programs: Programs) -> None:
    """The reader closed its end as the run started, as `| head` does once it has read enough."""
    outcome = finished(programs, "stdout-closed")
    assert (outcome.code, outcome.err) == (141, "")


# --- time zones -------------------------------------------------------------------------------
#
# query.py's times go through Python's local time alone: asof.moment (datetime.astimezone) shows
# them, --as-of reads them back (datetime.fromisoformat, then astimezone for a time without an
# offset), and the log lines are stamped the same way; Polars and delta-rs are given instants
# (in UTC, or with their offset) and never read TZ. So these runs set TZ in this process and call
# time.tzset(): times are then shown and read as in a process started with that TZ.

#: The offsets each zone shows (Los Angeles: standard or daylight time).
ZONES: dict[str, tuple[str, ...]] = {"Asia/Kolkata": ("+05:30",), "America/Los_Angeles": ("-08:00", "-07:00")}


@contextmanager
def local_zone(zone: str) -> Iterator[None]:
    """This process's local time is ``zone``'s inside the block, as with ``TZ=zone`` at start."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.fixture(scope="module")
def fintech(template: Site, tmp_path_factory: pytest.TempPathFactory) -> Site:
    """A copy of the template whose department table has a version 1, FinTech, at least 50 ms
    after the last commit before it; the tests of time zones only read it.

    delta-rs travels in time by the log files' modification times, which the file system keeps
    in coarse ticks (a few ms), at or before the commit times --history shows; hence the margin."""
    site = Site(tmp_path_factory.mktemp("fintech") / "site")
    shutil.copytree(template.root, site.root)
    time.sleep(0.05)
    put(site.table("department"), {"id": ["1", "2"], "department": ["FinTech", "Research"]}, replace=True)
    return site


def departments(out: str) -> set[str]:
    return set(pl.read_csv(io.StringIO(out))["department"].to_list())


def history_times(capsys: pytest.CaptureFixture[str], site: Site, zone: str) -> dict[tuple[str, int], str]:
    """--history's time of each commit, as shown in ``zone``: (table, version) -> time."""
    with local_zone(zone):
        outcome = run(capsys, site.args("--history", "--format", "csv"))
    assert outcome.code == 0, outcome.err
    frame = pl.read_csv(io.StringIO(outcome.out), schema_overrides={"time": pl.String})
    return {
        (table, version): time for table, version, time in frame.select("table", "version", "time").rows()
    }


@pytest.mark.parametrize(
    ("shown_in", "used_in"),
    [("Asia/Kolkata", "America/Los_Angeles"), ("America/Los_Angeles", "Asia/Kolkata")],
)
def test_a_time_copied_from_history_works_as_as_of_in_any_zone(
    fintech: Site, capsys: pytest.CaptureFixture[str], shown_in: str, used_in: str
) -> None:
    site = fintech
    times = history_times(capsys, site, shown_in)
    before, after = times["sale", 11], times["department", 1]  # the commits either side of FinTech
    for shown in times.values():
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", shown), shown
        assert shown.endswith(ZONES[shown_in]), shown
    with local_zone(used_in):
        outcome = run(capsys, site.args("--as-of", before))
        assert outcome.code == 0, outcome.err
        header = outcome.out.splitlines()[0]
        # The report says when, in the zone it runs in: the same instant.
        when = re.fullmatch(r"sales report as of (\S+): 12 rows \(.*\)", header)
        assert when, header
        assert when.group(1).endswith(ZONES[used_in])
        assert datetime.fromisoformat(when.group(1)) == datetime.fromisoformat(before)
        assert "Finance" in outcome.out
        assert "FinTech" not in outcome.out
        outcome = run(capsys, site.args("--as-of", after, "--format", "csv"))
        assert (outcome.code, departments(outcome.out)) == (0, {"FinTech", "Research"})


def test_a_time_without_an_offset_is_local_time(fintech: Site, capsys: pytest.CaptureFixture[str]) -> None:
    site = fintech
    before = history_times(capsys, site, "Asia/Kolkata")["sale", 11]
    naive = before[: -len("+05:30")]  # as shown, without its offset
    with local_zone("Asia/Kolkata"):
        outcome = run(capsys, site.args("--as-of", naive, "--format", "csv"))
    assert (outcome.code, departments(outcome.out)) == (0, {"Finance", "Research"})
    # The same wall-clock time in Los Angeles is 13.5 hours later: after the FinTech commit.
    with local_zone("America/Los_Angeles"):
        outcome = run(capsys, site.args("--as-of", naive, "--format", "csv"))
        assert (outcome.code, departments(outcome.out)) == (0, {"FinTech", "Research"})
        utc = datetime.fromisoformat(before).astimezone(UTC).isoformat().replace("+00:00", "Z")
        outcome = run(capsys, site.args("--as-of", utc, "--format", "csv"))
        assert (outcome.code, departments(outcome.out)) == (0, {"Finance", "Research"})


@pytest.mark.parametrize("zone", list(ZONES))
def test_a_time_copied_from_watch_works_as_as_of(
    fintech: Site, capsys: pytest.CaptureFixture[str], zone: str
) -> None:
    site = fintech
    stop = threading.Event()
    screen = Screen()
    renders: list[report.Report] = []
    roles = dict(zip(ROLES, ROLES, strict=True))
    with local_zone(zone):
        thread = threading.Thread(
            target=watch,
            args=(Watcher(Tables.at(site.delta), roles), 0.05, renders.append, stop),
            kwargs={"out": screen},
        )
        thread.start()
        try:
            wait_until(lambda: renders, 20, interval=0.01)  # the status lines are written before the report
        finally:
            stop.set()
            thread.join(10)
        assert not thread.is_alive()
        lines = screen.text().splitlines()
        separator = lines[0]
        stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"
        assert re.fullmatch(rf"--- {stamp} ---", separator), separator
        assert separator[:-4].endswith(ZONES[zone])
        status = next(line for line in lines if line.startswith("department: "))
        found = re.fullmatch(r"department: 2 rows, version 1, last commit (\S+)", status)
        assert found, status
        committed = found.group(1)
        assert committed.endswith(ZONES[zone])
        outcome = run(capsys, site.args("--as-of", committed, "--format", "csv"))
        assert (outcome.code, departments(outcome.out)) == (0, {"FinTech", "Research"})
        just_before = datetime.fromisoformat(committed).timestamp() - 0.025
        earlier = moment(datetime.fromtimestamp(just_before, UTC))
        outcome = run(capsys, site.args("--as-of", earlier, "--format", "csv"))
        assert (outcome.code, departments(outcome.out)) == (0, {"Finance", "Research"})


# --- ids written in more than one way ---------------------------------------------------------


@pytest.mark.parametrize("table", ROLES)
def test_an_id_written_in_more_than_one_way_is_left_out_everywhere(
    site: Site, capsys: pytest.CaptureFixture[str], table: str
) -> None:
    columns = {"department": "department", "client": "first_name", "employee": "first_name"}
    if table == "sale":
        put(
            site.table("sale"),
            sale_rows(
                [[" 7", "1", "1", "1/1/2024", "North", "5"], ["07", "2", "1", "1/1/2024", "West", "6"]]
            ),
        )
    else:
        source = SAMPLE[table]
        row = {name: [values[0]] for name, values in source.items()}
        row["id"] = ["01"]
        row[columns[table]] = ["Twin"]
        put(site.table(table), row)
    outcome = run(capsys, site.args("--format", "csv"))
    assert outcome.code == 0
    ids = csv_ids(outcome.out)
    assert len(ids) == len(set(ids))
    warnings = [line.split(": ", 2)[-1] for line in outcome.err.splitlines() if "left out" in line]
    expected = {
        "sale": "sale: 3 rows whose id is written more than once (ids: ' 7', 07, 7)",
        "client": "client: 2 rows whose id is written more than once (ids: 01, 1)",
        "department": "department: 2 rows whose id is written more than once (ids: 01, 1)",
        "employee": "employee: 2 rows whose id is written more than once (ids: 01, 1)",
    }[table]
    assert f"left out of the report: {expected}" in outcome.err, outcome.err
    assert warnings
    if table == "sale":
        assert 7 not in ids
    strict = run(capsys, site.args("--strict"))
    assert strict.code == 1
    assert strict.error.startswith(f"query.py: error: {expected}")


def test_ids_written_in_more_than_one_way_units() -> None:
    frames = {
        name: pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String)).lazy()
        for name, columns in SAMPLE.items()
    }
    sales = [
        ["7", "1", "1", "1/1/2024", "North", "5"],
        ["07", "1", "1", "1/1/2024", "North", "5"],
        [" 7", "1", "1", "1/1/2024", "North", "5"],
        ["8", "1", "1", "1/1/2024", "North", "5"],
    ]
    frames["sale"] = pl.DataFrame(sale_rows(sales)).lazy()
    result = report.build(frames)
    assert result.frame["id"].to_list() == [8]
    (problem,) = result.problems
    assert (problem.table, problem.count, problem.ids) == ("sale", 3, [" 7", "07", "7"])
    assert str(problem) == "sale: 3 rows whose id is written more than once (ids: ' 7', 07, 7)"


# --- outside the virtualenv -------------------------------------------------------------------


def test_outside_the_virtualenv_help_works_and_the_rest_says_how_to_fix_it(
    template: Site, bare_python: str
) -> None:
    started = time.monotonic()
    helped = script("--help", python=bare_python)
    assert helped.code == 0
    assert "exit status:" in helped.out
    outcome = script(*template.args(), python=bare_python)
    assert outcome.code == 1
    assert outcome.err.splitlines() == [
        "query.py: error: the Python package 'polars' is not installed here; activate the project's "
        "virtualenv (. .venv/bin/activate) or install the requirements (pip install -r requirements.txt)"
    ]
    assert time.monotonic() - started < 10


# --- the runs as a program, started together ------------------------------------------------


#: Runs on a damaged copy of the template: test -> (the run's name, the damage).
DAMAGED: dict[str, tuple[str, Callable[[Site], None]]] = {
    "test_permission_denied_on_a_table": ("unreadable-table", unreadable_table),
    "test_permission_denied_on_a_data_file": ("unreadable-data-file", unreadable_data_file),
    "test_a_damaged_table_as_a_program_prints_one_line": ("missing-data-file", missing_data_file),
    "test_watch_script_keeps_watching_a_damaged_table": ("watching", damaged_last_entry),
}
#: The runs that need file permissions to apply (as root: through setpriv).
AS_PLAIN_USER = {"unreadable-table", "unreadable-data-file"}


@pytest.fixture(scope="module", autouse=True)
def programs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Programs]:
    """The runs of query.py as a program that this module's tests check, started together as the
    module begins (each costs 0.3 s of imports), so that they go on beside the in-process tests."""
    programs = Programs(request, tmp_path_factory.mktemp("programs"))
    prefix = plain_user_prefix()
    try:
        for test, (name, damage) in DAMAGED.items():
            if not programs.wanted(test) or (name in AS_PLAIN_USER and prefix is None):
                continue
            site = Site(programs.root / name)
            shutil.copytree(request.getfixturevalue("template").root, site.root)
            damage(site)
            flags = ["--watch", "0.1"] if name == "watching" else []
            as_user = prefix if prefix is not None and name in AS_PLAIN_USER else []
            programs.start(
                name, program(site.args(*flags), as_user), env={**os.environ, "PYTHONUNBUFFERED": "1"}
            )
        if programs.wanted("test_output_without_permission") and prefix is not None:
            template = request.getfixturevalue("template")
            locked, existing = programs.root / "locked", programs.root / "old.csv"
            locked.mkdir()
            locked.chmod(0o555)
            existing.write_text("old")
            existing.chmod(0o444)
            programs.start(
                "output-in-locked", program(template.args("--output", str(locked / "report.csv")), prefix)
            )
            programs.start("output-onto-existing", program(template.args("--output", str(existing)), prefix))
        if programs.wanted("test_a_reader_that_stops_early_ends_it_quietly"):
            template = request.getfixturevalue("template")
            reading = programs.start("stdout-closed", program(template.args("--format", "csv")))
            assert reading.stdout is not None
            reading.stdout.close()
        yield programs
    finally:
        programs.close()
        for folder in (programs.root / "locked", programs.root / "unreadable-table" / "delta" / "sale"):
            if folder.exists():
                folder.chmod(0o755)  # for the clean-up of temp dirs
