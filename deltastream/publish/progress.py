"""A progress bar for big files on a terminal, with the log lines kept above it."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from deltastream import logs
from deltastream.publish.source import count_lines

#: Files with at least this many lines get a progress bar (on a terminal).
PROGRESS_MIN_LINES = 20_000


class Bar(Protocol):
    """What the publisher tells a progress bar: rows done."""

    def update(self, n: float | None = 1) -> bool | None: ...


class NoBar:
    """The bar of a file that shows none."""

    def update(self, n: float | None = 1) -> None:
        return None


@contextlib.contextmanager
def progress(path: Path, topic: str) -> Iterator[Bar]:
    """A progress bar on stderr for a big file when stderr is a terminal and INFO lines are shown
    (not with ``--quiet``); log lines go above it. tqdm is imported only then (~60 ms at start
    otherwise)."""
    show = sys.stderr.isatty() and logging.getLogger("deltastream").isEnabledFor(logging.INFO)
    lines = 0
    if show:
        try:
            lines = count_lines(path)
        except OSError:
            show = False  # reading will say what is wrong
    if not show or lines < PROGRESS_MIN_LINES:
        yield NoBar()
        return
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    with (
        tqdm(total=max(lines - 1, 0), desc=topic, unit="rows", file=sys.stderr) as bar,
        logging_redirect_tqdm(loggers=logs.console_loggers()),
    ):
        yield bar
