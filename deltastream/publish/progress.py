"""A progress bar for big files on a terminal, with the log lines kept above it."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from deltastream import logs
from deltastream.publish.source import count_lines

#: Files with at least this many lines get a progress bar (on a terminal).
PROGRESS_MIN_LINES = 20_000


@contextlib.contextmanager
def progress(path: Path, topic: str) -> Iterator[tqdm[Any]]:
    """A progress bar on stderr for a big file when stderr is a terminal; log lines go above it."""
    show = sys.stderr.isatty()
    lines = 0
    if show:
        try:
            lines = count_lines(path)
        except OSError:
            show = False  # reading will say what is wrong
    show = show and lines >= PROGRESS_MIN_LINES
    bar = tqdm(total=max(lines - 1, 0), desc=topic, unit="rows", disable=not show, file=sys.stderr)
    with bar:
        if not show:
            yield bar
            return
        with logging_redirect_tqdm(loggers=logs.console_loggers()):
            yield bar
