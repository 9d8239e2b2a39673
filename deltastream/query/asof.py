"""What ``--as-of`` names: a time, or a version (read from the flag before anything is imported
that reads a table: see :mod:`deltastream.query.travel` for taking a table there).

- A time as query.py shows it (``2026-11-21T09:30:00.123+05:30``; without an offset, local
  time), or relative to now: ``-90s``, ``-5m``, ``-2h``, ``-1d``. Each table is taken to the last
  version committed at or before it, by the commit times ``--history`` shows.
- A version, as Delta's ``VERSION AS OF``: ``12`` for the one table shown (``--table``,
  ``--schema``), or ``sale=12,client=3`` per table (the others as they are now).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta


def moment(value: datetime, timespec: str = "milliseconds") -> str:
    """A point in time as query.py shows it: local time with its UTC offset (ISO 8601)."""
    return value.astimezone().isoformat(timespec=timespec)


RELATIVE = re.compile(r"-(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_VERSIONS = re.compile(r"([^=,\s]+)=(\d+)")
#: How far back a relative time may reach: ten years.
MAX_DAYS = 3650


@dataclass(frozen=True)
class AsOf:
    """A time, or versions by table name (``None``: the one table shown)."""

    time: datetime | None = None
    versions: Mapping[str | None, int] = field(default_factory=dict)

    def version(self, topic: str) -> int | None:
        return self.versions.get(topic, self.versions.get(None))

    def moves(self, topic: str) -> bool:
        """Whether it takes table ``topic`` anywhere but its latest version."""
        return self.time is not None or self.version(topic) is not None

    def __str__(self) -> str:
        if self.time is not None:
            return moment(self.time)
        return ", ".join(f"version {v}" if n is None else f"{n} v{v}" for n, v in self.versions.items())


def parse(text: str, now: datetime | None = None) -> AsOf:
    """``--as-of``'s value (see the module); ``ValueError`` says what it takes."""
    raw = text.strip()
    if raw.isdigit():
        return AsOf(versions={None: int(raw)})
    if "=" in raw:
        parts = [part.strip() for part in raw.split(",")]
        found = [_VERSIONS.fullmatch(part) for part in parts]
        if not all(found):
            raise ValueError(f"{text!r} is not versions by table (e.g. sale=12,client=3)")
        return AsOf(versions={m.group(1): int(m.group(2)) for m in found if m})
    if relative := RELATIVE.fullmatch(raw):
        amount = timedelta(**{_UNITS[relative.group(2)]: float(relative.group(1))})
        if amount > timedelta(days=MAX_DAYS):
            raise ValueError(f"{text!r} reaches back more than {MAX_DAYS} days")
        return AsOf(time=(now or datetime.now()).astimezone() - amount)
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        return AsOf(time=datetime.fromisoformat(raw).astimezone())  # a naive time is local time
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time or a version (e.g. 2026-11-21T09:30, local time, a time "
            "copied from --history, -5m, 12, or sale=12,client=3)"
        ) from None
