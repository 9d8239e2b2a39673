"""A live bar at a terminal while the subscriber is behind: records written, the rate, the lag and
the time left, with the per-commit log lines kept above it. It opens when the lag after a commit
is :data:`SHOW_FROM` records or more and closes when the subscriber has caught up; it is never
drawn when stderr is not a terminal or INFO lines are not shown."""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Any

from deltastream import logs

#: The lag from which catching up is shown as a bar.
SHOW_FROM = 10_000


class CatchUp:
    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = (
            sys.stderr.isatty() and logging.getLogger("deltastream").isEnabledFor(logging.INFO)
            if enabled is None
            else enabled
        )
        self.bar: Any = None
        self._redirect = contextlib.ExitStack()

    def written(self, records: int, lag: int | None) -> None:
        """``records`` were just written, and ``lag`` records are not in Delta yet (``None``: not known)."""
        if not self.enabled or lag is None:
            return
        if self.bar is None:
            if lag < SHOW_FROM:
                return
            self._open(lag)
        bar = self.bar
        bar.total = bar.n + records + lag
        bar.set_postfix_str(f"{lag:,} to go", refresh=False)
        bar.update(records)
        if lag == 0:
            self.close()

    def _open(self, lag: int) -> None:
        from tqdm import tqdm
        from tqdm.contrib.logging import logging_redirect_tqdm

        self.bar = tqdm(
            total=lag, desc="catching up", unit=" records", unit_scale=True, file=sys.stderr, leave=False
        )
        self._redirect.enter_context(logging_redirect_tqdm(loggers=logs.console_loggers()))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self._redirect.close()
