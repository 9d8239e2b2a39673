"""Logging for the scripts: set up once by each script's main(), for the project's own loggers.

Records of the ``deltastream`` loggers go to stderr at the configured level; the report and the
summaries go to stdout. The Kafka client's own records are shown only at DEBUG (it logs every
reconnect attempt as an error; the project's messages say it once). Every line written, the Kafka
client's included, passes through :func:`redact`: a secret from the config (a SASL password, an
object-store key) is never shown, whatever the level.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Sequence
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: Log times carry their offset from UTC, so they compare with query.py's times in any zone.
DATE_FORMAT = "%H:%M:%S%z"
MASK = "***"
PROJECT_LOGGERS = ("deltastream",)
CLIENT_LOGGERS = ("kafka",)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of a secret replaced by ``***``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class RedactingFormatter(logging.Formatter):
    """Formats a record, traceback included, then masks the secrets in it."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__(FORMAT, datefmt=DATE_FORMAT)
        self.secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


def setup(level: int, secrets: Sequence[str] = (), stream: TextIO | None = None) -> None:
    """Send the project's records (and, at DEBUG, the Kafka client's) to ``stream`` (stderr),
    with ``secrets`` masked."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(RedactingFormatter(secrets))
    for name in PROJECT_LOGGERS:
        _attach(logging.getLogger(name), handler, level)
    for name in CLIENT_LOGGERS:
        if level <= logging.DEBUG:
            _attach(logging.getLogger(name), handler, logging.DEBUG)
        else:
            _attach(logging.getLogger(name), logging.NullHandler(), logging.CRITICAL)


def _attach(logger: logging.Logger, handler: logging.Handler, level: int) -> None:
    for old in [h for h in logger.handlers if getattr(h, "_deltastream", False)]:
        logger.removeHandler(old)
    handler._deltastream = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """``1 record``, ``2 records``: a count with its noun in the right number."""
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"
