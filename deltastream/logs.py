"""Logging for the scripts: set up once by each script's main(), for the project's own loggers.

Records of the ``deltastream`` loggers go to stderr at the configured level; the report and the
summaries go to stdout. The Kafka client's own records are shown only at DEBUG (it logs every
reconnect attempt as an error; the project's messages say it once).

Secrets from the config (a SASL password, an object-store key) are never shown, whatever the
level: every path by which text reaches stderr once the config is loaded masks them with ``***``
(in the forms a library may print them: as written, as a Python string or bytes literal, as JSON
or URL-encoded):

- log records, the Kafka client's included, their tracebacks and the progress bar's redirected
  lines (:class:`RedactingFormatter`);
- warnings (routed through logging by :func:`setup`);
- exceptions that end a thread, and errors Python can only report as "ignored"
  (:func:`setup` installs masking hooks);
- the script's closing error line and any unexpected traceback (``cli.guard``).

Before the config is loaded nothing holds a secret; the config's own errors never echo a
secret's value (see ``config.secret``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import traceback
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

MASK = "***"
PROJECT_LOGGERS = ("deltastream",)
CLIENT_LOGGERS = ("kafka",)
#: Where ``warnings.warn`` goes once logging captures warnings.
WARNINGS_LOGGER = "py.warnings"


def forms(secret: str) -> set[str]:
    """The ways ``secret`` may appear in text: as is, inside a str or bytes repr, JSON, URL-encoded."""
    found = {
        secret,
        repr(secret)[1:-1],
        repr(secret.encode())[2:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
    }
    return {form for form in found if form}


def masks(secrets: Iterable[str]) -> tuple[str, ...]:
    """Every form of every secret, longest first (so a longer form is masked whole)."""
    return tuple(sorted({form for s in secrets if s for form in forms(s)}, key=len, reverse=True))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of a secret (in any of its :func:`forms`) replaced by ``***``."""
    return mask(text, masks(secrets))


def mask(text: str, masked: Sequence[str]) -> str:
    """``text`` with each string of ``masked`` (from :func:`masks`) replaced by ``***``."""
    for form in masked:
        if form in text:
            text = text.replace(form, MASK)
    return text


#: Terminal colours of the levels a person must not miss, and the end of a colour.
COLOURS = {logging.WARNING: "\x1b[33m", logging.ERROR: "\x1b[1;31m", logging.CRITICAL: "\x1b[1;31m"}
PLAIN = "\x1b[0m"


def coloured(stream: TextIO) -> bool:
    """Whether ``stream`` is a person's terminal that takes colour (``NO_COLOR`` unset)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR")


def in_colour(text: str, level: int) -> str:
    """``text`` in the colour of ``level`` (as it is, for a level without one)."""
    colour = COLOURS.get(level)
    return f"{colour}{text}{PLAIN}" if colour else text


class RedactingFormatter(logging.Formatter):
    """Formats a record, traceback included, then masks the secrets in it; on a terminal, a
    warning's or an error's level is in colour."""

    def __init__(self, secrets: Sequence[str], colour: bool = False) -> None:
        super().__init__(FORMAT)
        self.secrets = tuple(secrets)
        self.masked = masks(secrets)
        self.colour = colour

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802
        text = super().formatMessage(record)
        if not self.colour or record.levelno not in COLOURS:
            return text
        level = f" {record.levelname:<7} "
        return text.replace(level, f" {in_colour(f'{record.levelname:<7}', record.levelno)} ", 1)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        """Local time with its UTC offset, to the millisecond: the form query.py shows and takes."""
        return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record), self.masked)


def setup(level: int, secrets: Sequence[str] = (), stream: TextIO | None = None) -> None:
    """Send the project's records (and, at DEBUG, the Kafka client's) to ``stream`` (stderr),
    with ``secrets`` masked; route warnings through it too, and mask the secrets in the
    tracebacks of threads and in errors Python reports as ignored."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(RedactingFormatter(secrets, coloured(handler.stream)))
    for name in PROJECT_LOGGERS:
        _attach(logging.getLogger(name), handler, level)
    for name in CLIENT_LOGGERS:
        if level <= logging.DEBUG:
            _attach(logging.getLogger(name), handler, logging.DEBUG)
        else:
            _attach(logging.getLogger(name), logging.NullHandler(), logging.CRITICAL)
    logging.captureWarnings(True)
    _attach(logging.getLogger(WARNINGS_LOGGER), handler, logging.WARNING)
    protect_hooks(secrets, stream)


def _attach(logger: logging.Logger, handler: logging.Handler, level: int) -> None:
    for old in [h for h in logger.handlers if getattr(h, "_deltastream", False)]:
        logger.removeHandler(old)
    handler._deltastream = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)


def console_loggers() -> list[logging.Logger]:
    """The loggers :func:`setup` gave a console handler (for a progress bar to redirect)."""
    names = (*PROJECT_LOGGERS, *CLIENT_LOGGERS, WARNINGS_LOGGER)
    return [
        logger
        for logger in map(logging.getLogger, names)
        if any(
            getattr(h, "_deltastream", False) and isinstance(h, logging.StreamHandler)
            for h in logger.handlers
        )
    ]


def protect_hooks(secrets: Sequence[str], stream: TextIO | None = None) -> None:
    """Mask ``secrets`` in what Python prints for an exception that ends a thread and for an
    error it can only report as ignored (in a destructor or an atexit callback)."""
    masked = masks(secrets)
    if not masked:
        return

    def write(text: str) -> None:
        out = stream or sys.stderr
        if out is not None:
            out.write(mask(text, masked))
            out.flush()

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "a thread"
        lines = traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)
        write(f"Exception in thread {name}:\n{''.join(lines)}")

    def unraisable_hook(unraisable: Any) -> None:
        message = unraisable.err_msg or "Exception ignored in"
        lines = traceback.format_exception(
            unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback
        )
        write(f"{message}: {unraisable.object!r}\n{''.join(lines)}")

    threading.excepthook = thread_hook
    sys.unraisablehook = unraisable_hook


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """``1 record``, ``2 records``: a count with its noun in the right number."""
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"


def typos_of(word: str, words: Iterable[str], most: int = 2) -> list[str]:
    """The ``words`` that ``word`` could be a typo of: at most ``most`` letters added, left out,
    changed or swapped with the next (and never more than a third of the word), nearest first."""
    found = []
    for other in words:
        edits = _edits(word, other)
        if 0 < edits <= min(most, len(word) // 3):
            found.append((edits, other))
    return [other for _, other in sorted(found)]


def _edits(a: str, b: str) -> int:
    """The fewest single-letter insertions, deletions, substitutions and swaps of neighbours that
    turn ``a`` into ``b`` (the optimal string alignment distance)."""
    rows = [list(range(len(b) + 1))]
    for i, x in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (x != y))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]
