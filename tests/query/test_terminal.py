"""What a person sees at a terminal, driven through a pseudo-terminal: query.py's tables with
aligned, separated numbers and no type row, warnings and errors in colour; with ``NO_COLOR`` (or
not a terminal) the plain output, as scripts read it."""

from __future__ import annotations

import io
import logging
import re
import sys
from pathlib import Path

import pytest

from deltastream import logs

from ..conftest import ROOT
from ..conftest import in_terminal as at_terminal

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def in_terminal(site: Path, *argv: str, **env: str) -> tuple[int, str]:
    """query.py run at a (pseudo-)terminal: its exit status and everything it wrote."""
    return at_terminal(
        [sys.executable, str(ROOT / "query.py"), "--config", str(site / "config.toml"), *argv], env
    )


def test_a_table_at_a_terminal_aligns_and_separates_numbers(site: Path) -> None:
    code, seen = in_terminal(site, "--table", "sale", "--rows", "3")
    assert code == 0
    plain = ANSI.sub("", seen)
    lines = plain.splitlines()
    assert lines[0].startswith("table sale (version 2, ") and lines[0].endswith(": 4 rows")
    assert "shape:" not in plain and "decimal[" not in plain and "i64" not in plain  # no type row
    rows = [line for line in lines if line.strip()[:1].isdigit()]
    assert len(rows) == 3
    assert rows[1].split()[0] == "2" and rows[1].rstrip().endswith("1,200.50")
    assert rows[2].rstrip().endswith("10,000.00")
    assert len({len(row.rstrip()) for row in rows}) == 1  # amounts right-aligned: lines end together
    assert lines[-1].strip() == "… 1 more row (--rows N shows more, --rows -1 all)"
    assert "\x1b[1m" in seen  # the header in bold


def test_no_color_gives_the_plain_table_scripts_read(site: Path) -> None:
    code, seen = in_terminal(site, "--table", "sale", NO_COLOR="1")
    assert code == 0
    assert "\x1b[" not in seen
    assert "shape: (4, 6)" in seen and "decimal[12,2]" in seen


def test_an_error_at_a_terminal_is_red_and_plain_without_colour(site: Path) -> None:
    code, seen = in_terminal(site, "--sql", "SELECT nope FROM sale")
    assert code == 2
    assert "query.py: \x1b[1;31merror: \x1b[0m--sql 'SELECT nope FROM sale': " in seen
    code, seen = in_terminal(site, "--sql", "SELECT nope FROM sale", NO_COLOR="1")
    assert code == 2 and "query.py: error: --sql 'SELECT nope FROM sale': " in seen and "\x1b[" not in seen


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("no_color", [False, True])
def test_warnings_and_errors_have_their_colour_at_a_terminal(
    monkeypatch: pytest.MonkeyPatch, no_color: bool
) -> None:
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    stream = Terminal()
    names = ("deltastream", "kafka", "py.warnings")
    before = {n: (logging.getLogger(n).level, list(logging.getLogger(n).handlers)) for n in names}
    logs.setup(logging.INFO, stream=stream)
    try:
        logger = logging.getLogger("deltastream.test")
        logger.info("fine")
        logger.warning("careful")
        logger.error("broken")
    finally:
        for name, (level, handlers) in before.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).handlers[:] = handlers
    lines = stream.getvalue().splitlines()
    assert " INFO    deltastream.test: fine" in lines[0] and "\x1b[" not in lines[0]
    if no_color:
        assert " WARNING deltastream.test: careful" in lines[1] and "\x1b[" not in stream.getvalue()
    else:
        assert " \x1b[33mWARNING\x1b[0m deltastream.test: careful" in lines[1]
        assert " \x1b[1;31mERROR  \x1b[0m deltastream.test: broken" in lines[2]


def test_a_value_that_looks_like_markup_is_shown_as_it_is() -> None:
    import polars as pl

    from deltastream.query import terminal

    shown = terminal.table(pl.DataFrame({"id": [1, 2], "note": ["a [/b] tag", "[bold]loud"]}), "notes", 20)
    plain = ANSI.sub("", shown)
    assert "a [/b] tag" in plain and "[bold]loud" in plain


def test_a_narrow_terminal_never_cuts_a_number_or_a_date(site: Path) -> None:
    code, seen = in_terminal(site, "--summary", "--window", "day", COLUMNS="60")
    plain = ANSI.sub("", seen)
    assert code == 0, plain
    assert "11,305.49" in plain and "2024-11-09" in plain  # the total and the day, whole
    overall = plain[plain.index("overall:") :].splitlines()
    assert any(line.split()[:2] == ["first_sale", "2024-11-09"] for line in overall)  # a line a column
    assert all(len(line) <= 60 for line in plain.splitlines())
